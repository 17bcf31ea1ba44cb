//! The ports: what the services need from the outside world. AWS adapters (`shared/aws`), local
//! adapters (`shared/local`) and Slack (`shared/slack`) implement them.

use crate::audit::AuditEvent;
use crate::email::Email;
use crate::flow::{Flow, Target};
use crate::ids::RequestId;
use crate::outbox::OutboxItem;
use crate::request::{AccessRequest, MessageRef, Status};
use crate::workflow::WorkflowState;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A store failure the services act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The conditional write lost: the record's status or version is not what the caller read.
    #[error("conditional write failed")]
    Conflict,
    /// An open (pending, approved or active) request for the same user and access already exists.
    #[error("duplicate of {0}")]
    Duplicate(RequestId),
    #[error("{0}")]
    Unavailable(String),
}

/// Records: the source of truth for every request's state (docs/architecture.md, "Records"), and the
/// outbox of notifications that changes imply (written in the same transaction as the change).
#[async_trait]
pub trait Store: Send + Sync {
    /// Inserts a new pending request with its first audit event and the notifications it implies;
    /// fails with `Duplicate` when the same user already has an open request for the same access key.
    async fn insert_request_with(
        &self,
        request: &AccessRequest,
        event: &AuditEvent,
        outbox: &[OutboxItem],
    ) -> Result<(), StoreError>;

    /// [`insert_request_with`](Self::insert_request_with) with no notifications.
    async fn insert_request(&self, request: &AccessRequest, event: &AuditEvent) -> Result<(), StoreError> {
        self.insert_request_with(request, event, &[]).await
    }

    async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequest>, StoreError>;

    /// Writes `request` only if the stored copy has status `expected` and version `request.version - 1`,
    /// together with `event` and the `outbox` items (atomically). Otherwise `Conflict`, and nothing changes.
    async fn update_request_with(
        &self,
        request: &AccessRequest,
        expected: Status,
        event: Option<&AuditEvent>,
        outbox: &[OutboxItem],
    ) -> Result<(), StoreError>;

    /// [`update_request_with`](Self::update_request_with) with no notifications.
    async fn update_request(
        &self,
        request: &AccessRequest,
        expected: Status,
        event: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.update_request_with(request, expected, event, &[]).await
    }

    /// A user's requests, newest first, optionally only those with `status`.
    async fn requests_of_user(
        &self,
        user_key: &str,
        status: Option<Status>,
        limit: usize,
    ) -> Result<Vec<AccessRequest>, StoreError>;

    /// Every request of a user for one access key (all of their history), newest first.
    async fn requests_for_access(&self, user_key: &str, access_key: &str) -> Result<Vec<AccessRequest>, StoreError>;

    /// Requests whose status is `status`, newest first, older than `before` when given (a cursor:
    /// pass the last id of the previous page to read the next one).
    async fn requests_with_status_before(
        &self,
        status: Status,
        before: Option<&RequestId>,
        limit: usize,
    ) -> Result<Vec<AccessRequest>, StoreError>;

    /// The newest `limit` requests whose status is `status`.
    async fn requests_with_status(&self, status: Status, limit: usize) -> Result<Vec<AccessRequest>, StoreError> {
        self.requests_with_status_before(status, None, limit).await
    }

