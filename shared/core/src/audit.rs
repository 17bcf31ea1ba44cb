//! Audit events: one per state change, kept in the store and emitted to the audit sink.

use crate::email::Email;
use crate::ids::{EventId, RequestId};
use crate::request::{AccessRequest, Status};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Who did something: a person, a rule, or Airlock itself (timers, sweeper, API token holder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    User { email: Email, slack_id: Option<String> },
    Rule { name: String },
    System { name: String },
}

impl Actor {
    pub fn system(name: &str) -> Self {
        Actor::System { name: name.into() }
    }

    /// Same person, matched by email or Slack id.
    pub fn same_person(&self, other: &Actor) -> bool {
        match (self, other) {
            (Actor::User { email: a, slack_id: sa }, Actor::User { email: b, slack_id: sb }) => {
                a == b || (sa.is_some() && sa == sb)
            }
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User { email, .. } => email.fmt(f),
            Actor::Rule { name } => write!(f, "rule:{name}"),
            Actor::System { name } => write!(f, "airlock:{name}"),
        }
    }
}

/// What happened to a request; on the wire (store, log lines, EventBridge) the snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Submitted,
    ApprovalRecorded,
    Approved,
    AutoApproved,
    Denied,
    AutoDenied,
    Cancelled,
    TimedOut,
    AccessGranted,
    EscalationFailed,
    ExtensionRequested,
    Extended,
    ExtensionDenied,
    Revoked,
    Expired,
    AccessRemoved,
    RemovalFailed,
    DriftRemoved,
}

impl AuditAction {
    pub const ALL: [AuditAction; 18] = [
        AuditAction::Submitted,
        AuditAction::ApprovalRecorded,
        AuditAction::Approved,
        AuditAction::AutoApproved,
        AuditAction::Denied,
        AuditAction::AutoDenied,
        AuditAction::Cancelled,
        AuditAction::TimedOut,
        AuditAction::AccessGranted,
        AuditAction::EscalationFailed,
        AuditAction::ExtensionRequested,
        AuditAction::Extended,
        AuditAction::ExtensionDenied,
        AuditAction::Revoked,
        AuditAction::Expired,
        AuditAction::AccessRemoved,
        AuditAction::RemovalFailed,
        AuditAction::DriftRemoved,
    ];

    /// The wire name, e.g. `access_granted`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Submitted => "submitted",
            AuditAction::ApprovalRecorded => "approval_recorded",
            AuditAction::Approved => "approved",
            AuditAction::AutoApproved => "auto_approved",
            AuditAction::Denied => "denied",
            AuditAction::AutoDenied => "auto_denied",
            AuditAction::Cancelled => "cancelled",
            AuditAction::TimedOut => "timed_out",
            AuditAction::AccessGranted => "access_granted",
            AuditAction::EscalationFailed => "escalation_failed",
            AuditAction::ExtensionRequested => "extension_requested",
            AuditAction::Extended => "extended",
            AuditAction::ExtensionDenied => "extension_denied",
            AuditAction::Revoked => "revoked",
            AuditAction::Expired => "expired",
            AuditAction::AccessRemoved => "access_removed",
            AuditAction::RemovalFailed => "removal_failed",
            AuditAction::DriftRemoved => "drift_removed",
        }
    }

    /// The EventBridge detail-type / human title, e.g. `Request Approved`.
    pub fn title(self) -> &'static str {
        match self {
            AuditAction::Submitted => "Request Submitted",
            AuditAction::ApprovalRecorded => "Approval Recorded",
            AuditAction::Approved => "Request Approved",
            AuditAction::AutoApproved => "Request Auto-Approved",
            AuditAction::Denied => "Request Denied",
            AuditAction::AutoDenied => "Request Auto-Denied",
            AuditAction::Cancelled => "Request Cancelled",
            AuditAction::TimedOut => "Request Timed Out",
            AuditAction::AccessGranted => "Access Granted",
            AuditAction::EscalationFailed => "Escalation Failed",
            AuditAction::ExtensionRequested => "Extension Requested",
            AuditAction::Extended => "Access Extended",
            AuditAction::ExtensionDenied => "Extension Denied",
            AuditAction::Revoked => "Access Revoked",
            AuditAction::Expired => "Access Expired",
            AuditAction::AccessRemoved => "Access Removed",
            AuditAction::RemovalFailed => "Access Removal Failed",
            AuditAction::DriftRemoved => "Drift Removed",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for AuditAction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| format!("unknown audit action {s:?}"))
    }
}

impl PartialEq<&str> for AuditAction {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One recorded change of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: EventId,
    pub request_id: RequestId,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// What happened.
    pub action: AuditAction,
    pub from: Option<Status>,
    pub to: Status,
    pub flow: String,
    /// The target the event is about; for a change of the whole request, every target's name,
    /// joined by commas.
    pub target: String,
    pub requester: Email,
    pub detail: Option<String>,
}

impl AuditEvent {
    /// The event for `request`'s latest change.
    pub fn of(
        request: &AccessRequest,
        actor: Actor,
        action: AuditAction,
        from: Option<Status>,
        detail: Option<String>,
    ) -> Self {
        Self {
            id: EventId::generate(),
            request_id: request.id().clone(),
            at: request.updated_at(),
            actor,
            action,
            from,
            to: request.status(),
            flow: request.flow().to_string(),
            target: request.targets().iter().map(|t| t.name()).collect::<Vec<_>>().join(","),
            requester: request.requester().email.clone(),
            detail,
        }
    }

    /// The same event about one target of the request (a grant, removal or failure of that target).
    pub fn on_target(self, target: &str) -> Self {
        Self { target: target.to_string(), ..self }
    }

    /// The same event with `detail` instead.
    pub fn with_detail(self, detail: Option<String>) -> Self {
        Self { detail, ..self }
    }

    /// The EventBridge detail-type / human title, e.g. `Request Approved`.
    pub fn title(&self) -> &'static str {
        self.action.title()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip_on_the_wire() {
        for action in AuditAction::ALL {
            assert_eq!(serde_json::to_value(action).unwrap(), serde_json::Value::from(action.as_str()));
            assert_eq!(action.as_str().parse::<AuditAction>().unwrap(), action);
            assert_eq!(format!("{action:<20}|").len(), 21);
        }
        assert_eq!(AuditAction::AutoApproved.title(), "Request Auto-Approved");
        assert!("touched".parse::<AuditAction>().is_err());
    }
}
