//! The access request and its status machine (docs/architecture.md#the-request).

use crate::audit::Actor;
use crate::email::Email;
use crate::ids::RequestId;
use crate::role::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Where a request stands. Terminal: denied, timed_out, cancelled, failed, revoked, expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Approved,
    Active,
    Denied,
    TimedOut,
    Cancelled,
    Failed,
    Revoked,
    Expired,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Pending,
        Status::Approved,
        Status::Active,
        Status::Denied,
        Status::TimedOut,
        Status::Cancelled,
        Status::Failed,
        Status::Revoked,
        Status::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Active => "active",
            Status::Denied => "denied",
            Status::TimedOut => "timed_out",
            Status::Cancelled => "cancelled",
            Status::Failed => "failed",
            Status::Revoked => "revoked",
            Status::Expired => "expired",
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, Status::Pending | Status::Approved | Status::Active)
    }

    /// The legal moves of the status machine.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Pending, Approved | Denied | TimedOut | Cancelled)
                | (Approved, Active | Failed)
                | (Active, Revoked | Expired)
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| format!("unknown status {s:?}"))
    }
}

/// An attempted move the status machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("request cannot go from {from} to {to}")]
pub struct TransitionError {
    pub from: Status,
    pub to: Status,
}

/// Who asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    pub email: Email,
    pub slack_id: Option<String>,
    pub role: Role,
}

impl Requester {
    /// The store's key for "requests of this user": the email, which every channel can resolve.
    pub fn user_key(&self) -> &str {
        self.email.as_str()
    }
}

/// One approver's vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub by: Actor,
    pub at: DateTime<Utc>,
}

/// A Slack message (channel + timestamp) that shows this request, updated in place as it moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub channel: String,
    pub ts: String,
}

/// An access request from submission to its end. The store holds it; `version` increments on each
/// write so every write can be conditional on the version it read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessRequest {
    pub id: RequestId,
    pub version: u64,
    pub status: Status,
    pub flow: String,
    pub target: String,
    /// [`crate::flow::Target::access_key`] of the target when requested.
    pub access_key: String,
    /// The target as configured when the request was made: what escalation grants and what removal
    /// takes away, even if the config changes or drops the target meanwhile.
    #[serde(default)]
    pub target_spec: Option<crate::flow::Target>,
    pub requester: Requester,
    pub duration_secs: u64,
    pub reason: String,
    pub fields: BTreeMap<String, serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// No decision after this means `timed_out`.
    pub decision_deadline: DateTime<Utc>,
    #[serde(default)]
    pub approvals: Vec<Approval>,
    /// Who made the final decision (an approver, a rule, the requester cancelling, the system).
    pub decided_by: Option<Actor>,
    pub decision_note: Option<String>,
    /// The workflow's handle for delivering the decision (a Step Functions task token in AWS).
    pub task_token: Option<String>,
    #[serde(default)]
    pub cards: Vec<MessageRef>,
    pub granted_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Set once the access is gone from the target (after expiry or revoke).
    pub access_removed_at: Option<DateTime<Utc>>,
    pub failure: Option<String>,
    #[serde(default)]
    pub reminders: Reminders,
    /// The person held this access before Airlock granted it (standing access): it is not removed.
    #[serde(default)]
    pub preexisting_access: bool,
    /// Airlock asked the target system for the access at least once. After a failed escalation the
    /// target may have applied it anyway, so it is removed as if granted; and an "already held"
    /// answer to a repeated attempt may be Airlock's own earlier attempt, so it is not trusted.
    #[serde(default)]
    pub escalation_attempted: bool,
    /// Failed attempts to remove the access, while it is still held.
    #[serde(default)]
    pub removal: Option<RemovalAttempts>,
    /// The approval cards were queued for posting (so a replayed step does not queue them twice).
    #[serde(default)]
    pub cards_queued: bool,
}

/// Removal attempts that failed so far; the next one is not made before `next_attempt_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovalAttempts {
    pub attempts: u32,
    pub last_error: String,
    pub next_attempt_at: DateTime<Utc>,
}

