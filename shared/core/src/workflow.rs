//! The workflow contract shared by the Step Functions definition (`infra/statemachine.asl.json`) and
//! the local runner: state names, the transition table ([`StepName::state`], [`resume_from`]), the
//! state JSON passed between steps, and the step call.

use crate::ids::RequestId;
use crate::request::Status;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Version of [`WorkflowState`]'s shape; executions waiting across a release carry the old one.
pub const SCHEMA_VERSION: u32 = 1;

/// The states of the workflow (docs/architecture.md#workflow), named exactly as in the state machine definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StepName {
    Request,
    Route,
    AwaitDecision,
    Decided,
    TimedOut,
    Escalate,
    EscalationFailed,
    PartlyGranted,
    HoldUntilExpiry,
    CheckExpiry,
    Extended,
    Deescalate,
    Done,
    Failed,
    DeescalationFailed,
}

impl StepName {
    pub const ALL: [StepName; 15] = [
        StepName::Request,
        StepName::Route,
        StepName::AwaitDecision,
        StepName::Decided,
        StepName::TimedOut,
        StepName::Escalate,
        StepName::EscalationFailed,
        StepName::PartlyGranted,
        StepName::HoldUntilExpiry,
        StepName::CheckExpiry,
        StepName::Extended,
        StepName::Deescalate,
        StepName::Done,
        StepName::Failed,
        StepName::DeescalationFailed,
    ];

    /// The states that invoke a step handler (Lambda tasks); the rest are Choice/Wait/end states.
    pub const TASKS: [StepName; 7] = [
        StepName::Request,
        StepName::AwaitDecision,
        StepName::TimedOut,
        StepName::Escalate,
        StepName::EscalationFailed,
        StepName::CheckExpiry,
        StepName::Deescalate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepName::Request => "Request",
            StepName::Route => "Route",
            StepName::AwaitDecision => "AwaitDecision",
            StepName::Decided => "Decided",
            StepName::TimedOut => "TimedOut",
            StepName::Escalate => "Escalate",
            StepName::EscalationFailed => "EscalationFailed",
            StepName::PartlyGranted => "PartlyGranted",
            StepName::HoldUntilExpiry => "HoldUntilExpiry",
            StepName::CheckExpiry => "CheckExpiry",
            StepName::Extended => "Extended",
            StepName::Deescalate => "Deescalate",
            StepName::Done => "Done",
            StepName::Failed => "Failed",
            StepName::DeescalationFailed => "DeescalationFailed",
        }
    }
}

/// What a state does and where it goes: one row of the workflow's transition table. The local runner
/// executes it; `infra/verify` checks the Step Functions definition against it both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Runs the step handler of the same name.
    Task(Task),
    /// Goes where the state's value leads.
    Choice(Choice),
    /// Waits until the state's `expires_at`.
    Wait { next: StepName },
    /// Ends the execution successfully.
    Succeed,
    /// Ends the execution as failed.
    Fail,
}

/// A Choice state: the first case the state matches, else `default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub cases: &'static [(Case, StepName)],
    pub default: StepName,
}

impl Choice {
    /// Where `state` goes.
    pub fn choose(&self, state: &WorkflowState) -> StepName {
        self.cases.iter().find(|(case, _)| case.matches(state)).map_or(self.default, |&(_, to)| to)
    }
}

/// A task state's transitions and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    /// Where the step's result goes.
    pub next: StepName,
    /// Where a failure goes once retries are exhausted (the Catch on every error).
    pub on_failure: StepName,
    /// How long transient errors are retried.
    pub retry: RetryClass,
    /// For a task that waits for a decision sent with its task token: where its timeout goes.
    pub awaits_token: Option<TokenWait>,
}

/// A task that waits for a decision delivered with its task token, up to the approval timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenWait {
    /// Where the execution goes when no decision came in time (the Catch on `States.Timeout`).
    pub on_timeout: StepName,
}

/// How long a task's transient errors are retried; each runner sets the budget of a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RetryClass {
    /// A few attempts, seconds apart.
    Standard,
    /// Granting access: minutes, while a target is down or throttling.
    Escalation,
    /// Removing access: long and patient (the sweeper is the backstop).
    Removal,
}

/// One case of a Choice state: a field of [`WorkflowState`] equals a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Route(Route),
    Decision(Decision),
    Hold(Hold),
}

impl Case {
    /// Whether `state` takes this case.
    pub fn matches(self, state: &WorkflowState) -> bool {
        match self {
            Case::Route(route) => state.route == Some(route),
            Case::Decision(decision) => state.decision == Some(decision),
            Case::Hold(hold) => state.hold == Some(hold),
        }
    }

