//! The one assembly of the core's dependencies, shared by `airlock serve` (SQLite or DynamoDB, the
//! local runner) and the Lambdas (DynamoDB, Step Functions): the caller brings the config, the
//! store and the Slack clients and chooses the optional adapters; this builds the rest.

#[cfg(feature = "sdk")]
use crate::LambdaOptionsSource;
#[cfg(feature = "sdk")]
use crate::bootstrap;
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
/// audit sink, the options source and the Slack notifier and directory, over `store`. Without the `sdk`
/// feature, a config with AWS targets, an event bus or Lambda prefetch is refused ([`crate::NO_SDK`]).
pub async fn deps(
    config: &Config,
    store: Arc<dyn Store>,
    slack: SlackClients,
    adapters: Adapters,
) -> anyhow::Result<Deps> {
    let webhook = WebhookEscalator::new().with_secrets(adapters.webhook_secrets);
    let escalators = EscalatorSet::new().with("webhook", Arc::new(webhook));
    let needs = |kind: &str| config.flows.iter().flat_map(|f| &f.targets).any(|t| t.kind.name() == kind);
    let escalators = aws_escalators(escalators, &adapters.aws_sso, needs("aws_sso"), needs("aws_sso_group"))?;
    let audit: Arc<dyn AuditSink> = match &adapters.event_bus {
        Some(bus) => event_bridge_sink(bus)?,
        None => Arc::new(LogAuditSink),
    };
    let options: Arc<dyn OptionsSource> = match adapters.prefetch {
        Prefetch::UrlOnly => Arc::new(HttpOptionsSource::new()),
        Prefetch::Lambda { url_function } => lambda_options(url_function)?,
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

/// Adds the `aws_sso` and `aws_sso_group` escalators when a target needs them.
#[cfg(feature = "sdk")]
fn aws_escalators(
    mut escalators: EscalatorSet,
    sso: &SsoIdentityStore,
    account_assignments: bool,
    group_memberships: bool,
) -> anyhow::Result<EscalatorSet> {
    let (instance, identity_store) = (sso.instance_arn.as_deref(), sso.identity_store_id.as_deref());
    if account_assignments {
        escalators = escalators.with("aws_sso", bootstrap::sso_escalator(instance, identity_store));
    }
    if group_memberships {
        escalators = escalators.with("aws_sso_group", bootstrap::sso_group_escalator(instance, identity_store));
    }
    Ok(escalators)
}

#[cfg(not(feature = "sdk"))]
fn aws_escalators(
    escalators: EscalatorSet,
    _sso: &SsoIdentityStore,
    account_assignments: bool,
    group_memberships: bool,
) -> anyhow::Result<EscalatorSet> {
    match (account_assignments, group_memberships) {
        (false, false) => Ok(escalators),
        (true, _) => anyhow::bail!("the config has aws_sso targets: {}", crate::NO_SDK),
        (false, true) => anyhow::bail!("the config has aws_sso_group targets: {}", crate::NO_SDK),
    }
}

#[cfg(feature = "sdk")]
fn event_bridge_sink(bus: &str) -> anyhow::Result<Arc<dyn AuditSink>> {
    Ok(bootstrap::event_bridge_sink(bus))
}

#[cfg(not(feature = "sdk"))]
fn event_bridge_sink(bus: &str) -> anyhow::Result<Arc<dyn AuditSink>> {
    anyhow::bail!("AIRLOCK_EVENT_BUS={bus}: {}", crate::NO_SDK)
}

#[cfg(feature = "sdk")]
fn lambda_options(url_function: Option<String>) -> anyhow::Result<Arc<dyn OptionsSource>> {
    let mut source = LambdaOptionsSource::new(crate::LazyClient::default(), Arc::new(HttpOptionsSource::new()));
    if let Some(function) = url_function {
        source = source.with_url_function(function);
    }
    Ok(Arc::new(source))
}

#[cfg(not(feature = "sdk"))]
fn lambda_options(_url_function: Option<String>) -> anyhow::Result<Arc<dyn OptionsSource>> {
    anyhow::bail!("Lambda prefetch: {}", crate::NO_SDK)
}
