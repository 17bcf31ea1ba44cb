//! The outbox: notifications a state change implies, stored in the same transaction as the change
//! and delivered afterwards with retries, so a crash, a deploy or a Slack outage delays a message
//! but never loses it, and no request waits for Slack on its hot path.

use crate::audit::AuditEvent;
use crate::email::Email;
use crate::ids::RequestId;
use crate::ports::RequesterUpdate;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Longest wait between two attempts at one notification.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// Longest `Retry-After` honoured as asked (a larger one is treated as this).
pub const MAX_ASKED_WAIT: Duration = Duration::from_secs(60 * 60);

/// What to tell whom. Request-bound notifications are rendered from the request as it is when they
/// are delivered, so a late message never shows a stale state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notification {
    /// Post the approval card to a channel or an approver's DM (a Slack id, or an approver's email
    /// looked up at delivery), and remember the message on the request.
    ApprovalCard { destination: String },
    /// Rewrite the request's cards with its current state.
    CardUpdate,
    /// A direct message to the requester.
    Requester { update: RequesterUpdate },
    /// Nudge the approvers of a request still waiting.
    ApproverReminder,
    /// A line in the audit channel for one audit event.
    AuditLine { channel: String, event: Box<AuditEvent> },
    /// Access found in a target system that Airlock did not grant, reported to a channel.
    DriftReport { channel: String, holder: Email, target: String },
    /// A short text to one person (ephemeral in `channel` when given) or to a channel.
    Text { user: String, channel: Option<String>, text: String },
    /// Post the card asking the approvers to decide the request's pending extension (destination as
    /// for [`Notification::ApprovalCard`]), and remember the message on the extension.
    ExtensionCard { destination: String },
    /// Republish the App Home of everyone the request concerns: its requester and the people who
    /// may decide it (listed approvers, members of approver groups, admins).
    HomeRefresh,
}

/// One stored notification and its delivery attempts so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Sortable (ULID): delivery follows creation order.
    pub id: String,
    pub request_id: Option<RequestId>,
    pub notification: Notification,
    pub created_at: DateTime<Utc>,
    /// Not delivered before this.
    pub due_at: DateTime<Utc>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub last_error: Option<String>,
}

impl OutboxItem {
    /// A notification due at once.
    pub fn new(request_id: Option<RequestId>, notification: Notification, now: DateTime<Utc>) -> Self {
        Self {
            id: format!("ntf_{}", crate::ids::monotonic_ulid()),
            request_id,
            notification,
            created_at: now,
            due_at: now,
            attempts: 0,
            last_error: None,
        }
    }

    /// Schedules the next attempt after a failure: exponential backoff from one second, capped at
    /// [`MAX_BACKOFF`], and never sooner than the wait the service asked for.
    pub fn failed(&mut self, error: &str, asked_wait: Option<Duration>, now: DateTime<Utc>) {
        self.attempts = self.attempts.saturating_add(1);
        let exponential = Duration::from_secs(1u64 << self.attempts.min(10).saturating_sub(1)).min(MAX_BACKOFF);
        let asked = asked_wait.unwrap_or_default().min(MAX_ASKED_WAIT);
        let wait = exponential.max(asked);
        self.due_at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(1));
        self.last_error = Some(error.chars().take(500).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn item() -> OutboxItem {
        OutboxItem::new(None, Notification::CardUpdate, Utc::now())
    }

    #[test]
    fn a_retry_after_is_honoured() {
        let now = Utc::now();
        let mut first = item();
        first.failed("ratelimited", Some(Duration::from_secs(30)), now);
        assert_eq!(first.due_at, now + chrono::Duration::seconds(30));
        assert_eq!(first.attempts, 1);
    }

    #[test]
    fn ids_sort_in_creation_order() {
        let a = item();
        let b = item();
        assert!(a.id < b.id);
    }

    proptest! {
        #[test]
        fn backoff_grows_and_stays_bounded(attempts in 0u32..200, asked in proptest::option::of(0u64..100_000)) {
            let now = Utc::now();
            let mut it = item();
            it.attempts = attempts;
            let asked = asked.map(Duration::from_secs);
            it.failed("boom", asked, now);
            let wait = (it.due_at - now).to_std().unwrap();
            prop_assert!(wait >= Duration::from_secs(1));
            let asked = asked.unwrap_or_default().min(MAX_ASKED_WAIT);
            prop_assert!(wait <= MAX_BACKOFF.max(asked));
            prop_assert!(wait >= asked);
        }
    }
}
