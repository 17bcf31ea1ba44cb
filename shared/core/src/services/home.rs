//! The App Home: one person's requests (pending, active, recently ended) and, for approvers, the
//! requests waiting for their decision; and its republication to everyone a changed request
//! concerns (the outbox's `HomeRefresh`).

use super::{Airlock, Deps, Steps};
use crate::email::Email;
use crate::error::Result;
use crate::flow::{Flow, Principal};
use crate::policy;
use crate::ports::{DirectoryUser, NotifyError};
use crate::request::{AccessRequest, Status, Verdict};
use crate::role::Identity;
use chrono::{DateTime, Utc};

/// Ended requests shown on the Home.
const HOME_ENDED: usize = 10;
/// Requests of one open status read for the Home.
const OPEN_SCAN: usize = 100;
/// Recent requests read to find the ended ones.
const ENDED_SCAN: usize = 50;
/// Pending requests (anyone's) read to find those waiting for one approver.
const PENDING_SCAN: usize = 500;

/// What one person's App Home shows, newest first in each list.
#[derive(Debug, Clone, PartialEq)]
pub struct Home {
    pub who: Identity,
    /// When it was read (time left is counted from here).
    pub at: DateTime<Utc>,
    /// My requests waiting for a decision.
    pub pending: Vec<AccessRequest>,
    /// My grants: approved (being granted) or active.
    pub active: Vec<AccessRequest>,
    /// My last [`HOME_ENDED`] ended requests, most recently ended first.
    pub ended: Vec<AccessRequest>,
    /// Other people's pending requests that I may decide now.
    pub to_decide: Vec<AccessRequest>,
    /// I decide requests of some flow (listed approver, approver group member or admin).
    pub is_approver: bool,
}

impl Airlock {
    /// `who`'s App Home.
    pub async fn home(&self, who: &Identity) -> Result<Home> {
        self.deps.home_of(who).await
    }
}

impl Deps {
    pub(super) async fn home_of(&self, who: &Identity) -> Result<Home> {
        let user = who.email.as_str();
        let mut pending = self.store.requests_of_user(user, Some(Status::Pending), OPEN_SCAN).await?;
        pending.sort_by_key(|r| std::cmp::Reverse(r.created_at()));
        let mut active = self.store.requests_of_user(user, Some(Status::Active), OPEN_SCAN).await?;
        active.extend(self.store.requests_of_user(user, Some(Status::Approved), OPEN_SCAN).await?);
        active.sort_by_key(|r| std::cmp::Reverse(r.created_at()));
        let mut ended: Vec<AccessRequest> = self
            .store
            .requests_of_user(user, None, ENDED_SCAN)
            .await?
            .into_iter()
            .filter(|r| r.status().is_terminal())
            .collect();
        ended.sort_by_key(|r| std::cmp::Reverse(r.updated_at()));
        // The lists are separate reads: a request that changed between them (revoked while the
        // Home was read, say) is shown once, as its newest copy, in the list of its status then.
        let mut newest: std::collections::HashMap<crate::ids::RequestId, u64> = std::collections::HashMap::new();
        for request in pending.iter().chain(&active).chain(&ended) {
            let version = newest.entry(request.id().clone()).or_default();
            *version = (*version).max(request.version());
        }
        let is_newest = |r: &AccessRequest| newest.get(r.id()) == Some(&r.version());
        pending.retain(is_newest);
        active.retain(is_newest);
        ended.retain(is_newest);
        ended.truncate(HOME_ENDED);

        // Approver groups are asked once per flow, not once per request.
        let mut groups_by_flow: Vec<Vec<String>> = Vec::with_capacity(self.config.flows.len());
        for flow in &self.config.flows {
            groups_by_flow.push(self.approver_groups_of(flow, who).await);
        }
        let groups_of = |flow: &Flow| -> &[String] {
            let index = self.config.flows.iter().position(|f| std::ptr::eq(f, flow));
            index.map_or(&[], |i| groups_by_flow[i].as_slice())
        };
        let mut to_decide = Vec::new();
        for request in self.store.requests_with_status(Status::Pending, PENDING_SCAN).await? {
            if let Some(flow) = self.config.flow_of(&request)
                && policy::may_decide(flow, &request, who, groups_of(flow), Verdict::Approve).is_ok()
            {
                to_decide.push(request);
            }
        }
        let is_approver = !to_decide.is_empty()
            || self.config.flows.iter().any(|flow| policy::is_approver(flow, who, groups_of(flow)));
        Ok(Home { who: who.clone(), at: self.clock.now(), pending, active, ended, to_decide, is_approver })
    }

