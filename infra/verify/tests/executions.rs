//! Every path of the real definition, executed by moto's Step Functions interpreter with the step
//! Lambdas' answers queued. Each test asserts the states entered, in order, and how it ended.

use airlock_core::{Decision, Hold, RequestId, Route, WorkflowState};
use airlock_infra_verify::Moto;
use aws_sdk_sfn::types::ExecutionStatus;
use chrono::{Duration, Utc};
use serde_json::{Value, to_value};

fn start(timeout_seconds: u64) -> WorkflowState {
    WorkflowState::start(RequestId::generate(), timeout_seconds)
}

fn routed(state: &WorkflowState, route: Route) -> Value {
    to_value(WorkflowState { route: Some(route), ..state.clone() }).unwrap()
}

fn granted(state: &WorkflowState, seconds_from_now: i64) -> WorkflowState {
    WorkflowState {
        decision: Some(Decision::Approved),
        expires_at: Some(Utc::now() + Duration::seconds(seconds_from_now)),
        ..state.clone()
    }
}

fn held(state: &WorkflowState, hold: Hold) -> Value {
    to_value(WorkflowState { hold: Some(hold), ..state.clone() }).unwrap()
}

fn name(prefix: &str) -> String {
    format!("{prefix}-{}", RequestId::generate().as_str()[18..].to_ascii_lowercase())
}

async fn machine(moto: &Moto) -> String {
    moto.state_machine(&name("airlock")).await
}

const TO_EXPIRY: [&str; 6] = ["Escalate", "HoldUntilExpiry", "CheckExpiry", "Extended", "Deescalate", "Done"];

#[tokio::test]
async fn auto_approved_to_expiry() {
    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    let state = start(3600);
    let grant = granted(&state, -1);
    moto.answers(&[
        routed(&state, Route::AutoApproved),
        to_value(&grant).unwrap(),
        held(&grant, Hold::Done),
        to_value(&grant).unwrap(),
    ])
    .await;
    let execution = moto.start_execution(&machine, &state).await;
    assert_eq!(moto.finished(&execution).await, ExecutionStatus::Succeeded);
    let mut expected = vec!["Request", "Route"];
    expected.extend(TO_EXPIRY);
    assert_eq!(moto.entered(&execution).await, expected);
}

