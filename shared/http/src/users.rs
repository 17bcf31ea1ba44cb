//! `/api/v1/users/{email}/role`: a person's role and why (GET), and setting it over the config's
//! default (PUT `{"role": "admin"|"member"|"guest"}`), for tokens with the `admin` scope. A change is
//! recorded as made by `api:<token name>` and holds at once for every running process.

use crate::AppState;
use crate::api::{authorize, parse_json};
use crate::auth::Scope;
use crate::error::ApiError;
use airlock_core::roles::{ChangeVia, RoleAnswer, RoleSource};
use airlock_core::{Actor, Email, Error, ErrorCode, Role};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

fn parse_email(email: &str) -> Result<Email, ApiError> {
    email.parse().map_err(|e: String| Error::new(ErrorCode::Invalid, e).into())
}

/// A role as the API shows it.
fn role_json(answer: &RoleAnswer) -> Value {
    let mut body = json!({
        "email": answer.email,
        "role": answer.role,
        "source": answer.source_name(),
        "reason": answer.why(),
    });
    if let RoleSource::Set { by, at, .. } = &answer.source {
        body["set_by"] = json!(by.to_string());
        body["set_at"] = json!(at);
    }
    body
}

pub async fn get_role(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(email): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Scope::Admin)?;
    let answer = state.airlock.people().role_of(&parse_email(&email)?).await?;
    Ok(Json(role_json(&answer)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: String,
}

pub async fn put_role(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(email): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let client = authorize(&state, &headers, Scope::Admin)?;
    let email = parse_email(&email)?;
    let body: RoleBody = parse_json(&body)?;
    let role: Role = body.role.parse().map_err(|e: String| ApiError::from(Error::new(ErrorCode::Invalid, e)))?;
    let by = Actor::system(&format!("api:{}", client.name));
    let update = state.airlock.people().set_role(&email, role, by, ChangeVia::Api).await?;
    let mut answer = role_json(&update.answer);
    answer["changed"] = json!(update.changed);
    Ok(Json(answer))
}
