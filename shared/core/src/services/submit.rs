//! Submitting a request: validate, persist as pending, start the workflow, tell the requester.

use super::Airlock;
use super::decide::actor_of;
use super::validate::validate_form;
use crate::audit::Actor;
use crate::config::FlowLookupError;
use crate::error::{ErrorCode, FieldError, SubmitError};
use crate::policy;
use crate::request::{AccessRequest, NewRequest, NewTarget, Requester, Status};
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
        let flow = deps.config.resolve_flow(&input.flow, input.environment.as_deref()).map_err(|e| match e {
            FlowLookupError::UnknownFlow(name) => SubmitError::UnknownFlow(name),
            e => SubmitError::Invalid(vec![FieldError { field: "environment".into(), message: e.to_string() }]),
        })?;
        let groups = self.groups_of(flow, who).await;
        policy::may_request(flow, who, &groups).map_err(SubmitError::NotAllowed)?;
        let form = validate_form(
            flow,
            input.target.as_deref(),
            &input.targets,
            input.duration.as_deref(),
            &input.reason,
            &input.fields,
        )
        .map_err(SubmitError::Invalid)?;

        let targets = self
            .expand_targets(form.targets, &input)
            .await?
            .into_iter()
            // A record target's access is the flow's own: one per environment.
            .map(|target| NewTarget { access_key: target.access_key(&flow.reference()), target })
            .collect();
        let new = NewRequest {
            flow: flow.name.clone(),
            environment: flow.environment.clone(),
            targets,
            requester: Requester { email: who.email.clone(), slack_id: who.slack_id.clone(), role: who.role },
            duration: form.duration,
            reason: form.reason,
            fields: form.fields,
            approval_timeout: flow.approval_timeout,
        };
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