#[tokio::test]
async fn approved_by_a_person_then_expiry_waits_for_the_timestamp() {
    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    let state = start(3600);
    let grant = granted(&state, 2);
    moto.answers(&[
        routed(&state, Route::NeedsApproval),
        Value::Null, // AwaitDecision's own answer is ignored.
        to_value(&grant).unwrap(),
        held(&grant, Hold::Done),
        to_value(&grant).unwrap(),
    ])
    .await;
    let execution = moto.start_execution(&machine, &state).await;
    let token = moto.task_token(&execution).await;
    let decided = WorkflowState { decision: Some(Decision::Approved), ..state.clone() };
    moto.sfn
        .send_task_success()
        .task_token(&token)
        .output(serde_json::to_string(&decided).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(moto.finished(&execution).await, ExecutionStatus::Succeeded);
    let ended = moto.sfn.describe_execution().execution_arn(&execution).send().await.unwrap();
    let stop = ended.stop_date().unwrap().secs();
    assert!(stop >= grant.expires_at.unwrap().timestamp() - 1, "the Wait held the grant until its expiry");
    let mut expected = vec!["Request", "Route", "AwaitDecision", "Decided"];
    expected.extend(TO_EXPIRY);
    assert_eq!(moto.entered(&execution).await, expected);
}

#[tokio::test]
async fn denied() {
    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    let state = start(3600);
    moto.answers(&[routed(&state, Route::NeedsApproval), Value::Null]).await;
    let execution = moto.start_execution(&machine, &state).await;
    let token = moto.task_token(&execution).await;
    let decided = WorkflowState { decision: Some(Decision::Denied), ..state.clone() };
    moto.sfn
        .send_task_success()
        .task_token(&token)
        .output(serde_json::to_string(&decided).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(moto.finished(&execution).await, ExecutionStatus::Succeeded);
    assert_eq!(moto.entered(&execution).await, ["Request", "Route", "AwaitDecision", "Decided", "Done"]);
}

#[tokio::test]
async fn auto_denied() {
    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    let state = start(3600);
    moto.answers(&[routed(&state, Route::AutoDenied)]).await;
    let execution = moto.start_execution(&machine, &state).await;
    assert_eq!(moto.finished(&execution).await, ExecutionStatus::Succeeded);
    assert_eq!(moto.entered(&execution).await, ["Request", "Route", "Done"]);
}

#[tokio::test]
async fn approval_timeout() {
    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    let state = start(1);
    let timed_out = WorkflowState { decision: Some(Decision::TimedOut), ..state.clone() };
    moto.answers(&[routed(&state, Route::NeedsApproval), Value::Null, to_value(&timed_out).unwrap()]).await;
    let execution = moto.start_execution(&machine, &state).await;
    assert_eq!(moto.finished(&execution).await, ExecutionStatus::Succeeded);
    assert_eq!(moto.entered(&execution).await, ["Request", "Route", "AwaitDecision", "TimedOut", "Decided", "Done"]);
}

#[tokio::test]
async fn escalation_failure_is_recorded_and_fails_the_execution() {
    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    let state = start(3600);
    moto.answers(&[routed(&state, Route::AutoApproved), Moto::failure(), to_value(&state).unwrap()]).await;
    let execution = moto.start_execution(&machine, &state).await;
    assert_failed(&moto, &execution).await;
    assert_eq!(
        moto.entered(&execution).await,
        ["Request", "Route", "Escalate", "EscalationFailed", "PartlyGranted", "Failed"]
    );
    // The Catch adds the error next to the state: EscalationFailed still gets the whole WorkflowState.
    let payloads = moto.scheduled_payloads(&execution).await;
    let recorded = payloads.iter().find(|p| p["step"] == "EscalationFailed").unwrap();
    assert_eq!(recorded["state"]["request_id"], state.request_id.as_str());
    assert_eq!(recorded["state"]["error"]["Error"], "Function.ResponseSizeTooLarge");
    let _: WorkflowState = serde_json::from_value(recorded["state"].clone()).unwrap();
}

#[tokio::test]
async fn a_partly_granted_request_holds_its_granted_targets_until_expiry() {
    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    let state = start(3600);
    let kept = WorkflowState { hold: Some(Hold::Wait), ..granted(&state, -1) };
    let grant = granted(&state, -1);
    moto.answers(&[
        routed(&state, Route::AutoApproved),
        Moto::failure(),
        to_value(&kept).unwrap(),
        held(&grant, Hold::Done),
        to_value(&grant).unwrap(),
    ])
    .await;
    let execution = moto.start_execution(&machine, &state).await;
    assert_eq!(moto.finished(&execution).await, ExecutionStatus::Succeeded);
    assert_eq!(
        moto.entered(&execution).await,
        [
            "Request",
            "Route",
            "Escalate",
            "EscalationFailed",
            "PartlyGranted",
            "HoldUntilExpiry",
            "CheckExpiry",
            "Extended",
            "Deescalate",
            "Done"
        ]
    );
}

async fn assert_failed(moto: &Moto, execution: &str) {
    assert_eq!(moto.finished(execution).await, ExecutionStatus::Failed);
    let ended = moto.sfn.describe_execution().execution_arn(execution).send().await.unwrap();
    assert_eq!(ended.error(), Some("Airlock.Failed"), "the execution ends in the Failed state");
}

#[tokio::test]
async fn a_failing_request_step_fails_the_execution() {
    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    let state = start(3600);
    moto.answers(&[Moto::failure()]).await;
    let execution = moto.start_execution(&machine, &state).await;
    assert_failed(&moto, &execution).await;
    assert_eq!(moto.entered(&execution).await, ["Request", "Failed"]);
}

#[tokio::test]
async fn a_failing_approval_step_fails_the_execution() {
    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    let state = start(3600);
    moto.answers(&[routed(&state, Route::NeedsApproval), Moto::failure()]).await;
    let execution = moto.start_execution(&machine, &state).await;
    assert_failed(&moto, &execution).await;
    assert_eq!(moto.entered(&execution).await, ["Request", "Route", "AwaitDecision", "Failed"]);
}

#[tokio::test]
async fn a_failing_timeout_step_fails_the_execution() {
    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    let state = start(1);
    moto.answers(&[routed(&state, Route::NeedsApproval), Value::Null, Moto::failure()]).await;
    let execution = moto.start_execution(&machine, &state).await;
    assert_failed(&moto, &execution).await;
    assert_eq!(moto.entered(&execution).await, ["Request", "Route", "AwaitDecision", "TimedOut", "Failed"]);
}

#[tokio::test]
async fn a_failing_escalation_record_still_fails_the_execution() {
    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    let state = start(3600);
    moto.answers(&[routed(&state, Route::AutoApproved), Moto::failure(), Moto::failure()]).await;
    let execution = moto.start_execution(&machine, &state).await;
    assert_failed(&moto, &execution).await;
    assert_eq!(moto.entered(&execution).await, ["Request", "Route", "Escalate", "EscalationFailed", "Failed"]);
}

#[tokio::test]
async fn a_failing_expiry_check_fails_the_execution_for_the_sweeper() {
    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    let state = start(3600);
    let grant = granted(&state, -1);
    moto.answers(&[routed(&state, Route::AutoApproved), to_value(&grant).unwrap(), Moto::failure()]).await;
    let execution = moto.start_execution(&machine, &state).await;
    assert_failed(&moto, &execution).await;
    assert_eq!(
        moto.entered(&execution).await,
        ["Request", "Route", "Escalate", "HoldUntilExpiry", "CheckExpiry", "Failed"]
    );
}

#[tokio::test]
async fn an_extended_grant_loops_back_to_the_wait() {
    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    let state = start(3600);
    let grant = granted(&state, -1);
    let extended = granted(&state, 1);
    moto.answers(&[
        routed(&state, Route::AutoApproved),
        to_value(&grant).unwrap(),
        held(&extended, Hold::Wait),
        held(&extended, Hold::Done),
        to_value(&extended).unwrap(),
    ])
    .await;
    let execution = moto.start_execution(&machine, &state).await;
    assert_eq!(moto.finished(&execution).await, ExecutionStatus::Succeeded);
    assert_eq!(
        moto.entered(&execution).await,
        [
            "Request",
            "Route",
            "Escalate",
            "HoldUntilExpiry",
            "CheckExpiry",
            "Extended",
            "HoldUntilExpiry",
            "CheckExpiry",
            "Extended",
            "Deescalate",
            "Done"
        ]
    );
}

#[tokio::test]
async fn an_early_revoke_ends_through_a_no_op_deescalation() {
    // A revoke removes the access at once and moves the stored expiry to now; the execution
    // wakes at the original expiry, CheckExpiry finds nothing to hold and Deescalate finds
    // nothing to remove.
    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    let state = start(3600);
    let grant = granted(&state, 1);
    moto.answers(&[
        routed(&state, Route::AutoApproved),
        to_value(&grant).unwrap(),
        held(&grant, Hold::Done),
        to_value(&grant).unwrap(),
    ])
    .await;
    let execution = moto.start_execution(&machine, &state).await;
    assert_eq!(moto.finished(&execution).await, ExecutionStatus::Succeeded);
    let mut expected = vec!["Request", "Route"];
    expected.extend(TO_EXPIRY);
    assert_eq!(moto.entered(&execution).await, expected);
}

/// A request of the example config submitted and cancelled through the services over the
/// testkit's fakes, and the states its execution starts from.
mod cancelled {
    use airlock_core::services::{StepOutcome, SubmitInput};
    use airlock_core::{AccessRequest, Airlock, StepCall, StepName, WorkflowState};
    use airlock_testkit::harness::Harness;
    use serde_json::json;

    pub async fn submitted(h: &Harness) -> (AccessRequest, WorkflowState) {
        let carol = h.airlock.identify_slack_user("U3").await.unwrap();
        let input = SubmitInput {
            flow: "aws-prod".into(),
            target: Some("prod-admin".into()),
            duration: Some("15m".into()),
            reason: "deploy".into(),
            fields: [("urgency".to_string(), json!("Normal"))].into(),
            ..SubmitInput::default()
        };
        let request = h.airlock.submit(&carol, input).await.unwrap();
        let state = h.workflow.started().last().cloned().unwrap();
        (request, state)
    }

    pub async fn cancel(airlock: &Airlock, request: &AccessRequest) {
        let carol = airlock.identify_slack_user("U3").await.unwrap();
        airlock.cancel(request.id(), &carol, Some("not needed".into())).await.unwrap();
    }

    /// What the step handler answers for `step` now (what its Lambda would return).
    pub async fn answer(h: &Harness, step: StepName, state: &WorkflowState, token: Option<&str>) -> StepOutcome {
        let call = StepCall { step, state: state.clone(), task_token: token.map(String::from) };
        h.airlock.steps().run(call).await.unwrap()
    }

    pub fn next(outcome: StepOutcome) -> WorkflowState {
        match outcome {
            StepOutcome::Next(state) => state,
            StepOutcome::Waiting => panic!("the step parked on a cancelled request"),
        }
    }
}

#[tokio::test]
async fn a_request_cancelled_before_its_execution_ran_ends_at_the_route() {
    let h = airlock_testkit::harness::Harness::new();
    let (request, state) = cancelled::submitted(&h).await;
    cancelled::cancel(&h.airlock, &request).await;
    let routed = cancelled::next(cancelled::answer(&h, airlock_core::StepName::Request, &state, None).await);
    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    moto.answers(&[to_value(&routed).unwrap()]).await;
    let execution = moto.start_execution(&machine, &state).await;
    assert_eq!(moto.finished(&execution).await, ExecutionStatus::Succeeded);
    assert_eq!(moto.entered(&execution).await, ["Request", "Route", "Done"]);
}

#[tokio::test]
async fn cancelling_a_parked_request_sends_its_token_and_ends_the_execution() {
    use airlock_core::StepName;
    let h = airlock_testkit::harness::Harness::new();
    let (request, state) = cancelled::submitted(&h).await;
    let routed = cancelled::next(cancelled::answer(&h, StepName::Request, &state, None).await);
    assert_eq!(routed.route, Some(Route::NeedsApproval));
    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    moto.answers(&[to_value(&routed).unwrap(), Value::Null]).await;
    let execution = moto.start_execution(&machine, &state).await;
    let token = moto.task_token(&execution).await;
    // AwaitDecision keeps the token with the request; the cancel hands the decision to Step
    // Functions through the real adapter.
    let parked = cancelled::answer(&h, StepName::AwaitDecision, &routed, Some(&token)).await;
    assert_eq!(parked, airlock_core::services::StepOutcome::Waiting);
    let workflow = airlock_aws::StepFunctionsWorkflow::new(moto.sfn.clone(), machine.clone());
    let airlock = airlock_core::Airlock::new(h.deps.clone(), std::sync::Arc::new(workflow));
    cancelled::cancel(&airlock, &request).await;
    assert_eq!(moto.finished(&execution).await, ExecutionStatus::Succeeded);
    assert_eq!(moto.entered(&execution).await, ["Request", "Route", "AwaitDecision", "Decided", "Done"]);
}

#[tokio::test]
async fn a_cancel_before_await_decision_stored_its_token_ends_the_execution_at_once() {
    // The cancel finds no token to send. AwaitDecision then finds the request cancelled; as Step
    // Functions ignores a waiting task's own output, its function sends the decision with the
    // token it was given (functions/common's step handler; tested there), and the execution ends.
    use airlock_core::StepName;
    use airlock_core::ports::Workflow;
    let h = airlock_testkit::harness::Harness::new();
    let (request, state) = cancelled::submitted(&h).await;
    let routed = cancelled::next(cancelled::answer(&h, StepName::Request, &state, None).await);
    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    moto.answers(&[to_value(&routed).unwrap(), Value::Null]).await;
    let execution = moto.start_execution(&machine, &state).await;
    let token = moto.task_token(&execution).await;
    cancelled::cancel(&h.airlock, &request).await;
    let awaited = cancelled::next(cancelled::answer(&h, StepName::AwaitDecision, &routed, Some(&token)).await);
    assert_eq!(awaited.decision, Some(Decision::Cancelled));
    let decisions = airlock_aws::StepFunctionsWorkflow::new(moto.sfn.clone(), machine.clone());
    decisions.send_decision(&token, &awaited).await.unwrap();
    assert_eq!(moto.finished(&execution).await, ExecutionStatus::Succeeded);
    assert_eq!(moto.entered(&execution).await, ["Request", "Route", "AwaitDecision", "Decided", "Done"]);
    assert_eq!(h.airlock.get_request(request.id()).await.unwrap().status(), airlock_core::Status::Cancelled);
}

/// A grant extended while it is held: the real steps' answers (the expiry check re-reads the
/// extended expiry) make the execution wait again until the new expiry, then remove.
#[tokio::test]
async fn an_extension_approved_while_held_makes_the_execution_wait_until_the_new_expiry() {
    use airlock_core::services::{StepOutcome, SubmitInput};
    use airlock_core::{Config, StepCall, StepName, Verdict};
    use airlock_testkit::harness::Harness;
    const CONFIG: &str = r#"
organization: {primary_domain: example.com, admins: [alice@example.com]}
slack: {command: /access}
flows:
  - name: db
    approvers: {users: [bob@example.com]}
    durations: [2s]
    max_duration: 1h
    targets: [{name: primary, label: Primary, kind: record}]
"#;
    let h = Harness::with_config(Config::from_yaml(CONFIG).unwrap());
    let run = |step: StepName, state: &WorkflowState| {
        let call = StepCall { step, state: state.clone(), task_token: None };
        let steps = h.airlock.steps();
        async move {
            match steps.run(call).await.unwrap() {
                StepOutcome::Next(next) => next,
                StepOutcome::Waiting => panic!("{} parked", step.as_str()),
            }
        }
    };
    let carol = h.airlock.identify_slack_user("U3").await.unwrap();
    let bob = h.airlock.identify_slack_user("U2").await.unwrap();
    let input = SubmitInput {
        flow: "db".into(),
        target: Some("primary".into()),
        duration: Some("2s".into()),
        reason: "migration".into(),
        ..SubmitInput::default()
    };
    let request = h.airlock.submit(&carol, input).await.unwrap();
    let state = h.workflow.started().last().cloned().unwrap();
    h.airlock.decide(request.id(), &bob, Verdict::Approve, None).await.unwrap();
    let approved = WorkflowState { decision: Some(Decision::Approved), ..state.clone() };
    let granted = run(StepName::Escalate, &approved).await;
    let first_expiry = granted.expires_at.unwrap();
    h.airlock.ask_extension(request.id(), &carol, "3s".parse().unwrap(), "still running").await.unwrap();
    h.airlock.decide_extension(request.id(), &bob, Verdict::Approve, None).await.unwrap();
    h.clock.advance(std::time::Duration::from_secs(3));
    let held_again = run(StepName::CheckExpiry, &granted).await;
    assert_eq!(held_again.hold, Some(Hold::Wait));
    let new_expiry = held_again.expires_at.unwrap();
    assert_eq!(new_expiry - first_expiry, Duration::seconds(3));
    h.clock.advance(std::time::Duration::from_secs(3));
    let done = run(StepName::CheckExpiry, &held_again).await;
    assert_eq!(done.hold, Some(Hold::Done));
    let removed = run(StepName::Deescalate, &done).await;

    let moto = Moto::start().await;
    let machine = machine(&moto).await;
    moto.answers(&[
        routed(&state, Route::AutoApproved),
        to_value(&granted).unwrap(),
        to_value(&held_again).unwrap(),
        to_value(&done).unwrap(),
        to_value(&removed).unwrap(),
    ])
    .await;
    let execution = moto.start_execution(&machine, &state).await;
    assert_eq!(moto.finished(&execution).await, ExecutionStatus::Succeeded);
    // moto's Wait counts whole seconds; without the extension it would have ended 3 s earlier.
    assert!(Utc::now() >= new_expiry - Duration::seconds(1), "the second wait held until the extended expiry");
    assert_eq!(
        moto.entered(&execution).await,
        [
            "Request",
            "Route",
            "Escalate",
            "HoldUntilExpiry",
            "CheckExpiry",
            "Extended",
            "HoldUntilExpiry",
            "CheckExpiry",
            "Extended",
            "Deescalate",
            "Done"
        ]
    );
}
