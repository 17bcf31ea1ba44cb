//! The environment contract (README, "Run locally"), read once at start.

use airlock_core::Config;
use airlock_http::ApiTokens;
use anyhow::{Context, bail};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Which store the local server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded SQLite file at this path.
    Sqlite(PathBuf),
    /// An in-memory SQLite store, gone when the process ends (the demo and tests).
    Memory,
    /// DynamoDB (`AIRLOCK_TABLE`), through the standard AWS SDK environment.
    DynamoDb,
}

/// Everything `airlock serve` needs.
#[derive(Clone)]
pub struct Settings {
    pub config: Config,
    pub config_source: String,
    pub addr: SocketAddr,
    pub store: StoreKind,
    pub api_tokens: ApiTokens,
    pub signing_secret: String,
    pub bot_token: String,
    pub slack_api_url: String,
    /// How often the sweeper looks for grants past their expiry.
    pub sweep_interval: std::time::Duration,
    /// How long an escalation is retried on transient failures before the grant fails
    /// (`AIRLOCK_ESCALATION_RETRY`, e.g. `5m`).
    pub escalation_budget: std::time::Duration,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let (text, config_source) = match var("AIRLOCK_CONFIG") {
            Some(path) => {
                (std::fs::read_to_string(&path).with_context(|| format!("cannot read AIRLOCK_CONFIG={path}"))?, path)
            }
            None => (airlock_core::config::EXAMPLE_CONFIG.to_string(), "built-in example config".into()),
        };
        let config = Config::from_yaml(&text).map_err(|e| anyhow::anyhow!("{config_source}: {e}"))?;
        if let Some(missing) = config.missing_webhook_secrets(&text, |name| std::env::var(name).ok()).first() {
            bail!("{config_source}: {missing}");
        }
        let addr = var("AIRLOCK_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into());
        let addr = addr.parse().with_context(|| format!("AIRLOCK_ADDR={addr} is not host:port"))?;
        let store = match var("AIRLOCK_STORE").as_deref() {
            None | Some("sqlite") => {
                StoreKind::Sqlite(var("AIRLOCK_DATA").unwrap_or_else(|| "airlock.db".into()).into())
            }
            Some("dynamodb") => StoreKind::DynamoDb,
            Some(other) => bail!("AIRLOCK_STORE={other}: expected sqlite or dynamodb"),
        };
        let api_tokens =
            ApiTokens::parse(&var("AIRLOCK_API_TOKENS").unwrap_or_default()).map_err(anyhow::Error::msg)?;
        let duration = |name: &str, default: std::time::Duration| -> anyhow::Result<std::time::Duration> {
            match var(name) {
                Some(text) => Ok(std::time::Duration::from_secs(
                    text.parse::<airlock_core::GrantDuration>().map_err(|e| anyhow::anyhow!("{name}: {e}"))?.as_secs(),
                )),
                None => Ok(default),
            }
        };
        let escalation_budget = duration("AIRLOCK_ESCALATION_RETRY", airlock_local::DEFAULT_ESCALATION_BUDGET)?;
        let sweep_interval = duration("AIRLOCK_SWEEP_INTERVAL", std::time::Duration::from_secs(60))?;
        let Some(signing_secret) = var("SLACK_SIGNING_SECRET") else {
            bail!("SLACK_SIGNING_SECRET is not set: every Slack request is verified with it");
        };
        Ok(Self {
            config,
            config_source,
            addr,
            store,
            api_tokens,
            signing_secret,
            bot_token: var("SLACK_BOT_TOKEN").unwrap_or_default(),
            slack_api_url: var("SLACK_API_URL").unwrap_or_else(|| "https://slack.com/api/".into()),
            sweep_interval,
            escalation_budget,
        })
    }
}
