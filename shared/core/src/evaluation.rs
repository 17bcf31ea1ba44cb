//! The policy as one pure evaluation: which flow a request names, whether its requester may ask
//! for it, whether the form is valid, which rule decides it, and who may approve it otherwise.
//! `Airlock::submit` and the workflow's Request step run these functions over the store and Slack;
//! `airlock policy test` and `airlock config explain` run them offline.

use crate::audit::Actor;
use crate::config::{Config, FlowLookupError};
use crate::duration::GrantDuration;
use crate::error::{FieldError, SubmitError};
use crate::flow::{FieldType, Flow, Principal, Target, TargetKind};
use crate::policy;
use crate::request::{AccessRequest, MAX_TARGETS, NewRequest, NewTarget, Requester, Verdict};
use crate::role::{Identity, Role};
use crate::roles;
use crate::rules::{Rule, RuleInput};
use crate::services::SubmitInput;
use crate::services::validate::{ValidForm, validate_form};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The flow `input` names, in its environment when given (required when the name is in several).
pub fn flow_for<'c>(config: &'c Config, input: &SubmitInput) -> Result<&'c Flow, SubmitError> {
    config.resolve_flow(&input.flow, input.environment.as_deref()).map_err(|e| match e {
        FlowLookupError::UnknownFlow(name) => SubmitError::UnknownFlow(name),
        e => SubmitError::Invalid(vec![FieldError { field: "environment".into(), message: e.to_string() }]),
    })
}

/// May `who`, a member of the Slack user groups `groups`, ask for `flow` with this form? The
/// valid form when so.
pub(crate) fn admit<'f>(
    flow: &'f Flow,
    who: &Identity,
    groups: &[String],
    input: &SubmitInput,
) -> Result<ValidForm<'f>, SubmitError> {
    policy::may_request(flow, who, groups).map_err(SubmitError::NotAllowed)?;
    validate_form(
        flow,
        input.target.as_deref(),
        &input.targets,
        input.duration.as_deref(),
        &input.reason,
        &input.fields,
    )
    .map_err(SubmitError::Invalid)
}

/// The request `who` makes of `flow` for `targets` (the form's, with discovered accounts
/// expanded) and the rest of `form`.
pub(crate) fn new_request(flow: &Flow, who: &Identity, targets: Vec<Target>, form: ValidForm<'_>) -> NewRequest {
    NewRequest {
        flow: flow.name.clone(),
        environment: flow.environment.clone(),
        // A record target's access is the flow's own: one per environment.
        targets: targets
            .into_iter()
            .map(|target| NewTarget { access_key: target.access_key(&flow.reference()), target })
            .collect(),
        requester: Requester { email: who.email.clone(), slack_id: who.slack_id.clone(), role: who.role },
        duration: form.duration,
        reason: form.reason,
        fields: form.fields,
        approval_timeout: flow.approval_timeout,
    }
}

/// The name of the concrete target a request for `account` of the discovered target `scope_target`
/// grants (within the 64 characters of a target name).
pub(crate) fn account_target_name(scope_target: &str, account: &str) -> String {
    let stem: String = scope_target.chars().take(51).collect();
    format!("{stem}-{account}")
}

/// The concrete `aws_sso` target of a discovered target for one account and permission set.
pub(crate) fn account_target(
    target: &Target,
    account_id: &str,
    account_name: &str,
    permission_set_name: &str,
    permission_set_arn: &str,
    instance_arn: &str,
) -> Target {
    Target {
        name: account_target_name(&target.name, account_id),
        label: format!("{permission_set_name} on {account_name} ({account_id})"),
        kind: TargetKind::AwsSso {
            account_id: account_id.to_string(),
            permission_set_arn: permission_set_arn.to_string(),
            instance_arn: instance_arn.to_string(),
        },
    }
}

/// A rule that decided a request without approvers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleDecision {
    pub verdict: Verdict,
    /// `auto_approve` or `auto_deny`.
    pub rule: &'static str,
    /// The rule's CEL source.
    pub source: String,
}

/// A rule that did not evaluate to a boolean for one target (it counts as no match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub rule: &'static str,
    pub target: String,
    pub message: String,
}