/// Longest wait between two attempts to remove access.
pub const MAX_REMOVAL_BACKOFF_SECS: i64 = 15 * 60;

/// Reminders already sent for a request, so each goes out once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminders {
    /// The approvers were nudged while it waited.
    #[serde(default)]
    pub approvers: bool,
    /// The requester was told their access expires soon.
    #[serde(default)]
    pub expiry: bool,
}

impl AccessRequest {
    /// Moves to `next`, bumping the version; illegal moves are errors and change nothing.
    pub fn transition(&mut self, next: Status, now: DateTime<Utc>) -> Result<Status, TransitionError> {
        if !self.status.can_become(next) {
            return Err(TransitionError { from: self.status, to: next });
        }
        let previous = self.status;
        self.status = next;
        self.touch(now);
        Ok(previous)
    }

    /// Records a change that keeps the status (token stored, cards posted, expiry extended).
    pub fn touch(&mut self, now: DateTime<Utc>) {
        self.version += 1;
        self.updated_at = now;
    }

    /// True while access granted by this request may still exist in the target system (including
    /// a failed escalation the target may have applied anyway).
    pub fn holds_access(&self) -> bool {
        let failed_escalation = self.escalation_attempted && self.status == Status::Failed;
        (self.granted_at.is_some() || failed_escalation) && self.access_removed_at.is_none()
    }

    /// When the access must be removed by, for the sweeper: expiry for active grants, at once for
    /// ended grants whose removal has not succeeded yet, and after a failed attempt not before its
    /// backoff (so one failing target never starves the others).
    pub fn removal_due(&self) -> Option<DateTime<Utc>> {
        if !self.holds_access() {
            return None;
        }
        let due = match self.status {
            Status::Active => self.expires_at?,
            _ => self.updated_at,
        };
        Some(match &self.removal {
            Some(failed) => due.max(failed.next_attempt_at),
            None => due,
        })
    }

    /// Records a failed removal attempt and schedules the next one (exponential backoff from 5 s,
    /// capped at 15 minutes); returns the attempt count.
    pub fn removal_failed(&mut self, error: &str, now: DateTime<Utc>) -> u32 {
        let attempts = self.removal.as_ref().map_or(0, |r| r.attempts).saturating_add(1);
        let wait = (5i64 << attempts.min(12).saturating_sub(1)).min(MAX_REMOVAL_BACKOFF_SECS);
        self.removal = Some(RemovalAttempts {
            attempts,
            last_error: error.chars().take(500).collect(),
            next_attempt_at: now + chrono::Duration::seconds(wait),
        });
        self.touch(now);
        attempts
    }

    pub fn duration(&self) -> crate::duration::GrantDuration {
        crate::duration::GrantDuration::from_secs(self.duration_secs)
    }

    pub fn has_approved(&self, actor: &Actor) -> bool {
        self.approvals.iter().any(|a| a.by.same_person(actor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn status() -> impl Strategy<Value = Status> {
        proptest::sample::select(Status::ALL.to_vec())
    }

    #[test]
    fn terminal_statuses_go_nowhere() {
        for from in Status::ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in Status::ALL {
                assert!(!from.can_become(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn the_happy_path_is_legal() {
        assert!(Status::Pending.can_become(Status::Approved));
        assert!(Status::Approved.can_become(Status::Active));
        assert!(Status::Active.can_become(Status::Expired));
        assert!(!Status::Pending.can_become(Status::Active), "no grant without approval");
        assert!(!Status::Active.can_become(Status::Active), "no double grant");
    }

    proptest! {
        #[test]
        fn any_walk_never_revisits_a_status(steps in proptest::collection::vec(status(), 0..20)) {
            let mut current = Status::Pending;
            let mut seen = vec![current];
            for next in steps {
                if current.can_become(next) {
                    prop_assert!(!seen.contains(&next));
                    seen.push(next);
                    current = next;
                }
            }
            prop_assert!(seen.len() <= 4);
        }

        #[test]
        fn status_names_round_trip(s in status()) {
            prop_assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
            prop_assert_eq!(serde_json::to_value(s).unwrap(), serde_json::Value::from(s.as_str()));
        }
    }
}
