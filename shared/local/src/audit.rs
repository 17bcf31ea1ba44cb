//! The local audit sink: the store keeps the records and core logs one JSON line per event, so
//! nothing more is sent anywhere.

use airlock_core::AuditEvent;
use airlock_core::ports::AuditSink;
use async_trait::async_trait;

/// Adds nothing to the store's record and the JSON audit log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAuditSink;

#[async_trait]
impl AuditSink for LogAuditSink {
    async fn emit(&self, event: &AuditEvent) {
        tracing::debug!(event_id = %event.id, "audit event recorded locally");
    }
}