    /// Everyone `request` concerns, as Slack users with their roles now: its requester, the flow's
    /// listed approvers, the members of its approver groups and the admins. Those Slack does not
    /// know are skipped; a lookup that may succeed later fails the whole refresh (it is retried).
    async fn concerned(&self, request: &AccessRequest, flow: &Flow) -> std::result::Result<Vec<Identity>, NotifyError> {
        let unavailable = |e: String| NotifyError::retry(format!("cannot tell whom a request concerns: {e}"));
        let roles = self.people().snapshot().await.map_err(|e| unavailable(e.message))?;
        let requester = request.requester();
        let mut candidates: Vec<Principal> = vec![match &requester.slack_id {
            Some(id) => Principal::SlackId(id.clone()),
            None => Principal::Email(requester.email.clone()),
        }];
        candidates.extend(flow.approvers.users.iter().cloned());
        candidates.extend(self.config.organization.admins.iter().cloned().map(Principal::Email));
        let mut users: Vec<(DirectoryUser, Option<Email>)> = Vec::new();
        for principal in candidates {
            let found = match &principal {
                Principal::SlackId(id) => self.directory.user_by_slack_id(id).await,
                Principal::Email(email) => self.directory.user_by_email(email).await,
            };
            match found {
                Ok(Some(user)) => {
                    let email = match principal {
                        Principal::Email(email) => Some(email),
                        Principal::SlackId(_) => None,
                    };
                    users.push((user, email));
                }
                Ok(None) => {}
                Err(e) if e.is_transient() => return Err(unavailable(e.to_string())),
                Err(e) => tracing::warn!(person = ?principal, error = %e, "cannot refresh the Home of a person"),
            }
        }
        let listed: Vec<String> = users.iter().map(|(u, _)| u.slack_id.clone()).collect();
        let members = self
            .group_approvers(flow, &requester.email, requester.slack_id.as_deref(), &listed)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        users.extend(members.into_iter().map(|(_, user)| (user, None)));

        let mut people: Vec<Identity> = Vec::new();
        for (user, named) in users {
            let Some(email) = user.email.clone().or(named) else { continue };
            if people.iter().any(|p| p.slack_id.as_deref() == Some(user.slack_id.as_str())) {
                continue;
            }
            let role = roles.role_of(&email).role;
            people.push(Identity { role, email, slack_id: Some(user.slack_id), name: user.name });
        }
        Ok(people)
    }
}

impl Steps {
    /// Republishes the App Home of everyone `request` concerns. A transient failure for anyone is
    /// retried (publishing again is harmless); a permanent one is logged and the others go on.
    pub(super) async fn refresh_homes(
        &self,
        request: &AccessRequest,
        flow: &Flow,
    ) -> std::result::Result<(), NotifyError> {
        let deps = &self.deps;
        let mut retry = None;
        for who in deps.concerned(request, flow).await? {
            let Some(slack_id) = who.slack_id.clone() else { continue };
            let home = match deps.home_of(&who).await {
                Ok(home) => home,
                Err(e) => return Err(NotifyError::retry(e.message)),
            };
            match deps.notifier.publish_home(&slack_id, &home).await {
                Ok(()) => {}
                Err(NotifyError::Permanent(e)) => {
                    tracing::warn!(request_id = %request.id(), user = %slack_id, error = %e, "App Home not published")
                }
                Err(e @ NotifyError::Retry { .. }) => retry = Some(e),
            }
        }
        retry.map_or(Ok(()), Err)
    }
}
