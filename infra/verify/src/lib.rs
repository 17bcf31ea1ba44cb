//! Support for running `infra/statemachine.asl.json` under moto: the definition with its
//! substitutions applied, fake step Lambdas whose answers the test queues, and the execution's
//! history as the list of states it entered.

use airlock_core::WorkflowState;
use airlock_testkit::{fake_aws_env, moto_endpoint, workspace_root};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, MutexGuard};

/// The definition as committed.
pub fn definition() -> Value {
    let text = std::fs::read_to_string(workspace_root().join("infra/statemachine.asl.json")).expect("read the ASL");
    serde_json::from_str(&text).expect("the ASL is JSON")
}

/// moto keeps one queue of Lambda answers per region: executions that invoke Lambdas run one at a time.
static LAMBDA_QUEUE: Mutex<()> = Mutex::const_new(());

/// A moto account with the step functions created and state machine execution turned on.
pub struct Moto {
    pub sfn: aws_sdk_sfn::Client,
    lambda: aws_sdk_lambda::Client,
    http: reqwest::Client,
    _turn: MutexGuard<'static, ()>,
}

const ROLE: &str = "arn:aws:iam::123456789012:role/airlock-test";
/// An empty zip archive: moto stores the code, it never runs it.
const EMPTY_ZIP: [u8; 22] = [0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

impl Moto {
    pub async fn start() -> Moto {
        let turn = LAMBDA_QUEUE.lock().await;
        fake_aws_env();
        let endpoint = moto_endpoint();
        let http = reqwest::Client::new();
        let config = json!({"stepfunctions": {"execute_state_machine": true}, "lambda": {"use_docker": false}});
        let answer = http.post(format!("{endpoint}/moto-api/config")).json(&config).send().await.unwrap();
        assert!(answer.status().is_success(), "moto config: {}", answer.status());
        // IAM's query API: moto checks that a Lambda's role exists, not who asks.
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        http.post(format!("{endpoint}/"))
            .header("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request")
            .form(&[
                ("Action", "CreateRole"),
                ("Version", "2010-05-08"),
                ("RoleName", "airlock-test"),
                ("AssumeRolePolicyDocument", policy),
            ])
            .send()
            .await
            .unwrap();
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(endpoint).load().await;
        let moto =
            Moto { sfn: aws_sdk_sfn::Client::new(&sdk), lambda: aws_sdk_lambda::Client::new(&sdk), http, _turn: turn };
        moto.drain_answers().await;
        moto
    }

    /// Consumes answers an earlier, failed test left queued, so they cannot leak into this one:
    /// with an empty queue moto's lambda-simple echoes the request.
    async fn drain_answers(&self) {
        let function = self.function("airlock-drain").await;
        for attempt in 0..1000 {
            let probe = format!("{{\"drain\":{attempt}}}");
            let answer = self.lambda.invoke().function_name(&function).payload(Blob::new(probe.clone())).send().await;
            let echoed = answer.unwrap().payload().map(|p| p.as_ref().to_vec());
            if echoed.as_deref() == Some(probe.as_bytes()) {
                return;
            }
        }
        panic!("moto's Lambda answer queue did not drain");
    }

    /// Creates (or finds) a fake function and returns its ARN.
    pub async fn function(&self, name: &str) -> String {
        if let Ok(found) = self.lambda.get_function().function_name(name).send().await {
            return found.configuration().and_then(|c| c.function_arn()).unwrap().to_string();
        }
        let created = self
            .lambda
            .create_function()
            .function_name(name)
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .handler("bootstrap")
            .role(ROLE)
            .code(aws_sdk_lambda::types::FunctionCode::builder().zip_file(Blob::new(EMPTY_ZIP.to_vec())).build())
            .send()
            .await
            .unwrap();
        created.function_arn().unwrap().to_string()
    }

    /// Creates a state machine from the committed definition, its substitutions pointing at the fake functions.
    pub async fn state_machine(&self, name: &str) -> String {
        let mut text = definition().to_string();
        for (placeholder, function) in [
            ("RequestFunctionArn", self.function("airlock-request").await),
            ("ApproveFunctionArn", self.function("airlock-approve").await),
            ("EscalateFunctionArn", self.function("airlock-escalate").await),
            ("DeescalateFunctionArn", self.function("airlock-deescalate").await),
        ] {
            text = text.replace(&format!("${{{placeholder}}}"), &function);
        }
        assert!(!text.contains("${"), "every substitution is applied");
        let created = self.sfn.create_state_machine().name(name).role_arn(ROLE).definition(text).send().await.unwrap();
        created.state_machine_arn().to_string()
    }

    /// An answer that makes the invoked step fail for good. moto's lambda-simple answers can only be
    /// successes, except that one over Lambda's 6 MB response limit becomes a function error
    /// (`Function.ResponseSizeTooLarge`): neither retried nor timed out, so only a `States.ALL`
    /// Catch takes it, as it takes an `Airlock.Permanent` step error.
    pub fn failure() -> Value {
        Value::String("x".repeat(6_100_000))
    }

    /// Queues what the next Lambda invocations answer, in order.
    pub async fn answers(&self, answers: &[Value]) {
        let results: Vec<String> = answers.iter().map(Value::to_string).collect();
        let body = json!({"results": results, "region": "us-east-1"});
        let answer = self
            .http
            .post(format!("{}/moto-api/static/lambda-simple/response", moto_endpoint()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "queueing Lambda answers: {}", answer.status());
    }

    pub async fn start_execution(&self, machine: &str, state: &WorkflowState) -> String {
        let started = self
            .sfn
            .start_execution()
            .state_machine_arn(machine)
            .name(state.request_id.as_str())
            .input(serde_json::to_string(state).unwrap())
            .send()
            .await
            .unwrap();
        started.execution_arn().to_string()
    }

    pub async fn history(&self, execution: &str) -> Vec<HistoryEvent> {
        self.sfn.get_execution_history().execution_arn(execution).send().await.unwrap().events().to_vec()
    }

    /// The payloads the execution's Lambda tasks were scheduled with, in order.
    pub async fn scheduled_payloads(&self, execution: &str) -> Vec<Value> {
        let mut payloads = Vec::new();
        for event in self.history(execution).await {
            let Some(scheduled) = event.task_scheduled_event_details() else { continue };
            let parameters: Value = serde_json::from_str(scheduled.parameters()).unwrap();
            payloads.push(match &parameters["Payload"] {
                Value::String(s) => serde_json::from_str(s).unwrap(),
                other => other.clone(),
            });
        }
        payloads
    }

    /// Waits for the AwaitDecision task to be scheduled and returns the token it was given.
    pub async fn task_token(&self, execution: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let payloads = self.scheduled_payloads(execution).await;
            if let Some(payload) = payloads.iter().find(|p| p["step"] == "AwaitDecision") {
                return payload["task_token"].as_str().expect("AwaitDecision gets a token").to_string();
            }
            assert!(
                Instant::now() < deadline,
                "AwaitDecision was never scheduled: {:?}",
                self.entered(execution).await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the execution to end; its status.
    pub async fn finished(&self, execution: &str) -> ExecutionStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let described = self.sfn.describe_execution().execution_arn(execution).send().await.unwrap();
            if described.status() != &ExecutionStatus::Running {
                return described.status().clone();
            }
            assert!(Instant::now() < deadline, "still running: {:?}", self.entered(execution).await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The names of the states the execution entered, in order.
    pub async fn entered(&self, execution: &str) -> Vec<String> {
        self.history(execution)
            .await
            .iter()
            .filter_map(|e| e.state_entered_event_details().map(|d| d.name().to_string()))
            .collect()
    }
}
