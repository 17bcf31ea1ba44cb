//! The `notify` Lambda: delivers the outbox (every due notification, oldest first) on each
//! invocation, whatever started it: the table's stream when a notification is written, or the
//! one-minute schedule that retries deferred ones.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    airlock_fn_common::run_notify_function().await
}
