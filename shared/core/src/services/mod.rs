//! The services: what Slack, the HTTP API and the workflow steps call. They hold the ports in
//! [`Deps`]; [`Airlock`] serves people, [`Steps`] runs the workflow's task states.

mod decide;
mod drift;
mod grants;
mod identity;
mod reminders;
mod steps;
mod submit;
mod validate;

pub use decide::DecideOutcome;
pub use drift::DriftReport;
pub use reminders::{EXPIRY_WARNING, RemindersSent};
pub use steps::{StepError, StepOutcome};
pub use submit::SubmitInput;
pub use validate::parse_field_value;

use crate::audit::AuditEvent;
use crate::config::Config;
use crate::error::{Error, ErrorCode, Result};
use crate::flow::Flow;
use crate::ids::RequestId;
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

    /// Writes a change conditionally on `expected` and the version read, records its audit event,
    /// emits it, and mirrors decisions to the audit channel.
    async fn commit(&self, request: &AccessRequest, expected: Status, event: AuditEvent) -> Result<()> {
        self.store.update_request(request, expected, Some(&event)).await?;
        self.emit(request, &event).await;
        Ok(())
    }

    async fn emit(&self, request: &AccessRequest, event: &AuditEvent) {
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
        );
        self.audit.emit(event).await;
        if let Some(channel) = &self.config.slack.audit_channel
            && (event.from != Some(event.to) || event.action == "submitted")
        {
            best_effort("audit channel post", self.notifier.post_audit(channel, request, event).await);
        }
    }
}

/// Logs a failed notification; a lost message never undoes a committed change.
fn best_effort<T>(what: &str, result: std::result::Result<T, String>) {
    if let Err(e) = result {
        tracing::warn!(what, error = %e, "notification failed");
    }
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
