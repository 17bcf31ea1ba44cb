//! The Lambda step handler over in-memory adapters: which steps a function serves, what it returns
//! to Step Functions, and the `errorType` its failures carry for the state machine's Retry/Catch.

use airlock_core::config::EXAMPLE_CONFIG;
use airlock_core::escalators::EscalatorSet;
use airlock_core::flow::{FieldSpec, Flow};
use airlock_core::ports::{
    Directory, DirectoryUser, Notifier, OptionsSource, RequesterUpdate, SelectOption, Store, StoreError, SystemClock,
};
use airlock_core::{AccessRequest, AuditEvent, Config, Deps, Email, MessageRef, RequestId, Status, StepName, Steps};
use airlock_fn_common::{StepFunction, step_handler};
use airlock_local::{LogAuditSink, SqliteStore};
use airlock_testkit::fixtures::{sample_event, sample_request};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::{Value, json};
use std::sync::Arc;

struct QuietSlack;

#[async_trait]
impl Notifier for QuietSlack {
    async fn post_approval_cards(
        &self,
        _request: &AccessRequest,
        _flow: &Flow,
        _approvers: &[DirectoryUser],
    ) -> Result<Vec<MessageRef>, String> {
        Ok(vec![MessageRef { channel: "C0APPROVALS".into(), ts: "1.1".into() }])
    }
    async fn update_approval_cards(&self, _request: &AccessRequest, _flow: &Flow) -> Result<(), String> {
        Ok(())
    }
    async fn tell_requester(&self, _r: &AccessRequest, _f: &Flow, _u: RequesterUpdate) -> Result<(), String> {
        Ok(())
    }
    async fn remind_approvers(&self, _r: &AccessRequest, _f: &Flow, _a: &[DirectoryUser]) -> Result<(), String> {
        Ok(())
    }
    async fn tell_user(&self, _slack_id: &str, _text: &str) -> Result<(), String> {
        Ok(())
    }
    async fn post_audit(&self, _channel: &str, _request: &AccessRequest, _event: &AuditEvent) -> Result<(), String> {
        Ok(())
    }
}

#[async_trait]
impl Directory for QuietSlack {
    async fn user_by_slack_id(&self, _slack_id: &str) -> Result<Option<DirectoryUser>, String> {
        Ok(None)
    }
    async fn user_by_email(&self, _email: &Email) -> Result<Option<DirectoryUser>, String> {
        Ok(None)
    }
    async fn group_members(&self, _group_id: &str) -> Result<Vec<String>, String> {
        Ok(vec![])
    }
}

#[async_trait]
impl OptionsSource for QuietSlack {
    async fn options(&self, _flow: &Flow, _field: &FieldSpec, _query: &str) -> Result<Vec<SelectOption>, String> {
        Ok(vec![])
    }
}

/// A store that cannot be reached.
struct Down;

#[async_trait]
impl Store for Down {
    async fn insert_request(&self, _r: &AccessRequest, _e: &AuditEvent) -> Result<(), StoreError> {
        Err(down())
    }
    async fn get_request(&self, _id: &RequestId) -> Result<Option<AccessRequest>, StoreError> {
        Err(down())
    }
    async fn update_request(&self, _r: &AccessRequest, _s: Status, _e: Option<&AuditEvent>) -> Result<(), StoreError> {
        Err(down())
    }
    async fn requests_of_user(
        &self,
        _u: &str,
        _s: Option<Status>,
        _l: usize,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        Err(down())
    }
    async fn requests_with_status(&self, _s: Status, _l: usize) -> Result<Vec<AccessRequest>, StoreError> {
        Err(down())
    }
    async fn removals_due(&self, _b: DateTime<Utc>, _l: usize) -> Result<Vec<AccessRequest>, StoreError> {
        Err(down())
    }
    async fn audit_events(&self, _id: &RequestId) -> Result<Vec<AuditEvent>, StoreError> {
        Err(down())
    }
    async fn claim_idempotency_key(&self, _k: &str, _t: std::time::Duration) -> Result<bool, StoreError> {
        Err(down())
    }
}

