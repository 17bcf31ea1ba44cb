//! Submitting a request: validate, persist as pending, start the workflow, tell the requester.

use super::Airlock;
use super::decide::actor_of;
use crate::audit::Actor;
use crate::error::{ErrorCode, FieldError, SubmitError};
use crate::evaluation;
use crate::request::{AccessRequest, Status};
use crate::role::Identity;
use crate::workflow::WorkflowState;
use serde_json::Value;
use std::collections::BTreeMap;

/// A request as entered in the Slack modal or posted to the API.
#[derive(Debug, Clone, Default)]
pub struct SubmitInput {
    pub flow: String,
    /// The flow's environment; optional when the flow name is in one environment only.
    pub environment: Option<String>,
    pub target: Option<String>,
    /// Several targets by name or label, in a flow with `multiple_targets` (instead of `target`).
    pub targets: Vec<String>,
    /// Accounts (ids or names) of a target that lists accounts (`accounts:` in the config).
    pub accounts: Vec<String>,
    /// The permission set (name or ARN) for `accounts`.
    pub permission_set: Option<String>,
    /// `15m`-style, or whole seconds.
    pub duration: Option<String>,
    pub reason: String,
    pub fields: BTreeMap<String, Value>,
    /// The API client submitting on the requester's behalf, recorded as the `submitted` event's
    /// actor (`api:<token name>`); `None` when the requester submits themselves.
    pub submitted_by: Option<String>,
}

impl Airlock {
    /// Validates and records a request from `who`, then starts its workflow.
    pub async fn submit(&self, who: &Identity, input: SubmitInput) -> Result<AccessRequest, SubmitError> {
        let deps = &self.deps;
        let flow = evaluation::flow_for(&deps.config, &input)?;
        let groups = self.groups_of(flow, who).await;
        let mut form = evaluation::admit(flow, who, &groups, &input)?;
        let targets = self.expand_targets(std::mem::take(&mut form.targets), &input).await?;
        let new = evaluation::new_request(flow, who, targets, form);
        let actor = input.submitted_by.as_deref().map_or_else(|| actor_of(who), Actor::system);
        let (request, event) = AccessRequest::submit(new, actor, deps.clock.now())
            .map_err(|e| SubmitError::Invalid(vec![FieldError { field: "targets".into(), message: e.to_string() }]))?;
        let outbox = deps.outbox_for(&request, Some(&event), &super::implied(&request, event.action));
        deps.store.insert_request_with(&request, &event, &outbox).await?;
        deps.emit(&event).await;

        let state = WorkflowState::start(request.id().clone(), flow.approval_timeout.as_secs());
        if let Err(e) = self.workflow.start(&state).await {
            tracing::error!(request_id = %request.id(), error = %e, "workflow did not start");
            let mut abandoned = request.clone();
            let note = Some("the workflow could not start".to_string());
            let event = abandoned
                .cancel(Actor::system("workflow"), note, deps.clock.now())
                .map_err(|e| SubmitError::Unavailable(e.to_string()))?
                .with_detail(Some(e.to_string()));
            deps.commit(&abandoned, Status::Pending, event).await.map_err(|e| match e.code {
                ErrorCode::Conflict => SubmitError::Changed,
                _ => SubmitError::Unavailable(e.message),
            })?;
            return Err(SubmitError::Unavailable("could not start the approval workflow; please try again".into()));
        }
        Ok(request)
    }
}
