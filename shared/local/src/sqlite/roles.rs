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
        let written = self
            .call(move |conn: &mut Connection| {
                let tx = conn.transaction().map_err(unavailable)?;
                let written = match version {
                    0 => 0,
                    1 => tx.execute(table.insert(), params![key, body]).map_err(unavailable)?,
                    n => {
                        tx.execute(table.update(), params![key, body, n as i64, (n - 1) as i64]).map_err(unavailable)?
                    }
                };
                if written != 1 {
                    return Err(StoreError::Conflict);
                }
                tx.execute("INSERT INTO role_events (id, body) VALUES (?1, ?2)", params![event_id, event_body])
                    .map_err(unavailable)?;
                tx.commit().map_err(unavailable)
            })
            .await;
        self.role_cache.wrote();
        written
    }
}

#[async_trait]
impl RoleStore for SqliteStore {
    async fn stored_role(&self, email: &Email) -> Result<Option<StoredRole>, StoreError> {
        if let Some(role) = self.role_cache.role(email) {
            return Ok(role);
        }
        let stamp = self.role_cache.stamp();
        let key = email.to_string();
        let role: Option<StoredRole> = self
            .call(move |conn| {
                let body: Option<String> = conn
                    .query_row(Table::Roles.select_one(), [key], |row| row.get(0))
                    .optional()
                    .map_err(unavailable)?;
                body.as_deref().map(from_json).transpose()
            })
            .await?;
        self.role_cache.keep_role(stamp, email, role.clone());
        Ok(role)
    }

    async fn stored_roles(&self) -> Result<Vec<StoredRole>, StoreError> {
        self.read_all(Table::Roles).await
    }

