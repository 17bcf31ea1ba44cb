//! `/api/v1`: create, read, list, cancel and revoke requests as JSON, for scripts and other systems.

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
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap, scope: Scope) -> Result<ApiClient, ApiError> {
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

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
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
        "environment": r.environment(),
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
        "requested_duration_seconds": r.requested_duration().map(|d| d.as_secs()),
        "revoked_by": r.revoked_by(),
        "extensions": r.extensions().iter().map(|e| json!({
            "number": e.number,
            "added_seconds": e.added_secs,
            "reason": e.reason,
            "status": e.status,
            "requested_by": e.requested_by,
            "requested_at": e.requested_at,
            "approvals": e.approvals,
            "decided_by": e.decided_by,
            "decided_at": e.decided_at,
            "note": e.note,
        })).collect::<Vec<_>>(),
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
    /// The flow's environment; optional when the flow name is in one environment only.
    environment: Option<String>,
    target: Option<String>,
    /// Several targets, for a flow with `multiple_targets` (instead of `target`).
    targets: Option<Vec<String>>,
    /// For a target that lists accounts: the account (id or name), or several in `accounts`.
    account: Option<String>,
    accounts: Option<Vec<String>>,
    /// For a target that lists accounts: the permission set (name or ARN).
    permission_set: Option<String>,
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
    let accounts = match (body.account, body.accounts) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("give either \"account\" or \"accounts\", not both")),
        (Some(account), None) => vec![account],
        (None, accounts) => accounts.unwrap_or_default(),
    };
    let who = state.airlock.identify(&body.requester).await?;
    let input = airlock_core::services::SubmitInput {
        flow: body.flow,
        environment: body.environment,
        target: body.target,
        targets,
        accounts,
        permission_set: body.permission_set,
        duration,
        reason: body.reason,
        fields: body.fields,
        submitted_by: Some(format!("api:{}", client.name)),
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

/// The client allowed to cancel, revoke or extend a request, and whether any request (a token
/// with the revoke or admin scope) or only those it submitted (a token with the submit scope).
fn authorize_change(state: &AppState, headers: &HeaderMap) -> Result<(ApiClient, bool), ApiError> {
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let any_request = state.api_tokens.authenticate(given).is_some_and(|c| c.may(Scope::Revoke));
    let client = authorize(state, headers, if any_request { Scope::Revoke } else { Scope::Submit })?;
    Ok((client, any_request))
}

pub async fn revoke_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (client, any_request) = authorize_change(&state, &headers)?;
    let body: RevokeBody =
        if body.iter().all(u8::is_ascii_whitespace) { RevokeBody::default() } else { parse_json(&body)? };
    let id = parse_id(&id)?;
    let request = match body.by {
        // Revoking on someone's behalf takes the revoke scope.
        Some(by) => {
            authorize(&state, &headers, Scope::Revoke)?;
            let who = state.airlock.identify(&by).await?;
            state.airlock.revoke(&id, &who, body.reason).await?
        }
        None => {
            let name = format!("api:{}", client.name);
            state.airlock.revoke_as_system(&id, &name, any_request, body.reason).await?
        }
    };
    // Revoked now; the access is removed by the workflow right after (202: accepted, not yet done).
    Ok((StatusCode::ACCEPTED, Json(request_json(&request))))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    reason: Option<String>,
}

/// Cancels a pending request: allowed to the token that submitted it and to tokens with the
/// `revoke` (or `admin`) scope; recorded as `api:<token name>`. 200 with the request, now
/// `cancelled`; 404 unknown, 409 not pending.
pub async fn cancel_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (client, any_request) = authorize_change(&state, &headers)?;
    let body: CancelBody =
        if body.iter().all(u8::is_ascii_whitespace) { CancelBody::default() } else { parse_json(&body)? };
    let id = parse_id(&id)?;
    let request =
        state.airlock.cancel_as_system(&id, &format!("api:{}", client.name), any_request, body.reason).await?;
    tracing::info!(request_id = %id, token = %client.name, "request cancelled through the API");
    Ok(Json(request_json(&request)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtendBody {
    /// How much longer: `"30m"`-style or whole seconds.
    duration: Value,
    reason: String,
}

/// `POST /api/v1/requests/{id}/extend` `{"duration", "reason"}`: asks for more time on an active
/// grant, decided like a request (rules, `extensions.self_approve`, or the approvers' card). 200
/// with the request (its `extensions` show the decision or that it waits); 409 `extension_limit`
/// past the flow's limit, 409 `conflict` when not active, 422 over the flow's maximum.
pub async fn extend_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (client, any_request) = authorize_change(&state, &headers)?;
    let body: ExtendBody = parse_json(&body)?;
    let duration = match &body.duration {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(ApiError::bad_request("duration must be a string like \"30m\" or whole seconds")),
    };
    let added = parse_duration(&duration)?;
    if body.reason.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "reason: say why you need longer",
        ));
    }
    let id = parse_id(&id)?;
    let name = format!("api:{}", client.name);
    let request = state.airlock.ask_extension_as_system(&id, &name, any_request, added, &body.reason).await?;
    tracing::info!(request_id = %id, token = %client.name, "extension asked through the API");
    Ok(Json(request_json(&request)))
}

/// `"30m"`-style or whole seconds, within a year.
fn parse_duration(text: &str) -> Result<airlock_core::GrantDuration, ApiError> {
    let invalid =
        |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", format!("duration: {m}"));
    match text.trim().parse::<u64>() {
        Ok(secs) if (1..=airlock_core::GrantDuration::MAX_SECS).contains(&secs) => {
            Ok(airlock_core::GrantDuration::from_secs(secs))
        }
        Ok(_) => Err(invalid(format!("{text} seconds is out of range"))),
        Err(_) => text.parse().map_err(invalid),
    }
}

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
