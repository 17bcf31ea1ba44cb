//! The access request and its status machine (docs/architecture.md#the-request).

use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::duration::GrantDuration;
use crate::email::Email;
use crate::flow::Target;
use crate::ids::RequestId;
use crate::role::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

mod extension;
pub use extension::{Extension, ExtensionLimits, ExtensionStatus};

/// Where a request stands. Terminal: denied, timed_out, cancelled, failed, revoked, expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Pending,
        Status::Approved,
        Status::Active,
        Status::Denied,
        Status::TimedOut,
        Status::Cancelled,
        Status::Failed,
        Status::Revoked,
        Status::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Active => "active",
            Status::Denied => "denied",
            Status::TimedOut => "timed_out",
            Status::Cancelled => "cancelled",
            Status::Failed => "failed",
            Status::Revoked => "revoked",
            Status::Expired => "expired",
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, Status::Pending | Status::Approved | Status::Active)
    }

    /// The legal moves of the status machine.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Pending, Approved | Denied | TimedOut | Cancelled)
                | (Approved, Active | Failed)
                | (Active, Revoked | Expired)
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| format!("unknown status {s:?}"))
    }
}

/// An attempted move the status machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("request cannot go from {from} to {to}")]
pub struct TransitionError {
    pub from: Status,
    pub to: Status,
}

/// Who asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    pub email: Email,
    pub slack_id: Option<String>,
    pub role: Role,
}

impl Requester {
    /// The store's key for "requests of this user": the email, which every channel can resolve.
    pub fn user_key(&self) -> &str {
        self.email.as_str()
    }
}

/// One approver's vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub by: Actor,
    pub at: DateTime<Utc>,
}

/// A Slack message (channel + timestamp) that shows this request, updated in place as it moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub channel: String,
    pub ts: String,
}

/// An access request from submission to its end. The store holds it; `version` increments on each
/// write so every write can be conditional on the version it read.
///
/// Its fields are read through getters and change only through the intent methods below (each
/// checks the status machine and its invariants and returns the audit event of the change), so
/// nothing outside this crate can put a request in a state the status machine does not know.
///
/// A request names one or more targets ([`TargetGrant`]), decided together and granted, removed
/// and audited each on its own; the status follows them: `active` while any target holds access
/// it was granted, ended when none does, `failed` only when none could be granted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct AccessRequest {
    id: RequestId,
    version: u64,
    status: Status,
    flow: String,
    /// The flow's environment (requests stored before environments were `prod`).
    #[serde(default = "default_environment")]
    environment: String,
    /// The first target's name (also in `targets`; kept for readers of the single-target shape).
    target: String,
    /// The first target's access key (as `target`).
    access_key: String,
    /// Every target, in the order requested.
    targets: Vec<TargetGrant>,
    requester: Requester,
    duration_secs: u64,
    reason: String,
    fields: BTreeMap<String, serde_json::Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// No decision after this means `timed_out`.
    decision_deadline: DateTime<Utc>,
    #[serde(default)]
    approvals: Vec<Approval>,
    /// Who made the final decision (an approver, a rule, the requester cancelling, the system).
    decided_by: Option<Actor>,
    decision_note: Option<String>,
    /// The workflow's handle for delivering the decision (a Step Functions task token in AWS).
    task_token: Option<String>,
    #[serde(default)]
    cards: Vec<MessageRef>,
    /// When every granted target's access ends (set with the first grant; moved by an extension).
    expires_at: Option<DateTime<Utc>>,
    /// Why no target could be granted (the request is `failed`).
    failure: Option<String>,
    #[serde(default)]
    reminders: Reminders,
    /// The approval cards were queued for posting (so a replayed step does not queue them twice).
    #[serde(default)]
    cards_queued: bool,
    /// Extensions asked for while active, oldest first.
    #[serde(default)]
    extensions: Vec<Extension>,
    /// The duration asked for, when an approver shortened it (approve with changes).
    #[serde(default)]
    requested_duration_secs: Option<u64>,
    /// Who revoked the grant early.
    #[serde(default)]
    revoked_by: Option<Actor>,
}

/// One target of a request and where its grant stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetGrant {
    name: String,
    /// [`crate::flow::Target::access_key`] of the target when requested.
    access_key: String,
    /// The target as configured when the request was made: what escalation grants and what removal
    /// takes away, even if the config changes or drops the target meanwhile.
    #[serde(default)]
    spec: Option<Target>,
    #[serde(default)]
    granted_at: Option<DateTime<Utc>>,
    /// Set once the access is gone from the target (after expiry, revoke or a failed grant).
    #[serde(default)]
    access_removed_at: Option<DateTime<Utc>>,
    /// Why this target could not be granted.
    #[serde(default)]
    failure: Option<String>,
    /// The person held this access before Airlock granted it (standing access): it is not removed.
    #[serde(default)]
    preexisting_access: bool,
    /// Airlock asked the target system for the access at least once. After a failed escalation the
    /// target may have applied it anyway, so it is removed as if granted; and an "already held"
    /// answer to a repeated attempt may be Airlock's own earlier attempt, so it is not trusted.
    #[serde(default)]
    escalation_attempted: bool,
    /// Failed attempts to remove the access, while it is still held.
    #[serde(default)]
    removal: Option<RemovalAttempts>,
    /// The version of the request whose write ended this target's claim on its access key (one
    /// open request per person and access): failed, removed, or the request ended.
    #[serde(default)]
    closed_in: Option<u64>,
}

