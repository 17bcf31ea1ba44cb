//! The roles port in memory ([`MemoryRoles`], part of [`crate::fakes::MemoryStore`]) and the checks
//! every implementation of it must pass ([`check_role_store`]: SQLite, DynamoDB, this one).

use airlock_core::audit::Actor;
use airlock_core::ids::EventId;
use airlock_core::ports::StoreError;
use airlock_core::roles::{ChangeVia, RoleChange, RoleEvent, RoleStore, StoredDomain, StoredRole};
use airlock_core::{Email, Role};
use async_trait::async_trait;
use chrono::Utc;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Roles, domains and their events in memory, with the real stores' conditional writes.
#[derive(Default)]
pub struct MemoryRoles {
    roles: Mutex<BTreeMap<Email, StoredRole>>,
    domains: Mutex<BTreeMap<String, StoredDomain>>,
    events: Mutex<Vec<RoleEvent>>,
}

/// Inserts or replaces `value` under `key` if the stored version is `version - 1`.
fn put_versioned<K: Ord, V: Clone>(
    map: &Mutex<BTreeMap<K, V>>,
    key: K,
    value: &V,
    version: u64,
    version_of: impl Fn(&V) -> u64,
) -> Result<(), StoreError> {
    let mut map = map.lock().unwrap();
    let stored = map.get(&key).map(version_of);
    let expected = version.checked_sub(1).filter(|v| *v > 0);
    if version == 0 || stored != expected {
        return Err(StoreError::Conflict);
    }
    map.insert(key, value.clone());
    Ok(())
}

#[async_trait]
impl RoleStore for MemoryRoles {
    async fn stored_role(&self, email: &Email) -> Result<Option<StoredRole>, StoreError> {
        Ok(self.roles.lock().unwrap().get(email).cloned())
    }

    async fn stored_roles(&self) -> Result<Vec<StoredRole>, StoreError> {
        Ok(self.roles.lock().unwrap().values().cloned().collect())
    }

    async fn stored_domains(&self) -> Result<Vec<StoredDomain>, StoreError> {
        Ok(self.domains.lock().unwrap().values().cloned().collect())
    }

    async fn put_role(&self, role: &StoredRole, event: &RoleEvent) -> Result<(), StoreError> {
        put_versioned(&self.roles, role.email.clone(), role, role.version, |r| r.version)?;
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }

    async fn put_domain(&self, domain: &StoredDomain, event: &RoleEvent) -> Result<(), StoreError> {
        put_versioned(&self.domains, domain.domain.clone(), domain, domain.version, |d| d.version)?;
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }

    async fn role_events(&self, limit: usize) -> Result<Vec<RoleEvent>, StoreError> {
        Ok(self.events.lock().unwrap().iter().rev().take(limit).cloned().collect())
    }
}

fn ops() -> Actor {
    Actor::User { email: "ops@example.com".parse().expect("an email"), slack_id: None }
}

/// `email`'s role set to `role` at `version`, and its event.
pub fn sample_role(email: &str, role: Role, version: u64) -> (StoredRole, RoleEvent) {
    let email: Email = email.parse().expect("an email");
    let now = Utc::now();
    let stored = StoredRole { email: email.clone(), role, set_by: ops(), via: ChangeVia::Cli, set_at: now, version };
    let change = RoleChange::RoleSet { email, role, previous: Role::Member };
    (stored, RoleEvent { id: EventId::generate(), at: now, actor: ops(), via: ChangeVia::Cli, change })
}

/// `domain` added (`member`) or removed at `version`, and its event.
pub fn sample_domain(domain: &str, member: bool, version: u64) -> (StoredDomain, RoleEvent) {
    let now = Utc::now();
    let stored =
        StoredDomain { domain: domain.into(), member, set_by: ops(), via: ChangeVia::Api, set_at: now, version };
    let change = if member {
        RoleChange::DomainAdded { domain: domain.into() }
    } else {
        RoleChange::DomainRemoved { domain: domain.into() }
    };
    (stored, RoleEvent { id: EventId::generate(), at: now, actor: ops(), via: ChangeVia::Api, change })
}

/// What every [`RoleStore`] must do, on an empty one: round trips, listings in key order,
/// conditional writes that change nothing when they lose (no event either), events newest first.
pub async fn check_role_store(store: &dyn RoleStore) {
    let carol: Email = "carol@example.com".parse().expect("an email");
    assert_eq!(store.stored_role(&carol).await.unwrap(), None);
    assert!(store.stored_roles().await.unwrap().is_empty() && store.stored_domains().await.unwrap().is_empty());

    let (first, first_event) = sample_role("carol@example.com", Role::Admin, 1);
    store.put_role(&first, &first_event).await.unwrap();
    assert_eq!(store.stored_role(&carol).await.unwrap(), Some(first.clone()));
    let (again, again_event) = sample_role("carol@example.com", Role::Guest, 1);
    assert_eq!(store.put_role(&again, &again_event).await, Err(StoreError::Conflict), "version 1 exists");
    let (skipped, skipped_event) = sample_role("carol@example.com", Role::Guest, 3);
    assert_eq!(store.put_role(&skipped, &skipped_event).await, Err(StoreError::Conflict), "version 2 is next");
    let (second, second_event) = sample_role("carol@example.com", Role::Member, 2);
    store.put_role(&second, &second_event).await.unwrap();
    assert_eq!(store.stored_role(&carol).await.unwrap(), Some(second.clone()));
    let (bob, bob_event) = sample_role("bob@example.com", Role::Guest, 1);
    store.put_role(&bob, &bob_event).await.unwrap();
    assert_eq!(store.stored_roles().await.unwrap(), vec![bob, second], "by email");

    let (added, added_event) = sample_domain("outside.org", true, 1);
    store.put_domain(&added, &added_event).await.unwrap();
    let (removed, removed_event) = sample_domain("contractor.example", false, 1);
    store.put_domain(&removed, &removed_event).await.unwrap();
    let (stale, stale_event) = sample_domain("outside.org", false, 1);
    assert_eq!(store.put_domain(&stale, &stale_event).await, Err(StoreError::Conflict));
    let (back, back_event) = sample_domain("outside.org", false, 2);
    store.put_domain(&back, &back_event).await.unwrap();
    assert_eq!(store.stored_domains().await.unwrap(), vec![removed, back], "by domain");

    let events = store.role_events(10).await.unwrap();
    let expected = [back_event, removed_event, added_event, bob_event, second_event, first_event];
    assert_eq!(events, expected, "every write's event, newest first; none of the refused ones");
    assert_eq!(store.role_events(2).await.unwrap(), expected[..2]);
}