fn down() -> StoreError {
    StoreError::Unavailable("connection refused".into())
}

fn steps(store: Arc<dyn Store>) -> Steps {
    Steps::new(Deps {
        config: Arc::new(Config::from_yaml(EXAMPLE_CONFIG).unwrap()),
        store,
        notifier: Arc::new(QuietSlack),
        escalator: Arc::new(EscalatorSet::new()),
        audit: Arc::new(LogAuditSink),
        directory: Arc::new(QuietSlack),
        options: Arc::new(QuietSlack),
        clock: Arc::new(SystemClock),
    })
}

static REQUEST_FN: StepFunction = StepFunction { steps: &[StepName::Request], sweeper: false };
static APPROVE_FN: StepFunction = StepFunction { steps: &[StepName::AwaitDecision], sweeper: false };
static DEESCALATE_FN: StepFunction = StepFunction { steps: &[StepName::Deescalate], sweeper: true };

async fn call(steps: &Steps, serves: &StepFunction, payload: Value) -> Result<Value, Diagnostic> {
    step_handler(steps, serves, LambdaEvent::new(payload, Context::default())).await
}

fn step(name: &str, request: &AccessRequest) -> Value {
    json!({
        "step": name,
        "state": {"schema_version": 1, "request_id": request.id, "approval_timeout_seconds": 3600},
        "task_token": "token-1",
    })
}

async fn pending(store: &SqliteStore) -> AccessRequest {
    let request = sample_request("carol@example.com", "record:prod-admin");
    store.insert_request(&request, &sample_event(&request, "submitted")).await.unwrap();
    request
}

#[tokio::test]
async fn a_served_step_returns_the_next_state() {
    let store = SqliteStore::open_in_memory().unwrap();
    let request = pending(&store).await;
    let steps = steps(Arc::new(store));
    let next = call(&steps, &REQUEST_FN, step("Request", &request)).await.unwrap();
    assert_eq!(next["route"], "needs_approval");
    assert_eq!(next["request_id"], request.id.as_str());
}

#[tokio::test]
async fn a_waiting_step_returns_its_input_and_keeps_the_token() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let request = pending(&store).await;
    let steps = steps(store.clone());
    let payload = step("AwaitDecision", &request);
    let out = call(&steps, &APPROVE_FN, payload.clone()).await.unwrap();
    assert_eq!(out, payload["state"]);
    let stored = store.get_request(&request.id).await.unwrap().unwrap();
    assert_eq!(stored.task_token.as_deref(), Some("token-1"));
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

    let outage = call(&self::steps(Arc::new(Down)), &REQUEST_FN, step("Request", &request)).await.unwrap_err();
    assert_eq!(outage.error_type, "Airlock.Transient");
    assert!(outage.error_message.contains("connection refused"), "{}", outage.error_message);
}

#[tokio::test]
async fn the_sweeper_removes_overdue_grants_and_reports_counts() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let request = pending(&store).await;
    let mut granted = request.clone();
    granted.transition(Status::Approved, Utc::now()).unwrap();
    store.update_request(&granted, Status::Pending, None).await.unwrap();
    granted.transition(Status::Active, Utc::now()).unwrap();
    granted.granted_at = Some(Utc::now() - chrono::Duration::hours(1));
    granted.expires_at = Some(Utc::now() - chrono::Duration::minutes(1));
    store.update_request(&granted, Status::Approved, None).await.unwrap();

    let steps = steps(store.clone());
    let report = call(&steps, &DEESCALATE_FN, json!({"sweep": true})).await.unwrap();
    assert_eq!(report["removed"], 1);
    assert_eq!(store.get_request(&request.id).await.unwrap().unwrap().status, Status::Expired);
    let again = call(&steps, &DEESCALATE_FN, json!({"sweep": true})).await.unwrap();
    assert_eq!(again["removed"], 0);

    let outage = call(&self::steps(Arc::new(Down)), &DEESCALATE_FN, json!({"sweep": true})).await.unwrap_err();
    assert_eq!(outage.error_type, "Airlock.Transient");
}
