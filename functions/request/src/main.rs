//! The `request` Lambda: the Request state, which routes a new request by its flow's rules.

use airlock_core::StepName;
use airlock_fn_common::{StepFunction, run_step_function};

static SERVES: StepFunction = StepFunction { steps: &[StepName::Request], sweeper: false };

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run_step_function(&SERVES).await
}
