//! The roles and member domains the SQLite store keeps: tables `roles` (by email), `member_domains`
//! (by domain) and `role_events` (their audit trail), each record as JSON with its version. Every
//! change is a conditional write on the version read, in one transaction with its event.

use super::{SqliteStore, from_json, to_json, unavailable};
use airlock_core::Email;
use airlock_core::ports::StoreError;
use airlock_core::roles::{RoleEvent, RoleStore, StoredDomain, StoredRole};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

/// The tables (a migration of the store's schema).
pub(super) const MIGRATION: &str = "
CREATE TABLE IF NOT EXISTS roles (email TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS member_domains (domain TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS role_events (id TEXT PRIMARY KEY, body TEXT NOT NULL);
";

/// The `roles` or `member_domains` table and its key column.
#[derive(Clone, Copy)]
enum Table {
    Roles,
    Domains,
}

impl Table {
    fn select_one(self) -> &'static str {
        match self {
            Table::Roles => "SELECT body FROM roles WHERE email = ?1",
            Table::Domains => "SELECT body FROM member_domains WHERE domain = ?1",
        }
    }

    fn select_all(self) -> &'static str {
        match self {
            Table::Roles => "SELECT body FROM roles ORDER BY email",
            Table::Domains => "SELECT body FROM member_domains ORDER BY domain",
        }
    }

    fn insert(self) -> &'static str {
        match self {
            Table::Roles => {
                "INSERT INTO roles (email, version, body) VALUES (?1, 1, ?2) ON CONFLICT (email) DO NOTHING"
            }
            Table::Domains => {
                "INSERT INTO member_domains (domain, version, body) VALUES (?1, 1, ?2) ON CONFLICT (domain) DO NOTHING"
            }
        }
    }

    fn update(self) -> &'static str {
        match self {
            Table::Roles => "UPDATE roles SET version = ?3, body = ?2 WHERE email = ?1 AND version = ?4",
            Table::Domains => "UPDATE member_domains SET version = ?3, body = ?2 WHERE domain = ?1 AND version = ?4",
        }
    }
}

impl SqliteStore {
    async fn read_all<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        table: Table,
    ) -> Result<Vec<T>, StoreError> {
        self.call(move |conn| {
            let mut statement = conn.prepare_cached(table.select_all()).map_err(unavailable)?;
            let rows = statement.query_map([], |row| row.get::<_, String>(0)).map_err(unavailable)?;
            rows.map(|body| from_json(&body.map_err(unavailable)?)).collect()
        })
        .await
    }

    /// Writes `body` under `key` if the stored version is `version - 1` (absent for 1), with `event`.
    async fn put_versioned(
        &self,
        table: Table,
        key: String,
        version: u64,
        body: String,
        event: &RoleEvent,
    ) -> Result<(), StoreError> {
        let (event_id, event_body) = (event.id.to_string(), to_json(event)?);
        self.call(move |conn: &mut Connection| {
            let tx = conn.transaction().map_err(unavailable)?;
            let written = match version {
                0 => 0,
                1 => tx.execute(table.insert(), params![key, body]).map_err(unavailable)?,
                n => tx.execute(table.update(), params![key, body, n as i64, (n - 1) as i64]).map_err(unavailable)?,
            };
            if written != 1 {
                return Err(StoreError::Conflict);
            }
            tx.execute("INSERT INTO role_events (id, body) VALUES (?1, ?2)", params![event_id, event_body])
                .map_err(unavailable)?;
            tx.commit().map_err(unavailable)
        })
        .await
    }
}

#[async_trait]
impl RoleStore for SqliteStore {
    async fn stored_role(&self, email: &Email) -> Result<Option<StoredRole>, StoreError> {
        let key = email.to_string();
        self.call(move |conn| {
            let body: Option<String> =
                conn.query_row(Table::Roles.select_one(), [key], |row| row.get(0)).optional().map_err(unavailable)?;
            body.as_deref().map(from_json).transpose()
        })
        .await
    }

    async fn stored_roles(&self) -> Result<Vec<StoredRole>, StoreError> {
        self.read_all(Table::Roles).await
    }

    async fn stored_domains(&self) -> Result<Vec<StoredDomain>, StoreError> {
        self.read_all(Table::Domains).await
    }

    async fn put_role(&self, role: &StoredRole, event: &RoleEvent) -> Result<(), StoreError> {
        self.put_versioned(Table::Roles, role.email.to_string(), role.version, to_json(role)?, event).await
    }

    async fn put_domain(&self, domain: &StoredDomain, event: &RoleEvent) -> Result<(), StoreError> {
        self.put_versioned(Table::Domains, domain.domain.clone(), domain.version, to_json(domain)?, event).await
    }

    async fn role_events(&self, limit: usize) -> Result<Vec<RoleEvent>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |conn| {
            let mut statement =
                conn.prepare_cached("SELECT body FROM role_events ORDER BY id DESC LIMIT ?1").map_err(unavailable)?;
            let rows = statement.query_map([limit], |row| row.get::<_, String>(0)).map_err(unavailable)?;
            rows.map(|body| from_json(&body.map_err(unavailable)?)).collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::ports::Store;

    #[tokio::test]
    async fn roles_and_domains_are_conditional_writes_with_their_events() {
        let store = SqliteStore::open_in_memory().unwrap();
        assert!(store.roles().is_some(), "the SQLite store keeps roles");
        airlock_testkit::roles::check_role_store(&store).await;
    }

    #[tokio::test]
    async fn roles_survive_a_reopen_and_older_files_gain_the_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("airlock.db");
        {
            // A file as the release before roles left it: two migrations applied.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(super::super::SCHEMA).unwrap();
            for migration in &super::super::MIGRATIONS[..2] {
                conn.execute_batch(migration).unwrap();
            }
            conn.pragma_update(None, "user_version", 3).unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let (role, event) = airlock_testkit::roles::sample_role("carol@example.com", airlock_core::Role::Admin, 1);
        store.put_role(&role, &event).await.unwrap();
        drop(store);
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.stored_role(&role.email).await.unwrap(), Some(role));
        assert_eq!(store.role_events(10).await.unwrap(), vec![event]);
    }
}
