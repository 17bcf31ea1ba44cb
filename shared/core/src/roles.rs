//! Roles and member domains kept in the store (`airlock users set-role`, `airlock domains add|remove`,
//! `PUT /api/v1/users/{email}/role`). They override the config's defaults (`organization.admins`,
//! `primary_domain`, `member_domains`); each change is written with its audit event ([`RoleEvent`]).

use crate::audit::Actor;
use crate::config::Config;
use crate::email::Email;
use crate::ids::EventId;
use crate::ports::StoreError;
use crate::role::Role;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a change of roles or domains was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeVia {
    /// The `airlock` command line.
    Cli,
    /// `/api/v1`, with an `admin` token.
    Api,
}

impl ChangeVia {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeVia::Cli => "cli",
            ChangeVia::Api => "api",
        }
    }
}

/// A person's role as set in the store; it wins over whatever the config says about them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRole {
    pub email: Email,
    pub role: Role,
    pub set_by: Actor,
    pub via: ChangeVia,
    pub set_at: DateTime<Utc>,
    /// 1 when first stored, one more with every change (the conditional write's check).
    pub version: u64,
}

/// A domain's membership as set in the store: `member` adds it to the member domains, `!member`
/// takes a member domain of the config away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDomain {
    pub domain: String,
    pub member: bool,
    pub set_by: Actor,
    pub via: ChangeVia,
    pub set_at: DateTime<Utc>,
    pub version: u64,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoleChange {
    RoleSet { email: Email, role: Role, previous: Role },
    DomainAdded { domain: String },
    DomainRemoved { domain: String },
}

/// The audit record of one change of roles or domains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleEvent {
    pub id: EventId,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub via: ChangeVia,
    pub change: RoleChange,
}

impl RoleEvent {
    /// The action's wire name: `role_set`, `domain_added` or `domain_removed`.
    pub fn action(&self) -> &'static str {
        match self.change {
            RoleChange::RoleSet { .. } => "role_set",
            RoleChange::DomainAdded { .. } => "domain_added",
            RoleChange::DomainRemoved { .. } => "domain_removed",
        }
    }

    /// Whom or what the change is about: an email or a domain.
    pub fn subject(&self) -> &str {
        match &self.change {
            RoleChange::RoleSet { email, .. } => email.as_str(),
            RoleChange::DomainAdded { domain } | RoleChange::DomainRemoved { domain } => domain,
        }
    }

    /// One line for people: e.g. `carol@example.com: member -> admin`.
    pub fn describe(&self) -> String {
        match &self.change {
            RoleChange::RoleSet { email, role, previous } => format!("{email}: {previous} -> {role}"),
            RoleChange::DomainAdded { domain } => format!("{domain}: added to the member domains"),
            RoleChange::DomainRemoved { domain } => format!("{domain}: removed from the member domains"),
        }
    }
}

/// Roles and member domains kept beside the requests. Every write is conditional on the version
/// read and carries its audit event, in one transaction.
#[async_trait]
pub trait RoleStore: Send + Sync {
    async fn stored_role(&self, email: &Email) -> Result<Option<StoredRole>, StoreError>;

    /// Every stored role, by email.
    async fn stored_roles(&self) -> Result<Vec<StoredRole>, StoreError>;

    /// Every stored domain, by name.
    async fn stored_domains(&self) -> Result<Vec<StoredDomain>, StoreError>;

    /// Writes `role` and `event` only if the stored role's version is `role.version - 1` (none
    /// stored when `role.version` is 1); otherwise `Conflict`, and nothing changes.
    async fn put_role(&self, role: &StoredRole, event: &RoleEvent) -> Result<(), StoreError>;

    /// As [`put_role`](Self::put_role), for a domain.
    async fn put_domain(&self, domain: &StoredDomain, event: &RoleEvent) -> Result<(), StoreError>;

    /// The latest `limit` changes, newest first.
    async fn role_events(&self, limit: usize) -> Result<Vec<RoleEvent>, StoreError>;
}

/// Why a person has their role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleSource {
    /// Set in the store.
    Set { by: Actor, via: ChangeVia, at: DateTime<Utc> },
    /// Listed in `organization.admins`.
    ListedAdmin,
    /// Their email's domain is `organization.primary_domain`.
    PrimaryDomain,
    /// Their email's domain is in `organization.member_domains`.
    MemberDomain,
    /// Their email's domain was added to the member domains in the store.
    DomainAdded { by: Actor, via: ChangeVia },
    /// Their email's domain, a member domain of the config, was removed in the store.
    DomainRemoved { by: Actor, via: ChangeVia },
    /// Their email's domain is none of the member domains.
    OutsideDomains,
}

