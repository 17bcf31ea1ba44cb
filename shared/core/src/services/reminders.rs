//! Reminders the sweeper sends: approvers are nudged once when half of a request's approval window
//! has passed, and requesters are told once when their access expires soon. Each is recorded on the
//! request with a conditional write first, so concurrent sweepers send it once.

use super::{Steps, best_effort};
use crate::error::Result;
use crate::ports::{RequesterUpdate, StoreError};
use crate::request::{AccessRequest, Status};
use chrono::Duration;

/// How long before expiry the requester is warned.
pub const EXPIRY_WARNING: Duration = Duration::minutes(10);
/// Grants shorter than this get no warning (it would come almost with the grant).
const WARN_GRANTS_FROM: Duration = Duration::minutes(30);
/// Requests looked at per sweep.
const BATCH: usize = 200;

/// What one reminder round sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemindersSent {
    pub approvers: usize,
    pub expiry: usize,
}

impl Steps {
    pub async fn remind(&self) -> Result<RemindersSent> {
        let deps = &self.deps;
        let now = deps.clock.now();
        let mut sent = RemindersSent::default();
        for request in deps.store.requests_with_status(Status::Pending, BATCH).await? {
            let half_way = request.created_at + (request.decision_deadline - request.created_at) / 2;
            if request.reminders.approvers || now < half_way || now >= request.decision_deadline {
                continue;
            }
            let Some(request) = self.mark(request, |r| r.reminders.approvers = true).await? else { continue };
            let flow = deps.flow_of(&request)?.clone();
            let approvers = deps.approver_users(&flow, &request.requester.email).await;
            best_effort("approver reminder", deps.notifier.remind_approvers(&request, &flow, &approvers).await);
            sent.approvers += 1;
        }
        for request in deps.store.removals_due(now + EXPIRY_WARNING, BATCH).await? {
            let long_enough = Duration::seconds(request.duration_secs as i64) >= WARN_GRANTS_FROM;
            let still_ahead = request.expires_at.is_some_and(|at| at > now);
            if request.status != Status::Active || request.reminders.expiry || !long_enough || !still_ahead {
                continue;
            }
            let Some(request) = self.mark(request, |r| r.reminders.expiry = true).await? else { continue };
            let flow = deps.flow_of(&request)?.clone();
            best_effort(
                "expiry warning",
                deps.notifier.tell_requester(&request, &flow, RequesterUpdate::ExpiringSoon).await,
            );
            sent.expiry += 1;
        }
        Ok(sent)
    }

    /// Records a reminder on the request; `None` when another writer changed it first.
    async fn mark(
        &self,
        mut request: AccessRequest,
        set: impl Fn(&mut AccessRequest),
    ) -> Result<Option<AccessRequest>> {
        set(&mut request);
        request.touch(self.deps.clock.now());
        match self.deps.store.update_request(&request, request.status, None).await {
            Ok(()) => Ok(Some(request)),
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
