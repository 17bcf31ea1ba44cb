//! Ending and extending grants: expiry, early revoke, extension and the sweeper. Removal is
//! overlap-aware: access that another active grant of the same user still holds stays.

use super::steps::{StepError, escalation_error};
use super::{Airlock, Steps, best_effort};
use crate::audit::{Actor, AuditEvent};
use crate::duration::GrantDuration;
use crate::error::{Error, ErrorCode, Result};
use crate::ids::RequestId;
use crate::policy;
use crate::ports::{GrantSpec, RequesterUpdate};
use crate::request::{AccessRequest, Status};
use crate::role::{Identity, Role};

impl Steps {
    /// Removes the access `request` granted, if it still holds any: an active grant becomes
    /// `expired`; an ended one (revoked) just records the removal. Idempotent.
    pub async fn remove_access(&self, mut request: AccessRequest, actor: Actor) -> Result<(), StepError> {
        let deps = &self.deps;
        if !request.holds_access() {
            return Ok(());
        }
        let flow = deps.flow_of(&request)?.clone();
        let still_held_by = self.other_holder(&request).await?;
        if still_held_by.is_none() {
            match flow.target(&request.target) {
                Some(target) => {
                    let grant = GrantSpec {
                        request_id: request.id.clone(),
                        user_email: request.requester.email.clone(),
                        user_slack_id: request.requester.slack_id.clone(),
                        target: target.clone(),
                        expires_at: request.expires_at.unwrap_or(request.updated_at),
                    };
                    if let Err(e) = deps.escalator.deescalate(&grant).await {
                        let event = AuditEvent::of(
                            &request,
                            actor.clone(),
                            "removal_failed",
                            Some(request.status),
                            Some(e.to_string()),
                        );
                        deps.emit(&request, &event).await;
                        return Err(escalation_error(e));
                    }
                }
                None => tracing::error!(request_id = %request.id, target = %request.target,
                    "target no longer configured; its access cannot be removed by Airlock"),
            }
        }
        let now = deps.clock.now();
        let expected = request.status;
        let (action, update) = if request.status == Status::Active {
            request.transition(Status::Expired, now).map_err(Error::from)?;
            ("expired", Some(RequesterUpdate::Expired))
        } else {
            request.touch(now);
            ("access_removed", None)
        };
        request.access_removed_at = Some(now);
        let detail = still_held_by.map(|id| format!("access kept: still granted by {id}"));
        let event = AuditEvent::of(&request, actor, action, Some(expected), detail);
        deps.commit(&request, expected, event).await?;
        if let Some(update) = update {
            best_effort("card update", deps.notifier.update_approval_cards(&request, &flow).await);
            best_effort("requester DM", deps.notifier.tell_requester(&request, &flow, update).await);
        }
        Ok(())
    }

    /// Another request of the same user that still holds the same access, if any.
    async fn other_holder(&self, request: &AccessRequest) -> Result<Option<RequestId>, StepError> {
        let now = self.deps.clock.now();
        let mine = self.deps.store.requests_of_user(request.requester.user_key(), Some(Status::Active), 100).await?;
        Ok(mine
            .into_iter()
            .find(|r| {
                r.id != request.id
                    && r.access_key == request.access_key
                    && r.holds_access()
                    && r.expires_at.is_some_and(|e| e > now)
            })
            .map(|r| r.id))
    }

    /// Removes every grant whose removal is due (expired, or revoked but not yet removed). The
    /// workflow does this on time; the sweeper is the backstop. Returns how many were removed.
    pub async fn sweep(&self) -> Result<usize> {
        let due = self.deps.store.removals_due(self.deps.clock.now(), 100).await?;
        let mut removed = 0;
        for request in due {
            let id = request.id.clone();
            match self.remove_access(request, Actor::system("sweeper")).await {
                Ok(()) => removed += 1,
                Err(e) => {
                    tracing::error!(request_id = %id, error = %e, "sweeper could not remove access")
                }
            }
        }
        Ok(removed)
    }
}

impl Airlock {
    /// Ends an active grant now. The request is `revoked` at once; if removing the access fails,
    /// the sweeper retries it (the record still shows it held).
    pub async fn revoke(&self, id: &RequestId, who: &Identity, reason: Option<String>) -> Result<AccessRequest> {
        let deps = &self.deps;
        let mut request = deps.load(id).await?;
        let flow = deps.flow_of(&request)?.clone();
        if !policy::may_revoke(&flow, &request, who) {
            return Err(Error::new(
                ErrorCode::Forbidden,
                "only the requester, the flow's approvers and admins can revoke",
            ));
        }
        if request.status != Status::Active {
            return Err(Error::new(ErrorCode::Conflict, format!("request is {}, not active", request.status)));
        }
        let actor = Actor::User { email: who.email.clone(), slack_id: who.slack_id.clone() };
        let now = deps.clock.now();
        request.transition(Status::Revoked, now)?;
        request.expires_at = Some(now);
        request.decision_note = reason.clone();
        let event = AuditEvent::of(&request, actor.clone(), "revoked", Some(Status::Active), reason);
        deps.commit(&request, Status::Active, event).await?;
        best_effort("card update", deps.notifier.update_approval_cards(&request, &flow).await);
        best_effort("requester DM", deps.notifier.tell_requester(&request, &flow, RequesterUpdate::Revoked).await);
        if let Err(e) = self.steps().remove_access(request.clone(), actor).await {
            tracing::error!(request_id = %id, error = %e, "access not removed yet; the sweeper will retry");
        }
        deps.load(id).await
    }

    /// Ends an active grant now on behalf of an API client (acting as an admin).
    pub async fn revoke_as_system(&self, id: &RequestId, reason: Option<String>) -> Result<AccessRequest> {
        let system = Identity {
            email: "api@airlock.invalid".parse().map_err(|e: String| Error::new(ErrorCode::Internal, e))?,
            slack_id: None,
            name: Some("Airlock API".into()),
            role: Role::Admin,
        };
        self.revoke(id, &system, reason).await
    }

    /// Moves an active grant's expiry out by `by`, keeping the whole grant within the flow's maximum.
    pub async fn extend(&self, id: &RequestId, who: &Identity, by: GrantDuration) -> Result<AccessRequest> {
        let deps = &self.deps;
        let mut request = deps.load(id).await?;
        let flow = deps.flow_of(&request)?.clone();
        if !policy::may_revoke(&flow, &request, who)
            || (who.email == request.requester.email && !flow.allow_self_approval)
        {
            return Err(Error::new(ErrorCode::Forbidden, "only the flow's approvers and admins can extend a grant"));
        }
        let (Status::Active, Some(granted), Some(expires)) = (request.status, request.granted_at, request.expires_at)
        else {
            return Err(Error::new(ErrorCode::Conflict, format!("request is {}, not active", request.status)));
        };
        let new_expiry = expires + by.to_chrono();
        if new_expiry - granted > flow.max_duration.to_chrono() {
            return Err(Error::new(
                ErrorCode::Invalid,
                format!("a grant in this flow lasts at most {}", flow.max_duration),
            ));
        }
        request.expires_at = Some(new_expiry);
        request.touch(deps.clock.now());
        let actor = Actor::User { email: who.email.clone(), slack_id: who.slack_id.clone() };
        let event = AuditEvent::of(
            &request,
            actor,
            "extended",
            Some(Status::Active),
            Some(format!("until {}", new_expiry.to_rfc3339())),
        );
        deps.commit(&request, Status::Active, event).await?;
        best_effort("requester DM", deps.notifier.tell_requester(&request, &flow, RequesterUpdate::Extended).await);
        Ok(request)
    }
}
