//! The config file (docs/architecture.md#contracts): organization, Slack settings and flows, validated on load.

use crate::email::Email;
use crate::flow::{DEFAULT_ENVIRONMENT, Flow, Principal, TargetKind};
use crate::request::AccessRequest;
use crate::role::Role;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;

/// A loaded, valid config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawConfig")]
pub struct Config {
    pub organization: Organization,
    pub slack: SlackSettings,
    pub flows: Vec<Flow>,
}

/// Which emails are members and admins.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    pub primary_domain: String,
    #[serde(default)]
    pub member_domains: Vec<String>,
    #[serde(default)]
    pub admins: Vec<Email>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSettings {
    #[serde(default = "default_command")]
    pub command: String,
    /// Every decision is posted here too.
    pub audit_channel: Option<String>,
}

impl Default for SlackSettings {
    fn default() -> Self {
        Self { command: default_command(), audit_channel: None }
    }
}

fn default_command() -> String {
    "/access".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    organization: Organization,
    #[serde(default)]
    slack: SlackSettings,
    flows: Vec<Flow>,
}

impl TryFrom<RawConfig> for Config {
    type Error = String;

    fn try_from(raw: RawConfig) -> Result<Self, Self::Error> {
        let domain = raw.organization.primary_domain.trim().to_ascii_lowercase();
        if domain.is_empty() || !domain.contains('.') {
            return Err(format!("organization.primary_domain {domain:?} is not a domain"));
        }
        if raw.flows.is_empty() {
            return Err("flows: at least one flow is needed".into());
        }
        let mut seen = HashSet::new();
        for (i, flow) in raw.flows.iter().enumerate() {
            if !seen.insert((flow.name.as_str(), flow.environment.as_str())) {
                return Err(format!(
                    "flows[{i}]: duplicate flow name {:?} in environment {:?}; a flow name may appear once per \
                     environment (set `environment:` to tell them apart)",
                    flow.name, flow.environment
                ));
            }
        }
        if !raw.slack.command.starts_with('/') {
            return Err(format!("slack.command {:?} must start with '/'", raw.slack.command));
        }
        let organization = Organization {
            primary_domain: domain,
            member_domains: raw.organization.member_domains.iter().map(|d| d.trim().to_ascii_lowercase()).collect(),
            admins: raw.organization.admins,
        };
        for (i, flow) in raw.flows.iter().enumerate() {
            // A user group's members are known only to Slack: a flow with groups may reach any count.
            let possible = possible_approvers(flow, &organization.admins);
            if flow.approvers.groups.is_empty()
                && usize::try_from(flow.approvers.required).unwrap_or(usize::MAX) > possible
            {
                return Err(format!(
                    "flows[{i}]: approvers.required {} is more than the {possible} people who could ever approve \
                     (the flow's approvers.users and organization.admins)",
                    flow.approvers.required
                ));
            }
        }
        Ok(Config { organization, slack: raw.slack, flows: raw.flows })
    }
}

/// How many distinct people may approve `flow`'s requests besides its groups' members: its listed
/// approvers and the admins (see [`crate::policy::may_decide`]; posting the card to a channel lets
/// nobody else decide).
fn possible_approvers(flow: &Flow, admins: &[Email]) -> usize {
    let mut people: HashSet<Principal> = flow.approvers.users.iter().cloned().collect();
    people.extend(admins.iter().cloned().map(Principal::Email));
    people.len()
}

/// Why [`Config::resolve_flow`] found no flow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowLookupError {
    #[error("no flow named {0:?}")]
    UnknownFlow(String),
    /// The flow is in several environments and none was given.
    #[error("flow {flow:?} exists in several environments; choose one of: {}", valid.join(", "))]
    EnvironmentNeeded { flow: String, valid: Vec<String> },
    #[error("flow {flow:?} has no environment {given:?}; choose one of: {}", valid.join(", "))]
    UnknownEnvironment { flow: String, given: String, valid: Vec<String> },
}

