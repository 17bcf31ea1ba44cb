//! Delivering the outbox: each due notification is claimed (so two deliverers never send the same
//! one), rendered from the request as it is now, sent, and deleted; a failure is retried later with
//! backoff (never sooner than Slack's `Retry-After`), a permanent failure is logged and dropped.

use super::{Airlock, Steps};
use crate::error::Result;
use crate::flow::{Flow, is_user_group_id};
use crate::ids::RequestId;
use crate::outbox::{Notification, OutboxItem};
use crate::ports::{DirectoryError, NotifyError, StoreError};
use crate::request::{AccessRequest, MessageRef, Status};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;

/// How long a claimed notification stays hidden from other deliverers (longer than any send takes).
const LEASE: Duration = Duration::from_secs(60);
/// Notifications claimed per round.
const BATCH: usize = 50;
/// Rounds per call (each round takes at most one notification per request), so one call cannot
/// run forever while new notifications keep arriving.
const MAX_ROUNDS: usize = 50;

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    pub sent: usize,
    /// Failed this time; retried later.
    pub deferred: usize,
    /// Failed for good (logged).
    pub dropped: usize,
}

enum Outcome {
    Sent,
    Deferred,
    Dropped,
}

impl Steps {
    /// Delivers every notification that is due, oldest first. Within one request, a failed
    /// notification holds back the later ones until the next pass, so a person never reads
    /// "expired" before "active".
    pub async fn deliver_notifications(&self) -> Result<Delivered> {
        let mut delivered = Delivered::default();
        // Requests with a deferred notification, and when it is due again.
        let mut held_back: HashMap<RequestId, DateTime<Utc>> = HashMap::new();
        for _ in 0..MAX_ROUNDS {
            let now = self.deps.clock.now();
            let items = self.deps.store.claim_notifications(now, LEASE, BATCH).await?;
            if items.is_empty() {
                break;
            }
            for mut item in items {
                if let Some(blocked_until) = item.request_id.as_ref().and_then(|id| held_back.get(id)) {
                    // Behind a deferred one of the same request: due with it, delivered after it.
                    item.due_at = *blocked_until;
                    self.deps.store.notification_retry(&item).await?;
                    continue;
                }
                match self.deliver(&mut item).await {
                    Outcome::Sent => delivered.sent += 1,
                    Outcome::Deferred => {
                        delivered.deferred += 1;
                        if let Some(id) = item.request_id.clone() {
                            held_back.insert(id, item.due_at);
                        }
                    }
                    Outcome::Dropped => delivered.dropped += 1,
                }
            }
        }
        Ok(delivered)
    }

    async fn deliver(&self, item: &mut OutboxItem) -> Outcome {
        let result = self.send(item).await;
        let store = &self.deps.store;
        let (outcome, bookkeeping) = match result {
            Ok(()) => (Outcome::Sent, store.notification_done(&item.id).await),
            Err(NotifyError::Permanent(e)) => {
                tracing::error!(notification = %item.id, request_id = ?item.request_id, error = %e,
                    "notification cannot be delivered; dropped");
                (Outcome::Dropped, store.notification_done(&item.id).await)
            }
            Err(NotifyError::Retry { message, after }) => {
                item.failed(&message, after, self.deps.clock.now());
                tracing::warn!(notification = %item.id, request_id = ?item.request_id, attempts = item.attempts,
                    retry_at = %item.due_at, error = %message, "notification deferred");
                (Outcome::Deferred, store.notification_retry(item).await)
            }
        };
        if let Err(e) = bookkeeping {
            // The lease expires and the item is delivered again: at least once, never lost.
            tracing::warn!(notification = %item.id, error = %e, "could not record a notification's delivery");
        }
        outcome
    }