    /// Requests still holding access whose removal is due at or before `before`, earliest due first.
    async fn removals_due(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<AccessRequest>, StoreError>;

    /// The audit events of a request, oldest first.
    async fn audit_events(&self, id: &RequestId) -> Result<Vec<AuditEvent>, StoreError>;

    /// Records an audit event on its own (e.g. a failed removal attempt that changes no status).
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// Claims `key` for `ttl`; false when it was already claimed (a retry or a replay).
    async fn claim_idempotency_key(&self, key: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Adds notifications that no state change carries (e.g. telling someone why a click changed nothing).
    async fn enqueue_notifications(&self, items: &[OutboxItem]) -> Result<(), StoreError>;

    /// Takes up to `limit` notifications due at `now`, oldest first, and hides each from other
    /// claimers until `now + lease` (a conditional write per item, so two drainers never take the same one).
    /// A notification is not taken while an older one of the same request is still stored, so one
    /// request's messages arrive in the order they were written.
    async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError>;

    /// Makes every claimed notification due again at once. Only for a store with a single deliverer
    /// (the local server at start, after a crash left claims behind); elsewhere claims simply expire.
    async fn release_notification_claims(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Deletes a delivered (or abandoned) notification.
    async fn notification_done(&self, id: &str) -> Result<(), StoreError>;

    /// Stores a notification's next attempt (`attempts`, `due_at`, `last_error` as set on `item`).
    async fn notification_retry(&self, item: &OutboxItem) -> Result<(), StoreError>;

    /// The roles and member domains kept beside the requests; `None`: the config alone decides roles.
    fn roles(&self) -> Option<&dyn crate::roles::RoleStore> {
        None
    }
}

/// Why the workflow engine did not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// The engine could not be reached or failed (throttled, timed out, stopped); the same call
    /// may succeed later.
    #[error("{0}")]
    Unavailable(String),
    /// The engine refused the call and will refuse it again: the task timed out or no longer
    /// exists, the token is unknown, the input is not accepted.
    #[error("{0}")]
    Rejected(String),
    /// This engine is not set up for the call (e.g. no deescalate function for early removals).
    #[error("{0}")]
    NotConfigured(String),
}

impl WorkflowError {
    /// True when retrying the same call may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, WorkflowError::Unavailable(_))
    }
}

/// The workflow engine: Step Functions in AWS, the in-process runner locally.
#[async_trait]
pub trait Workflow: Send + Sync {
    /// Starts the execution for `state.request_id`; starting it again is a no-op.
    async fn start(&self, state: &WorkflowState) -> Result<(), WorkflowError>;

    /// Delivers AwaitDecision's result (`state` with `decision` set) for `task_token`.
    async fn send_decision(&self, task_token: &str, state: &WorkflowState) -> Result<(), WorkflowError>;

    /// A grant was revoked: run its removal now rather than at the expiry the execution waits for.
    /// Best effort: the sweeper removes anything this fails to.
    async fn remove_now(&self, state: &WorkflowState) -> Result<(), WorkflowError>;
}

/// A person as the directory (Slack) knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryUser {
    pub slack_id: String,
    pub email: Option<Email>,
    pub name: Option<String>,
}

/// Why a directory lookup failed (a person or group that does not exist is not an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The directory could not answer now (rate limited, timed out, unreachable, 5xx).
    #[error("{0}")]
    Unavailable(String),
    /// The directory refused the lookup and will refuse it again (not allowed, bad token, an
    /// answer that cannot be read).
    #[error("{0}")]
    Rejected(String),
}

impl DirectoryError {
    /// True when retrying the same lookup may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, DirectoryError::Unavailable(_))
    }
}

/// Looks people up (Slack's users and user groups).
#[async_trait]
pub trait Directory: Send + Sync {
    async fn user_by_slack_id(&self, slack_id: &str) -> Result<Option<DirectoryUser>, DirectoryError>;
    async fn user_by_email(&self, email: &Email) -> Result<Option<DirectoryUser>, DirectoryError>;
    /// Slack ids of the members of a user group.
    async fn group_members(&self, group_id: &str) -> Result<Vec<String>, DirectoryError>;
}

/// A grant as an escalator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantSpec {
    pub request_id: RequestId,
    pub user_email: Email,
    pub user_slack_id: Option<String>,
    pub target: Target,
    pub expires_at: DateTime<Utc>,
}

/// Why an escalation or deescalation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscalationError {
    /// Worth retrying (throttling, 5xx, a conflicting operation in progress).
    #[error("transient: {0}")]
    Transient(String),
    /// Will not succeed by retrying (unknown user, bad target, 4xx).
    #[error("{0}")]
    Permanent(String),
}

