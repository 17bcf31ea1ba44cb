//! Service errors with stable codes, mapped to HTTP statuses and Slack messages by the adapters.

use crate::duration::GrantDuration;
use crate::ids::RequestId;
use crate::policy::{DecisionRefusal, RequestRefusal};
use crate::request::{Status, TransitionError};

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
    /// The grant has had every extension its flow allows, or one is already waiting.
    ExtensionLimit,
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
            ErrorCode::ExtensionLimit => "extension_limit",
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
        Self { code: ErrorCode::Invalid, message: joined(&fields), fields, transition: None }
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
            StoreError::Unavailable(m) => Error::unavailable(store_unavailable(&m)),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn store_unavailable(detail: &str) -> String {
    format!("store unavailable: {detail}")
}

/// `field: message` for each field error, joined by `; `.
fn joined(fields: &[FieldError]) -> String {
    fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ")
}

/// Why [`Airlock::submit`](crate::Airlock::submit) recorded nothing (or, for `Unavailable` after
/// the workflow failed to start, withdrew what it recorded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// No configured flow has this name.
    #[error("no flow named {0:?}")]
    UnknownFlow(String),
    /// The person may not request this flow.
    #[error("{0}")]
    NotAllowed(RequestRefusal),
    /// The form failed validation; one error per field.
    #[error("{}", joined(.0))]
    Invalid(Vec<FieldError>),
    /// The same access is already pending, approved or active for this person: the open request.
    #[error("the same access is already requested or active: {0}")]
    Duplicate(RequestId),
    /// The insert lost to a concurrent write without a duplicate to show; retrying may succeed.
    #[error("the request changed meanwhile; try again")]
    Changed,
    /// The store or the workflow failed; retrying may succeed.
    #[error("{0}")]
    Unavailable(String),
}

/// Why [`Airlock::decide`](crate::Airlock::decide) or `may_deny` changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    #[error("no request {0}")]
    NotFound(RequestId),
    /// The person may not decide this request (never `DecisionRefusal::AlreadyDecided`: see below).
    #[error("{0}")]
    NotAllowed(DecisionRefusal),
    /// The request was decided already (or withdrawn); it is in this status.
    #[error("{}", DecisionRefusal::AlreadyDecided(*.0))]
    AlreadyDecided(Status),
    /// Every attempt lost its conditional write to a concurrent change; retrying may succeed.
    #[error("the request is changing too often; try again")]
    Busy,
    /// The store failed; retrying may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// The request names a flow that is no longer configured.
    #[error("{0}")]
    Internal(String),
    /// Approve with changes asked for more time than the requester did (this much).
    #[error("an approver may shorten the duration, not lengthen it: the request asks for {0}")]
    LongerThanAsked(GrantDuration),
}

/// Who may do what to a grant, for [`GrantChangeError::NotAllowed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChangeRefusal {
    #[error("only the requester and admins can cancel a request")]
    Cancel,
    #[error("only the requester, the flow's approvers and admins can revoke")]
    Revoke,
    #[error("only the requester and admins can ask to extend a grant")]
    Extend,
}

/// Why a revoke, an extension or a cancellation changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantChangeError {
    #[error("no request {0}")]
    NotFound(RequestId),
    #[error("{0}")]
    NotAllowed(ChangeRefusal),
    /// Revoke and extend need an active grant; the request is in this status.
    #[error("request is {0}, not active")]
    NotActive(Status),
    /// Only a pending request can be cancelled; the request is in this status.
    #[error("{}", DecisionRefusal::AlreadyDecided(*.0))]
    NotPending(Status),
    /// One extension adds at most the flow's maximum duration.
    #[error("one extension adds at most {0}")]
    TooLong(GrantDuration),
    /// The grant has had every extension its flow allows (0: the flow allows none).
    #[error("{}", extension_limit_text(*.0))]
    ExtensionLimit(u32),
    /// An extension of this grant is already waiting for a decision.
    #[error("an extension of this grant is already waiting for a decision")]
    ExtensionPending,
    /// A cancellation lost its conditional write to a decision.
    #[error("the request was decided meanwhile")]
    DecidedMeanwhile,
    /// The write lost to a concurrent change; retrying may succeed.
    #[error("the request changed meanwhile; try again")]
    Changed,
    /// The store failed; retrying may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// The request names a flow that is no longer configured.
    #[error("{0}")]
    Internal(String),
}

impl From<SubmitError> for Error {
    fn from(e: SubmitError) -> Self {
        let code = match &e {
            SubmitError::UnknownFlow(_) => ErrorCode::UnknownFlow,
            SubmitError::NotAllowed(_) => ErrorCode::Forbidden,
            SubmitError::Invalid(fields) => return Error::invalid(fields.clone()),
            SubmitError::Duplicate(_) => ErrorCode::Duplicate,
            SubmitError::Changed => ErrorCode::Conflict,
            SubmitError::Unavailable(_) => ErrorCode::Unavailable,
        };
        Error::new(code, e.to_string())
    }
}

impl From<DecideError> for Error {
    fn from(e: DecideError) -> Self {
        let code = match &e {
            DecideError::NotFound(_) => ErrorCode::NotFound,
            DecideError::NotAllowed(DecisionRefusal::AlreadyApprovedByYou | DecisionRefusal::AlreadyDecided(_))
            | DecideError::AlreadyDecided(_)
            | DecideError::Busy => ErrorCode::Conflict,
            DecideError::NotAllowed(_) => ErrorCode::Forbidden,
            DecideError::Unavailable(_) => ErrorCode::Unavailable,
            DecideError::Internal(_) => ErrorCode::Internal,
            DecideError::LongerThanAsked(_) => ErrorCode::Invalid,
        };
        Error::new(code, e.to_string())
    }
}

