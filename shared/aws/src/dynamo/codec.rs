//! Requests, audit events and outbox items to and from DynamoDB items: the record as JSON in `data`,
//! plus the key and index attributes the access patterns need.

use super::SHARDS;
use airlock_core::audit::AuditEvent;
use airlock_core::ports::StoreError;
use airlock_core::{AccessRequest, OutboxItem, RequestId, Status};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

#[allow(non_snake_case)]
pub fn S(value: String) -> AttributeValue {
    AttributeValue::S(value)
}

pub fn string<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// A stable shard in `0..SHARDS` from an id's random part.
pub fn shard_of(id: &str) -> u32 {
    id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32)) % SHARDS
}

pub fn status_key(status: Status, shard: u32) -> String {
    format!("STATUS#{status}#{shard}")
}

/// A fixed-width UTC timestamp, so string order is time order.
pub fn due_key(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("unreadable {what} item: {e}"))
}

pub fn request_item(request: &AccessRequest) -> Result<Item, StoreError> {
    let data = serde_json::to_string(request).map_err(|e| corrupt("request", e))?;
    let id = request.id();
    let shard = shard_of(id.as_str());
    let mut item = HashMap::from([
        ("pk".to_string(), S(format!("REQ#{id}"))),
        ("sk".to_string(), S("REQ".into())),
        ("data".to_string(), S(data)),
        ("status".to_string(), S(request.status().as_str().into())),
        ("version".to_string(), AttributeValue::N(request.version().to_string())),
        ("access_key".to_string(), S(request.access_key().to_string())),
        ("gsi1pk".to_string(), S(format!("USER#{}", request.requester().user_key()))),
        ("gsi1sk".to_string(), S(id.to_string())),
        ("gsi2pk".to_string(), S(status_key(request.status(), shard))),
        ("gsi2sk".to_string(), S(id.to_string())),
    ]);
    let keys: Vec<String> = request.targets().iter().map(|t| t.access_key().to_string()).collect();
    item.insert("access_keys".into(), AttributeValue::Ss(keys));
    if let Some(due) = request.removal_due() {
        item.insert("gsi3pk".into(), S(format!("DUE#{shard}")));
        item.insert("gsi3sk".into(), S(format!("{}#{id}", due_key(due))));
    }
    Ok(item)
}

pub fn request_of(item: &Item) -> Result<AccessRequest, StoreError> {
    let data = string(item, "data").ok_or_else(|| corrupt("request", "no data attribute"))?;
    serde_json::from_str(data).map_err(|e| corrupt("request", e))
}

pub fn event_item(event: &AuditEvent) -> Result<Item, StoreError> {
    let data = serde_json::to_string(event).map_err(|e| corrupt("audit event", e))?;
    Ok(HashMap::from([
        ("pk".to_string(), S(format!("REQ#{}", event.request_id))),
        ("sk".to_string(), S(format!("EVT#{}", event.id))),
        ("data".to_string(), S(data)),
    ]))
}

pub fn event_of(item: &Item) -> Result<AuditEvent, StoreError> {
    let data = string(item, "data").ok_or_else(|| corrupt("audit event", "no data attribute"))?;
    serde_json::from_str(data).map_err(|e| corrupt("audit event", e))
}

/// The partition of the outbox's due index (gsi3) that holds a notification: by its request, so
/// one request's notifications share a shard.
fn outbox_partition(item: &OutboxItem) -> String {
    let shard = shard_of(item.request_id.as_ref().map_or(item.id.as_str(), RequestId::as_str));
    format!("OUTBOX#{shard}")
}

/// The due index's sort key of a notification due (or leased) until `at`.
pub fn outbox_due(at: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", due_key(at))
}

/// The primary key of a notification: in its request's partition (so the oldest one of a request
/// is one consistent query away), or in its own when it belongs to no request.
pub fn outbox_key(request_id: Option<&RequestId>, id: &str) -> Item {
    match request_id {
        Some(request) => HashMap::from([
            ("pk".to_string(), S(format!("REQ#{request}"))),
            ("sk".to_string(), S(format!("{OUTBOX_SK_PREFIX}{id}"))),
        ]),
        None => HashMap::from([("pk".to_string(), S(format!("NTF#{id}"))), ("sk".to_string(), S("NTF".into()))]),
    }
}

/// The sort-key prefix of notifications in a request's partition.
pub const OUTBOX_SK_PREFIX: &str = "NTF#";

pub fn outbox_item(item: &OutboxItem) -> Result<Item, StoreError> {
    let data = serde_json::to_string(item).map_err(|e| corrupt("outbox", e))?;
    let mut stored = outbox_key(item.request_id.as_ref(), &item.id);
    stored.extend([
        ("data".to_string(), S(data)),
        ("gsi2pk".to_string(), S(format!("NTF#{}", item.id))),
        ("gsi2sk".to_string(), S("NTF".into())),
        ("gsi3pk".to_string(), S(outbox_partition(item))),
        ("gsi3sk".to_string(), S(outbox_due(item.due_at, &item.id))),
    ]);
    Ok(stored)
}

pub fn outbox_of(item: &Item) -> Result<OutboxItem, StoreError> {
    let data = string(item, "data").ok_or_else(|| corrupt("outbox", "no data attribute"))?;
    serde_json::from_str(data).map_err(|e| corrupt("outbox", e))
}

/// The primary key attributes of a stored item.
pub fn key_of(item: &Item) -> Item {
    item.iter().filter(|(name, _)| *name == "pk" || *name == "sk").map(|(n, v)| (n.clone(), v.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_keys_sort_like_times() {
        let a = due_key("2026-01-02T03:04:05Z".parse().unwrap());
        let b = due_key("2026-01-02T03:04:05.5Z".parse().unwrap());
        let c = due_key("2026-01-02T10:00:00Z".parse().unwrap());
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(a.len(), c.len());
    }

    #[test]
    fn shards_are_stable_and_in_range() {
        let id: RequestId = "req_01JD0000000000000000000000".parse().unwrap();
        assert_eq!(shard_of(id.as_str()), shard_of(id.clone().as_str()));
        assert!(shard_of(id.as_str()) < SHARDS);
    }
}
