//! The services: what Slack, the HTTP API and the workflow steps call. They hold the ports in
//! [`Deps`]; [`Airlock`] serves people, [`Steps`] runs the workflow's task states.

mod catalog;
mod decide;
mod drift;
mod extend;
mod grants;
mod home;
mod identity;
mod notify;
mod reminders;
mod steps;
mod submit;
pub(crate) mod validate;

pub use catalog::{AccountOptions, MAX_OPTIONS, ResolvedScope, resolve_scope};
pub use decide::DecideOutcome;
pub use drift::DriftReport;
pub use home::Home;
pub use identity::{DomainUpdate, People, RoleSnapshot, RoleUpdate};
pub use notify::Delivered;
pub use reminders::{EXPIRY_WARNING, RemindersSent};
pub use steps::{StepError, StepOutcome};
pub use submit::SubmitInput;
pub use validate::parse_field_value;

use crate::audit::{AuditAction, AuditEvent};
use crate::config::Config;
use crate::error::{Error, ErrorCode, Result};
use crate::flow::{FieldSpec, Flow};
use crate::ids::RequestId;
use crate::outbox::{Notification, OutboxItem};
use crate::ports::{
    AuditSink, Clock, Directory, Escalator, Notifier, OptionsError, OptionsSource, RequesterUpdate, SelectOption,
    Store, StoreError, Workflow,
};
use crate::request::{AccessRequest, ChangeError, Status};
use std::sync::Arc;

/// The ports and config every service uses, built once per process.
#[derive(Clone)]
pub struct Deps {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub notifier: Arc<dyn Notifier>,
    pub escalator: Arc<dyn Escalator>,
    pub audit: Arc<dyn AuditSink>,
    pub directory: Arc<dyn Directory>,
    pub options: Arc<dyn OptionsSource>,
    pub clock: Arc<dyn Clock>,
}

/// The services people use (through Slack or the API).
#[derive(Clone)]
pub struct Airlock {
    deps: Deps,
    workflow: Arc<dyn Workflow>,
    /// Lists discovered `aws_sso` targets' accounts and permission sets; without it they cannot be requested.
    catalog: Option<Arc<dyn crate::ports::TargetCatalog>>,
}

/// The workflow's task states, invoked by Step Functions (through the Lambda functions) or the local runner.
#[derive(Clone)]
pub struct Steps {
    deps: Deps,
}

impl Airlock {
    pub fn new(deps: Deps, workflow: Arc<dyn Workflow>) -> Self {
        Self { deps, workflow, catalog: None }
    }

    /// Serves discovered `aws_sso` targets (`accounts:` in the config) from `catalog`.
    pub fn with_catalog(mut self, catalog: Arc<dyn crate::ports::TargetCatalog>) -> Self {
        self.catalog = Some(catalog);
        self
    }

    pub fn config(&self) -> &Config {
        &self.deps.config
    }

    /// The time now, by the clock every service uses.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.deps.clock.now()
    }

    /// The step handlers over the same ports.
    pub fn steps(&self) -> Steps {
        Steps::new(self.deps.clone())
    }

    pub async fn get_request(&self, id: &RequestId) -> Result<AccessRequest> {
        self.deps.load(id).await
    }

    /// A user's requests (by email), newest first.
    pub async fn list_requests(
        &self,
        user_email: &str,
        status: Option<Status>,
        limit: usize,
    ) -> Result<Vec<AccessRequest>> {
        Ok(self.deps.store.requests_of_user(&user_email.to_ascii_lowercase(), status, limit).await?)
    }

    /// The newest `limit` requests with `status`, whoever made them.
    pub async fn requests_with_status(&self, status: Status, limit: usize) -> Result<Vec<AccessRequest>> {
        Ok(self.deps.store.requests_with_status(status, limit).await?)
    }

    pub async fn audit_trail(&self, id: &RequestId) -> Result<Vec<AuditEvent>> {
        Ok(self.deps.store.audit_events(id).await?)
    }

    /// Claims `key` for `ttl`: true the first time, false for a retry or replay within `ttl`.
    pub async fn claim_once(&self, key: &str, ttl: std::time::Duration) -> Result<bool> {
        Ok(self.deps.store.claim_idempotency_key(key, ttl).await?)
    }

    /// The options of a select field with a prefetch source, filtered by `query`.
    pub async fn field_options(
        &self,
        flow: &Flow,
        field: &FieldSpec,
        query: &str,
    ) -> std::result::Result<Vec<SelectOption>, OptionsError> {
        self.deps.options.options(flow, field, query).await
    }
}

