//! The workflow's task states. Each reads the store (the source of truth), acts only if the request
//! is in the status the step expects, and is safe to run twice (Step Functions and the local runner
//! may replay a step after a timeout or crash).

use super::Steps;
use crate::audit::Actor;
use crate::error::{Error, ErrorCode};
pub(crate) use crate::evaluation::rule_input;
use crate::flow::Target;
use crate::ids::RequestId;
use crate::outbox::{Notification, OutboxItem};
use crate::ports::{Escalation, EscalationError, EscalationProgress, GrantSpec, ProgressSink, StoreError};
use crate::request::{AccessRequest, Status, Verdict};
use crate::services::Deps;
use crate::workflow::{Decision, Hold, Route, StepCall, StepName, WorkflowState};
use async_trait::async_trait;
use std::sync::atomic::{AtomicBool, Ordering};

/// A step's result.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// Go on with this state.
    Next(WorkflowState),
    /// AwaitDecision is parked until a decision is sent with the task token.
    Waiting,
}

/// A step failure, named as the state machine's Retry/Catch match it (`errorType`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// Retry with backoff (`Airlock.Transient`).
    #[error("Airlock.Transient: {0}")]
    Transient(String),
    /// Do not retry; the Catch takes over (`Airlock.Permanent`).
    #[error("Airlock.Permanent: {0}")]
    Permanent(String),
}

impl StepError {
    /// The `errorType` a Lambda reports for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            StepError::Transient(_) => "Airlock.Transient",
            StepError::Permanent(_) => "Airlock.Permanent",
        }
    }
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        if e.is_transient() { StepError::Transient(e.message) } else { StepError::Permanent(e.message) }
    }
}

impl From<crate::ports::StoreError> for StepError {
    fn from(e: crate::ports::StoreError) -> Self {
        Error::from(e).into()
    }
}

type StepResult = Result<StepOutcome, StepError>;

impl Steps {
    /// Runs one task state.
    pub async fn run(&self, call: StepCall) -> StepResult {
        let StepCall { step, state, task_token } = call;
        match step {
            StepName::Request => self.request(state).await,
            StepName::AwaitDecision => {
                let token =
                    task_token.ok_or_else(|| StepError::Permanent("AwaitDecision needs a task token".into()))?;
                self.await_decision(state, token).await
            }
            StepName::TimedOut => self.timed_out(state).await,
            StepName::Escalate => self.escalate(state).await,
            StepName::EscalationFailed => self.escalation_failed(state).await,
            StepName::CheckExpiry => self.check_expiry(state).await,
            StepName::Deescalate => self.deescalate(state).await,
            other => Err(StepError::Permanent(format!("{} is not a task state", other.as_str()))),
        }
    }

    /// Request: evaluate the flow's rules and route (deny rules win over approve rules). A request
    /// for several targets is auto-approved only when the rule holds for every target, and
    /// auto-denied when it holds for any.
    async fn request(&self, mut state: WorkflowState) -> StepResult {
        let deps = &self.deps;
        let mut request = deps.load(&state.request_id).await?;
        let flow = deps.flow_of(&request)?.clone();
        let route = match request.status() {
            Status::Pending => {
                let check = crate::evaluation::rules_decide(&flow, &request);
                for e in &check.errors {
                    tracing::warn!(request_id = %request.id(), rule = e.rule, target = %e.target, error = %e.message, "rule did not evaluate; treated as no match");
                }
                match check.decided {
                    None => Route::NeedsApproval,
                    Some(decision) => {
                        let note = Some(format!("rule: {}", decision.source));
                        let event = request
                            .decide_by_rule(decision.verdict, decision.rule, note, deps.clock.now())
                            .map_err(Error::from)?;
                        deps.commit(&request, Status::Pending, event).await?;
                        match decision.verdict {
                            Verdict::Approve => Route::AutoApproved,
                            Verdict::Deny => Route::AutoDenied,
                        }
                    }
                }
            }
            Status::Approved | Status::Active => Route::AutoApproved,
            _ => Route::AutoDenied,
        };
        state.route = Some(route);
        Ok(StepOutcome::Next(state))
    }

