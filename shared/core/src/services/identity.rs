//! Who people are: Slack ids and API principals as identities with roles; the roles and member
//! domains kept in the store ([`People`]); the flows' approver groups and their members.

use super::{Airlock, Deps};
use crate::audit::Actor;
use crate::config::Config;
use crate::email::Email;
use crate::error::{Error, ErrorCode, Result};
use crate::flow::{Flow, Principal};
use crate::ids::EventId;
use crate::policy;
use crate::ports::{Clock, DirectoryError, DirectoryUser, Store, StoreError};
use crate::role::{Identity, Role};
use crate::roles::{
    self, ChangeVia, DomainAnswer, RoleAnswer, RoleChange, RoleEvent, RoleStore, StoredDomain, StoredRole,
};
use crate::slack_ids::is_slack_user_id;
use std::sync::Arc;

/// How often a change of roles or domains re-reads and retries after losing its conditional write.
const MAX_ATTEMPTS: usize = 5;

impl Airlock {
    /// The person behind a Slack user id, with their role.
    pub async fn identify_slack_user(&self, slack_id: &str) -> Result<Identity> {
        let user = self
            .deps
            .directory
            .user_by_slack_id(slack_id)
            .await
            .map_err(|e| Error::unavailable(format!("Slack user lookup failed: {e}")))?
            .ok_or_else(|| Error::new(ErrorCode::Forbidden, format!("unknown Slack user {slack_id}")))?;
        let email = user.email.ok_or_else(|| {
            Error::new(ErrorCode::Forbidden, "Airlock needs the email on your Slack profile to know who you are")
        })?;
        let role = self.people().role_of(&email).await?.role;
        Ok(Identity { role, email, slack_id: Some(user.slack_id), name: user.name })
    }

    /// The person named by an email or Slack user id (the API's way of naming people).
    pub async fn identify(&self, principal: &str) -> Result<Identity> {
        let principal = principal.trim();
        if is_slack_user_id(principal) {
            return self.identify_slack_user(principal).await;
        }
        let email: Email = principal.parse().map_err(|e: String| Error::new(ErrorCode::Invalid, e))?;
        // Slack is asked only to be able to DM the person; an API caller may name someone not in Slack.
        let user = self.deps.directory.user_by_email(&email).await.ok().flatten();
        Ok(Identity {
            role: self.people().role_of(&email).await?.role,
            slack_id: user.as_ref().map(|u| u.slack_id.clone()),
            name: user.and_then(|u| u.name),
            email,
        })
    }

    /// Roles and member domains, over the same config and store.
    pub fn people(&self) -> People {
        self.deps.people()
    }

    /// `who`'s role as it is now, and why (`/access whoami`).
    pub async fn explain_role(&self, who: &Identity) -> Result<RoleAnswer> {
        self.people().role_of(&who.email).await
    }

    /// The flows `who` may request, in config order.
    pub async fn flows_for(&self, who: &Identity) -> Vec<&Flow> {
        let mut flows = Vec::new();
        for flow in &self.deps.config.flows {
            let groups = self.groups_of(flow, who).await;
            if policy::may_request(flow, who, &groups).is_ok() {
                flows.push(flow);
            }
        }
        flows
    }

    /// The requester groups of `flow` that `who` belongs to (asked only when the flow lists groups).
    pub(super) async fn groups_of(&self, flow: &Flow, who: &Identity) -> Vec<String> {
        match &flow.requesters {
            Some(requesters) => self.deps.groups_containing(&requesters.groups, who).await,
            None => Vec::new(),
        }
    }
}

impl Deps {
    pub(super) fn people(&self) -> People {
        People::new(self.config.clone(), self.store.clone(), self.clock.clone())
    }

    /// The approver groups of `flow` that `who` belongs to (asked only when the flow lists groups).
    pub(super) async fn approver_groups_of(&self, flow: &Flow, who: &Identity) -> Vec<String> {
        self.groups_containing(&flow.approvers.groups, who).await
    }

    /// Those of `groups` that `who` is a member of; a group Slack cannot list now counts as not theirs.
    async fn groups_containing(&self, groups: &[String], who: &Identity) -> Vec<String> {
        let Some(slack_id) = &who.slack_id else { return Vec::new() };
        let mut member_of = Vec::new();
        for group in groups {
            match self.directory.group_members(group).await {
                Ok(members) if members.iter().any(|m| m == slack_id) => member_of.push(group.clone()),
                Ok(_) => {}
                Err(e) => tracing::warn!(group, error = %e, "user group lookup failed"),
            }
        }
        member_of
    }

    /// The flow's approvers as Slack users (for DMs): the listed ones, then the members of its
    /// approver groups who may decide.
    pub(super) async fn approver_users(&self, flow: &Flow, requester: &Email) -> Vec<DirectoryUser> {
        let mut users = self.listed_approvers(flow, requester).await;
        if !flow.approvers.groups.is_empty() {
            let listed: Vec<String> = users.iter().map(|u| u.slack_id.clone()).collect();
            match self.group_approvers(flow, requester, None, &listed).await {
                Ok(members) => users.extend(members.into_iter().map(|(_, user)| user)),
                Err(e) => tracing::warn!(flow = %flow.name, error = %e, "approver group lookup failed"),
            }
        }
        users
    }

