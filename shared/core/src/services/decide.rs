//! Approve, deny and cancel: conditional writes, so double clicks and concurrent approvers are safe.

use super::Airlock;
use super::Deps;
use crate::audit::Actor;
use crate::error::{ChangeRefusal, DecideError, ErrorCode, GrantChangeError};
use crate::flow::Flow;
use crate::ids::RequestId;
use crate::policy::{self, DecisionRefusal};
use crate::request::ChangeError;
use crate::request::{AccessRequest, Status, Verdict};
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
    /// `who` approves or denies the request, with an optional note (the deny reason).
    pub async fn decide(
        &self,
        id: &RequestId,
        who: &Identity,
        verdict: Verdict,
        note: Option<String>,
    ) -> Result<DecideOutcome, DecideError> {
        let deps = &self.deps;
        let actor = actor_of(who);
        let note = note.map(|n| n.trim().chars().take(2_000).collect::<String>()).filter(|n| !n.is_empty());
        for _ in 0..MAX_ATTEMPTS {
            let (mut request, flow) = decidable(deps, id, who, verdict).await?;
            let now = deps.clock.now();
            let status = request.status();
            let event = match verdict {
                Verdict::Approve => request.approve(actor.clone(), flow.approvers.required, note.clone(), now),
                Verdict::Deny => request.deny(actor.clone(), note.clone(), now),
            }
            .map_err(|e| match e {
                ChangeError::AlreadyApproved => DecideError::NotAllowed(DecisionRefusal::AlreadyApprovedByYou),
                _ => DecideError::AlreadyDecided(status),
            })?;
            match deps.commit(&request, Status::Pending, event).await {
                Err(e) if e.code == ErrorCode::Conflict => continue,
                Err(e) => return Err(DecideError::Unavailable(e.message)),
                Ok(()) => {}
            }
            if request.status() == Status::Pending {
                return Ok(DecideOutcome::ApprovalRecorded {
                    approvals: request.approvals().len(),
                    required: flow.approvers.required,
                    request,
                });
            }
            let decision = if verdict == Verdict::Approve { Decision::Approved } else { Decision::Denied };
            self.release_workflow(&request, decision).await;
            return Ok(DecideOutcome::Decided(request));
        }
        Err(DecideError::Busy)
    }

    /// Checks that `who` may deny the request now (before asking them for a reason).
    pub async fn may_deny(&self, id: &RequestId, who: &Identity) -> Result<AccessRequest, DecideError> {
        Ok(decidable(&self.deps, id, who, Verdict::Deny).await?.0)
    }

    /// The requester withdraws a pending request.
    pub async fn cancel(&self, id: &RequestId, who: &Identity) -> Result<AccessRequest, GrantChangeError> {
        let deps = &self.deps;
        let mut request = deps.store.get_request(id).await?.ok_or_else(|| GrantChangeError::NotFound(id.clone()))?;
        if request.requester().email != who.email {
            return Err(GrantChangeError::NotAllowed(ChangeRefusal::Cancel));
        }
        let status = request.status();
        if status != Status::Pending {
            return Err(GrantChangeError::NotPending(status));
        }
        let event =
            request.cancel(actor_of(who), None, deps.clock.now()).map_err(|_| GrantChangeError::NotPending(status))?;
        deps.commit(&request, Status::Pending, event).await.map_err(|e| match e.code {
            ErrorCode::Conflict => GrantChangeError::DecidedMeanwhile,
            _ => GrantChangeError::Unavailable(e.message),
        })?;
        self.release_workflow(&request, Decision::Cancelled).await;
        Ok(request)
    }

    /// After a decision committed: hand it to the workflow waiting on the request's task token.
    async fn release_workflow(&self, request: &AccessRequest, decision: Decision) {
        let Some(token) = request.task_token() else {
            // The Request step has not parked yet; AwaitDecision finds the stored decision.
            return;
        };
        let timeout = self.deps.flow_of(request).map(|f| f.approval_timeout.as_secs()).unwrap_or_default();
        let mut state = WorkflowState::start(request.id().clone(), timeout);
        state.route = Some(crate::workflow::Route::NeedsApproval);
        state.decision = Some(decision);
        // If this fails the AwaitDecision timeout fires and TimedOut finds the stored decision.
        if let Err(e) = self.workflow.send_decision(token, &state).await {
            tracing::error!(request_id = %request.id(), error = %e, "could not deliver the decision to the workflow");
        }
    }
}

/// The audit actor for a person.
pub(super) fn actor_of(who: &Identity) -> Actor {
    Actor::User { email: who.email.clone(), slack_id: who.slack_id.clone() }
}

/// The request and its flow, once `who` is known to be allowed to give `verdict` now.
async fn decidable<'a>(
    deps: &'a Deps,
    id: &RequestId,
    who: &Identity,
    verdict: Verdict,
) -> Result<(AccessRequest, &'a Flow), DecideError> {
    let request = deps.store.get_request(id).await?.ok_or_else(|| DecideError::NotFound(id.clone()))?;
    let flow = deps.flow_of(&request).map_err(|e| DecideError::Internal(e.message))?;
    policy::may_decide(flow, &request, who, verdict).map_err(|r| match r {
        DecisionRefusal::AlreadyDecided(status) => DecideError::AlreadyDecided(status),
        r => DecideError::NotAllowed(r),
    })?;
    Ok((request, flow))
}
