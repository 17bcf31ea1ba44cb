//! The `airlock` command's library: the local assembly of Airlock (SQLite store, in-process
//! workflow runner, Slack, webhooks) shared by `airlock serve`, `airlock demo` and the end-to-end tests.

pub mod admin;
pub mod app;
pub mod check;
pub mod demo;
pub mod explain;
pub mod policy;
pub mod serve;
pub mod settings;
pub mod targets;
pub mod telemetry;