/// A config that failed to load, with the line and column of the offending YAML node when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            (None, _) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses and validates a YAML config.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        serde_yaml_ng::from_str(text).map_err(|e| {
            let location = e.location();
            // serde_yaml appends " at line L column C"; the location is reported separately.
            let message = e.to_string();
            let message = match message.rfind(" at line ") {
                Some(i) if location.is_some() => message[..i].to_string(),
                _ => message,
            };
            let reported = location.as_ref().map(|l| l.line());
            // Whole-config checks carry no location, only a `flows[N]` path: start at that item.
            let start = reported.or_else(|| flow_item_line(text, &message));
            // An error at the end of the input is reported on the line after the last.
            let last = text.lines().count().max(1);
            let line = start.map(|l| refine_line(text, l, &message).min(last));
            // The column only fits the line serde reported.
            let column = if line == reported { location.map(|l| l.column()) } else { None };
            ConfigError { message, line, column }
        })
    }

    /// The flow a [`Flow::reference`] names: `name@environment`, or a bare name (its flow in the
    /// default environment, else its only flow). For a name that may be in several environments
    /// with none given, see [`Config::resolve_flow`].
    pub fn flow(&self, reference: &str) -> Option<&Flow> {
        if let Some((name, environment)) = reference.split_once('@') {
            return self.flow_in(name, environment);
        }
        self.flow_in(reference, DEFAULT_ENVIRONMENT).or_else(|| match self.environments_of(reference).as_slice() {
            [only] => self.flow_in(reference, only),
            _ => None,
        })
    }

    /// The flow named `name` in `environment`.
    pub fn flow_in(&self, name: &str, environment: &str) -> Option<&Flow> {
        self.flows.iter().find(|f| f.name == name && f.environment == environment)
    }

    /// The flow a request was made in (its name and environment), if it is still configured.
    pub fn flow_of(&self, request: &AccessRequest) -> Option<&Flow> {
        self.flow_in(request.flow(), request.environment())
    }

    /// The environments that have a flow named `name`, in config order.
    pub fn environments_of(&self, name: &str) -> Vec<&str> {
        self.flows.iter().filter(|f| f.name == name).map(|f| f.environment.as_str()).collect()
    }

    /// The flow `name` in `environment`; without an environment, the flow's only one. Errors
    /// name the valid environments.
    pub fn resolve_flow(&self, name: &str, environment: Option<&str>) -> Result<&Flow, FlowLookupError> {
        let environments = self.environments_of(name);
        let valid = || environments.iter().map(|e| e.to_string()).collect();
        match (environment.map(str::trim).filter(|e| !e.is_empty()), environments.as_slice()) {
            (_, []) => Err(FlowLookupError::UnknownFlow(name.to_string())),
            (None, [only]) => self.flow_in(name, only).ok_or_else(|| FlowLookupError::UnknownFlow(name.into())),
            (None, _) => Err(FlowLookupError::EnvironmentNeeded { flow: name.into(), valid: valid() }),
            (Some(given), _) => self.flow_in(name, given).ok_or_else(|| FlowLookupError::UnknownEnvironment {
                flow: name.into(),
                given: given.into(),
                valid: valid(),
            }),
        }
    }

    /// A person's role, from their email: admins by list, members by domain, anyone else a guest.
    pub fn role_of(&self, email: &Email) -> Role {
        self.explain_role(email).0
    }

    /// A person's role and why they have it, e.g. "your email domain outside.org is not a member domain".
    pub fn explain_role(&self, email: &Email) -> (Role, String) {
        let org = &self.organization;
        let domain = email.domain();
        if org.admins.contains(email) {
            (Role::Admin, format!("{email} is listed in organization.admins"))
        } else if domain == org.primary_domain {
            (Role::Member, format!("your email domain {domain} is the organization's primary domain"))
        } else if org.member_domains.iter().any(|d| d == domain) {
            (Role::Member, format!("your email domain {domain} is a member domain"))
        } else {
            (Role::Guest, format!("your email domain {domain} is not a member domain"))
        }
    }

    /// Webhook targets whose `secret_env` variable is unset or empty where this process runs
    /// (`lookup` reads the environment), each naming its line in `text`, the config's YAML.
    pub fn missing_webhook_secrets(&self, text: &str, lookup: impl Fn(&str) -> Option<String>) -> Vec<ConfigError> {
        let mut missing = Vec::new();
        for (i, flow) in self.flows.iter().enumerate() {
            for target in &flow.targets {
                let TargetKind::Webhook { secret_env, .. } = &target.kind else { continue };
                if lookup(secret_env).is_some_and(|v| !v.trim().is_empty()) {
                    continue;
                }
                let line = flow_item_line(text, &format!("flows[{i}]"))
                    .and_then(|start| line_with(text, start, &["secret_env", secret_env.as_str()]));
                missing.push(ConfigError {
                    message: format!(
                        "webhook target {:?} of flow {:?}: the secret variable {secret_env} is not set in this \
                         environment; set it wherever Airlock runs",
                        target.name, flow.name
                    ),
                    line,
                    column: None,
                });
            }
        }
        missing
    }
}

/// The first line at or after line `start` (1-based) that contains every one of `needles`.
fn line_with(text: &str, start: usize, needles: &[&str]) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(start.saturating_sub(1))
        .find(|(_, line)| needles.iter().all(|n| line.contains(n)))
        .map(|(i, _)| i + 1)
}

/// serde reports a value's validation error at the start of the enclosing mapping; point at the
/// line below it that holds the offending value (quoted in the message) or key (leading the message).
pub(crate) fn refine_line(text: &str, reported: usize, message: &str) -> usize {
    let detail = match message.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') => rest,
        _ => message,
    };
    // The offending value is the first one quoted; later ones are hints ("like \"15m\"").
    let mut needles: Vec<String> =
        detail.split('"').nth(1).filter(|s| !s.is_empty()).map(String::from).into_iter().collect();
    if let Some(key) = detail.split(' ').next().and_then(|w| w.rsplit('.').next())
        && !key.is_empty()
        && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    {
        needles.push(format!("{key}:"));
    }
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = reported.checked_sub(1).filter(|s| *s < lines.len()) else { return reported };
    let indent = |l: &str| l.len() - l.trim_start().len();
    let base = indent(lines[start]);
    for (i, line) in lines.iter().enumerate().skip(start) {
        if i > start && !line.trim().is_empty() && indent(line) <= base && !line.trim_start().starts_with('#') {
            break;
        }
        if needles.iter().any(|n| line.contains(n.as_str())) {
            return i + 1;
        }
    }
    reported
}

/// The line of the list item `flows[N]` that `message` starts with, if it does.
fn flow_item_line(text: &str, message: &str) -> Option<usize> {
    let index: usize = message.strip_prefix("flows[")?.split_once(']')?.0.parse().ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let flows = lines.iter().position(|l| l.trim_end() == "flows:")?;
    lines
        .iter()
        .enumerate()
        .skip(flows + 1)
        .filter(|(_, l)| l.trim_start().starts_with("- ") && l.len() - l.trim_start().len() <= 2)
        .nth(index)
        .map(|(i, _)| i + 1)
}

/// The example config `airlock demo` runs on and the tests start from.
pub const EXAMPLE_CONFIG: &str = include_str!("example.yaml");

#[cfg(test)]
mod tests;