impl Steps {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

impl Deps {
    async fn load(&self, id: &RequestId) -> Result<AccessRequest> {
        self.store.get_request(id).await?.ok_or_else(|| Error::new(ErrorCode::NotFound, format!("no request {id}")))
    }

    fn flow_of(&self, request: &AccessRequest) -> Result<&Flow> {
        self.config.flow_of(request).ok_or_else(|| {
            Error::new(
                ErrorCode::Internal,
                format!(
                    "request {} names flow {:?} in environment {:?}, no longer configured",
                    request.id(),
                    request.flow(),
                    request.environment()
                ),
            )
        })
    }

    /// The one way a change of state is written: conditionally on `expected` and the version read,
    /// with its audit event and the notifications it implies (see [`implied`], plus the audit
    /// channel's line for a decision or a status change), all in one transaction; then the event
    /// goes to the log and the audit sink.
    async fn commit(&self, request: &AccessRequest, expected: Status, event: AuditEvent) -> Result<()> {
        let outbox = self.outbox_for(request, Some(&event), &implied(request, event.action));
        self.store.update_request_with(request, expected, Some(&event), &outbox).await?;
        self.emit_change(&event, request).await;
        Ok(())
    }

    /// [`commit`](Self::commit) with `extra` notifications besides those the change implies.
    async fn commit_with(
        &self,
        request: &AccessRequest,
        expected: Status,
        event: AuditEvent,
        extra: &[Notification],
    ) -> Result<()> {
        let mut notify = implied(request, event.action);
        notify.extend_from_slice(extra);
        let outbox = self.outbox_for(request, Some(&event), &notify);
        self.store.update_request_with(request, expected, Some(&event), &outbox).await?;
        self.emit_change(&event, request).await;
        Ok(())
    }

    /// Whether `actor` submitted request `id` (its `submitted` event names them): what lets an API
    /// token without the revoke scope cancel, revoke or extend the requests it made.
    async fn submitted_by(&self, id: &RequestId, actor: &crate::audit::Actor) -> std::result::Result<bool, StoreError> {
        let trail = self.store.audit_events(id).await?;
        Ok(trail.iter().any(|e| e.action == AuditAction::Submitted && &e.actor == actor))
    }

    /// Where `request`'s approval cards go: the flow's approval channel, each listed approver
    /// (named by Slack id, or by email, looked up when the card is delivered), but not the
    /// requester unless the flow allows self-approval, and each approver group (`S…`).
    fn card_destinations(&self, flow: &Flow, request: &AccessRequest) -> Vec<String> {
        let approvers = flow.approvers.users.iter().filter(|p| match p {
            crate::flow::Principal::Email(email) => email != &request.requester().email || flow.allow_self_approval,
            crate::flow::Principal::SlackId(_) => true,
        });
        let groups = flow.approvers.groups.iter().cloned(); // each fanned out to its members when delivered
        flow.approvers.channel.iter().cloned().chain(approvers.map(|p| p.to_string())).chain(groups).collect()
    }

    /// Writes bookkeeping that is no audited change (task token, cards, reminders, a quiet failed
    /// removal) conditionally on `expected` and the version read, with `notify` queued in the same write.
    async fn save(
        &self,
        request: &AccessRequest,
        expected: Status,
        notify: &[Notification],
    ) -> std::result::Result<(), StoreError> {
        let outbox = self.outbox_for(request, None, notify);
        self.store.update_request_with(request, expected, None, &outbox).await
    }

