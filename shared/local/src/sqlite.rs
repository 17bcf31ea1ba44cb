//! The embedded store: one SQLite file (WAL), every status change a conditional UPDATE on the
//! expected status and version, in one transaction with its audit event.

use airlock_core::ports::{Store, StoreError};
use airlock_core::{AccessRequest, AuditEvent, OutboxItem, RequestId, Status};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use role_cache::RoleCache;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::Arc;
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
CREATE INDEX IF NOT EXISTS requests_by_user_status ON requests (requester, status, id);
CREATE INDEX IF NOT EXISTS requests_by_removal_due ON requests (removal_due) WHERE removal_due IS NOT NULL;
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
CREATE INDEX IF NOT EXISTS requests_by_access ON requests (requester, access_key, id);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    request_id TEXT,
    due_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_due ON outbox (due_at, id);
CREATE INDEX IF NOT EXISTS outbox_by_request ON outbox (request_id, id) WHERE request_id IS NOT NULL;
";

/// Schema changes after version 1, applied in order to older files (`PRAGMA user_version` counts them).
const MIGRATIONS: [&str; 4] = [
    "ALTER TABLE requests ADD COLUMN compacted INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE outbox ADD COLUMN claimed INTEGER NOT NULL DEFAULT 0",
    roles::MIGRATION,
    // One row per target of a request: the access keys it grants (a user's history of one access)
    // and whether it still claims the key (one open request per user and access, per target).
    "CREATE TABLE request_access (
         request_id TEXT NOT NULL,
         requester TEXT NOT NULL,
         access_key TEXT NOT NULL,
         open INTEGER NOT NULL,
         PRIMARY KEY (request_id, access_key)
     );
     INSERT INTO request_access (request_id, requester, access_key, open)
         SELECT id, requester, access_key, status IN ('pending', 'approved', 'active') FROM requests;
     DROP INDEX IF EXISTS one_open_request_per_access;
     CREATE UNIQUE INDEX one_open_request_per_access ON request_access (requester, access_key) WHERE open = 1;
     CREATE INDEX request_access_by_user ON request_access (requester, access_key, request_id);",
];

/// Statuses whose requests can be compacted once their access is gone.
const ENDED: [&str; 6] = ["denied", "timed_out", "cancelled", "failed", "revoked", "expired"];

/// A store call, run on the store's thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The SQLite store. Cheap to clone; calls run one at a time on the store's own thread, never on
/// the async executor (one thread, not the blocking pool: calls share one connection anyway, and
/// a thread per waiting call would cost memory under load).
#[derive(Clone)]
pub struct SqliteStore {
    jobs: std::sync::mpsc::Sender<Job>,
    role_cache: Arc<RoleCache>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, rusqlite::Error> {
        let path = path.as_ref();
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let mut store = Self::with_connection(conn)?;
        store.role_cache = Arc::new(RoleCache::for_file(path)?);
        Ok(store)
    }

    /// A private store in memory (tests, the demo).
    pub fn open_in_memory() -> Result<Self, rusqlite::Error> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(conn: Connection) -> Result<Self, rusqlite::Error> {
        conn.execute_batch(SCHEMA)?;
        let applied: usize = conn.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))?.max(1) as usize - 1;
        for (n, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
            conn.execute_batch(migration)?;
            conn.pragma_update(None, "user_version", n as i64 + 2)?;
        }
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new().name("airlock-sqlite".into()).spawn(move || serve_calls(conn, queue)).map_err(
            |e| {
                let cannot_open = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN);
                rusqlite::Error::SqliteFailure(cannot_open, Some(format!("cannot start the store thread: {e}")))
            },
        )?;
        Ok(Self { jobs, role_cache: Arc::new(RoleCache::in_memory()) })
    }

    /// Housekeeping: deletes expired idempotency keys, and strips requests that ended before
    /// `ended_before` (by id, which sorts by creation time) of what only a live request needs (custom
    /// field values, the task token, card references), keeping the record and its whole audit trail.
    /// Returns how many requests were compacted.
    pub async fn compact(&self, ended_before: DateTime<Utc>) -> Result<usize, StoreError> {
        let cutoff = format!("req_{}", ulid::Ulid::from_parts(ended_before.timestamp_millis().max(0) as u64, 0));
        self.call(move |conn| {
            let now = Utc::now().timestamp();
            conn.execute("DELETE FROM idempotency_keys WHERE expires_at <= ?1", [now]).map_err(unavailable)?;
            let tx = conn.transaction().map_err(unavailable)?;
            let mut compacted = 0;
            for status in ENDED {
                let rows: Vec<(String, String)> = {
                    let mut statement = tx
                        .prepare_cached(
                            "SELECT id, body FROM requests WHERE status = ?1 AND id < ?2 AND compacted = 0
                             AND removal_due IS NULL LIMIT 1000",
                        )
                        .map_err(unavailable)?;
                    let found = statement
                        .query_map(params![status, cutoff], |row| Ok((row.get(0)?, row.get(1)?)))
                        .map_err(unavailable)?;
                    found.collect::<Result<_, _>>().map_err(unavailable)?
                };
                for (id, body) in rows {
                    let mut request: AccessRequest = from_json(&body)?;
                    request.strip_details();
                    tx.execute(
                        "UPDATE requests SET body = ?1, compacted = 1 WHERE id = ?2",
                        params![to_json(&request)?, id],
                    )
                    .map_err(unavailable)?;
                    compacted += 1;
                }
            }
            tx.commit().map_err(unavailable)?;
            Ok(compacted)
        })
        .await
    }

    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = answer.send(f(conn));
        });
        self.jobs.send(job).map_err(|_| StoreError::Unavailable("the store thread has stopped".into()))?;
        answered.await.map_err(|_| StoreError::Unavailable("a store call failed".into()))?
    }
}

