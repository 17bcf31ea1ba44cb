//! The services: what Slack, the HTTP API and the workflow steps call. They hold the ports in
//! [`Deps`]; [`Airlock`] serves people, [`Steps`] runs the workflow's task states.

mod decide;
mod drift;
mod grants;
mod identity;
mod notify;
mod reminders;
mod steps;
mod submit;
mod validate;

pub use decide::DecideOutcome;
pub use drift::DriftReport;
pub use notify::Delivered;
pub use reminders::{EXPIRY_WARNING, RemindersSent};
pub use steps::{StepError, StepOutcome};
pub use submit::SubmitInput;
pub use validate::parse_field_value;

use crate::audit::AuditEvent;
use crate::config::Config;
use crate::error::{Error, ErrorCode, Result};
use crate::flow::Flow;
use crate::ids::RequestId;
use crate::outbox::{Notification, OutboxItem};
use crate::ports::{AuditSink, Clock, Directory, Escalator, Notifier, OptionsSource, Store, Workflow};
use crate::request::{AccessRequest, Status};
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
}

/// The workflow's task states, invoked by Step Functions (through the Lambda functions) or the local runner.
#[derive(Clone)]
pub struct Steps {
    deps: Deps,
}

impl Airlock {
    pub fn new(deps: Deps, workflow: Arc<dyn Workflow>) -> Self {
        Self { deps, workflow }
    }

    pub fn config(&self) -> &Config {
        &self.deps.config
    }

    pub fn deps(&self) -> &Deps {
        &self.deps
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

    pub async fn audit_trail(&self, id: &RequestId) -> Result<Vec<AuditEvent>> {
        Ok(self.deps.store.audit_events(id).await?)
    }
}

impl Steps {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }

    pub fn deps(&self) -> &Deps {
        &self.deps
    }
}

impl Deps {
    async fn load(&self, id: &RequestId) -> Result<AccessRequest> {
        self.store.get_request(id).await?.ok_or_else(|| Error::new(ErrorCode::NotFound, format!("no request {id}")))
    }

    fn flow_of(&self, request: &AccessRequest) -> Result<&Flow> {
        self.config.flow(&request.flow).ok_or_else(|| {
            Error::new(
                ErrorCode::Internal,
                format!("request {} names flow {:?}, no longer configured", request.id, request.flow),
            )
        })
    }

    /// Writes a change conditionally on `expected` and the version read, with its audit event and
    /// the notifications it implies (plus the audit channel's line for a decision or a status change),
    /// all in one transaction; then emits the event to the log and the audit sink.
    async fn commit(
        &self,
        request: &AccessRequest,
        expected: Status,
        event: AuditEvent,
        notify: &[Notification],
    ) -> Result<()> {
        let outbox = self.outbox_for(request, Some(&event), notify);
        self.store.update_request_with(request, expected, Some(&event), &outbox).await?;
        self.emit(&event).await;
        Ok(())
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
            notify.iter().map(|n| OutboxItem::new(Some(request.id.clone()), n.clone(), now)).collect();
        if let (Some(channel), Some(event)) = (&self.config.slack.audit_channel, event)
            && (event.from != Some(event.to) || event.action == "submitted")
        {
            let line = Notification::AuditLine { channel: channel.clone(), event: Box::new(event.clone()) };
            items.push(OutboxItem::new(Some(request.id.clone()), line, now));
        }
        items
    }

    /// Logs an audit event as one JSON line and hands it to the audit sink (EventBridge on AWS).
    async fn emit(&self, event: &AuditEvent) {
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
        self.audit.emit(event).await;
    }
}

#[cfg(test)]
mod edge_tests;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
