//! The Lambda step handler over in-memory adapters: which steps a function serves, what it returns
//! to Step Functions, and the `errorType` its failures carry for the state machine's Retry/Catch.

mod support;

use airlock_core::ports::{Store, SystemClock};
use airlock_core::{AccessRequest, AuditAction, Status, StepName, Steps, WorkflowState};
use airlock_fn_common::{StepFunction, step_handler};
use airlock_local::SqliteStore;
use airlock_testkit::fakes::{MemoryStore, RecordingNotifier, RecordingWorkflow};
use airlock_testkit::fixtures::{advanced, granted, sample_event, sample_request};
use chrono::Utc;
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::{Value, json};
use std::sync::Arc;

fn steps(store: Arc<dyn Store>) -> Steps {
    Steps::new(support::deps(store, Arc::new(RecordingNotifier::default()), Arc::new(SystemClock)))
}

static REQUEST_FN: StepFunction = StepFunction { steps: &[StepName::Request], sweeper: false };
static APPROVE_FN: StepFunction = StepFunction { steps: &[StepName::AwaitDecision], sweeper: false };
static DEESCALATE_FN: StepFunction = StepFunction { steps: &[StepName::Deescalate], sweeper: true };

async fn call(steps: &Steps, serves: &StepFunction, payload: Value) -> Result<Value, Diagnostic> {
    step_handler(steps, serves, None, LambdaEvent::new(payload, Context::default())).await
}

fn step(name: &str, request: &AccessRequest) -> Value {
    json!({
        "step": name,
        "state": {"schema_version": 1, "request_id": request.id(), "approval_timeout_seconds": 3600},
        "task_token": "token-1",
    })
}

async fn pending(store: &SqliteStore) -> AccessRequest {
    let request = sample_request("carol@example.com", "record:prod-admin");
    store.insert_request(&request, &sample_event(&request, AuditAction::Submitted)).await.unwrap();
    request
}

#[tokio::test]
async fn a_served_step_returns_the_next_state() {
    let store = SqliteStore::open_in_memory().unwrap();
    let request = pending(&store).await;
    let steps = steps(Arc::new(store));
    let next = call(&steps, &REQUEST_FN, step("Request", &request)).await.unwrap();
    assert_eq!(next["route"], "needs_approval");
    assert_eq!(next["request_id"], request.id().as_str());
}

#[tokio::test]
async fn a_waiting_step_returns_its_input_and_keeps_the_token() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let request = pending(&store).await;
    let steps = steps(store.clone());
    let payload = step("AwaitDecision", &request);
    let out = call(&steps, &APPROVE_FN, payload.clone()).await.unwrap();
    assert_eq!(out, payload["state"]);
    let stored = store.get_request(request.id()).await.unwrap().unwrap();
    assert_eq!(stored.task_token(), Some("token-1"));
}

#[tokio::test]
async fn a_decision_found_before_the_token_was_stored_is_sent_with_the_token() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let request = pending(&store).await;
    let (cancelled, _) = advanced(&request, Status::Cancelled).unwrap();
    store.update_request(&cancelled, Status::Pending, None).await.unwrap();
    let steps = steps(store.clone());
    let workflow = RecordingWorkflow::default();
    let payload = step("AwaitDecision", &request);
    let event = LambdaEvent::new(payload.clone(), Context::default());
    let out = step_handler(&steps, &APPROVE_FN, Some(&workflow), event).await.unwrap();
    assert_eq!(out["decision"], "cancelled");
    let sent = workflow.decisions();
    assert_eq!(sent.len(), 1, "Step Functions ignores the task's output: the decision goes with the token");
    assert_eq!((sent[0].0.as_str(), sent[0].1.decision), ("token-1", Some(airlock_core::Decision::Cancelled)));

    let unsent = call(&steps, &APPROVE_FN, payload).await.unwrap_err();
    assert_eq!(unsent.error_type, "Airlock.Permanent", "a function that cannot send the decision says so");
}

