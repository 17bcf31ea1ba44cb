//! Step Functions state transitions of one request, counted from an execution of the committed
//! definition by moto's interpreter (the step Lambdas' answers queued, as `infra/verify` does):
//! submitted, approved by a person, granted, `extensions` times extended, expired and removed.

use airlock_core::{Decision, Hold, RequestId, Route, WorkflowState};
use airlock_infra_verify::Moto;
use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::{Value, to_value};

/// The states the execution entered (each one a billed transition).
pub async fn count(extensions: usize) -> anyhow::Result<u32> {
    let moto = Moto::start().await;
    let suffix = RequestId::generate().as_str()[18..].to_ascii_lowercase();
    let machine = moto.state_machine(&format!("airlock-cost-{suffix}")).await;
    let state = WorkflowState::start(RequestId::generate(), 3600);
    let decided = WorkflowState { decision: Some(Decision::Approved), ..state.clone() };
    let granted =
        WorkflowState { expires_at: Some(chrono::Utc::now() - chrono::Duration::seconds(1)), ..decided.clone() };
    let held = |hold: Hold| to_value(WorkflowState { hold: Some(hold), ..granted.clone() });
    let mut answers = vec![
        to_value(WorkflowState { route: Some(Route::NeedsApproval), ..state.clone() })?,
        Value::Null, // AwaitDecision's own answer is ignored.
        to_value(&granted)?,
    ];
    for _ in 0..extensions {
        answers.push(held(Hold::Wait)?);
    }
    answers.push(held(Hold::Done)?);
    answers.push(to_value(&granted)?);
    moto.answers(&answers).await;
    let execution = moto.start_execution(&machine, &state).await;
    let token = moto.task_token(&execution).await;
    moto.sfn.send_task_success().task_token(token).output(serde_json::to_string(&decided)?).send().await?;
    let status = moto.finished(&execution).await;
    if status != ExecutionStatus::Succeeded {
        anyhow::bail!("the execution ended {status:?}");
    }
    Ok(u32::try_from(moto.entered(&execution).await.len())?)
}
