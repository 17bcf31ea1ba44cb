//! Slack's endpoints: the body is handed to [`airlock_slack::SlackApp`] raw, since the signature
//! covers the exact bytes.

use crate::AppState;
use airlock_slack::{SlackReply, SlackRoute};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

async fn handle(state: &AppState, route: SlackRoute, headers: &HeaderMap, body: &Bytes) -> Response {
    reply(state.slack.handle(route, headers, body).await)
}

fn reply(reply: SlackReply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, reply.body).into_response();
    if let Ok(content_type) = HeaderValue::from_str(&reply.content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, content_type);
    }
    response
}

pub async fn commands(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&state, SlackRoute::Commands, &headers, &body).await
}

pub async fn interactions(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&state, SlackRoute::Interactions, &headers, &body).await
}

pub async fn events(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&state, SlackRoute::Events, &headers, &body).await
}

pub async fn options(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&state, SlackRoute::Options, &headers, &body).await
}
