//! The notify function's handler over the SQLite store and a Slack that fails on command: whatever
//! event starts it, it delivers what is due, defers what Slack asks to wait for, and fails only when
//! the store is out of reach.

mod support;

use airlock_core::ports::{Clock, NotifyError, RequesterUpdate, Store};
use airlock_core::{AccessRequest, AuditAction, Notification, OutboxItem, Steps};
use airlock_fn_common::notify_handler;
use airlock_local::SqliteStore;
use airlock_testkit::fakes::{ManualClock, MemoryStore, RecordingNotifier};
use airlock_testkit::fixtures::{sample_event, sample_request};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

struct Setup {
    store: Arc<SqliteStore>,
    slack: Arc<RecordingNotifier>,
    clock: Arc<ManualClock>,
    steps: Steps,
}

fn setup() -> Setup {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let slack = Arc::new(RecordingNotifier::default());
    let clock = Arc::new(ManualClock::default());
    let steps = Steps::new(support::deps(store.clone(), slack.clone(), clock.clone()));
    Setup { store, slack, clock, steps }
}

/// A new request written with the "submitted" DM it implies, as the core writes it.
async fn submitted(s: &Setup) -> AccessRequest {
    let request = sample_request("carol@example.com", "record:prod-admin");
    let dm = Notification::Requester { update: RequesterUpdate::Submitted };
    let outbox = [OutboxItem::new(Some(request.id().clone()), dm, s.clock.now())];
    s.store.insert_request_with(&request, &sample_event(&request, AuditAction::Submitted), &outbox).await.unwrap();
    request
}

async fn invoke(steps: &Steps, event: Value) -> Result<Value, Diagnostic> {
    notify_handler(steps, LambdaEvent::new(event, Context::default())).await
}

/// What the table's stream hands the function when a notification is written (KEYS_ONLY).
fn stream_batch() -> Value {
    json!({"Records": [{
        "eventID": "1", "eventName": "INSERT", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "dynamodb": {"Keys": {"pk": {"S": "REQ#req_01"}, "sk": {"S": "NTF#ntf_01"}}, "StreamViewType": "KEYS_ONLY"},
    }]})
}

/// What the one-minute schedule hands it.
fn schedule_tick() -> Value {
    json!({"deliver": true})
}

#[tokio::test]
async fn a_stream_batch_delivers_what_is_due_once() {
    let s = setup();
    submitted(&s).await;
    let report = invoke(&s.steps, stream_batch()).await.unwrap();
    assert_eq!(report, json!({"sent": 1, "deferred": 0, "dropped": 0}));
    assert_eq!(s.slack.told(), [RequesterUpdate::Submitted]);
    let again = invoke(&s.steps, schedule_tick()).await.unwrap();
    assert_eq!(again["sent"], 0, "a delivered notification is gone from the outbox");
    assert_eq!(s.slack.told().len(), 1);
}

#[tokio::test]
async fn a_rate_limited_message_waits_for_retry_after_and_the_schedule_sends_it() {
    let s = setup();
    submitted(&s).await;
    s.slack.fail_next(NotifyError::Retry { message: "ratelimited".into(), after: Some(Duration::from_secs(30)) });

    let first = invoke(&s.steps, stream_batch()).await.unwrap();
    assert_eq!(first, json!({"sent": 0, "deferred": 1, "dropped": 0}), "a 429 is no error of the function");
    s.clock.advance(Duration::from_secs(29));
    assert_eq!(invoke(&s.steps, schedule_tick()).await.unwrap()["sent"], 0, "not before Retry-After");
    assert!(s.slack.told().is_empty());

    s.clock.advance(Duration::from_secs(2));
    assert_eq!(invoke(&s.steps, schedule_tick()).await.unwrap()["sent"], 1);
    assert_eq!(s.slack.told(), [RequesterUpdate::Submitted]);
}

#[tokio::test]
async fn a_message_that_can_never_arrive_is_dropped_not_retried_forever() {
    let s = setup();
    submitted(&s).await;
    s.slack.fail_next(NotifyError::Permanent("channel_not_found".into()));
    let report = invoke(&s.steps, schedule_tick()).await.unwrap();
    assert_eq!(report, json!({"sent": 0, "deferred": 0, "dropped": 1}));
    s.clock.advance(Duration::from_secs(3600));
    assert_eq!(invoke(&s.steps, schedule_tick()).await.unwrap()["sent"], 0);
}

#[tokio::test]
async fn an_unreachable_store_fails_the_invocation_as_transient() {
    let clock = Arc::new(ManualClock::default());
    let store = Arc::new(MemoryStore::unreachable());
    let steps = Steps::new(support::deps(store, Arc::new(RecordingNotifier::default()), clock));
    let failed = invoke(&steps, stream_batch()).await.unwrap_err();
    assert_eq!(failed.error_type, "Airlock.Transient");
    assert!(failed.error_message.contains("connection refused"), "{}", failed.error_message);
}
