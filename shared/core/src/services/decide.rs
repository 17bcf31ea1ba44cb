//! Approve, deny and cancel: conditional writes, so double clicks and concurrent approvers are safe.

use super::Airlock;
use crate::audit::{Actor, AuditEvent};
use crate::error::{Error, ErrorCode, Result};
use crate::ids::RequestId;
use crate::outbox::Notification;
use crate::policy::{self, DecisionRefusal};
use crate::ports::RequesterUpdate;
use crate::request::{AccessRequest, Approval, Status};
use crate::role::Identity;
use crate::workflow::{Decision, WorkflowState};

/// How many times a decision re-reads and retries after losing a conditional write to a concurrent one.
const MAX_ATTEMPTS: usize = 5;

/// What a click did.
#[derive(Debug, Clone, PartialEq)]
pub enum DecideOutcome {
    /// The request is now approved (or denied); the workflow was told.
    Decided(AccessRequest),
    /// An approval was counted; more are required.
    ApprovalRecorded { request: AccessRequest, approvals: usize, required: u32 },
}

impl Airlock {
    /// `who` approves (`approve`) or denies the request, with an optional note (the deny reason).
    pub async fn decide(
        &self,
        id: &RequestId,
        who: &Identity,
        approve: bool,
        note: Option<String>,
    ) -> Result<DecideOutcome> {
        let deps = &self.deps;
        let actor = Actor::User { email: who.email.clone(), slack_id: who.slack_id.clone() };
        for _ in 0..MAX_ATTEMPTS {
            let mut request = deps.load(id).await?;
            let flow = deps.flow_of(&request)?;
            policy::may_decide(flow, &request, who, approve).map_err(refusal)?;
            let now = deps.clock.now();
            let note = note.clone().map(|n| n.trim().chars().take(2_000).collect::<String>()).filter(|n| !n.is_empty());

            let (action, final_status) = if approve {
                request.approvals.push(Approval { by: actor.clone(), at: now });
                if request.approvals.len() >= flow.approvers.required as usize {
                    ("approved", Some(Status::Approved))
                } else {
                    ("approval_recorded", None)
                }
            } else {
                ("denied", Some(Status::Denied))
            };
            match final_status {
                Some(next) => {
                    request.transition(next, now)?;
                    request.decided_by = Some(actor.clone());
                    request.decision_note = note.clone();
                }
                None => request.touch(now),
            }
            let event = AuditEvent::of(&request, actor.clone(), action, Some(Status::Pending), note.clone());
            let decision = if approve { Decision::Approved } else { Decision::Denied };
            let notify = match final_status {
                Some(_) => decision_notifications(decision),
                None => vec![Notification::CardUpdate],
            };
            match deps.commit(&request, Status::Pending, event, &notify).await {
                Err(e) if e.code == ErrorCode::Conflict => continue,
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            if final_status.is_none() {
                return Ok(DecideOutcome::ApprovalRecorded {
                    approvals: request.approvals.len(),
                    required: flow.approvers.required,
                    request,
                });
            }
            self.release_workflow(&request, decision).await;
            return Ok(DecideOutcome::Decided(request));
        }
        Err(Error::new(ErrorCode::Conflict, "the request is changing too often; try again"))
    }

    /// The requester withdraws a pending request.
    pub async fn cancel(&self, id: &RequestId, who: &Identity) -> Result<AccessRequest> {
        let deps = &self.deps;
        let mut request = deps.load(id).await?;
        if request.requester.email != who.email {
            return Err(Error::new(ErrorCode::Forbidden, "only the requester can cancel a request"));
        }
        if request.status != Status::Pending {
            return Err(refusal(DecisionRefusal::AlreadyDecided(request.status)));
        }
        let actor = Actor::User { email: who.email.clone(), slack_id: who.slack_id.clone() };
        request.transition(Status::Cancelled, deps.clock.now())?;
        request.decided_by = Some(actor.clone());
        let event = AuditEvent::of(&request, actor, "cancelled", Some(Status::Pending), None);
        let notify = decision_notifications(Decision::Cancelled);
        deps.commit(&request, Status::Pending, event, &notify).await.map_err(|e| match e.code {
            ErrorCode::Conflict => Error::new(ErrorCode::Conflict, "the request was decided meanwhile"),
            _ => e,
        })?;
        self.release_workflow(&request, Decision::Cancelled).await;
        Ok(request)
    }

    /// After a decision committed: hand it to the workflow waiting on the request's task token.
    async fn release_workflow(&self, request: &AccessRequest, decision: Decision) {
        let Some(token) = &request.task_token else {
            // The Request step has not parked yet; AwaitDecision finds the stored decision.
            return;
        };
        let timeout = self.deps.flow_of(request).map(|f| f.approval_timeout.as_secs()).unwrap_or_default();
        let mut state = WorkflowState::start(request.id.clone(), timeout);
        state.route = Some(crate::workflow::Route::NeedsApproval);
        state.decision = Some(decision);
        // If this fails the AwaitDecision timeout fires and TimedOut finds the stored decision.
        if let Err(e) = self.workflow.send_decision(token, &state).await {
            tracing::error!(request_id = %request.id, error = %e, "could not deliver the decision to the workflow");
        }
    }
}

/// What people are told when a request is decided: the cards show the outcome, the requester gets a DM.
fn decision_notifications(decision: Decision) -> Vec<Notification> {
    let update = match decision {
        Decision::Approved => RequesterUpdate::Approved,
        Decision::Denied => RequesterUpdate::Denied,
        Decision::Cancelled => RequesterUpdate::Cancelled,
        Decision::TimedOut => RequesterUpdate::TimedOut,
    };
    vec![Notification::CardUpdate, Notification::Requester { update }]
}

fn refusal(r: DecisionRefusal) -> Error {
    let code = match r {
        DecisionRefusal::AlreadyDecided(_) | DecisionRefusal::AlreadyApprovedByYou => ErrorCode::Conflict,
        DecisionRefusal::SelfApproval | DecisionRefusal::NotAnApprover => ErrorCode::Forbidden,
    };
    Error::new(code, r.to_string())
}
