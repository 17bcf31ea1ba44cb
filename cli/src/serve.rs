//! `airlock serve`.

use crate::app::LocalApp;
use crate::settings::{Environment, Settings};
use anyhow::Context;

pub async fn run() -> anyhow::Result<()> {
    crate::telemetry::init("info");
    let env = Environment::from_env();
    let settings = Settings::load(&env)?;
    let addr = settings.addr;
    tracing::info!(config = %settings.config_source, flows = settings.config.flows.len(), "config loaded");
    if settings.api_tokens.is_empty() {
        tracing::warn!("AIRLOCK_API_TOKENS is empty: /api/v1 refuses every call");
    }
    let app = LocalApp::build_with(settings, &env).await?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(%addr, "airlock listening");
    app.serve(listener, async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
    .await
}
