//! The outbox deliverer's handler: every invocation delivers whatever notifications are due. The
//! event that started it (a batch of stream records, the schedule's tick) says only "look now".

use crate::Failure;
use airlock_core::Steps;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// Runs one delivery pass; fails (typed `Airlock.Transient` or `Airlock.Permanent`) only when the
/// store cannot be read or written. A notification Slack refuses is deferred or dropped, not an error.
pub async fn notify_handler(steps: &Steps, _event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let delivered = steps.deliver_notifications().await.map_err(|e| {
        tracing::error!(error = %e, "delivering notifications failed");
        Failure::from(e)
    })?;
    let report = json!({"sent": delivered.sent, "deferred": delivered.deferred, "dropped": delivered.dropped});
    if delivered != Default::default() {
        tracing::info!(%report, "notifications delivered");
    }
    Ok(report)
}

/// The notify function's whole `main`: logging, the adapters built once (with a Slack client that
/// honours `Retry-After`), then the Lambda runtime loop.
pub async fn run_notify_function() -> anyhow::Result<()> {
    crate::init_logging();
    let app = crate::build_with(crate::SlackMode::Background).await?;
    let steps: &'static Steps = Box::leak(Box::new(Steps::new(app.deps)));
    crate::startup::mark("ready");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| notify_handler(steps, event)))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}
