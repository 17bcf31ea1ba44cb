//! JSON errors: `{"error": {"code", "message", "fields"?}}` with a fitting status.

use airlock_core::error::{DecideError, GrantChangeError, SubmitError};
use airlock_core::{Error, ErrorCode};
use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::any::Any;

/// An API error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    fields: Vec<airlock_core::FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), fields: Vec::new() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
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
        Self { status, code: e.code.as_str(), message: e.message, fields: e.fields }
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
        let mut error = json!({"code": self.code, "message": self.message});
        if !self.fields.is_empty() {
            error["fields"] = self.fields.iter().map(|f| json!({"field": f.field, "message": f.message})).collect();
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
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

fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_request",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
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
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error").into_response()
}
