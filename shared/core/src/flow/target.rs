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
    /// A signed HTTP call to a system of yours.
    Webhook { url: String, secret_env: String },
    /// No side effect: the grant exists only as a record.
    Record,
}

impl TargetKind {
    pub fn name(&self) -> &'static str {
        match self {
            TargetKind::AwsSso { .. } => "aws_sso",
            TargetKind::AwsSsoGroup { .. } => "aws_sso_group",
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
            TargetKind::AwsSsoGroup { group, .. } => format!("aws_sso_group:{group}"),
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
    group: Option<String>,
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
                forbid(raw.group.is_some(), "group")?;
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
                url,
                secret_env: Some("S".into()),
            };
            let _ = Target::try_from(raw);
        }
    }
}
