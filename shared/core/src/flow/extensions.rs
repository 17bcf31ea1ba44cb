//! A flow's `extensions:` settings: how many times an active grant may be extended and whether the
//! requester's extension needs an approver.

use serde::{Deserialize, Serialize};

/// `extensions: {max: 1, self_approve: false}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extensions {
    /// Extensions one grant may have; 0 turns extension off.
    #[serde(default = "one")]
    pub max: u32,
    /// The requester's extension is approved without approvers (rules still apply first).
    #[serde(default)]
    pub self_approve: bool,
}

impl Default for Extensions {
    fn default() -> Self {
        Self { max: 1, self_approve: false }
    }
}

fn one() -> u32 {
    1
}
