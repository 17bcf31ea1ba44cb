//! What `airlock serve` needs, from the environment contract (README, "Run locally") read once at
//! start into an [`Environment`].

pub use airlock_aws::settings::Settings as Environment;
use airlock_core::Config;
use airlock_http::ApiTokens;
use anyhow::{Context, bail};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    pub sweep_interval: Duration,
    /// How long an escalation is retried on transient failures before the grant fails
    /// (`AIRLOCK_ESCALATION_RETRY`, e.g. `5m`).
    pub escalation_budget: Duration,
}

impl Settings {
    /// The CLI's settings from the environment read at start; the config is read from
    /// `AIRLOCK_CONFIG` (default: the built-in example) and every webhook target's secret variable
    /// must be set.
    pub fn load(env: &Environment) -> anyhow::Result<Self> {
        let (text, config_source) = match (env.config_file_text()?, &env.config_file) {
            (Some(text), Some(path)) => (text, path.clone()),
            _ => (airlock_core::config::EXAMPLE_CONFIG.to_string(), "built-in example config".into()),
        };
        let config = Config::from_yaml(&text).map_err(|e| anyhow::anyhow!("{config_source}: {e}"))?;
        if let Some(missing) = env.missing_webhook_secrets(&config, &text).first() {
            bail!("{config_source}: {missing}");
        }
        let addr = env.addr.as_deref().unwrap_or("127.0.0.1:3000");
        let addr = addr.parse().with_context(|| format!("AIRLOCK_ADDR={addr} is not host:port"))?;
        let store = match env.store.as_deref() {
            None | Some("sqlite") => StoreKind::Sqlite(data_path(env)),
            Some("dynamodb") => StoreKind::DynamoDb,
            Some(other) => bail!("AIRLOCK_STORE={other}: expected sqlite or dynamodb"),
        };
        let api_tokens = ApiTokens::parse(env.api_tokens.value().unwrap_or_default()).map_err(anyhow::Error::msg)?;
        let duration = |name: &str, text: &Option<String>, default: Duration| -> anyhow::Result<Duration> {
            match text {
                Some(text) => Ok(Duration::from_secs(
                    text.parse::<airlock_core::GrantDuration>().map_err(|e| anyhow::anyhow!("{name}: {e}"))?.as_secs(),
                )),
                None => Ok(default),
            }
        };
        let escalation_budget =
            duration("AIRLOCK_ESCALATION_RETRY", &env.escalation_retry, airlock_local::DEFAULT_ESCALATION_BUDGET)?;
        let sweep_interval = duration("AIRLOCK_SWEEP_INTERVAL", &env.sweep_interval, Duration::from_secs(60))?;
        let Some(signing_secret) = env.slack_signing_secret.value() else {
            bail!("SLACK_SIGNING_SECRET is not set: every Slack request is verified with it");
        };
        Ok(Self {
            config,
            config_source,
            addr,
            store,
            api_tokens,
            signing_secret: signing_secret.to_string(),
            bot_token: env.slack_bot_token.value().unwrap_or_default().to_string(),
            slack_api_url: env.slack_api_url.clone(),
            sweep_interval,
            escalation_budget,
        })
    }
}

/// The SQLite file: `AIRLOCK_DATA`, default `airlock.db`.
pub fn data_path(env: &Environment) -> PathBuf {
    env.data.as_deref().unwrap_or("airlock.db").into()
}
