//! [`StepFunctionsWorkflow`]: the `Workflow` port on the state machine in `infra/statemachine.asl.json`.

use crate::LazyClient;
use airlock_core::ports::{Workflow, WorkflowError};
use airlock_core::{StepCall, StepName, WorkflowState};
use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::DisplayErrorContext;
use aws_smithy_types::timeout::TimeoutConfig;
use std::time::Duration;

/// The longest an early removal may hold up its caller (an API answer) to be handed to Lambda.
const HAND_OFF_TIMEOUT: Duration = Duration::from_secs(3);

/// One execution per request, named by the request id; early removals go straight to the
/// deescalate function.
#[derive(Clone)]
pub struct StepFunctionsWorkflow {
    client: LazyClient<Client>,
    state_machine_arn: String,
    deescalate: Option<(LazyClient<aws_sdk_lambda::Client>, String)>,
}

impl StepFunctionsWorkflow {
    /// Starts executions of `state_machine_arn` and answers its `waitForTaskToken` tasks.
    pub fn new(client: impl Into<LazyClient<Client>>, state_machine_arn: impl Into<String>) -> Self {
        Self { client: client.into(), state_machine_arn: state_machine_arn.into(), deescalate: None }
    }

    /// Runs [`Workflow::remove_now`] by invoking `function` (name or ARN of the deescalate function)
    /// asynchronously with the Deescalate step call. Without it, `remove_now` fails and the
    /// sweeper removes the access.
    pub fn with_deescalate_function(
        mut self,
        lambda: impl Into<LazyClient<aws_sdk_lambda::Client>>,
        function: impl Into<String>,
    ) -> Self {
        self.deescalate = Some((lambda.into(), function.into()));
        self
    }
}

#[async_trait]
impl Workflow for StepFunctionsWorkflow {
    async fn start(&self, state: &WorkflowState) -> Result<(), WorkflowError> {
        let input = serde_json::to_string(state).map_err(|e| WorkflowError::Rejected(e.to_string()))?;
        let started = self
            .client
            .get()
            .await
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(state.request_id.as_str())
            .input(input)
            .send()
            .await;
        match started {
            Ok(_) => Ok(()),
            // The execution name is the request id: a retried start finds the first one.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_execution_already_exists()) => Ok(()),
            Err(e) => {
                let rejected = e.as_service_error().is_some_and(|s| {
                    s.is_invalid_arn()
                        || s.is_invalid_execution_input()
                        || s.is_invalid_name()
                        || s.is_state_machine_does_not_exist()
                        || s.is_state_machine_deleting()
                        || s.is_validation_exception()
                });
                let message = format!("StartExecution for {}: {}", state.request_id, DisplayErrorContext(e));
                Err(if rejected { WorkflowError::Rejected(message) } else { WorkflowError::Unavailable(message) })
            }
        }
    }

    async fn send_decision(&self, task_token: &str, state: &WorkflowState) -> Result<(), WorkflowError> {
        let output = serde_json::to_string(state).map_err(|e| WorkflowError::Rejected(e.to_string()))?;
        self.client
            .get()
            .await
            .send_task_success()
            .task_token(task_token)
            .output(output)
            .send()
            .await
            .map(drop)
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_task_timed_out() => {
                    WorkflowError::Rejected("TaskTimedOut: the approval already timed out".into())
                }
                Some(s) if s.is_invalid_token() => {
                    WorkflowError::Rejected("InvalidToken: the workflow does not know this task".into())
                }
                Some(s) if s.is_task_does_not_exist() => {
                    WorkflowError::Rejected("TaskDoesNotExist: the workflow no longer waits for this decision".into())
                }
                Some(s) if s.is_invalid_output() => WorkflowError::Rejected(format!("SendTaskSuccess: {s}")),
                _ => WorkflowError::Unavailable(format!("SendTaskSuccess: {}", DisplayErrorContext(e))),
            })
    }

    /// Invokes the deescalate function with `{"step": "Deescalate", "state": ...}` as an `Event`:
    /// Lambda queues it and answers at once, retries a failed run twice, and the sweeper removes
    /// anything that still fails.
    async fn remove_now(&self, state: &WorkflowState) -> Result<(), WorkflowError> {
        let Some((lambda, function)) = &self.deescalate else {
            return Err(WorkflowError::NotConfigured(
                "no deescalate function is configured (AIRLOCK_DEESCALATE_FUNCTION)".into(),
            ));
        };
        let call = StepCall { step: StepName::Deescalate, state: state.clone(), task_token: None };
        let payload = serde_json::to_vec(&call).map_err(|e| WorkflowError::Rejected(e.to_string()))?;
        let out = lambda
            .get()
            .await
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .customize()
            .config_override(
                aws_sdk_lambda::config::Builder::default()
                    .timeout_config(TimeoutConfig::builder().operation_timeout(HAND_OFF_TIMEOUT).build()),
            )
            .send()
            .await
            .map_err(|e| {
                WorkflowError::Unavailable(format!(
                    "invoking {function} for {}: {}",
                    state.request_id,
                    aws_sdk_lambda::error::DisplayErrorContext(e)
                ))
            })?;
        match out.status_code() {
            202 => Ok(()),
            other => Err(WorkflowError::Unavailable(format!(
                "{function} did not queue the removal of {} (status {other})",
                state.request_id
            ))),
        }
    }
}
