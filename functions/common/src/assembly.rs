//! The Lambdas' inputs to `airlock_aws::assembly`, from the [`Settings`] read once per cold start:
//! the config, the Slack bot token and the webhook secrets (SSM or the environment), over DynamoDB
//! and Lambda prefetch; audit events and failed Slack calls publish CloudWatch metrics (EMF).

use airlock_aws::assembly::{self, Adapters, Prefetch, SlackClients};
use airlock_aws::bootstrap::aws_config;
use airlock_aws::metrics::{self, MeteredAuditSink, Metrics};
use airlock_aws::settings::Settings;
use airlock_core::flow::TargetKind;
use airlock_core::{Config, Deps};
use airlock_slack::SlackApi;
use anyhow::Context;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The core's dependencies over the AWS adapters, the Slack client they share and the settings they
/// were built from; built once.
pub struct AwsApp {
    pub deps: Deps,
    pub slack: Arc<SlackApi>,
    pub settings: Settings,
}

/// How the function's Slack client behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlackMode {
    /// Answers within a request's time budget: no waiting on `Retry-After` (slack-ingress, steps).
    Interactive,
    /// Retries rate-limited and failed calls, honouring `Retry-After` (the outbox deliverer).
    Background,
}

/// Where the webhook targets' secrets live: the SSM path holding one parameter per `secret_env`.
pub const WEBHOOK_SECRETS_PATH: &str = "AIRLOCK_WEBHOOK_SECRETS_PATH";

/// The config text: the file at `AIRLOCK_CONFIG`, or the SSM parameter named by `AIRLOCK_CONFIG_PARAM`.
pub async fn config_text() -> anyhow::Result<String> {
    Settings::from_env().config_text().await
}

/// [`build_with`] an interactive Slack client.
pub async fn build() -> anyhow::Result<AwsApp> {
    build_with(SlackMode::Interactive).await
}

/// The settings from the environment, with their SSM parameters read ([`fetch_settings`]).
pub async fn settings() -> anyhow::Result<(Settings, HashMap<String, String>)> {
    fetch_settings(Settings::from_env()).await
}

/// `settings` with every SSM parameter they name read in one `GetParameters` call
/// ([`Settings::fetch_parameters`]), and the webhook secrets under [`WEBHOOK_SECRETS_PATH`] read at
/// the same time. No SSM client is made when nothing is in SSM.
pub async fn fetch_settings(settings: Settings) -> anyhow::Result<(Settings, HashMap<String, String>)> {
    let path = settings.webhook_secrets_path.clone();
    if settings.parameters().is_empty() && path.is_none() {
        return Ok((settings, HashMap::new()));
    }
    let ssm = aws_sdk_ssm::Client::new(aws_config().await);
    let path_secrets = async {
        match &path {
            Some(path) => read_webhook_secrets(&ssm, path).await,
            None => Ok(HashMap::new()),
        }
    };
    let (settings, path_secrets) = tokio::try_join!(settings.fetch_parameters(&ssm), path_secrets)?;
    crate::startup::mark("ssm parameters read");
    Ok((settings, path_secrets))
}

/// Builds the adapters from the environment, read once ([`Settings`] lists the variables; the
/// Slack bot token comes from `SLACK_BOT_TOKEN` or the SSM parameter `SLACK_BOT_TOKEN_PARAM`; the
/// webhook targets' secrets from SSM under [`WEBHOOK_SECRETS_PATH`] when it is set, else from the
/// variables the config names).
pub async fn build_with(mode: SlackMode) -> anyhow::Result<AwsApp> {
    let (settings, path_secrets) = settings().await?;
    build_from(settings, path_secrets, mode).await
}

