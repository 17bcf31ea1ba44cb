//! [`Principal`]: a person named in the config, by email or Slack user id.

use crate::email::Email;
use crate::slack_ids::is_slack_user_id;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Someone named in the config: by email, or by Slack user id (`U…`/`W…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Principal {
    Email(Email),
    SlackId(String),
}

impl FromStr for Principal {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.contains('@') {
            return s.parse().map(Principal::Email);
        }
        if is_slack_user_id(s) {
            Ok(Principal::SlackId(s.to_string()))
        } else {
            Err(format!("{s:?} is neither an email address nor a Slack user id (U…)"))
        }
    }
}

impl TryFrom<String> for Principal {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Principal> for String {
    fn from(p: Principal) -> String {
        p.to_string()
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Email(e) => e.fmt(f),
            Principal::SlackId(id) => f.write_str(id),
        }
    }
}
