//! The JSON the API answers with: each type is what a handler serializes and what the OpenAPI
//! document describes (utoipa reads the same serde attributes), so the two cannot drift.
//!
//! They mirror core's types instead of deriving on them: the domain stays free of HTTP concerns,
//! and its stored shape (e.g. a request's task token) can change without changing the API. Every
//! conversion matches core's enums exhaustively, so a new status, role or code fails to compile
//! here until the API says how it looks.

use airlock_core as domain;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Where a request (or one of its targets) stands; terminal: denied, timed_out, cancelled,
/// failed, revoked, expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Approved,
    Active,
    Denied,
    TimedOut,
    Cancelled,
    Failed,
    Revoked,
    Expired,
}

impl From<domain::Status> for Status {
    fn from(s: domain::Status) -> Self {
        match s {
            domain::Status::Pending => Status::Pending,
            domain::Status::Approved => Status::Approved,
            domain::Status::Active => Status::Active,
            domain::Status::Denied => Status::Denied,
            domain::Status::TimedOut => Status::TimedOut,
            domain::Status::Cancelled => Status::Cancelled,
            domain::Status::Failed => Status::Failed,
            domain::Status::Revoked => Status::Revoked,
            domain::Status::Expired => Status::Expired,
        }
    }
}

/// Where an extension stands; `lapsed`: the grant ended before anyone decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExtensionStatus {
    Pending,
    Approved,
    Denied,
    Lapsed,
}

impl From<domain::request::ExtensionStatus> for ExtensionStatus {
    fn from(s: domain::request::ExtensionStatus) -> Self {
        match s {
            domain::request::ExtensionStatus::Pending => ExtensionStatus::Pending,
            domain::request::ExtensionStatus::Approved => ExtensionStatus::Approved,
            domain::request::ExtensionStatus::Denied => ExtensionStatus::Denied,
            domain::request::ExtensionStatus::Lapsed => ExtensionStatus::Lapsed,
        }
    }
}

/// A person's role: admins request and approve everything, members request, guests may not request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Member,
    Guest,
}

impl From<domain::Role> for Role {
    fn from(r: domain::Role) -> Self {
        match r {
            domain::Role::Admin => Role::Admin,
            domain::Role::Member => Role::Member,
            domain::Role::Guest => Role::Guest,
        }
    }
}

/// Who did something: a person, a rule, or Airlock itself (timers, the sweeper, an API token as
/// `api:<token name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    User { email: String, slack_id: Option<String> },
    Rule { name: String },
    System { name: String },
}

impl From<&domain::Actor> for Actor {
    fn from(a: &domain::Actor) -> Self {
        match a {
            domain::Actor::User { email, slack_id } => {
                Actor::User { email: email.as_str().to_string(), slack_id: slack_id.clone() }
            }
            domain::Actor::Rule { name } => Actor::Rule { name: name.clone() },
            domain::Actor::System { name } => Actor::System { name: name.clone() },
        }
    }
}

/// One approver's vote.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Approval {
    pub by: Actor,
    pub at: DateTime<Utc>,
}

impl From<&domain::request::Approval> for Approval {
    fn from(a: &domain::request::Approval) -> Self {
        Approval { by: (&a.by).into(), at: a.at }
    }
}

/// Failed attempts to remove access that is still held; the next is not made before `next_attempt_at`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Removal {
    pub attempts: u32,
    pub last_error: String,
    pub next_attempt_at: DateTime<Utc>,
}

impl From<&domain::request::RemovalAttempts> for Removal {
    fn from(r: &domain::request::RemovalAttempts) -> Self {
        Removal { attempts: r.attempts, last_error: r.last_error.clone(), next_attempt_at: r.next_attempt_at }
    }
}

/// Who asked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Requester {
    pub email: String,
    pub slack_id: Option<String>,
    pub role: Role,
}

/// One target of a request: granted, expired, revoked or failed on its own.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Target {
    pub name: String,
    pub label: String,
    pub status: Status,
    pub granted_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub access_removed_at: Option<DateTime<Utc>>,
    /// Whether the access may still exist in the target system.
    pub holds_access: bool,
    /// The person held the access before Airlock granted it (standing access): never removed.
    pub preexisting_access: bool,
    pub removal: Option<Removal>,
    /// Why this target could not be granted.
    pub failure: Option<String>,
}

