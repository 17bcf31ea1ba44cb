//! [`Target`]: what a flow grants, and in which kind of system ([`TargetKind`]).

use super::validate_name;
use serde::{Deserialize, Serialize};

/// Where access is granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetKind {
    /// An IAM Identity Center account assignment.
    AwsSso { account_id: String, permission_set_arn: String, instance_arn: String },
    /// Membership of an IAM Identity Center group, named by display name or group id. Without
    /// `instance_arn`, the identity store is the deployment's own (its one instance).
    AwsSsoGroup {
        group: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance_arn: Option<String>,
    },
    /// Identity Center accounts and permission sets listed from AWS when requested (config
    /// `kind: aws_sso` with `accounts`): a request turns it into one [`TargetKind::AwsSso`] per account.
    AwsSsoScope(SsoScope),
    /// A signed HTTP call to a system of yours.
    Webhook { url: String, secret_env: String },
    /// No side effect: the grant exists only as a record.
    Record,
}

impl TargetKind {
    pub fn name(&self) -> &'static str {
        match self {
            TargetKind::AwsSso { .. } | TargetKind::AwsSsoScope(_) => "aws_sso",
            TargetKind::AwsSsoGroup { .. } => "aws_sso_group",
            TargetKind::Webhook { .. } => "webhook",
            TargetKind::Record => "record",
        }
    }
}

/// The accounts of an [`SsoScope`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountScope {
    /// Every account of the organization.
    All,
    /// These account ids.
    Ids(Vec<String>),
    /// The accounts directly in an organizational unit (or root), or also in its descendants.
    Ou { ou: String, recursive: bool },
}

/// Accounts and permission sets found in AWS Organizations and Identity Center: what a discovered
/// `aws_sso` target may grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoScope {
    pub accounts: AccountScope,
    /// Permission set names or ARNs.
    pub permission_sets: Vec<String>,
    /// Account ids or names never granted.
    pub exclude_accounts: Vec<String>,
    /// How many accounts one request may name (default 10).
    pub max_accounts: usize,
    /// The Identity Center instance; `None`: the deployment's default (`AIRLOCK_SSO_INSTANCE_ARN`).
    pub instance_arn: Option<String>,
}

/// Accounts one request may name when the target does not say.
pub const DEFAULT_MAX_ACCOUNTS: usize = 10;

impl SsoScope {
    /// Whether `id` (named `name`) is one of this scope's accounts, given the ids AWS listed in the
    /// scope: listed (or named in an id list) and not excluded.
    pub fn admits(&self, id: &str, name: &str) -> bool {
        let excluded = self.exclude_accounts.iter().any(|x| x == id || x.eq_ignore_ascii_case(name));
        let listed = match &self.accounts {
            AccountScope::Ids(ids) => ids.iter().any(|x| x == id),
            AccountScope::All | AccountScope::Ou { .. } => true,
        };
        listed && !excluded
    }

    /// Whether a permission set (by ARN and name) is one this scope lists.
    pub fn lists_permission_set(&self, arn: &str, name: &str) -> bool {
        self.permission_sets.iter().any(|p| p == arn || p.eq_ignore_ascii_case(name))
    }
}

fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.chars().all(|c| c.is_ascii_digit())
}

/// `accounts:` as written: `all`, an id list, or `{ou, recursive}`.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum RawAccounts {
    Word(String),
    Ids(Vec<String>),
    Ou {
        ou: String,
        #[serde(default)]
        recursive: bool,
    },
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
            TargetKind::AwsSsoGroup { group, .. } => format!("aws_sso_group:{group}"),
            TargetKind::Webhook { url, .. } => format!("webhook:{url}:{}", self.name),
            TargetKind::AwsSsoScope(_) => format!("aws_sso_scope:{flow}:{}", self.name),
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
    group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    accounts: Option<RawAccounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    permission_sets: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exclude_accounts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_accounts: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_env: Option<String>,
}

impl TryFrom<RawTarget> for Target {
    type Error = String;