    /// The JSON path of the field the case reads, as in the definition (`$.route`).
    pub fn variable(self) -> &'static str {
        match self {
            Case::Route(_) => "$.route",
            Case::Decision(_) => "$.decision",
            Case::Hold(_) => "$.hold",
        }
    }

    /// The value the field must have, as serialized.
    pub fn value(self) -> &'static str {
        match self {
            Case::Route(Route::AutoApproved) => "auto_approved",
            Case::Route(Route::AutoDenied) => "auto_denied",
            Case::Route(Route::NeedsApproval) => "needs_approval",
            Case::Decision(Decision::Approved) => "approved",
            Case::Decision(Decision::Denied) => "denied",
            Case::Decision(Decision::Cancelled) => "cancelled",
            Case::Decision(Decision::TimedOut) => "timed_out",
            Case::Hold(Hold::Wait) => "wait",
            Case::Hold(Hold::Done) => "done",
        }
    }
}

/// What takes a state to another: one edge of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// A task's result, or a Wait's end.
    Next,
    /// A Choice's case.
    Case(Case),
    /// A Choice's default.
    Default,
    /// A task's failure after its retries.
    Failure,
    /// A token task's timeout.
    Timeout,
}

/// One transition of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: StepName,
    pub on: On,
    pub to: StepName,
}

impl StepName {
    /// The first state of every execution.
    pub const START: StepName = StepName::Request;

    /// This state's row of the transition table.
    pub fn state(self) -> State {
        use StepName::*;
        let task = |next, on_failure, retry| State::Task(Task { next, on_failure, retry, awaits_token: None });
        match self {
            Request => task(Route, Failed, RetryClass::Standard),
            Route => State::Choice(Choice {
                cases: &[
                    (Case::Route(self::Route::AutoApproved), Escalate),
                    (Case::Route(self::Route::NeedsApproval), AwaitDecision),
                ],
                default: Done,
            }),
            AwaitDecision => State::Task(Task {
                next: Decided,
                on_failure: Failed,
                retry: RetryClass::Standard,
                awaits_token: Some(TokenWait { on_timeout: TimedOut }),
            }),
            TimedOut => task(Decided, Failed, RetryClass::Standard),
            Decided => {
                State::Choice(Choice { cases: &[(Case::Decision(Decision::Approved), Escalate)], default: Done })
            }
            Escalate => task(HoldUntilExpiry, EscalationFailed, RetryClass::Escalation),
            EscalationFailed => task(PartlyGranted, Failed, RetryClass::Standard),
            // Targets granted before the others failed are held until expiry; none granted: failed.
            PartlyGranted => {
                State::Choice(Choice { cases: &[(Case::Hold(Hold::Wait), HoldUntilExpiry)], default: Failed })
            }
            HoldUntilExpiry => State::Wait { next: CheckExpiry },
            CheckExpiry => task(Extended, Failed, RetryClass::Standard),
            Extended => {
                State::Choice(Choice { cases: &[(Case::Hold(Hold::Wait), HoldUntilExpiry)], default: Deescalate })
            }
            Deescalate => task(Done, DeescalationFailed, RetryClass::Removal),
            Done => State::Succeed,
            Failed | DeescalationFailed => State::Fail,
        }
    }

    /// This state's task row; `None` for Choice, Wait and end states.
    pub fn task(self) -> Option<Task> {
        match self.state() {
            State::Task(task) => Some(task),
            _ => None,
        }
    }

    /// Every transition out of this state.
    pub fn transitions(self) -> Vec<Transition> {
        let edge = |on, to| Transition { from: self, on, to };
        match self.state() {
            State::Task(task) => {
                let mut out = vec![edge(On::Next, task.next), edge(On::Failure, task.on_failure)];
                out.extend(task.awaits_token.map(|wait| edge(On::Timeout, wait.on_timeout)));
                out
            }
            State::Choice(choice) => choice
                .cases
                .iter()
                .map(|&(case, to)| edge(On::Case(case), to))
                .chain([edge(On::Default, choice.default)])
                .collect(),
            State::Wait { next } => vec![edge(On::Next, next)],
            State::Succeed | State::Fail => Vec::new(),
        }
    }
}