/// What the flow's rules say about a pending request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleCheck {
    /// `None`: the request goes to the approvers.
    pub decided: Option<RuleDecision>,
    pub errors: Vec<RuleError>,
}

/// The flow's rules over `request`: `auto_deny` wins when it holds for any target, then
/// `auto_approve` when it holds for every target. Every rule is evaluated for every target, so
/// each error is reported.
pub fn rules_decide(flow: &Flow, request: &AccessRequest) -> RuleCheck {
    let inputs: Vec<(String, RuleInput)> =
        request.targets().iter().map(|t| (t.name().to_string(), rule_input(request, flow, t.name()))).collect();
    let mut errors = Vec::new();
    let mut holds = |name: &'static str, rule: &Rule| -> Vec<bool> {
        inputs
            .iter()
            .map(|(target, input)| {
                rule.matches(input).unwrap_or_else(|message| {
                    errors.push(RuleError { rule: name, target: target.clone(), message });
                    false
                })
            })
            .collect()
    };
    let deny = flow.rules.auto_deny.as_ref().map(|r| (r, holds("auto_deny", r)));
    let approve = flow.rules.auto_approve.as_ref().map(|r| (r, holds("auto_approve", r)));
    let decided = match (deny, approve) {
        (Some((rule, held)), _) if held.iter().any(|h| *h) => {
            Some(RuleDecision { verdict: Verdict::Deny, rule: "auto_deny", source: rule.source().into() })
        }
        (_, Some((rule, held))) if !held.is_empty() && held.iter().all(|h| *h) => {
            Some(RuleDecision { verdict: Verdict::Approve, rule: "auto_approve", source: rule.source().into() })
        }
        _ => None,
    };
    RuleCheck { decided, errors }
}

/// The variables rules see for `request`'s target `target`.
pub fn rule_input(request: &AccessRequest, flow: &Flow, target: &str) -> RuleInput {
    // A discovered target's account is in the request's own copy of the target.
    let own = request.targets().iter().find(|t| t.name() == target).and_then(|t| t.spec());
    let requester = request.requester();
    let mut input = rule_input_of(flow, requester, target, own.or_else(|| flow.target(target)), request.fields());
    input.flow = request.flow().to_string();
    input.duration_seconds = request.duration_secs();
    input.request =
        json!({"reason": request.reason(), "duration_seconds": request.duration_secs(), "is_extension": false});
    input
}

/// The variables rules see for a request of `requester` for `target` (named `name`) with these
/// field values; its duration and reason are left at zero and empty.
fn rule_input_of(
    flow: &Flow,
    requester: &Requester,
    name: &str,
    target: Option<&Target>,
    values: &BTreeMap<String, Value>,
) -> RuleInput {
    let fields = flow.fields.iter().map(|f| (f.name.clone(), values.get(&f.name).cloned().unwrap_or(Value::Null)));
    let account_id = match target.map(|t| &t.kind) {
        Some(TargetKind::AwsSso { account_id, .. }) => Value::from(account_id.clone()),
        _ => Value::Null,
    };
    RuleInput {
        fields: fields.collect(),
        requester: json!({
            "email": requester.email.as_str(),
            "role": requester.role.as_str(),
            "slack_id": requester.slack_id,
        }),
        target: json!({
            "name": name,
            "label": target.map(|t| t.label.as_str()),
            "kind": target.map(|t| t.kind.name()),
            "account_id": account_id,
        }),
        flow: flow.name.clone(),
        duration_seconds: 0,
        request: json!({"reason": "", "duration_seconds": 0, "is_extension": false}),
    }
}

/// Who may decide a request that goes to the approvers, as far as the config tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// The people the config names who may decide it (the flow's listed approvers, then the
    /// admins), by email or Slack id: never the requester unless the flow allows self-approval,
    /// guests only where the flow allows them.
    pub approvers: Vec<String>,
    /// Slack user groups whose members may decide it (their members are known only to Slack).
    pub groups: Vec<String>,
    /// Where the card is posted.
    pub channel: Option<String>,
    /// Approvals needed, from distinct people.
    pub required: u32,
}