    fn try_from(mut raw: RawTarget) -> Result<Self, Self::Error> {
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
            "aws_sso" if raw.accounts.is_some() => {
                forbid(raw.url.is_some(), "url")?;
                forbid(raw.secret_env.is_some(), "secret_env")?;
                forbid(raw.account_id.is_some(), "account_id (with accounts)")?;
                forbid(raw.permission_set_arn.is_some(), "permission_set_arn (with accounts)")?;
                TargetKind::AwsSsoScope(scope(&name, &mut raw)?)
            }
            "aws_sso" => {
                forbid(raw.group.is_some(), "group")?;
                forbid(raw.url.is_some(), "url")?;
                forbid(raw.secret_env.is_some(), "secret_env")?;
                for (present, key) in [
                    (raw.permission_sets.is_some(), "permission_sets (without accounts)"),
                    (raw.exclude_accounts.is_some(), "exclude_accounts (without accounts)"),
                    (raw.max_accounts.is_some(), "max_accounts (without accounts)"),
                ] {
                    forbid(present, key)?;
                }
                let account_id = need(raw.account_id, "account_id")?;
                if !is_account_id(&account_id) {
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
            "aws_sso_group" => {
                for (present, key) in [
                    (raw.account_id.is_some(), "account_id"),
                    (raw.permission_set_arn.is_some(), "permission_set_arn"),
                    (raw.url.is_some(), "url"),
                    (raw.secret_env.is_some(), "secret_env"),
                ] {
                    forbid(present, key)?;
                }
                let group = need(raw.group, "group")?.trim().to_string();
                let instance_arn = raw.instance_arn.filter(|s| !s.trim().is_empty());
                if let Some(arn) = &instance_arn
                    && !is_sso_arn(arn, "instance/ssoins-")
                {
                    return Err(format!("target {name:?}: instance_arn must be arn:aws:sso:::instance/ssoins-…"));
                }
                TargetKind::AwsSsoGroup { group, instance_arn }
            }
            "webhook" => {
                forbid(raw.accounts.is_some() || raw.permission_sets.is_some(), "accounts/permission_sets")?;
                forbid(raw.exclude_accounts.is_some() || raw.max_accounts.is_some(), "exclude_accounts/max_accounts")?;
                forbid(raw.account_id.is_some(), "account_id")?;
                forbid(raw.permission_set_arn.is_some(), "permission_set_arn")?;
                forbid(raw.instance_arn.is_some(), "instance_arn")?;
                forbid(raw.group.is_some(), "group")?;
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
                    (raw.group.is_some(), "group"),
                    (raw.accounts.is_some(), "accounts"),
                    (raw.permission_sets.is_some(), "permission_sets"),
                    (raw.exclude_accounts.is_some(), "exclude_accounts"),
                    (raw.max_accounts.is_some(), "max_accounts"),
                    (raw.url.is_some(), "url"),
                    (raw.secret_env.is_some(), "secret_env"),
                ] {
                    forbid(present, key)?;
                }
                TargetKind::Record
            }
            other => {
                return Err(format!(
                    "target {name:?}: unknown kind {other:?} (expected aws_sso, aws_sso_group, webhook or record)"
                ));
            }
        };
        Ok(Target { label: raw.label.unwrap_or_else(|| raw.name.clone()), name: raw.name, kind })
    }
}

