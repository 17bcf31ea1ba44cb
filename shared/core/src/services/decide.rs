//! Approve, deny and cancel: conditional writes, so double clicks and concurrent approvers are safe.

use super::Airlock;
use super::Deps;
use crate::audit::Actor;
use crate::duration::GrantDuration;
use crate::error::{ChangeRefusal, DecideError, ErrorCode, GrantChangeError};
use crate::flow::Flow;
use crate::ids::RequestId;
use crate::outbox::{Notification, OutboxItem};
use crate::policy::{self, DecisionRefusal};
use crate::request::ChangeError;
use crate::request::{AccessRequest, Status, Verdict};
use crate::role::{Identity, Role};
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
        self.decide_with(id, who, verdict, None, note).await
    }

    /// `who` approves with changes: a shorter `duration` than asked (never longer) and a comment,
    /// both shown on the card, in the requester's DM and in the audit trail. With several
    /// approvals required, the shortest duration any approver asked for is granted.
    pub async fn approve_with_changes(
        &self,
        id: &RequestId,
        who: &Identity,
        duration: Option<GrantDuration>,
        note: Option<String>,
    ) -> Result<DecideOutcome, DecideError> {
        self.decide_with(id, who, Verdict::Approve, duration, note).await
    }

    async fn decide_with(
        &self,
        id: &RequestId,
        who: &Identity,
        verdict: Verdict,
        shorter: Option<GrantDuration>,
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
                Verdict::Approve => request.approve(actor.clone(), flow.approvers.required, shorter, note.clone(), now),
                Verdict::Deny => request.deny(actor.clone(), note.clone(), now),
            }
            .map_err(|e| match e {
                ChangeError::AlreadyApproved => DecideError::NotAllowed(DecisionRefusal::AlreadyApprovedByYou),
                ChangeError::LongerThanAsked(asked) => DecideError::LongerThanAsked(asked),
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

    /// Checks that `who` may approve the request now (before offering them the changes dialog).
    pub async fn may_approve(&self, id: &RequestId, who: &Identity) -> Result<AccessRequest, DecideError> {
        Ok(decidable(&self.deps, id, who, Verdict::Approve).await?.0)
    }

    /// Checks that `who` may deny the request now (before asking them for a reason).
    pub async fn may_deny(&self, id: &RequestId, who: &Identity) -> Result<AccessRequest, DecideError> {
        Ok(decidable(&self.deps, id, who, Verdict::Deny).await?.0)
    }

    /// `who` withdraws a pending request: its requester, or an admin. `decided_by` and
    /// `decision_note` record who and why; the workflow waiting for the decision ends.
    pub async fn cancel(
        &self,
        id: &RequestId,
        who: &Identity,
        reason: Option<String>,
    ) -> Result<AccessRequest, GrantChangeError> {
        let request = self.deps.store.get_request(id).await?.ok_or_else(|| GrantChangeError::NotFound(id.clone()))?;
        if request.requester().email != who.email && who.role != Role::Admin {
            return Err(GrantChangeError::NotAllowed(ChangeRefusal::Cancel));
        }
        self.cancel_as(request, actor_of(who), reason).await
    }

    /// Withdraws a pending request on behalf of an API client, recorded as the system actor `name`
    /// (`api:<token name>`). With `any_request` (a token with the revoke or admin scope) any request;
    /// otherwise only one this client submitted (its `submitted` event has this actor).
    pub async fn cancel_as_system(
        &self,
        id: &RequestId,
        name: &str,
        any_request: bool,
        reason: Option<String>,
    ) -> Result<AccessRequest, GrantChangeError> {
        let request = self.deps.store.get_request(id).await?.ok_or_else(|| GrantChangeError::NotFound(id.clone()))?;
        let actor = Actor::system(name);
        if !any_request && !self.deps.submitted_by(id, &actor).await? {
            return Err(GrantChangeError::NotAllowed(ChangeRefusal::Cancel));
        }
        self.cancel_as(request, actor, reason).await
    }

    /// Cancels `request` as `actor`, re-reading it when a concurrent write (an approval being
    /// counted, the workflow storing its task token) came first.
    async fn cancel_as(
        &self,
        mut request: AccessRequest,
        actor: Actor,
        reason: Option<String>,
    ) -> Result<AccessRequest, GrantChangeError> {
        let deps = &self.deps;
        let reason = reason.map(|r| r.trim().chars().take(2_000).collect::<String>()).filter(|r| !r.is_empty());
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                request = deps
                    .store
                    .get_request(request.id())
                    .await?
                    .ok_or_else(|| GrantChangeError::NotFound(request.id().clone()))?;
            }
            let status = request.status();
            if status != Status::Pending {
                return Err(if attempt == 0 {
                    GrantChangeError::NotPending(status)
                } else {
                    GrantChangeError::DecidedMeanwhile
                });
            }
            let event = request
                .cancel(actor.clone(), reason.clone(), deps.clock.now())
                .map_err(|_| GrantChangeError::NotPending(status))?;
            match deps.commit(&request, Status::Pending, event).await {
                Err(e) if e.code == ErrorCode::Conflict => continue,
                Err(e) => return Err(GrantChangeError::Unavailable(e.message)),
                Ok(()) => {}
            }
            self.release_workflow(&request, Decision::Cancelled).await;
            return Ok(request);
        }
        Err(GrantChangeError::Changed)
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
    let groups = deps.approver_groups_of(flow, who).await;
    match policy::may_decide(flow, &request, who, &groups, verdict) {
        Ok(()) => Ok((request, flow)),
        Err(DecisionRefusal::AlreadyDecided(status)) => Err(DecideError::AlreadyDecided(status)),
        Err(DecisionRefusal::Guest) => {
            tell_guest(deps, &request, flow, who).await;
            Err(DecideError::NotAllowed(DecisionRefusal::Guest))
        }
        Err(refusal) => Err(DecideError::NotAllowed(refusal)),
    }
}

/// A guest's click changes nothing; they are told why by DM (queued in the outbox, apart from the
/// request's own messages), wherever the card they clicked is.
async fn tell_guest(deps: &Deps, request: &AccessRequest, flow: &Flow, who: &Identity) {
    let Some(slack_id) = &who.slack_id else { return };
    let why = match deps.people().role_of(&who.email).await {
        Ok(answer) => answer.why(),
        Err(e) => {
            tracing::warn!(error = %e, "could not explain a guest's role");
            "your role is guest".into()
        }
    };
    let text = format!(
        "Your click on the approval card of {} ({}) changed nothing: you are a *guest* in Airlock ({why}), \
         and guests cannot approve or deny requests in this flow. Ask an admin if you should be able to.",
        request.id(),
        flow.label
    );
    let dm = Notification::Text { user: slack_id.clone(), channel: None, text };
    if let Err(e) = deps.store.enqueue_notifications(&[OutboxItem::new(None, dm, deps.clock.now())]).await {
        tracing::warn!(request_id = %request.id(), error = %e, "could not queue the DM to a guest who clicked a card");
    }
}