/// Who may decide `request` of `flow`: each person the config names is asked
/// [`policy::may_decide`], with their role from the config (roles kept in the store are not read).
pub fn routing(config: &Config, flow: &Flow, request: &AccessRequest) -> Routing {
    let admins = config.organization.admins.iter().cloned().map(Principal::Email);
    let mut approvers: Vec<String> = Vec::new();
    for principal in flow.approvers.users.iter().cloned().chain(admins) {
        let may = match &principal {
            Principal::Email(email) => {
                let role = roles::resolve(config, email, None, &[]).role;
                let who = Identity { email: email.clone(), slack_id: None, name: None, role };
                policy::may_decide(flow, request, &who, &[], Verdict::Approve).is_ok()
            }
            Principal::SlackId(id) => {
                flow.allow_self_approval || request.requester().slack_id.as_deref() != Some(id.as_str())
            }
        };
        let name = principal.to_string();
        if may && !approvers.contains(&name) {
            approvers.push(name);
        }
    }
    Routing {
        approvers,
        groups: flow.approvers.groups.clone(),
        channel: flow.approvers.channel.clone(),
        required: flow.approvers.required,
    }
}

/// What happens to a request when it is submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not accepted: the answer the API and Slack give.
    Refused(SubmitError),
    /// Decided by a rule (`auto_approve` or `auto_deny`).
    Decided(RuleDecision),
    /// Waits for the approvers.
    Routed(Routing),
}

/// A request's [`Outcome`] and the rules that did not evaluate on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub outcome: Outcome,
    pub rule_errors: Vec<RuleError>,
}

/// Evaluates `input` from `who`, a member of the Slack user groups `groups`, against `config`
/// as submission and the Request step do, without a store, Slack or AWS. A discovered target
/// (`accounts:`) takes the account ids given, checked against the scope's own lists and
/// exclusions (not against what AWS lists), and the permission set by name.
pub fn evaluate(
    config: &Config,
    who: &Identity,
    groups: &[String],
    input: &SubmitInput,
    now: DateTime<Utc>,
) -> Evaluation {
    let refused = |e| Evaluation { outcome: Outcome::Refused(e), rule_errors: Vec::new() };
    let flow = match flow_for(config, input) {
        Ok(flow) => flow,
        Err(e) => return refused(e),
    };
    let mut form = match admit(flow, who, groups, input) {
        Ok(form) => form,
        Err(e) => return refused(e),
    };
    let targets = match offline_targets(std::mem::take(&mut form.targets), input) {
        Ok(targets) => targets,
        Err(e) => return refused(e),
    };
    let actor = Actor::User { email: who.email.clone(), slack_id: who.slack_id.clone() };
    let request = match AccessRequest::submit(new_request(flow, who, targets, form), actor, now) {
        Ok((request, _)) => request,
        Err(e) => return refused(invalid("targets", e.to_string())),
    };
    let check = rules_decide(flow, &request);
    let outcome = match check.decided {
        Some(decision) => Outcome::Decided(decision),
        None => Outcome::Routed(routing(config, flow, &request)),
    };
    Evaluation { outcome, rule_errors: check.errors }
}

fn invalid(field: &str, message: impl Into<String>) -> SubmitError {
    SubmitError::Invalid(vec![FieldError { field: field.into(), message: message.into() }])
}

