//! `/api/v1`: create, read, list, cancel and revoke requests as JSON, for scripts and other systems.

use crate::AppState;
use crate::auth::{ApiClient, Scope};
use crate::error::{ApiError, ApiErrorCode, ErrorBody};
use crate::model::{self, Created, Health, RequestList, RequestView};
use airlock_core::{RequestId, Status};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// The client behind the bearer token, if its token has `scope`: 401 without a valid token, 403
/// without the scope.
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap, scope: Scope) -> Result<ApiClient, ApiError> {
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let client = state.api_tokens.authenticate(given).ok_or_else(|| {
        ApiError::new(StatusCode::UNAUTHORIZED, ApiErrorCode::Unauthorized, "send Authorization: Bearer <token>")
    })?;
    if client.may(scope) {
        Ok(client)
    } else {
        tracing::warn!(token = %client.name, %scope, "API call refused: the token lacks the scope");
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ApiErrorCode::Forbidden,
            format!("the token {:?} does not have the {scope} scope", client.name),
        ))
    }
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// An optional body: empty, `null`, or the JSON of `T`.
fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    Ok(parse_json::<Option<T>>(body)?.unwrap_or_default())
}

fn parse_id(id: &str) -> Result<RequestId, ApiError> {
    id.parse().map_err(|e: String| ApiError::new(StatusCode::NOT_FOUND, ApiErrorCode::NotFound, e))
}

/// A duration: `"15m"`-style (`s`, `m`, `h`, `d`) or whole seconds.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(as = Duration, examples("1h", 900))]
pub enum DurationInput {
    Text(String),
    #[schema(value_type = u64)]
    Seconds(serde_json::Number),
}

impl DurationInput {
    fn into_text(self) -> String {
        match self {
            DurationInput::Text(text) => text,
            DurationInput::Seconds(n) => n.to_string(),
        }
    }
}

/// A new access request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateRequest, example = json!({
    "requester": "carol@example.com", "flow": "aws-prod", "target": "prod-admin", "duration": "15m",
    "reason": "INC-42", "fields": {"urgency": "Normal"}
}))]
pub struct CreateBody {
    /// Email or Slack user id of the person who needs the access.
    requester: String,
    flow: String,
    /// The flow's environment; optional when the flow name is in one environment only.
    environment: Option<String>,
    /// The target (a flow's only target may be left out).
    target: Option<String>,
    /// Several targets, for a flow with `multiple_targets` (instead of `target`).
    targets: Option<Vec<String>>,
    /// For a target that lists accounts: the account (id or name), or several in `accounts`.
    account: Option<String>,
    accounts: Option<Vec<String>>,
    /// For a target that lists accounts: the permission set (name or ARN).
    permission_set: Option<String>,
    /// How long; the flow's first duration when left out.
    duration: Option<DurationInput>,
    #[serde(default)]
    reason: String,
    /// The flow's custom fields by name.
    #[serde(default)]
    fields: BTreeMap<String, Value>,
}

/// Submit a request
///
/// Creates an access request on someone's behalf (recorded as submitted by `api:<token name>`);
/// the flow's rules may decide it at once. 202: accepted, the workflow runs from here.
#[utoipa::path(
    post,
    path = "/api/v1/requests",
    tag = "requests",
    operation_id = "create_request",
    request_body = CreateBody,
    security(("bearer" = ["submit"]), ("bearer" = ["admin"])),
    responses(
        (status = 202, description = "Submitted", body = Created, links(
            ("get" = (operation_id = "get_request", parameters(("id" = "$response.body#/id")))),
            ("cancel" = (operation_id = "cancel_request", parameters(("id" = "$response.body#/id")))),
            ("revoke" = (operation_id = "revoke_request", parameters(("id" = "$response.body#/id")))),
            ("extend" = (operation_id = "extend_request", parameters(("id" = "$response.body#/id")))),
        )),
        (status = 403, description = "The token lacks the scope, or the person may not request this flow: `forbidden`", body = ErrorBody),
        (status = 404, description = "No such flow: `unknown_flow`", body = ErrorBody),
        (status = 409, description = "The same access is already requested or active: `duplicate_request`; or a concurrent write: `conflict`", body = ErrorBody),
        (status = 422, description = "A field is invalid: `invalid_request` with `fields`", body = ErrorBody),
    ),
)]
pub async fn create_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let client = authorize(&state, &headers, Scope::Submit)?;
    let body: CreateBody = parse_json(&body)?;
    let duration = body.duration.map(DurationInput::into_text);
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
    Ok((StatusCode::ACCEPTED, Json(Created { id: request.id().to_string(), status: request.status().into() })))
}