    async fn send(&self, item: &OutboxItem) -> std::result::Result<(), NotifyError> {
        let deps = &self.deps;
        let notifier = &deps.notifier;
        let request = match &item.request_id {
            Some(id) => match deps.store.get_request(id).await {
                Ok(Some(request)) => Some(request),
                Ok(None) => return Err(NotifyError::Permanent(format!("request {id} no longer exists"))),
                Err(e) => return Err(NotifyError::retry(e.to_string())),
            },
            None => None,
        };
        match &item.notification {
            Notification::Text { user, channel, text } => {
                return notifier.tell_user(user, channel.as_deref(), text).await;
            }
            Notification::DriftReport { channel, holder, target } => {
                return notifier.report_drift(channel, holder, target).await;
            }
            _ => {}
        }
        let Some(request) = request else {
            return Err(NotifyError::Permanent("the notification names no request".into()));
        };
        let flow = deps.flow_of(&request).map_err(|e| NotifyError::Permanent(e.message))?;
        if let Some(group) = group_destination(&item.notification) {
            return self.fan_out_to_group(item, &request, flow, group).await;
        }
        match &item.notification {
            Notification::ApprovalCard { destination } => {
                // Posted even when the request was decided meanwhile: the card then shows the outcome.
                let destination = self.slack_destination(destination).await?;
                let card = notifier.post_approval_card(&request, flow, &destination).await?;
                self.remember_card(request.id(), card).await
            }
            Notification::ExtensionCard { destination } => {
                if request.pending_extension().is_none() {
                    // Decided (or lapsed) before its card went out: the requester was told.
                    return Ok(());
                }
                let destination = self.slack_destination(destination).await?;
                let card = notifier.post_extension_card(&request, flow, &destination).await?;
                self.remember_extension_card(request.id(), card).await
            }
            Notification::CardUpdate => notifier.update_approval_cards(&request, flow).await,
            Notification::Requester { update } => notifier.tell_requester(&request, flow, *update).await,
            Notification::ApproverReminder => {
                if request.status() != Status::Pending {
                    return Ok(());
                }
                let approvers = deps.approver_users(flow, &request.requester().email).await;
                notifier.remind_approvers(&request, flow, &approvers).await
            }
            Notification::AuditLine { channel, event } => notifier.post_audit(channel, &request, event).await,
            Notification::HomeRefresh => self.refresh_homes(&request, flow).await,
            Notification::Text { .. } | Notification::DriftReport { .. } => Ok(()),
        }
    }

    /// A channel or Slack user id as is; an approver's email as their Slack id (a lookup failure is
    /// retried; nobody in Slack with that email is permanent).
    async fn slack_destination(&self, destination: &str) -> std::result::Result<String, NotifyError> {
        if !destination.contains('@') {
            return Ok(destination.to_string());
        }
        let email: crate::email::Email = destination.parse().map_err(NotifyError::Permanent)?;
        match self.deps.directory.user_by_email(&email).await {
            Ok(Some(user)) => Ok(user.slack_id),
            Ok(None) => Err(NotifyError::Permanent(format!("no Slack user has the approver's email {email}"))),
            Err(e) => Err(NotifyError::retry(format!("approver lookup failed: {e}"))),
        }
    }

    /// Adds a posted card to the request; if the request was decided meanwhile, the new card is
    /// brought up to date at once (by a queued card update written with it).
    async fn remember_card(&self, id: &RequestId, card: MessageRef) -> std::result::Result<(), NotifyError> {
        let deps = &self.deps;
        for _ in 0..10 {
            let mut request: AccessRequest = match deps.store.get_request(id).await {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(()),
                Err(e) => return Err(NotifyError::retry(e.to_string())),
            };
            if !request.record_card(card.clone(), deps.clock.now()) {
                return Ok(());
            }
            let outbox = if request.status() == Status::Pending { Vec::new() } else { vec![Notification::CardUpdate] };
            match deps.save(&request, request.status(), &outbox).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(NotifyError::retry(e.to_string())),
            }
        }
        Err(NotifyError::retry(format!("request {id} kept changing while its card was recorded")))
    }
}

