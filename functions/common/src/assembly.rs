//! One assembly of Airlock over DynamoDB, Step Functions, Identity Center, EventBridge and Slack.

use airlock_aws::LambdaOptionsSource;
use airlock_aws::bootstrap::{self, aws_config, secret};
use airlock_core::escalators::EscalatorSet;
use airlock_core::ports::{AuditSink, SystemClock};
use airlock_core::{AuditEvent, Config, Deps};
use airlock_slack::{SlackApi, SlackDirectory, SlackNotifier};
use airlock_webhook::{HttpOptionsSource, WebhookEscalator};
use anyhow::Context;
use async_trait::async_trait;
use std::sync::Arc;

/// The core's dependencies over the AWS adapters, and the Slack client they share; built once.
pub struct AwsApp {
    pub deps: Deps,
    pub slack: Arc<SlackApi>,
}

/// The config text: the file at `AIRLOCK_CONFIG`, or the SSM parameter named by `AIRLOCK_CONFIG_PARAM`.
pub async fn config_text() -> anyhow::Result<String> {
    match std::env::var("AIRLOCK_CONFIG") {
        Ok(path) if !path.is_empty() => {
            std::fs::read_to_string(&path).with_context(|| format!("cannot read AIRLOCK_CONFIG={path}"))
        }
        _ => secret("AIRLOCK_CONFIG").await,
    }
}

/// The core already writes one JSON log line per audit event; without a bus nothing more is sent.
struct LogLinesOnly;

#[async_trait]
impl AuditSink for LogLinesOnly {
    async fn emit(&self, _event: &AuditEvent) {}
}

/// Builds the adapters from the environment (`airlock_aws::bootstrap` lists the variables; the
/// Slack bot token comes from `SLACK_BOT_TOKEN` or the SSM parameter `SLACK_BOT_TOKEN_PARAM`).
pub async fn build() -> anyhow::Result<AwsApp> {
    let config = Config::from_yaml(&config_text().await?).context("the Airlock config is invalid")?;
    let bot_token = secret("SLACK_BOT_TOKEN").await?;
    let api_url = std::env::var("SLACK_API_URL").unwrap_or_else(|_| airlock_slack::DEFAULT_SLACK_API_URL.into());
    let slack = Arc::new(SlackApi::new(&api_url, &bot_token)?);

    let mut escalators = EscalatorSet::new().with("webhook", Arc::new(WebhookEscalator::new()));
    if config.flows.iter().flat_map(|f| &f.targets).any(|t| t.kind.name() == "aws_sso") {
        escalators = escalators.with("aws_sso", bootstrap::sso_escalator_from_env().await?);
    }
    let audit: Arc<dyn AuditSink> = match std::env::var("AIRLOCK_EVENT_BUS") {
        Ok(bus) if !bus.is_empty() => bootstrap::event_bridge_sink_from_env(&bus).await?,
        _ => Arc::new(LogLinesOnly),
    };
    let mut options =
        LambdaOptionsSource::new(aws_sdk_lambda::Client::new(aws_config().await), Arc::new(HttpOptionsSource::new()));
    if let Ok(function) = std::env::var("PREFETCH_FUNCTION")
        && !function.is_empty()
    {
        options = options.with_url_function(function);
    }
    let deps = Deps {
        config: Arc::new(config.clone()),
        store: bootstrap::dynamo_store_from_env().await?,
        notifier: Arc::new(SlackNotifier::new(slack.clone(), config)),
        escalator: Arc::new(escalators),
        audit,
        directory: Arc::new(SlackDirectory::new(slack.clone())),
        options: Arc::new(options),
        clock: Arc::new(SystemClock),
    };
    Ok(AwsApp { deps, slack })
}
