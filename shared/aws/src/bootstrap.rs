//! Builds the AWS adapters once per process from the values [`crate::settings::Settings`] read
//! (the SDK reads its standard variables, `AWS_ENDPOINT_URL` included, itself). Building an adapter
//! makes no SDK client: each is a [`LazyClient`], made with the shared [`aws_config`] (loaded
//! once, on the first client made) when the adapter first calls AWS.

use crate::{DynamoStore, EventBridgeAuditSink, LazyClient, SsoEscalator, SsoGroupEscalator, StepFunctionsWorkflow};
use airlock_core::ports::{AuditSink, Escalator, Store, Workflow};
use anyhow::Context;
use aws_config::{BehaviorVersion, SdkConfig};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

static CONFIG: OnceCell<SdkConfig> = OnceCell::const_new();

/// The shared SDK configuration (region, credentials, endpoint), loaded once.
pub async fn aws_config() -> &'static SdkConfig {
    CONFIG.get_or_init(|| aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts()).load()).await
}

/// Whether [`aws_config`] has been loaded: false until the first AWS SDK client is made.
pub fn aws_config_loaded() -> bool {
    CONFIG.initialized()
}

/// Bounds on every AWS call, so a stalled answer fails as a transient error (retried by the
/// workflow or the sweeper) instead of holding a function until Lambda kills it.
fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(3))
        .operation_attempt_timeout(std::time::Duration::from_secs(5))
        .operation_timeout(std::time::Duration::from_secs(15))
        .build()
}