    /// AwaitDecision: keep the task token with the request and queue the approval cards (in the same
    /// write, so a crash cannot leave a pending request without cards), then wait. If the request was
    /// decided before the token was stored, the decision is returned at once.
    async fn await_decision(&self, mut state: WorkflowState, token: String) -> StepResult {
        let deps = &self.deps;
        for _ in 0..5 {
            let mut request = deps.load(&state.request_id).await?;
            if let Some(decision) = decision_of(request.status()) {
                state.decision = Some(decision);
                return Ok(StepOutcome::Next(state));
            }
            if request.task_token() == Some(token.as_str()) && request.cards_queued() {
                return Ok(StepOutcome::Waiting);
            }
            let mut cards = Vec::new();
            if request.await_decision(&token, deps.clock.now()).map_err(Error::from)? {
                let flow = deps.flow_of(&request)?.clone();
                // Approvers named by email are looked up when their card is delivered, with the
                // outbox's retries: a Slack outage now must not cost anyone their card.
                cards = deps
                    .card_destinations(&flow, &request)
                    .into_iter()
                    .map(|destination| Notification::ApprovalCard { destination })
                    .collect();
                if cards.is_empty() {
                    tracing::error!(request_id = %request.id(), "no approver can be reached: no channel and no approver in Slack");
                }
            }
            match deps.save(&request, Status::Pending, &cards).await {
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
                Ok(()) => return Ok(StepOutcome::Waiting),
            }
        }
        Err(StepError::Transient("request kept changing while storing the task token".into()))
    }

    /// TimedOut: no decision in time. An approval that won the race still counts.
    async fn timed_out(&self, mut state: WorkflowState) -> StepResult {
        let deps = &self.deps;
        let mut request = deps.load(&state.request_id).await?;
        if request.status() == Status::Pending {
            let event = request.time_out(deps.clock.now()).map_err(Error::from)?;
            match deps.commit(&request, Status::Pending, event).await {
                Ok(()) => {}
                Err(e) if e.code == ErrorCode::Conflict => request = deps.load(&state.request_id).await?,
                Err(e) => return Err(e.into()),
            }
        }
        state.decision = Some(decision_of(request.status()).unwrap_or(Decision::TimedOut));
        Ok(StepOutcome::Next(state))
    }

    /// Escalate: grant every target not granted yet, each on its own (the first grant makes the
    /// request active with its expiry). A target that refuses for good is recorded as failed and
    /// the others go on; a transient failure of any target fails the step after the others were
    /// tried, so the retry grants only what is still missing. Fails for good when no target could
    /// be granted (EscalationFailed then cleans up).
    async fn escalate(&self, mut state: WorkflowState) -> StepResult {
        let deps = &self.deps;
        let request = deps.load(&state.request_id).await?;
        match request.status() {
            Status::Approved | Status::Active => {}
            // Granted, then ended (revoked, or expired meanwhile): on to the removal.
            Status::Revoked | Status::Expired => {
                state.expires_at = request.expires_at();
                return Ok(StepOutcome::Next(state));
            }
            other => {
                return Err(StepError::Permanent(format!("request is {other}, not approved")));
            }
        }
        let mut transient = Vec::new();
        for name in request.pending_targets().into_iter().map(|t| t.name().to_string()).collect::<Vec<_>>() {
            match self.grant_target(&state.request_id, &name).await {
                Ok(()) => {}
                Err(StepError::Transient(e)) => transient.push(format!("{name}: {e}")),
                Err(permanent) => return Err(permanent),
            }
        }
        let request = deps.load(&state.request_id).await?;
        if request.status() == Status::Active
            && request.targets().iter().any(|t| t.failure().is_some() && request.target_holds_access(t))
        {
            self.clean_up_failed_targets(request.clone()).await;
        }
        if !transient.is_empty() {
            return Err(StepError::Transient(transient.join("; ")));
        }
        match request.status() {
            Status::Active | Status::Revoked | Status::Expired => {
                state.expires_at = request.expires_at();
                Ok(StepOutcome::Next(state))
            }
            Status::Failed => Err(StepError::Permanent(format!(
                "no target could be granted: {}",
                request.failure().unwrap_or("unknown error")
            ))),
            other => Err(StepError::Permanent(format!("request became {other} while escalating"))),
        }
    }