/// More time asked for on an active grant, and its decision.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Extension {
    /// 1 for the grant's first extension, and so on.
    pub number: u32,
    pub added_seconds: u64,
    pub reason: String,
    pub status: ExtensionStatus,
    pub requested_by: Actor,
    pub requested_at: DateTime<Utc>,
    pub approvals: Vec<Approval>,
    pub decided_by: Option<Actor>,
    pub decided_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

/// An access request as the API shows it: everything but the workflow's task token.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Request)]
pub struct RequestView {
    /// `req_` followed by a ULID.
    pub id: String,
    pub status: Status,
    pub flow: String,
    pub environment: String,
    /// The first target's name (every target is in `targets`).
    pub target: String,
    pub requester: Requester,
    pub duration_seconds: u64,
    pub reason: String,
    /// The flow's custom fields as submitted.
    pub fields: BTreeMap<String, Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// No decision by then: `timed_out`.
    pub decision_deadline: DateTime<Utc>,
    pub approvals: Vec<Approval>,
    pub decided_by: Option<Actor>,
    pub decision_note: Option<String>,
    pub granted_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Set once the access is gone from every target.
    pub access_removed_at: Option<DateTime<Utc>>,
    /// Whether access may still exist in a target system.
    pub holds_access: bool,
    pub preexisting_access: bool,
    pub removal: Option<Removal>,
    pub failure: Option<String>,
    pub targets: Vec<Target>,
    /// The duration asked for, when an approver shortened it.
    pub requested_duration_seconds: Option<u64>,
    pub revoked_by: Option<Actor>,
    pub extensions: Vec<Extension>,
}

impl From<&domain::AccessRequest> for RequestView {
    fn from(r: &domain::AccessRequest) -> Self {
        let requester = r.requester();
        RequestView {
            id: r.id().to_string(),
            status: r.status().into(),
            flow: r.flow().to_string(),
            environment: r.environment().to_string(),
            target: r.target().to_string(),
            requester: Requester {
                email: requester.email.as_str().to_string(),
                slack_id: requester.slack_id.clone(),
                role: requester.role.into(),
            },
            duration_seconds: r.duration_secs(),
            reason: r.reason().to_string(),
            fields: r.fields().clone(),
            created_at: r.created_at(),
            updated_at: r.updated_at(),
            decision_deadline: r.decision_deadline(),
            approvals: r.approvals().iter().map(Approval::from).collect(),
            decided_by: r.decided_by().map(Actor::from),
            decision_note: r.decision_note().map(str::to_string),
            granted_at: r.granted_at(),
            expires_at: r.expires_at(),
            access_removed_at: r.access_removed_at(),
            holds_access: r.holds_access(),
            preexisting_access: r.preexisting_access(),
            removal: r.removal().map(Removal::from),
            failure: r.failure().map(str::to_string),
            targets: r
                .targets()
                .iter()
                .map(|t| Target {
                    name: t.name().to_string(),
                    label: t.label().to_string(),
                    status: r.status_of(t).into(),
                    granted_at: t.granted_at(),
                    expires_at: t.granted_at().and(r.expires_at()),
                    access_removed_at: t.access_removed_at(),
                    holds_access: r.target_holds_access(t),
                    preexisting_access: t.preexisting_access(),
                    removal: t.removal().map(Removal::from),
                    failure: t.failure().map(str::to_string),
                })
                .collect(),
            requested_duration_seconds: r.requested_duration().map(|d| d.as_secs()),
            revoked_by: r.revoked_by().map(Actor::from),
            extensions: r
                .extensions()
                .iter()
                .map(|e| Extension {
                    number: e.number,
                    added_seconds: e.added_secs,
                    reason: e.reason.clone(),
                    status: e.status.into(),
                    requested_by: (&e.requested_by).into(),
                    requested_at: e.requested_at,
                    approvals: e.approvals.iter().map(Approval::from).collect(),
                    decided_by: e.decided_by.as_ref().map(Actor::from),
                    decided_at: e.decided_at,
                    note: e.note.clone(),
                })
                .collect(),
        }
    }
}

