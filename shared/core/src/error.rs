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
    /// The illegal status move behind a `Conflict`, when that is what it was: unlike a lost
    /// conditional write, no retry can make it succeed.
    pub transition: Option<TransitionError>,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), fields: Vec::new(), transition: None }
    }

    pub fn invalid(fields: Vec<FieldError>) -> Self {
        let message = fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ");
        Self { code: ErrorCode::Invalid, message, fields, transition: None }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    /// True when the same call may succeed later: a dependency was unavailable, or another writer
    /// changed the request first. An illegal status move is a `Conflict` no retry resolves.
    pub fn is_transient(&self) -> bool {
        match self.code {
            ErrorCode::Unavailable => true,
            ErrorCode::Conflict => self.transition.is_none(),
            _ => false,
        }
    }
}

impl From<TransitionError> for Error {
    fn from(e: TransitionError) -> Self {
        Self { transition: Some(e.clone()), ..Error::new(ErrorCode::Conflict, e.to_string()) }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::StoreError;
    use crate::request::Status;
    use crate::services::StepError;

    #[test]
    fn an_illegal_status_move_is_permanent_but_a_lost_write_is_retried() {
        let illegal = Error::from(TransitionError { from: Status::Expired, to: Status::Active });
        assert_eq!(illegal.code, ErrorCode::Conflict);
        assert!(!illegal.is_transient());
        assert!(matches!(StepError::from(illegal), StepError::Permanent(_)));

        let lost = Error::from(StoreError::Conflict);
        assert!(lost.is_transient());
        assert!(matches!(StepError::from(lost), StepError::Transient(_)));
        assert!(matches!(StepError::from(Error::unavailable("down")), StepError::Transient(_)));
        assert!(matches!(StepError::from(Error::new(ErrorCode::NotFound, "gone")), StepError::Permanent(_)));
    }
}