/// The DynamoDB store on `table`, its client made on first use; with `create`, the table is
/// created first when it is missing.
pub async fn dynamo_store(table: &str, create: bool) -> anyhow::Result<Arc<dyn Store>> {
    if !create {
        return Ok(Arc::new(DynamoStore::new(LazyClient::default(), table)));
    }
    let client = aws_sdk_dynamodb::Client::new(aws_config().await);
    let exists = client.describe_table().table_name(table).send().await;
    match exists {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
            DynamoStore::create_table(&client, table).await?;
        }
        Err(e) => {
            return Err(anyhow::anyhow!("DescribeTable {table}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)));
        }
    }
    Ok(Arc::new(DynamoStore::new(client, table)))
}

/// The IAM Identity Center escalator: with `identity_store` (and `instance_arn`, for that instance
/// only), the ListInstances lookup is skipped.
pub fn sso_escalator(instance_arn: Option<&str>, identity_store: Option<&str>) -> Arc<dyn Escalator> {
    // Adaptive retries: throttling answers (ThrottlingException, TooManyRequestsException) are
    // retried with jittered backoff, and slow this process's later calls down (a client-side token
    // bucket). The escalator retries conflicts itself; the SDK does not.
    fn retries() -> aws_config::retry::RetryConfig {
        aws_config::retry::RetryConfig::adaptive().with_max_attempts(4)
    }
    let sso = LazyClient::with(|config| {
        aws_sdk_ssoadmin::Client::from_conf(
            aws_sdk_ssoadmin::config::Builder::from(config).retry_config(retries()).build(),
        )
    });
    let identity = LazyClient::with(|config| {
        aws_sdk_identitystore::Client::from_conf(
            aws_sdk_identitystore::config::Builder::from(config).retry_config(retries()).build(),
        )
    });
    Arc::new(with_identity_store(SsoEscalator::new(sso, identity), instance_arn, identity_store))
}

/// The IAM Identity Center group membership escalator, with the identity store settings of
/// [`sso_escalator`].
pub fn sso_group_escalator(instance_arn: Option<&str>, identity_store: Option<&str>) -> Arc<dyn Escalator> {
    let escalator = SsoEscalator::new(LazyClient::default(), LazyClient::default());
    Arc::new(SsoGroupEscalator::new(with_identity_store(escalator, instance_arn, identity_store)))
}

fn with_identity_store(
    escalator: SsoEscalator,
    instance_arn: Option<&str>,
    identity_store: Option<&str>,
) -> SsoEscalator {
    match (instance_arn, identity_store) {
        (Some(instance), Some(store)) => escalator.with_identity_store(instance, store),
        (None, Some(store)) => escalator.with_default_identity_store(store),
        _ => escalator,
    }
}

/// The account and permission-set catalog, when a target of `config` lists its accounts
/// (`accounts:`); targets without `instance_arn` use `instance_arn`.
pub fn target_catalog(
    config: &airlock_core::Config,
    instance_arn: Option<&str>,
) -> Option<Arc<dyn airlock_core::ports::TargetCatalog>> {
    let discovered = config.flows.iter().flat_map(|f| &f.targets);
    if !discovered.into_iter().any(|t| matches!(t.kind, airlock_core::TargetKind::AwsSsoScope(_))) {
        return None;
    }
    let catalog =
        crate::OrganizationsCatalog::new(LazyClient::default(), LazyClient::default(), instance_arn.map(String::from));
    Some(Arc::new(catalog))
}

/// The audit sink sending to the EventBridge bus `bus`.
pub fn event_bridge_sink(bus: &str) -> Arc<dyn AuditSink> {
    Arc::new(EventBridgeAuditSink::new(LazyClient::default(), bus))
}

/// The Step Functions workflow on state machine `arn`; with `deescalate_function`, early removals
/// invoke that function.
pub fn step_functions(arn: &str, deescalate_function: Option<&str>) -> Arc<dyn Workflow> {
    let mut workflow = StepFunctionsWorkflow::new(LazyClient::default(), arn);
    match deescalate_function {
        Some(function) => workflow = workflow.with_deescalate_function(LazyClient::default(), function),
        None => tracing::warn!("AIRLOCK_DEESCALATE_FUNCTION is not set: revoked access waits for the sweeper"),
    }
    Arc::new(workflow)
}

/// A Step Functions client that only sends decisions with task tokens (for the function running
/// AwaitDecision, which finds some requests decided before their token was stored).
pub fn decision_sender() -> Arc<dyn Workflow> {
    Arc::new(StepFunctionsWorkflow::new(LazyClient::default(), String::new()))
}

/// The values of SSM SecureString parameters, keyed by parameter name, from `GetParameters` (one
/// call per ten names). `wanted` pairs what each holds with its parameter name, for the errors; a
/// parameter that does not exist fails the whole read, naming it. Values are never logged.
pub async fn ssm_parameters(
    client: &aws_sdk_ssm::Client,
    wanted: &[(&str, &str)],
) -> anyhow::Result<HashMap<String, String>> {
    let mut names: Vec<&str> = wanted.iter().map(|(_, parameter)| *parameter).collect();
    names.sort_unstable();
    names.dedup();
    let mut values = HashMap::new();
    for chunk in names.chunks(10) {
        let out = client
            .get_parameters()
            .set_names(Some(chunk.iter().map(|n| n.to_string()).collect()))
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("reading {} from SSM: {}", chunk.join(", "), aws_sdk_ssm::error::DisplayErrorContext(e))
            })?;
        for parameter in out.parameters() {
            if let (Some(name), Some(value)) = (parameter.name(), parameter.value()) {
                values.insert(name.to_string(), value.to_string());
            }
        }
    }
    let missing: Vec<String> = wanted
        .iter()
        .filter(|(_, parameter)| !values.contains_key(*parameter))
        .map(|(name, parameter)| format!("{parameter} ({name})"))
        .collect();
    if !missing.is_empty() {
        anyhow::bail!("SSM parameters not found or without a value: {}", missing.join(", "));
    }
    Ok(values)
}

/// Secret `name`'s value from the SSM SecureString `parameter`. The value is never logged.
pub async fn ssm_parameter(name: &str, parameter: &str) -> anyhow::Result<String> {
    let client = aws_sdk_ssm::Client::new(aws_config().await);
    let out = client.get_parameter().name(parameter).with_decryption(true).send().await.map_err(|e| {
        anyhow::anyhow!("reading {name} from SSM {parameter}: {}", aws_sdk_ssm::error::DisplayErrorContext(e))
    })?;
    out.parameter()
        .and_then(|p| p.value())
        .map(String::from)
        .with_context(|| format!("SSM parameter {parameter} ({name}) has no value"))
}
