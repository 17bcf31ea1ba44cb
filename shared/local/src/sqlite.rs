//! The embedded store: one SQLite file (WAL), every status change a conditional UPDATE on the
//! expected status and version, in one transaction with its audit event.

use airlock_core::ports::{Store, StoreError};
use airlock_core::{AccessRequest, AuditEvent, RequestId, Status};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    requester TEXT NOT NULL,
    access_key TEXT NOT NULL,
    removal_due TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_by_user ON requests (requester, id);
CREATE INDEX IF NOT EXISTS requests_by_status ON requests (status, id);
CREATE INDEX IF NOT EXISTS requests_by_removal_due ON requests (removal_due) WHERE removal_due IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS one_open_request_per_access ON requests (requester, access_key)
    WHERE status IN ('pending', 'approved', 'active');
CREATE TABLE IF NOT EXISTS audit_events (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_events_by_request ON audit_events (request_id, id);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
PRAGMA user_version = 1;
";

/// The SQLite store. Cheap to clone; calls run on the blocking pool, never on the async executor.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, rusqlite::Error> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Self::with_connection(conn)
    }

    /// A private store in memory (tests, the demo).
    pub fn open_in_memory() -> Result<Self, rusqlite::Error> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(conn: Connection) -> Result<Self, rusqlite::Error> {
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().map_err(|_| StoreError::Unavailable("store lock poisoned".into()))?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(unavailable)
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Unavailable(format!("corrupt record: {e}")))
}

/// Sortable text form of a time (fixed width, UTC).
fn sortable(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn insert_event(tx: &rusqlite::Transaction<'_>, event: &AuditEvent) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit_events (id, request_id, body) VALUES (?1, ?2, ?3)",
        params![event.id.as_str(), event.request_id.as_str(), to_json(event)?],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn query_requests(conn: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<Vec<AccessRequest>, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(unavailable)?;
    let rows = statement.query_map(args, |row| row.get::<_, String>(0)).map_err(unavailable)?;
    rows.map(|body| from_json(&body.map_err(unavailable)?)).collect()
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_request(&self, request: &AccessRequest, event: &AuditEvent) -> Result<(), StoreError> {
        let (request, event) = (request.clone(), event.clone());
        self.call(move |conn| {
            let tx = conn.transaction().map_err(unavailable)?;
            let inserted = tx.execute(
                "INSERT INTO requests (id, status, version, requester, access_key, removal_due, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    request.id.as_str(),
                    request.status.as_str(),
                    request.version,
                    request.requester.user_key(),
                    request.access_key,
                    request.removal_due().map(sortable),
                    to_json(&request)?
                ],
            );
            match inserted {
                Ok(_) => {}
                Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                    let existing: String = tx
                        .query_row(
                            "SELECT id FROM requests WHERE requester = ?1 AND access_key = ?2
                             AND status IN ('pending', 'approved', 'active')",
                            params![request.requester.user_key(), request.access_key],
                            |row| row.get(0),
                        )
                        .map_err(unavailable)?;
                    return Err(StoreError::Duplicate(existing.parse().map_err(unavailable)?));
                }
                Err(e) => return Err(unavailable(e)),
            }
            insert_event(&tx, &event)?;
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequest>, StoreError> {
        let id = id.clone();
        self.call(move |conn| {
            let body: Option<String> = conn
                .query_row("SELECT body FROM requests WHERE id = ?1", [id.as_str()], |row| row.get(0))
                .optional()
                .map_err(unavailable)?;
            body.map(|b| from_json(&b)).transpose()
        })
        .await
    }

    async fn update_request(
        &self,
        request: &AccessRequest,
        expected: Status,
        event: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let (request, event) = (request.clone(), event.cloned());
        self.call(move |conn| {
            let tx = conn.transaction().map_err(unavailable)?;
            let changed = tx
                .execute(
                    "UPDATE requests SET status = ?1, version = ?2, removal_due = ?3, body = ?4
                     WHERE id = ?5 AND status = ?6 AND version = ?7",
                    params![
                        request.status.as_str(),
                        request.version,
                        request.removal_due().map(sortable),
                        to_json(&request)?,
                        request.id.as_str(),
                        expected.as_str(),
                        request.version.saturating_sub(1)
                    ],
                )
                .map_err(unavailable)?;
            if changed == 0 {
                return Err(StoreError::Conflict);
            }
            if let Some(event) = &event {
                insert_event(&tx, event)?;
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn requests_of_user(
        &self,
        user_key: &str,
        status: Option<Status>,
        limit: usize,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        let user = user_key.to_string();
        self.call(move |conn| match status {
            Some(status) => query_requests(
                conn,
                "SELECT body FROM requests WHERE requester = ?1 AND status = ?2 ORDER BY id DESC LIMIT ?3",
                params![user, status.as_str(), limit as i64],
            ),
            None => query_requests(
                conn,
                "SELECT body FROM requests WHERE requester = ?1 ORDER BY id DESC LIMIT ?2",
                params![user, limit as i64],
            ),
        })
        .await
    }

    async fn requests_with_status(&self, status: Status, limit: usize) -> Result<Vec<AccessRequest>, StoreError> {
        self.call(move |conn| {
            query_requests(
                conn,
                "SELECT body FROM requests WHERE status = ?1 ORDER BY id DESC LIMIT ?2",
                params![status.as_str(), limit as i64],
            )
        })
        .await
    }

    async fn removals_due(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<AccessRequest>, StoreError> {
        self.call(move |conn| {
            query_requests(
                conn,
                "SELECT body FROM requests WHERE removal_due IS NOT NULL AND removal_due <= ?1
                 ORDER BY removal_due LIMIT ?2",
                params![sortable(before), limit as i64],
            )
        })
        .await
    }

    async fn audit_events(&self, id: &RequestId) -> Result<Vec<AuditEvent>, StoreError> {
        let id = id.clone();
        self.call(move |conn| {
            let mut statement = conn
                .prepare_cached("SELECT body FROM audit_events WHERE request_id = ?1 ORDER BY id")
                .map_err(unavailable)?;
            let rows = statement.query_map([id.as_str()], |row| row.get::<_, String>(0)).map_err(unavailable)?;
            rows.map(|body| from_json(&body.map_err(unavailable)?)).collect()
        })
        .await
    }

    async fn claim_idempotency_key(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let key = key.to_string();
        self.call(move |conn| {
            let now = Utc::now().timestamp();
            let expires = now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
            // Claimed when absent or expired; a live key is left alone.
            let changed = conn
                .execute(
                    "INSERT INTO idempotency_keys (key, expires_at) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at
                     WHERE idempotency_keys.expires_at <= ?3",
                    params![key, expires, now],
                )
                .map_err(unavailable)?;
            Ok(changed == 1)
        })
        .await
    }
}

#[cfg(test)]
mod tests;
