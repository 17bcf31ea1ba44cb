//! What the benches' local servers share: the `airlock serve` settings on a fake Slack.

use airlock_cli::settings::{Settings, StoreKind};
use airlock_core::Config;
use airlock_http::ApiTokens;
use std::time::Duration;

/// The signing secret the benches' Slack requests are signed with.
pub const SECRET: &str = "bench-signing-secret";

/// `airlock serve`'s settings over `config` and `store`, talking to the fake Slack at
/// `slack_api_url`, with the API closed and the sweeper out of the way (hourly).
pub fn local_settings(config: Config, store: StoreKind, slack_api_url: String) -> Settings {
    Settings {
        config,
        config_source: "bench".into(),
        addr: "127.0.0.1:0".parse().expect("an address"),
        store,
        api_tokens: ApiTokens::default(),
        signing_secret: SECRET.into(),
        bot_token: "xoxb-bench".into(),
        slack_api_url,
        sweep_interval: Duration::from_secs(3600),
        escalation_budget: airlock_local::DEFAULT_ESCALATION_BUDGET,
    }
}