/// Builds the adapters from `settings` as [`fetch_settings`] answered them, with the webhook secrets
/// read from under [`WEBHOOK_SECRETS_PATH`]. Makes no AWS SDK or HTTP client: each is made by the
/// first call that needs it (a config that cannot be read or parsed fails here).
pub async fn build_from(
    settings: Settings,
    path_secrets: HashMap<String, String>,
    mode: SlackMode,
) -> anyhow::Result<AwsApp> {
    let config = Config::from_yaml(&settings.config_text().await?).context("the Airlock config is invalid")?;
    crate::startup::mark("config parsed");
    let bot_token = settings.slack_bot_token.load().await?;
    let api_url = &settings.slack_api_url;
    let slack = match mode {
        SlackMode::Interactive => SlackApi::new(api_url, &bot_token)?,
        SlackMode::Background => SlackApi::background(api_url, &bot_token)?,
    };
    let slack = Arc::new(slack.on_failure(metrics::slack_failures(Metrics::stdout())));
    crate::startup::mark("slack client built");

    let mut webhook_secrets = settings.webhook_secret_vars(&config);
    if let Some(path) = &settings.webhook_secrets_path {
        log_missing_webhook_secrets(path, &path_secrets, &config);
        webhook_secrets.extend(path_secrets);
    }
    let adapters = Adapters {
        event_bus: settings.event_bus.clone(),
        prefetch: Prefetch::Lambda { url_function: settings.prefetch_function.clone() },
        webhook_secrets,
        aws_sso: settings.sso_identity_store(),
    };
    let clients = SlackClients { directory: slack.clone(), notifier: slack.clone() };
    let store = settings.dynamo_store().await?;
    crate::startup::mark("store client built");
    let mut deps = assembly::deps(&config, store, clients, adapters).await?;
    deps.audit = Arc::new(MeteredAuditSink::new(deps.audit, Metrics::stdout()));
    crate::startup::mark("adapters built");
    Ok(AwsApp { deps, slack, settings })
}

/// The webhook targets' secrets, keyed by `secret_env`: every SecureString parameter directly
/// under `path` (`<path>/<SECRET_ENV>`, e.g. `/airlock/webhook/BILLING_HOOK_SECRET`), read with
/// `GetParametersByPath` (ten a page). Reading the whole path, not only the names the config gives,
/// keeps the secrets of targets that left the config but still have grants to remove. A target of
/// `config` without a parameter is logged by name (its calls fail, naming it, unless its variable
/// is set); an SSM error fails the cold start, so the invocation is retried.
pub async fn webhook_secrets(
    ssm: &aws_sdk_ssm::Client,
    path: &str,
    config: &Config,
) -> anyhow::Result<HashMap<String, String>> {
    let secrets = read_webhook_secrets(ssm, path).await?;
    log_missing_webhook_secrets(path, &secrets, config);
    Ok(secrets)
}

/// The SecureString parameters directly under `path`, keyed by their last name segment.
async fn read_webhook_secrets(ssm: &aws_sdk_ssm::Client, path: &str) -> anyhow::Result<HashMap<String, String>> {
    let path = parameter_path(path);
    let prefix = format!("{}/", path.trim_end_matches('/'));
    let mut pages =
        ssm.get_parameters_by_path().path(path).recursive(false).with_decryption(true).into_paginator().send();
    let mut secrets = HashMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            anyhow::anyhow!("reading webhook secrets under {path}: {}", aws_sdk_ssm::error::DisplayErrorContext(e))
        })?;
        for parameter in page.parameters() {
            if let (Some(name), Some(value)) = (parameter.name(), parameter.value())
                && let Some(env) = name.strip_prefix(&prefix)
            {
                secrets.insert(env.to_string(), value.to_string());
            }
        }
    }
    Ok(secrets)
}

fn parameter_path(path: &str) -> &str {
    match path.trim().trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

/// Logs each webhook target of `config` whose secret has no parameter under `path`.
fn log_missing_webhook_secrets(path: &str, secrets: &HashMap<String, String>, config: &Config) {
    let prefix = format!("{}/", parameter_path(path).trim_end_matches('/'));
    let named: BTreeSet<&str> = config
        .flows
        .iter()
        .flat_map(|f| &f.targets)
        .filter_map(|t| match &t.kind {
            TargetKind::Webhook { secret_env, .. } => Some(secret_env.as_str()),
            _ => None,
        })
        .collect();
    for missing in named.into_iter().filter(|env| !secrets.contains_key(*env)) {
        tracing::error!(parameter = %format!("{prefix}{missing}"), "webhook secret parameter not found; calls to its targets fail unless its variable is set");
    }
}
