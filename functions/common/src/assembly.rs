//! The Lambdas' inputs to `airlock_aws::assembly`: the config, the Slack bot token and the webhook
//! secrets from the environment or SSM, over DynamoDB and Lambda prefetch.

use airlock_aws::assembly::{self, Adapters, Prefetch, SlackClients};
use airlock_aws::bootstrap::{self, aws_config, secret};
use airlock_core::flow::TargetKind;
use airlock_core::{Config, Deps};
use airlock_slack::SlackApi;
use anyhow::Context;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The core's dependencies over the AWS adapters, and the Slack client they share; built once.
pub struct AwsApp {
    pub deps: Deps,
    pub slack: Arc<SlackApi>,
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
    match std::env::var("AIRLOCK_CONFIG") {
        Ok(path) if !path.is_empty() => {
            std::fs::read_to_string(&path).with_context(|| format!("cannot read AIRLOCK_CONFIG={path}"))
        }
        _ => secret("AIRLOCK_CONFIG").await,
    }
}

/// [`build_with`] an interactive Slack client.
pub async fn build() -> anyhow::Result<AwsApp> {
    build_with(SlackMode::Interactive).await
}

/// Builds the adapters from the environment (`airlock_aws::bootstrap` lists the variables; the
/// Slack bot token comes from `SLACK_BOT_TOKEN` or the SSM parameter `SLACK_BOT_TOKEN_PARAM`; the
/// webhook targets' secrets from SSM under [`WEBHOOK_SECRETS_PATH`] when it is set).
pub async fn build_with(mode: SlackMode) -> anyhow::Result<AwsApp> {
    let config = Config::from_yaml(&config_text().await?).context("the Airlock config is invalid")?;
    let bot_token = secret("SLACK_BOT_TOKEN").await?;
    let api_url = std::env::var("SLACK_API_URL").unwrap_or_else(|_| airlock_slack::DEFAULT_SLACK_API_URL.into());
    let slack = Arc::new(match mode {
        SlackMode::Interactive => SlackApi::new(&api_url, &bot_token)?,
        SlackMode::Background => SlackApi::background(&api_url, &bot_token)?,
    });

    let webhook_secrets = match std::env::var(WEBHOOK_SECRETS_PATH) {
        Ok(path) if !path.trim().is_empty() => {
            let ssm = aws_sdk_ssm::Client::new(aws_config().await);
            webhook_secrets(&ssm, &path, &config).await?
        }
        _ => HashMap::new(),
    };
    let url_function = std::env::var("PREFETCH_FUNCTION").ok().filter(|f| !f.is_empty());
    let adapters =
        Adapters { event_bus: bootstrap::event_bus(), prefetch: Prefetch::Lambda { url_function }, webhook_secrets };
    let clients = SlackClients { directory: slack.clone(), notifier: slack.clone() };
    let deps = assembly::deps(&config, bootstrap::dynamo_store_from_env().await?, clients, adapters).await?;
    Ok(AwsApp { deps, slack })
}

/// The webhook targets' secrets, keyed by `secret_env`: every SecureString parameter directly
/// under `path` (`<path>/<SECRET_ENV>`, e.g. `/airlock/webhook/BILLING_HOOK_SECRET`), read with
/// `GetParametersByPath` (ten a page). Reading the whole path, not only the names the config gives,
/// keeps the secrets of targets that left the config but still have grants to remove. A target of
/// `config` with neither a parameter nor an environment variable is logged by name (its calls then
/// fail, naming it); an SSM
/// error fails the cold start, so the invocation is retried.
pub async fn webhook_secrets(
    ssm: &aws_sdk_ssm::Client,
    path: &str,
    config: &Config,
) -> anyhow::Result<HashMap<String, String>> {
    let path = match path.trim().trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
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
    let named: BTreeSet<&str> = config
        .flows
        .iter()
        .flat_map(|f| &f.targets)
        .filter_map(|t| match &t.kind {
            TargetKind::Webhook { secret_env, .. } => Some(secret_env.as_str()),
            _ => None,
        })
        .collect();
    let missing = named.into_iter().filter(|env| !secrets.contains_key(*env) && std::env::var_os(env).is_none());
    for missing in missing {
        tracing::error!(parameter = %format!("{prefix}{missing}"), "webhook secret parameter not found; calls to its targets will fail");
    }
    Ok(secrets)
}
