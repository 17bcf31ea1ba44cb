//! [`EventBridgeAuditSink`]: one EventBridge event per audit event, `source: "airlock"`.

use crate::LazyClient;
use airlock_core::audit::AuditEvent;
use airlock_core::ports::AuditSink;
use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_smithy_types::timeout::TimeoutConfig;
use serde_json::json;
use std::time::Duration;

/// The `source` of every event Airlock puts on the bus.
pub const SOURCE: &str = "airlock";
/// An audit event is sent after its change committed; a slow bus must not hold up the caller.
const PUT_TIMEOUT: Duration = Duration::from_secs(3);

/// Puts audit events on a bus; failures are logged, never fatal to the change they record.
#[derive(Clone)]
pub struct EventBridgeAuditSink {
    client: LazyClient<Client>,
    bus: String,
}

impl EventBridgeAuditSink {
    /// Puts events on the bus named (or with the ARN) `bus`.
    pub fn new(client: impl Into<LazyClient<Client>>, bus: impl Into<String>) -> Self {
        Self { client: client.into(), bus: bus.into() }
    }
}

/// The event's `detail`: who did what to which request, when.
pub fn detail(event: &AuditEvent) -> serde_json::Value {
    json!({
        "event_id": event.id,
        "request_id": event.request_id,
        "action": event.action,
        "actor": event.actor.to_string(),
        "flow": event.flow,
        "target": event.target,
        "requester": event.requester,
        "from": event.from,
        "to": event.to,
        "at": event.at,
        "detail": event.detail,
    })
}

#[async_trait]
impl AuditSink for EventBridgeAuditSink {
    async fn emit(&self, event: &AuditEvent) {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(event.title())
            .detail(detail(event).to_string())
            .resources(format!("airlock:request/{}", event.request_id))
            .time(aws_sdk_eventbridge::primitives::DateTime::from_millis(event.at.timestamp_millis()))
            .build();
        let put = self.client.get().await.put_events().entries(entry).customize().config_override(
            aws_sdk_eventbridge::config::Builder::default()
                .timeout_config(TimeoutConfig::builder().operation_timeout(PUT_TIMEOUT).build()),
        );
        match put.send().await {
            Ok(out) if out.failed_entry_count() > 0 => {
                let reason = out.entries().iter().filter_map(|e| e.error_message()).collect::<Vec<_>>().join("; ");
                tracing::warn!(request_id = %event.request_id, reason, "EventBridge refused the audit event");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(request_id = %event.request_id, error = %DisplayErrorContext(e), "EventBridge put failed")
            }
        }
    }
}
