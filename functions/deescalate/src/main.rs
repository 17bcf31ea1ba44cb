//! The `deescalate` Lambda: CheckExpiry, Deescalate, and the scheduled sweeper (`{"sweep": true}`: overdue grants and drift).

use airlock_core::StepName;
use airlock_fn_common::{StepFunction, run_step_function};

static SERVES: StepFunction = StepFunction { steps: &[StepName::CheckExpiry, StepName::Deescalate], sweeper: true };

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run_step_function(&SERVES).await
}
