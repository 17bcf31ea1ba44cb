//! Service errors with stable codes, mapped to HTTP statuses and Slack messages by the adapters.

use crate::request::TransitionError;

/// A machine-readable error kind (the `code` of the API's JSON errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Input failed validation; see the field errors.
    Invalid,
    UnknownFlow,
    NotFound,
    /// The caller may not do this.
    Forbidden,
    /// The request is not in a state that allows it (already decided, not active, …).
    Conflict,
    /// The same access is already pending or active for this user.
    Duplicate,
    /// A dependency failed; retrying may help.
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Invalid => "invalid_request",
            ErrorCode::UnknownFlow => "unknown_flow",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Duplicate => "duplicate_request",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

/// A validation problem with one input: `field` is `target`, `duration`, `reason` or a custom field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// What a service call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    pub fields: Vec<FieldError>,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), fields: Vec::new() }
    }

    pub fn invalid(fields: Vec<FieldError>) -> Self {
        let message = fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ");
        Self { code: ErrorCode::Invalid, message, fields }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }
}

impl From<TransitionError> for Error {
    fn from(e: TransitionError) -> Self {
        Error::new(ErrorCode::Conflict, e.to_string())
    }
}

impl From<crate::ports::StoreError> for Error {
    fn from(e: crate::ports::StoreError) -> Self {
        use crate::ports::StoreError;
        match e {
            StoreError::Conflict => Error::new(ErrorCode::Conflict, "the request changed meanwhile; try again"),
            StoreError::Duplicate(id) => {
                Error::new(ErrorCode::Duplicate, format!("the same access is already requested or active: {id}"))
            }
            StoreError::Unavailable(m) => Error::unavailable(format!("store unavailable: {m}")),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