fn extension_limit_text(max: u32) -> String {
    match max {
        0 => "grants in this flow cannot be extended".to_string(),
        1 => "this grant was already extended once, the most its flow allows".to_string(),
        n => format!("this grant was already extended {n} times, the most its flow allows"),
    }
}

impl From<GrantChangeError> for Error {
    fn from(e: GrantChangeError) -> Self {
        let code = match &e {
            GrantChangeError::NotFound(_) => ErrorCode::NotFound,
            GrantChangeError::NotAllowed(_) => ErrorCode::Forbidden,
            GrantChangeError::NotActive(_)
            | GrantChangeError::NotPending(_)
            | GrantChangeError::DecidedMeanwhile
            | GrantChangeError::Changed => ErrorCode::Conflict,
            GrantChangeError::TooLong(_) => ErrorCode::Invalid,
            GrantChangeError::ExtensionLimit(_) | GrantChangeError::ExtensionPending => ErrorCode::ExtensionLimit,
            GrantChangeError::Unavailable(_) => ErrorCode::Unavailable,
            GrantChangeError::Internal(_) => ErrorCode::Internal,
        };
        Error::new(code, e.to_string())
    }
}

impl From<crate::ports::StoreError> for SubmitError {
    fn from(e: crate::ports::StoreError) -> Self {
        use crate::ports::StoreError;
        match e {
            StoreError::Conflict => SubmitError::Changed,
            StoreError::Duplicate(id) => SubmitError::Duplicate(id),
            StoreError::Unavailable(m) => SubmitError::Unavailable(store_unavailable(&m)),
        }
    }
}

impl From<crate::ports::StoreError> for DecideError {
    fn from(e: crate::ports::StoreError) -> Self {
        use crate::ports::StoreError;
        match e {
            StoreError::Conflict => DecideError::Busy,
            StoreError::Unavailable(m) => DecideError::Unavailable(store_unavailable(&m)),
            StoreError::Duplicate(_) => DecideError::Internal(e.to_string()),
        }
    }
}

impl From<crate::ports::StoreError> for GrantChangeError {
    fn from(e: crate::ports::StoreError) -> Self {
        use crate::ports::StoreError;
        match e {
            StoreError::Conflict => GrantChangeError::Changed,
            StoreError::Unavailable(m) => GrantChangeError::Unavailable(store_unavailable(&m)),
            StoreError::Duplicate(_) => GrantChangeError::Internal(e.to_string()),
        }
    }
}

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

    #[test]
    fn typed_service_errors_keep_their_codes_and_messages() {
        let fields = vec![
            FieldError { field: "target".into(), message: "unknown".into() },
            FieldError { field: "reason".into(), message: "required".into() },
        ];
        let invalid = Error::from(SubmitError::Invalid(fields.clone()));
        assert_eq!(invalid, Error::invalid(fields));
        assert_eq!(invalid.message, "target: unknown; reason: required");

        let cases: Vec<(Error, ErrorCode, &str)> = vec![
            (SubmitError::UnknownFlow("x".into()).into(), ErrorCode::UnknownFlow, "no flow named \"x\""),
            (
                SubmitError::NotAllowed(RequestRefusal::Guest).into(),
                ErrorCode::Forbidden,
                "guests cannot request access; ask an admin if you need it",
            ),
            (
                SubmitError::from(StoreError::Unavailable("down".into())).into(),
                ErrorCode::Unavailable,
                "store unavailable: down",
            ),
            (
                DecideError::AlreadyDecided(Status::Approved).into(),
                ErrorCode::Conflict,
                "this request is already approved",
            ),
            (
                DecideError::NotAllowed(DecisionRefusal::AlreadyApprovedByYou).into(),
                ErrorCode::Conflict,
                "you have already approved this request",
            ),
            (
                DecideError::NotAllowed(DecisionRefusal::NotAnApprover).into(),
                ErrorCode::Forbidden,
                "you are not an approver of this flow",
            ),
            (DecideError::Busy.into(), ErrorCode::Conflict, "the request is changing too often; try again"),
            (
                GrantChangeError::NotActive(Status::Expired).into(),
                ErrorCode::Conflict,
                "request is expired, not active",
            ),
            (
                GrantChangeError::NotAllowed(ChangeRefusal::Revoke).into(),
                ErrorCode::Forbidden,
                "only the requester, the flow's approvers and admins can revoke",
            ),
            (
                GrantChangeError::TooLong("4h".parse().expect("a duration")).into(),
                ErrorCode::Invalid,
                "one extension adds at most 4h",
            ),
            (
                GrantChangeError::ExtensionLimit(1).into(),
                ErrorCode::ExtensionLimit,
                "this grant was already extended once, the most its flow allows",
            ),
            (
                GrantChangeError::from(StoreError::Conflict).into(),
                ErrorCode::Conflict,
                "the request changed meanwhile; try again",
            ),
        ];
        for (error, code, message) in cases {
            assert_eq!((error.code, error.message.as_str()), (code, message));
            assert!(error.fields.is_empty() && error.transition.is_none());
        }
    }
}