/// A person's role and why they have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAnswer {
    pub email: Email,
    pub role: Role,
    pub source: RoleSource,
}

impl RoleAnswer {
    /// Why, addressed to the person, e.g. "your email domain outside.org is not a member domain".
    pub fn why(&self) -> String {
        let domain = self.email.domain();
        match &self.source {
            RoleSource::Set { by, via, .. } => format!("set by {by} {}", role_command(*via)),
            RoleSource::ListedAdmin => format!("{} is listed in organization.admins", self.email),
            RoleSource::PrimaryDomain => format!("your email domain {domain} is the organization's primary domain"),
            RoleSource::MemberDomain => format!("your email domain {domain} is a member domain"),
            RoleSource::DomainAdded { by, via } => {
                format!("your email domain {domain} is a member domain (added by {by} {})", domain_command(*via, true))
            }
            RoleSource::DomainRemoved { by, via } => format!(
                "your email domain {domain} is not a member domain (removed by {by} {})",
                domain_command(*via, false)
            ),
            RoleSource::OutsideDomains => format!("your email domain {domain} is not a member domain"),
        }
    }

    /// A short name of the source, for listings: `set`, `organization.admins`, `domain`.
    pub fn source_name(&self) -> &'static str {
        match self.source {
            RoleSource::Set { .. } => "set",
            RoleSource::ListedAdmin => "organization.admins",
            _ => "domain",
        }
    }
}

fn role_command(via: ChangeVia) -> &'static str {
    match via {
        ChangeVia::Cli => "with `airlock users set-role`",
        ChangeVia::Api => "through the API",
    }
}

fn domain_command(via: ChangeVia, added: bool) -> &'static str {
    match (via, added) {
        (ChangeVia::Cli, true) => "with `airlock domains add`",
        (ChangeVia::Cli, false) => "with `airlock domains remove`",
        (ChangeVia::Api, _) => "through the API",
    }
}

/// A person's role: a role set in the store first, then the config's admins, the primary domain,
/// the member domains as the store changed them, the config's member domains; anyone else is a guest.
pub fn resolve(config: &Config, email: &Email, stored: Option<&StoredRole>, domains: &[StoredDomain]) -> RoleAnswer {
    let answer = |role, source| RoleAnswer { email: email.clone(), role, source };
    if let Some(set) = stored {
        return answer(set.role, RoleSource::Set { by: set.set_by.clone(), via: set.via, at: set.set_at });
    }
    let org = &config.organization;
    let domain = email.domain();
    if org.admins.contains(email) {
        return answer(Role::Admin, RoleSource::ListedAdmin);
    }
    if domain == org.primary_domain {
        return answer(Role::Member, RoleSource::PrimaryDomain);
    }
    match domains.iter().find(|d| d.domain == domain) {
        Some(d) if d.member => answer(Role::Member, RoleSource::DomainAdded { by: d.set_by.clone(), via: d.via }),
        Some(d) => answer(Role::Guest, RoleSource::DomainRemoved { by: d.set_by.clone(), via: d.via }),
        None if org.member_domains.iter().any(|d| d == domain) => answer(Role::Member, RoleSource::MemberDomain),
        None => answer(Role::Guest, RoleSource::OutsideDomains),
    }
}

/// Where a domain's membership comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainSource {
    /// `organization.primary_domain` (always a member domain).
    Primary,
    /// `organization.member_domains`.
    Config,
    /// Set in the store.
    Set { by: Actor, via: ChangeVia, at: DateTime<Utc> },
}

/// A domain and whether its people are members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainAnswer {
    pub domain: String,
    pub member: bool,
    pub source: DomainSource,
}

/// The config's domains as the store changed them, then the domains only the store names, each
/// once (a domain the store removed is listed with `member: false`).
pub fn domains(config: &Config, stored: &[StoredDomain]) -> Vec<DomainAnswer> {
    let org = &config.organization;
    let mut all =
        vec![DomainAnswer { domain: org.primary_domain.clone(), member: true, source: DomainSource::Primary }];
    let from_store = |d: &StoredDomain| DomainAnswer {
        domain: d.domain.clone(),
        member: d.member,
        source: DomainSource::Set { by: d.set_by.clone(), via: d.via, at: d.set_at },
    };
    for domain in &org.member_domains {
        if all.iter().any(|d| &d.domain == domain) {
            continue;
        }
        all.push(match stored.iter().find(|d| &d.domain == domain) {
            Some(d) => from_store(d),
            None => DomainAnswer { domain: domain.clone(), member: true, source: DomainSource::Config },
        });
    }
    for d in stored {
        if !all.iter().any(|a| a.domain == d.domain) {
            all.push(from_store(d));
        }
    }
    all
}

