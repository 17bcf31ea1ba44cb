//! Flows, their targets and custom fields, as validated from the config file.
//!
//! Each type deserializes from a raw form (unknown keys rejected) and validates in `TryFrom`, so a
//! value that exists is valid and config errors point at the offending YAML node.

mod approvers;
mod extensions;
mod field;
mod principal;
mod target;

pub use approvers::{Approvers, Requesters, is_user_group_id};
pub use extensions::Extensions;
pub use field::{FieldSpec, FieldType, Prefetch};
pub use principal::Principal;
pub use target::{AccountScope, DEFAULT_MAX_ACCOUNTS, SsoScope, Target, TargetKind};

use crate::duration::GrantDuration;
use crate::rules::Rule;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// A flow's CEL rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub auto_approve: Option<Rule>,
    pub auto_deny: Option<Rule>,
}

/// A kind of access people can ask for, with its approvers, limits, targets, fields and rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawFlow")]
pub struct Flow {
    pub name: String,
    /// The environment this flow grants access in (`prod` unless set); a flow name appears once
    /// per environment.
    pub environment: String,
    pub label: String,
    pub description: String,
    pub approvers: Approvers,
    pub requesters: Option<Requesters>,
    pub allow_self_approval: bool,
    pub durations: Vec<GrantDuration>,
    pub max_duration: GrantDuration,
    pub approval_timeout: GrantDuration,
    pub targets: Vec<Target>,
    /// A request may name several of the targets (granted, removed and audited each on its own).
    pub multiple_targets: bool,
    pub fields: Vec<FieldSpec>,
    pub rules: Rules,
    /// How active grants of this flow may be extended.
    pub extensions: Extensions,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    name: String,
    environment: Option<String>,
    label: Option<String>,
    #[serde(default)]
    description: String,
    approvers: Approvers,
    requesters: Option<Requesters>,
    #[serde(default)]
    allow_self_approval: bool,
    #[serde(default)]
    durations: Vec<GrantDuration>,
    max_duration: GrantDuration,
    approval_timeout: Option<GrantDuration>,
    targets: Vec<Target>,
    #[serde(default)]
    multiple_targets: bool,
    #[serde(default)]
    fields: Vec<FieldSpec>,
    #[serde(default)]
    rules: Rules,
    #[serde(default)]
    extensions: Extensions,
}

/// Words `/access` takes itself, so no flow may be named so.
pub const RESERVED_FLOW_NAMES: &[&str] = &["help", "whoami", "list", "revoke", "cancel"];

/// The environment of a flow that names none.
pub const DEFAULT_ENVIRONMENT: &str = "prod";

impl TryFrom<RawFlow> for Flow {
    type Error = String;

    fn try_from(raw: RawFlow) -> Result<Self, Self::Error> {
        validate_name("flow", &raw.name)?;
        let name = raw.name;
        let environment = raw.environment.unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_string());
        validate_name("environment", &environment)?;
        if RESERVED_FLOW_NAMES.contains(&name.as_str()) {
            return Err(format!("flow name {name:?} is reserved by the slash command"));
        }
        if raw.targets.is_empty() {
            return Err(format!("flow {name:?} needs at least one target"));
        }
        unique(raw.targets.iter().map(|t| t.name.as_str()), "target")?;
        unique(raw.fields.iter().map(|f| f.name.as_str()), "field")?;
        let durations = if raw.durations.is_empty() { vec![raw.max_duration] } else { raw.durations };
        if let Some(too_long) = durations.iter().find(|d| **d > raw.max_duration) {
            return Err(format!("flow {name:?}: duration {too_long} is over max_duration {}", raw.max_duration));
        }
        if durations.len() > 100 || raw.targets.len() > 100 {
            return Err(format!("flow {name:?}: at most 100 durations and 100 targets (Slack's limit)"));
        }
        let label = raw.label.unwrap_or_else(|| name.clone());
        Ok(Flow {
            name,
            environment,
            label,
            description: raw.description,
            approvers: raw.approvers,
            requesters: raw.requesters,
            allow_self_approval: raw.allow_self_approval,
            durations,
            max_duration: raw.max_duration,
            approval_timeout: raw.approval_timeout.unwrap_or(GrantDuration::from_secs(3_600)),
            targets: raw.targets,
            multiple_targets: raw.multiple_targets,
            fields: raw.fields,
            rules: raw.rules,
            extensions: raw.extensions,
        })
    }
}

impl Flow {
    /// How views and the Slack app name this flow: its name in the default environment, else
    /// `name@environment` ([`crate::Config::flow`] reads both).
    pub fn reference(&self) -> String {
        if self.environment == DEFAULT_ENVIRONMENT {
            self.name.clone()
        } else {
            format!("{}@{}", self.name, self.environment)
        }
    }

    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// A target by name or label, case-insensitively (what people type after `/access <flow>`).
    pub fn find_target(&self, word: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name.eq_ignore_ascii_case(word) || t.label.eq_ignore_ascii_case(word))
    }

    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }
}

fn validate_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok { Ok(()) } else { Err(format!("{what} name {name:?} must be 1-64 lowercase letters, digits, '-' or '_'")) }
}

fn unique<'a>(names: impl Iterator<Item = &'a str>, what: &str) -> Result<(), String> {
    let mut seen = HashSet::new();
    for n in names {
        if !seen.insert(n) {
            return Err(format!("duplicate {what} name {n:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack_ids::{is_slack_channel_id, is_slack_user_id};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_as_a_principal_or_id(s in any::<String>()) {
            if let Ok(p) = s.parse::<Principal>() {
                prop_assert_eq!(p.to_string().parse::<Principal>(), Ok(p.clone()));
            }
            let _ = (is_slack_user_id(&s), is_slack_channel_id(&s), validate_name("flow", &s));
        }
    }
}