/// The form's targets with each discovered target replaced by the accounts `input` names, as
/// `Airlock::expand_targets` does from AWS's listing.
fn offline_targets(chosen: Vec<&Target>, input: &SubmitInput) -> Result<Vec<Target>, SubmitError> {
    let scoped = chosen.iter().filter(|t| matches!(t.kind, TargetKind::AwsSsoScope(_))).count();
    if scoped == 0 {
        if !input.accounts.is_empty() || input.permission_set.is_some() {
            return Err(invalid("accounts", "accounts and permission_set apply only to a target that lists accounts"));
        }
        return Ok(chosen.into_iter().cloned().collect());
    }
    if scoped > 1 {
        return Err(invalid("targets", "name one target that lists accounts per request"));
    }
    let mut targets = Vec::new();
    for target in chosen {
        let TargetKind::AwsSsoScope(scope) = &target.kind else {
            targets.push(target.clone());
            continue;
        };
        let wanted: Vec<&str> = input.accounts.iter().map(|a| a.trim()).filter(|a| !a.is_empty()).collect();
        if wanted.is_empty() {
            return Err(invalid("accounts", format!("choose an account of {}", target.label)));
        }
        if wanted.len() > scope.max_accounts {
            return Err(invalid("accounts", format!("at most {} accounts per request", scope.max_accounts)));
        }
        let set = input.permission_set.as_deref().map(str::trim).filter(|p| !p.is_empty());
        let Some(set) = set.filter(|p| scope.lists_permission_set(p, p)) else {
            let given = set.unwrap_or("none");
            return Err(invalid("permission_set", format!("{given} is not a permission set of {}", target.label)));
        };
        for account in wanted {
            if !scope.admits(account, account) {
                return Err(invalid("accounts", format!("{account} is not an account of {}", target.label)));
            }
            let instance = scope.instance_arn.as_deref().unwrap_or_default();
            targets.push(account_target(target, account, account, set, set, instance));
        }
    }
    if targets.len() > MAX_TARGETS {
        return Err(invalid("accounts", format!("at most {MAX_TARGETS} targets per request")));
    }
    Ok(targets)
}

/// Why a person may or may not do something, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub allowed: bool,
    pub why: String,
}

/// When a rule holds for a person's requests of one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleReach {
    /// `auto_approve` or `auto_deny`.
    pub rule: &'static str,
    pub source: String,
    /// Holds for every target and duration with the fields left empty.
    pub always: bool,
    /// Where it holds otherwise: `target prod-admin, 15m` or `urgency = Emergency`.
    pub when: Vec<String>,
    /// Distinct evaluation errors (counted as no match).
    pub errors: Vec<String>,
}

/// What a person may do in one flow, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowAccess {
    /// [`Flow::reference`].
    pub flow: String,
    pub label: String,
    pub request: Answer,
    pub approve: Answer,
    /// The flow's rules over this person's requests (only if they may request it).
    pub rules: Vec<RuleReach>,
}

/// What `who`, a member of the Slack user groups `groups`, may request and approve in each flow
/// of `config`, and why ([`policy::may_request`] and [`policy::is_approver`] decide; the words
/// say which list, group or role made it so).
pub fn explain(config: &Config, who: &Identity, groups: &[String]) -> Vec<FlowAccess> {
    config
        .flows
        .iter()
        .map(|flow| {
            let request =
                Answer { allowed: policy::may_request(flow, who, groups).is_ok(), why: why_request(flow, who, groups) };
            let rules = if request.allowed { rule_reach(flow, who) } else { Vec::new() };
            FlowAccess {
                flow: flow.reference(),
                label: flow.label.clone(),
                approve: Answer {
                    allowed: policy::is_approver(flow, who, groups),
                    why: why_approve(flow, who, groups),
                },
                request,
                rules,
            }
        })
        .collect()
}

fn why_request(flow: &Flow, who: &Identity, groups: &[String]) -> String {
    if who.role == Role::Guest {
        return "guests may not request access".into();
    }
    let Some(requesters) = &flow.requesters else {
        return "every member and admin may (the flow lists no requesters)".into();
    };
    if let Some(listed) = requesters.users.iter().find(|p| who.is(p)) {
        return format!("listed in requesters.users as {listed}");
    }
    if let Some(group) = requesters.groups.iter().find(|g| groups.contains(g)) {
        return format!("in requesters.groups {group}");
    }
    if who.role == Role::Admin {
        return "admins may request every flow".into();
    }
    format!(
        "not in requesters.users ({}) nor in requesters.groups ({})",
        list(&requesters.users),
        requesters.groups.join(", ")
    )
}

