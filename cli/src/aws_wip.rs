// TEMPORARY while airlock-aws is written; replaced by airlock_aws::bootstrap before commit.
use std::sync::Arc;
pub async fn dynamo_store_from_env() -> anyhow::Result<Arc<dyn airlock_core::ports::Store>> {
    anyhow::bail!("wip")
}
pub async fn sso_escalator_from_env() -> anyhow::Result<Arc<dyn airlock_core::ports::Escalator>> {
    anyhow::bail!("wip")
}
pub async fn event_bridge_sink_from_env(_: &str) -> anyhow::Result<Arc<dyn airlock_core::ports::AuditSink>> {
    anyhow::bail!("wip")
}
