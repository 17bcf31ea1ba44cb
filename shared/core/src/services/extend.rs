//! Extensions: the requester asks for more time on an active grant; the flow's rules, its
//! `extensions.self_approve` or its approvers decide, like a request. The workflow needs no signal:
//! its hold re-reads the stored expiry when the old one passes (CheckExpiry) and waits again.

use super::decide::actor_of;
use super::grants::api_identity;
use super::steps::rule_input;
use super::{Airlock, Deps};
use crate::audit::{Actor, AuditEvent};
use crate::duration::GrantDuration;
use crate::error::{ChangeRefusal, DecideError, ErrorCode, GrantChangeError};
use crate::flow::Flow;
use crate::ids::RequestId;
use crate::outbox::Notification;
use crate::policy::DecisionRefusal;
use crate::request::{AccessRequest, ChangeError, ExtensionLimits, Status, Verdict};
use crate::role::{Identity, Role};

/// How many times a change re-reads and retries after losing a conditional write.
const MAX_ATTEMPTS: usize = 5;

impl Airlock {
    /// `who` (the requester or an admin) asks for `added` more time on an active grant, with a
    /// reason. Rules decide first (`request.is_extension` is true for them: auto_deny, then the
    /// flow's `extensions.self_approve`, then auto_approve); otherwise the approvers get a card.
    pub async fn ask_extension(
        &self,
        id: &RequestId,
        who: &Identity,
        added: GrantDuration,
        reason: &str,
    ) -> Result<AccessRequest, GrantChangeError> {
        self.ask_extension_as(id, who, actor_of(who), added, reason).await
    }

    /// [`ask_extension`](Self::ask_extension) for an API client (acting as an admin), recorded as
    /// the system actor `name`. With `any_request` (a token with the revoke or admin scope) any
    /// grant; otherwise only one this client submitted.
    pub async fn ask_extension_as_system(
        &self,
        id: &RequestId,
        name: &str,
        any_request: bool,
        added: GrantDuration,
        reason: &str,
    ) -> Result<AccessRequest, GrantChangeError> {
        let actor = Actor::system(name);
        if !any_request && !self.deps.submitted_by(id, &actor).await? {
            return Err(GrantChangeError::NotAllowed(ChangeRefusal::Extend));
        }
        self.ask_extension_as(id, &api_identity()?, actor, added, reason).await
    }

    async fn ask_extension_as(
        &self,
        id: &RequestId,
        who: &Identity,
        actor: Actor,
        added: GrantDuration,
        reason: &str,
    ) -> Result<AccessRequest, GrantChangeError> {
        let deps = &self.deps;
        let reason: String = reason.trim().chars().take(2_000).collect();
        for _ in 0..MAX_ATTEMPTS {
            let mut request =
                deps.store.get_request(id).await?.ok_or_else(|| GrantChangeError::NotFound(id.clone()))?;
            let flow = deps.flow_of(&request).map_err(|e| GrantChangeError::Internal(e.message))?;
            let is_requester = who.email == request.requester().email;
            if who.role == Role::Guest || !(is_requester || who.role == Role::Admin) {
                return Err(GrantChangeError::NotAllowed(ChangeRefusal::Extend));
            }
            let limits = ExtensionLimits { max: flow.extensions.max, max_added: flow.max_duration };
            let now = deps.clock.now();
            let status = request.status();
            let refused = |e: ChangeError| match e {
                ChangeError::ExtensionLimit(max) => GrantChangeError::ExtensionLimit(max),
                ChangeError::ExtensionPending => GrantChangeError::ExtensionPending,
                ChangeError::TooLong(max) => GrantChangeError::TooLong(max),
                _ => GrantChangeError::NotActive(status),
            };
            // The rules see the request with the extension asked for.
            let mut asking = request.clone();
            let asked = asking.ask_extension(actor.clone(), added, reason.clone(), limits, now).map_err(refused)?;
            let written = match auto_verdict(&asking, flow) {
                Some((verdict, rule)) => {
                    let (asked, decided) = request
                        .ask_extension_decided_by_rule(actor.clone(), added, reason.clone(), limits, verdict, rule, now)
                        .map_err(refused)?;
                    commit_both(deps, &request, asked, decided).await
                }
                None => {
                    request = asking;
                    let cards: Vec<Notification> = deps
                        .card_destinations(flow, &request)
                        .into_iter()
                        .map(|destination| Notification::ExtensionCard { destination })
                        .collect();
                    if cards.is_empty() {
                        tracing::error!(request_id = %id, "no approver can be reached for the extension");
                    }
                    deps.commit_with(&request, Status::Active, asked, &cards).await
                }
            };
            match written {
                Ok(()) => return Ok(request),
                Err(e) if e.code == ErrorCode::Conflict => continue,
                Err(e) => return Err(GrantChangeError::Unavailable(e.message)),
            }
        }
        Err(GrantChangeError::Changed)
    }

