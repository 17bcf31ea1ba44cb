//! `/api/v1`: create, read, list and revoke requests as JSON, for scripts and other systems.

use crate::AppState;
use crate::auth::{ApiClient, Scope};
use crate::error::ApiError;
use airlock_core::{AccessRequest, RequestId, Status, TargetGrant};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The client behind the bearer token, if its token has `scope`: 401 without a valid token, 403
/// without the scope.
fn authorize(state: &AppState, headers: &HeaderMap, scope: Scope) -> Result<ApiClient, ApiError> {
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let client = state
        .api_tokens
        .authenticate(given)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "send Authorization: Bearer <token>"))?;
    if client.may(scope) {
        Ok(client)
    } else {
        tracing::warn!(token = %client.name, %scope, "API call refused: the token lacks the scope");
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("the token {:?} does not have the {scope} scope", client.name),
        ))
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

fn parse_id(id: &str) -> Result<RequestId, ApiError> {
    id.parse().map_err(|e: String| ApiError::new(StatusCode::NOT_FOUND, "not_found", e))
}

/// A request as the API shows it: everything but the workflow's task token.
pub fn request_json(r: &AccessRequest) -> Value {
    json!({
        "id": r.id(),
        "status": r.status(),
        "flow": r.flow(),
        "target": r.target(),
        "requester": {"email": r.requester().email, "slack_id": r.requester().slack_id, "role": r.requester().role},
        "duration_seconds": r.duration_secs(),
        "reason": r.reason(),
        "fields": r.fields(),
        "created_at": r.created_at(),
        "updated_at": r.updated_at(),
        "decision_deadline": r.decision_deadline(),
        "approvals": r.approvals(),
        "decided_by": r.decided_by(),
        "decision_note": r.decision_note(),
        "granted_at": r.granted_at(),
        "expires_at": r.expires_at(),
        "access_removed_at": r.access_removed_at(),
        "holds_access": r.holds_access(),
        "preexisting_access": r.preexisting_access(),
        "removal": r.removal(),
        "failure": r.failure(),
        "targets": r.targets().iter().map(|t| target_json(r, t)).collect::<Vec<_>>(),
    })
}

/// One target of a request: where its grant stands, granted, expired, revoked or failed on its own.
fn target_json(r: &AccessRequest, t: &TargetGrant) -> Value {
    json!({
        "name": t.name(),
        "label": t.label(),
        "status": r.status_of(t),
        "granted_at": t.granted_at(),
        "expires_at": t.granted_at().and(r.expires_at()),
        "access_removed_at": t.access_removed_at(),
        "holds_access": r.target_holds_access(t),
        "preexisting_access": t.preexisting_access(),
        "removal": t.removal(),
        "failure": t.failure(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// Email or Slack user id of the person who needs the access.
    requester: String,
    flow: String,
    target: Option<String>,
    /// Several targets, for a flow with `multiple_targets` (instead of `target`).
    targets: Option<Vec<String>>,
    /// `"15m"`-style or whole seconds.
    duration: Option<Value>,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    fields: BTreeMap<String, Value>,
}

pub async fn create_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let client = authorize(&state, &headers, Scope::Submit)?;
    let body: CreateBody = parse_json(&body)?;
    let duration = match body.duration {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(ApiError::bad_request("duration must be a string like \"15m\" or whole seconds")),
    };
    let targets = match (&body.target, body.targets) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("give either \"target\" or \"targets\", not both")),
        (_, Some(targets)) if targets.is_empty() => {
            return Err(ApiError::bad_request("\"targets\" must name at least one target"));
        }
        (_, targets) => targets.unwrap_or_default(),
    };
    let who = state.airlock.identify(&body.requester).await?;
    let input = airlock_core::services::SubmitInput {
        flow: body.flow,
        target: body.target,
        targets,
        duration,
        reason: body.reason,
        fields: body.fields,
    };
    let request = state.airlock.submit(&who, input).await?;
    tracing::info!(request_id = %request.id(), token = %client.name, requester = %who.email, "request submitted through the API");
    Ok((StatusCode::ACCEPTED, Json(json!({"id": request.id(), "status": request.status()}))))
}

pub async fn get_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Scope::Read)?;
    let request = state.airlock.get_request(&parse_id(&id)?).await?;
    Ok(Json(request_json(&request)))
}

#[derive(Deserialize)]
pub struct ListQuery {
    user: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
}

pub async fn list_requests(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Scope::Read)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let status = query.status.as_deref().map(str::parse::<Status>).transpose().map_err(ApiError::bad_request)?;
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let requests = match (&query.user, status) {
        (Some(user), status) => {
            let who = state.airlock.identify(user).await?;
            state.airlock.list_requests(who.email.as_str(), status, limit).await?
        }
        (None, Some(status)) => state.airlock.requests_with_status(status, limit).await?,
        (None, None) => return Err(ApiError::bad_request("give user=<email or Slack id>, status=<status>, or both")),
    };
    Ok(Json(json!({"requests": requests.iter().map(request_json).collect::<Vec<_>>()})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    /// Email or Slack id of the person revoking (checked against who may revoke); without it the
    /// token revokes as the system, recorded as `api:<token name>`.
    by: Option<String>,
    reason: Option<String>,
}

pub async fn revoke_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let client = authorize(&state, &headers, Scope::Revoke)?;
    let body: RevokeBody =
        if body.iter().all(u8::is_ascii_whitespace) { RevokeBody::default() } else { parse_json(&body)? };
    let id = parse_id(&id)?;
    let request = match body.by {
        Some(by) => {
            let who = state.airlock.identify(&by).await?;
            state.airlock.revoke(&id, &who, body.reason).await?
        }
        None => state.airlock.revoke_as_system(&id, &format!("api:{}", client.name), body.reason).await?,
    };
    // Revoked now; the access is removed by the workflow right after (202: accepted, not yet done).
    Ok((StatusCode::ACCEPTED, Json(request_json(&request))))
}

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
