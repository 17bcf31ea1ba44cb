//! The local application: the store (SQLite, or DynamoDB), the in-process runner and the HTTP router
//! over the dependencies `airlock_aws::assembly` builds.

use crate::settings::{Environment, Settings, StoreKind};
use airlock_aws::assembly::{self, Adapters, Prefetch, SlackClients};
#[cfg(not(feature = "aws"))]
use airlock_core::TargetKind;
use airlock_core::ports::{Store, TargetCatalog};
use airlock_core::{Airlock, Config};
use airlock_http::{AppState, router};
use airlock_local::{LocalRunner, SqliteStore};
use airlock_slack::{SlackApi, SlackApp};
use anyhow::Context;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// How long an ended request keeps its custom field values, task token and card references in the
/// embedded store (its record and audit trail are kept).
pub const RETENTION: chrono::Duration = chrono::Duration::days(30);
/// How often the embedded store is compacted.
const HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// A running-ready Airlock: services, runner and router over the local adapters.
pub struct LocalApp {
    pub airlock: Airlock,
    pub runner: Arc<LocalRunner>,
    pub router: axum::Router,
    /// The embedded store, for housekeeping (absent on DynamoDB, where TTL does it).
    sqlite: Option<SqliteStore>,
}

impl LocalApp {
    /// [`Self::build_with`] the process environment (the DynamoDB table, the event bus, the
    /// Identity Center store and the webhook targets' secret variables).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, &Environment::from_env()).await
    }

    /// Builds every adapter once from `settings`, and the adapters' own settings from `env`.
    pub async fn build_with(settings: Settings, env: &Environment) -> anyhow::Result<Self> {
        let sqlite = match &settings.store {
            StoreKind::Sqlite(path) => {
                Some(SqliteStore::open(path).with_context(|| format!("cannot open the store {}", path.display()))?)
            }
            StoreKind::Memory => Some(SqliteStore::open_in_memory().context("cannot open an in-memory store")?),
            StoreKind::DynamoDb => None,
        };
        let store: Arc<dyn Store> = match &sqlite {
            Some(sqlite) => Arc::new(sqlite.clone()),
            None => env.dynamo_store().await?,
        };
        // Interactive calls (the ack path) fail fast; notifications go through a client that honours
        // Slack's rate limits and retries, from the outbox.
        let slack = Arc::new(SlackApi::new(&settings.slack_api_url, &settings.bot_token)?);
        let notifier = Arc::new(SlackApi::background(&settings.slack_api_url, &settings.bot_token)?);
        let adapters = Adapters {
            event_bus: env.event_bus.clone(),
            prefetch: Prefetch::UrlOnly,
            webhook_secrets: env.webhook_secret_vars(&settings.config),
            aws_sso: env.sso_identity_store(),
        };
        let clients = SlackClients { directory: slack.clone(), notifier };
        let deps = assembly::deps(&settings.config, store.clone(), clients, adapters).await?;
        let runner = LocalRunner::new(airlock_core::Steps::new(deps.clone()), store);
        runner.set_sweep_interval(settings.sweep_interval);
        runner.set_escalation_budget(settings.escalation_budget);
        let mut airlock = Airlock::new(deps, runner.clone());
        if let Some(catalog) = target_catalog(&settings.config, env).await? {
            airlock = airlock.with_catalog(catalog);
        }
        let slack_app = Arc::new(SlackApp::new(airlock.clone(), slack, settings.signing_secret.clone()));
        let state =
            AppState { airlock: airlock.clone(), slack: slack_app, api_tokens: Arc::new(settings.api_tokens.clone()) };
        Ok(Self { airlock, runner, router: router(state), sqlite })
    }

    /// Resumes the timers of requests already in the store, then serves HTTP on `listener` until
    /// `shutdown` resolves; the runner stops with it.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.runner.resume().await.map_err(|e| anyhow::anyhow!("cannot resume the workflows in the store: {e}"))?;
        let housekeeping = self.sqlite.map(|store| tokio::spawn(housekeeping(store)));
        axum::serve(listener, self.router).with_graceful_shutdown(shutdown).await?;
        self.runner.shutdown().await;
        if let Some(task) = housekeeping {
            task.abort();
        }
        Ok(())
    }
}

/// The catalog of the targets that list their accounts, when `config` has any.
#[cfg(feature = "aws")]
pub async fn target_catalog(config: &Config, env: &Environment) -> anyhow::Result<Option<Arc<dyn TargetCatalog>>> {
    let instance_arn = env.sso_identity_store().instance_arn;
    Ok(airlock_aws::bootstrap::target_catalog(config, instance_arn.as_deref()))
}

/// Without AWS there is no catalog: a config with targets that list their accounts is refused.
#[cfg(not(feature = "aws"))]
pub async fn target_catalog(config: &Config, _env: &Environment) -> anyhow::Result<Option<Arc<dyn TargetCatalog>>> {
    let discovered =
        config.flows.iter().flat_map(|f| &f.targets).find(|t| matches!(t.kind, TargetKind::AwsSsoScope(_)));
    match discovered {
        Some(target) => anyhow::bail!("target {} lists its accounts from AWS: {}", target.name, airlock_aws::NO_SDK),
        None => Ok(None),
    }
}

/// Compacts the embedded store now and then every [`HOUSEKEEPING_EVERY`].
async fn housekeeping(store: SqliteStore) {
    loop {
        match store.compact(chrono::Utc::now() - RETENTION).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(compacted = n, "ended requests compacted"),
            Err(e) => tracing::warn!(error = %e, "store housekeeping failed"),
        }
        tokio::time::sleep(HOUSEKEEPING_EVERY).await;
    }
}