    /// `who`, an approver, approves or denies the extension waiting on `id` (a note is the
    /// approver's comment or the reason for a denial).
    pub async fn decide_extension(
        &self,
        id: &RequestId,
        who: &Identity,
        verdict: Verdict,
        note: Option<String>,
    ) -> Result<AccessRequest, DecideError> {
        let deps = &self.deps;
        let actor = actor_of(who);
        let note = note.map(|n| n.trim().chars().take(2_000).collect::<String>()).filter(|n| !n.is_empty());
        for _ in 0..MAX_ATTEMPTS {
            let mut request = deps.store.get_request(id).await?.ok_or_else(|| DecideError::NotFound(id.clone()))?;
            let flow = deps.flow_of(&request).map_err(|e| DecideError::Internal(e.message))?;
            if request.status() != Status::Active || request.pending_extension().is_none() {
                return Err(DecideError::AlreadyDecided(request.status()));
            }
            self.may_decide_extension(flow, &request, who).await.map_err(DecideError::NotAllowed)?;
            let now = deps.clock.now();
            let event = match verdict {
                Verdict::Approve => {
                    request.approve_extension(actor.clone(), flow.approvers.required, note.clone(), now)
                }
                Verdict::Deny => request.deny_extension(actor.clone(), note.clone(), now),
            }
            .map_err(|e| match e {
                ChangeError::AlreadyApproved => DecideError::NotAllowed(DecisionRefusal::AlreadyApprovedByYou),
                _ => DecideError::AlreadyDecided(request.status()),
            })?;
            match deps.commit(&request, Status::Active, event).await {
                Ok(()) => return Ok(request),
                Err(e) if e.code == ErrorCode::Conflict => continue,
                Err(e) => return Err(DecideError::Unavailable(e.message)),
            }
        }
        Err(DecideError::Busy)
    }
}

/// The rule that decides a fresh extension without approvers, if any: auto_deny wins (when it
/// holds for any target), then the flow's `extensions.self_approve`, then auto_approve (when it
/// holds for every target), as for a request.
fn auto_verdict(request: &AccessRequest, flow: &Flow) -> Option<(Verdict, &'static str)> {
    let extension = request.pending_extension()?;
    let inputs: Vec<_> = request
        .targets()
        .iter()
        .map(|target| {
            let mut input = rule_input(request, flow, target.name());
            input.request["is_extension"] = true.into();
            input.request["reason"] = extension.reason.clone().into();
            input.request["extension_seconds"] = extension.added_secs.into();
            input
        })
        .collect();
    let matches = |rule: &Option<crate::rules::Rule>, name: &str, input: &crate::rules::RuleInput| {
        rule.as_ref().is_some_and(|r| {
            r.matches(input).unwrap_or_else(|e| {
                tracing::warn!(request_id = %request.id(), rule = name, error = %e, "rule did not evaluate; treated as no match");
                false
            })
        })
    };
    if inputs.iter().any(|input| matches(&flow.rules.auto_deny, "auto_deny", input)) {
        Some((Verdict::Deny, "auto_deny"))
    } else if flow.extensions.self_approve {
        Some((Verdict::Approve, "extensions.self_approve"))
    } else if !inputs.is_empty() && inputs.iter().all(|input| matches(&flow.rules.auto_approve, "auto_approve", input))
    {
        Some((Verdict::Approve, "auto_approve"))
    } else {
        None
    }
}

/// Writes an extension asked for and decided at once: the change with its decision, then the
/// event of the asking (created first, so the trail reads "asked", "decided").
async fn commit_both(
    deps: &Deps,
    request: &AccessRequest,
    asked: AuditEvent,
    decided: AuditEvent,
) -> crate::error::Result<()> {
    deps.commit(request, Status::Active, decided).await?;
    if let Err(e) = deps.store.append_audit_event(&asked).await {
        tracing::warn!(request_id = %request.id(), error = %e, "could not record the extension's request event");
    }
    deps.emit(&asked).await;
    Ok(())
}

impl Airlock {
    /// May `who` decide the extension waiting on `request`? The people who may decide the flow's
    /// requests decide its extensions, under the same self-approval rule.
    async fn may_decide_extension(
        &self,
        flow: &Flow,
        request: &AccessRequest,
        who: &Identity,
    ) -> Result<(), DecisionRefusal> {
        let is_requester = who.email == request.requester().email;
        if is_requester && !flow.allow_self_approval {
            return Err(DecisionRefusal::SelfApproval);
        }
        if who.role == Role::Guest && !flow.approvers.allow_guests {
            return Err(DecisionRefusal::Guest);
        }
        if !crate::policy::is_approver(flow, who, &self.deps.approver_groups_of(flow, who).await) {
            return Err(DecisionRefusal::NotAnApprover);
        }
        Ok(())
    }
}
