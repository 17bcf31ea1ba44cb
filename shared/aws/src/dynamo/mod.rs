//! [`DynamoStore`]: the `Store` port on one DynamoDB table.
//!
//! # Table schema (`template.yaml` must match [`DynamoStore::create_table`])
//!
//! * Billing: on demand (`PAY_PER_REQUEST`). Key: `pk` (S, HASH), `sk` (S, RANGE).
//! * Attribute definitions (all S): `pk`, `sk`, `gsi1pk`, `gsi1sk`, `gsi2pk`, `gsi2sk`, `gsi3pk`, `gsi3sk`.
//! * Global secondary indexes, each keyed `<name>pk` (HASH) + `<name>sk` (RANGE), projection `ALL`:
//!   `gsi1`, `gsi2`, `gsi3`.
//! * Time to live on the attribute `ttl` (epoch seconds); only idempotency keys carry it.
//!
//! Items:
//!
//! | item | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | request | `REQ#<id>` | `REQ` | `data` (S, the request as JSON), `status` (S), `version` (N), `access_key` (S, the first target's), `access_keys` (SS, every target's), index keys |
//! | audit event | `REQ#<id>` | `EVT#<event id>` | `data` (S, the event as JSON) |
//! | notification of a request | `REQ#<id>` | `NTF#<notification id>` | `data` (S, the outbox item as JSON), index keys |
//! | notification of no request | `NTF#<notification id>` | `NTF` | as above |
//! | open-request lock, one per target | `OPEN#<user>#<access key>` | `OPEN` | `request_id` (S) |
//! | idempotency key | `IDEM#<key>` | `IDEM` | `ttl` (N, epoch seconds) |
//! | role, member domain, their audit events | `ROLES` | `USER#<email>`, `DOMAIN#<domain>`, `EVT#<event id>` | see `roles.rs` |
//!
//! Indexes, one per non-key access pattern of docs/architecture.md#records-and-access-patterns (no scans); each index holds several
//! kinds of partition, told apart by the partition key's prefix:
//! * `gsi1` (`gsi1pk` = `USER#<email>`, `gsi1sk` = id): a user's requests, newest first. A user's
//!   requests for one access key are that partition filtered on `access_key`.
//! * `gsi2` (`gsi2pk` = `STATUS#<status>#<shard>`, `gsi2sk` = id): requests by status, spread over
//!   [`SHARDS`] partitions by a hash of the id so no status is one hot partition; listings query
//!   every shard and merge. Also `gsi2pk` = `NTF#<notification id>`, `gsi2sk` = `NTF`: a
//!   notification's key from its id alone.
//! * `gsi3` (`gsi3pk` = `DUE#<shard>`, `gsi3sk` = `<removal due, RFC 3339 UTC millis>#<id>`): sparse,
//!   only on requests that still hold access; the sweeper's "removal due before T", earliest first.
//!   Also `gsi3pk` = `OUTBOX#<shard of the request id>`, `gsi3sk` = `<due or leased until>#<notification id>`:
//!   every stored notification, by when it may next be claimed.
//!
//! Audit events and notifications live in their request's partition, ordered by their sortable ids.
//! Every status change is one `TransactWriteItems`: the request put conditional on the expected
//! status and version, its audit event, the open-request locks (one per target, created with a new
//! request, each deleted by the write that ends its target's claim: the target failed or was
//! removed, or the request ended) and the notifications the change implies. A transaction holds at most 100 items:
//! notifications beyond that are written in further transactions right after the change (not
//! atomically with it; a failure there is logged, the change stands).
//!
//! Claiming notifications: candidates are read from the `OUTBOX#` partitions of `gsi3` up to "now",
//! earliest due first; for a request's notification the oldest notification stored in the request's
//! partition is read with a consistent query (limit 1), and only that one may be claimed, if due: a
//! request's notifications go out in the order they were written. A claim is a put conditional on
//! the `gsi3sk` read (due time unchanged) that moves it to the end of the lease, so two claimers
//! never take the same notification. Only `GetItem`, `PutItem`, `DeleteItem`, `ConditionCheckItem`
//! and `Query` are used (transactions included).