    /// Grants `name` of request `id` if it is still to be granted: the escalator is called once
    /// per attempt; losing the conditional write afterwards re-reads and applies the result again
    /// rather than calling the target system a second time. A refusal for good is recorded as the
    /// target's failure (not a step error); a transient failure is returned for a retry.
    async fn grant_target(&self, id: &RequestId, name: &str) -> Result<(), StepError> {
        let deps = &self.deps;
        let request = deps.load(id).await?;
        let Some(grant) = request.pending_targets().into_iter().find(|t| t.name() == name) else { return Ok(()) };
        let target = self.target_of(&request, name)?;
        // Recorded before the first call: if that call applies the access and then fails (or the
        // process dies), a retry finding it "already held" must not mistake it for standing access.
        let first_attempt = !grant.escalation_attempted();
        if first_attempt {
            let mut marked = request.clone();
            marked.escalation_started(name, deps.clock.now()).map_err(Error::from)?;
            deps.save(&marked, request.status(), &[]).await?;
        }
        let granted_at = deps.clock.now();
        let expires_at = request.expires_at().unwrap_or_else(|| request.expiry_if_granted_at(granted_at));
        let label = target.label.clone();
        let grant = grant_spec(&request, target, expires_at);
        let queued = QueuedNotice { deps, grant: &grant, label: &label, told: AtomicBool::new(false) };
        let outcome = match deps.escalator.escalate_reporting(&grant, &queued).await {
            Ok(found) => Ok(found == Escalation::AlreadyHeld && first_attempt),
            Err(EscalationError::Transient(m)) => return Err(StepError::Transient(m)),
            Err(EscalationError::Permanent(m)) => Err(m),
        };
        for _ in 0..10 {
            let mut request = deps.load(id).await?;
            let expected = request.status();
            // Ended meanwhile, or recorded by a replay of this step: nothing more to write here
            // (an attempt the request's end cut short is removed with the rest).
            if !request.pending_targets().iter().any(|t| t.name() == name) {
                return Ok(());
            }
            let now = deps.clock.now();
            let event = match &outcome {
                Ok(standing) => request.activate(name, granted_at, *standing, now),
                Err(failure) => request.fail(name, failure, now),
            }
            .map_err(Error::from)?;
            match deps.commit(&request, expected, event).await {
                Ok(()) => return Ok(()),
                Err(e) if e.code == ErrorCode::Conflict => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StepError::Transient("request kept changing while recording the grant".into()))
    }

    /// Removes what failed targets of an active request may have applied; the sweeper keeps
    /// trying what this could not remove.
    async fn clean_up_failed_targets(&self, request: AccessRequest) {
        let id = request.id().clone();
        if let Err(e) = self.remove_access(request, Actor::system("escalation-cleanup")).await {
            tracing::warn!(request_id = %id, error = %e, "cleanup after a failed target deferred to the sweeper");
        }
    }

    /// The target `name` of a request: as it was when requested, or (for requests stored before
    /// targets were kept with them) as configured now.
    pub(super) fn target_of(&self, request: &AccessRequest, name: &str) -> Result<Target, StepError> {
        if let Some(target) = request.target_named(name).and_then(|t| t.spec()) {
            return Ok(target.clone());
        }
        self.deps
            .config
            .flow_of(request)
            .and_then(|f| f.target(name))
            .cloned()
            .ok_or_else(|| StepError::Permanent(format!("target {name:?} is no longer configured")))
    }

    /// EscalationFailed: the grants still missing could not be made; record each target as
    /// failed, tell people, and remove whatever the target systems may have applied before failing
    /// (the sweeper keeps trying if this fails). Targets granted before stay: then the grant is
    /// held until expiry (`hold: wait`); otherwise the request is `failed`.
    async fn escalation_failed(&self, mut state: WorkflowState) -> StepResult {
        let deps = &self.deps;
        let mut request = deps.load(&state.request_id).await?;
        let mut attempts = 0;
        while let Some(name) = request.pending_targets().first().map(|t| t.name().to_string()) {
            attempts += 1;
            if attempts > 10 {
                return Err(StepError::Transient("request kept changing while recording the failure".into()));
            }
            let expected = request.status();
            let event = request
                .fail(&name, "the target system did not grant the access", deps.clock.now())
                .map_err(Error::from)?;
            match deps.commit(&request, expected, event).await {
                Ok(()) => {}
                Err(e) if e.code == ErrorCode::Conflict => request = deps.load(&state.request_id).await?,
                Err(e) => return Err(e.into()),
            }
        }
        if request.holds_access()
            && let Err(e) = self.remove_access(request.clone(), Actor::system("escalation-cleanup")).await
        {
            tracing::warn!(request_id = %state.request_id, error = %e, "cleanup after a failed escalation deferred to the sweeper");
        }
        let granted = matches!(request.status(), Status::Active | Status::Revoked | Status::Expired);
        state.hold = Some(if granted { Hold::Wait } else { Hold::Done });
        state.expires_at = request.expires_at().filter(|_| granted);
        Ok(StepOutcome::Next(state))
    }

    /// CheckExpiry: after the Wait, hold again if the grant was extended.
    async fn check_expiry(&self, mut state: WorkflowState) -> StepResult {
        let deps = &self.deps;
        let request = deps.load(&state.request_id).await?;
        let hold = match (request.status(), request.expires_at()) {
            (Status::Active, Some(at)) if at > deps.clock.now() => {
                state.expires_at = Some(at);
                Hold::Wait
            }
            _ => Hold::Done,
        };
        state.hold = Some(hold);
        Ok(StepOutcome::Next(state))
    }

    /// Deescalate: remove the access at expiry; nothing to do if a revoke already removed it.
    async fn deescalate(&self, state: WorkflowState) -> StepResult {
        let request = self.deps.load(&state.request_id).await?;
        self.remove_access(request, Actor::system("expiry")).await?;
        Ok(StepOutcome::Next(state))
    }
}

fn decision_of(status: Status) -> Option<Decision> {
    match status {
        Status::Pending => None,
        Status::Approved | Status::Active | Status::Failed | Status::Revoked | Status::Expired => {
            Some(Decision::Approved)
        }
        Status::Denied => Some(Decision::Denied),
        Status::Cancelled => Some(Decision::Cancelled),
        Status::TimedOut => Some(Decision::TimedOut),
    }
}

pub(super) fn escalation_error(e: EscalationError) -> StepError {
    match e {
        EscalationError::Transient(m) => StepError::Transient(m),
        EscalationError::Permanent(m) => StepError::Permanent(m),
    }
}

/// What an escalator is told about `request`'s grant of `target`.
/// Tells the requester, once per escalation attempt, that their grant waits behind others (the
/// escalator reports it; the text goes through the outbox, in order with the request's messages).
struct QueuedNotice<'a> {
    deps: &'a Deps,
    grant: &'a GrantSpec,
    label: &'a str,
    told: AtomicBool,
}

#[async_trait]
impl ProgressSink for QueuedNotice<'_> {
    async fn report(&self, progress: EscalationProgress) {
        match progress {
            EscalationProgress::Queued => {
                let Some(user) = &self.grant.user_slack_id else { return };
                if self.told.swap(true, Ordering::SeqCst) {
                    return;
                }
                let text = format!(
                    "Your access to *{}* ({}) is queued behind other grants: the target system takes only so many \
                     at once. It goes on by itself; you will get a message when it is granted.",
                    self.label, self.grant.request_id
                );
                let dm = Notification::Text { user: user.clone(), channel: None, text };
                let item = OutboxItem::new(Some(self.grant.request_id.clone()), dm, self.deps.clock.now());
                if let Err(e) = self.deps.store.enqueue_notifications(&[item]).await {
                    tracing::warn!(request_id = %self.grant.request_id, error = %e, "could not queue the queued-grant DM");
                }
            }
        }
    }
}

pub(super) fn grant_spec(
    request: &AccessRequest,
    target: Target,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> GrantSpec {
    GrantSpec {
        request_id: request.id().clone(),
        user_email: request.requester().email.clone(),
        user_slack_id: request.requester().slack_id.clone(),
        target,
        expires_at,
    }
}