impl TargetGrant {
    fn new(name: &str, access_key: String, spec: Option<Target>) -> Self {
        Self {
            name: name.to_string(),
            access_key,
            spec,
            granted_at: None,
            access_removed_at: None,
            failure: None,
            preexisting_access: false,
            escalation_attempted: false,
            removal: None,
            closed_in: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    /// [`crate::flow::Target::access_key`] of the target when requested.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }
    /// The target as configured when the request was made (none for requests stored before
    /// targets were kept with them).
    pub fn spec(&self) -> Option<&Target> {
        self.spec.as_ref()
    }
    /// The target's label when requested, else its name.
    pub fn label(&self) -> &str {
        self.spec.as_ref().map_or(&self.name, |t| &t.label)
    }
    pub fn granted_at(&self) -> Option<DateTime<Utc>> {
        self.granted_at
    }
    /// When the access was found gone from the target.
    pub fn access_removed_at(&self) -> Option<DateTime<Utc>> {
        self.access_removed_at
    }
    /// Why this target could not be granted.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
    /// The person held this access before Airlock granted it (standing access): it is not removed.
    pub fn preexisting_access(&self) -> bool {
        self.preexisting_access
    }
    /// Airlock asked the target system for this access at least once.
    pub fn escalation_attempted(&self) -> bool {
        self.escalation_attempted
    }
    /// Failed attempts to remove this access, while it is still held.
    pub fn removal(&self) -> Option<&RemovalAttempts> {
        self.removal.as_ref()
    }
    /// The request version whose write ended this target's claim on its access key.
    pub fn closed_in(&self) -> Option<u64> {
        self.closed_in
    }
    /// Neither granted nor failed yet.
    pub fn is_pending(&self) -> bool {
        self.granted_at.is_none() && self.failure.is_none()
    }
    /// Granted, and not removed yet.
    fn granted_and_held(&self) -> bool {
        self.granted_at.is_some() && self.access_removed_at.is_none()
    }
}

impl Serialize for AccessRequest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        AccessRequest::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for AccessRequest {
    /// Reads a stored request, including one stored before requests had several targets.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut value = serde_json::Value::deserialize(deserializer)?;
        upgrade_single_target(&mut value);
        AccessRequest::deserialize(value).map_err(serde::de::Error::custom)
    }
}

/// Turns the single-target shape (the grant's `target_spec`, `granted_at`, `access_removed_at`,
/// `preexisting_access`, `escalation_attempted`, `removal` and, when failed, `failure` on the
/// request itself) into a request with that one entry in `targets`.
fn upgrade_single_target(value: &mut serde_json::Value) {
    use serde_json::Value;
    let Some(stored) = value.as_object_mut() else { return };
    if stored.get("targets").is_some_and(|t| !t.is_null()) {
        return;
    }
    let mut grant = serde_json::Map::new();
    for (from, to) in [("target", "name"), ("access_key", "access_key")] {
        grant.insert(to.into(), stored.get(from).cloned().unwrap_or(Value::Null));
    }
    for (from, to) in [
        ("target_spec", "spec"),
        ("granted_at", "granted_at"),
        ("access_removed_at", "access_removed_at"),
        ("preexisting_access", "preexisting_access"),
        ("escalation_attempted", "escalation_attempted"),
        ("removal", "removal"),
    ] {
        if let Some(v) = stored.remove(from).filter(|v| !v.is_null()) {
            grant.insert(to.into(), v);
        }
    }
    if stored.get("status").and_then(Value::as_str) == Some(Status::Failed.as_str()) {
        let failure = stored.get("failure").filter(|f| f.is_string()).cloned();
        grant.insert("failure".into(), failure.unwrap_or_else(|| "the target system did not grant the access".into()));
    }
    stored.insert("targets".into(), Value::Array(vec![Value::Object(grant)]));
}

fn default_environment() -> String {
    crate::flow::DEFAULT_ENVIRONMENT.to_string()
}

/// Removal attempts that failed so far; the next one is not made before `next_attempt_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovalAttempts {
    pub attempts: u32,
    pub last_error: String,
    pub next_attempt_at: DateTime<Utc>,
}

/// The most targets one request may name (each is a lock and a grant of its own).
pub const MAX_TARGETS: usize = 20;

/// Longest wait between two attempts to remove access.
pub const MAX_REMOVAL_BACKOFF_SECS: i64 = 15 * 60;
/// Failed removal attempts of one grant before each further failure is also an audit event.
pub const QUIET_REMOVAL_FAILURES: u32 = 3;

/// Reminders already sent for a request, so each goes out once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminders {
    /// The approvers were nudged while it waited.
    #[serde(default)]
    pub approvers: bool,
    /// The requester was told their access expires soon.
    #[serde(default)]
    pub expiry: bool,
}

/// An approver's or a rule's verdict on a pending request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Deny,
}

/// A change the request's rules do not allow; the request is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The change needs the request in `expected`; it is `actual`.
    #[error("request is {actual}, not {expected}")]
    NotIn { expected: Status, actual: Status },
    #[error("you already approved this request")]
    AlreadyApproved,
    /// Removal is recorded only while the request holds access.
    #[error("request holds no access")]
    NoAccessHeld,
    /// An extension would make the whole grant longer than the flow allows.
    #[error("a grant in this flow lasts at most {0}")]
    TooLong(GrantDuration),
    /// A request names one to [`MAX_TARGETS`] targets, each access at most once.
    #[error("a request names 1 to {MAX_TARGETS} targets, each access once")]
    Targets,
    /// The request has no target of this name.
    #[error("the request has no target {0:?}")]
    UnknownTarget(String),
    /// The target was granted or failed already.
    #[error("target {0:?} was granted or failed already")]
    TargetSettled(String),
    #[error("an extension of this grant is already waiting for a decision")]
    ExtensionPending,
    /// The flow allows this many extensions per grant (0: none).
    #[error("this grant has had the {0} extension(s) its flow allows")]
    ExtensionLimit(u32),
    #[error("no extension of this grant is waiting for a decision")]
    NoExtensionPending,
    /// An approver may shorten a grant, never lengthen it; this is what was asked.
    #[error("an approver may shorten the duration, not lengthen it (asked: {0})")]
    LongerThanAsked(GrantDuration),
}