    async fn stored_domains(&self) -> Result<Vec<StoredDomain>, StoreError> {
        if let Some(domains) = self.role_cache.domains() {
            return Ok(domains);
        }
        let stamp = self.role_cache.stamp();
        let domains = self.read_all(Table::Domains).await?;
        self.role_cache.keep_domains(stamp, &domains);
        Ok(domains)
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

    /// Holds the store's thread until the returned sender is dropped: a call that needs the
    /// thread stays pending meanwhile. The hold is queued before this returns.
    fn hold_store_thread(store: &SqliteStore) -> std::sync::mpsc::Sender<()> {
        let (release, held) = std::sync::mpsc::channel::<()>();
        store
            .jobs
            .send(Box::new(move |_| {
                let _ = held.recv();
            }))
            .unwrap();
        release
    }

    /// Polls `future` once: `Some` when it answered without waiting for anything.
    fn answered_at_once<T>(future: impl std::future::Future<Output = T>) -> Option<T> {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(answer) => Some(answer),
            std::task::Poll::Pending => None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_role_read_again_is_answered_from_memory_until_anyone_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("airlock.db");
        let server = SqliteStore::open(&path).unwrap();
        let cli = SqliteStore::open(&path).unwrap(); // another process on the same file
        let carol: Email = "carol@example.com".parse().unwrap();
        let (admin, event) = airlock_testkit::roles::sample_role("carol@example.com", airlock_core::Role::Admin, 1);
        cli.put_role(&admin, &event).await.unwrap();
        assert_eq!(server.stored_role(&carol).await.unwrap(), Some(admin.clone()));
        assert!(server.stored_domains().await.unwrap().is_empty());

        let release = hold_store_thread(&server);
        let role = answered_at_once(server.stored_role(&carol)).expect("a role read again needs no store call");
        assert_eq!(role.unwrap(), Some(admin.clone()));
        assert!(answered_at_once(server.stored_domains()).expect("nor do the domains").unwrap().is_empty());

        let (guest, event) = airlock_testkit::roles::sample_role("carol@example.com", airlock_core::Role::Guest, 2);
        cli.put_role(&guest, &event).await.unwrap();
        let reread = server.stored_role(&carol);
        let mut reread = std::pin::pin!(reread);
        assert!(answered_at_once(reread.as_mut()).is_none(), "after another process's commit the role is read again");
        drop(release);
        assert_eq!(reread.await.unwrap(), Some(guest));

        let (domain, event) = airlock_testkit::roles::sample_domain("partner.example", true, 1);
        server.put_domain(&domain, &event).await.unwrap();
        assert_eq!(server.stored_domains().await.unwrap(), vec![domain], "its own commit too");
    }

    #[tokio::test]
    async fn an_in_memory_store_forgets_its_answers_on_its_own_writes() {
        let store = SqliteStore::open_in_memory().unwrap();
        let carol: Email = "carol@example.com".parse().unwrap();
        assert_eq!(store.stored_role(&carol).await.unwrap(), None);
        let (admin, event) = airlock_testkit::roles::sample_role("carol@example.com", airlock_core::Role::Admin, 1);
        store.put_role(&admin, &event).await.unwrap();
        assert_eq!(store.stored_role(&carol).await.unwrap(), Some(admin));
    }

    /// One step of [`role_reads_always_match_the_file`]: which store acts, and what it does.
    #[derive(Debug, Clone)]
    enum Step {
        SetRole { by_cli: bool, person: usize, admin: bool },
        SetDomain { by_cli: bool, member: bool },
        Read { by_cli: bool, person: usize },
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            (any::<bool>(), 0..3usize, any::<bool>()).prop_map(|(by_cli, person, admin)| Step::SetRole {
                by_cli,
                person,
                admin
            }),
            (any::<bool>(), any::<bool>()).prop_map(|(by_cli, member)| Step::SetDomain { by_cli, member }),
            (any::<bool>(), 0..3usize).prop_map(|(by_cli, person)| Step::Read { by_cli, person }),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(48))]
        /// Two stores on one file (the server and the command line), writing and reading roles and
        /// domains in any order: every read answers what the file holds at that moment.
        #[test]
        fn role_reads_always_match_the_file(steps in proptest::collection::vec(step(), 1..24)) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("airlock.db");
                let stores = [SqliteStore::open(&path).unwrap(), SqliteStore::open(&path).unwrap()];
                let people: Vec<Email> =
                    ["a@example.com", "b@example.com", "c@example.com"].iter().map(|e| e.parse().unwrap()).collect();
                let truth = Connection::open(&path).unwrap();
                let stored_role = |email: &Email| -> Option<StoredRole> {
                    let body: Option<String> = truth
                        .query_row(Table::Roles.select_one(), [email.to_string()], |row| row.get(0))
                        .optional()
                        .unwrap();
                    body.map(|b| from_json(&b).unwrap())
                };
                let stored_domain = || -> Option<StoredDomain> {
                    let body: Option<String> = truth
                        .query_row(Table::Domains.select_one(), ["partner.example"], |row| row.get(0))
                        .optional()
                        .unwrap();
                    body.map(|b| from_json(&b).unwrap())
                };
                for step in steps {
                    match step {
                        Step::SetRole { by_cli, person, admin } => {
                            let role = if admin { airlock_core::Role::Admin } else { airlock_core::Role::Guest };
                            let version = stored_role(&people[person]).map_or(1, |r| r.version + 1);
                            let email = people[person].to_string();
                            let (set, event) = airlock_testkit::roles::sample_role(&email, role, version);
                            stores[by_cli as usize].put_role(&set, &event).await.unwrap();
                        }
                        Step::SetDomain { by_cli, member } => {
                            let version = stored_domain().map_or(1, |d| d.version + 1);
                            let (set, event) = airlock_testkit::roles::sample_domain("partner.example", member, version);
                            stores[by_cli as usize].put_domain(&set, &event).await.unwrap();
                        }
                        Step::Read { by_cli, person } => {
                            let store = &stores[by_cli as usize];
                            assert_eq!(store.stored_role(&people[person]).await.unwrap(), stored_role(&people[person]));
                            assert_eq!(store.stored_domains().await.unwrap(), stored_domain().into_iter().collect::<Vec<_>>());
                        }
                    }
                }
            });
        }
    }
}
