//! [`Approvers`] and [`Requesters`]: who decides a flow's requests and who may make them.

use super::Principal;
use crate::slack_ids::is_slack_channel_id;
use serde::{Deserialize, Serialize};

/// Who decides a flow's requests and where the approval card goes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawApprovers")]
pub struct Approvers {
    pub users: Vec<Principal>,
    pub channel: Option<String>,
    pub required: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApprovers {
    #[serde(default)]
    users: Vec<Principal>,
    channel: Option<String>,
    #[serde(default = "one")]
    required: u32,
}

fn one() -> u32 {
    1
}

impl TryFrom<RawApprovers> for Approvers {
    type Error = String;

    fn try_from(raw: RawApprovers) -> Result<Self, Self::Error> {
        if raw.users.is_empty() && raw.channel.is_none() {
            return Err("approvers needs at least one of `users` or `channel`".into());
        }
        if raw.required == 0 {
            return Err("approvers.required must be at least 1".into());
        }
        if let Some(channel) = &raw.channel
            && !is_slack_channel_id(channel)
        {
            return Err(format!("approvers.channel {channel:?} is not a Slack channel id (C…/G…)"));
        }
        Ok(Self { users: raw.users, channel: raw.channel, required: raw.required })
    }
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
