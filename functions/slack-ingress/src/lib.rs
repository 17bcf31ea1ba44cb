//! The `slack-ingress` Lambda's app: the same axum router as `airlock serve` (Slack's four
//! endpoints, `/api/v1`, `/healthz`) over the AWS adapters.

use airlock_core::Airlock;
use airlock_fn_common::AwsApp;
use airlock_http::{ApiTokens, AppState, router};
use airlock_slack::SlackApp;
use std::sync::Arc;

/// The router over `app`, with the signing secret and API tokens its settings hold. Builds no AWS
/// SDK or HTTP client: the first request that needs one makes it.
pub async fn app(app: AwsApp) -> anyhow::Result<axum::Router> {
    let instance_arn = app.settings.sso_identity_store().instance_arn;
    let catalog = airlock_aws::bootstrap::target_catalog(&app.deps.config, instance_arn.as_deref());
    let mut airlock = Airlock::new(app.deps, app.settings.step_functions().await?);
    if let Some(catalog) = catalog {
        airlock = airlock.with_catalog(catalog);
    }
    let signing_secret = app.settings.slack_signing_secret.load().await?;
    let api_tokens =
        ApiTokens::parse(&app.settings.api_tokens.load().await.unwrap_or_default()).map_err(anyhow::Error::msg)?;
    let slack = Arc::new(SlackApp::new(airlock.clone(), app.slack, signing_secret));
    Ok(router(AppState { airlock, slack, api_tokens: Arc::new(api_tokens) }))
}
