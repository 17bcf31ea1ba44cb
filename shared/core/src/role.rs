//! Roles and the identity of the person acting.

use crate::email::Email;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a person may do in general: admins manage and approve everything, members request,
/// guests (anyone outside the organization's domains) may do nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Member,
    Guest,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Guest => "guest",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    /// `admin`, `member` or `guest`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "guest" => Ok(Role::Guest),
            _ => Err(format!("unknown role {:?}: expected admin, member or guest", s.trim())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resolved person: email (the key shared by Slack, the config and Identity Center), Slack id when
/// known, and role (from the store's roles and domains over the config's, see [`crate::roles`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub email: Email,
    pub slack_id: Option<String>,
    pub name: Option<String>,
    pub role: Role,
}

impl Identity {
    /// True when `principal` (an email or a Slack user id) names this person.
    pub fn is(&self, principal: &crate::flow::Principal) -> bool {
        match principal {
            crate::flow::Principal::Email(e) => *e == self.email,
            crate::flow::Principal::SlackId(id) => self.slack_id.as_deref() == Some(id.as_str()),
        }
    }

    /// How messages address this person: a Slack mention when the id is known, else the email.
    pub fn display(&self) -> String {
        match &self.slack_id {
            Some(id) => format!("<@{id}>"),
            None => self.email.to_string(),
        }
    }
}
