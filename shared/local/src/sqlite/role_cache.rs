//! Role questions answered from memory while nothing has been committed since the answer was read,
//! so that a slash command's role lookup does not queue on the store thread.
//!
//! Freshness: the cache is stamped with `PRAGMA data_version` read on a connection of its own (it
//! changes whenever any other connection commits: this store's thread or another process, such as
//! `airlock users set-role` on the same file) and with this store's own count of role and domain
//! writes (which is all that can change an in-memory store). A stamp is read before each load, so
//! an answer loaded while a change commits is stamped older and never served after it.

use airlock_core::Email;
use airlock_core::roles::{StoredDomain, StoredRole};
use rusqlite::{Connection, OpenFlags};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Beyond this many people remembered, the cache starts over (a bound, not an eviction policy: an
/// organization's requesters fit well below it).
const MAX_PEOPLE: usize = 10_000;

/// The store's state when an answer was read; answers are served only under the same stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    data_version: i64,
    own_writes: u64,
}

#[derive(Default)]
struct Answers {
    stamp: Option<Stamp>,
    roles: HashMap<Email, Option<StoredRole>>,
    domains: Option<Vec<StoredDomain>>,
}

impl Answers {
    /// The answers kept under `stamp`, starting over when they were kept under another one.
    fn under(&mut self, stamp: Stamp) -> &mut Self {
        if self.stamp != Some(stamp) || self.roles.len() >= MAX_PEOPLE {
            *self = Answers { stamp: Some(stamp), ..Answers::default() };
        }
        self
    }
}

pub(super) struct RoleCache {
    /// A read-only connection to the store's file, asked only for `data_version`; `None` for a
    /// store in memory, which no other connection can change.
    watcher: Option<Mutex<Connection>>,
    own_writes: AtomicU64,
    answers: Mutex<Answers>,
}

impl RoleCache {
    /// A cache for the store in the file at `path` (already opened, in WAL mode, by the store). The
    /// watcher never writes; it opens read-write only because a read-only connection to a WAL file
    /// fails where the shared-memory file cannot be written by it.
    pub(super) fn for_file(path: &Path) -> Result<Self, rusqlite::Error> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let watcher = Connection::open_with_flags(path, flags)?;
        Ok(Self { watcher: Some(Mutex::new(watcher)), ..Self::in_memory() })
    }

    pub(super) fn in_memory() -> Self {
        Self { watcher: None, own_writes: AtomicU64::new(0), answers: Mutex::new(Answers::default()) }
    }

    /// The store's state now; `None` when it cannot be told (nothing is then served or kept).
    pub(super) fn stamp(&self) -> Option<Stamp> {
        let data_version = match &self.watcher {
            Some(watcher) => {
                let watcher = watcher.lock().ok()?;
                watcher.query_row("PRAGMA data_version", [], |row| row.get(0)).ok()?
            }
            None => 0,
        };
        Some(Stamp { data_version, own_writes: self.own_writes.load(Ordering::Acquire) })
    }

    /// Called after each role or domain write of this store has committed (or failed).
    pub(super) fn wrote(&self) {
        self.own_writes.fetch_add(1, Ordering::AcqRel);
    }

    /// `email`'s stored role as read under the current stamp, if it was.
    pub(super) fn role(&self, email: &Email) -> Option<Option<StoredRole>> {
        let stamp = self.stamp()?;
        let answers = self.answers.lock().ok()?;
        (answers.stamp == Some(stamp)).then(|| answers.roles.get(email).cloned()).flatten()
    }

    /// Keeps `role`, read after `stamp` was taken.
    pub(super) fn keep_role(&self, stamp: Option<Stamp>, email: &Email, role: Option<StoredRole>) {
        if let (Some(stamp), Ok(mut answers)) = (stamp, self.answers.lock()) {
            answers.under(stamp).roles.insert(email.clone(), role);
        }
    }

    /// The stored domains as read under the current stamp, if they were.
    pub(super) fn domains(&self) -> Option<Vec<StoredDomain>> {
        let stamp = self.stamp()?;
        let answers = self.answers.lock().ok()?;
        (answers.stamp == Some(stamp)).then(|| answers.domains.clone()).flatten()
    }

    /// Keeps `domains`, read after `stamp` was taken.
    pub(super) fn keep_domains(&self, stamp: Option<Stamp>, domains: &[StoredDomain]) {
        if let (Some(stamp), Ok(mut answers)) = (stamp, self.answers.lock()) {
            answers.under(stamp).domains = Some(domains.to_vec());
        }
    }
}
