//! Flows, their targets and custom fields, as validated from the config file.
//!
//! Each type deserializes from a raw form (unknown keys rejected) and validates in `TryFrom`, so a
//! value that exists is valid and config errors point at the offending YAML node.

use crate::duration::GrantDuration;
use crate::email::Email;
use crate::rules::Rule;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
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

/// `U0123ABC` / `W0123ABC`: Slack user ids.
pub fn is_slack_user_id(s: &str) -> bool {
    s.len() >= 3
        && (s.starts_with('U') || s.starts_with('W'))
        && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
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

/// `C0123ABC` / `G0123ABC`: Slack channel ids.
pub fn is_slack_channel_id(s: &str) -> bool {
    s.len() >= 3
        && (s.starts_with('C') || s.starts_with('G'))
        && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
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

/// Where access is granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetKind {
    /// An IAM Identity Center account assignment.
    AwsSso { account_id: String, permission_set_arn: String, instance_arn: String },
    /// A signed HTTP call to a system of yours.
    Webhook { url: String, secret_env: String },
    /// No side effect: the grant exists only as a record.
    Record,
}

impl TargetKind {
    pub fn name(&self) -> &'static str {
        match self {
            TargetKind::AwsSso { .. } => "aws_sso",
            TargetKind::Webhook { .. } => "webhook",
            TargetKind::Record => "record",
        }
    }
}

/// An Identity Center ARN in any partition (`arn:aws:`, `arn:aws-us-gov:`, …) containing `part`.
fn is_sso_arn(arn: &str, part: &str) -> bool {
    arn.split_once(":sso:::").is_some_and(|(prefix, rest)| prefix.starts_with("arn:aws") && rest.contains(part))
}

/// A thing a flow can grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawTarget", into = "RawTarget")]
pub struct Target {
    pub name: String,
    pub label: String,
    pub kind: TargetKind,
}

impl Target {
    /// Identifies the access itself: two grants with the same key give the same access, so removing
    /// one must not remove the other. Identity Center and webhook access is the same whichever flow
    /// grants it; a `record` target exists only in its flow (`flow` is the flow's name).
    pub fn access_key(&self, flow: &str) -> String {
        match &self.kind {
            TargetKind::AwsSso { account_id, permission_set_arn, .. } => {
                format!("aws_sso:{account_id}:{permission_set_arn}")
            }
            TargetKind::Webhook { url, .. } => format!("webhook:{url}:{}", self.name),
            TargetKind::Record => format!("record:{flow}:{}", self.name),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    permission_set_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instance_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_env: Option<String>,
}

impl TryFrom<RawTarget> for Target {
    type Error = String;

    fn try_from(raw: RawTarget) -> Result<Self, Self::Error> {
        validate_name("target", &raw.name)?;
        let name = raw.name.clone();
        let need = |v: Option<String>, key: &str| {
            v.filter(|s| !s.trim().is_empty())
                .ok_or_else(|| format!("target {name:?} of kind {:?} needs `{key}`", raw.kind))
        };
        let forbid = |present: bool, key: &str| {
            if present {
                Err(format!("target {name:?}: `{key}` does not apply to kind {:?}", raw.kind))
            } else {
                Ok(())
            }
        };
        let kind = match raw.kind.as_str() {
            "aws_sso" => {
                forbid(raw.url.is_some(), "url")?;
                forbid(raw.secret_env.is_some(), "secret_env")?;
                let account_id = need(raw.account_id, "account_id")?;
                if account_id.len() != 12 || !account_id.chars().all(|c| c.is_ascii_digit()) {
                    return Err(format!("target {name:?}: account_id must be 12 digits (quote it in YAML)"));
                }
                let permission_set_arn = need(raw.permission_set_arn, "permission_set_arn")?;
                if !is_sso_arn(&permission_set_arn, "/ps-") {
                    return Err(format!(
                        "target {name:?}: permission_set_arn must be arn:aws:sso:::permissionSet/ssoins-…/ps-…"
                    ));
                }
                let instance_arn = need(raw.instance_arn, "instance_arn")?;
                if !is_sso_arn(&instance_arn, "instance/ssoins-") {
                    return Err(format!("target {name:?}: instance_arn must be arn:aws:sso:::instance/ssoins-…"));
                }
                TargetKind::AwsSso { account_id, permission_set_arn, instance_arn }
            }
            "webhook" => {
                forbid(raw.account_id.is_some(), "account_id")?;
                forbid(raw.permission_set_arn.is_some(), "permission_set_arn")?;
                forbid(raw.instance_arn.is_some(), "instance_arn")?;
                let url = need(raw.url, "url")?;
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(format!("target {name:?}: url must be http(s)://…"));
                }
                TargetKind::Webhook { url, secret_env: need(raw.secret_env, "secret_env")? }
            }
            "record" => {
                for (present, key) in [
                    (raw.account_id.is_some(), "account_id"),
                    (raw.permission_set_arn.is_some(), "permission_set_arn"),
                    (raw.instance_arn.is_some(), "instance_arn"),
                    (raw.url.is_some(), "url"),
                    (raw.secret_env.is_some(), "secret_env"),
                ] {
                    forbid(present, key)?;
                }
                TargetKind::Record
            }
            other => {
                return Err(format!("target {name:?}: unknown kind {other:?} (expected aws_sso, webhook or record)"));
            }
        };
        Ok(Target { label: raw.label.unwrap_or_else(|| raw.name.clone()), name: raw.name, kind })
    }
}

impl From<Target> for RawTarget {
    fn from(t: Target) -> Self {
        let mut raw = RawTarget {
            name: t.name,
            label: Some(t.label),
            kind: t.kind.name().to_string(),
            account_id: None,
            permission_set_arn: None,
            instance_arn: None,
            url: None,
            secret_env: None,
        };
        match t.kind {
            TargetKind::AwsSso { account_id, permission_set_arn, instance_arn } => {
                raw.account_id = Some(account_id);
                raw.permission_set_arn = Some(permission_set_arn);
                raw.instance_arn = Some(instance_arn);
            }
            TargetKind::Webhook { url, secret_env } => {
                raw.url = Some(url);
                raw.secret_env = Some(secret_env);
            }
            TargetKind::Record => {}
        }
        raw
    }
}

/// The type of a custom field on the request form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    String,
    Text,
    Int,
    Bool,
    Date,
    User,
    Select,
}