impl Steps {
    /// Adds a posted extension card to the request's latest extension; if that was decided
    /// meanwhile, the card is brought up to date at once.
    async fn remember_extension_card(&self, id: &RequestId, card: MessageRef) -> std::result::Result<(), NotifyError> {
        let deps = &self.deps;
        for _ in 0..10 {
            let mut request: AccessRequest = match deps.store.get_request(id).await {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(()),
                Err(e) => return Err(NotifyError::retry(e.to_string())),
            };
            if !request.record_extension_card(card.clone(), deps.clock.now()) {
                return Ok(());
            }
            let outbox =
                if request.pending_extension().is_some() { Vec::new() } else { vec![Notification::CardUpdate] };
            match deps.save(&request, request.status(), &outbox).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(NotifyError::retry(e.to_string())),
            }
        }
        Err(NotifyError::retry(format!("request {id} kept changing while its extension card was recorded")))
    }
}

/// The approver group (`S…`) a card is addressed to, if it is addressed to one.
fn group_destination(notification: &Notification) -> Option<&str> {
    match notification {
        Notification::ApprovalCard { destination } | Notification::ExtensionCard { destination }
            if is_user_group_id(destination) =>
        {
            Some(destination)
        }
        _ => None,
    }
}

impl Steps {
    /// A card addressed to an approver group becomes one card per member who may decide (a DM
    /// each, as for a listed approver; listed approvers and members of earlier groups get theirs
    /// already), queued right behind this item. Their ids derive from this item's, so a fan-out
    /// retried after a failure replaces the cards it queued rather than doubling them. Nothing is
    /// queued once nobody needs to decide.
    async fn fan_out_to_group(
        &self,
        item: &OutboxItem,
        request: &AccessRequest,
        flow: &Flow,
        group: &str,
    ) -> std::result::Result<(), NotifyError> {
        let deps = &self.deps;
        let undecided = match item.notification {
            Notification::ExtensionCard { .. } => request.pending_extension().is_some(),
            _ => request.status() == Status::Pending,
        };
        if !undecided {
            return Ok(());
        }
        let requester = request.requester();
        let listed: Vec<String> =
            deps.listed_approvers(flow, &requester.email).await.into_iter().map(|u| u.slack_id).collect();
        let members = deps
            .group_approvers(flow, &requester.email, requester.slack_id.as_deref(), &listed)
            .await
            .map_err(|e| match e {
                DirectoryError::Unavailable(e) => NotifyError::retry(format!("approver group lookup failed: {e}")),
                DirectoryError::Rejected(e) => NotifyError::Permanent(format!("approver group {group}: {e}")),
            })?;
        let now = deps.clock.now();
        let cards: Vec<OutboxItem> = members
            .into_iter()
            .filter(|(from, _)| from == group)
            .map(|(_, user)| {
                let id = format!("{}.{}", item.id, user.slack_id);
                let destination = user.slack_id;
                let card = match item.notification {
                    Notification::ExtensionCard { .. } => Notification::ExtensionCard { destination },
                    _ => Notification::ApprovalCard { destination },
                };
                OutboxItem { id, ..OutboxItem::new(Some(request.id().clone()), card, now) }
            })
            .collect();
        if cards.is_empty() {
            tracing::warn!(request_id = %request.id(), group, "no member of the approver group can decide this request");
            return Ok(());
        }
        deps.store.enqueue_notifications(&cards).await.map_err(|e| NotifyError::retry(e.to_string()))
    }
}

impl Airlock {
    /// Queues a short message to `user` (ephemeral in `channel` when given), about `request` when
    /// it concerns one (then it is delivered in order with that request's other messages).
    pub async fn tell_user(
        &self,
        request: Option<&RequestId>,
        user: &str,
        channel: Option<&str>,
        text: &str,
    ) -> Result<()> {
        let notification =
            Notification::Text { user: user.to_string(), channel: channel.map(str::to_string), text: text.to_string() };
        let item = OutboxItem::new(request.cloned(), notification, self.deps.clock.now());
        Ok(self.deps.store.enqueue_notifications(&[item]).await?)
    }
}