mod codec;
mod outbox;
mod roles;

use crate::LazyClient;
use airlock_core::audit::AuditEvent;
use airlock_core::ports::{Store, StoreError};
use airlock_core::{AccessRequest, OutboxItem, RequestId, Status};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection, ProjectionType, Put, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
};
use chrono::{DateTime, Utc};
use codec::{Item, S, due_key, request_item};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Partitions each status (gsi2), the removal-due index and the outbox (gsi3) are spread over.
pub const SHARDS: u32 = 4;
/// The table's TTL attribute.
pub const TTL_ATTRIBUTE: &str = "ttl";
/// Items read per query page.
const PAGE: i32 = 100;
/// DynamoDB's limit on the items of one `TransactWriteItems`.
const MAX_TRANSACTION_ITEMS: usize = 100;

/// The shard (`0..SHARDS`) whose `STATUS#`, `DUE#` and `OUTBOX#` partitions hold `request`.
pub fn shard_of_request(request: &RequestId) -> u32 {
    codec::shard_of(request.as_str())
}

/// Airlock's records in DynamoDB.
#[derive(Clone)]
pub struct DynamoStore {
    client: LazyClient<Client>,
    table: String,
    page: i32,
    /// Keys of the notifications this store claimed, by id, so finishing one needs no lookup.
    claimed: Arc<Mutex<HashMap<String, Item>>>,
}

/// Which end of an index partition a listing starts from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Descending sort key: newest ids first.
    Descending,
    /// Ascending sort key: earliest due first.
    Ascending,
}

/// A filter expression and the attribute names it uses.
struct Filter<'a> {
    expression: &'a str,
    names: &'a [(&'a str, &'a str)],
}

fn unavailable<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Unavailable(format!("DynamoDB: {}", DisplayErrorContext(e)))
}

impl DynamoStore {
    /// A store on `table`, which must have the schema [`create_table`](Self::create_table) makes.
    pub fn new(client: impl Into<LazyClient<Client>>, table: impl Into<String>) -> Self {
        Self { client: client.into(), table: table.into(), page: PAGE, claimed: Arc::default() }
    }

    /// Reads at most `items` items per query page (default 100); listings follow the pages.
    pub fn with_page_size(mut self, items: u16) -> Self {
        self.page = i32::from(items.max(1));
        self
    }

