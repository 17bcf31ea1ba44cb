//! Ending and extending grants: expiry, early revoke, extension and the sweeper. Removal is
//! overlap-aware: access that another active grant of the same user still holds stays.

use super::decide::actor_of;
use super::steps::{StepError, escalation_error, grant_spec};
use super::{Airlock, Steps};
use crate::audit::Actor;
use crate::error::{ChangeRefusal, Error, ErrorCode, GrantChangeError, Result};
use crate::flow::Flow;
use crate::ids::RequestId;
use crate::policy;
use crate::request::{AccessRequest, Status};
use crate::role::{Identity, Role};
use crate::workflow::WorkflowState;

/// Removals the sweeper takes per batch; it takes batches until none is due.
const SWEEP_BATCH: usize = 100;
/// Batches per sweep, so one sweep ends even while removals keep failing fast.
const SWEEP_MAX_BATCHES: usize = 50;

impl Steps {
    /// Removes the access `request` granted, target by target, where it is due: every target of an
    /// ended request, failed targets, and granted targets of an active request once it expired (an
    /// active request becomes `expired` when its last granted target is removed; an ended one just
    /// records each removal). Access the person held before Airlock granted it, or that another
    /// active grant still gives them, stays. A failed attempt is recorded on its target with its
    /// next attempt time (and, past the first few, as a `removal_failed` audit event), and the
    /// other targets are still removed. Idempotent.
    pub async fn remove_access(&self, request: AccessRequest, actor: Actor) -> Result<(), StepError> {
        self.remove_targets(request, actor, false).await
    }

