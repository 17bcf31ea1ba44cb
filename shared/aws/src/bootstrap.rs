//! Builds the AWS adapters once per process from the environment (the README's environment table plus the AWS SDK's
//! standard variables, `AWS_ENDPOINT_URL` included).
//!
//! | variable | used for |
//! |---|---|
//! | `AIRLOCK_TABLE` | the DynamoDB table |
//! | `AIRLOCK_CREATE_TABLE=1` | create the table when missing (local runs against an emulator) |
//! | `AIRLOCK_EVENT_BUS` | the EventBridge bus of audit events |
//! | `STATE_MACHINE_ARN` | the workflow's state machine |
//! | `AIRLOCK_DEESCALATE_FUNCTION` | the deescalate function (name or ARN), invoked at once for early revokes |
//! | `AIRLOCK_IDENTITY_STORE_ID` | skip the ListInstances lookup (for `AIRLOCK_SSO_INSTANCE_ARN`, or for all) |
//! | `<NAME>_PARAM` | read secret `<NAME>` from this SSM SecureString parameter instead of `<NAME>` |

use crate::{DynamoStore, EventBridgeAuditSink, SsoEscalator, StepFunctionsWorkflow};
use airlock_core::ports::{AuditSink, Escalator, Store, Workflow};
use anyhow::Context;
use aws_config::{BehaviorVersion, SdkConfig};
use std::sync::Arc;
use tokio::sync::OnceCell;

static CONFIG: OnceCell<SdkConfig> = OnceCell::const_new();

/// The shared SDK configuration (region, credentials, endpoint), loaded once.
pub async fn aws_config() -> &'static SdkConfig {
    CONFIG.get_or_init(|| aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts()).load()).await
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

fn required(name: &str) -> anyhow::Result<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty()).with_context(|| format!("{name} is not set"))
}

pub async fn dynamo_store_from_env() -> anyhow::Result<Arc<dyn Store>> {
    let table = required("AIRLOCK_TABLE")?;
    let client = aws_sdk_dynamodb::Client::new(aws_config().await);
    if std::env::var("AIRLOCK_CREATE_TABLE").is_ok_and(|v| v == "1" || v == "true") {
        let exists = client.describe_table().table_name(&table).send().await;
        match exists {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
                DynamoStore::create_table(&client, &table).await?;
            }
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "DescribeTable {table}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                ));
            }
        }
    }
    Ok(Arc::new(DynamoStore::new(client, table)))
}

pub async fn sso_escalator_from_env() -> anyhow::Result<Arc<dyn Escalator>> {
    let config = aws_config().await;
    let mut escalator =
        SsoEscalator::new(aws_sdk_ssoadmin::Client::new(config), aws_sdk_identitystore::Client::new(config));
    match (required("AIRLOCK_SSO_INSTANCE_ARN"), required("AIRLOCK_IDENTITY_STORE_ID")) {
        (Ok(instance), Ok(store)) => escalator = escalator.with_identity_store(&instance, &store),
        (Err(_), Ok(store)) => escalator = escalator.with_default_identity_store(&store),
        _ => {}
    }
    Ok(Arc::new(escalator))
}

/// The EventBridge bus of audit events (`AIRLOCK_EVENT_BUS`), when set.
pub fn event_bus() -> Option<String> {
    required("AIRLOCK_EVENT_BUS").ok()
}

pub async fn event_bridge_sink_from_env(bus: &str) -> anyhow::Result<Arc<dyn AuditSink>> {
    Ok(Arc::new(EventBridgeAuditSink::new(aws_sdk_eventbridge::Client::new(aws_config().await), bus)))
}

/// The Step Functions workflow; with `AIRLOCK_DEESCALATE_FUNCTION`, early removals invoke that function.
pub async fn step_functions_from_env() -> anyhow::Result<Arc<dyn Workflow>> {
    let arn = required("STATE_MACHINE_ARN")?;
    let config = aws_config().await;
    let mut workflow = StepFunctionsWorkflow::new(aws_sdk_sfn::Client::new(config), arn);
    match required("AIRLOCK_DEESCALATE_FUNCTION") {
        Ok(function) => workflow = workflow.with_deescalate_function(aws_sdk_lambda::Client::new(config), function),
        Err(_) => tracing::warn!("AIRLOCK_DEESCALATE_FUNCTION is not set: revoked access waits for the sweeper"),
    }
    Ok(Arc::new(workflow))
}

/// Secret `name`: from the SSM SecureString parameter named by `<name>_PARAM` when set, else from
/// the variable itself. The value is never logged.
pub async fn secret(name: &str) -> anyhow::Result<String> {
    let Ok(parameter) = required(&format!("{name}_PARAM")) else {
        return required(name);
    };
    let client = aws_sdk_ssm::Client::new(aws_config().await);
    let out = client.get_parameter().name(&parameter).with_decryption(true).send().await.map_err(|e| {
        anyhow::anyhow!("reading {name} from SSM {parameter}: {}", aws_sdk_ssm::error::DisplayErrorContext(e))
    })?;
    out.parameter()
        .and_then(|p| p.value())
        .map(String::from)
        .with_context(|| format!("SSM parameter {parameter} ({name}) has no value"))
}
