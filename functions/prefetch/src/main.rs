//! The `prefetch` Lambda: options of a select field with `prefetch: {url: ...}`, fetched from where
//! the function runs (it may sit in a VPC that reaches internal URLs). slack-ingress invokes it
//! (`PREFETCH_FUNCTION`) with `{"flow", "environment", "field", "query"}`; it answers `[{value, label}]`.

use airlock_core::Config;
use airlock_core::ports::{OptionsSource, SelectOption};
use airlock_fn_common::{Failure, config_text, init_logging};
use airlock_webhook::HttpOptionsSource;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Deserialize;

#[derive(Deserialize)]
struct Ask {
    flow: String,
    /// The flow's environment (absent from callers before environments: the flow's only one, or prod).
    #[serde(default)]
    environment: Option<String>,
    field: String,
    #[serde(default)]
    query: String,
}

async fn options(config: &Config, source: &HttpOptionsSource, ask: Ask) -> Result<Vec<SelectOption>, Diagnostic> {
    let flow = match &ask.environment {
        Some(environment) => config.flow_in(&ask.flow, environment),
        None => config.flow(&ask.flow),
    }
    .ok_or_else(|| Failure::permanent(format!("unknown flow {}", ask.flow)))?;
    let field =
        flow.field(&ask.field).ok_or_else(|| Failure::permanent(format!("{} has no field {}", ask.flow, ask.field)))?;
    Ok(source.options(flow, field, &ask.query).await.map_err(Failure::from)?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging();
    let config: &'static Config = Box::leak(Box::new(Config::from_yaml(&config_text().await?)?));
    let source: &'static HttpOptionsSource = Box::leak(Box::new(HttpOptionsSource::new()));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Ask>| options(config, source, event.payload)))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}