/// Where the execution of a request in a status picks up after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Waiting for a decision: wait again on the stored task token in `parked` (its route is
    /// `needs_approval`), or run from `otherwise` when no token was stored.
    Await { parked: StepName, otherwise: StepName },
    /// Past the decision `decision`: run from `from`.
    From { from: StepName, decision: Decision },
    /// No execution is left; a removal still due runs `removal` on its own.
    Ended { removal: StepName },
}

/// The table's resume row for `status`.
pub fn resume_from(status: Status) -> Resume {
    match status {
        Status::Pending => Resume::Await { parked: StepName::AwaitDecision, otherwise: StepName::Request },
        Status::Approved => Resume::From { from: StepName::Escalate, decision: Decision::Approved },
        // Escalate first: it grants targets a stopped execution left ungranted, then holds.
        Status::Active => Resume::From { from: StepName::Escalate, decision: Decision::Approved },
        Status::Denied | Status::TimedOut | Status::Cancelled | Status::Failed | Status::Revoked | Status::Expired => {
            Resume::Ended { removal: StepName::Deescalate }
        }
    }
}

/// How the Request step routed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    AutoApproved,
    AutoDenied,
    NeedsApproval,
}

/// The outcome AwaitDecision (or TimedOut) hands to the `Decided` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approved,
    Denied,
    Cancelled,
    TimedOut,
}

/// What CheckExpiry found: keep holding (extended) or remove the access; and what
/// EscalationFailed found: hold the targets that were granted, or none was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hold {
    Wait,
    Done,
}

/// The JSON passed from state to state. Unknown keys (e.g. `error` added by a Catch) are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowState {
    pub schema_version: u32,
    pub request_id: RequestId,
    pub approval_timeout_seconds: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Rounded up to whole seconds when serialized: Step Functions' Wait truncates fractions, and
    /// waking before the expiry would only loop through CheckExpiry again.
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "whole_seconds_up")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
}

impl WorkflowState {
    pub fn start(request_id: RequestId, approval_timeout_seconds: u64) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            request_id,
            approval_timeout_seconds,
            route: None,
            decision: None,
            expires_at: None,
            hold: None,
        }
    }
}

fn whole_seconds_up<S: serde::Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    let rounded = at.map(|t| {
        let whole = t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0);
        DateTime::from_timestamp(whole, 0).unwrap_or(t)
    });
    match rounded {
        Some(t) => serializer.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        None => serializer.serialize_none(),
    }
}

