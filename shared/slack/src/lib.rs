//! Airlock's Slack side: request verification, payload parsing, Block Kit views, the Web API
//! client, the `Notifier` and `Directory` adapters, and [`SlackApp`], which answers Slack's four
//! endpoints for the HTTP router; [`sim`], a simulated Slack for `airlock demo` and the tests.

pub mod api;
mod app;
pub mod directory;
pub mod notifier;
pub mod payload;
pub mod sim;
pub mod verify;
pub mod views;

pub use api::{DEFAULT_SLACK_API_URL, RetryPolicy, SlackApi, SlackApiError};
pub use app::{SlackApp, SlackReply, SlackRoute};
pub use directory::SlackDirectory;
pub use notifier::SlackNotifier;