    /// [`remove_access`](Self::remove_access) of the targets due now; with `backoff`, a target
    /// whose last attempt failed waits for its next attempt time (the sweeper's pace).
    async fn remove_targets(&self, request: AccessRequest, actor: Actor, backoff: bool) -> Result<(), StepError> {
        let now = self.deps.clock.now();
        let names: Vec<String> =
            request.targets_to_remove(now, backoff).into_iter().map(|t| t.name().to_string()).collect();
        let mut failed = None;
        for name in names {
            if let Err(e) = self.remove_target(&request, &name, &actor).await {
                tracing::warn!(request_id = %request.id(), target = %name, error = %e, "access removal failed");
                failed.get_or_insert(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Removes the access of `request`'s target `name`, unless standing or still granted by another
    /// request, and records it.
    async fn remove_target(&self, request: &AccessRequest, name: &str, actor: &Actor) -> Result<(), StepError> {
        let deps = &self.deps;
        let Some(target) = request.target_named(name).filter(|t| request.target_holds_access(t)) else {
            return Ok(());
        };
        let still_held_by = self.other_holder(request, target.access_key()).await?;
        let kept = if target.preexisting_access() {
            Some("access kept: it existed before Airlock granted it".to_string())
        } else {
            still_held_by.map(|id| format!("access kept: still granted by {id}"))
        };
        if kept.is_none() {
            let spec = self.target_of(request, name)?;
            let grant = grant_spec(request, spec, request.expires_at().unwrap_or(request.updated_at()));
            if let Err(e) = deps.escalator.deescalate(&grant).await {
                self.record_removal_failure(request.id(), name, actor, &e.to_string()).await;
                return Err(escalation_error(e));
            }
        }
        for _ in 0..10 {
            let mut request = deps.load(request.id()).await?;
            let Some(target) = request.target_named(name) else { return Ok(()) };
            if !request.target_holds_access(target) {
                return Ok(());
            }
            let now = deps.clock.now();
            let expected = request.status();
            let event = if expected == Status::Active && target.granted_at().is_some() {
                request.expire(name, actor.clone(), kept.clone(), now)
            } else {
                request.record_removal(name, actor.clone(), kept.clone(), now)
            }
            .map_err(Error::from)?;
            match deps.commit(&request, expected, event).await {
                Ok(()) => return Ok(()),
                Err(e) if e.code == ErrorCode::Conflict => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StepError::Transient("request kept changing while recording the removal".into()))
    }

    /// Records a failed removal of target `name` on the request (so the sweeper backs it off and
    /// goes on with the others); past the first few attempts, each failure is also an audit event.
    async fn record_removal_failure(&self, id: &RequestId, name: &str, actor: &Actor, error: &str) {
        let deps = &self.deps;
        tracing::error!(request_id = %id, target = name, error, "access removal failed; will retry");
        for _ in 0..5 {
            let Ok(Some(mut request)) = deps.store.get_request(id).await else { return };
            let expected = request.status();
            let Ok(event) = request.record_removal_failure(name, actor.clone(), error, deps.clock.now()) else {
                return;
            };
            let written = match event {
                Some(event) => deps.commit(&request, expected, event).await,
                None => deps.save(&request, expected, &[]).await.map_err(Error::from),
            };
            match written {
                Ok(()) => return,
                Err(e) if e.code == ErrorCode::Conflict => continue,
                Err(e) => {
                    tracing::warn!(request_id = %id, error = %e, "could not record a failed removal");
                    return;
                }
            }
        }
    }

    /// Another request of the same user whose active grant still holds the access `access_key`, if any.
    async fn other_holder(&self, request: &AccessRequest, access_key: &str) -> Result<Option<RequestId>, StepError> {
        let now = self.deps.clock.now();
        let same = self.deps.store.requests_for_access(request.requester().user_key(), access_key).await?;
        Ok(same
            .into_iter()
            .find(|r| {
                r.id() != request.id()
                    && r.status() == Status::Active
                    && r.target_with_key(access_key)
                        .is_some_and(|t| t.granted_at().is_some() && r.target_holds_access(t))
                    && r.expires_at().is_some_and(|e| e > now)
            })
            .map(|r| r.id().clone()))
    }

    /// Removes every grant whose removal is due (expired, revoked or failed but not yet removed),
    /// batch after batch; a failing removal is pushed back by its own backoff, so it never starves
    /// the others. The workflow removes on time; the sweeper is the backstop. Returns how many
    /// were removed.
    pub async fn sweep(&self) -> Result<usize> {
        let mut removed = 0;
        for _ in 0..SWEEP_MAX_BATCHES {
            let due = self.deps.store.removals_due(self.deps.clock.now(), SWEEP_BATCH).await?;
            let batch = due.len();
            let mut progressed = false;
            for request in due {
                let id = request.id().clone();
                let before = request.removal_due();
                match self.remove_targets(request, Actor::system("sweeper"), true).await {
                    Ok(()) => {
                        removed += 1;
                        progressed = true;
                    }
                    Err(e) => {
                        tracing::error!(request_id = %id, error = %e, "sweeper could not remove access");
                        let after = self.deps.store.get_request(&id).await.ok().flatten().and_then(|r| r.removal_due());
                        progressed |= after != before;
                    }
                }
            }
            if batch < SWEEP_BATCH || !progressed {
                break;
            }
        }
        Ok(removed)
    }
}

impl Airlock {
    /// Ends an active grant now: the request is `revoked` at once (a conditional write) and its
    /// removal runs in the workflow right after, so the caller never waits for the target system;
    /// the sweeper retries a removal that fails.
    pub async fn revoke(
        &self,
        id: &RequestId,
        who: &Identity,
        reason: Option<String>,
    ) -> Result<AccessRequest, GrantChangeError> {
        self.revoke_as(id, who, actor_of(who), reason).await
    }

    async fn revoke_as(
        &self,
        id: &RequestId,
        who: &Identity,
        actor: Actor,
        reason: Option<String>,
    ) -> Result<AccessRequest, GrantChangeError> {
        let deps = &self.deps;
        let (mut request, flow) = self.grant_of(id).await?;
        let groups = deps.approver_groups_of(flow, who).await;
        if !policy::may_revoke(flow, &request, who, &groups) {
            return Err(GrantChangeError::NotAllowed(ChangeRefusal::Revoke));
        }
        let status = request.status();
        if status != Status::Active {
            return Err(GrantChangeError::NotActive(status));
        }
        let event = request.revoke(actor, reason, deps.clock.now()).map_err(|_| GrantChangeError::NotActive(status))?;
        deps.commit(&request, Status::Active, event).await.map_err(lost_or_unavailable)?;
        let state = WorkflowState::start(request.id().clone(), 0);
        if let Err(e) = self.workflow.remove_now(&state).await {
            tracing::error!(request_id = %id, error = %e, "could not start the removal; the sweeper will do it");
        }
        Ok(request)
    }

    /// Ends an active grant now on behalf of an API client (acting as an admin), recorded as the
    /// system actor `name` (e.g. `api:ci`, the token's name). With `any_request` (a token with the
    /// revoke or admin scope) any grant; otherwise only one this client submitted.
    pub async fn revoke_as_system(
        &self,
        id: &RequestId,
        name: &str,
        any_request: bool,
        reason: Option<String>,
    ) -> Result<AccessRequest, GrantChangeError> {
        let actor = Actor::system(name);
        if !any_request && !self.deps.submitted_by(id, &actor).await? {
            return Err(GrantChangeError::NotAllowed(ChangeRefusal::Revoke));
        }
        self.revoke_as(id, &api_identity()?, actor, reason).await
    }

    /// The request `id` and its flow.
    async fn grant_of(&self, id: &RequestId) -> Result<(AccessRequest, &Flow), GrantChangeError> {
        let request = self.deps.store.get_request(id).await?.ok_or_else(|| GrantChangeError::NotFound(id.clone()))?;
        let flow = self.deps.flow_of(&request).map_err(|e| GrantChangeError::Internal(e.message))?;
        Ok((request, flow))
    }
}

/// What a failed [`Deps::commit`](super::Deps) of a grant change means to the person: the
/// conditional write lost (another change came first), or the store failed.
fn lost_or_unavailable(e: Error) -> GrantChangeError {
    match e.code {
        ErrorCode::Conflict => GrantChangeError::Changed,
        _ => GrantChangeError::Unavailable(e.message),
    }
}

/// The identity an API client acts as once its token is allowed: an admin.
pub(super) fn api_identity() -> Result<Identity, GrantChangeError> {
    Ok(Identity {
        email: "api@airlock.invalid".parse().map_err(GrantChangeError::Internal)?,
        slack_id: None,
        name: Some("Airlock API".into()),
        role: Role::Admin,
    })
}
