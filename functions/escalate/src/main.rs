//! The `escalate` Lambda: Escalate, which grants the access in the target system.

use airlock_core::StepName;
use airlock_fn_common::{StepFunction, run_step_function};

static SERVES: StepFunction = StepFunction { steps: &[StepName::Escalate], sweeper: false };

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run_step_function(&SERVES).await
}