    /// The outbox items for `notify` about `request`, plus the audit channel line for `event`.
    fn outbox_for(
        &self,
        request: &AccessRequest,
        event: Option<&AuditEvent>,
        notify: &[Notification],
    ) -> Vec<OutboxItem> {
        let now = self.clock.now();
        let mut items: Vec<OutboxItem> =
            notify.iter().map(|n| OutboxItem::new(Some(request.id().clone()), n.clone(), now)).collect();
        if let (Some(channel), Some(event)) = (&self.config.slack.audit_channel, event)
            && (event.from != Some(event.to)
                || matches!(
                    event.action,
                    AuditAction::Submitted
                        | AuditAction::ExtensionRequested
                        | AuditAction::Extended
                        | AuditAction::ExtensionDenied
                ))
        {
            let line = Notification::AuditLine { channel: channel.clone(), event: Box::new(event.clone()) };
            items.push(OutboxItem::new(Some(request.id().clone()), line, now));
        }
        items
    }

    /// Logs an audit event as one JSON line and hands it to the audit sink (EventBridge on AWS).
    async fn emit(&self, event: &AuditEvent) {
        Self::log(event);
        self.audit.emit(event).await;
    }

    /// [`emit`](Self::emit) for a change of `request` that was just committed.
    async fn emit_change(&self, event: &AuditEvent, request: &AccessRequest) {
        Self::log(event);
        self.audit.emit_change(event, request).await;
    }

    fn log(event: &AuditEvent) {
        tracing::info!(
            message = "audit",
            request_id = %event.request_id,
            actor = %event.actor,
            action = %event.action,
            from = event.from.map(|s| s.as_str()).unwrap_or(""),
            to = %event.to,
            flow = %event.flow,
            target = %event.target,
            requester = %event.requester,
            time = %event.at.to_rfc3339(),
            detail = event.detail.as_deref().unwrap_or(""),
        );
    }
}

/// What people are told when `action` happens to `request`: its cards show the new state (once
/// they were queued), the requester gets a DM about every decision and change of their grant, and
/// the App Homes of the people concerned are republished. With several targets, the requester hears
/// once the escalation has settled (every target granted or failed) and once the last target
/// expired, while the cards follow each target.
fn implied(request: &AccessRequest, action: AuditAction) -> Vec<Notification> {
    use AuditAction::*;
    let settled = request.pending_targets().is_empty();
    let update = match action {
        AccessGranted | EscalationFailed if !settled => None,
        EscalationFailed if request.status() == Status::Active => Some(RequesterUpdate::Active),
        Expired if request.status() != Status::Expired => None,
        Submitted => Some(RequesterUpdate::Submitted),
        Approved | AutoApproved => Some(RequesterUpdate::Approved),
        Denied | AutoDenied => Some(RequesterUpdate::Denied),
        Cancelled => Some(RequesterUpdate::Cancelled),
        TimedOut => Some(RequesterUpdate::TimedOut),
        AccessGranted => Some(RequesterUpdate::Active),
        EscalationFailed => Some(RequesterUpdate::Failed),
        Extended => Some(RequesterUpdate::Extended),
        Revoked => Some(RequesterUpdate::Revoked),
        Expired => Some(RequesterUpdate::Expired),
        ExtensionRequested => Some(RequesterUpdate::ExtensionRequested),
        ExtensionDenied => Some(RequesterUpdate::ExtensionDenied),
        ApprovalRecorded | AccessRemoved | RemovalFailed | DriftRemoved => None,
    };
    let shows_state = !matches!(action, Submitted | ExtensionRequested | AccessRemoved | RemovalFailed | DriftRemoved);
    let has_cards = request.cards_queued()
        || !request.cards().is_empty()
        || request.extensions().iter().any(|e| !e.cards.is_empty());
    let mut notify = Vec::new();
    if shows_state && has_cards {
        notify.push(Notification::CardUpdate);
    }
    notify.extend(update.map(|update| Notification::Requester { update }));
    // Every App Home that lists the request (requester, people who may decide it) shows the change.
    if !matches!(action, AccessRemoved | RemovalFailed | DriftRemoved) {
        notify.push(Notification::HomeRefresh);
    }
    notify
}

impl From<ChangeError> for Error {
    fn from(e: ChangeError) -> Self {
        let code = match e {
            ChangeError::TooLong(_) => ErrorCode::Invalid,
            _ => ErrorCode::Conflict,
        };
        Error::new(code, e.to_string())
    }
}
