//! Reminders the sweeper sends: approvers are nudged once when half of a request's approval window
//! has passed, and requesters are told once when their access expires soon. Each is recorded on the
//! request with a conditional write first, so concurrent sweepers send it once.

use super::Steps;
use crate::error::Result;
use crate::ids::RequestId;
use crate::outbox::Notification;
use crate::ports::{RequesterUpdate, StoreError};
use crate::request::{AccessRequest, ChangeError, Status};
use chrono::{DateTime, Duration, Utc};

/// How long before expiry the requester is warned.
pub const EXPIRY_WARNING: Duration = Duration::minutes(10);
/// Grants shorter than this get no warning (it would come almost with the grant).
const WARN_GRANTS_FROM: Duration = Duration::minutes(30);
/// Requests read per page; every pending and active request is looked at.
const PAGE: usize = 200;

/// What one reminder round sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemindersSent {
    pub approvers: usize,
    pub expiry: usize,
    /// The active requests looked at: every one there was (the sweeper's count of active grants).
    pub active: usize,
}

impl Steps {
    /// Queues the reminders that are due, looking at every pending and every active request.
    pub async fn remind(&self) -> Result<RemindersSent> {
        let now = self.deps.clock.now();
        let mut sent = RemindersSent::default();
        let mut cursor: Option<RequestId> = None;
        loop {
            let page = self.deps.store.requests_with_status_before(Status::Pending, cursor.as_ref(), PAGE).await?;
            cursor = page.last().map(|r| r.id().clone());
            let full = page.len() == PAGE;
            for request in page {
                let half_way = request.created_at() + (request.decision_deadline() - request.created_at()) / 2;
                if request.reminders().approvers || now < half_way || now >= request.decision_deadline() {
                    continue;
                }
                if self.mark(request, AccessRequest::mark_approvers_reminded, Notification::ApproverReminder).await? {
                    sent.approvers += 1;
                }
            }
            if !full {
                break;
            }
        }
        let mut cursor: Option<RequestId> = None;
        loop {
            let page = self.deps.store.requests_with_status_before(Status::Active, cursor.as_ref(), PAGE).await?;
            cursor = page.last().map(|r| r.id().clone());
            let full = page.len() == PAGE;
            sent.active += page.len();
            for request in page {
                let long_enough = Duration::seconds(request.duration_secs() as i64) >= WARN_GRANTS_FROM;
                let soon = request.expires_at().is_some_and(|at| at > now && at <= now + EXPIRY_WARNING);
                if request.reminders().expiry || !long_enough || !soon {
                    continue;
                }
                let warning = Notification::Requester { update: RequesterUpdate::ExpiringSoon };
                if self.mark(request, AccessRequest::mark_expiry_warned, warning).await? {
                    sent.expiry += 1;
                }
            }
            if !full {
                break;
            }
        }
        Ok(sent)
    }

    /// Records a reminder on the request and queues it in the same write; false when another
    /// writer changed the request first (the next round looks again).
    async fn mark(
        &self,
        mut request: AccessRequest,
        set: fn(&mut AccessRequest, DateTime<Utc>) -> Result<(), ChangeError>,
        reminder: Notification,
    ) -> Result<bool> {
        let expected = request.status();
        set(&mut request, self.deps.clock.now())?;
        match self.deps.save(&request, expected, &[reminder]).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