fn why_approve(flow: &Flow, who: &Identity, groups: &[String]) -> String {
    let own = if flow.allow_self_approval { "" } else { "; never their own requests" };
    let listed = flow.approvers.users.iter().find(|p| who.is(p));
    let group = flow.approvers.groups.iter().find(|g| groups.contains(g));
    let named = match (listed, group) {
        (Some(p), _) => Some(format!("listed in approvers.users as {p}")),
        (None, Some(g)) => Some(format!("in approvers.groups {g}")),
        (None, None) => None,
    };
    match (who.role, named) {
        (Role::Admin, _) => format!("admins may approve every flow{own}"),
        (Role::Guest, Some(named)) if flow.approvers.allow_guests => {
            format!("{named} (approvers.allow_guests lets guests decide){own}")
        }
        (Role::Guest, Some(named)) => format!("{named}, but guests may not decide (approvers.allow_guests is off)"),
        (_, Some(named)) => format!("{named}{own}"),
        (_, None) => {
            let groups = if flow.approvers.groups.is_empty() {
                String::new()
            } else {
                format!(" nor in approvers.groups ({})", flow.approvers.groups.join(", "))
            };
            format!("not in approvers.users ({}){groups}, and not an admin", list(&flow.approvers.users))
        }
    }
}

fn list(people: &[Principal]) -> String {
    if people.is_empty() { "none".into() } else { people.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ") }
}

/// Each rule of `flow` over `who`'s requests: every target and offered duration with the fields
/// empty, then with each value of each select (its allowed values) and bool field in turn.
fn rule_reach(flow: &Flow, who: &Identity) -> Vec<RuleReach> {
    let requester = Requester { email: who.email.clone(), slack_id: who.slack_id.clone(), role: who.role };
    let mut variants: Vec<(Option<String>, BTreeMap<String, Value>)> = vec![(None, BTreeMap::new())];
    for field in &flow.fields {
        let values: Vec<Value> = match field.field_type {
            FieldType::Bool => vec![true.into(), false.into()],
            _ => field.allowed_values.iter().map(|v| Value::from(v.as_str())).collect(),
        };
        for value in values {
            let label = format!("{} = {}", field.name, value.as_str().map_or_else(|| value.to_string(), String::from));
            variants.push((Some(label), BTreeMap::from([(field.name.clone(), value)])));
        }
    }
    let input = |target: &Target, duration: GrantDuration, values: &BTreeMap<String, Value>| {
        let mut input = rule_input_of(flow, &requester, &target.name, Some(target), values);
        input.duration_seconds = duration.as_secs();
        input.request = json!({"reason": "", "duration_seconds": duration.as_secs(), "is_extension": false});
        input
    };
    let rules = [("auto_approve", &flow.rules.auto_approve), ("auto_deny", &flow.rules.auto_deny)];
    rules
        .into_iter()
        .filter_map(|(name, rule)| rule.as_ref().map(|r| (name, r)))
        .map(|(name, rule)| {
            let mut errors: Vec<String> = Vec::new();
            // Where it holds with the fields empty: a field value that changes nothing is not named.
            let mut base: Vec<String> = Vec::new();
            let mut reach = RuleReach {
                rule: name,
                source: rule.source().into(),
                always: false,
                when: Vec::new(),
                errors: Vec::new(),
            };
            for (label, values) in &variants {
                let mut held = Vec::new();
                let mut all = true;
                for target in &flow.targets {
                    for duration in &flow.durations {
                        match rule.matches(&input(target, *duration, values)) {
                            Ok(true) => held.push(format!("target {}, {duration}", target.name)),
                            Ok(false) => all = false,
                            Err(e) => {
                                all = false;
                                if !errors.contains(&e) {
                                    errors.push(e);
                                }
                            }
                        }
                    }
                }
                match label {
                    None if all => reach.always = true,
                    None => {
                        base = held.clone();
                        reach.when.extend(held);
                    }
                    Some(label) if !reach.always && all => reach.when.push(label.clone()),
                    Some(label) if !reach.always => reach
                        .when
                        .extend(held.into_iter().filter(|h| !base.contains(h)).map(|h| format!("{label}, {h}"))),
                    Some(_) => {}
                }
            }
            reach.errors = errors;
            reach
        })
        .collect()
}

#[cfg(test)]
mod tests;
