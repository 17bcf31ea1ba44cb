//! JSON errors: `{"error": {"code", "message", "fields"?}}` with a fitting status.

use airlock_core::error::{DecideError, GrantChangeError, SubmitError};
use airlock_core::{Error, ErrorCode};
use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::any::Any;
use utoipa::ToSchema;

/// Every `code` an API error may carry: core's error codes and the HTTP layer's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiErrorCode {
    /// The body is not valid JSON of the operation's shape, or a query parameter is malformed.
    BadRequest,
    /// No valid `Authorization: Bearer <token>`.
    Unauthorized,
    /// The token lacks the scope, or the person may not do this.
    Forbidden,
    /// No such request, flow or route.
    NotFound,
    /// The flow named does not exist.
    UnknownFlow,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// The input failed validation; see `fields`.
    InvalidRequest,
    /// The request is not in a status that allows this (already decided, not active, …).
    Conflict,
    /// The same access is already requested or active for this person.
    DuplicateRequest,
    /// The grant has had every extension its flow allows, or one is already waiting.
    ExtensionLimit,
    /// A dependency (the store, Slack, the workflow) failed; retrying may help.
    Unavailable,
    Internal,
}

impl From<ErrorCode> for ApiErrorCode {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::Invalid => ApiErrorCode::InvalidRequest,
            ErrorCode::UnknownFlow => ApiErrorCode::UnknownFlow,
            ErrorCode::NotFound => ApiErrorCode::NotFound,
            ErrorCode::Forbidden => ApiErrorCode::Forbidden,
            ErrorCode::Conflict => ApiErrorCode::Conflict,
            ErrorCode::Duplicate => ApiErrorCode::DuplicateRequest,
            ErrorCode::ExtensionLimit => ApiErrorCode::ExtensionLimit,
            ErrorCode::Unavailable => ApiErrorCode::Unavailable,
            ErrorCode::Internal => ApiErrorCode::Internal,
        }
    }
}

/// The body of every API error.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ApiErrorCode,
    pub message: String,
    /// One entry per invalid input (with `invalid_request`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldProblem>,
}

/// A validation problem with one input: `target`, `duration`, `reason` or a custom field's name.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = FieldError)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// An API error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ApiErrorCode,
    message: String,
    fields: Vec<airlock_core::FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ApiErrorCode, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), fields: Vec::new() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ApiErrorCode::BadRequest, message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match e.code {
            ErrorCode::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::UnknownFlow | ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::Conflict | ErrorCode::Duplicate | ErrorCode::ExtensionLimit => StatusCode::CONFLICT,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(code = e.code.as_str(), error = %e.message, "request failed");
        }
        Self { status, code: e.code.into(), message: e.message, fields: e.fields }
    }
}

/// A typed service error answers as the [`Error`] it maps to.
macro_rules! via_error {
    ($($service_error:ty),*) => {$(
        impl From<$service_error> for ApiError {
            fn from(e: $service_error) -> Self {
                Error::from(e).into()
            }
        }
    )*};
}
via_error!(SubmitError, DecideError, GrantChangeError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let fields = self.fields.into_iter().map(|f| FieldProblem { field: f.field, message: f.message }).collect();
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message, fields } };
        (self.status, Json(body)).into_response()
    }
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, ApiErrorCode::NotFound, "no such route")
}

/// The largest request body any route reads (axum's default limit, which the extractors enforce
/// while reading a body without a `Content-Length`).
pub const BODY_LIMIT: u64 = 2 * 1024 * 1024;

/// Answers 413 at once to a request whose `Content-Length` is over [`BODY_LIMIT`], without reading
/// its body: the client learns why before it has sent megabytes for nothing.
pub async fn refuse_oversized(request: Request, next: Next) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match announced {
        Some(length) if length > BODY_LIMIT => (
            StatusCode::PAYLOAD_TOO_LARGE,
            [(header::CONNECTION, "close")],
            format!("the body is {length} bytes; at most {BODY_LIMIT} are accepted"),
        )
            .into_response(),
        _ => next.run(request).await,
    }
}

/// Gives every `/api/v1` error the JSON shape, whatever produced it: an extractor's rejection
/// (query, path, body size), the method router (405), the panic guard.
pub async fn api_errors_as_json(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let status = response.status();
    if !api || !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let message = match (text.is_empty(), parts.headers.get(header::ALLOW).and_then(|v| v.to_str().ok())) {
        (false, _) => text,
        (true, Some(allowed)) => format!("method not allowed here; use {allowed}"),
        (true, None) => status.canonical_reason().unwrap_or("error").to_string(),
    };
    let mut json = ApiError::new(status, code_for(status), message).into_response();
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        json.headers_mut().insert(header::ALLOW, allow.clone());
    }
    json
}

fn is_json(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("application/json"))
}

fn code_for(status: StatusCode) -> ApiErrorCode {
    match status {
        StatusCode::BAD_REQUEST => ApiErrorCode::BadRequest,
        StatusCode::UNAUTHORIZED => ApiErrorCode::Unauthorized,
        StatusCode::FORBIDDEN => ApiErrorCode::Forbidden,
        StatusCode::NOT_FOUND => ApiErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ApiErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiErrorCode::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => ApiErrorCode::InvalidRequest,
        StatusCode::SERVICE_UNAVAILABLE => ApiErrorCode::Unavailable,
        s if s.is_server_error() => ApiErrorCode::Internal,
        _ => ApiErrorCode::BadRequest,
    }
}

/// What a handler that panicked answers: 500 in the JSON error shape; the server keeps serving.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    tracing::error!(panic = detail, "a request handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ApiErrorCode::Internal, "internal error").into_response()
}