/// One invocation of a step handler: `{"step": "<StateName>", "state": {...}, "task_token": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepCall {
    pub step: StepName,
    pub state: WorkflowState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reachable_from(start: StepName) -> Vec<StepName> {
        let mut seen = vec![start];
        let mut at = 0;
        while let Some(&step) = seen.get(at) {
            for t in step.transitions() {
                if !seen.contains(&t.to) {
                    seen.push(t.to);
                }
            }
            at += 1;
        }
        seen
    }

    #[test]
    fn every_task_state_has_a_failure_target_and_only_tasks_run_handlers() {
        let tasks: Vec<StepName> = StepName::ALL.into_iter().filter(|s| s.task().is_some()).collect();
        assert_eq!(tasks, StepName::TASKS);
        for step in StepName::TASKS {
            let task = step.task().unwrap();
            assert!(StepName::ALL.contains(&task.on_failure), "{step:?} fails somewhere");
            let failure = task.on_failure.state();
            assert!(
                matches!(failure, State::Fail)
                    || task.on_failure.task().is_some_and(|t| t.on_failure == StepName::Failed),
                "{step:?}'s failure ends the execution as failed"
            );
        }
        let token_tasks: Vec<StepName> =
            StepName::TASKS.into_iter().filter(|s| s.task().is_some_and(|t| t.awaits_token.is_some())).collect();
        assert_eq!(token_tasks, [StepName::AwaitDecision]);
        assert_eq!(StepName::Escalate.task().unwrap().on_failure, StepName::EscalationFailed);
        assert_eq!(StepName::Deescalate.task().unwrap().on_failure, StepName::DeescalationFailed);
    }

    #[test]
    fn no_state_is_unreachable_and_only_end_states_have_no_way_out() {
        let mut reached = reachable_from(StepName::START);
        reached.sort_by_key(|s| s.as_str());
        let mut all = StepName::ALL.to_vec();
        all.sort_by_key(|s| s.as_str());
        assert_eq!(reached, all);
        for step in StepName::ALL {
            let ends = matches!(step.state(), State::Succeed | State::Fail);
            assert_eq!(step.transitions().is_empty(), ends, "{step:?}");
            assert!(reachable_from(step).iter().any(|s| matches!(s.state(), State::Succeed | State::Fail)), "{step:?}");
        }
    }

    #[test]
    fn every_status_has_a_resume_state() {
        for status in Status::ALL {
            match resume_from(status) {
                Resume::Await { parked, otherwise } => {
                    assert!(!status.is_terminal());
                    assert!(
                        parked.task().is_some_and(|t| t.awaits_token.is_some()),
                        "{status:?} parks on a token task"
                    );
                    assert_eq!(otherwise, StepName::START);
                }
                Resume::From { from, decision } => {
                    assert!(!status.is_terminal());
                    let decided =
                        WorkflowState { decision: Some(decision), ..WorkflowState::start(RequestId::generate(), 0) };
                    let State::Choice(decided_choice) = StepName::Decided.state() else {
                        panic!("Decided is a choice")
                    };
                    let after = decided_choice.choose(&decided);
                    assert!(reachable_from(after).contains(&from), "{status:?} resumes where its decision leads");
                }
                Resume::Ended { removal } => {
                    assert!(status.is_terminal(), "{status:?}");
                    assert_eq!(removal.task().map(|t| t.retry), Some(RetryClass::Removal));
                }
            }
        }
    }

    #[test]
    fn choices_read_the_state_as_serialized() {
        let state = WorkflowState::start(RequestId::generate(), 0);
        let choose = |step: StepName, state: WorkflowState| match step.state() {
            State::Choice(choice) => choice.choose(&state),
            other => panic!("{other:?} is not a choice"),
        };
        assert_eq!(
            choose(StepName::Route, WorkflowState { route: Some(Route::AutoApproved), ..state.clone() }),
            StepName::Escalate
        );
        assert_eq!(
            choose(StepName::Route, WorkflowState { route: Some(Route::AutoDenied), ..state.clone() }),
            StepName::Done
        );
        assert_eq!(choose(StepName::Route, state.clone()), StepName::Done);
        assert_eq!(
            choose(StepName::Decided, WorkflowState { decision: Some(Decision::Denied), ..state.clone() }),
            StepName::Done
        );
        assert_eq!(
            choose(StepName::Extended, WorkflowState { hold: Some(Hold::Wait), ..state.clone() }),
            StepName::HoldUntilExpiry
        );
        assert_eq!(choose(StepName::Extended, state.clone()), StepName::Deescalate);
        assert_eq!(
            choose(StepName::PartlyGranted, WorkflowState { hold: Some(Hold::Wait), ..state.clone() }),
            StepName::HoldUntilExpiry,
            "targets granted before the others failed are held"
        );
        assert_eq!(choose(StepName::PartlyGranted, state.clone()), StepName::Failed);
        let every_case = [
            Case::Route(Route::AutoApproved),
            Case::Route(Route::AutoDenied),
            Case::Route(Route::NeedsApproval),
            Case::Decision(Decision::Approved),
            Case::Decision(Decision::Denied),
            Case::Decision(Decision::Cancelled),
            Case::Decision(Decision::TimedOut),
            Case::Hold(Hold::Wait),
            Case::Hold(Hold::Done),
        ];
        for case in every_case {
            let (field, value) = match case {
                Case::Route(v) => ("route", serde_json::to_value(v).unwrap()),
                Case::Decision(v) => ("decision", serde_json::to_value(v).unwrap()),
                Case::Hold(v) => ("hold", serde_json::to_value(v).unwrap()),
            };
            assert_eq!(value, case.value());
            assert_eq!(case.variable(), format!("$.{field}"));
        }
    }

    #[test]
    fn step_call_matches_the_documented_json() {
        let json = serde_json::json!({
            "step": "AwaitDecision",
            "state": {"schema_version": 1, "request_id": "req_01JD0000000000000000000000",
                      "approval_timeout_seconds": 3600, "route": "needs_approval",
                      "error": {"Error": "States.Timeout"}},
            "task_token": "tok"
        });
        let call: StepCall = serde_json::from_value(json).unwrap();
        assert_eq!(call.step, StepName::AwaitDecision);
        assert_eq!(call.state.route, Some(Route::NeedsApproval));
        assert_eq!(call.task_token.as_deref(), Some("tok"));
        let mut state = call.state.clone();
        state.expires_at = Some("2026-01-02T03:04:05.2Z".parse().unwrap());
        assert_eq!(serde_json::to_value(&state).unwrap()["expires_at"], "2026-01-02T03:04:06Z");
        for step in StepName::ALL {
            assert_eq!(serde_json::to_value(step).unwrap(), serde_json::Value::from(step.as_str()));
        }
    }
}