/// The [`SsoScope`] of a discovered `aws_sso` target (`raw.accounts` is set).
fn scope(name: &str, raw: &mut RawTarget) -> Result<SsoScope, String> {
    let accounts = match raw.accounts.take() {
        Some(RawAccounts::Word(w)) if w == "all" => AccountScope::All,
        Some(RawAccounts::Word(w)) => {
            return Err(format!("target {name:?}: accounts {w:?} must be `all`, a list of ids or {{ou: ou-…}}"));
        }
        Some(RawAccounts::Ids(ids)) => {
            if ids.is_empty() {
                return Err(format!("target {name:?}: accounts lists no account"));
            }
            if let Some(bad) = ids.iter().find(|id| !is_account_id(id)) {
                return Err(format!("target {name:?}: account {bad:?} must be 12 digits (quote it in YAML)"));
            }
            AccountScope::Ids(ids)
        }
        Some(RawAccounts::Ou { ou, recursive }) => {
            let shaped = |prefix: &str| {
                ou.strip_prefix(prefix)
                    .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            };
            if !(shaped("ou-") || shaped("r-")) {
                return Err(format!(
                    "target {name:?}: ou {ou:?} must be an organizational unit (ou-…) or root (r-…) id"
                ));
            }
            AccountScope::Ou { ou, recursive }
        }
        None => return Err(format!("target {name:?} needs `accounts`")),
    };
    let permission_sets = raw.permission_sets.take().unwrap_or_default();
    if permission_sets.is_empty() {
        return Err(format!("target {name:?}: `permission_sets` lists the permission sets (names or ARNs) it grants"));
    }
    for p in &permission_sets {
        if p.trim().is_empty() || (p.starts_with("arn:") && !is_sso_arn(p, "/ps-")) {
            return Err(format!(
                "target {name:?}: permission set {p:?} must be a name or arn:aws:sso:::permissionSet/…"
            ));
        }
    }
    let exclude_accounts = raw.exclude_accounts.take().unwrap_or_default();
    if exclude_accounts.iter().any(|x| x.trim().is_empty()) {
        return Err(format!("target {name:?}: exclude_accounts has an empty entry"));
    }
    let max_accounts = raw.max_accounts.unwrap_or(DEFAULT_MAX_ACCOUNTS);
    if !(1..=crate::request::MAX_TARGETS).contains(&max_accounts) {
        return Err(format!("target {name:?}: max_accounts must be 1 to {}", crate::request::MAX_TARGETS));
    }
    if let Some(arn) = &raw.instance_arn
        && !is_sso_arn(arn, "instance/ssoins-")
    {
        return Err(format!("target {name:?}: instance_arn must be arn:aws:sso:::instance/ssoins-…"));
    }
    Ok(SsoScope { accounts, permission_sets, exclude_accounts, max_accounts, instance_arn: raw.instance_arn.take() })
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
            group: None,
            accounts: None,
            permission_sets: None,
            exclude_accounts: None,
            max_accounts: None,
            url: None,
            secret_env: None,
        };
        match t.kind {
            TargetKind::AwsSso { account_id, permission_set_arn, instance_arn } => {
                raw.account_id = Some(account_id);
                raw.permission_set_arn = Some(permission_set_arn);
                raw.instance_arn = Some(instance_arn);
            }
            TargetKind::AwsSsoGroup { group, instance_arn } => {
                raw.group = Some(group);
                raw.instance_arn = instance_arn;
            }
            TargetKind::AwsSsoScope(scope) => {
                raw.accounts = Some(match scope.accounts {
                    AccountScope::All => RawAccounts::Word("all".into()),
                    AccountScope::Ids(ids) => RawAccounts::Ids(ids),
                    AccountScope::Ou { ou, recursive } => RawAccounts::Ou { ou, recursive },
                });
                raw.permission_sets = Some(scope.permission_sets);
                raw.exclude_accounts = Some(scope.exclude_accounts).filter(|x| !x.is_empty());
                raw.max_accounts = Some(scope.max_accounts);
                raw.instance_arn = scope.instance_arn;
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(yaml: &str) -> Result<Target, String> {
        serde_yaml_ng::from_str::<Target>(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn group_targets_name_a_group_and_optionally_an_instance() {
        let t = parse("{name: admins, kind: aws_sso_group, group: Platform Admins}").unwrap();
        assert_eq!(t.kind, TargetKind::AwsSsoGroup { group: "Platform Admins".into(), instance_arn: None });
        assert_eq!(t.access_key("any"), "aws_sso_group:Platform Admins");
        let arn = "arn:aws:sso:::instance/ssoins-1111111111111111";
        let t = parse(&format!("{{name: a, kind: aws_sso_group, group: g-1, instance_arn: \"{arn}\"}}")).unwrap();
        assert_eq!(t.kind, TargetKind::AwsSsoGroup { group: "g-1".into(), instance_arn: Some(arn.into()) });
        let again: Target = serde_yaml_ng::from_str(&serde_yaml_ng::to_string(&t).unwrap()).unwrap();
        assert_eq!(again, t);
    }

    #[test]
    fn group_target_mistakes_are_explained() {
        for (yaml, expected) in [
            ("{name: a, kind: aws_sso_group}", "needs `group`"),
            ("{name: a, kind: aws_sso_group, group: \" \"}", "needs `group`"),
            ("{name: a, kind: aws_sso_group, group: g, account_id: '111111111111'}", "`account_id` does not apply"),
            ("{name: a, kind: aws_sso_group, group: g, url: 'https://x.example'}", "`url` does not apply"),
            ("{name: a, kind: aws_sso_group, group: g, instance_arn: nope}", "instance_arn must be"),
            ("{name: a, kind: record, group: g}", "`group` does not apply"),
            ("{name: a, kind: webhook, group: g, url: 'https://x.example', secret_env: S}", "`group` does not apply"),
            ("{name: a, kind: groups}", "aws_sso_group"),
        ] {
            let e = parse(yaml).unwrap_err();
            assert!(e.contains(expected), "expected {expected:?} in {e}");
        }
    }

    proptest! {
        #[test]
        fn any_values_in_a_target(kind in "\\PC{0,12}", url in any::<Option<String>>(), account in any::<Option<String>>()) {
            let raw = RawTarget {
                name: "t".into(),
                label: None,
                kind,
                account_id: account,
                permission_set_arn: None,
                instance_arn: None,
                group: None,
                accounts: None,
                permission_sets: None,
                exclude_accounts: None,
                max_accounts: None,
                url,
                secret_env: Some("S".into()),
            };
            let _ = Target::try_from(raw);
        }
    }
}
