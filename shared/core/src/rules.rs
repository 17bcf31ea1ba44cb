//! `auto_approve` / `auto_deny` rules: CEL expressions compiled when the config loads and evaluated
//! over a request's fields, requester, target, flow and duration.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};
use std::fmt;
use std::sync::Arc;

/// A compiled CEL expression that must evaluate to a boolean.
#[derive(Clone)]
pub struct Rule {
    source: String,
    program: Arc<cel::Program>,
}

/// The variables a rule sees.
#[derive(Debug, Clone, Serialize)]
pub struct RuleInput {
    /// Every field of the flow, `null` when not filled in.
    pub fields: serde_json::Map<String, Value>,
    /// `{email, role, slack_id}`.
    pub requester: Value,
    /// `{name, label, kind, account_id}`.
    pub target: Value,
    /// The flow's name.
    pub flow: String,
    pub duration_seconds: u64,
    /// `{reason, duration_seconds, is_extension}`; for an extension, `extension_seconds` is the
    /// time it adds and `reason` its reason.
    pub request: Value,
}

impl RuleInput {
    /// A plausible input, used to reject rules that reference unknown variables at load time.
    fn sample() -> Self {
        Self {
            fields: serde_json::Map::new(),
            requester: json!({"email": "someone@example.com", "role": "member", "slack_id": "U000"}),
            target: json!({"name": "t", "label": "T", "kind": "record", "account_id": null}),
            flow: "f".into(),
            duration_seconds: 60,
            request: json!({"reason": "r", "duration_seconds": 60, "is_extension": false}),
        }
    }
}

impl Rule {
    /// Compiles `source`, rejecting syntax errors and references to variables a rule never has.
    pub fn compile(source: &str) -> Result<Self, String> {
        let program =
            cel::Program::compile(source).map_err(|e| format!("CEL rule {source:?} does not compile: {e}"))?;
        let rule = Self { source: source.to_string(), program: Arc::new(program) };
        if let Err(e) = rule.evaluate_raw(&RuleInput::sample())
            && matches!(e, cel::ExecutionError::UndeclaredReference(_))
        {
            return Err(format!(
                "CEL rule {source:?}: {e} (rules see fields, requester, target, flow, duration_seconds, request)"
            ));
        }
        Ok(rule)
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// True only when the expression evaluates to `true`; errors and non-booleans count as no match.
    pub fn matches(&self, input: &RuleInput) -> Result<bool, String> {
        match self.evaluate_raw(input) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("rule {:?} gave {other:?}, not a boolean", self.source)),
            Err(e) => Err(format!("rule {:?} failed: {e}", self.source)),
        }
    }

    fn evaluate_raw(&self, input: &RuleInput) -> Result<cel::Value, cel::ExecutionError> {
        let mut context = cel::Context::default();
        let as_value = |v: &Value| cel::to_value(v).unwrap_or(cel::Value::Null);
        context.add_variable_from_value("fields", as_value(&Value::Object(input.fields.clone())));
        context.add_variable_from_value("requester", as_value(&input.requester));
        context.add_variable_from_value("target", as_value(&input.target));
        context.add_variable_from_value("flow", input.flow.clone());
        context.add_variable_from_value("duration_seconds", input.duration_seconds as i64);
        context.add_variable_from_value("request", as_value(&input.request));
        self.program.execute(&context)
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Rule").field(&self.source).finish()
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        Rule::compile(&source).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(urgency: Value, role: &str) -> RuleInput {
        let mut fields = serde_json::Map::new();
        fields.insert("urgency".into(), urgency);
        RuleInput {
            fields,
            requester: json!({"email": "carol@example.com", "role": role, "slack_id": "U1"}),
            target: json!({"name": "prod-admin", "label": "Prod admin", "kind": "aws_sso", "account_id": "111111111111"}),
            flow: "aws-prod".into(),
            duration_seconds: 900,
            request: json!({"reason": "incident", "duration_seconds": 900}),
        }
    }

    #[test]
    fn evaluates_fields_and_requester() {
        let rule = Rule::compile(r#"fields.urgency == "Emergency""#).unwrap();
        assert!(rule.matches(&input(json!("Emergency"), "member")).unwrap());
        assert!(!rule.matches(&input(json!("Normal"), "member")).unwrap());
        assert!(!rule.matches(&input(Value::Null, "member")).unwrap());
        let guest = Rule::compile(r#"requester.role == "guest""#).unwrap();
        assert!(guest.matches(&input(Value::Null, "guest")).unwrap());
        let short = Rule::compile("duration_seconds <= 900 && flow == 'aws-prod' && target.kind == 'aws_sso'").unwrap();
        assert!(short.matches(&input(Value::Null, "member")).unwrap());
    }

    #[test]
    fn rejects_bad_syntax_and_unknown_variables() {
        assert!(Rule::compile("fields.urgency ==").unwrap_err().contains("does not compile"));
        assert!(Rule::compile("requestor.role == 'admin'").unwrap_err().contains("requestor"));
    }

    #[test]
    fn non_boolean_is_an_error_not_a_match() {
        let rule = Rule::compile("duration_seconds").unwrap();
        assert!(rule.matches(&input(Value::Null, "member")).is_err());
    }
}