/// One target of a new request: the target as configured and its access key.
#[derive(Debug, Clone)]
pub struct NewTarget {
    pub target: Target,
    pub access_key: String,
}

/// What a new request is made of; [`AccessRequest::submit`] makes it a pending request.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub flow: String,
    /// The flow's environment.
    pub environment: String,
    /// The targets, in order; at least one, each access key once.
    pub targets: Vec<NewTarget>,
    pub requester: Requester,
    pub duration: GrantDuration,
    pub reason: String,
    pub fields: BTreeMap<String, serde_json::Value>,
    pub approval_timeout: GrantDuration,
}

impl AccessRequest {
    /// A new pending request and its `submitted` event; refused without a target, with more than
    /// [`MAX_TARGETS`], or with an access named twice.
    pub fn submit(new: NewRequest, actor: Actor, now: DateTime<Utc>) -> Result<(Self, AuditEvent), ChangeError> {
        let mut keys = std::collections::HashSet::new();
        if new.targets.is_empty()
            || new.targets.len() > MAX_TARGETS
            || !new.targets.iter().all(|t| keys.insert(t.access_key.as_str()))
        {
            return Err(ChangeError::Targets);
        }
        let mut targets = new.targets.into_iter();
        let Some(first) = targets.next() else { return Err(ChangeError::Targets) };
        let mut request = Self::pending(&new.flow, &first.target.name, first.access_key, new.requester, now);
        request.targets[0].spec = Some(first.target);
        request
            .targets
            .extend(targets.map(|t| TargetGrant::new(&t.target.name, t.access_key.clone(), Some(t.target.clone()))));
        request.environment = new.environment;
        request.duration_secs = new.duration.as_secs();
        request.reason = new.reason;
        request.fields = new.fields;
        request.decision_deadline = now + new.approval_timeout.to_chrono();
        let event = AuditEvent::of(&request, actor, AuditAction::Submitted, None, Some(request.reason.clone()));
        Ok((request, event))
    }

    /// A request in any state, for tests and fixtures: starts as a pending request of
    /// `requester_email` for `flow`/`target` (a one-minute grant).
    pub fn builder(requester_email: Email, flow: &str, target: &str) -> RequestBuilder {
        let requester = Requester { email: requester_email, slack_id: None, role: Role::Member };
        let mut request = Self::pending(flow, target, format!("record:{flow}:{target}"), requester, Utc::now());
        request.duration_secs = 60;
        request.reason = "r".into();
        RequestBuilder(request)
    }

    /// A fresh pending request with nothing decided, granted or sent yet.
    fn pending(flow: &str, target: &str, access_key: String, requester: Requester, now: DateTime<Utc>) -> Self {
        Self {
            id: RequestId::generate(),
            version: 1,
            status: Status::Pending,
            flow: flow.into(),
            environment: default_environment(),
            target: target.into(),
            access_key: access_key.clone(),
            targets: vec![TargetGrant::new(target, access_key, None)],
            requester,
            duration_secs: 0,
            reason: String::new(),
            fields: BTreeMap::new(),
            created_at: now,
            updated_at: now,
            decision_deadline: now,
            approvals: Vec::new(),
            decided_by: None,
            decision_note: None,
            task_token: None,
            cards: Vec::new(),
            expires_at: None,
            failure: None,
            reminders: Reminders::default(),
            cards_queued: false,
            extensions: Vec::new(),
            requested_duration_secs: None,
            revoked_by: None,
        }
    }

