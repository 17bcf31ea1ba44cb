//! StepFunctionsWorkflow against moto: one execution per request id, however often it is started.

use airlock_aws::StepFunctionsWorkflow;
use airlock_core::ports::Workflow;
use airlock_core::{RequestId, WorkflowState};
use airlock_testkit::{fake_aws_env, moto_endpoint};

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
