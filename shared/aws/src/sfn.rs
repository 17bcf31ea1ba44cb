//! [`StepFunctionsWorkflow`]: the `Workflow` port on the state machine in `infra/statemachine.asl.json`.

use airlock_core::WorkflowState;
use airlock_core::ports::Workflow;
use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::DisplayErrorContext;

/// One execution per request, named by the request id.
#[derive(Clone)]
pub struct StepFunctionsWorkflow {
    client: Client,
    state_machine_arn: String,
}

impl StepFunctionsWorkflow {
    /// Starts executions of `state_machine_arn` and answers its `waitForTaskToken` tasks.
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self { client, state_machine_arn: state_machine_arn.into() }
    }
}

#[async_trait]
impl Workflow for StepFunctionsWorkflow {
    async fn start(&self, state: &WorkflowState) -> Result<(), String> {
        let input = serde_json::to_string(state).map_err(|e| e.to_string())?;
        let started = self
            .client
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
            Err(e) => Err(format!("StartExecution for {}: {}", state.request_id, DisplayErrorContext(e))),
        }
    }

    async fn send_decision(&self, task_token: &str, state: &WorkflowState) -> Result<(), String> {
        let output = serde_json::to_string(state).map_err(|e| e.to_string())?;
        self.client.send_task_success().task_token(task_token).output(output).send().await.map(drop).map_err(
            |e| match e.as_service_error() {
                Some(s) if s.is_task_timed_out() => "TaskTimedOut: the approval already timed out".to_string(),
                Some(s) if s.is_invalid_token() => "InvalidToken: the workflow does not know this task".to_string(),
                Some(s) if s.is_task_does_not_exist() => {
                    "TaskDoesNotExist: the workflow no longer waits for this decision".to_string()
                }
                _ => format!("SendTaskSuccess: {}", DisplayErrorContext(e)),
            },
        )
    }
}
