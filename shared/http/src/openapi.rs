//! The OpenAPI 3.1 document of `/api/v1`, made by utoipa from the handlers' own annotations and
//! the request and response types they (de)serialize. The routes are registered through
//! [`OpenApiRouter`], so a route without its documentation cannot be added. Committed as
//! `docs/openapi.json` (the `openapi` test fails when it differs) and served at
//! `GET /api/v1/openapi.json`.

use crate::AppState;
use crate::error::ErrorBody;
use crate::{api, users};
use axum::http::header;
use axum::response::IntoResponse;
use std::sync::OnceLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::Response;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The name of the bearer security scheme in the document.
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Airlock API",
        description = "Just-in-time access requests for scripts and other systems: submit, read, list, \
                       cancel, revoke and extend requests; read and set people's roles. Every error is \
                       `{\"error\": {\"code\", \"message\", \"fields\"?}}` with a fitting status.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "requests", description = "Access requests"),
        (name = "users", description = "People's roles (tokens with the `admin` scope)"),
        (name = "meta", description = "This document"),
    ),
)]
struct ApiDoc;

/// The bearer scheme; an operation's requirement lists the scopes it needs.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut Document) {
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description = Some(
            "A token from `AIRLOCK_API_TOKENS` (`name:token:scopes`). Scopes: `submit` creates requests \
             for anyone (and cancels, revokes or extends the requests it submitted), `read` gets and lists \
             requests, `revoke` cancels, revokes and extends any request, `admin` all of them and people's \
             roles. An operation's security requirement names the scopes that allow it (any one of them). \
             No valid token: 401 `unauthorized`; a token without the scope: 403 `forbidden`."
                .into(),
        );
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER, SecurityScheme::Http(bearer));
    }
}

/// The errors any operation may answer, so each handler lists only its own: 401 and 403 where a
/// token is needed, 400 and 413 where a body is read, 500 and 503 everywhere.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut Document) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.put, &mut item.post].into_iter().flatten() {
                add_common_errors(operation);
            }
        }
    }
}

fn add_common_errors(operation: &mut Operation) {
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let reads_body = operation.request_body.is_some();
    let mut errors = vec![
        ("500", "A bug (a handler panicked): `internal`."),
        ("503", "The store or another dependency is unavailable; retrying may help: `unavailable`."),
    ];
    if secured {
        errors.push(("401", "No valid `Authorization: Bearer <token>`: `unauthorized`."));
        errors.push(("403", "The token lacks the scope, or the person may not do this: `forbidden`."));
    }
    if reads_body {
        errors.push(("400", "The body is not JSON of this shape: `bad_request`."));
        errors.push(("413", "The body is larger than 2 MiB: `payload_too_large`."));
        errors.push(("415", "Unused today; reserved for a body that is not JSON: `unsupported_media_type`."));
    }
    for (status, description) in errors {
        operation.responses.responses.entry(status.to_string()).or_insert_with(|| error_response(description));
    }
}

/// A response whose body is the error JSON.
pub(crate) fn error_response(description: &str) -> RefOr<Response> {
    let mut response = Response::new(description);
    let schema = RefOr::Ref(utoipa::openapi::Ref::from_schema_name(ErrorBody::name()));
    response.content.insert("application/json".into(), RefOr::T(Content::new(Some(schema))));
    RefOr::T(response)
}

/// `/api/v1` with its document, for [`crate::router`].
pub(crate) fn api_routes() -> (axum::Router<AppState>, Document) {
    let (routes, mut document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(api::create_request, api::list_requests))
        .routes(routes!(api::get_request))
        .routes(routes!(api::revoke_request))
        .routes(routes!(api::cancel_request))
        .routes(routes!(api::extend_request))
        .routes(routes!(users::get_role, users::put_role))
        .routes(routes!(serve_openapi))
        .split_for_parts();
    // After the routes: the modifiers look at every operation.
    Security.modify(&mut document);
    CommonErrors.modify(&mut document);
    (routes, document)
}

/// The OpenAPI document of `/api/v1` (what `GET /api/v1/openapi.json` serves).
pub fn openapi() -> Document {
    api_routes().1
}

/// The document as committed in `docs/openapi.json`: pretty JSON with a final newline.
pub fn openapi_json() -> String {
    let mut text = openapi().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

/// This document
///
/// No token needed: it describes the API, never data of the deployment, and a client (or a test
/// generator) reads it before it has a token.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document of `/api/v1`", body = Object)),
)]
async fn serve_openapi() -> impl IntoResponse {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT.get_or_init(openapi_json).as_str())
}
