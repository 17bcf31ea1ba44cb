//! The workflow contract shared by the Step Functions definition (`infra/statemachine.asl.json`) and
//! the local runner: state names, the state JSON passed between steps, and the step call.

use crate::ids::RequestId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Version of [`WorkflowState`]'s shape; executions waiting across a release carry the old one.
pub const SCHEMA_VERSION: u32 = 1;

/// The states of the workflow (docs/architecture.md#workflow), named exactly as in the state machine definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StepName {
    Request,
    Route,
    AwaitDecision,
    Decided,
    TimedOut,
    Escalate,
    EscalationFailed,
    HoldUntilExpiry,
    CheckExpiry,
    Extended,
    Deescalate,
    Done,
    Failed,
    DeescalationFailed,
}

impl StepName {
    pub const ALL: [StepName; 14] = [
        StepName::Request,
        StepName::Route,
        StepName::AwaitDecision,
        StepName::Decided,
        StepName::TimedOut,
        StepName::Escalate,
        StepName::EscalationFailed,
        StepName::HoldUntilExpiry,
        StepName::CheckExpiry,
        StepName::Extended,
        StepName::Deescalate,
        StepName::Done,
        StepName::Failed,
        StepName::DeescalationFailed,
    ];

    /// The states that invoke a step handler (Lambda tasks); the rest are Choice/Wait/end states.
    pub const TASKS: [StepName; 7] = [
        StepName::Request,
        StepName::AwaitDecision,
        StepName::TimedOut,
        StepName::Escalate,
        StepName::EscalationFailed,
        StepName::CheckExpiry,
        StepName::Deescalate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepName::Request => "Request",
            StepName::Route => "Route",
            StepName::AwaitDecision => "AwaitDecision",
            StepName::Decided => "Decided",
            StepName::TimedOut => "TimedOut",
            StepName::Escalate => "Escalate",
            StepName::EscalationFailed => "EscalationFailed",
            StepName::HoldUntilExpiry => "HoldUntilExpiry",
            StepName::CheckExpiry => "CheckExpiry",
            StepName::Extended => "Extended",
            StepName::Deescalate => "Deescalate",
            StepName::Done => "Done",
            StepName::Failed => "Failed",
            StepName::DeescalationFailed => "DeescalationFailed",
        }
    }
}

/// How the Request step routed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    AutoApproved,
    AutoDenied,
    NeedsApproval,
}

/// The outcome AwaitDecision (or TimedOut) hands to the `Decided` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approved,
    Denied,
    Cancelled,
    TimedOut,
}

/// What CheckExpiry found: keep holding (extended) or remove the access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hold {
    Wait,
    Done,
}

/// The JSON passed from state to state. Unknown keys (e.g. `error` added by a Catch) are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowState {
    pub schema_version: u32,
    pub request_id: RequestId,
    pub approval_timeout_seconds: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Rounded up to whole seconds when serialized: Step Functions' Wait truncates fractions, and
    /// waking before the expiry would only loop through CheckExpiry again.
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "whole_seconds_up")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
}

impl WorkflowState {
    pub fn start(request_id: RequestId, approval_timeout_seconds: u64) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            request_id,
            approval_timeout_seconds,
            route: None,
            decision: None,
            expires_at: None,
            hold: None,
        }
    }
}

fn whole_seconds_up<S: serde::Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    let rounded = at.map(|t| {
        let whole = t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0);
        DateTime::from_timestamp(whole, 0).unwrap_or(t)
    });
    match rounded {
        Some(t) => serializer.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        None => serializer.serialize_none(),
    }
}

/// One invocation of a step handler: `{"step": "<StateName>", "state": {...}, "task_token": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepCall {
    pub step: StepName,
    pub state: WorkflowState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_call_matches_the_documented_json() {
        let json = serde_json::json!({
            "step": "AwaitDecision",
            "state": {"schema_version": 1, "request_id": "req_01JD0000000000000000000000",
                      "approval_timeout_seconds": 3600, "route": "needs_approval",
                      "error": {"Error": "States.Timeout"}},
            "task_token": "tok"
        });
        let call: StepCall = serde_json::from_value(json).unwrap();
        assert_eq!(call.step, StepName::AwaitDecision);
        assert_eq!(call.state.route, Some(Route::NeedsApproval));
        assert_eq!(call.task_token.as_deref(), Some("tok"));
        let mut state = call.state.clone();
        state.expires_at = Some("2026-01-02T03:04:05.2Z".parse().unwrap());
        assert_eq!(serde_json::to_value(&state).unwrap()["expires_at"], "2026-01-02T03:04:06Z");
        for step in StepName::ALL {
            assert_eq!(serde_json::to_value(step).unwrap(), serde_json::Value::from(step.as_str()));
        }
    }
}
