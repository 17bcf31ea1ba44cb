//! The handler of the state machine's task states: a [`StepCall`] in, the next [`WorkflowState`] out,
//! errors typed `Airlock.Transient` / `Airlock.Permanent` for the definition's Retry and Catch.

use crate::Failure;
use airlock_aws::metrics::{Metrics, SweepFindings};
use airlock_core::ports::Workflow;
use airlock_core::services::{StepError, StepOutcome};
use airlock_core::workflow::State;
use airlock_core::{StepCall, StepName, Steps};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// Which task states a function serves, and whether it also runs the scheduled sweeper.
pub struct StepFunction {
    pub steps: &'static [StepName],
    pub sweeper: bool,
}

/// Runs one invocation: a task state (`{"step", "state", "task_token"}`) or, for the function that
/// owns it, the sweeper (`{"sweep": true}`). `decisions` sends the outcome of a task that waits for
/// its token when the step finds it decided already (a decision that came before the token was
/// stored): Step Functions ignores such a task's own output.
pub async fn step_handler(
    steps: &Steps,
    serves: &StepFunction,
    decisions: Option<&dyn Workflow>,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic> {
    let payload = event.payload;
    if serves.sweeper && payload.get("sweep").and_then(Value::as_bool) == Some(true) {
        return sweep(steps).await;
    }
    let call: StepCall =
        serde_json::from_value(payload).map_err(|e| Failure::permanent(format!("not a step call: {e}")))?;
    if !serves.steps.contains(&call.step) {
        return Err(Failure::permanent(format!("this function does not run {}", call.step.as_str())).into());
    }
    let (step, request_id, state) = (call.step, call.state.request_id.clone(), call.state.clone());
    let waits_for_token = matches!(step.state(), State::Task(task) if task.awaits_token.is_some());
    let token = call.task_token.clone().filter(|_| waits_for_token);
    let outcome = steps.run(call).await.map_err(|e| {
        tracing::error!(request_id = %request_id, step = step.as_str(), error = %e, "step failed");
        Failure(e)
    })?;
    // A waitForTaskToken task's own output is ignored: the decision arrives with SendTaskSuccess.
    let next = match outcome {
        StepOutcome::Next(next) => {
            if let Some(token) = &token {
                let decisions = decisions.ok_or_else(|| {
                    Failure::permanent(format!("{} found a decision but cannot send it with its token", step.as_str()))
                })?;
                decisions.send_decision(token, &next).await.map_err(|e| {
                    tracing::error!(request_id = %request_id, error = %e, "could not send the decision found");
                    Failure(StepError::Transient(format!("sending the decision: {e}")))
                })?;
            }
            next
        }
        StepOutcome::Waiting => state,
    };
    Ok(serde_json::to_value(next).map_err(|e| Failure::permanent(e.to_string()))?)
}

/// The scheduled backstop: overdue removals first, then reminders, then the drift check. Each part
/// runs even if an earlier one failed; what the parts that ran found is published as metrics; the
/// first failure is the invocation's error.
async fn sweep(steps: &Steps) -> Result<Value, Diagnostic> {
    let mut failures = Vec::new();
    let mut failed = |part: &str, e: airlock_core::Error| {
        tracing::error!(part, error = %e, "sweep part failed");
        failures.push(StepError::from(e));
    };
    let removed = steps.sweep().await.map_err(|e| failed("removals", e)).ok();
    let reminded = steps.remind().await.map_err(|e| failed("reminders", e)).ok();
    let drift = steps.reconcile().await.map_err(|e| failed("drift", e)).ok();
    let findings = SweepFindings {
        overdue_removals: removed,
        active_grants: reminded.map(|r| r.active),
        drift_removed: drift.as_ref().map(|d| d.removed.len()),
        drift_reported: drift.as_ref().map(|d| d.reported.len()),
    };
    findings.record(&Metrics::stdout());
    if let Some(first) = failures.into_iter().next() {
        return Err(Failure(first).into());
    }
    let report = json!({
        "removed": removed,
        "approver_reminders": reminded.map(|r| r.approvers),
        "expiry_warnings": reminded.map(|r| r.expiry),
        "drift_removed": drift.as_ref().map(|d| d.removed.len()),
        "drift_reported": drift.as_ref().map(|d| d.reported.len()),
    });
    tracing::info!(%report, "sweep done");
    Ok(report)
}

/// A step function's whole `main`: logging, the adapters built once, then the Lambda runtime loop.
pub async fn run_step_function(serves: &'static StepFunction) -> anyhow::Result<()> {
    crate::init_logging();
    let app = crate::build().await?;
    let decisions: Option<&'static dyn Workflow> = if serves.steps.contains(&StepName::AwaitDecision) {
        let sender: &'static std::sync::Arc<dyn Workflow> =
            Box::leak(Box::new(airlock_aws::bootstrap::decision_sender()));
        Some(sender.as_ref())
    } else {
        None
    };
    let steps: &'static Steps = Box::leak(Box::new(Steps::new(app.deps)));
    crate::startup::mark("ready");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| step_handler(steps, serves, decisions, event)))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}