/// What an escalation found in the target system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Escalation {
    /// Airlock created the access; it removes it when the grant ends.
    Granted,
    /// The person already held this access before Airlock acted (standing access): Airlock leaves
    /// it in place when the grant ends.
    AlreadyHeld,
}

/// What an escalator tells about a grant while it works on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscalationProgress {
    /// The grant waits behind others (the target system's quota); it goes on by itself.
    Queued,
}

/// Receives an escalator's [`EscalationProgress`] for one grant.
#[async_trait]
pub trait ProgressSink: Send + Sync {
    async fn report(&self, progress: EscalationProgress);
}

/// A [`ProgressSink`] that drops every report.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

#[async_trait]
impl ProgressSink for NoProgress {
    async fn report(&self, _progress: EscalationProgress) {}
}

/// Grants and removes access in a target system. Both calls are idempotent; `escalate` tells
/// whether the access was already there, so that Airlock never removes what it did not create.
#[async_trait]
pub trait Escalator: Send + Sync {
    async fn escalate(&self, grant: &GrantSpec) -> Result<Escalation, EscalationError>;

    /// [`Self::escalate`], telling `progress` when the grant has to wait (an escalator that never
    /// waits reports nothing).
    async fn escalate_reporting(
        &self,
        grant: &GrantSpec,
        _progress: &dyn ProgressSink,
    ) -> Result<Escalation, EscalationError> {
        self.escalate(grant).await
    }

    async fn deescalate(&self, grant: &GrantSpec) -> Result<(), EscalationError>;

    /// Who holds `target`'s access in the target system right now, for drift checks; `None` when
    /// this kind of target cannot be listed.
    async fn holders(&self, _target: &Target) -> Result<Option<Vec<Email>>, EscalationError> {
        Ok(None)
    }
}

/// What the requester is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequesterUpdate {
    Submitted,
    Approved,
    Denied,
    TimedOut,
    Cancelled,
    Active,
    Failed,
    /// An extension was asked for and awaits the approvers.
    ExtensionRequested,
    Extended,
    ExtensionDenied,
    ExpiringSoon,
    Expired,
    Revoked,
}

/// Why a notification was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// Worth another attempt later (rate limited, Slack unavailable, timeout); `after` is the wait
    /// the service asked for (Slack's `Retry-After`), if any.
    #[error("{message}")]
    Retry { message: String, after: Option<Duration> },
    /// Will never succeed (no such channel or user, not allowed).
    #[error("{0}")]
    Permanent(String),
}

impl NotifyError {
    pub fn retry(message: impl Into<String>) -> Self {
        NotifyError::Retry { message: message.into(), after: None }
    }
}

/// Tells people what happened (Slack messages). Called by the outbox's deliverer, never on a
/// request's hot path; every call may be repeated after a failure.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Posts the approval card to one destination (a channel, or an approver's user id for a DM).
    async fn post_approval_card(
        &self,
        request: &AccessRequest,
        flow: &Flow,
        destination: &str,
    ) -> Result<MessageRef, NotifyError>;

    /// Rewrites the request's cards in place with its current outcome.
    async fn update_approval_cards(&self, request: &AccessRequest, flow: &Flow) -> Result<(), NotifyError>;

    /// DMs the requester about their request.
    async fn tell_requester(
        &self,
        request: &AccessRequest,
        flow: &Flow,
        update: RequesterUpdate,
    ) -> Result<(), NotifyError>;

    /// Nudges `approvers` about a request still waiting for their decision.
    async fn remind_approvers(
        &self,
        request: &AccessRequest,
        flow: &Flow,
        approvers: &[DirectoryUser],
    ) -> Result<(), NotifyError>;

    /// A short message to one person: shown only to them in `channel` when given (and not a DM),
    /// otherwise as a direct message. Also used with a channel id as `user` to post to a channel.
    async fn tell_user(&self, user: &str, channel: Option<&str>, text: &str) -> Result<(), NotifyError>;

    /// Posts a one-line record of a decision or change to the audit channel.
    async fn post_audit(&self, channel: &str, request: &AccessRequest, event: &AuditEvent) -> Result<(), NotifyError>;

    /// Reports to `channel` that `holder` holds `target` (its label) without Airlock having granted it.
    async fn report_drift(&self, channel: &str, holder: &Email, target: &str) -> Result<(), NotifyError>;

    /// Posts the card asking approvers to decide `request`'s pending extension to `destination`.
    async fn post_extension_card(
        &self,
        request: &AccessRequest,
        flow: &Flow,
        destination: &str,
    ) -> Result<MessageRef, NotifyError>;

    /// Publishes `home` as the App Home of the Slack user `user` (replacing what it showed).
    async fn publish_home(&self, user: &str, home: &crate::services::Home) -> Result<(), NotifyError>;
}