/// A domain name as given on the command line or the API, lowercased: `outside.org`.
pub fn parse_domain(text: &str) -> Result<String, String> {
    let domain = text.trim().trim_start_matches('@').to_ascii_lowercase();
    let valid = domain.contains('.')
        && domain.len() <= 253
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && !domain.contains("..")
        && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if valid { Ok(domain) } else { Err(format!("{:?} is not a domain name like example.com", text.trim())) }
}

impl fmt::Display for DomainAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.member { "member" } else { "removed" };
        match &self.source {
            DomainSource::Primary => write!(f, "{}  {state}  organization.primary_domain", self.domain),
            DomainSource::Config => write!(f, "{}  {state}  organization.member_domains", self.domain),
            DomainSource::Set { by, via, at } => {
                write!(f, "{}  {state}  set by {by} ({}) at {}", self.domain, via.as_str(), at.to_rfc3339())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EXAMPLE_CONFIG;

    fn config() -> Config {
        Config::from_yaml(EXAMPLE_CONFIG).unwrap()
    }

    fn email(s: &str) -> Email {
        s.parse().unwrap()
    }

    fn ops() -> Actor {
        Actor::User { email: email("ops@example.com"), slack_id: None }
    }

    fn stored_domain(domain: &str, member: bool) -> StoredDomain {
        StoredDomain {
            domain: domain.into(),
            member,
            set_by: ops(),
            via: ChangeVia::Cli,
            set_at: Utc::now(),
            version: 1,
        }
    }

    #[test]
    fn a_stored_role_wins_over_the_config() {
        let config = config();
        let alice = email("alice@example.com");
        assert_eq!(resolve(&config, &alice, None, &[]).source, RoleSource::ListedAdmin);
        let set = StoredRole {
            email: alice.clone(),
            role: Role::Member,
            set_by: ops(),
            via: ChangeVia::Cli,
            set_at: Utc::now(),
            version: 1,
        };
        let answer = resolve(&config, &alice, Some(&set), &[]);
        assert_eq!(answer.role, Role::Member);
        assert_eq!(answer.why(), "set by ops@example.com with `airlock users set-role`");
        let guest = email("gina@outside.org");
        let set = StoredRole { email: guest.clone(), role: Role::Admin, via: ChangeVia::Api, ..set };
        assert_eq!(resolve(&config, &guest, Some(&set), &[]).role, Role::Admin);
    }

    #[test]
    fn stored_domains_add_and_take_away_members_but_never_the_primary_domain() {
        let config = config();
        let stored = [stored_domain("outside.org", true), stored_domain("contractor.example", false)];
        let gina = resolve(&config, &email("gina@outside.org"), None, &stored);
        assert_eq!(gina.role, Role::Member);
        assert!(gina.why().contains("added by ops@example.com with `airlock domains add`"), "{}", gina.why());
        let eve = resolve(&config, &email("eve@contractor.example"), None, &stored);
        assert_eq!(eve.role, Role::Guest);
        assert!(eve.why().starts_with("your email domain contractor.example is not a member domain"));
        assert_eq!(resolve(&config, &email("eve@contractor.example"), None, &[]).role, Role::Member);
        let bob = resolve(&config, &email("bob@example.com"), None, &[stored_domain("example.com", false)]);
        assert_eq!(bob.role, Role::Member, "the primary domain stays");
        let mallory = resolve(&config, &email("mallory@elsewhere.example"), None, &stored);
        assert_eq!(mallory.why(), "your email domain elsewhere.example is not a member domain");
    }

    #[test]
    fn the_domain_list_merges_the_config_and_the_store() {
        let config = config();
        let listed =
            domains(&config, &[stored_domain("contractor.example", false), stored_domain("outside.org", true)]);
        let summary: Vec<(&str, bool)> = listed.iter().map(|d| (d.domain.as_str(), d.member)).collect();
        assert_eq!(summary, [("example.com", true), ("contractor.example", false), ("outside.org", true)]);
        assert!(listed[0].to_string().contains("organization.primary_domain"));
        assert!(listed[2].to_string().starts_with("outside.org  member  set by ops@example.com (cli)"));
    }

    #[test]
    fn domains_are_checked_and_lowercased() {
        assert_eq!(parse_domain(" @Outside.ORG ").unwrap(), "outside.org");
        for bad in ["", "localhost", "a..b", "-a.b", "a.b.", "a b.c", "ex@mple.com", "é.com"] {
            assert!(parse_domain(bad).is_err(), "{bad:?}");
        }
    }
}