    /// The flow's listed approvers as Slack users, but the requester unless the flow allows
    /// self-approval; those Slack does not know (or cannot look up now) are skipped.
    pub(super) async fn listed_approvers(&self, flow: &Flow, requester: &Email) -> Vec<DirectoryUser> {
        let mut users = Vec::new();
        for principal in &flow.approvers.users {
            let user = match principal {
                Principal::SlackId(id) => Some(DirectoryUser { slack_id: id.clone(), email: None, name: None }),
                Principal::Email(email) if email == requester && !flow.allow_self_approval => None,
                Principal::Email(email) => match self.directory.user_by_email(email).await {
                    Ok(user) => user,
                    Err(e) => {
                        tracing::warn!(approver = %email, error = %e, "approver lookup failed");
                        None
                    }
                },
            };
            if let Some(user) = user
                && !users.iter().any(|u: &DirectoryUser| u.slack_id == user.slack_id)
            {
                users.push(user);
            }
        }
        users
    }

    /// The members of `flow`'s approver groups who may decide a request of `requester` (with
    /// `requester_slack_id` when known), each with the first group (in config order) that holds
    /// them, leaving out those in `skip` (Slack ids), the requester (unless the flow allows
    /// self-approval), guests (unless it allows them) and anyone Slack knows no email for.
    pub(super) async fn group_approvers(
        &self,
        flow: &Flow,
        requester: &Email,
        requester_slack_id: Option<&str>,
        skip: &[String],
    ) -> std::result::Result<Vec<(String, DirectoryUser)>, DirectoryError> {
        let mut found: Vec<(String, DirectoryUser)> = Vec::new();
        if flow.approvers.groups.is_empty() {
            return Ok(found);
        }
        let roles = self.people().snapshot().await.map_err(|e| DirectoryError::Unavailable(e.message))?;
        for group in &flow.approvers.groups {
            for member in self.directory.group_members(group).await? {
                if skip.contains(&member) || found.iter().any(|(_, u)| u.slack_id == member) {
                    continue;
                }
                let Some(user) = self.directory.user_by_slack_id(&member).await? else { continue };
                let Some(email) = &user.email else { continue };
                let is_requester = email == requester || requester_slack_id == Some(member.as_str());
                if is_requester && !flow.allow_self_approval {
                    continue;
                }
                if roles.role_of(email).role == Role::Guest && !flow.approvers.allow_guests {
                    continue;
                }
                found.push((group.clone(), user));
            }
        }
        Ok(found)
    }
}

/// Roles and member domains: the config's defaults, overridden by what the store keeps
/// (`airlock users set-role`, `airlock domains add|remove`, the API). Read through on every
/// question, so a change holds for every running process at once. Each change is a conditional
/// write with its audit event ([`RoleEvent`]), also logged as a JSON `audit` line.
#[derive(Clone)]
pub struct People {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

/// What [`People::set_role`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleUpdate {
    /// The person's role now.
    pub answer: RoleAnswer,
    /// False when the role was already set to this (nothing was written).
    pub changed: bool,
}

/// What [`People::set_domain`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainUpdate {
    pub answer: DomainAnswer,
    /// False when the domain already had this membership (nothing was written).
    pub changed: bool,
}

/// The stored roles and domains read at one moment, to resolve many people's roles at once.
pub struct RoleSnapshot {
    config: Arc<Config>,
    roles: Vec<StoredRole>,
    domains: Vec<StoredDomain>,
}

impl RoleSnapshot {
    pub fn role_of(&self, email: &Email) -> RoleAnswer {
        roles::resolve(&self.config, email, self.roles.iter().find(|r| &r.email == email), &self.domains)
    }
}

impl People {
    pub fn new(config: Arc<Config>, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { config, store, clock }
    }

    /// `email`'s role now, and why.
    pub async fn role_of(&self, email: &Email) -> Result<RoleAnswer> {
        let Some(store) = self.store.roles() else {
            return Ok(roles::resolve(&self.config, email, None, &[]));
        };
        let stored = store.stored_role(email).await?;
        let domains = store.stored_domains().await?;
        Ok(roles::resolve(&self.config, email, stored.as_ref(), &domains))
    }

    /// Every stored role and domain, to resolve many people's roles without a read each.
    pub async fn snapshot(&self) -> Result<RoleSnapshot> {
        let (roles, domains) = match self.store.roles() {
            Some(store) => (store.stored_roles().await?, store.stored_domains().await?),
            None => (Vec::new(), Vec::new()),
        };
        Ok(RoleSnapshot { config: self.config.clone(), roles, domains })
    }

