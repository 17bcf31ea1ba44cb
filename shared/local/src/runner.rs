//! The in-process workflow runner: drives core's step handlers through the same states, in the same
//! order, as the Step Functions definition (docs/architecture.md#workflow), with timers that survive a restart
//! because [`LocalRunner::resume`] rebuilds them from the store.

use airlock_core::ports::{Store, Workflow};
use airlock_core::services::{StepError, StepOutcome};
use airlock_core::workflow::{Decision, Hold, Route, StepCall, StepName, WorkflowState};
use airlock_core::{RequestId, Status, Steps};
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::watch;

mod outbox;

/// Attempts for Deescalate before giving up to the sweeper.
const DEESCALATE_ATTEMPTS: u32 = 8;
/// Attempts for the other steps on transient errors.
const STEP_ATTEMPTS: u32 = 4;
/// How long Escalate is retried on transient errors before EscalationFailed, unless set otherwise
/// (the state machine's Retry on `Airlock.Transient` for Escalate spans about as long).
pub const DEFAULT_ESCALATION_BUDGET: Duration = Duration::from_secs(5 * 60);
/// Longest wait between two attempts of a step.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Requests whose state history is kept for inspection.
const HISTORY_LIMIT: usize = 10_000;

/// The local stand-in for Step Functions.
pub struct LocalRunner {
    me: Weak<LocalRunner>,
    steps: Steps,
    store: Arc<dyn Store>,
    state: Mutex<RunnerState>,
    tokens: AtomicU64,
    shutdown: watch::Sender<bool>,
    sweep_interval: Mutex<Duration>,
    escalation_budget: Mutex<Duration>,
}

/// How long a step is retried on transient errors.
#[derive(Debug, Clone, Copy)]
enum Budget {
    Attempts(u32),
    For(Duration),
}

#[derive(Default)]
struct RunnerState {
    /// Executions currently being driven, each with the claim of the task driving it (start is a
    /// no-op for these). Only the holder of a claim releases it.
    running: HashMap<RequestId, u64>,
    last_claim: u64,
    /// AwaitDecision task tokens waiting for a decision, with their parked state.
    waiting: HashMap<String, WorkflowState>,
    /// Tokens handed to an AwaitDecision step that has not returned yet.
    issued: HashSet<String>,
    /// Decisions that arrived for an issued token before its step returned.
    early: HashMap<String, Option<Decision>>,
    history: HashMap<RequestId, Vec<StepName>>,
}

/// What taking a parked execution found.
enum Unparked {
    /// The execution, now claimed by the caller.
    Claimed(WorkflowState, u64),
    /// Another execution of the same request is being driven; the parked one was dropped.
    Busy(RequestId),
    NotParked,
}

impl RunnerState {
    /// Claims `id` for a new drive; `None` when one is already driving it.
    fn claim(&mut self, id: &RequestId) -> Option<u64> {
        if self.running.contains_key(id) {
            return None;
        }
        self.last_claim += 1;
        self.running.insert(id.clone(), self.last_claim);
        Some(self.last_claim)
    }

    /// Ends the drive holding `claim`; a newer drive's claim on the same request stays.
    fn release(&mut self, id: &RequestId, claim: u64) {
        if self.running.get(id) == Some(&claim) {
            self.running.remove(id);
        }
    }

    /// Takes the execution parked on `token` and claims its request, in one critical section.
    fn unpark(&mut self, token: &str) -> Unparked {
        let Some(state) = self.waiting.remove(token) else {
            return Unparked::NotParked;
        };
        match self.claim(&state.request_id) {
            Some(claim) => Unparked::Claimed(state, claim),
            None => Unparked::Busy(state.request_id),
        }
    }
}

/// How an AwaitDecision step ended, when it did not fail.
enum Awaited {
    /// Waiting for a decision until this deadline.
    Parking(DateTime<Utc>),
    /// The request was decided before the step returned.
    Decided(WorkflowState),
}

