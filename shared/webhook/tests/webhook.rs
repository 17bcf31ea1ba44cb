//! The webhook escalator against a local receiver that checks signatures.

use airlock_core::RequestId;
use airlock_core::flow::{Target, TargetKind};
use airlock_core::ports::{Escalation, EscalationError, Escalator, GrantSpec};
use airlock_webhook::{WebhookEscalator, verify_signature};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Receiver {
    /// Statuses to answer, in order; then 200.
    script: Mutex<Vec<u16>>,
    calls: Mutex<Vec<serde_json::Value>>,
    /// The body of every 2xx answer.
    answer: Mutex<String>,
}

async fn receiver(receiver: Arc<Receiver>) -> String {
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let receiver = receiver.clone();
            async move {
                let ts: i64 = headers["x-airlock-timestamp"].to_str().unwrap().parse().unwrap();
                let signature = headers["x-airlock-signature"].to_str().unwrap();
                if !verify_signature(b"hook-secret", ts, &body, signature) {
                    return (StatusCode::UNAUTHORIZED, String::new());
                }
                receiver.calls.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                let next = receiver.script.lock().unwrap().pop();
                (StatusCode::from_u16(next.unwrap_or(200)).unwrap(), receiver.answer.lock().unwrap().clone())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/hook")
}

fn grant(url: &str, secret_env: &str) -> GrantSpec {
    GrantSpec {
        request_id: RequestId::generate(),
        user_email: "carol@example.com".parse().unwrap(),
        user_slack_id: Some("U3".into()),
        target: Target {
            name: "billing".into(),
            label: "Billing".into(),
            kind: TargetKind::Webhook { url: url.into(), secret_env: secret_env.into() },
        },
        expires_at: chrono::Utc::now(),
    }
}

/// An escalator holding the receiver's secret under `name`.
fn with_secret(name: &str) -> WebhookEscalator {
    WebhookEscalator::new().with_secrets([(name.to_string(), "hook-secret".to_string())].into())
}

#[tokio::test]
async fn signed_calls_retry_5xx_until_success() {
    let rx = Arc::new(Receiver { script: Mutex::new(vec![503, 500]), ..Default::default() });
    let url = receiver(rx.clone()).await;
    let escalator = with_secret("HOOK_SECRET_RETRY").with_backoff(Duration::from_millis(5));
    let g = grant(&url, "HOOK_SECRET_RETRY");
    assert_eq!(escalator.escalate(&g).await.unwrap(), Escalation::Granted);
    let calls = rx.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[2]["action"], "escalate");
    assert_eq!(calls[2]["user"]["email"], "carol@example.com");
    assert_eq!(calls[2]["request_id"], g.request_id.as_str());
    escalator.deescalate(&g).await.unwrap();
    assert_eq!(rx.calls.lock().unwrap()[3]["action"], "deescalate");
}

#[tokio::test]
async fn client_errors_are_permanent_and_persistent_5xx_transient() {
    let rx = Arc::new(Receiver { script: Mutex::new(vec![400]), ..Default::default() });
    let url = receiver(rx.clone()).await;
    let escalator = with_secret("HOOK_SECRET_FAIL").with_backoff(Duration::from_millis(5));
    let g = grant(&url, "HOOK_SECRET_FAIL");
    assert!(matches!(escalator.escalate(&g).await, Err(EscalationError::Permanent(_))));
    *rx.script.lock().unwrap() = vec![502; 4];
    assert!(matches!(escalator.escalate(&g).await, Err(EscalationError::Transient(_))));
}

#[tokio::test]
async fn a_missing_secret_is_named_not_shown() {
    let err =
        WebhookEscalator::new().escalate(&grant("http://127.0.0.1:9/hook", "HOOK_SECRET_UNSET")).await.unwrap_err();
    assert_eq!(err, EscalationError::Permanent("the webhook secret variable HOOK_SECRET_UNSET is not set".into()));
}

#[tokio::test]
async fn a_secret_handed_over_signs_the_call_without_an_environment_variable() {
    let rx = Arc::new(Receiver::default());
    let url = receiver(rx.clone()).await;
    let secrets = [("HOOK_SECRET_FROM_SSM".to_string(), "hook-secret".to_string())].into();
    let escalator = WebhookEscalator::new().with_secrets(secrets).with_backoff(Duration::from_millis(5));
    escalator.deescalate(&grant(&url, "HOOK_SECRET_FROM_SSM")).await.unwrap();
    assert_eq!(rx.calls.lock().unwrap().len(), 1, "the receiver verified the signature");
}

#[tokio::test]
async fn a_receiver_can_say_the_person_already_had_the_access() {
    let rx = Arc::new(Receiver { answer: Mutex::new(r#"{"already_had": true}"#.into()), ..Default::default() });
    let url = receiver(rx.clone()).await;
    let g = grant(&url, "HOOK_SECRET_STANDING");
    assert_eq!(with_secret("HOOK_SECRET_STANDING").escalate(&g).await.unwrap(), Escalation::AlreadyHeld);
    *rx.answer.lock().unwrap() = "not json".into();
    assert_eq!(
        with_secret("HOOK_SECRET_STANDING").escalate(&g).await.unwrap(),
        Escalation::Granted,
        "any other 2xx body"
    );
}