    /// The people Airlock knows by name, by email: the config's admins and everyone whose role was
    /// set, each with their role now.
    pub async fn users(&self) -> Result<Vec<RoleAnswer>> {
        let snapshot = self.snapshot().await?;
        let mut emails: Vec<&Email> =
            self.config.organization.admins.iter().chain(snapshot.roles.iter().map(|r| &r.email)).collect();
        emails.sort();
        emails.dedup();
        Ok(emails.into_iter().map(|email| snapshot.role_of(email)).collect())
    }

    /// Sets `email`'s role, over whatever the config says, as `by` (the CLI's user, an API token).
    pub async fn set_role(&self, email: &Email, role: Role, by: Actor, via: ChangeVia) -> Result<RoleUpdate> {
        let store = self.writable()?;
        for _ in 0..MAX_ATTEMPTS {
            let stored = store.stored_role(email).await?;
            let domains = store.stored_domains().await?;
            let before = roles::resolve(&self.config, email, stored.as_ref(), &domains);
            if stored.as_ref().is_some_and(|s| s.role == role) {
                return Ok(RoleUpdate { answer: before, changed: false });
            }
            let now = self.clock.now();
            let set = StoredRole {
                email: email.clone(),
                role,
                set_by: by.clone(),
                via,
                set_at: now,
                version: stored.as_ref().map_or(1, |s| s.version + 1),
            };
            let change = RoleChange::RoleSet { email: email.clone(), role, previous: before.role };
            let event = RoleEvent { id: EventId::generate(), at: now, actor: by.clone(), via, change };
            match store.put_role(&set, &event).await {
                Ok(()) => {
                    log(&event);
                    let answer = roles::resolve(&self.config, email, Some(&set), &domains);
                    return Ok(RoleUpdate { answer, changed: true });
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(changed_meanwhile())
    }

    /// The organization's domains: the primary domain, the config's member domains as the store
    /// changed them, and the domains added in the store.
    pub async fn domains(&self) -> Result<Vec<DomainAnswer>> {
        let stored = match self.store.roles() {
            Some(store) => store.stored_domains().await?,
            None => Vec::new(),
        };
        Ok(roles::domains(&self.config, &stored))
    }

    /// Adds `domain` to the member domains (`member`) or takes it away, as `by`. The primary
    /// domain cannot be taken away here (it is the config's `organization.primary_domain`).
    pub async fn set_domain(&self, domain: &str, member: bool, by: Actor, via: ChangeVia) -> Result<DomainUpdate> {
        let domain = roles::parse_domain(domain).map_err(|e| Error::new(ErrorCode::Invalid, e))?;
        if domain == self.config.organization.primary_domain && !member {
            return Err(Error::new(
                ErrorCode::Invalid,
                format!("{domain} is the primary domain (organization.primary_domain); change it in the config"),
            ));
        }
        let store = self.writable()?;
        for _ in 0..MAX_ATTEMPTS {
            let stored = store.stored_domains().await?;
            let current = roles::domains(&self.config, &stored).into_iter().find(|d| d.domain == domain);
            if let Some(current) = current.as_ref().filter(|d| d.member == member) {
                return Ok(DomainUpdate { answer: current.clone(), changed: false });
            }
            if current.is_none() && !member {
                return Err(Error::new(ErrorCode::NotFound, format!("{domain} is not a member domain")));
            }
            let now = self.clock.now();
            let set = StoredDomain {
                domain: domain.clone(),
                member,
                set_by: by.clone(),
                via,
                set_at: now,
                version: stored.iter().find(|d| d.domain == domain).map_or(1, |d| d.version + 1),
            };
            let change = if member {
                RoleChange::DomainAdded { domain: domain.clone() }
            } else {
                RoleChange::DomainRemoved { domain: domain.clone() }
            };
            let event = RoleEvent { id: EventId::generate(), at: now, actor: by.clone(), via, change };
            match store.put_domain(&set, &event).await {
                Ok(()) => {
                    log(&event);
                    let answer = roles::domains(&self.config, &[set]).into_iter().find(|d| d.domain == domain);
                    let answer =
                        answer.ok_or_else(|| Error::new(ErrorCode::Internal, "the domain just set is gone"))?;
                    return Ok(DomainUpdate { answer, changed: true });
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(changed_meanwhile())
    }

    /// The latest `limit` changes of roles and domains, newest first.
    pub async fn changes(&self, limit: usize) -> Result<Vec<RoleEvent>> {
        match self.store.roles() {
            Some(store) => Ok(store.role_events(limit).await?),
            None => Ok(Vec::new()),
        }
    }

    fn writable(&self) -> Result<&dyn RoleStore> {
        self.store.roles().ok_or_else(|| {
            Error::new(ErrorCode::Unavailable, "this store keeps no roles or domains; only the config decides roles")
        })
    }
}

fn changed_meanwhile() -> Error {
    Error::new(ErrorCode::Conflict, "roles or domains kept changing meanwhile; try again")
}

/// One JSON `audit` line per change, like the requests' events.
fn log(event: &RoleEvent) {
    tracing::info!(
        message = "audit",
        action = event.action(),
        actor = %event.actor,
        via = event.via.as_str(),
        subject = event.subject(),
        detail = %event.describe(),
        time = %event.at.to_rfc3339(),
    );
}
