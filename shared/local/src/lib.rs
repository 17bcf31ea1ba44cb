//! Airlock's embedded default: a SQLite store and an in-process runner for the workflow, so the whole
//! flow runs in one process with no AWS account.

mod runner;
mod sqlite;

/// The audit sink without an event bus, here for the tests that assemble the local adapters.
pub use airlock_core::ports::LogAuditSink;
pub use runner::{DEFAULT_ESCALATION_BUDGET, LocalRunner};
pub use sqlite::SqliteStore;
