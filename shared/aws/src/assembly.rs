//! The one assembly of the core's dependencies, shared by `airlock serve` (SQLite or DynamoDB, the
//! local runner) and the Lambdas (DynamoDB, Step Functions): the caller brings the config, the
//! store and the Slack clients and chooses the optional adapters; this builds the rest.

use crate::LambdaOptionsSource;
use crate::bootstrap::{self, aws_config};
use airlock_core::escalators::EscalatorSet;
use airlock_core::ports::{AuditSink, LogAuditSink, OptionsSource, Store, SystemClock};
use airlock_core::{Config, Deps};
use airlock_slack::{SlackApi, SlackDirectory, SlackNotifier};
use airlock_webhook::{HttpOptionsSource, WebhookEscalator};
use std::collections::HashMap;
use std::sync::Arc;

/// The Slack Web API clients the adapters use.
#[derive(Clone)]
pub struct SlackClients {
    /// Looks people and groups up on a request's path (fails fast).
    pub directory: Arc<SlackApi>,
    /// Sends the outbox's messages.
    pub notifier: Arc<SlackApi>,
}

/// Where prefetched select options come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prefetch {
    /// `url` sources only, fetched in process (`lambda` sources fail).
    UrlOnly,
    /// `lambda` sources invoke their function; `url` sources are fetched in process, or through
    /// `url_function` (the prefetch Lambda, inside the VPC) when given.
    Lambda { url_function: Option<String> },
}

/// The optional adapters to assemble.
#[derive(Debug, Clone)]
pub struct Adapters {
    /// The EventBridge bus audit events go to; None: the JSON log line only ([`LogAuditSink`]).
    pub event_bus: Option<String>,
    pub prefetch: Prefetch,
    /// Webhook secrets by `secret_env` (from SSM, or the variables of those names read at start).
    pub webhook_secrets: HashMap<String, String>,
    /// The Identity Center instance and identity store the `aws_sso` escalator uses, when known.
    pub aws_sso: SsoIdentityStore,
}

/// Skips the `aws_sso` escalator's ListInstances lookup: `identity_store_id` for `instance_arn`,
/// or for every instance when no instance is given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SsoIdentityStore {
    pub instance_arn: Option<String>,
    pub identity_store_id: Option<String>,
}

/// Builds the escalators (record, webhook, and `aws_sso` / `aws_sso_group` when a target of `config` needs it), the
/// audit sink, the options source and the Slack notifier and directory, over `store`.
pub async fn deps(
    config: &Config,
    store: Arc<dyn Store>,
    slack: SlackClients,
    adapters: Adapters,
) -> anyhow::Result<Deps> {
    let webhook = WebhookEscalator::new().with_secrets(adapters.webhook_secrets);
    let mut escalators = EscalatorSet::new().with("webhook", Arc::new(webhook));
    if config.flows.iter().flat_map(|f| &f.targets).any(|t| t.kind.name() == "aws_sso") {
        let sso = &adapters.aws_sso;
        escalators = escalators.with(
            "aws_sso",
            bootstrap::sso_escalator(sso.instance_arn.as_deref(), sso.identity_store_id.as_deref()).await,
        );
    }
    if config.flows.iter().flat_map(|f| &f.targets).any(|t| t.kind.name() == "aws_sso_group") {
        let sso = &adapters.aws_sso;
        escalators = escalators.with(
            "aws_sso_group",
            bootstrap::sso_group_escalator(sso.instance_arn.as_deref(), sso.identity_store_id.as_deref()).await,
        );
    }
    let audit: Arc<dyn AuditSink> = match &adapters.event_bus {
        Some(bus) => bootstrap::event_bridge_sink(bus).await,
        None => Arc::new(LogAuditSink),
    };
    let options: Arc<dyn OptionsSource> = match adapters.prefetch {
        Prefetch::UrlOnly => Arc::new(HttpOptionsSource::new()),
        Prefetch::Lambda { url_function } => {
            let lambda = aws_sdk_lambda::Client::new(aws_config().await);
            let mut source = LambdaOptionsSource::new(lambda, Arc::new(HttpOptionsSource::new()));
            if let Some(function) = url_function {
                source = source.with_url_function(function);
            }
            Arc::new(source)
        }
    };
    Ok(Deps {
        config: Arc::new(config.clone()),
        store,
        notifier: Arc::new(SlackNotifier::new(slack.notifier, config.clone())),
        escalator: Arc::new(escalators),
        audit,
        directory: Arc::new(SlackDirectory::new(slack.directory)),
        options,
        clock: Arc::new(SystemClock),
    })
}
