//! Who may do what: pure decisions returning a reason, so callers can explain a refusal.

use crate::duration::GrantDuration;
use crate::flow::Flow;
use crate::request::{AccessRequest, Status, Verdict};
use crate::role::{Identity, Role};
use std::fmt;

pub mod cases;

/// Why someone may not request a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestRefusal {
    Guest,
    NotARequester,
}

impl fmt::Display for RequestRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequestRefusal::Guest => "guests cannot request access; ask an admin if you need it",
            RequestRefusal::NotARequester => "you are not on this flow's list of requesters",
        })
    }
}

/// May `who` request `flow`? `user_groups` are the Slack user groups of the flow that `who` is in.
pub fn may_request(flow: &Flow, who: &Identity, user_groups: &[String]) -> Result<(), RequestRefusal> {
    if who.role == Role::Guest {
        return Err(RequestRefusal::Guest);
    }
    let Some(requesters) = &flow.requesters else {
        return Ok(());
    };
    if who.role == Role::Admin
        || requesters.users.iter().any(|p| who.is(p))
        || requesters.groups.iter().any(|g| user_groups.contains(g))
    {
        Ok(())
    } else {
        Err(RequestRefusal::NotARequester)
    }
}

/// Why someone may not approve or deny a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionRefusal {
    /// The requester deciding their own request where the flow forbids it.
    SelfApproval,
    /// A guest, in a flow without `approvers.allow_guests`.
    Guest,
    NotAnApprover,
    AlreadyDecided(Status),
    AlreadyApprovedByYou,
}

impl fmt::Display for DecisionRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecisionRefusal::SelfApproval => f.write_str("you cannot decide your own request in this flow"),
            DecisionRefusal::Guest => f.write_str("guests cannot approve or deny requests in this flow"),
            DecisionRefusal::NotAnApprover => f.write_str("you are not an approver of this flow"),
            DecisionRefusal::AlreadyDecided(s) => write!(f, "this request is already {s}"),
            DecisionRefusal::AlreadyApprovedByYou => f.write_str("you have already approved this request"),
        }
    }
}

/// Is `who` one of `flow`'s approvers: listed, in one of its approver groups (`approver_groups`
/// are the flow's groups that `who` is in), or an admin? Guests only where the flow allows them,
/// and never as admins.
pub fn is_approver(flow: &Flow, who: &Identity, approver_groups: &[String]) -> bool {
    let named = flow.approvers.users.iter().any(|p| who.is(p))
        || flow.approvers.groups.iter().any(|g| approver_groups.contains(g));
    match who.role {
        Role::Admin => true,
        Role::Member => named,
        Role::Guest => flow.approvers.allow_guests && named,
    }
}

/// May `who` approve or deny `request` of `flow` now? `approver_groups` are the flow's approver
/// groups that `who` is in.
pub fn may_decide(
    flow: &Flow,
    request: &AccessRequest,
    who: &Identity,
    approver_groups: &[String],
    verdict: Verdict,
) -> Result<(), DecisionRefusal> {
    if request.status() != Status::Pending {
        return Err(DecisionRefusal::AlreadyDecided(request.status()));
    }
    if who.role == Role::Guest && !flow.approvers.allow_guests {
        return Err(DecisionRefusal::Guest);
    }
    let is_requester = who.email == request.requester().email;
    if is_requester && !flow.allow_self_approval {
        return Err(DecisionRefusal::SelfApproval);
    }
    if !is_approver(flow, who, approver_groups) {
        return Err(DecisionRefusal::NotAnApprover);
    }
    let actor = crate::audit::Actor::User { email: who.email.clone(), slack_id: who.slack_id.clone() };
    if verdict == Verdict::Approve && request.has_approved(&actor) {
        return Err(DecisionRefusal::AlreadyApprovedByYou);
    }
    Ok(())
}

/// May `who` revoke `request`'s access early? The requester, the flow's approvers (listed, in its
/// approver groups, `approver_groups` being those `who` is in) and admins may; guests only as
/// approvers of a flow that lets guests decide.
pub fn may_revoke(flow: &Flow, request: &AccessRequest, who: &Identity, approver_groups: &[String]) -> bool {
    is_approver(flow, who, approver_groups) || (who.role != Role::Guest && who.email == request.requester().email)
}

/// Is `duration` allowed for `flow`?
pub fn check_duration(flow: &Flow, duration: GrantDuration) -> Result<(), String> {
    if duration > flow.max_duration {
        Err(format!("{duration} is over this flow's maximum of {}", flow.max_duration))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
