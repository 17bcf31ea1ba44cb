//! [`Approvers`] and [`Requesters`]: who decides a flow's requests and who may make them.

use super::Principal;
use crate::slack_ids::is_slack_channel_id;
use serde::{Deserialize, Serialize};

/// Who decides a flow's requests and where the approval card goes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawApprovers")]
pub struct Approvers {
    /// Listed approvers; each is DMed the card.
    pub users: Vec<Principal>,
    /// Slack user group ids (`S…`): every member may decide and is DMed the card.
    pub groups: Vec<String>,
    pub channel: Option<String>,
    /// Approvals needed, from distinct people.
    pub required: u32,
    /// Guests among the listed users and group members may decide too.
    pub allow_guests: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApprovers {
    #[serde(default)]
    users: Vec<Principal>,
    #[serde(default)]
    groups: Vec<String>,
    channel: Option<String>,
    #[serde(default = "one")]
    required: u32,
    #[serde(default)]
    allow_guests: bool,
}

fn one() -> u32 {
    1
}

impl TryFrom<RawApprovers> for Approvers {
    type Error = String;

    fn try_from(raw: RawApprovers) -> Result<Self, Self::Error> {
        if raw.users.is_empty() && raw.groups.is_empty() && raw.channel.is_none() {
            return Err("approvers needs at least one of `users`, `groups` or `channel`".into());
        }
        if let Some(group) = raw.groups.iter().find(|g| !is_user_group_id(g)) {
            return Err(format!("approvers.groups {group:?} is not a Slack user group id (S…)"));
        }
        if raw.required == 0 {
            return Err("approvers.required must be at least 1".into());
        }
        if let Some(channel) = &raw.channel
            && !is_slack_channel_id(channel)
        {
            return Err(format!("approvers.channel {channel:?} is not a Slack channel id (C…/G…)"));
        }
        let mut groups: Vec<String> = Vec::new();
        for group in raw.groups {
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
        Ok(Self {
            users: raw.users,
            groups,
            channel: raw.channel,
            required: raw.required,
            allow_guests: raw.allow_guests,
        })
    }
}

/// `S0123ABC`: a Slack user group id.
pub fn is_user_group_id(s: &str) -> bool {
    s.len() >= 3 && s.starts_with('S') && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Who may request a flow; when absent, every member and admin may.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requesters {
    #[serde(default)]
    pub users: Vec<Principal>,
    #[serde(default)]
    pub groups: Vec<String>,
}
