//! The simulated Slack Web API and payload builders, [`airlock_slack::sim`], under the path the tests use.

pub use airlock_slack::sim::*;