/// Get a request
#[utoipa::path(
    get,
    path = "/api/v1/requests/{id}",
    tag = "requests",
    operation_id = "get_request",
    params(("id" = String, Path, description = "The request's id (`req_…`)")),
    security(("bearer" = ["read"]), ("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The request", body = RequestView),
        (status = 404, description = "No such request: `not_found`", body = ErrorBody),
    ),
)]
pub async fn get_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    authorize(&state, &headers, Scope::Read)?;
    let request = state.airlock.get_request(&parse_id(&id)?).await?;
    Ok(Json(RequestView::from(&request)))
}

/// Which requests to list: give `user`, `status`, or both.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The requester: email or Slack user id.
    user: Option<String>,
    /// Only requests in this status.
    #[param(value_type = Option<model::Status>)]
    status: Option<String>,
    /// At most this many (default 50; 0 counts as 1, above 200 as 200).
    #[param(minimum = 0)]
    limit: Option<usize>,
}

/// List requests
///
/// A person's requests (newest first), optionally in one status, or every request in a status.
#[utoipa::path(
    get,
    path = "/api/v1/requests",
    tag = "requests",
    operation_id = "list_requests",
    params(ListQuery),
    security(("bearer" = ["read"]), ("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The requests", body = RequestList),
        (status = 400, description = "Neither `user` nor `status`, or a malformed parameter: `bad_request`", body = ErrorBody),
        (status = 403, description = "The token lacks the scope, or `user` names an unknown Slack user: `forbidden`", body = ErrorBody),
        (status = 422, description = "`user` is not an email or a Slack user id: `invalid_request`", body = ErrorBody),
    ),
)]
pub async fn list_requests(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<RequestList>, ApiError> {
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
    Ok(Json(RequestList { requests: requests.iter().map(RequestView::from).collect() }))
}

/// A revoke; the body may be left out.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RevokeRequest)]
pub struct RevokeBody {
    /// Email or Slack id of the person revoking (checked against who may revoke; needs the
    /// `revoke` scope); without it the token revokes as the system, recorded as `api:<token name>`.
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

/// Revoke a grant
///
/// Ends an active grant early: the request is `revoked` at once and the workflow removes the
/// access right after (`access_removed_at` is set then). Allowed to the token that submitted the
/// request and to tokens with the `revoke` scope.
#[utoipa::path(
    post,
    path = "/api/v1/requests/{id}/revoke",
    tag = "requests",
    operation_id = "revoke_request",
    params(("id" = String, Path, description = "The request's id (`req_…`)")),
    request_body(content = Option<RevokeBody>, description = "Optional"),
    security(("bearer" = ["submit"]), ("bearer" = ["revoke"]), ("bearer" = ["admin"])),
    responses(
        (status = 202, description = "Revoked; the access is removed right after", body = RequestView),
        (status = 404, description = "No such request: `not_found`", body = ErrorBody),
        (status = 409, description = "The grant is not active: `conflict`", body = ErrorBody),
        (status = 422, description = "`by` is not an email or a Slack user id: `invalid_request`", body = ErrorBody),
    ),
)]
pub async fn revoke_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let (client, any_request) = authorize_change(&state, &headers)?;
    let body: RevokeBody = optional_json(&body)?;
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
    Ok((StatusCode::ACCEPTED, Json(RequestView::from(&request))))
}

