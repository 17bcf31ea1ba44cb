//! The runner's deliverer: drains the store's outbox in the background, as the notify function
//! does on AWS. A notification written with a state change is delivered within one polling
//! interval; a failed one when its backoff (or Slack's `Retry-After`) has passed.

use super::LocalRunner;
use std::sync::Arc;
use std::time::Duration;

/// How often the outbox is polled.
pub(super) const DELIVERY_INTERVAL: Duration = Duration::from_millis(200);

impl LocalRunner {
    pub(super) fn start_deliverer(self: &Arc<Self>) {
        let runner = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                match runner.steps.deliver_notifications().await {
                    Ok(d) if d.deferred + d.dropped > 0 => {
                        tracing::warn!(
                            sent = d.sent,
                            deferred = d.deferred,
                            dropped = d.dropped,
                            "notifications delivered"
                        )
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "notification delivery failed; retrying"),
                }
                if !runner.sleep(DELIVERY_INTERVAL).await {
                    return;
                }
            }
        });
    }
}
