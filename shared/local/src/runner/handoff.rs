//! The AwaitDecision hand-off: claims on the requests being driven, executions parked on a task
//! token, decisions that arrive before the token task returned, and the approval timeout.

use super::LocalRunner;
use airlock_core::RequestId;
use airlock_core::services::{StepError, StepOutcome};
use airlock_core::workflow::{Decision, StepName, Task, WorkflowState};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

#[derive(Default)]
pub(super) struct RunnerState {
    /// Executions currently being driven, each with the claim of the task driving it (start is a
    /// no-op for these). Only the holder of a claim releases it.
    pub(super) running: HashMap<RequestId, u64>,
    pub(super) last_claim: u64,
    /// Task tokens waiting for a decision, with their parked execution.
    pub(super) waiting: HashMap<String, Parked>,
    /// Tokens handed to a token task (AwaitDecision) that has not returned yet.
    pub(super) issued: HashSet<String>,
    /// Decisions that arrived for an issued token before its step returned.
    pub(super) early: HashMap<String, Option<Decision>>,
    pub(super) history: HashMap<RequestId, Vec<StepName>>,
}

/// An execution waiting on a task token, and where it goes next.
pub(super) struct Parked {
    pub(super) state: WorkflowState,
    /// Where a decision takes it.
    pub(super) next: StepName,
    /// Where the approval timeout takes it.
    pub(super) on_timeout: StepName,
}

/// What taking a parked execution found.
pub(super) enum Unparked {
    /// The execution, now claimed by the caller.
    Claimed(Parked, u64),
    /// Another execution of the same request is being driven; the parked one was dropped.
    Busy(RequestId),
    NotParked,
}

impl RunnerState {
    /// Claims `id` for a new drive; `None` when one is already driving it.
    pub(super) fn claim(&mut self, id: &RequestId) -> Option<u64> {
        if self.running.contains_key(id) {
            return None;
        }
        self.last_claim += 1;
        self.running.insert(id.clone(), self.last_claim);
        Some(self.last_claim)
    }

    /// Ends the drive holding `claim`; a newer drive's claim on the same request stays.
    pub(super) fn release(&mut self, id: &RequestId, claim: u64) {
        if self.running.get(id) == Some(&claim) {
            self.running.remove(id);
        }
    }

    /// Takes the execution parked on `token` and claims its request, in one critical section.
    pub(super) fn unpark(&mut self, token: &str) -> Unparked {
        let Some(parked) = self.waiting.remove(token) else {
            return Unparked::NotParked;
        };
        match self.claim(&parked.state.request_id) {
            Some(claim) => Unparked::Claimed(parked, claim),
            None => Unparked::Busy(parked.state.request_id),
        }
    }
}

/// How a token task ended, when it did not fail.
enum Awaited {
    /// Waiting for a decision until this deadline.
    Parking(DateTime<Utc>),
    /// The request was decided before the step returned.
    Decided(WorkflowState),
}

/// Releases a drive's claim when its task ends, however it ends.
pub(super) struct ClaimGuard {
    pub(super) runner: Arc<LocalRunner>,
    pub(super) id: RequestId,
    pub(super) claim: u64,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        self.runner.lock().release(&self.id, self.claim);
    }
}

impl LocalRunner {
    /// Parks a token task no task drives (on resume) and arms its approval timeout.
    pub(super) fn park(self: &Arc<Self>, token: String, parked: Parked, deadline: DateTime<Utc>) {
        self.lock().waiting.insert(token.clone(), parked);
        self.arm_timeout(token, deadline);
    }

    /// At `deadline`, drives the execution still parked on `token` to its timeout state.
    fn arm_timeout(self: &Arc<Self>, token: String, deadline: DateTime<Utc>) {
        let runner = Arc::clone(self);
        tokio::spawn(async move {
            let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
            if !runner.sleep(wait).await {
                return;
            }
            let unparked = runner.lock().unpark(&token);
            match unparked {
                Unparked::Claimed(parked, claim) => runner.launch(parked.state, parked.on_timeout, claim),
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
            Ok(Some(request)) => request.decision_deadline(),
            _ => {
                let timeout = i64::try_from(state.approval_timeout_seconds)
                    .ok()
                    .and_then(TimeDelta::try_seconds)
                    .unwrap_or(TimeDelta::MAX);
                Utc::now().checked_add_signed(timeout).unwrap_or(DateTime::<Utc>::MAX_UTC)
            }
        }
    }

    /// Runs a token task (AwaitDecision) and hands the execution off: `Next` when a decision came while
    /// the step ran (or the step found the request decided), `Waiting` once parked on the token.
    pub(super) async fn await_token(
        self: &Arc<Self>,
        step: StepName,
        task: Task,
        state: &WorkflowState,
        claim: u64,
    ) -> Result<StepOutcome, StepError> {
        let id = &state.request_id;
        let token = format!("local:{id}:{}", self.tokens.fetch_add(1, Ordering::Relaxed));
        // Like Step Functions, the token is live before the step runs: a decision may arrive while the
        // step is still posting cards.
        self.lock().issued.insert(token.clone());
        let outcome = match self.run_step(step, state, Some(token.clone()), self.budget(task.retry)).await {
            // Read while the token is still issued: a decision arriving meanwhile is kept as early.
            Ok(StepOutcome::Waiting) => Ok(Awaited::Parking(self.decision_deadline(state).await)),
            Ok(StepOutcome::Next(s)) => Ok(Awaited::Decided(s)),
            Err(e) => Err(e),
        };
        // One critical section decides who drives on: this task (a decision came while the step
        // ran), or whoever takes the parked token (a decision, or the timeout).
        let early = {
            let mut runner = self.lock();
            runner.issued.remove(&token);
            let early = runner.early.remove(&token);
            if early.is_none()
                && let Ok(Awaited::Parking(_)) = outcome
            {
                runner.waiting.insert(token.clone(), parked_on(task, state.clone()));
                runner.release(id, claim);
            }
            early
        };
        match (early, outcome) {
            // Like Step Functions: the first result delivered for the token wins.
            (Some(decision), _) => Ok(StepOutcome::Next(WorkflowState { decision, ..state.clone() })),
            (None, Ok(Awaited::Parking(deadline))) => {
                // Under the runner's target: tests/runner_handoff.rs pauses the task on this event.
                tracing::debug!(target: "airlock_local::runner", request_id = %id, "AwaitDecision parked");
                self.arm_timeout(token, deadline);
                Ok(StepOutcome::Waiting)
            }
            (None, Ok(Awaited::Decided(s))) => Ok(StepOutcome::Next(s)),
            (None, Err(e)) => Err(e),
        }
    }
}

/// The parked form of an execution in token task `task`.
pub(super) fn parked_on(task: Task, state: WorkflowState) -> Parked {
    let on_timeout = task.awaits_token.map_or(task.on_failure, |wait| wait.on_timeout);
    Parked { state, next: task.next, on_timeout }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parked(id: &RequestId) -> Parked {
        let task = StepName::AwaitDecision.task().expect("a task");
        parked_on(task, WorkflowState::start(id.clone(), 60))
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
