//! Turning Slack ids and API principals into identities with roles.

use super::Airlock;
use crate::email::Email;
use crate::error::{Error, ErrorCode, Result};
use crate::flow::{Flow, Principal};
use crate::policy;
use crate::ports::DirectoryUser;
use crate::role::Identity;
use crate::slack_ids::is_slack_user_id;

impl Airlock {
    /// The person behind a Slack user id, with their role from the config.
    pub async fn identify_slack_user(&self, slack_id: &str) -> Result<Identity> {
        let user = self
            .deps
            .directory
            .user_by_slack_id(slack_id)
            .await
            .map_err(|e| Error::unavailable(format!("Slack user lookup failed: {e}")))?
            .ok_or_else(|| Error::new(ErrorCode::Forbidden, format!("unknown Slack user {slack_id}")))?;
        let email = user.email.ok_or_else(|| {
            Error::new(ErrorCode::Forbidden, "Airlock needs the email on your Slack profile to know who you are")
        })?;
        Ok(Identity { role: self.deps.config.role_of(&email), email, slack_id: Some(user.slack_id), name: user.name })
    }

    /// The person named by an email or Slack user id (the API's way of naming people).
    pub async fn identify(&self, principal: &str) -> Result<Identity> {
        let principal = principal.trim();
        if is_slack_user_id(principal) {
            return self.identify_slack_user(principal).await;
        }
        let email: Email = principal.parse().map_err(|e: String| Error::new(ErrorCode::Invalid, e))?;
        // Slack is asked only to be able to DM the person; an API caller may name someone not in Slack.
        let user = self.deps.directory.user_by_email(&email).await.ok().flatten();
        Ok(Identity {
            role: self.deps.config.role_of(&email),
            slack_id: user.as_ref().map(|u| u.slack_id.clone()),
            name: user.and_then(|u| u.name),
            email,
        })
    }

    /// The flows `who` may request, in config order.
    pub async fn flows_for(&self, who: &Identity) -> Vec<&Flow> {
        let mut flows = Vec::new();
        for flow in &self.deps.config.flows {
            let groups = self.groups_of(flow, who).await;
            if policy::may_request(flow, who, &groups).is_ok() {
                flows.push(flow);
            }
        }
        flows
    }

    /// The requester groups of `flow` that `who` belongs to (asked only when the flow lists groups).
    pub(super) async fn groups_of(&self, flow: &Flow, who: &Identity) -> Vec<String> {
        let (Some(requesters), Some(slack_id)) = (&flow.requesters, &who.slack_id) else {
            return Vec::new();
        };
        let mut member_of = Vec::new();
        for group in &requesters.groups {
            match self.deps.directory.group_members(group).await {
                Ok(members) if members.iter().any(|m| m == slack_id) => member_of.push(group.clone()),
                Ok(_) => {}
                Err(e) => tracing::warn!(group, error = %e, "user group lookup failed"),
            }
        }
        member_of
    }
}

impl super::Deps {
    /// The flow's listed approvers as Slack users (for DMs); those Slack does not know are skipped.
    pub(super) async fn approver_users(&self, flow: &Flow, requester: &Email) -> Vec<DirectoryUser> {
        let mut users = Vec::new();
        for principal in &flow.approvers.users {
            let user = match principal {
                Principal::SlackId(id) => Some(DirectoryUser { slack_id: id.clone(), email: None, name: None }),
                Principal::Email(email) if email == requester && !flow.allow_self_approval => None,
                Principal::Email(email) => match self.directory.user_by_email(email).await {
                    Ok(user) => user,
                    Err(e) => {
                        tracing::warn!(approver = %email, error = %e, "approver lookup failed");
                        None
                    }
                },
            };
            if let Some(user) = user
                && !users.iter().any(|u: &DirectoryUser| u.slack_id == user.slack_id)
            {
                users.push(user);
            }
        }
        users
    }
}
