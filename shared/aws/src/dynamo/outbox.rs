//! Claiming notifications from the outbox (see the module doc of [`super`] for the key shapes).

use super::codec::{self, Item, OUTBOX_SK_PREFIX, S};
use super::{DynamoStore, Order, SHARDS, unavailable};
use airlock_core::OutboxItem;
use airlock_core::ports::StoreError;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Most claimed-notification keys remembered; beyond this the memory is dropped (a later
/// `notification_done` then looks the key up instead).
const REMEMBERED_CLAIMS: usize = 10_000;

/// Where one `OUTBOX#<shard>` partition is read up to.
struct Cursor {
    shard: u32,
    start: Option<Item>,
    exhausted: bool,
}

impl DynamoStore {
    /// See [`airlock_core::ports::Store::claim_notifications`]. Reads a page of due candidates from
    /// every outbox shard at a time, oldest id first within the pages read, until `limit` are
    /// claimed or nothing due is left.
    pub(super) async fn claim(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let lease = chrono::Duration::from_std(lease).map_err(|e| StoreError::Unavailable(format!("lease: {e}")))?;
        let leased_until = now + lease;
        // `~` sorts after every id character: everything due at `now` is included.
        let upper = format!("{}#~", codec::due_key(now));
        let mut cursors: Vec<Cursor> =
            (0..SHARDS).map(|shard| Cursor { shard, start: None, exhausted: false }).collect();
        // Requests already looked at in this call: at most one notification each.
        let mut requests = HashSet::new();
        let mut claimed = Vec::new();
        while claimed.len() < limit && cursors.iter().any(|c| !c.exhausted) {
            let mut candidates = Vec::new();
            for cursor in cursors.iter_mut().filter(|c| !c.exhausted) {
                let values = HashMap::from([
                    (":pk".to_string(), S(format!("OUTBOX#{}", cursor.shard))),
                    (":upper".to_string(), S(upper.clone())),
                ]);
                let condition = "gsi3pk = :pk AND gsi3sk <= :upper";
                let (items, next) = self
                    .query_page(Some("gsi3"), condition, values, None, Order::Ascending, cursor.start.take())
                    .await?;
                cursor.exhausted = next.is_none();
                cursor.start = next;
                candidates.extend(items);
            }
            let mut candidates: Vec<(OutboxItem, Item)> = candidates
                .into_iter()
                .filter_map(|item| match codec::outbox_of(&item) {
                    Ok(outbox) => Some((outbox, item)),
                    Err(e) => {
                        tracing::error!(key = ?codec::key_of(&item), error = %e, "unreadable notification skipped");
                        None
                    }
                })
                .collect();
            candidates.sort_by(|(a, _), (b, _)| a.id.cmp(&b.id));
            for (candidate, item) in candidates {
                if claimed.len() == limit {
                    break;
                }
                let (outbox, item) = match &candidate.request_id {
                    None => (candidate, item),
                    Some(request) => {
                        if !requests.insert(request.clone()) {
                            continue;
                        }
                        // Only the request's oldest stored notification may go, and only if it is due.
                        match self.oldest_notification(request.as_str()).await? {
                            Some((oldest, item))
                                if codec::string(&item, "gsi3sk").is_some_and(|at| at <= upper.as_str()) =>
                            {
                                (oldest, item)
                            }
                            _ => continue,
                        }
                    }
                };
                if self.lease(item, &outbox.id, leased_until).await? {
                    claimed.push(outbox);
                }
            }
        }
        Ok(claimed)
    }

    /// The oldest notification stored for `request` (a consistent read).
    async fn oldest_notification(&self, request: &str) -> Result<Option<(OutboxItem, Item)>, StoreError> {
        let found = self
            .client
            .get()
            .await
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :ntf)")
            .expression_attribute_values(":pk", S(format!("REQ#{request}")))
            .expression_attribute_values(":ntf", S(OUTBOX_SK_PREFIX.into()))
            .consistent_read(true)
            .limit(1)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = found.items.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        match codec::outbox_of(&item) {
            Ok(outbox) => Ok(Some((outbox, item))),
            Err(e) => {
                // It holds back the request's later notifications until someone looks at it.
                tracing::error!(key = ?codec::key_of(&item), error = %e, "unreadable notification skipped");
                Ok(None)
            }
        }
    }

    /// Moves a notification's due time to `until`, if nobody else did since `item` was read; true
    /// when this call got it.
    async fn lease(&self, mut item: Item, id: &str, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let Some(seen) = item.get("gsi3sk").cloned() else {
            return Ok(false);
        };
        item.insert("gsi3sk".into(), S(codec::outbox_due(until, id)));
        let key = codec::key_of(&item);
        let leased = self
            .client
            .get()
            .await
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("gsi3sk = :seen")
            .expression_attribute_values(":seen", seen)
            .send()
            .await;
        match leased {
            Ok(_) => {
                let mut claimed = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
                if claimed.len() >= REMEMBERED_CLAIMS {
                    claimed.clear();
                }
                claimed.insert(id.to_string(), key);
                Ok(true)
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The primary key of notification `id`: remembered from its claim, or looked up by id (gsi2),
    /// or else the key it has if it belongs to no request.
    pub(super) async fn notification_key(&self, id: &str) -> Result<Item, StoreError> {
        if let Some(key) = self.claimed.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
            return Ok(key.clone());
        }
        let found = self
            .client
            .get()
            .await
            .query()
            .table_name(&self.table)
            .index_name("gsi2")
            .key_condition_expression("gsi2pk = :pk")
            .expression_attribute_values(":pk", S(format!("NTF#{id}")))
            .limit(1)
            .send()
            .await
            .map_err(unavailable)?;
        let found = found.items.unwrap_or_default();
        Ok(found.first().map_or_else(|| codec::outbox_key(None, id), codec::key_of))
    }

    pub(super) fn forget_claim(&self, id: &str) {
        self.claimed.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}