    pub fn id(&self) -> &RequestId {
        &self.id
    }
    pub fn version(&self) -> u64 {
        self.version
    }
    pub fn status(&self) -> Status {
        self.status
    }
    pub fn flow(&self) -> &str {
        &self.flow
    }
    /// The flow's environment.
    pub fn environment(&self) -> &str {
        &self.environment
    }
    /// The first target's name.
    pub fn target(&self) -> &str {
        &self.target
    }
    /// [`crate::flow::Target::access_key`] of the first target when requested.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }
    /// The first target as configured when the request was made (none for requests stored before
    /// targets were kept with them).
    pub fn target_spec(&self) -> Option<&Target> {
        self.targets.first().and_then(TargetGrant::spec)
    }
    /// Every target of the request, in the order requested.
    pub fn targets(&self) -> &[TargetGrant] {
        &self.targets
    }
    /// The target named `name`.
    pub fn target_named(&self, name: &str) -> Option<&TargetGrant> {
        self.targets.iter().find(|t| t.name == name)
    }
    /// The target that grants the access `access_key`.
    pub fn target_with_key(&self, access_key: &str) -> Option<&TargetGrant> {
        self.targets.iter().find(|t| t.access_key == access_key)
    }
    /// The targets neither granted nor failed yet, while the request may still grant them.
    pub fn pending_targets(&self) -> Vec<&TargetGrant> {
        match self.status {
            Status::Approved | Status::Active => self.targets.iter().filter(|t| t.is_pending()).collect(),
            _ => Vec::new(),
        }
    }
    /// Where one target stands: `pending` and `approved` (being granted) before its grant,
    /// `active`, `expired`, `revoked` or `failed` after, and the request's own status when it ended
    /// before the target was granted (denied, timed out, cancelled, revoked, expired).
    pub fn status_of(&self, target: &TargetGrant) -> Status {
        if target.failure.is_some() {
            return Status::Failed;
        }
        match (target.granted_at, self.status) {
            (Some(_), Status::Revoked) => Status::Revoked,
            (Some(_), Status::Active) if target.access_removed_at.is_none() => Status::Active,
            (Some(_), _) => Status::Expired,
            (None, Status::Active) => Status::Approved,
            (None, status) => status,
        }
    }
    /// True while access this target's grant made may still exist in the target system: from its
    /// grant, or from an attempt that failed or that the request's end cut short, until removed.
    pub fn target_holds_access(&self, target: &TargetGrant) -> bool {
        let cut_short = target.escalation_attempted && (target.failure.is_some() || self.status.is_terminal());
        (target.granted_at.is_some() || cut_short) && target.access_removed_at.is_none()
    }
    /// True while `target` claims its access key for this request: one open request per person
    /// and access.
    pub fn target_is_open(&self, target: &TargetGrant) -> bool {
        target.closed_in.is_none() && !self.status.is_terminal()
    }
    pub fn requester(&self) -> &Requester {
        &self.requester
    }
    pub fn duration_secs(&self) -> u64 {
        self.duration_secs
    }
    pub fn reason(&self) -> &str {
        &self.reason
    }
    pub fn fields(&self) -> &BTreeMap<String, serde_json::Value> {
        &self.fields
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
    /// No decision after this means `timed_out`.
    pub fn decision_deadline(&self) -> DateTime<Utc> {
        self.decision_deadline
    }
    pub fn approvals(&self) -> &[Approval] {
        &self.approvals
    }
    /// Who made the final decision (an approver, a rule, the requester cancelling, the system).
    pub fn decided_by(&self) -> Option<&Actor> {
        self.decided_by.as_ref()
    }
    pub fn decision_note(&self) -> Option<&str> {
        self.decision_note.as_deref()
    }
    /// The workflow's handle for delivering the decision (a Step Functions task token in AWS).
    pub fn task_token(&self) -> Option<&str> {
        self.task_token.as_deref()
    }
    /// The Slack messages that show this request.
    pub fn cards(&self) -> &[MessageRef] {
        &self.cards
    }
    /// When the first target was granted.
    pub fn granted_at(&self) -> Option<DateTime<Utc>> {
        self.targets.iter().filter_map(|t| t.granted_at).min()
    }
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }
    /// When the access was found gone from every target (after expiry, revoke or a failed grant):
    /// the last removal, once no target holds access.
    pub fn access_removed_at(&self) -> Option<DateTime<Utc>> {
        if self.holds_access() {
            return None;
        }
        self.targets.iter().filter_map(|t| t.access_removed_at).max()
    }
    /// Why no target could be granted.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
    pub fn reminders(&self) -> Reminders {
        self.reminders
    }
    /// Some target's access existed before Airlock granted it (standing access): it is not removed.
    pub fn preexisting_access(&self) -> bool {
        self.targets.iter().any(|t| t.preexisting_access)
    }
    /// Airlock asked a target system for access at least once.
    pub fn escalation_attempted(&self) -> bool {
        self.targets.iter().any(|t| t.escalation_attempted)
    }
    /// Failed attempts to remove access, while it is still held (the first target's that has any).
    pub fn removal(&self) -> Option<&RemovalAttempts> {
        self.targets.iter().filter(|t| self.target_holds_access(t)).find_map(|t| t.removal.as_ref())
    }
    /// The approval cards were queued for posting.
    pub fn cards_queued(&self) -> bool {
        self.cards_queued
    }
    /// The duration the requester asked for, when an approver shortened it.
    pub fn requested_duration(&self) -> Option<GrantDuration> {
        self.requested_duration_secs.map(GrantDuration::from_secs)
    }
    /// Who revoked the grant early (the time is `expires_at`).
    pub fn revoked_by(&self) -> Option<&Actor> {
        self.revoked_by.as_ref()
    }

    /// Moves to `next`, bumping the version; illegal moves are errors and change nothing.
    fn transition(&mut self, next: Status, now: DateTime<Utc>) -> Result<Status, TransitionError> {
        if !self.status.can_become(next) {
            return Err(TransitionError { from: self.status, to: next });
        }
        let previous = self.status;
        self.status = next;
        self.touch(now);
        if next.is_terminal() {
            let version = self.version;
            for target in self.targets.iter_mut().filter(|t| t.closed_in.is_none()) {
                target.closed_in = Some(version);
            }
            self.lapse_pending_extension(now);
        }
        Ok(previous)
    }

    /// Records a change that keeps the status.
    fn touch(&mut self, now: DateTime<Utc>) {
        self.version += 1;
        self.updated_at = now;
    }

    fn expect(&self, expected: Status) -> Result<(), ChangeError> {
        if self.status == expected { Ok(()) } else { Err(ChangeError::NotIn { expected, actual: self.status }) }
    }

    /// The index of the target `name`, which must be neither granted nor failed while the request
    /// is approved or active (the only statuses that grant).
    fn grantable(&self, name: &str) -> Result<usize, ChangeError> {
        if !matches!(self.status, Status::Approved | Status::Active) {
            return Err(ChangeError::NotIn { expected: Status::Approved, actual: self.status });
        }
        let index = self.index_of(name)?;
        if !self.targets[index].is_pending() {
            return Err(ChangeError::TargetSettled(name.to_string()));
        }
        Ok(index)
    }

    fn index_of(&self, name: &str) -> Result<usize, ChangeError> {
        self.targets.iter().position(|t| t.name == name).ok_or_else(|| ChangeError::UnknownTarget(name.to_string()))
    }