/// Where a field's options are fetched from when the form is shown (`{url: ...}` or `{lambda: ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawPrefetch")]
pub enum Prefetch {
    /// GET this URL; it answers a JSON array of strings or of `{value, label}`.
    Url(String),
    /// Invoke this Lambda function; same answer shape.
    Lambda(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrefetch {
    url: Option<String>,
    lambda: Option<String>,
}

impl TryFrom<RawPrefetch> for Prefetch {
    type Error = String;

    fn try_from(raw: RawPrefetch) -> Result<Self, Self::Error> {
        match (raw.url, raw.lambda) {
            (Some(url), None) if url.starts_with("https://") || url.starts_with("http://") => Ok(Prefetch::Url(url)),
            (Some(url), None) => Err(format!("prefetch url {url:?} must be http(s)://…")),
            (None, Some(arn)) if arn.starts_with("arn:") => Ok(Prefetch::Lambda(arn)),
            (None, Some(arn)) => Err(format!("prefetch lambda {arn:?} must be a function ARN")),
            _ => Err("prefetch needs exactly one of `url` or `lambda`".into()),
        }
    }
}

/// A custom field of a flow's request form.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawField")]
pub struct FieldSpec {
    pub name: String,
    pub label: String,
    pub field_type: FieldType,
    pub required: bool,
    pub allowed_values: Vec<String>,
    pub prefetch: Option<Prefetch>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: String,
    label: Option<String>,
    #[serde(rename = "type")]
    field_type: FieldType,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    allowed_values: Vec<String>,
    prefetch: Option<Prefetch>,
}

impl TryFrom<RawField> for FieldSpec {
    type Error = String;

    fn try_from(raw: RawField) -> Result<Self, Self::Error> {
        validate_name("field", &raw.name)?;
        if matches!(raw.name.as_str(), "target" | "duration" | "reason") {
            return Err(format!("field name {:?} is reserved", raw.name));
        }
        match raw.field_type {
            FieldType::Select if raw.allowed_values.is_empty() && raw.prefetch.is_none() => {
                return Err(format!("select field {:?} needs allowed_values or prefetch", raw.name));
            }
            FieldType::String | FieldType::Text | FieldType::Select => {}
            _ if !raw.allowed_values.is_empty() => {
                return Err(format!("field {:?}: allowed_values only apply to string, text and select", raw.name));
            }
            _ => {}
        }
        if raw.prefetch.is_some() && raw.field_type != FieldType::Select {
            return Err(format!("field {:?}: prefetch only applies to select fields", raw.name));
        }
        if raw.allowed_values.len() > 100 {
            return Err(format!("field {:?}: at most 100 allowed_values (Slack's limit)", raw.name));
        }
        Ok(FieldSpec {
            label: raw.label.unwrap_or_else(|| raw.name.clone()),
            name: raw.name,
            field_type: raw.field_type,
            required: raw.required,
            allowed_values: raw.allowed_values,
            prefetch: raw.prefetch,
        })
    }
}

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
    pub label: String,
    pub description: String,
    pub approvers: Approvers,
    pub requesters: Option<Requesters>,
    pub allow_self_approval: bool,
    pub durations: Vec<GrantDuration>,
    pub max_duration: GrantDuration,
    pub approval_timeout: GrantDuration,
    pub targets: Vec<Target>,
    pub fields: Vec<FieldSpec>,
    pub rules: Rules,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    name: String,
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
    fields: Vec<FieldSpec>,
    #[serde(default)]
    rules: Rules,
}

/// Words `/access` takes itself, so no flow may be named so.
pub const RESERVED_FLOW_NAMES: &[&str] = &["help", "whoami", "list", "revoke", "cancel"];

impl TryFrom<RawFlow> for Flow {
    type Error = String;

    fn try_from(raw: RawFlow) -> Result<Self, Self::Error> {
        validate_name("flow", &raw.name)?;
        let name = raw.name;
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
            label,
            description: raw.description,
            approvers: raw.approvers,
            requesters: raw.requesters,
            allow_self_approval: raw.allow_self_approval,
            durations,
            max_duration: raw.max_duration,
            approval_timeout: raw.approval_timeout.unwrap_or(GrantDuration::from_secs(3_600)),
            targets: raw.targets,
            fields: raw.fields,
            rules: raw.rules,
        })
    }
}

impl Flow {
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
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_as_a_principal_or_id(s in any::<String>()) {
            if let Ok(p) = s.parse::<Principal>() {
                prop_assert_eq!(p.to_string().parse::<Principal>(), Ok(p.clone()));
            }
            let _ = (is_slack_user_id(&s), is_slack_channel_id(&s), validate_name("flow", &s));
        }

        #[test]
        fn any_values_in_a_target(kind in "\\PC{0,12}", url in any::<Option<String>>(), account in any::<Option<String>>()) {
            let raw = RawTarget {
                name: "t".into(),
                label: None,
                kind,
                account_id: account,
                permission_set_arn: None,
                instance_arn: None,
                url,
                secret_env: Some("S".into()),
            };
            let _ = Target::try_from(raw);
        }
    }
}
