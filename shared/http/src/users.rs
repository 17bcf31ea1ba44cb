//! `/api/v1/users/{email}/role`: a person's role and why (GET), and setting it over the config's
//! default (PUT `{"role": "admin"|"member"|"guest"}`), for tokens with the `admin` scope. A change is
//! recorded as made by `api:<token name>` and holds at once for every running process.

use crate::AppState;
use crate::api::{authorize, parse_json};
use crate::auth::Scope;
use crate::error::{ApiError, ErrorBody};
use crate::model::{self, RoleAnswer, RoleUpdate};
use airlock_core::roles::ChangeVia;
use airlock_core::{Actor, Email, Error, ErrorCode, Role};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use utoipa::ToSchema;

fn parse_email(email: &str) -> Result<Email, ApiError> {
    email.parse().map_err(|e: String| Error::new(ErrorCode::Invalid, e).into())
}

/// Get a person's role
///
/// Their role and why: set in the store, listed in `organization.admins`, or their email's domain.
#[utoipa::path(
    get,
    path = "/api/v1/users/{email}/role",
    tag = "users",
    operation_id = "get_role",
    params(("email" = String, Path, description = "The person's email", example = "dave@example.com")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The role", body = RoleAnswer),
        (status = 422, description = "Not an email: `invalid_request`", body = ErrorBody),
    ),
)]
pub async fn get_role(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(email): Path<String>,
) -> Result<Json<RoleAnswer>, ApiError> {
    authorize(&state, &headers, Scope::Admin)?;
    let answer = state.airlock.people().role_of(&parse_email(&email)?).await?;
    Ok(Json(RoleAnswer::from(&answer)))
}

/// A role to set.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SetRole)]
pub struct RoleBody {
    /// `admin`, `member` or `guest` (in any case).
    #[schema(value_type = model::Role)]
    role: String,
}

/// Set a person's role
///
/// Over the config's default, at once for every running process; an audit event recorded as
/// made by `api:<token name>`.
#[utoipa::path(
    put,
    path = "/api/v1/users/{email}/role",
    tag = "users",
    operation_id = "set_role",
    params(("email" = String, Path, description = "The person's email", example = "dave@example.com")),
    request_body = RoleBody,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The role now; `changed` is false when it was already so", body = RoleUpdate),
        (status = 409, description = "A concurrent change: `conflict`", body = ErrorBody),
        (status = 422, description = "Not an email, or an unknown role: `invalid_request`", body = ErrorBody),
    ),
)]
pub async fn put_role(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(email): Path<String>,
    body: Bytes,
) -> Result<Json<RoleUpdate>, ApiError> {
    let client = authorize(&state, &headers, Scope::Admin)?;
    let email = parse_email(&email)?;
    let body: RoleBody = parse_json(&body)?;
    let role: Role = body.role.parse().map_err(|e: String| ApiError::from(Error::new(ErrorCode::Invalid, e)))?;
    let by = Actor::system(&format!("api:{}", client.name));
    let update = state.airlock.people().set_role(&email, role, by, ChangeVia::Api).await?;
    Ok(Json(RoleUpdate { answer: RoleAnswer::from(&update.answer), changed: update.changed }))
}
