//! LambdaOptionsSource against a stand-in for the Lambda Invoke API: the payload sent, the answer
//! parsed, function errors, URL fields delegated, and Slack's time budget kept.

use airlock_aws::LambdaOptionsSource;
use airlock_core::Config;
use airlock_core::flow::{FieldSpec, Flow};
use airlock_core::ports::{OptionsError, OptionsSource, SelectOption};
use airlock_testkit::fake_aws_env;
use async_trait::async_trait;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
organization:
  primary_domain: example.com
slack:
  command: /access
flows:
  - name: tickets
    label: Tickets
    description: Ticket access
    approvers:
      users: [bob@example.com]
    durations: [15m]
    max_duration: 1h
    approval_timeout: 1h
    targets:
      - name: t
        label: T
        kind: record
    fields:
      - name: ticket
        label: Ticket
        type: select
        prefetch: { lambda: "arn:aws:lambda:us-east-1:123456789012:function:tickets" }
      - name: broken
        label: Broken
        type: select
        prefetch: { lambda: "arn:aws:lambda:us-east-1:123456789012:function:broken" }
      - name: slow
        label: Slow
        type: select
        prefetch: { lambda: "arn:aws:lambda:us-east-1:123456789012:function:slow" }
      - name: queue
        label: Queue
        type: select
        prefetch: { url: "https://tickets.internal/queues" }
"#;

/// What the stand-in received: (function name, payload).
type Calls = Arc<Mutex<Vec<(String, Value)>>>;

async fn invoke(State(calls): State<Calls>, Path(function): Path<String>, body: String) -> (HeaderMap, String) {
    let name = function.rsplit(':').next().unwrap_or_default().to_string();
    calls.lock().unwrap().push((name.clone(), serde_json::from_str(&body).unwrap_or(Value::Null)));
    let mut headers = HeaderMap::new();
    let answer = match name.as_str() {
        "broken" => {
            headers.insert("x-amz-function-error", "Unhandled".parse().unwrap());
            json!({"errorMessage": "boom", "errorType": "Error"})
        }
        "slow" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            json!([])
        }
        _ => json!([{"value": "T-1", "label": "T-1 Broken login"}, "T-2"]),
    };
    (headers, answer.to_string())
}

async fn lambda_api() -> (String, Calls) {
    let calls = Calls::default();
    let app = axum::Router::new()
        .route("/2015-03-31/functions/{function}/invocations", axum::routing::post(invoke))
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (endpoint, calls)
}

/// The URL source the Lambda source delegates to.
struct Urls;

#[async_trait]
impl OptionsSource for Urls {
    async fn options(&self, _flow: &Flow, field: &FieldSpec, query: &str) -> Result<Vec<SelectOption>, OptionsError> {
        Ok(vec![SelectOption { value: format!("{}:{query}", field.name), label: "from the URL source".into() }])
    }
}

async fn source(endpoint: &str) -> LambdaOptionsSource {
    fake_aws_env();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(endpoint).load().await;
    LambdaOptionsSource::new(aws_sdk_lambda::Client::new(&config), Arc::new(Urls))
}

fn option(value: &str, label: &str) -> SelectOption {
    SelectOption { value: value.into(), label: label.into() }
}

#[tokio::test]
async fn lambda_fields_invoke_their_function_and_url_fields_go_to_the_inner_source() {
    let (endpoint, calls) = lambda_api().await;
    let source = source(&endpoint).await;
    let config = Config::from_yaml(CONFIG).unwrap();
    let flow = config.flow("tickets").unwrap();

    let got = source.options(flow, flow.field("ticket").unwrap(), "login").await.unwrap();
    assert_eq!(got, [option("T-1", "T-1 Broken login"), option("T-2", "T-2")]);
    assert_eq!(
        calls.lock().unwrap().clone(),
        [(
            "tickets".to_string(),
            json!({"flow": "tickets", "environment": "prod", "field": "ticket", "query": "login"})
        )]
    );

    let got = source.options(flow, flow.field("queue").unwrap(), "ops").await.unwrap();
    assert_eq!(got, [option("queue:ops", "from the URL source")]);
    assert_eq!(calls.lock().unwrap().len(), 1, "URL fields invoke no function");

    let err = source.options(flow, flow.field("broken").unwrap(), "").await.unwrap_err();
    assert!(matches!(&err, OptionsError::Unavailable(m) if m.contains("Unhandled")), "{err}");
}

#[tokio::test]
async fn url_fields_go_through_the_url_function_when_one_is_set() {
    let (endpoint, calls) = lambda_api().await;
    let source = source(&endpoint).await.with_url_function("arn:aws:lambda:us-east-1:123456789012:function:prefetch");
    let config = Config::from_yaml(CONFIG).unwrap();
    let flow = config.flow("tickets").unwrap();

    let got = source.options(flow, flow.field("queue").unwrap(), "ops").await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(
        calls.lock().unwrap().clone(),
        [("prefetch".to_string(), json!({"flow": "tickets", "environment": "prod", "field": "queue", "query": "ops"}))]
    );
}

#[tokio::test]
async fn a_slow_function_fails_within_slacks_budget() {
    let (endpoint, _) = lambda_api().await;
    let source = source(&endpoint).await;
    let config = Config::from_yaml(CONFIG).unwrap();
    let flow = config.flow("tickets").unwrap();
    let started = Instant::now();
    let err = source.options(flow, flow.field("slow").unwrap(), "").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}: {err}", started.elapsed());
}