    /// Creates the table as `template.yaml` defines it (for local runs and tests).
    pub async fn create_table(client: &Client, table: &str) -> anyhow::Result<()> {
        let key = |name: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
        let attribute = |name: &str| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()
        };
        let mut request = client.create_table().table_name(table).billing_mode(BillingMode::PayPerRequest);
        for name in ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk"] {
            request = request.attribute_definitions(attribute(name)?);
        }
        request = request.key_schema(key("pk", KeyType::Hash)?).key_schema(key("sk", KeyType::Range)?);
        for index in ["gsi1", "gsi2", "gsi3"] {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index)
                    .key_schema(key(&format!("{index}pk"), KeyType::Hash)?)
                    .key_schema(key(&format!("{index}sk"), KeyType::Range)?)
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()?,
            );
        }
        request.send().await.map_err(|e| anyhow::anyhow!("CreateTable {table}: {}", DisplayErrorContext(e)))?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().enabled(true).attribute_name(TTL_ATTRIBUTE).build()?,
            )
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("UpdateTimeToLive {table}: {}", DisplayErrorContext(e)))?;
        Ok(())
    }

    fn put(&self, item: Item) -> Result<Put, StoreError> {
        self.put_if(item, None, &[], &[])
    }

    /// A put conditional on `condition` (with its `#name` and `:value` placeholders).
    fn put_if(
        &self,
        item: Item,
        condition: Option<&str>,
        names: &[(&str, &str)],
        values: &[(&str, AttributeValue)],
    ) -> Result<Put, StoreError> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(String::from));
        for (placeholder, name) in names {
            put = put.expression_attribute_names(*placeholder, *name);
        }
        for (placeholder, value) in values {
            put = put.expression_attribute_values(*placeholder, value.clone());
        }
        put.build().map_err(unavailable)
    }

    fn event_put(&self, event: &AuditEvent) -> Result<TransactWriteItem, StoreError> {
        Ok(TransactWriteItem::builder().put(self.put(codec::event_item(event)?)?).build())
    }

    fn outbox_puts(&self, items: &[OutboxItem]) -> Result<Vec<TransactWriteItem>, StoreError> {
        items
            .iter()
            .map(|item| Ok(TransactWriteItem::builder().put(self.put(codec::outbox_item(item)?)?).build()))
            .collect()
    }

    fn lock_key(request: &AccessRequest, access_key: &str) -> Item {
        HashMap::from([
            ("pk".into(), S(format!("OPEN#{}#{access_key}", request.requester().user_key()))),
            ("sk".into(), S("OPEN".into())),
        ])
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), SdkError<TransactWriteItemsError>> {
        self.client.get().await.transact_write_items().set_transact_items(Some(items)).send().await.map(drop)
    }

    /// Writes `change` and as many of `outbox` as fit in one transaction; the rest of `outbox`
    /// follows once the change is in (see the module doc).
    async fn transact_with_outbox(
        &self,
        mut change: Vec<TransactWriteItem>,
        outbox: &[OutboxItem],
    ) -> Result<Result<(), SdkError<TransactWriteItemsError>>, StoreError> {
        let room = MAX_TRANSACTION_ITEMS.saturating_sub(change.len()).min(outbox.len());
        let (now, later) = outbox.split_at(room);
        change.extend(self.outbox_puts(now)?);
        if let Err(e) = self.transact(change).await {
            return Ok(Err(e));
        }
        if !later.is_empty()
            && let Err(e) = self.enqueue_notifications(later).await
        {
            let ids: Vec<&str> = later.iter().map(|i| i.id.as_str()).collect();
            tracing::error!(error = %e, notifications = ?ids, "notifications beyond one transaction were not stored");
        }
        Ok(Ok(()))
    }

    /// One page of `index` (or the table when `None`) from `start`, in `order`.
    async fn query_page(
        &self,
        index: Option<&str>,
        key_condition: &str,
        values: Item,
        filter: Option<&Filter<'_>>,
        order: Order,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let mut query = self
            .client
            .get()
            .await
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(String::from))
            .key_condition_expression(key_condition)
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(order == Order::Ascending)
            .consistent_read(index.is_none())
            .limit(self.page)
            .set_exclusive_start_key(start);
        if let Some(filter) = filter {
            query = query.filter_expression(filter.expression);
            for (placeholder, name) in filter.names {
                query = query.expression_attribute_names(*placeholder, *name);
            }
        }
        let page = query.send().await.map_err(unavailable)?;
        Ok((page.items.unwrap_or_default(), page.last_evaluated_key))
    }

    /// Queries one index partition in `order`, following pages until `limit` items matched.
    async fn query(
        &self,
        index: &str,
        key_condition: &str,
        values: Item,
        filter: Option<&Filter<'_>>,
        order: Order,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let (items, next) =
                self.query_page(Some(index), key_condition, values.clone(), filter, order, start.take()).await?;
            found.extend(items);
            match next {
                Some(next) if found.len() < limit => start = Some(next),
                _ => break,
            }
        }
        found.truncate(limit);
        Ok(found)
    }

    /// Queries every shard of a sharded index (`<index>pk = :pk` per shard, plus `more_condition`)
    /// and merges them by the index's sort key in `order`.
    async fn query_shards(
        &self,
        index: &str,
        more_condition: Option<&str>,
        partition: impl Fn(u32) -> String,
        extra: Item,
        order: Order,
        limit: usize,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        let sort_key = format!("{index}sk");
        let key_condition = match more_condition {
            Some(more) => format!("{index}pk = :pk AND {more}"),
            None => format!("{index}pk = :pk"),
        };
        let mut all = Vec::new();
        for shard in 0..SHARDS {
            let mut values = extra.clone();
            values.insert(":pk".into(), S(partition(shard)));
            for item in self.query(index, &key_condition, values, None, order, limit).await? {
                let position = codec::string(&item, &sort_key).unwrap_or_default().to_string();
                all.push((position, codec::request_of(&item)?));
            }
        }
        all.sort_by(|(a, _), (b, _)| if order == Order::Ascending { a.cmp(b) } else { b.cmp(a) });
        Ok(all.into_iter().take(limit).map(|(_, request)| request).collect())
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn insert_request_with(
        &self,
        request: &AccessRequest,
        event: &AuditEvent,
        outbox: &[OutboxItem],
    ) -> Result<(), StoreError> {
        let absent = Some("attribute_not_exists(pk)");
        let mut items = Vec::new();
        for target in request.targets() {
            let mut lock = Self::lock_key(request, target.access_key());
            lock.insert("request_id".into(), S(request.id().to_string()));
            items.push(TransactWriteItem::builder().put(self.put_if(lock, absent, &[], &[])?).build());
        }
        let request_put = self.put_if(request_item(request)?, absent, &[], &[])?;
        items.push(TransactWriteItem::builder().put(request_put).build());
        items.push(self.event_put(event)?);
        match self.transact_with_outbox(items, outbox).await? {
            Ok(()) => Ok(()),
            Err(e) if is_cancelled(&e) => {
                for target in request.targets() {
                    let lock = self
                        .client
                        .get()
                        .await
                        .get_item()
                        .table_name(&self.table)
                        .set_key(Some(Self::lock_key(request, target.access_key())))
                        .consistent_read(true)
                        .send()
                        .await
                        .map_err(unavailable)?;
                    if let Some(open) = lock.item.as_ref().and_then(|i| codec::string(i, "request_id")) {
                        return Err(StoreError::Duplicate(open.parse().map_err(StoreError::Unavailable)?));
                    }
                }
                Err(StoreError::Conflict)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequest>, StoreError> {
        let found = self
            .client
            .get()
            .await
            .get_item()
            .table_name(&self.table)
            .key("pk", S(format!("REQ#{id}")))
            .key("sk", S("REQ".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        found.item.as_ref().map(codec::request_of).transpose()
    }

    async fn update_request_with(
        &self,
        request: &AccessRequest,
        expected: Status,
        event: Option<&AuditEvent>,
        outbox: &[OutboxItem],
    ) -> Result<(), StoreError> {
        let previous = request.version().checked_sub(1).ok_or(StoreError::Conflict)?;
        let put = self.put_if(
            request_item(request)?,
            Some("#status = :expected AND version = :previous"),
            &[("#status", "status")],
            &[(":expected", S(expected.as_str().into())), (":previous", AttributeValue::N(previous.to_string()))],
        )?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        if let Some(event) = event {
            items.push(self.event_put(event)?);
        }
        for target in request.targets().iter().filter(|t| t.closed_in() == Some(request.version())) {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(Self::lock_key(request, target.access_key())))
                .build()
                .map_err(unavailable)?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        match self.transact_with_outbox(items, outbox).await? {
            Ok(()) => Ok(()),
            Err(e) if is_cancelled(&e) => Err(StoreError::Conflict),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn requests_of_user(
        &self,
        user_key: &str,
        status: Option<Status>,
        limit: usize,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        let mut values = HashMap::from([(":pk".to_string(), S(format!("USER#{user_key}")))]);
        if let Some(status) = status {
            values.insert(":status".into(), S(status.as_str().into()));
        }
        let filter = status.map(|_| Filter { expression: "#status = :status", names: &[("#status", "status")] });
        let items = self.query("gsi1", "gsi1pk = :pk", values, filter.as_ref(), Order::Descending, limit).await?;
        items.iter().map(codec::request_of).collect()
    }

    async fn requests_for_access(&self, user_key: &str, access_key: &str) -> Result<Vec<AccessRequest>, StoreError> {
        let values = HashMap::from([
            (":pk".to_string(), S(format!("USER#{user_key}"))),
            (":access".to_string(), S(access_key.into())),
        ]);
        // Requests stored before `access_key` was an attribute are filtered after reading.
        let filter = Filter {
            expression: "#access = :access OR contains(#keys, :access) OR attribute_not_exists(#access)",
            names: &[("#access", "access_key"), ("#keys", "access_keys")],
        };
        let items = self.query("gsi1", "gsi1pk = :pk", values, Some(&filter), Order::Descending, usize::MAX).await?;
        let mut found = Vec::new();
        for item in &items {
            let request = codec::request_of(item)?;
            if request.target_with_key(access_key).is_some() {
                found.push(request);
            }
        }
        Ok(found)
    }

    async fn requests_with_status_before(
        &self,
        status: Status,
        before: Option<&RequestId>,
        limit: usize,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        let partition = |shard| codec::status_key(status, shard);
        let (condition, values) = match before {
            Some(id) => (Some("gsi2sk < :before"), HashMap::from([(":before".to_string(), S(id.to_string()))])),
            None => (None, HashMap::new()),
        };
        self.query_shards("gsi2", condition, partition, values, Order::Descending, limit).await
    }

    async fn removals_due(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<AccessRequest>, StoreError> {
        // `~` sorts after every id character, so every request due at `before` is included.
        let upper = HashMap::from([(":upper".to_string(), S(format!("{}#~", due_key(before))))]);
        let partition = |shard| format!("DUE#{shard}");
        self.query_shards("gsi3", Some("gsi3sk <= :upper"), partition, upper, Order::Ascending, limit).await
    }

    async fn audit_events(&self, id: &RequestId) -> Result<Vec<AuditEvent>, StoreError> {
        let values =
            HashMap::from([(":pk".to_string(), S(format!("REQ#{id}"))), (":evt".to_string(), S("EVT#".into()))]);
        let condition = "pk = :pk AND begins_with(sk, :evt)";
        let mut events = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let (items, next) =
                self.query_page(None, condition, values.clone(), None, Order::Ascending, start.take()).await?;
            for item in items {
                events.push(codec::event_of(&item)?);
            }
            match next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        Ok(events)
    }

    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.client
            .get()
            .await
            .put_item()
            .table_name(&self.table)
            .set_item(Some(codec::event_item(event)?))
            .send()
            .await
            .map(drop)
            .map_err(unavailable)
    }

    async fn claim_idempotency_key(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = Utc::now().timestamp();
        let claimed = self
            .client
            .get()
            .await
            .put_item()
            .table_name(&self.table)
            .item("pk", S(format!("IDEM#{key}")))
            .item("sk", S("IDEM".into()))
            .item(TTL_ATTRIBUTE, AttributeValue::N((now + ttl.as_secs() as i64).to_string()))
            .condition_expression("attribute_not_exists(pk) OR #ttl < :now")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn enqueue_notifications(&self, items: &[OutboxItem]) -> Result<(), StoreError> {
        for chunk in items.chunks(MAX_TRANSACTION_ITEMS) {
            self.transact(self.outbox_puts(chunk)?).await.map_err(unavailable)?;
        }
        Ok(())
    }

    async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        self.claim(now, lease, limit).await
    }

    async fn notification_done(&self, id: &str) -> Result<(), StoreError> {
        let key = self.notification_key(id).await?;
        self.client
            .get()
            .await
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .send()
            .await
            .map_err(unavailable)?;
        self.forget_claim(id);
        Ok(())
    }

    async fn notification_retry(&self, item: &OutboxItem) -> Result<(), StoreError> {
        let stored = self
            .client
            .get()
            .await
            .put_item()
            .table_name(&self.table)
            .set_item(Some(codec::outbox_item(item)?))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        self.forget_claim(&item.id);
        match stored {
            Ok(_) => Ok(()),
            // Delivered and deleted meanwhile (by a claimer whose lease this one outlived).
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn roles(&self) -> Option<&dyn airlock_core::roles::RoleStore> {
        Some(self)
    }
}

/// A transaction cancelled by a failed condition or a concurrent transaction on the same items.
fn is_cancelled(e: &SdkError<TransactWriteItemsError>) -> bool {
    let Some(TransactWriteItemsError::TransactionCanceledException(c)) = e.as_service_error() else { return false };
    c.cancellation_reasons().iter().any(|r| matches!(r.code(), Some("ConditionalCheckFailed" | "TransactionConflict")))
}
