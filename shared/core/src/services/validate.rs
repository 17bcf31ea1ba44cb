//! Validation of a submitted request form, shared by the Slack modal and the HTTP API.

use crate::duration::GrantDuration;
use crate::error::FieldError;
use crate::flow::{FieldSpec, FieldType, Flow, Target};
use crate::policy;
use crate::request::MAX_TARGETS;
use crate::slack_ids::is_slack_user_id;
use serde_json::Value;
use std::collections::BTreeMap;

/// The longest reason accepted (Slack's plain-text input limit is 3,000).
pub const MAX_REASON_CHARS: usize = 2_000;

/// A valid form: targets (one, or several in a flow with `multiple_targets`), duration, reason,
/// and typed field values.
pub(crate) struct ValidForm<'f> {
    pub targets: Vec<&'f Target>,
    pub duration: GrantDuration,
    pub reason: String,
    pub fields: BTreeMap<String, Value>,
}

pub(crate) fn validate_form<'f>(
    flow: &'f Flow,
    target: Option<&str>,
    targets: &[String],
    duration: Option<&str>,
    reason: &str,
    fields: &BTreeMap<String, Value>,
) -> Result<ValidForm<'f>, Vec<FieldError>> {
    let (chosen, mut errors) = choose_targets(flow, target, targets);
    let mut error = |field: &str, message: String| errors.push(FieldError { field: field.into(), message });

    let duration = match duration.map(str::trim).filter(|d| !d.is_empty()) {
        None => Err("choose a duration".to_string()),
        Some(d) => GrantDuration::parse_or_seconds(d).and_then(|d| policy::check_duration(flow, d).map(|()| d)),
    };
    if let Err(e) = &duration {
        error("duration", e.clone());
    }

    let reason = reason.trim().to_string();
    if reason.is_empty() {
        error("reason", "say why you need this access".into());
    } else if reason.chars().count() > MAX_REASON_CHARS {
        error("reason", format!("at most {MAX_REASON_CHARS} characters"));
    }

    let mut values = BTreeMap::new();
    for name in fields.keys().filter(|n| flow.field(n).is_none()) {
        error(name, format!("this flow has no field {name:?}"));
    }
    for spec in &flow.fields {
        match fields.get(&spec.name).filter(|v| !is_blank(v)) {
            None if spec.required => error(&spec.name, format!("{} is required", spec.label)),
            None => {}
            Some(raw) => match parse_field_value(spec, raw) {
                Ok(v) => {
                    values.insert(spec.name.clone(), v);
                }
                Err(e) => error(&spec.name, e),
            },
        }
    }

    match duration {
        Ok(duration) if errors.is_empty() => Ok(ValidForm { targets: chosen, duration, reason, fields: values }),
        _ => Err(errors),
    }
}

/// The targets a form names (`target`, or `targets` in a flow with `multiple_targets`), and the
/// errors found in them.
fn choose_targets<'f>(flow: &'f Flow, target: Option<&str>, targets: &[String]) -> (Vec<&'f Target>, Vec<FieldError>) {
    let error = |field: &str, message: String| vec![FieldError { field: field.into(), message }];
    let names: Vec<_> = flow.targets.iter().map(|t| t.name.as_str()).collect();
    let find = |name: &str| flow.target(name).or_else(|| flow.find_target(name));
    let chosen: Vec<&Target> = match (target.map(str::trim).filter(|t| !t.is_empty()), targets) {
        (Some(_), [_, ..]) => return (Vec::new(), error("targets", "give either target or targets, not both".into())),
        (None, [_, ..]) if !flow.multiple_targets => {
            let message = format!("flow {} grants one target per request: give target", flow.name);
            return (Vec::new(), error("targets", message));
        }
        (None, [_, ..]) if targets.len() > MAX_TARGETS => {
            return (Vec::new(), error("targets", format!("at most {MAX_TARGETS} targets per request")));
        }
        (None, [_, ..]) => {
            let found: Vec<Option<&Target>> = targets.iter().map(|t| find(t.trim())).collect();
            let unknown: Vec<&str> =
                targets.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(t, _)| t.as_str()).collect();
            if !unknown.is_empty() {
                let message = format!("unknown {}; choose from: {}", unknown.join(", "), names.join(", "));
                return (Vec::new(), error("targets", message));
            }
            let found: Vec<&Target> = found.into_iter().flatten().collect();
            let mut keys = std::collections::HashSet::new();
            if !found.iter().all(|t| keys.insert(t.access_key(&flow.name))) {
                let message = "name each target once (two of these grant the same access)".into();
                return (Vec::new(), error("targets", message));
            }
            found
        }
        (Some(name), []) => find(name).into_iter().collect(),
        (None, []) if flow.targets.len() == 1 => flow.targets.iter().collect(),
        (None, []) => Vec::new(),
    };
    if chosen.is_empty() {
        let choose = if flow.multiple_targets { "choose one or more of" } else { "choose one of" };
        return (chosen, error("target", format!("{choose}: {}", names.join(", "))));
    }
    (chosen, Vec::new())
}

fn is_blank(v: &Value) -> bool {
    v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty())
}

/// Parses a field value given as JSON of the field's type or as text (what Slack inputs send).
pub fn parse_field_value(spec: &FieldSpec, raw: &Value) -> Result<Value, String> {
    let text = raw.as_str().map(str::trim);
    let value = match spec.field_type {
        FieldType::String | FieldType::Text => {
            let s = text.ok_or("expected text")?;
            let limit = if spec.field_type == FieldType::String { 150 } else { 3_000 };
            if s.chars().count() > limit {
                return Err(format!("at most {limit} characters"));
            }
            Value::from(s)
        }
        FieldType::Select => Value::from(text.ok_or("expected one of the options")?),
        FieldType::Int => match (raw.as_i64(), text) {
            (Some(n), _) => Value::from(n),
            (None, Some(s)) => Value::from(s.parse::<i64>().map_err(|_| format!("{s:?} is not a whole number"))?),
            _ => return Err("expected a whole number".into()),
        },
        FieldType::Bool => match (raw.as_bool(), text) {
            (Some(b), _) => Value::from(b),
            (None, Some("true" | "yes" | "on")) => Value::from(true),
            (None, Some("false" | "no" | "off")) => Value::from(false),
            _ => return Err("expected true or false".into()),
        },
        FieldType::Date => {
            let s = text.ok_or("expected a date")?;
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("{s:?} is not a YYYY-MM-DD date"))?;
            Value::from(s)
        }
        FieldType::User => {
            let s = text.ok_or("expected a Slack user")?;
            if !is_slack_user_id(s) {
                return Err(format!("{s:?} is not a Slack user id"));
            }
            Value::from(s)
        }
    };
    if !spec.allowed_values.is_empty() {
        let s = value.as_str().unwrap_or_default();
        if !spec.allowed_values.iter().any(|a| a == s) {
            return Err(format!("must be one of: {}", spec.allowed_values.join(", ")));
        }
    }
    Ok(value)
}