/// A cancel; the body may be left out.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CancelRequest)]
pub struct CancelBody {
    reason: Option<String>,
}

/// Cancel a pending request
///
/// Allowed to the token that submitted it and to tokens with the `revoke` (or `admin`) scope;
/// recorded as `api:<token name>`.
#[utoipa::path(
    post,
    path = "/api/v1/requests/{id}/cancel",
    tag = "requests",
    operation_id = "cancel_request",
    params(("id" = String, Path, description = "The request's id (`req_…`)")),
    request_body(content = Option<CancelBody>, description = "Optional"),
    security(("bearer" = ["submit"]), ("bearer" = ["revoke"]), ("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Cancelled", body = RequestView),
        (status = 404, description = "No such request: `not_found`", body = ErrorBody),
        (status = 409, description = "The request was decided already: `conflict`", body = ErrorBody),
    ),
)]
pub async fn cancel_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<RequestView>, ApiError> {
    let (client, any_request) = authorize_change(&state, &headers)?;
    let body: CancelBody = optional_json(&body)?;
    let id = parse_id(&id)?;
    let request =
        state.airlock.cancel_as_system(&id, &format!("api:{}", client.name), any_request, body.reason).await?;
    tracing::info!(request_id = %id, token = %client.name, "request cancelled through the API");
    Ok(Json(RequestView::from(&request)))
}

/// More time on an active grant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ExtendRequest, example = json!({"duration": "30m", "reason": "the migration overran"}))]
pub struct ExtendBody {
    /// How much longer.
    duration: DurationInput,
    /// Why (not empty).
    reason: String,
}

/// Extend a grant
///
/// Asks for more time on an active grant, decided like a request (rules,
/// `extensions.self_approve`, or the approvers' card): the request's `extensions` show the
/// decision or that it waits.
#[utoipa::path(
    post,
    path = "/api/v1/requests/{id}/extend",
    tag = "requests",
    operation_id = "extend_request",
    params(("id" = String, Path, description = "The request's id (`req_…`)")),
    request_body = ExtendBody,
    security(("bearer" = ["submit"]), ("bearer" = ["revoke"]), ("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The request with the extension", body = RequestView),
        (status = 404, description = "No such request: `not_found`", body = ErrorBody),
        (status = 409, description = "Past the flow's limit or one is pending: `extension_limit`; the grant is not active: `conflict`", body = ErrorBody),
        (status = 422, description = "A bad duration, more than the flow's `max_duration`, or no reason: `invalid_request`", body = ErrorBody),
    ),
)]
pub async fn extend_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<RequestView>, ApiError> {
    let (client, any_request) = authorize_change(&state, &headers)?;
    let body: ExtendBody = parse_json(&body)?;
    let added = parse_duration(&body.duration.into_text())?;
    if body.reason.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ApiErrorCode::InvalidRequest,
            "reason: say why you need longer",
        ));
    }
    let id = parse_id(&id)?;
    let name = format!("api:{}", client.name);
    let request = state.airlock.ask_extension_as_system(&id, &name, any_request, added, &body.reason).await?;
    tracing::info!(request_id = %id, token = %client.name, "extension asked through the API");
    Ok(Json(RequestView::from(&request)))
}

/// `"30m"`-style or whole seconds, within a year.
fn parse_duration(text: &str) -> Result<airlock_core::GrantDuration, ApiError> {
    let invalid = |m: String| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ApiErrorCode::InvalidRequest, format!("duration: {m}"))
    };
    match text.trim().parse::<u64>() {
        Ok(secs) if (1..=airlock_core::GrantDuration::MAX_SECS).contains(&secs) => {
            Ok(airlock_core::GrantDuration::from_secs(secs))
        }
        Ok(_) => Err(invalid(format!("{text} seconds is out of range"))),
        Err(_) => text.parse().map_err(invalid),
    }
}

pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}