/// The store thread: runs calls in arrival order until every handle is dropped. A call that panics
/// fails alone (its caller gets an error; an open transaction rolls back) and the next one runs.
fn serve_calls(mut conn: Connection, queue: std::sync::mpsc::Receiver<Job>) {
    for job in queue {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut conn)));
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

fn insert_outbox(tx: &rusqlite::Transaction<'_>, items: &[OutboxItem]) -> Result<(), StoreError> {
    let mut statement = tx
        .prepare_cached("INSERT OR REPLACE INTO outbox (id, request_id, due_at, body) VALUES (?1, ?2, ?3, ?4)")
        .map_err(unavailable)?;
    for item in items {
        statement
            .execute(params![
                item.id,
                item.request_id.as_ref().map(|id| id.as_str().to_string()),
                sortable(item.due_at),
                to_json(item)?
            ])
            .map_err(unavailable)?;
    }
    Ok(())
}

fn query_requests(conn: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<Vec<AccessRequest>, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(unavailable)?;
    let rows = statement.query_map(args, |row| row.get::<_, String>(0)).map_err(unavailable)?;
    rows.map(|body| from_json(&body.map_err(unavailable)?)).collect()
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_request_with(
        &self,
        request: &AccessRequest,
        event: &AuditEvent,
        outbox: &[OutboxItem],
    ) -> Result<(), StoreError> {
        let (request, event, outbox) = (request.clone(), event.clone(), outbox.to_vec());
        self.call(move |conn| {
            let tx = conn.transaction().map_err(unavailable)?;
            tx.execute(
                "INSERT INTO requests (id, status, version, requester, access_key, removal_due, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    request.id().as_str(),
                    request.status().as_str(),
                    request.version(),
                    request.requester().user_key(),
                    request.access_key(),
                    request.removal_due().map(sortable),
                    to_json(&request)?
                ],
            )
            .map_err(unavailable)?;
            for target in request.targets() {
                let inserted = tx.execute(
                    "INSERT INTO request_access (request_id, requester, access_key, open) VALUES (?1, ?2, ?3, ?4)",
                    params![
                        request.id().as_str(),
                        request.requester().user_key(),
                        target.access_key(),
                        request.target_is_open(target)
                    ],
                );
                match inserted {
                    Ok(_) => {}
                    Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                        let existing: String = tx
                            .query_row(
                                "SELECT request_id FROM request_access WHERE requester = ?1 AND access_key = ?2
                                 AND open = 1",
                                params![request.requester().user_key(), target.access_key()],
                                |row| row.get(0),
                            )
                            .map_err(unavailable)?;
                        return Err(StoreError::Duplicate(existing.parse().map_err(unavailable)?));
                    }
                    Err(e) => return Err(unavailable(e)),
                }
            }
            insert_event(&tx, &event)?;
            insert_outbox(&tx, &outbox)?;
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

    async fn update_request_with(
        &self,
        request: &AccessRequest,
        expected: Status,
        event: Option<&AuditEvent>,
        outbox: &[OutboxItem],
    ) -> Result<(), StoreError> {
        let (request, event, outbox) = (request.clone(), event.cloned(), outbox.to_vec());
        self.call(move |conn| {
            let tx = conn.transaction().map_err(unavailable)?;
            let changed = tx
                .execute(
                    "UPDATE requests SET status = ?1, version = ?2, removal_due = ?3, body = ?4
                     WHERE id = ?5 AND status = ?6 AND version = ?7",
                    params![
                        request.status().as_str(),
                        request.version(),
                        request.removal_due().map(sortable),
                        to_json(&request)?,
                        request.id().as_str(),
                        expected.as_str(),
                        request.version().saturating_sub(1)
                    ],
                )
                .map_err(unavailable)?;
            if changed == 0 {
                return Err(StoreError::Conflict);
            }
            for target in request.targets().iter().filter(|t| !request.target_is_open(t)) {
                tx.execute(
                    "UPDATE request_access SET open = 0 WHERE request_id = ?1 AND access_key = ?2 AND open = 1",
                    params![request.id().as_str(), target.access_key()],
                )
                .map_err(unavailable)?;
            }
            if let Some(event) = &event {
                insert_event(&tx, event)?;
            }
            insert_outbox(&tx, &outbox)?;
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

    async fn requests_for_access(&self, user_key: &str, access_key: &str) -> Result<Vec<AccessRequest>, StoreError> {
        let (user, key) = (user_key.to_string(), access_key.to_string());
        self.call(move |conn| {
            query_requests(
                conn,
                "SELECT r.body FROM request_access a JOIN requests r ON r.id = a.request_id
                 WHERE a.requester = ?1 AND a.access_key = ?2 ORDER BY r.id DESC",
                params![user, key],
            )
        })
        .await
    }

    async fn requests_with_status_before(
        &self,
        status: Status,
        before: Option<&RequestId>,
        limit: usize,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        let before = before.map(|id| id.as_str().to_string());
        self.call(move |conn| match before {
            Some(before) => query_requests(
                conn,
                "SELECT body FROM requests WHERE status = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
                params![status.as_str(), before, limit as i64],
            ),
            None => query_requests(
                conn,
                "SELECT body FROM requests WHERE status = ?1 ORDER BY id DESC LIMIT ?2",
                params![status.as_str(), limit as i64],
            ),
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

    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let event = event.clone();
        self.call(move |conn| {
            let tx = conn.transaction().map_err(unavailable)?;
            insert_event(&tx, &event)?;
            tx.commit().map_err(unavailable)
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

    async fn enqueue_notifications(&self, items: &[OutboxItem]) -> Result<(), StoreError> {
        let items = items.to_vec();
        self.call(move |conn| {
            let tx = conn.transaction().map_err(unavailable)?;
            insert_outbox(&tx, &items)?;
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(1));
        self.call(move |conn| {
            let tx = conn.transaction().map_err(unavailable)?;
            let bodies: Vec<String> = {
                let mut statement = tx
                    .prepare_cached(
                        "SELECT body FROM outbox o WHERE due_at <= ?1
                         AND (request_id IS NULL OR NOT EXISTS (
                             SELECT 1 FROM outbox older WHERE older.request_id = o.request_id AND older.id < o.id))
                         ORDER BY id LIMIT ?2",
                    )
                    .map_err(unavailable)?;
                let rows = statement
                    .query_map(params![sortable(now), limit as i64], |row| row.get::<_, String>(0))
                    .map_err(unavailable)?;
                rows.collect::<Result<_, _>>().map_err(unavailable)?
            };
            let mut claimed = Vec::with_capacity(bodies.len());
            for body in bodies {
                let mut item: OutboxItem = from_json(&body)?;
                item.due_at = until;
                tx.execute(
                    "UPDATE outbox SET due_at = ?1, body = ?2, claimed = 1 WHERE id = ?3",
                    params![sortable(until), to_json(&item)?, item.id],
                )
                .map_err(unavailable)?;
                claimed.push(item);
            }
            tx.commit().map_err(unavailable)?;
            Ok(claimed)
        })
        .await
    }

    async fn notification_done(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_string();
        self.call(move |conn| conn.execute("DELETE FROM outbox WHERE id = ?1", [id]).map(drop).map_err(unavailable))
            .await
    }

    fn roles(&self) -> Option<&dyn airlock_core::roles::RoleStore> {
        Some(self)
    }

    async fn notification_retry(&self, item: &OutboxItem) -> Result<(), StoreError> {
        let item = item.clone();
        self.call(move |conn| {
            conn.execute(
                "UPDATE outbox SET due_at = ?1, body = ?2, claimed = 0 WHERE id = ?3",
                params![sortable(item.due_at), to_json(&item)?, item.id],
            )
            .map(drop)
            .map_err(unavailable)
        })
        .await
    }

    async fn release_notification_claims(&self) -> Result<(), StoreError> {
        self.call(move |conn| {
            let now = sortable(Utc::now());
            conn.execute("UPDATE outbox SET due_at = ?1, claimed = 0 WHERE claimed = 1", [now])
                .map(drop)
                .map_err(unavailable)
        })
        .await
    }
}

mod role_cache;
mod roles;

#[cfg(test)]
mod tests;