#[tokio::test]
async fn failures_carry_the_error_type_the_state_machine_matches() {
    let store = SqliteStore::open_in_memory().unwrap();
    let request = pending(&store).await;
    let steps = steps(Arc::new(store));

    let refused = call(&steps, &REQUEST_FN, step("Escalate", &request)).await.unwrap_err();
    assert_eq!(refused.error_type, "Airlock.Permanent");
    assert!(refused.error_message.contains("Escalate"), "{}", refused.error_message);

    let unknown = sample_request("dan@example.com", "record:prod-admin");
    let missing = call(&steps, &REQUEST_FN, step("Request", &unknown)).await.unwrap_err();
    assert_eq!(missing.error_type, "Airlock.Permanent");

    let garbled = call(&steps, &REQUEST_FN, json!({"step": "Request"})).await.unwrap_err();
    assert_eq!(garbled.error_type, "Airlock.Permanent");
    let not_here = call(&steps, &REQUEST_FN, json!({"sweep": true})).await.unwrap_err();
    assert_eq!(not_here.error_type, "Airlock.Permanent", "only the sweeper's function sweeps");

    let outage = call(&self::steps(Arc::new(MemoryStore::unreachable())), &REQUEST_FN, step("Request", &request))
        .await
        .unwrap_err();
    assert_eq!(outage.error_type, "Airlock.Transient");
    assert!(outage.error_message.contains("connection refused"), "{}", outage.error_message);
}

#[tokio::test]
async fn the_sweeper_removes_overdue_grants_and_reports_counts() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let request = pending(&store).await;
    let (approved, _) = advanced(&request, Status::Approved).unwrap();
    store.update_request(&approved, Status::Pending, None).await.unwrap();
    let expired_at = Utc::now() - chrono::Duration::minutes(1);
    let granted = granted(&approved, expired_at - approved.duration().to_chrono()).unwrap();
    store.update_request(&granted, Status::Approved, None).await.unwrap();

    let steps = steps(store.clone());
    let report = call(&steps, &DEESCALATE_FN, json!({"sweep": true})).await.unwrap();
    assert_eq!(report["removed"], 1);
    assert_eq!(store.get_request(request.id()).await.unwrap().unwrap().status(), Status::Expired);
    let again = call(&steps, &DEESCALATE_FN, json!({"sweep": true})).await.unwrap();
    assert_eq!(again["removed"], 0);

    let outage = call(&self::steps(Arc::new(MemoryStore::unreachable())), &DEESCALATE_FN, json!({"sweep": true}))
        .await
        .unwrap_err();
    assert_eq!(outage.error_type, "Airlock.Transient");
}

/// A revoke from the API asks for the removal at once with an asynchronous invocation of the
/// deescalate function (the Step Functions adapter's `remove_now`): a Deescalate call without a
/// task token, whose answer nobody reads.
#[tokio::test]
async fn the_deescalate_function_serves_the_removal_a_revoke_asks_for() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let request = pending(&store).await;
    let (approved, _) = advanced(&request, Status::Approved).unwrap();
    store.update_request(&approved, Status::Pending, None).await.unwrap();
    let (active, _) = advanced(&approved, Status::Active).unwrap();
    store.update_request(&active, Status::Approved, None).await.unwrap();
    let (revoked, _) = advanced(&active, Status::Revoked).unwrap();
    store.update_request(&revoked, Status::Active, None).await.unwrap();

    let steps = steps(store.clone());
    let payload = json!({"step": "Deescalate", "state": WorkflowState::start(request.id().clone(), 0)});
    call(&steps, &DEESCALATE_FN, payload.clone()).await.unwrap();
    let removed = store.get_request(request.id()).await.unwrap().unwrap();
    assert_eq!(removed.status(), Status::Revoked);
    assert!(removed.access_removed_at().is_some(), "the access was removed");
    // Lambda retries a failed asynchronous invocation, and the execution's own Deescalate follows.
    call(&steps, &DEESCALATE_FN, payload).await.unwrap();
    assert_eq!(
        store.get_request(request.id()).await.unwrap().unwrap().access_removed_at(),
        removed.access_removed_at()
    );
}
