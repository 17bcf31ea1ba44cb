//! Submitting a request: validate, persist as pending, start the workflow, tell the requester.

use super::Airlock;
use super::validate::validate_form;
use crate::audit::{Actor, AuditEvent};
use crate::error::{Error, ErrorCode, Result};
use crate::ids::RequestId;
use crate::outbox::Notification;
use crate::policy;
use crate::ports::RequesterUpdate;
use crate::request::{AccessRequest, Requester, Status};
use crate::role::Identity;
use crate::workflow::WorkflowState;
use serde_json::Value;
use std::collections::BTreeMap;

/// A request as entered in the Slack modal or posted to the API.
#[derive(Debug, Clone, Default)]
pub struct SubmitInput {
    pub flow: String,
    pub target: Option<String>,
    /// `15m`-style, or whole seconds.
    pub duration: Option<String>,
    pub reason: String,
    pub fields: BTreeMap<String, Value>,
}

impl Airlock {
    /// Validates and records a request from `who`, then starts its workflow.
    pub async fn submit(&self, who: &Identity, input: SubmitInput) -> Result<AccessRequest> {
        let deps = &self.deps;
        let flow = deps
            .config
            .flow(&input.flow)
            .ok_or_else(|| Error::new(ErrorCode::UnknownFlow, format!("no flow named {:?}", input.flow)))?;
        let groups = self.groups_of(flow, who).await;
        policy::may_request(flow, who, &groups).map_err(|r| Error::new(ErrorCode::Forbidden, r.to_string()))?;
        let form =
            validate_form(flow, input.target.as_deref(), input.duration.as_deref(), &input.reason, &input.fields)
                .map_err(Error::invalid)?;

        let now = deps.clock.now();
        let request = AccessRequest {
            id: RequestId::generate(),
            version: 1,
            status: Status::Pending,
            flow: flow.name.clone(),
            target: form.target.name.clone(),
            access_key: form.target.access_key(&flow.name),
            target_spec: Some(form.target.clone()),
            requester: Requester { email: who.email.clone(), slack_id: who.slack_id.clone(), role: who.role },
            duration_secs: form.duration.as_secs(),
            reason: form.reason,
            fields: form.fields,
            created_at: now,
            updated_at: now,
            decision_deadline: now + flow.approval_timeout.to_chrono(),
            approvals: Vec::new(),
            decided_by: None,
            decision_note: None,
            task_token: None,
            cards: Vec::new(),
            granted_at: None,
            expires_at: None,
            access_removed_at: None,
            failure: None,
            reminders: Default::default(),
            preexisting_access: false,
            escalation_attempted: false,
            removal: None,
            cards_queued: false,
        };
        let actor = Actor::User { email: who.email.clone(), slack_id: who.slack_id.clone() };
        let event = AuditEvent::of(&request, actor, "submitted", None, Some(request.reason.clone()));
        let outbox =
            deps.outbox_for(&request, Some(&event), &[Notification::Requester { update: RequesterUpdate::Submitted }]);
        deps.store.insert_request_with(&request, &event, &outbox).await?;
        deps.emit(&event).await;

        let state = WorkflowState::start(request.id.clone(), flow.approval_timeout.as_secs());
        if let Err(e) = self.workflow.start(&state).await {
            tracing::error!(request_id = %request.id, error = %e, "workflow did not start");
            let mut abandoned = request.clone();
            abandoned.transition(Status::Cancelled, deps.clock.now())?;
            abandoned.decided_by = Some(Actor::system("workflow"));
            abandoned.decision_note = Some("the workflow could not start".into());
            let event =
                AuditEvent::of(&abandoned, Actor::system("workflow"), "cancelled", Some(Status::Pending), Some(e));
            let notify = [Notification::Requester { update: RequesterUpdate::Cancelled }];
            deps.commit(&abandoned, Status::Pending, event, &notify).await?;
            return Err(Error::unavailable("could not start the approval workflow; please try again"));
        }
        Ok(request)
    }
}
