//! How every function reports a failure to Lambda: a [`Diagnostic`] whose `errorType` is
//! `Airlock.Transient` or `Airlock.Permanent`, which the state machine's Retry and Catch match.

use airlock_core::ports::OptionsError;
use airlock_core::services::StepError;
use lambda_runtime::Diagnostic;

/// A failure on its way out of a handler; `?` turns it into the [`Diagnostic`] Lambda reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub StepError);

impl Failure {
    /// A failure no retry can fix (bad input, an unknown flow, an illegal status move).
    pub fn permanent(message: impl Into<String>) -> Self {
        Failure(StepError::Permanent(message.into()))
    }
}

impl From<StepError> for Failure {
    fn from(e: StepError) -> Self {
        Failure(e)
    }
}

impl From<airlock_core::Error> for Failure {
    fn from(e: airlock_core::Error) -> Self {
        Failure(e.into())
    }
}

impl From<OptionsError> for Failure {
    fn from(e: OptionsError) -> Self {
        Failure(if e.is_transient() {
            StepError::Transient(e.to_string())
        } else {
            StepError::Permanent(e.to_string())
        })
    }
}

impl From<Failure> for Diagnostic {
    fn from(Failure(e): Failure) -> Self {
        Diagnostic { error_type: e.error_type().into(), error_message: e.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::request::{Status, TransitionError};

    fn diagnostic(failure: impl Into<Failure>) -> Diagnostic {
        failure.into().into()
    }

    #[test]
    fn failures_keep_their_kind_as_the_error_type() {
        let illegal = airlock_core::Error::from(TransitionError { from: Status::Expired, to: Status::Active });
        assert_eq!(diagnostic(illegal).error_type, "Airlock.Permanent");
        assert_eq!(diagnostic(airlock_core::Error::unavailable("store down")).error_type, "Airlock.Transient");
        let down = diagnostic(OptionsError::Unavailable("timed out".into()));
        assert_eq!(
            (down.error_type.as_str(), down.error_message.as_str()),
            ("Airlock.Transient", "Airlock.Transient: timed out")
        );
        assert_eq!(diagnostic(OptionsError::Invalid("not a list".into())).error_type, "Airlock.Permanent");
        assert_eq!(diagnostic(Failure::permanent("unknown flow x")).error_type, "Airlock.Permanent");
    }
}