/// A submitted request: its id and first status (`pending`, or already decided by a rule).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Created {
    pub id: String,
    pub status: Status,
}

/// Requests, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequestList {
    pub requests: Vec<RequestView>,
}

/// Where a role comes from: set in the store, listed in `organization.admins`, or the email's domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum RoleSource {
    #[serde(rename = "set")]
    Set,
    #[serde(rename = "organization.admins")]
    OrganizationAdmins,
    #[serde(rename = "domain")]
    Domain,
}

/// A person's role and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleAnswer {
    pub email: String,
    pub role: Role,
    pub source: RoleSource,
    /// Why, in words, e.g. "your email domain outside.org is not a member domain".
    pub reason: String,
    /// Who set the role (only when `source` is `set`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_at: Option<DateTime<Utc>>,
}

impl From<&domain::roles::RoleAnswer> for RoleAnswer {
    fn from(a: &domain::roles::RoleAnswer) -> Self {
        use domain::roles::RoleSource as From;
        let (source, set_by, set_at) = match &a.source {
            From::Set { by, at, .. } => (RoleSource::Set, Some(by.to_string()), Some(*at)),
            From::ListedAdmin => (RoleSource::OrganizationAdmins, None, None),
            From::PrimaryDomain
            | From::MemberDomain
            | From::DomainAdded { .. }
            | From::DomainRemoved { .. }
            | From::OutsideDomains => (RoleSource::Domain, None, None),
        };
        RoleAnswer { email: a.email.as_str().to_string(), role: a.role.into(), source, reason: a.why(), set_by, set_at }
    }
}

/// A role after a change: `changed` is false when it already was that role.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleUpdate {
    #[serde(flatten)]
    pub answer: RoleAnswer,
    pub changed: bool,
}

/// `{"status": "ok"}` (`/healthz`, outside the API).
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mirrors say each value as core does (a renamed variant in core would change the wire).
    #[test]
    fn enums_serialize_as_core_names_them() {
        for s in domain::Status::ALL {
            assert_eq!(serde_json::to_value(Status::from(s)).unwrap(), s.as_str());
        }
        for s in [
            domain::request::ExtensionStatus::Pending,
            domain::request::ExtensionStatus::Approved,
            domain::request::ExtensionStatus::Denied,
            domain::request::ExtensionStatus::Lapsed,
        ] {
            assert_eq!(serde_json::to_value(ExtensionStatus::from(s)).unwrap(), s.as_str());
        }
        for r in [domain::Role::Admin, domain::Role::Member, domain::Role::Guest] {
            assert_eq!(serde_json::to_value(Role::from(r)).unwrap(), r.as_str());
        }
    }

    #[test]
    fn role_sources_serialize_as_core_names_them() {
        use domain::roles::{ChangeVia, RoleSource as Source};
        let email: domain::Email = "dave@partner.example".parse().unwrap();
        let by = domain::Actor::system("api:ci");
        for source in [
            Source::Set { by: by.clone(), via: ChangeVia::Api, at: chrono::Utc::now() },
            Source::ListedAdmin,
            Source::PrimaryDomain,
            Source::MemberDomain,
            Source::DomainAdded { by: by.clone(), via: ChangeVia::Cli },
            Source::DomainRemoved { by, via: ChangeVia::Cli },
            Source::OutsideDomains,
        ] {
            let answer = domain::roles::RoleAnswer { email: email.clone(), role: domain::Role::Member, source };
            let view = serde_json::to_value(RoleAnswer::from(&answer)).unwrap();
            assert_eq!(view["source"], answer.source_name());
            assert_eq!(view["reason"], answer.why());
        }
    }

    #[test]
    fn actors_serialize_as_core_stores_them() {
        let email: domain::Email = "bob@example.com".parse().unwrap();
        for actor in [
            domain::Actor::User { email, slack_id: Some("U0BOB".into()) },
            domain::Actor::Rule { name: "auto_approve".into() },
            domain::Actor::system("api:ci"),
        ] {
            assert_eq!(serde_json::to_value(Actor::from(&actor)).unwrap(), serde_json::to_value(&actor).unwrap());
        }
    }
}
