//! The in-process workflow runner: drives core's step handlers through the same states, in the same
//! order, as the Step Functions definition (DESIGN.md §2), with timers that survive a restart
//! because [`LocalRunner::resume`] rebuilds them from the store.

use airlock_core::ports::{Store, Workflow};
use airlock_core::services::{StepError, StepOutcome};
use airlock_core::workflow::{Decision, Hold, Route, StepCall, StepName, WorkflowState};
use airlock_core::{RequestId, Status, Steps};
use async_trait::async_trait;
use chrono::Utc;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// Attempts for Escalate before EscalationFailed (the state machine's Retry on `Airlock.Transient`).
const ESCALATE_ATTEMPTS: u32 = 4;
/// Attempts for Deescalate before giving up to the sweeper.
const DEESCALATE_ATTEMPTS: u32 = 8;
/// Attempts for the other steps on transient errors.
const STEP_ATTEMPTS: u32 = 4;
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
}

#[derive(Default)]
struct RunnerState {
    /// Executions currently being driven (start is a no-op for these).
    running: HashSet<RequestId>,
    /// AwaitDecision task tokens waiting for a decision, with their parked state.
    waiting: HashMap<String, WorkflowState>,
    /// Tokens handed to an AwaitDecision step that has not returned yet.
    issued: HashSet<String>,
    /// Decisions that arrived for an issued token before its step returned.
    early: HashMap<String, Option<Decision>>,
    history: HashMap<RequestId, Vec<StepName>>,
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
        })
    }

    fn me(&self) -> Result<Arc<Self>, String> {
        self.me.upgrade().ok_or_else(|| "the runner is gone".to_string())
    }

    /// How often the backstop sweeper runs (takes effect at the next [`resume`](Self::resume)).
    pub fn set_sweep_interval(&self, every: Duration) {
        *self.lock_interval() = every;
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
        self.start_sweeper();
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

    fn spawn(self: &Arc<Self>, state: WorkflowState, from: StepName) {
        if !self.lock().running.insert(state.request_id.clone()) {
            return;
        }
        let runner = Arc::clone(self);
        tokio::spawn(async move {
            let id = state.request_id.clone();
            runner.drive(state, from).await;
            runner.lock().running.remove(&id);
        });
    }

    fn record(&self, id: &RequestId, step: StepName) {
        let mut state = self.lock();
        if state.history.len() >= HISTORY_LIMIT && !state.history.contains_key(id) {
            state.history.clear();
        }
        state.history.entry(id.clone()).or_default().push(step);
    }

    /// Parks an AwaitDecision and arms its approval timeout.
    fn park(self: &Arc<Self>, token: String, state: WorkflowState, deadline: chrono::DateTime<Utc>) {
        self.lock().waiting.insert(token.clone(), state);
        let runner = Arc::clone(self);
        tokio::spawn(async move {
            let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
            if runner.sleep(wait).await {
                let parked = runner.lock().waiting.remove(&token);
                if let Some(state) = parked {
                    runner.spawn(state, StepName::TimedOut);
                }
            }
        });
    }

    /// Runs `step` with retries on transient errors; `None` when it failed for good.
    async fn run_step(
        &self,
        step: StepName,
        state: &WorkflowState,
        token: Option<String>,
        attempts: u32,
    ) -> Result<StepOutcome, StepError> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let call = StepCall { step, state: state.clone(), task_token: token.clone() };
            match self.steps.run(call).await {
                Err(StepError::Transient(e)) if attempt < attempts => {
                    tracing::warn!(request_id = %state.request_id, step = step.as_str(), attempt, error = %e, "retrying step");
                    if !self.sleep(backoff).await {
                        return Err(StepError::Transient("runner shut down".into()));
                    }
                    backoff *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Drives one execution from `step` until it ends or parks.
    async fn drive(self: &Arc<Self>, mut state: WorkflowState, mut step: StepName) {
        let id = state.request_id.clone();
        loop {
            self.record(&id, step);
            let next = match step {
                StepName::Request | StepName::TimedOut | StepName::CheckExpiry | StepName::EscalationFailed => {
                    match self.run_step(step, &state, None, STEP_ATTEMPTS).await {
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
                    let outcome = self.run_step(step, &state, Some(token.clone()), STEP_ATTEMPTS).await;
                    let early = {
                        let mut runner = self.lock();
                        runner.issued.remove(&token);
                        runner.early.remove(&token)
                    };
                    match outcome {
                        Ok(StepOutcome::Waiting) if early.is_some() => {
                            state.decision = early.flatten();
                            StepName::Decided
                        }
                        Ok(StepOutcome::Waiting) => {
                            let deadline = match self.store.get_request(&id).await {
                                Ok(Some(r)) => r.decision_deadline,
                                _ => Utc::now() + chrono::Duration::seconds(state.approval_timeout_seconds as i64),
                            };
                            self.park(token, state, deadline);
                            return;
                        }
                        Ok(StepOutcome::Next(s)) => {
                            state = s;
                            StepName::Decided
                        }
                        Err(e) => {
                            tracing::error!(request_id = %id, error = %e, "AwaitDecision failed");
                            StepName::Failed
                        }
                    }
                }
                StepName::Decided => match state.decision {
                    Some(Decision::Approved) => StepName::Escalate,
                    _ => StepName::Done,
                },
                StepName::Escalate => match self.run_step(step, &state, None, ESCALATE_ATTEMPTS).await {
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
                StepName::Deescalate => match self.run_step(step, &state, None, DEESCALATE_ATTEMPTS).await {
                    Ok(_) => StepName::Done,
                    Err(e) => {
                        tracing::error!(request_id = %id, error = %e, "deescalation failed; the sweeper will retry");
                        StepName::DeescalationFailed
                    }
                },
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

    async fn send_decision(&self, task_token: &str, state: &WorkflowState) -> Result<(), String> {
        let me = self.me()?;
        let parked = {
            let mut runner = me.lock();
            let parked = runner.waiting.remove(task_token);
            if parked.is_none() && runner.issued.contains(task_token) {
                if runner.early.contains_key(task_token) {
                    return Err(format!("task token {task_token} already has a decision"));
                }
                runner.early.insert(task_token.to_string(), state.decision);
                return Ok(());
            }
            parked
        };
        match parked {
            Some(parked) => {
                let mut resumed = parked;
                resumed.decision = state.decision;
                me.spawn(resumed, StepName::Decided);
                Ok(())
            }
            None => Err(format!("no execution waits for task token {task_token}")),
        }
    }
}
