//! Airlock's embedded default: a SQLite store and an in-process runner for the workflow, so the whole
//! flow runs in one process with no AWS account.

mod audit;
mod runner;
mod sqlite;

pub use audit::LogAuditSink;
pub use runner::{DEFAULT_ESCALATION_BUDGET, LocalRunner};
pub use sqlite::SqliteStore;
