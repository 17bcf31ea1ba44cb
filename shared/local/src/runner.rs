//! The in-process workflow runner: executes core's transition table ([`StepName::state`]), as the
//! Step Functions definition does (docs/architecture.md#workflow), with timers that survive a restart
//! because [`LocalRunner::resume`] rebuilds them from the store ([`resume_from`]).

use airlock_core::ports::{Store, Workflow, WorkflowError};
use airlock_core::services::{StepError, StepOutcome};
use airlock_core::workflow::{Resume, RetryClass, Route, State, StepCall, StepName, WorkflowState, resume_from};
use airlock_core::{RequestId, Status, Steps};
use async_trait::async_trait;
use chrono::Utc;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::watch;

mod handoff;
mod outbox;

use handoff::{ClaimGuard, Parked, RunnerState, Unparked, parked_on};

/// Attempts of a [`RetryClass::Removal`] step before giving up to the sweeper.
const REMOVAL_ATTEMPTS: u32 = 8;
/// Attempts of a [`RetryClass::Standard`] step on transient errors.
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

    /// This runner's retry budget for a class of steps.
    fn budget(&self, class: RetryClass) -> Budget {
        match class {
            RetryClass::Standard => Budget::Attempts(STEP_ATTEMPTS),
            RetryClass::Escalation => Budget::For(*self.escalation_budget.lock().unwrap_or_else(|e| e.into_inner())),
            RetryClass::Removal => Budget::Attempts(REMOVAL_ATTEMPTS),
        }
    }

    /// The budget of `step`'s task row.
    fn budget_of(&self, step: StepName) -> Budget {
        step.task().map_or(Budget::Attempts(STEP_ATTEMPTS), |task| self.budget(task.retry))
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

    /// Rebuilds timers from the store after a start or restart, and starts the sweeper: each request
    /// picks up where the table's [`resume_from`] says for its status (pending ones wait for their
    /// decision again, approved ones escalate, active ones are held until expiry, overdue ones removed).
    pub async fn resume(self: &Arc<Self>) -> Result<(), String> {
        let store = &self.store;
        for status in Status::ALL {
            let resume = resume_from(status);
            if let Resume::Ended { .. } = resume {
                continue;
            }
            for request in store.requests_with_status(status, 10_000).await.map_err(|e| e.to_string())? {
                match resume {
                    Resume::Await { parked, otherwise } => {
                        let timeout = (request.decision_deadline() - request.created_at()).num_seconds().max(0) as u64;
                        let mut state = WorkflowState::start(request.id().clone(), timeout);
                        let token = request.task_token().filter(|t| t.starts_with("local:"));
                        match (token, parked.task()) {
                            (Some(token), Some(task)) if task.awaits_token.is_some() => {
                                state.route = Some(Route::NeedsApproval);
                                self.park(token.to_string(), parked_on(task, state), request.decision_deadline());
                            }
                            _ => self.spawn(state, otherwise),
                        }
                    }
                    Resume::From { from, decision } => {
                        let mut state = WorkflowState::start(request.id().clone(), 0);
                        state.decision = Some(decision);
                        if let State::Wait { .. } = from.state() {
                            state.expires_at = request.expires_at();
                        }
                        self.spawn(state, from);
                    }
                    Resume::Ended { .. } => {}
                }
            }
        }
        // Ended grants whose removal a previous process left due (a revoke answered just before a
        // crash, a failed escalation's clean-up) are removed now, not at the next sweep.
        let due = store.removals_due(Utc::now(), 10_000).await.map_err(|e| e.to_string())?;
        for request in due {
            if let Resume::Ended { removal } = resume_from(request.status()) {
                self.run_alone(removal, WorkflowState::start(request.id().clone(), 0));
            }
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

    /// Runs `step` with retries on transient errors, within `budget`.
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

    /// Drives one execution, holding `claim` on its request, from `step` through the transition table
    /// until it ends or parks.
    async fn drive(self: &Arc<Self>, mut state: WorkflowState, mut step: StepName, claim: u64) {
        let id = state.request_id.clone();
        loop {
            self.record(&id, step);
            step = match step.state() {
                State::Task(task) => {
                    let outcome = match task.awaits_token {
                        Some(_) => self.await_token(step, task, &state, claim).await,
                        None => self.run_step(step, &state, None, self.budget(task.retry)).await,
                    };
                    match outcome {
                        Ok(StepOutcome::Next(s)) => {
                            state = s;
                            task.next
                        }
                        Ok(StepOutcome::Waiting) => return,
                        Err(e) => {
                            tracing::error!(request_id = %id, step = step.as_str(), then = task.on_failure.as_str(), error = %e, "workflow step failed");
                            task.on_failure
                        }
                    }
                }
                State::Choice(choice) => choice.choose(&state),
                State::Wait { next } => {
                    let until = state.expires_at.unwrap_or_else(Utc::now);
                    if !self.sleep((until - Utc::now()).to_std().unwrap_or_default()).await {
                        return;
                    }
                    next
                }
                State::Succeed | State::Fail => return,
            };
        }
    }

    /// Runs `step` on its own, outside any execution (an early or overdue removal).
    fn run_alone(self: &Arc<Self>, step: StepName, state: WorkflowState) {
        let runner = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = runner.run_step(step, &state, None, runner.budget_of(step)).await {
                tracing::error!(request_id = %state.request_id, step = step.as_str(), error = %e, "early removal failed; the sweeper will retry");
            }
        });
    }
}

#[async_trait]
impl Workflow for LocalRunner {
    async fn start(&self, state: &WorkflowState) -> Result<(), WorkflowError> {
        let me = self.me().map_err(WorkflowError::Unavailable)?;
        me.spawn(state.clone(), StepName::START);
        Ok(())
    }

    async fn remove_now(&self, state: &WorkflowState) -> Result<(), WorkflowError> {
        self.me().map_err(WorkflowError::Unavailable)?.run_alone(StepName::Deescalate, state.clone());
        Ok(())
    }

    async fn send_decision(&self, task_token: &str, state: &WorkflowState) -> Result<(), WorkflowError> {
        let me = self.me().map_err(WorkflowError::Unavailable)?;
        let unparked = {
            let mut runner = me.lock();
            if runner.issued.contains(task_token) {
                if runner.early.contains_key(task_token) {
                    return Err(WorkflowError::Rejected(format!("task token {task_token} already has a decision")));
                }
                runner.early.insert(task_token.to_string(), state.decision);
                return Ok(());
            }
            runner.unpark(task_token)
        };
        match unparked {
            Unparked::Claimed(Parked { state: mut resumed, next, .. }, claim) => {
                resumed.decision = state.decision;
                me.launch(resumed, next, claim);
                Ok(())
            }
            Unparked::Busy(id) => Err(WorkflowError::Unavailable(format!(
                "request {id} is already being driven; its decision stays in the store"
            ))),
            Unparked::NotParked => {
                Err(WorkflowError::Rejected(format!("no execution waits for task token {task_token}")))
            }
        }
    }
}