/// Releases a drive's claim when its task ends, however it ends.
struct ClaimGuard {
    runner: Arc<LocalRunner>,
    id: RequestId,
    claim: u64,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        self.runner.lock().release(&self.id, self.claim);
    }
}

impl LocalRunner {
    pub fn new(steps: Steps, store: Arc<dyn Store>) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            steps,
            store,
            state: Mutex::default(),
            tokens: AtomicU64::new(0),
            shutdown: watch::channel(false).0,
            sweep_interval: Mutex::new(Duration::from_secs(60)),
            escalation_budget: Mutex::new(DEFAULT_ESCALATION_BUDGET),
        })
    }

    fn me(&self) -> Result<Arc<Self>, String> {
        self.me.upgrade().ok_or_else(|| "the runner is gone".to_string())
    }

    /// How often the backstop sweeper runs (takes effect at the next [`resume`](Self::resume)).
    pub fn set_sweep_interval(&self, every: Duration) {
        *self.lock_interval() = every;
    }

    /// How long Escalate is retried on transient errors (a webhook or Identity Center outage)
    /// before the grant fails.
    pub fn set_escalation_budget(&self, budget: Duration) {
        *self.escalation_budget.lock().unwrap_or_else(|e| e.into_inner()) = budget;
    }

    fn escalation_budget(&self) -> Budget {
        Budget::For(*self.escalation_budget.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn lock_interval(&self) -> std::sync::MutexGuard<'_, Duration> {
        self.sweep_interval.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunnerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The states a request's execution entered, in order (since this runner started).
    pub fn history(&self, id: &RequestId) -> Vec<StepName> {
        self.lock().history.get(id).cloned().unwrap_or_default()
    }

    /// Rebuilds timers from the store after a start or restart, and starts the sweeper: pending
    /// requests wait for their decision again, approved ones escalate, active ones are held until
    /// expiry (overdue ones are removed at once).
    pub async fn resume(self: &Arc<Self>) -> Result<(), String> {
        let store = &self.store;
        for request in store.requests_with_status(Status::Pending, 10_000).await.map_err(|e| e.to_string())? {
            let timeout = (request.decision_deadline - request.created_at).num_seconds().max(0) as u64;
            let mut state = WorkflowState::start(request.id.clone(), timeout);
            match request.task_token.filter(|t| t.starts_with("local:")) {
                Some(token) => {
                    state.route = Some(Route::NeedsApproval);
                    self.park(token, state, request.decision_deadline);
                }
                None => self.spawn(state, StepName::Request),
            }
        }
        for request in store.requests_with_status(Status::Approved, 10_000).await.map_err(|e| e.to_string())? {
            let mut state = WorkflowState::start(request.id.clone(), 0);
            state.decision = Some(Decision::Approved);
            self.spawn(state, StepName::Escalate);
        }
        for request in store.requests_with_status(Status::Active, 10_000).await.map_err(|e| e.to_string())? {
            let mut state = WorkflowState::start(request.id.clone(), 0);
            state.decision = Some(Decision::Approved);
            state.expires_at = request.expires_at;
            self.spawn(state, StepName::HoldUntilExpiry);
        }
        // Ended grants whose removal a previous process left due (a revoke answered just before a
        // crash, a failed escalation's clean-up) are removed now, not at the next sweep.
        let due = store.removals_due(Utc::now(), 10_000).await.map_err(|e| e.to_string())?;
        for request in due.into_iter().filter(|r| r.status != Status::Active) {
            self.remove_now(&WorkflowState::start(request.id, 0)).await?;
        }
        // This process is the only deliverer: notifications a dead one had claimed are due again now.
        self.store.release_notification_claims().await.map_err(|e| e.to_string())?;
        self.start_sweeper();
        self.start_deliverer();
        Ok(())
    }

    /// Stops every timer and the sweeper; steps already running finish.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        tokio::task::yield_now().await;
    }

    fn start_sweeper(self: &Arc<Self>) {
        let runner = Arc::clone(self);
        let every = *self.lock_interval();
        tokio::spawn(async move {
            loop {
                if !runner.sleep(every).await {
                    return;
                }
                match runner.steps.sweep().await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(removed = n, "sweeper removed grants the workflow had not"),
                    Err(e) => tracing::error!(error = %e, "sweeper failed"),
                }
                match runner.steps.remind().await {
                    Ok(sent) => tracing::debug!(approvers = sent.approvers, expiry = sent.expiry, "reminders sent"),
                    Err(e) => tracing::error!(error = %e, "reminders failed"),
                }
                match runner.steps.reconcile().await {
                    Ok(report) if report.removed.is_empty() && report.reported.is_empty() => {}
                    Ok(report) => {
                        tracing::warn!(removed = report.removed.len(), reported = report.reported.len(), "drift found")
                    }
                    Err(e) => tracing::error!(error = %e, "drift check failed"),
                }
            }
        });
    }

    /// Sleeps `duration`; false when the runner shut down meanwhile.
    async fn sleep(&self, duration: Duration) -> bool {
        let mut stop = self.shutdown.subscribe();
        if *stop.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(duration) => !*self.shutdown.borrow(),
            _ = stop.changed() => false,
        }
    }

    /// Drives `state` from `from` unless its request is already being driven.
    fn spawn(self: &Arc<Self>, state: WorkflowState, from: StepName) {
        let claim = self.lock().claim(&state.request_id);
        if let Some(claim) = claim {
            self.launch(state, from, claim);
        }
    }

    /// Drives `state` from `from` on a task holding `claim`.
    fn launch(self: &Arc<Self>, state: WorkflowState, from: StepName, claim: u64) {
        let guard = ClaimGuard { runner: Arc::clone(self), id: state.request_id.clone(), claim };
        tokio::spawn(async move {
            let runner = Arc::clone(&guard.runner);
            runner.drive(state, from, claim).await;
            drop(guard);
        });
    }

    fn record(&self, id: &RequestId, step: StepName) {
        let mut state = self.lock();
        if state.history.len() >= HISTORY_LIMIT && !state.history.contains_key(id) {
            state.history.clear();
        }
        state.history.entry(id.clone()).or_default().push(step);
    }

    /// Parks an AwaitDecision no task drives (on resume) and arms its approval timeout.
    fn park(self: &Arc<Self>, token: String, state: WorkflowState, deadline: DateTime<Utc>) {
        self.lock().waiting.insert(token.clone(), state);
        self.arm_timeout(token, deadline);
    }

    /// At `deadline`, drives the execution still parked on `token` to TimedOut.
    fn arm_timeout(self: &Arc<Self>, token: String, deadline: DateTime<Utc>) {
        let runner = Arc::clone(self);
        tokio::spawn(async move {
            let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
            if !runner.sleep(wait).await {
                return;
            }
            let unparked = runner.lock().unpark(&token);
            match unparked {
                Unparked::Claimed(state, claim) => runner.launch(state, StepName::TimedOut, claim),
                Unparked::Busy(id) => {
                    tracing::warn!(request_id = %id, "approval timeout skipped: the request is already being driven")
                }
                Unparked::NotParked => {}
            }
        });
    }

    /// When the approval of `state`'s request times out (from the store; else from the flow's timeout).
    async fn decision_deadline(&self, state: &WorkflowState) -> DateTime<Utc> {
        match self.store.get_request(&state.request_id).await {
            Ok(Some(request)) => request.decision_deadline,
            _ => {
                let timeout = i64::try_from(state.approval_timeout_seconds)
                    .ok()
                    .and_then(TimeDelta::try_seconds)
                    .unwrap_or(TimeDelta::MAX);
                Utc::now().checked_add_signed(timeout).unwrap_or(DateTime::<Utc>::MAX_UTC)
            }
        }
    }

    /// Runs `step` with retries on transient errors; `None` when it failed for good.
    async fn run_step(
        &self,
        step: StepName,
        state: &WorkflowState,
        token: Option<String>,
        budget: Budget,
    ) -> Result<StepOutcome, StepError> {
        let started = tokio::time::Instant::now();
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let call = StepCall { step, state: state.clone(), task_token: token.clone() };
            let again = match budget {
                Budget::Attempts(attempts) => attempt < attempts,
                Budget::For(within) => started.elapsed() + backoff < within,
            };
            match self.steps.run(call).await {
                Err(StepError::Transient(e)) if again => {
                    tracing::warn!(request_id = %state.request_id, step = step.as_str(), attempt, error = %e, "retrying step");
                    if !self.sleep(backoff).await {
                        return Err(StepError::Transient("runner shut down".into()));
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Drives one execution, holding `claim` on its request, from `step` until it ends or parks.
    async fn drive(self: &Arc<Self>, mut state: WorkflowState, mut step: StepName, claim: u64) {
        let id = state.request_id.clone();
        loop {
            self.record(&id, step);
            let next = match step {
                StepName::Request | StepName::TimedOut | StepName::CheckExpiry | StepName::EscalationFailed => {
                    match self.run_step(step, &state, None, Budget::Attempts(STEP_ATTEMPTS)).await {
                        Ok(StepOutcome::Next(s)) => {
                            state = s;
                            match step {
                                StepName::Request => StepName::Route,
                                StepName::TimedOut => StepName::Decided,
                                StepName::CheckExpiry => StepName::Extended,
                                _ => StepName::Failed,
                            }
                        }
                        Ok(StepOutcome::Waiting) => return,
                        Err(e) => {
                            tracing::error!(request_id = %id, step = step.as_str(), error = %e, "workflow step failed");
                            StepName::Failed
                        }
                    }
                }
                StepName::Route => match state.route {
                    Some(Route::AutoApproved) => StepName::Escalate,
                    Some(Route::NeedsApproval) => StepName::AwaitDecision,
                    _ => StepName::Done,
                },
                StepName::AwaitDecision => {
                    let token = format!("local:{id}:{}", self.tokens.fetch_add(1, Ordering::Relaxed));
                    // Like Step Functions, the token is live before the step runs: a decision may
                    // arrive while the step is still posting cards.
                    self.lock().issued.insert(token.clone());
                    let outcome =
                        match self.run_step(step, &state, Some(token.clone()), Budget::Attempts(STEP_ATTEMPTS)).await {
                            // Read while the token is still issued: a decision arriving meanwhile is kept as early.
                            Ok(StepOutcome::Waiting) => Ok(Awaited::Parking(self.decision_deadline(&state).await)),
                            Ok(StepOutcome::Next(s)) => Ok(Awaited::Decided(s)),
                            Err(e) => Err(e),
                        };
                    // One critical section decides who drives on: this task (a decision came while the
                    // step ran), or whoever takes the parked token (a decision, or the timeout).
                    let early = {
                        let mut runner = self.lock();
                        runner.issued.remove(&token);
                        let early = runner.early.remove(&token);
                        if early.is_none()
                            && let Ok(Awaited::Parking(_)) = outcome
                        {
                            runner.waiting.insert(token.clone(), state.clone());
                            runner.release(&id, claim);
                        }
                        early
                    };
                    match (early, outcome) {
                        // Like Step Functions: the first result delivered for the token wins.
                        (Some(decision), _) => {
                            state.decision = decision;
                            StepName::Decided
                        }
                        (None, Ok(Awaited::Parking(deadline))) => {
                            tracing::debug!(request_id = %id, "AwaitDecision parked");
                            self.arm_timeout(token, deadline);
                            return;
                        }
                        (None, Ok(Awaited::Decided(s))) => {
                            state = s;
                            StepName::Decided
                        }
                        (None, Err(e)) => {
                            tracing::error!(request_id = %id, error = %e, "AwaitDecision failed");
                            StepName::Failed
                        }
                    }
                }
                StepName::Decided => match state.decision {
                    Some(Decision::Approved) => StepName::Escalate,
                    _ => StepName::Done,
                },
                StepName::Escalate => match self.run_step(step, &state, None, self.escalation_budget()).await {
                    Ok(StepOutcome::Next(s)) => {
                        state = s;
                        StepName::HoldUntilExpiry
                    }
                    Ok(StepOutcome::Waiting) => return,
                    Err(e) => {
                        tracing::error!(request_id = %id, error = %e, "escalation failed");
                        StepName::EscalationFailed
                    }
                },
                StepName::HoldUntilExpiry => {
                    let until = state.expires_at.unwrap_or_else(Utc::now);
                    if !self.sleep((until - Utc::now()).to_std().unwrap_or_default()).await {
                        return;
                    }
                    StepName::CheckExpiry
                }
                StepName::Extended => match state.hold {
                    Some(Hold::Wait) => StepName::HoldUntilExpiry,
                    _ => StepName::Deescalate,
                },
                StepName::Deescalate => {
                    match self.run_step(step, &state, None, Budget::Attempts(DEESCALATE_ATTEMPTS)).await {
                        Ok(_) => StepName::Done,
                        Err(e) => {
                            tracing::error!(request_id = %id, error = %e, "deescalation failed; the sweeper will retry");
                            StepName::DeescalationFailed
                        }
                    }
                }
                StepName::Done | StepName::Failed | StepName::DeescalationFailed => return,
            };
            step = next;
        }
    }
}

#[async_trait]
impl Workflow for LocalRunner {
    async fn start(&self, state: &WorkflowState) -> Result<(), String> {
        let me = self.me()?;
        me.spawn(state.clone(), StepName::Request);
        Ok(())
    }

    async fn remove_now(&self, state: &WorkflowState) -> Result<(), String> {
        let me = self.me()?;
        let state = state.clone();
        tokio::spawn(async move {
            let id = state.request_id.clone();
            if let Err(e) = me.run_step(StepName::Deescalate, &state, None, Budget::Attempts(DEESCALATE_ATTEMPTS)).await
            {
                tracing::error!(request_id = %id, error = %e, "early removal failed; the sweeper will retry");
            }
        });
        Ok(())
    }

    async fn send_decision(&self, task_token: &str, state: &WorkflowState) -> Result<(), String> {
        let me = self.me()?;
        let unparked = {
            let mut runner = me.lock();
            if runner.issued.contains(task_token) {
                if runner.early.contains_key(task_token) {
                    return Err(format!("task token {task_token} already has a decision"));
                }
                runner.early.insert(task_token.to_string(), state.decision);
                return Ok(());
            }
            runner.unpark(task_token)
        };
        match unparked {
            Unparked::Claimed(mut resumed, claim) => {
                resumed.decision = state.decision;
                me.launch(resumed, StepName::Decided, claim);
                Ok(())
            }
            Unparked::Busy(id) => Err(format!("request {id} is already being driven; its decision stays in the store")),
            Unparked::NotParked => Err(format!("no execution waits for task token {task_token}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parked(id: &RequestId) -> WorkflowState {
        WorkflowState::start(id.clone(), 60)
    }

    #[test]
    fn a_finished_drive_does_not_release_a_newer_drive_of_the_same_request() {
        let id = RequestId::generate();
        let mut state = RunnerState::default();
        let first = state.claim(&id).expect("free");
        state.waiting.insert("t".into(), parked(&id));
        state.release(&id, first);
        let Unparked::Claimed(_, second) = state.unpark("t") else { panic!("the parked execution is free to drive") };

        state.release(&id, first);

        assert!(state.claim(&id).is_none(), "the newer drive still holds the request");
        state.release(&id, second);
        assert!(state.claim(&id).is_some());
    }

    #[test]
    fn a_parked_execution_is_not_taken_while_its_request_is_driven() {
        let id = RequestId::generate();
        let mut state = RunnerState::default();
        state.waiting.insert("t".into(), parked(&id));
        let _driving = state.claim(&id).expect("free");

        assert!(matches!(state.unpark("t"), Unparked::Busy(_)));
        assert!(matches!(state.unpark("t"), Unparked::NotParked));
    }
}
