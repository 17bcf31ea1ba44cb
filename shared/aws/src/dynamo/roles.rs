//! The roles and member domains the DynamoDB store keeps, in one partition:
//!
//! | item | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | a person's role | `ROLES` | `USER#<email>` | `data` (S, the stored role as JSON), `version` (N) |
//! | a domain | `ROLES` | `DOMAIN#<domain>` | `data` (S, the stored domain as JSON), `version` (N) |
//! | a change's audit event | `ROLES` | `EVT#<event id>` | `data` (S, the event as JSON) |
//!
//! Reads are consistent (`GetItem`, `Query` on the partition by prefix); a change is one
//! `TransactWriteItems`: the put conditional on the version read (absent for a first write) and its event.

use super::codec::{Item, S, string};
use super::{DynamoStore, Order, is_cancelled, unavailable};
use airlock_core::Email;
use airlock_core::ports::StoreError;
use airlock_core::roles::{RoleEvent, RoleStore, StoredDomain, StoredRole};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

const PARTITION: &str = "ROLES";

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("unreadable roles item: {e}"))
}

fn record_of<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    serde_json::from_str(string(item, "data").ok_or_else(|| corrupt("no data attribute"))?).map_err(corrupt)
}

fn item_of<T: Serialize>(sk: String, record: &T, version: Option<u64>) -> Result<Item, StoreError> {
    let mut item = HashMap::from([
        ("pk".to_string(), S(PARTITION.into())),
        ("sk".to_string(), S(sk)),
        ("data".to_string(), S(serde_json::to_string(record).map_err(corrupt)?)),
    ]);
    if let Some(version) = version {
        item.insert("version".into(), AttributeValue::N(version.to_string()));
    }
    Ok(item)
}

impl DynamoStore {
    /// Every item of the roles partition whose sort key starts with `prefix`, in `order`, up to `limit`.
    async fn roles_items(&self, prefix: &str, order: Order, limit: usize) -> Result<Vec<Item>, StoreError> {
        let values =
            HashMap::from([(":pk".to_string(), S(PARTITION.into())), (":prefix".to_string(), S(prefix.into()))]);
        let condition = "pk = :pk AND begins_with(sk, :prefix)";
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let (items, next) = self.query_page(None, condition, values.clone(), None, order, start.take()).await?;
            found.extend(items);
            match next {
                Some(next) if found.len() < limit => start = Some(next),
                _ => break,
            }
        }
        found.truncate(limit);
        Ok(found)
    }

    /// Puts `record` at `sk` if the stored version is `version - 1` (absent for 1), with `event`.
    async fn put_versioned<T: Serialize>(
        &self,
        sk: String,
        record: &T,
        version: u64,
        event: &RoleEvent,
    ) -> Result<(), StoreError> {
        let put = match version {
            0 => return Err(StoreError::Conflict),
            1 => self.put_if(item_of(sk, record, Some(1))?, Some("attribute_not_exists(pk)"), &[], &[])?,
            n => self.put_if(
                item_of(sk, record, Some(n))?,
                Some("version = :previous"),
                &[],
                &[(":previous", AttributeValue::N((n - 1).to_string()))],
            )?,
        };
        let event = self.put(item_of(format!("EVT#{}", event.id), event, None)?)?;
        let items =
            vec![TransactWriteItem::builder().put(put).build(), TransactWriteItem::builder().put(event).build()];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(e) if is_cancelled(&e) => Err(StoreError::Conflict),
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl RoleStore for DynamoStore {
    async fn stored_role(&self, email: &Email) -> Result<Option<StoredRole>, StoreError> {
        let found = self
            .client
            .get()
            .await
            .get_item()
            .table_name(&self.table)
            .key("pk", S(PARTITION.into()))
            .key("sk", S(format!("USER#{email}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        found.item.as_ref().map(record_of).transpose()
    }

    async fn stored_roles(&self) -> Result<Vec<StoredRole>, StoreError> {
        self.roles_items("USER#", Order::Ascending, usize::MAX).await?.iter().map(record_of).collect()
    }

    async fn stored_domains(&self) -> Result<Vec<StoredDomain>, StoreError> {
        self.roles_items("DOMAIN#", Order::Ascending, usize::MAX).await?.iter().map(record_of).collect()
    }

    async fn put_role(&self, role: &StoredRole, event: &RoleEvent) -> Result<(), StoreError> {
        self.put_versioned(format!("USER#{}", role.email), role, role.version, event).await
    }

    async fn put_domain(&self, domain: &StoredDomain, event: &RoleEvent) -> Result<(), StoreError> {
        self.put_versioned(format!("DOMAIN#{}", domain.domain), domain, domain.version, event).await
    }

    async fn role_events(&self, limit: usize) -> Result<Vec<RoleEvent>, StoreError> {
        self.roles_items("EVT#", Order::Descending, limit).await?.iter().map(record_of).collect()
    }
}
