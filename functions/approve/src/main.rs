//! The `approve` Lambda: AwaitDecision (post the approval cards, keep the task token), TimedOut,
//! and EscalationFailed (record and notify; kept out of the escalate function so a broken escalate
//! deployment cannot also lose the failure record).

use airlock_core::StepName;
use airlock_fn_common::{StepFunction, run_step_function};

static SERVES: StepFunction =
    StepFunction { steps: &[StepName::AwaitDecision, StepName::TimedOut, StepName::EscalationFailed], sweeper: false };

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run_step_function(&SERVES).await
}
