//! The `prefetch` Lambda: options of a select field with `prefetch: {url: ...}`, fetched from where
//! the function runs (it may sit in a VPC that reaches internal URLs). slack-ingress invokes it
//! (`PREFETCH_FUNCTION`) with `{"flow", "field", "query"}`; it answers `[{value, label}]`.

use airlock_core::Config;
use airlock_core::ports::{OptionsSource, SelectOption};
use airlock_fn_common::{config_text, init_logging};
use airlock_webhook::HttpOptionsSource;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Deserialize;

#[derive(Deserialize)]
struct Ask {
    flow: String,
    field: String,
    #[serde(default)]
    query: String,
}

fn refused(message: String) -> Diagnostic {
    Diagnostic { error_type: "Airlock.Permanent".into(), error_message: message }
}

async fn options(config: &Config, source: &HttpOptionsSource, ask: Ask) -> Result<Vec<SelectOption>, Diagnostic> {
    let flow = config.flow(&ask.flow).ok_or_else(|| refused(format!("unknown flow {}", ask.flow)))?;
    let field = flow.field(&ask.field).ok_or_else(|| refused(format!("{} has no field {}", ask.flow, ask.field)))?;
    source.options(flow, field, &ask.query).await.map_err(refused)
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
