//! The `approve` Lambda: AwaitDecision (post the approval cards, keep the task token), TimedOut,
//! and EscalationFailed (record and notify; kept out of the escalate function so a broken escalate
//! deployment cannot also lose the failure record).

use airlock_core::{StepName, Steps};
use airlock_fn_common::{StepFunction, build, init_logging, step_handler};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

const SERVES: StepFunction =
    StepFunction { steps: &[StepName::AwaitDecision, StepName::TimedOut, StepName::EscalationFailed], sweeper: false };

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging();
    let steps: &'static Steps = Box::leak(Box::new(Steps::new(build().await?.deps)));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| step_handler(steps, &SERVES, event)))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}