    /// Ends a pending request with a decision: `decided_by` is always set with the final status.
    fn decide(
        &mut self,
        next: Status,
        by: Actor,
        note: Option<String>,
        action: AuditAction,
        now: DateTime<Utc>,
    ) -> Result<AuditEvent, ChangeError> {
        let from = self.transition(next, now)?;
        self.decided_by = Some(by.clone());
        self.decision_note = note.clone();
        Ok(AuditEvent::of(self, by, action, Some(from), note))
    }

    /// `by` approves: the approval is recorded, and the request is approved once `required`
    /// approvals are in (`approved`; before that `approval_recorded`). `shorter` grants less time
    /// than asked (never more: `LongerThanAsked`); with several approvals the shortest asked by any
    /// of them applies. The audit event's detail names the change and holds the note.
    pub fn approve(
        &mut self,
        by: Actor,
        required: u32,
        shorter: Option<GrantDuration>,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<AuditEvent, ChangeError> {
        self.expect(Status::Pending)?;
        if self.has_approved(&by) {
            return Err(ChangeError::AlreadyApproved);
        }
        let mut next = self.clone();
        let asked = self.requested_duration().unwrap_or(self.duration());
        let change = match shorter {
            Some(d) if d > asked => return Err(ChangeError::LongerThanAsked(asked)),
            Some(d) if d < asked => {
                let granted = d.min(self.duration());
                next.requested_duration_secs = Some(asked.as_secs());
                next.duration_secs = granted.as_secs();
                Some(if granted == d {
                    format!("duration shortened to {d} (asked: {asked})")
                } else {
                    format!("duration {d} instead of {asked}; the shorter {granted} another approver chose stands")
                })
            }
            _ => None,
        };
        next.approvals.push(Approval { by: by.clone(), at: now });
        let mut event = if next.approvals.len() >= required as usize {
            next.decide(Status::Approved, by, note.clone(), AuditAction::Approved, now)?
        } else {
            next.touch(now);
            AuditEvent::of(&next, by, AuditAction::ApprovalRecorded, Some(Status::Pending), note.clone())
        };
        if let Some(change) = change {
            event.detail = Some(match note {
                Some(note) => format!("{change}: {note}"),
                None => change,
            });
        }
        *self = next;
        Ok(event)
    }

    /// `by` denies the request, with an optional reason.
    pub fn deny(&mut self, by: Actor, note: Option<String>, now: DateTime<Utc>) -> Result<AuditEvent, ChangeError> {
        self.decide(Status::Denied, by, note, AuditAction::Denied, now)
    }

    /// One of the flow's rules decides (`auto_approved` / `auto_denied`), recorded as `rule:<rule>`.
    pub fn decide_by_rule(
        &mut self,
        verdict: Verdict,
        rule: &str,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<AuditEvent, ChangeError> {
        let by = Actor::Rule { name: rule.into() };
        match verdict {
            Verdict::Approve => self.decide(Status::Approved, by, note, AuditAction::AutoApproved, now),
            Verdict::Deny => self.decide(Status::Denied, by, note, AuditAction::AutoDenied, now),
        }
    }

    /// The request is withdrawn before a decision (by the requester, or by Airlock when its
    /// workflow could not start).
    pub fn cancel(&mut self, by: Actor, note: Option<String>, now: DateTime<Utc>) -> Result<AuditEvent, ChangeError> {
        let from = self.transition(Status::Cancelled, now)?;
        self.decided_by = Some(by.clone());
        self.decision_note = note;
        Ok(AuditEvent::of(self, by, AuditAction::Cancelled, Some(from), None))
    }

    /// Nobody decided in time.
    pub fn time_out(&mut self, now: DateTime<Utc>) -> Result<AuditEvent, ChangeError> {
        let by = Actor::system("approval-timeout");
        let from = self.transition(Status::TimedOut, now)?;
        self.decided_by = Some(by.clone());
        Ok(AuditEvent::of(self, by, AuditAction::TimedOut, Some(from), None))
    }

    /// The expiry a grant made at `granted_at` gets.
    pub fn expiry_if_granted_at(&self, granted_at: DateTime<Utc>) -> DateTime<Utc> {
        granted_at + self.duration().to_chrono()
    }

    /// The workflow waits for a decision with `token`; true when the approval cards are to be
    /// queued with this write (they are queued once).
    pub fn await_decision(&mut self, token: &str, now: DateTime<Utc>) -> Result<bool, ChangeError> {
        self.expect(Status::Pending)?;
        let queue_cards = !self.cards_queued;
        self.cards_queued = true;
        self.task_token = Some(token.to_string());
        self.touch(now);
        Ok(queue_cards)
    }

    /// Records that `target`'s system is about to be asked for the access (before the first call).
    pub fn escalation_started(&mut self, target: &str, now: DateTime<Utc>) -> Result<(), ChangeError> {
        let index = self.grantable(target)?;
        self.targets[index].escalation_attempted = true;
        self.touch(now);
        Ok(())
    }

    /// `target`'s access was granted at `granted_at` (`standing`: the person already held it, so
    /// Airlock leaves it in place at the end). The first grant makes the request active until its
    /// duration has passed; later ones share that expiry.
    pub fn activate(
        &mut self,
        target: &str,
        granted_at: DateTime<Utc>,
        standing: bool,
        now: DateTime<Utc>,
    ) -> Result<AuditEvent, ChangeError> {
        let index = self.grantable(target)?;
        let from = if self.status == Status::Approved {
            let from = self.transition(Status::Active, now)?;
            self.expires_at = Some(self.expiry_if_granted_at(granted_at));
            from
        } else {
            self.touch(now);
            self.status
        };
        let grant = &mut self.targets[index];
        grant.granted_at = Some(granted_at);
        grant.preexisting_access = standing;
        let detail = standing
            .then(|| "the access already existed (standing access); Airlock will leave it in place".to_string());
        Ok(AuditEvent::of(self, Actor::system("escalate"), AuditAction::AccessGranted, Some(from), detail)
            .on_target(target))
    }

    /// `target` could not be granted; what its system may have applied before failing is removed
    /// as if granted. The request fails when no target was or can still be granted; otherwise it
    /// stays as it is.
    pub fn fail(&mut self, target: &str, failure: &str, now: DateTime<Utc>) -> Result<AuditEvent, ChangeError> {
        let index = self.grantable(target)?;
        let mut next = self.clone();
        let grant = &mut next.targets[index];
        grant.failure = Some(failure.to_string());
        grant.escalation_attempted = true;
        let none_granted = next.targets.iter().all(|t| t.failure.is_some());
        let from = if none_granted {
            let from = next.transition(Status::Failed, now)?;
            let failures: Vec<String> = match next.targets.as_slice() {
                [only] => vec![only.failure.clone().unwrap_or_default()],
                all => {
                    all.iter().map(|t| format!("{}: {}", t.name, t.failure.as_deref().unwrap_or_default())).collect()
                }
            };
            next.failure = Some(failures.join("; "));
            from
        } else {
            next.touch(now);
            next.status
        };
        next.targets[index].closed_in = Some(next.version);
        *self = next;
        Ok(AuditEvent::of(
            self,
            Actor::system("escalate"),
            AuditAction::EscalationFailed,
            Some(from),
            Some(failure.to_string()),
        )
        .on_target(target))
    }

    /// Ends an active grant now; its access is removed afterwards.
    pub fn revoke(&mut self, by: Actor, reason: Option<String>, now: DateTime<Utc>) -> Result<AuditEvent, ChangeError> {
        let from = self.transition(Status::Revoked, now)?;
        self.revoked_by = Some(by.clone());
        self.expires_at = Some(now);
        self.decision_note = reason.clone();
        Ok(AuditEvent::of(self, by, AuditAction::Revoked, Some(from), reason))
    }

    /// The access `target` was granted was removed at the end of the active grant; when no other
    /// target holds granted access any more, the request is `expired` (a target still being
    /// granted is then cut short). `kept` says why the access was left in place, if it was.
    pub fn expire(
        &mut self,
        target: &str,
        by: Actor,
        kept: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<AuditEvent, ChangeError> {
        self.expect(Status::Active)?;
        let index = self.index_of(target)?;
        if !self.targets[index].granted_and_held() {
            return Err(ChangeError::NoAccessHeld);
        }
        let mut next = self.clone();
        next.targets[index].access_removed_at = Some(now);
        next.targets[index].removal = None;
        let from = if next.targets.iter().any(TargetGrant::granted_and_held) {
            next.touch(now);
            next.status
        } else {
            next.transition(Status::Expired, now)?
        };
        next.targets[index].closed_in.get_or_insert(next.version);
        *self = next;
        Ok(AuditEvent::of(self, by, AuditAction::Expired, Some(from), kept).on_target(target))
    }

    /// The access of `target` was removed where no active grant of it ends by [`expire`](Self::expire):
    /// the request ended (revoked, failed, expired) or the target failed; the status stays.
    pub fn record_removal(
        &mut self,
        target: &str,
        by: Actor,
        kept: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<AuditEvent, ChangeError> {
        let index = self.index_of(target)?;
        let grant = &self.targets[index];
        if !self.target_holds_access(grant) {
            return Err(ChangeError::NoAccessHeld);
        }
        if self.status == Status::Active && grant.granted_at.is_some() {
            return Err(TransitionError { from: Status::Active, to: Status::Active }.into());
        }
        self.touch(now);
        let version = self.version;
        let grant = &mut self.targets[index];
        grant.access_removed_at = Some(now);
        grant.removal = None;
        grant.closed_in.get_or_insert(version);
        Ok(AuditEvent::of(self, by, AuditAction::AccessRemoved, Some(self.status), kept).on_target(target))
    }

    /// Records a failed attempt to remove `target`'s access and schedules the next one
    /// (exponential backoff from 5 s, capped at 15 minutes). Past the first
    /// [`QUIET_REMOVAL_FAILURES`] attempts the failure is also an audit event.
    pub fn record_removal_failure(
        &mut self,
        target: &str,
        by: Actor,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<AuditEvent>, ChangeError> {
        let index = self.index_of(target)?;
        if !self.target_holds_access(&self.targets[index]) {
            return Err(ChangeError::NoAccessHeld);
        }
        let grant = &mut self.targets[index];
        let attempts = grant.removal.as_ref().map_or(0, |r| r.attempts).saturating_add(1);
        let wait = (5i64 << attempts.min(12).saturating_sub(1)).min(MAX_REMOVAL_BACKOFF_SECS);
        grant.removal = Some(RemovalAttempts {
            attempts,
            last_error: error.chars().take(500).collect(),
            next_attempt_at: now + chrono::Duration::seconds(wait),
        });
        self.touch(now);
        let detail = Some(format!("attempt {attempts}: {error}"));
        Ok((attempts > QUIET_REMOVAL_FAILURES)
            .then(|| AuditEvent::of(self, by, AuditAction::RemovalFailed, Some(self.status), detail).on_target(target)))
    }

    /// Adds a posted card; false when it was already there.
    pub fn record_card(&mut self, card: MessageRef, now: DateTime<Utc>) -> bool {
        if self.cards.contains(&card) {
            return false;
        }
        self.cards.push(card);
        self.touch(now);
        true
    }

    /// The approvers were nudged (once, while pending).
    pub fn mark_approvers_reminded(&mut self, now: DateTime<Utc>) -> Result<(), ChangeError> {
        self.expect(Status::Pending)?;
        self.reminders.approvers = true;
        self.touch(now);
        Ok(())
    }

    /// The requester was warned that the grant expires soon (once, while active).
    pub fn mark_expiry_warned(&mut self, now: DateTime<Utc>) -> Result<(), ChangeError> {
        self.expect(Status::Active)?;
        self.reminders.expiry = true;
        self.touch(now);
        Ok(())
    }

    /// Drops what an ended request no longer needs after its retention (custom field values, the
    /// task token, card references); the version stays, as nothing about its state changes.
    pub fn strip_details(&mut self) {
        if self.status.is_terminal() {
            self.fields.clear();
            self.task_token = None;
            self.cards.clear();
        }
    }

    /// True while access granted by this request may still exist in a target system (including
    /// a failed escalation the target may have applied anyway).
    pub fn holds_access(&self) -> bool {
        self.targets.iter().any(|t| self.target_holds_access(t))
    }

    /// When `target`'s access must be removed by: expiry for a granted target of an active
    /// request, at once otherwise (ended requests, failed targets); `None` when it holds none.
    fn removal_base(&self, target: &TargetGrant) -> Option<DateTime<Utc>> {
        if !self.target_holds_access(target) {
            return None;
        }
        match (self.status, target.granted_at) {
            (Status::Active, Some(_)) => self.expires_at,
            _ => Some(self.updated_at),
        }
    }

    /// When `target`'s access must be removed by, not before the backoff after a failed attempt.
    fn target_removal_due(&self, target: &TargetGrant) -> Option<DateTime<Utc>> {
        let due = self.removal_base(target)?;
        Some(match &target.removal {
            Some(failed) => due.max(failed.next_attempt_at),
            None => due,
        })
    }

    /// When the next removal is due, for the sweeper: expiry for active grants, at once for
    /// ended grants and failed targets whose removal has not succeeded yet, and after a failed
    /// attempt not before its backoff (so one failing target never starves the others).
    pub fn removal_due(&self) -> Option<DateTime<Utc>> {
        self.targets.iter().filter_map(|t| self.target_removal_due(t)).min()
    }

    /// The targets whose access is to be removed at `now`: every target that holds access but a
    /// granted one of an active request before its expiry; with `backoff`, only those past the
    /// backoff of their last failed attempt.
    pub fn targets_to_remove(&self, now: DateTime<Utc>, backoff: bool) -> Vec<&TargetGrant> {
        self.targets
            .iter()
            .filter(|t| {
                let due = if backoff { self.target_removal_due(t) } else { self.removal_base(t) };
                due.is_some_and(|due| due <= now)
            })
            .collect()
    }

    pub fn duration(&self) -> GrantDuration {
        GrantDuration::from_secs(self.duration_secs)
    }

    pub fn has_approved(&self, actor: &Actor) -> bool {
        self.approvals.iter().any(|a| a.by.same_person(actor))
    }
}

/// Builds an [`AccessRequest`] in any state, for tests and fixtures (see [`AccessRequest::builder`]).
/// Nothing is checked: the services only ever change a request through its intent methods. The
/// per-target settings (`access_key`, `target_spec`, `granted_at`, `access_removed_at`, `failure`)
/// apply to the target added last (the first one until [`target`](Self::target) adds another).
#[derive(Debug, Clone)]
pub struct RequestBuilder(AccessRequest);

impl RequestBuilder {
    pub fn environment(mut self, environment: &str) -> Self {
        self.0.environment = environment.into();
        self
    }
    fn last(&mut self) -> &mut TargetGrant {
        let last = self.0.targets.len() - 1;
        &mut self.0.targets[last]
    }
    pub fn status(mut self, status: Status) -> Self {
        self.0.status = status;
        self
    }
    /// Adds a target `name` with `access_key`.
    pub fn target(mut self, name: &str, access_key: &str) -> Self {
        self.0.targets.push(TargetGrant::new(name, access_key.into(), None));
        self
    }
    pub fn access_key(mut self, key: &str) -> Self {
        if self.0.targets.len() == 1 {
            self.0.access_key = key.into();
        }
        self.last().access_key = key.into();
        self
    }
    pub fn target_spec(mut self, target: Target) -> Self {
        self.last().spec = Some(target);
        self
    }
    pub fn requester(mut self, requester: Requester) -> Self {
        self.0.requester = requester;
        self
    }
    pub fn slack_id(mut self, slack_id: Option<&str>) -> Self {
        self.0.requester.slack_id = slack_id.map(str::to_string);
        self
    }
    pub fn role(mut self, role: Role) -> Self {
        self.0.requester.role = role;
        self
    }
    pub fn duration_secs(mut self, secs: u64) -> Self {
        self.0.duration_secs = secs;
        self
    }
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.0.reason = reason.into();
        self
    }
    pub fn fields(mut self, fields: BTreeMap<String, serde_json::Value>) -> Self {
        self.0.fields = fields;
        self
    }
    /// Created (and last updated) at `at`.
    pub fn created_at(mut self, at: DateTime<Utc>) -> Self {
        self.0.created_at = at;
        self.0.updated_at = at;
        self
    }
    pub fn decision_deadline(mut self, at: DateTime<Utc>) -> Self {
        self.0.decision_deadline = at;
        self
    }
    pub fn approval(mut self, by: Actor, at: DateTime<Utc>) -> Self {
        self.0.approvals.push(Approval { by, at });
        self
    }
    pub fn decided_by(mut self, by: Actor) -> Self {
        self.0.decided_by = Some(by);
        self
    }
    pub fn decision_note(mut self, note: Option<String>) -> Self {
        self.0.decision_note = note;
        self
    }
    pub fn task_token(mut self, token: &str) -> Self {
        self.0.task_token = Some(token.into());
        self
    }
    pub fn cards(mut self, cards: Vec<MessageRef>) -> Self {
        self.0.cards = cards;
        self
    }
    pub fn cards_queued(mut self) -> Self {
        self.0.cards_queued = true;
        self
    }
    pub fn granted_at(mut self, at: DateTime<Utc>) -> Self {
        self.last().granted_at = Some(at);
        self
    }
    pub fn expires_at(mut self, at: DateTime<Utc>) -> Self {
        self.0.expires_at = Some(at);
        self
    }
    pub fn access_removed_at(mut self, at: DateTime<Utc>) -> Self {
        self.last().access_removed_at = Some(at);
        self
    }
    /// The last target's failure, and the request's.
    pub fn failure(mut self, failure: impl Into<String>) -> Self {
        let failure = failure.into();
        self.last().failure = Some(failure.clone());
        self.0.failure = Some(failure);
        self
    }
    pub fn build(self) -> AccessRequest {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn status() -> impl Strategy<Value = Status> {
        proptest::sample::select(Status::ALL.to_vec())
    }

    #[test]
    fn terminal_statuses_go_nowhere() {
        for from in Status::ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in Status::ALL {
                assert!(!from.can_become(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn the_happy_path_is_legal() {
        assert!(Status::Pending.can_become(Status::Approved));
        assert!(Status::Approved.can_become(Status::Active));
        assert!(Status::Active.can_become(Status::Expired));
        assert!(!Status::Pending.can_become(Status::Active), "no grant without approval");
        assert!(!Status::Active.can_become(Status::Active), "no double grant");
    }

    fn pending() -> AccessRequest {
        AccessRequest::builder("carol@example.com".parse().unwrap(), "aws-prod", "prod-admin")
            .duration_secs(600)
            .build()
    }

    fn bob() -> Actor {
        Actor::User { email: "bob@example.com".parse().unwrap(), slack_id: Some("U2".into()) }
    }

    #[test]
    fn approvals_count_until_enough_and_the_decider_is_recorded() {
        let now = Utc::now();
        let mut request = pending();
        let first = request.approve(bob(), 2, None, None, now).unwrap();
        assert_eq!(
            (first.action, request.status(), request.version()),
            (AuditAction::ApprovalRecorded, Status::Pending, 2)
        );
        assert!(request.decided_by().is_none());
        assert_eq!(request.approve(bob(), 2, None, None, now), Err(ChangeError::AlreadyApproved));
        let alice = Actor::User { email: "alice@example.com".parse().unwrap(), slack_id: None };
        let second = request.approve(alice.clone(), 2, None, Some("ok".into()), now).unwrap();
        assert_eq!(
            (second.action, second.from, second.to),
            (AuditAction::Approved, Some(Status::Pending), Status::Approved)
        );
        assert_eq!((request.decided_by(), request.decision_note()), (Some(&alice), Some("ok")));
        let before = request.clone();
        assert!(request.deny(bob(), None, now).is_err());
        assert_eq!(request, before, "a refused change changes nothing");
    }

    #[test]
    fn a_grant_is_active_until_its_duration_has_passed_and_removal_needs_held_access() {
        let now = Utc::now();
        let mut request = pending();
        assert!(request.activate("prod-admin", now, false, now).is_err(), "no grant without approval");
        assert_eq!(request.record_removal("prod-admin", bob(), None, now), Err(ChangeError::NoAccessHeld));
        request.approve(bob(), 1, None, None, now).unwrap();
        let event = request.activate("prod-admin", now, true, now).unwrap();
        assert_eq!(event.action, AuditAction::AccessGranted);
        assert_eq!(request.expires_at(), Some(now + chrono::Duration::seconds(600)));
        assert!(request.preexisting_access() && request.holds_access());
        assert_eq!(
            request.record_removal_failure("prod-admin", bob(), "boom", now).unwrap(),
            None,
            "the first failures are quiet"
        );
        assert!(request.removal().is_some());
        let event = request.expire("prod-admin", bob(), None, now).unwrap();
        assert_eq!((event.action, request.status()), (AuditAction::Expired, Status::Expired));
        assert!(!request.holds_access() && request.removal().is_none());
        assert!(request.expire("prod-admin", bob(), None, now).is_err());
    }

    #[test]
    fn a_revoked_grant_records_its_removal_and_keeps_its_status() {
        let now = Utc::now();
        let mut request = pending();
        request.approve(bob(), 1, None, None, now).unwrap();
        request.activate("prod-admin", now, false, now).unwrap();
        let revoked = request.revoke(bob(), Some("done".into()), now).unwrap();
        assert_eq!((revoked.action, request.expires_at()), (AuditAction::Revoked, Some(now)));
        let removed = request.record_removal("prod-admin", Actor::system("expiry"), None, now).unwrap();
        assert_eq!(
            (removed.action, removed.from, removed.to),
            (AuditAction::AccessRemoved, Some(Status::Revoked), Status::Revoked)
        );
        assert_eq!(request.access_removed_at(), Some(now));
    }

    proptest! {
        #[test]
        fn any_walk_never_revisits_a_status(steps in proptest::collection::vec(status(), 0..20)) {
            let mut current = Status::Pending;
            let mut seen = vec![current];
            for next in steps {
                if current.can_become(next) {
                    prop_assert!(!seen.contains(&next));
                    seen.push(next);
                    current = next;
                }
            }
            prop_assert!(seen.len() <= 4);
        }

        #[test]
        fn status_names_round_trip(s in status()) {
            prop_assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
            prop_assert_eq!(serde_json::to_value(s).unwrap(), serde_json::Value::from(s.as_str()));
        }
    }
}
