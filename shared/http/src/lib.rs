//! The HTTP surface of Airlock (docs/architecture.md#contracts): Slack's four endpoints, the `/api/v1` JSON API and
//! `/healthz`, as one axum [`Router`] served by `airlock serve` and by the slack-ingress Lambda.

mod api;
mod auth;
mod error;
mod model;
mod openapi;
mod slack;
mod users;

use airlock_core::Airlock;
use airlock_slack::SlackApp;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;

pub use auth::{ApiClient, ApiTokens, Scope};
pub use openapi::{openapi, openapi_json};

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub airlock: Airlock,
    pub slack: Arc<SlackApp>,
    pub api_tokens: Arc<ApiTokens>,
}

/// The router with every route of the contract, [`guarded`]; `/api/v1` is described by [`openapi()`].
pub fn router(state: AppState) -> Router {
    guarded(
        Router::new()
            .route("/slack/commands", post(slack::commands))
            .route("/slack/interactions", post(slack::interactions))
            .route("/slack/events", post(slack::events))
            .route("/slack/options", post(slack::options))
            .merge(openapi::api_routes().0)
            .route("/healthz", get(api::healthz))
            .fallback(error::not_found)
            .with_state(state),
    )
}

/// What every route gets: a handler that panics answers 500 (the JSON error shape) and the server
/// keeps serving; a body announced larger than the limit is refused before it is read; every
/// `/api/v1` error, whoever produced it, is `{"error": {"code", "message"}}`.
pub fn guarded(routes: Router) -> Router {
    routes
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(axum::middleware::from_fn(error::refuse_oversized))
        .layer(axum::middleware::from_fn(error::api_errors_as_json))
}
