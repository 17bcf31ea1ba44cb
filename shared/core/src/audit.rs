//! Audit events: one per state change, kept in the store and emitted to the audit sink.

use crate::email::Email;
use crate::ids::{EventId, RequestId};
use crate::request::{AccessRequest, Status};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

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

/// One recorded change of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: EventId,
    pub request_id: RequestId,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// What happened, e.g. `submitted`, `approved`, `access_granted`, `revoked`.
    pub action: String,
    pub from: Option<Status>,
    pub to: Status,
    pub flow: String,
    pub target: String,
    pub requester: Email,
    pub detail: Option<String>,
}

impl AuditEvent {
    /// The event for `request`'s latest change.
    pub fn of(
        request: &AccessRequest,
        actor: Actor,
        action: &str,
        from: Option<Status>,
        detail: Option<String>,
    ) -> Self {
        Self {
            id: EventId::generate(),
            request_id: request.id.clone(),
            at: request.updated_at,
            actor,
            action: action.into(),
            from,
            to: request.status,
            flow: request.flow.clone(),
            target: request.target.clone(),
            requester: request.requester.email.clone(),
            detail,
        }
    }

    /// The EventBridge detail-type / human title, e.g. `Request Approved`.
    pub fn title(&self) -> String {
        match self.action.as_str() {
            "submitted" => "Request Submitted",
            "approval_recorded" => "Approval Recorded",
            "approved" => "Request Approved",
            "auto_approved" => "Request Auto-Approved",
            "denied" => "Request Denied",
            "auto_denied" => "Request Auto-Denied",
            "cancelled" => "Request Cancelled",
            "timed_out" => "Request Timed Out",
            "access_granted" => "Access Granted",
            "escalation_failed" => "Escalation Failed",
            "extended" => "Access Extended",
            "revoked" => "Access Revoked",
            "expired" => "Access Expired",
            "access_removed" => "Access Removed",
            "removal_failed" => "Access Removal Failed",
            "drift_removed" => "Drift Removed",
            other => other,
        }
        .to_string()
    }
}