/// Emits audit events beyond the store (JSON log lines; EventBridge in AWS).
#[async_trait]
pub trait AuditSink: Send + Sync {
    async fn emit(&self, event: &AuditEvent);

    /// [`emit`](Self::emit) for a change of `request` just committed (the request as written), for
    /// sinks that measure it (e.g. the time from submission to decision).
    async fn emit_change(&self, event: &AuditEvent, _request: &AccessRequest) {
        self.emit(event).await
    }
}

/// The audit sink without an event bus: the store keeps the record and the services log one JSON
/// line per event, so nothing more is sent anywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAuditSink;

#[async_trait]
impl AuditSink for LogAuditSink {
    async fn emit(&self, event: &AuditEvent) {
        tracing::debug!(event_id = %event.id, "audit event recorded");
    }
}

/// The time, so tests can fix it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// One choice of a dynamic select.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectOption {
    pub value: String,
    pub label: String,
}

/// Why a select field's options could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    /// The source could not be reached or failed (timeout, transport error, 5xx, a failed invocation).
    #[error("{0}")]
    Unavailable(String),
    /// The source answered, but not with a list of options (a 4xx, a body that is not one).
    #[error("{0}")]
    Invalid(String),
    /// This source cannot serve the field (e.g. a Lambda prefetch without the AWS adapters).
    #[error("{0}")]
    Unsupported(String),
}

impl OptionsError {
    /// True when asking again may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, OptionsError::Unavailable(_))
    }
}

/// Fetches a select field's options live (prefetch): from a URL or a Lambda function.
#[async_trait]
pub trait OptionsSource: Send + Sync {
    /// Options for `field`, filtered by what the user typed (`query`, may be empty).
    async fn options(
        &self,
        flow: &Flow,
        field: &crate::flow::FieldSpec,
        query: &str,
    ) -> Result<Vec<SelectOption>, OptionsError>;
}

/// An account of the organization, as listed for a discovered `aws_sso` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
}

/// A permission set of an Identity Center instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionSet {
    pub arn: String,
    pub name: String,
}

/// What a catalog answered; `loading` when the listing is not complete yet (the cache is warming).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub loading: bool,
}

/// A listing that failed (AWS unreachable, access denied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CatalogError(pub String);

/// Lists the accounts and permission sets a discovered `aws_sso` target
/// ([`crate::flow::TargetKind::AwsSsoScope`]) names. Implementations cache; the services apply
/// the target's exclusions and permission-set list, so a catalog never widens what a flow grants.
#[async_trait]
pub trait TargetCatalog: Send + Sync {
    /// The accounts in `scope.accounts`. With `quick`, answers at once from what is cached (an
    /// empty, `loading` listing while the first listing runs); otherwise waits for a listing.
    async fn accounts(&self, scope: &crate::flow::SsoScope, quick: bool) -> Result<Listing<Account>, CatalogError>;

    /// Every permission set of the scope's instance; `quick` as for [`Self::accounts`].
    async fn permission_sets(
        &self,
        scope: &crate::flow::SsoScope,
        quick: bool,
    ) -> Result<Listing<PermissionSet>, CatalogError>;

    /// The Identity Center instance the scope's assignments are made in (its own `instance_arn`,
    /// else the deployment's default).
    fn instance_arn(&self, scope: &crate::flow::SsoScope) -> Option<String>;
}
