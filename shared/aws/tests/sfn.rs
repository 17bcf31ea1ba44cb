//! StepFunctionsWorkflow against moto: one execution per request id, however often it is started;
//! early removals handed to the deescalate function as asynchronous invocations (moto's Lambda, and
//! a stand-in for the Invoke API that shows exactly what is sent).

use airlock_aws::StepFunctionsWorkflow;
use airlock_core::ports::{Workflow, WorkflowError};
use airlock_core::{RequestId, WorkflowState};
use airlock_testkit::{fake_aws_env, moto_endpoint};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    fake_aws_env();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

/// A workflow whose state machine is never used, removing through `function` at `endpoint`.
async fn removing_through(endpoint: &str, function: &str) -> StepFunctionsWorkflow {
    let config = sdk(endpoint).await;
    StepFunctionsWorkflow::new(
        aws_sdk_sfn::Client::new(&config),
        "arn:aws:states:us-east-1:123456789012:stateMachine:x",
    )
    .with_deescalate_function(aws_sdk_lambda::Client::new(&config), function)
}

/// What the stand-in received: (function, invocation type, payload).
type Invocations = Arc<Mutex<Vec<(String, String, Value)>>>;

async fn invoke(
    State(seen): State<Invocations>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let kind = headers.get("x-amz-invocation-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    seen.lock().unwrap().push((function.clone(), kind, serde_json::from_str(&body).unwrap_or(Value::Null)));
    if function == "broken" { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::ACCEPTED }
}

async fn lambda_stand_in() -> (String, Invocations) {
    let seen = Invocations::default();
    let app = axum::Router::new()
        .route("/2015-03-31/functions/{function}/invocations", axum::routing::post(invoke))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (endpoint, seen)
}

#[tokio::test]
async fn remove_now_queues_the_deescalate_step_and_returns() {
    let (endpoint, seen) = lambda_stand_in().await;
    let workflow = removing_through(&endpoint, "airlock-deescalate").await;
    let state = WorkflowState::start(RequestId::generate(), 0);
    workflow.remove_now(&state).await.unwrap();
    let expected = json!({"step": "Deescalate", "state": serde_json::to_value(&state).unwrap()});
    assert_eq!(seen.lock().unwrap().clone(), [("airlock-deescalate".to_string(), "Event".to_string(), expected)]);
    let call: airlock_core::StepCall = serde_json::from_value(seen.lock().unwrap()[0].2.clone()).unwrap();
    assert_eq!(call.state, state, "the step handlers read it as a step call");

    let err = removing_through(&endpoint, "broken").await.remove_now(&state).await.unwrap_err().to_string();
    assert!(err.contains("broken") && err.contains(state.request_id.as_str()), "{err}");
}

#[tokio::test]
async fn remove_now_without_a_deescalate_function_is_an_error() {
    let config = sdk(moto_endpoint()).await;
    let workflow = StepFunctionsWorkflow::new(aws_sdk_sfn::Client::new(&config), "arn:aws:states:::stateMachine:x");
    let err = workflow.remove_now(&WorkflowState::start(RequestId::generate(), 0)).await.unwrap_err();
    assert!(matches!(&err, WorkflowError::NotConfigured(m) if m.contains("AIRLOCK_DEESCALATE_FUNCTION")), "{err}");
}

/// An empty zip archive: moto stores the code, it never runs it here.
const EMPTY_ZIP: [u8; 22] = [0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

#[tokio::test]
async fn remove_now_invokes_a_function_in_moto() {
    let endpoint = moto_endpoint();
    let config = sdk(endpoint).await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    // moto checks that a function's role exists (IAM's query API; moto does not check who asks).
    let role = format!("airlock-remove-{}", &RequestId::generate().as_str()[20..].to_ascii_lowercase());
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let created = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request")
        .form(&[
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", role.as_str()),
            ("AssumeRolePolicyDocument", policy),
        ])
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "CreateRole: {}", created.status());
    let function = lambda
        .create_function()
        .function_name(&role)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .role(format!("arn:aws:iam::123456789012:role/{role}"))
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(EMPTY_ZIP.to_vec()))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = function.function_arn().unwrap();
    let state = WorkflowState::start(RequestId::generate(), 0);
    // moto answers an Event invocation with 202 whether or not it can run the code (no Docker here).
    removing_through(endpoint, arn).await.remove_now(&state).await.expect("moto queued the invocation");

    let missing = format!("{role}-missing");
    let err = removing_through(endpoint, &missing).await.remove_now(&state).await.unwrap_err().to_string();
    assert!(err.contains(&missing) && err.contains("ResourceNotFound"), "{err}");
}

#[tokio::test]
async fn starting_twice_runs_one_execution_named_by_the_request() {
    fake_aws_env();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(moto_endpoint()).load().await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    let name = format!("airlock-{}", RequestId::generate().as_str()[18..].to_ascii_lowercase());
    let machine = sfn
        .create_state_machine()
        .name(&name)
        .role_arn("arn:aws:iam::123456789012:role/airlock-states")
        .definition(r#"{"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 60, "End": true}}}"#)
        .send()
        .await
        .unwrap();
    let arn = machine.state_machine_arn();
    let workflow = StepFunctionsWorkflow::new(sfn.clone(), arn);

    let state = WorkflowState::start(RequestId::generate(), 3600);
    workflow.start(&state).await.unwrap();
    workflow.start(&state).await.expect("a retried start is not an error");
    let executions = sfn.list_executions().state_machine_arn(arn).send().await.unwrap();
    assert_eq!(executions.executions().len(), 1);
    let execution = &executions.executions()[0];
    assert_eq!(execution.name(), state.request_id.as_str());
    let described = sfn.describe_execution().execution_arn(execution.execution_arn()).send().await.unwrap();
    let input: WorkflowState = serde_json::from_str(described.input().unwrap()).unwrap();
    assert_eq!(input, state, "the execution input is the workflow state, schema version included");
}
