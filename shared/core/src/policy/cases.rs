//! Policy test cases (`airlock policy test CASES.yaml`): who asks for what, and what the policy
//! must answer. Parsed with the line of every mistake; each case is checked against the
//! [`Evaluation`](crate::evaluation::Evaluation) of its request.

use crate::config::Config;
use crate::email::Email;
use crate::error::SubmitError;
use crate::evaluation::{Outcome, Routing};
use crate::flow::is_user_group_id;
use crate::policy::RequestRefusal;
use crate::request::Verdict;
use crate::role::{Identity, Role};
use crate::roles;
use crate::services::SubmitInput;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// One request to evaluate and the outcome it must have.
#[derive(Debug, Clone)]
pub struct Case {
    /// The case's `name`, or `case N` (1-based).
    pub name: String,
    /// The line of the case in the file, when it is written as a block list item.
    pub line: Option<usize>,
    pub who: Email,
    /// The requester's role; by default the config's (admins, domains).
    pub role: Option<Role>,
    /// The Slack user groups the requester is in.
    pub groups: Vec<String>,
    pub slack_id: Option<String>,
    pub input: SubmitInput,
    pub expect: Expect,
}

/// What a case expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    AutoApproved,
    AutoDenied,
    /// Goes to the approvers; each given part must match.
    Routed(RoutedExpect),
    /// Not accepted; each given part must match.
    Refused(RefusedExpect),
}

/// The parts of a [`Routing`] a case checks; a part left out is not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutedExpect {
    /// Everyone the config names who may decide (order and case do not matter).
    pub approvers: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
    pub channel: Option<String>,
    pub required: Option<u32>,
}

/// The parts of a refusal a case checks; a part left out is not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusedExpect {
    pub reason: Option<RefusalReason>,
    /// A form field the refusal names (`reason: invalid`).
    pub field: Option<String>,
    /// Text the refusal's message contains (case-insensitive).
    pub message: Option<String>,
}

/// Why a request is refused, as a case names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// No flow of that name (and environment).
    UnknownFlow,
    /// Guests may not request.
    Guest,
    /// The flow's `requesters` do not list the person or a group of theirs.
    NotARequester,
    /// The form is invalid (target, duration, reason, fields, environment, accounts).
    Invalid,
}

impl RefusalReason {
    fn as_str(self) -> &'static str {
        match self {
            RefusalReason::UnknownFlow => "unknown_flow",
            RefusalReason::Guest => "guest",
            RefusalReason::NotARequester => "not_a_requester",
            RefusalReason::Invalid => "invalid",
        }
    }
}

/// The reason code of a refusal: one of [`RefusalReason`]'s, or what a store would answer.
pub fn reason_of(error: &SubmitError) -> &'static str {
    match error {
        SubmitError::UnknownFlow(_) => RefusalReason::UnknownFlow.as_str(),
        SubmitError::NotAllowed(RequestRefusal::Guest) => RefusalReason::Guest.as_str(),
        SubmitError::NotAllowed(RequestRefusal::NotARequester) => RefusalReason::NotARequester.as_str(),
        SubmitError::Invalid(_) => RefusalReason::Invalid.as_str(),
        SubmitError::Duplicate(_) => "duplicate",
        SubmitError::Changed => "conflict",
        SubmitError::Unavailable(_) => "unavailable",
    }
}

impl Case {
    /// The requester as the case describes them; their role from `config` unless the case sets one
    /// (roles kept in the store are not read).
    pub fn identity(&self, config: &Config) -> Identity {
        let role = self.role.unwrap_or_else(|| roles::resolve(config, &self.who, None, &[]).role);
        Identity { email: self.who.clone(), slack_id: self.slack_id.clone(), name: None, role }
    }
}

/// A case file that cannot be used: the message, with the line and column when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFileError {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl fmt::Display for CaseFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            (None, _) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for CaseFileError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    cases: Vec<RawCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: Option<String>,
    who: Email,
    role: Option<Role>,
    #[serde(default)]
    groups: Vec<String>,
    slack_id: Option<String>,
    flow: String,
    environment: Option<String>,
    target: Option<String>,
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    accounts: Vec<String>,
    permission_set: Option<String>,
    #[serde(default, deserialize_with = "duration_text")]
    duration: Option<String>,
    reason: Option<String>,
    #[serde(default)]
    fields: BTreeMap<String, Value>,
    expect: Expect,
}

/// The reason a case's request gives when it names none.
pub const DEFAULT_REASON: &str = "policy test";

/// Parses a case file: `cases:`, a list of cases. Errors name the line (and column) of the mistake.
pub fn parse(text: &str) -> Result<Vec<Case>, CaseFileError> {
    let raw: RawFile = serde_yaml_ng::from_str(text).map_err(|e| {
        let location = e.location();
        let message = e.to_string();
        // serde_yaml appends " at line L column C"; the location is reported on its own.
        let message = match message.rfind(" at line ") {
            Some(i) if location.is_some() => message[..i].to_string(),
            _ => message,
        };
        let last = text.lines().count().max(1);
        let reported = location.as_ref().map(|l| l.line());
        // A value's own check is reported at its case: point at the line holding the value.
        let line = reported.map(|l| crate::config::refine_line(text, l, &message).min(last));
        let column = if line == reported { location.map(|l| l.column()) } else { None };
        CaseFileError { message, line, column }
    })?;
    if raw.cases.is_empty() {
        return Err(CaseFileError { message: "cases: give at least one case".into(), line: None, column: None });
    }
    let lines = item_lines(text, raw.cases.len());
    let mut cases = Vec::new();
    for (i, raw) in raw.cases.into_iter().enumerate() {
        let line = lines.get(i).copied();
        let mistake = |message: String| CaseFileError { message: format!("cases[{i}]: {message}"), line, column: None };
        if let Some(group) = raw.groups.iter().find(|g| !is_user_group_id(g)) {
            return Err(mistake(format!("groups: {group:?} is not a Slack user group id (S…)")));
        }
        if raw.flow.trim().is_empty() {
            return Err(mistake("flow: name the flow".into()));
        }
        let name = raw.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| format!("case {}", i + 1));
        let input = SubmitInput {
            flow: raw.flow,
            environment: raw.environment,
            target: raw.target,
            targets: raw.targets,
            accounts: raw.accounts,
            permission_set: raw.permission_set,
            duration: raw.duration,
            reason: raw.reason.unwrap_or_else(|| DEFAULT_REASON.into()),
            fields: raw.fields,
            submitted_by: None,
        };
        cases.push(Case {
            name,
            line,
            who: raw.who,
            role: raw.role,
            groups: raw.groups,
            slack_id: raw.slack_id,
            input,
            expect: raw.expect,
        });
    }
    Ok(cases)
}

/// The lines of the first `count` items of the top-level `cases:` block list, when it is one.
fn item_lines(text: &str, count: usize) -> Vec<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim_end() == "cases:") else { return Vec::new() };
    let indent = |l: &str| l.len() - l.trim_start().len();
    let Some(first) = lines.iter().skip(start + 1).find(|l| l.trim_start().starts_with("- ") || l.trim() == "-") else {
        return Vec::new();
    };
    let depth = indent(first);
    lines
        .iter()
        .enumerate()
        .skip(start + 1)
        .filter(|(_, l)| indent(l) == depth && (l.trim_start().starts_with("- ") || l.trim() == "-"))
        .map(|(i, _)| i + 1)
        .take(count)
        .collect()
}

/// A duration as text (`1h`) or whole seconds (`900`).
fn duration_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct Text;
    impl Visitor<'_> for Text {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a duration like 15m, or whole seconds")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(Text)
}

const OUTCOMES: &[&str] = &["auto_approved", "auto_denied", "routed", "refused"];

/// `expect: auto_approved | auto_denied | routed | refused`, or a map of one of them to what it
/// checks: `routed: {approvers, groups, channel, required}`, `refused: <reason>` or
/// `refused: {reason, field, message}`.
impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExpectVisitor;
        impl<'de> Visitor<'de> for ExpectVisitor {
            type Value = Expect;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("one of auto_approved, auto_denied, routed, refused (or a map of one of them)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Expect, E> {
                match v {
                    "auto_approved" => Ok(Expect::AutoApproved),
                    "auto_denied" => Ok(Expect::AutoDenied),
                    "routed" => Ok(Expect::Routed(RoutedExpect::default())),
                    "refused" => Ok(Expect::Refused(RefusedExpect::default())),
                    other => Err(E::unknown_variant(other, OUTCOMES)),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Expect, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::invalid_length(0, &"one outcome"));
                };
                let expect = match key.as_str() {
                    "auto_approved" => map.next_value::<de::IgnoredAny>().map(|_| Expect::AutoApproved)?,
                    "auto_denied" => map.next_value::<de::IgnoredAny>().map(|_| Expect::AutoDenied)?,
                    "routed" => Expect::Routed(map.next_value::<Option<RoutedExpect>>()?.unwrap_or_default()),
                    "refused" => Expect::Refused(map.next_value::<RefusedValue>()?.0),
                    other => return Err(de::Error::unknown_variant(other, OUTCOMES)),
                };
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format!("expect names one outcome; {extra:?} is a second")));
                }
                Ok(expect)
            }
        }
        deserializer.deserialize_any(ExpectVisitor)
    }
}

/// `refused:` as a reason, a map of parts, or nothing.
struct RefusedValue(RefusedExpect);

impl<'de> Deserialize<'de> for RefusedValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RefusedVisitor;
        impl<'de> Visitor<'de> for RefusedVisitor {
            type Value = RefusedValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a reason (unknown_flow, guest, not_a_requester, invalid) or {reason, field, message}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RefusedValue, E> {
                let reason = RefusalReason::deserialize(de::value::StrDeserializer::<E>::new(v))?;
                Ok(RefusedValue(RefusedExpect { reason: Some(reason), ..RefusedExpect::default() }))
            }
            fn visit_unit<E: de::Error>(self) -> Result<RefusedValue, E> {
                Ok(RefusedValue(RefusedExpect::default()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RefusedValue, A::Error> {
                RefusedExpect::deserialize(de::value::MapAccessDeserializer::new(map)).map(RefusedValue)
            }
        }
        deserializer.deserialize_any(RefusedVisitor)
    }
}

/// One way a case's outcome differs from what it expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// `outcome`, `approvers`, `groups`, `channel`, `required`, `reason`, `field` or `message`.
    pub what: &'static str,
    pub expected: String,
    pub got: String,
}

/// How `outcome` differs from `expect`; empty when it matches.
pub fn check(expect: &Expect, outcome: &Outcome) -> Vec<Mismatch> {
    let whole = || vec![Mismatch { what: "outcome", expected: describe_expect(expect), got: describe(outcome) }];
    match (expect, outcome) {
        (Expect::AutoApproved, Outcome::Decided(d)) if d.verdict == Verdict::Approve => Vec::new(),
        (Expect::AutoDenied, Outcome::Decided(d)) if d.verdict == Verdict::Deny => Vec::new(),
        (Expect::Routed(want), Outcome::Routed(got)) => check_routing(want, got),
        (Expect::Refused(want), Outcome::Refused(got)) => check_refusal(want, got),
        _ => whole(),
    }
}

fn check_routing(want: &RoutedExpect, got: &Routing) -> Vec<Mismatch> {
    let mut found = Vec::new();
    let set = |names: &[String]| {
        let mut names: Vec<String> = names.iter().map(|n| n.trim().to_lowercase()).collect();
        names.sort();
        names.dedup();
        names
    };
    let mut compare_sets = |what, want: &Option<Vec<String>>, got: &[String]| {
        if let Some(want) = want
            && set(want) != set(got)
        {
            found.push(Mismatch { what, expected: names(want), got: names(got) });
        }
    };
    compare_sets("approvers", &want.approvers, &got.approvers);
    compare_sets("groups", &want.groups, &got.groups);
    if let Some(channel) = &want.channel
        && got.channel.as_deref() != Some(channel.trim())
    {
        let got = got.channel.clone().unwrap_or_else(|| "none".into());
        found.push(Mismatch { what: "channel", expected: channel.clone(), got });
    }
    if let Some(required) = want.required
        && required != got.required
    {
        found.push(Mismatch { what: "required", expected: required.to_string(), got: got.required.to_string() });
    }
    found
}

fn check_refusal(want: &RefusedExpect, got: &SubmitError) -> Vec<Mismatch> {
    let mut found = Vec::new();
    if let Some(reason) = want.reason
        && reason.as_str() != reason_of(got)
    {
        found.push(Mismatch { what: "reason", expected: reason.as_str().into(), got: describe_refusal(got) });
    }
    if let Some(field) = &want.field {
        let fields: Vec<String> = match got {
            SubmitError::Invalid(errors) => errors.iter().map(|e| e.field.clone()).collect(),
            _ => Vec::new(),
        };
        if !fields.iter().any(|f| f == field.trim()) {
            let got = if fields.is_empty() { describe_refusal(got) } else { fields.join(", ") };
            found.push(Mismatch { what: "field", expected: field.clone(), got });
        }
    }
    if let Some(message) = &want.message
        && !got.to_string().to_lowercase().contains(&message.trim().to_lowercase())
    {
        found.push(Mismatch { what: "message", expected: format!("containing {message:?}"), got: got.to_string() });
    }
    found
}

fn names(names: &[String]) -> String {
    if names.is_empty() { "none".into() } else { names.join(", ") }
}

fn describe_refusal(error: &SubmitError) -> String {
    format!("refused ({}): {error}", reason_of(error))
}

/// An outcome in words, e.g. `routed to bob@example.com, alice@example.com (1 approval)`.
pub fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Refused(e) => describe_refusal(e),
        Outcome::Decided(d) => {
            let verdict = if d.verdict == Verdict::Approve { "auto-approved" } else { "auto-denied" };
            format!("{verdict} by {}: {}", d.rule, d.source)
        }
        Outcome::Routed(r) => {
            let mut text = format!("routed to {}", names(&r.approvers));
            if !r.groups.is_empty() {
                text.push_str(&format!(", groups {}", r.groups.join(", ")));
            }
            if let Some(channel) = &r.channel {
                text.push_str(&format!(", channel {channel}"));
            }
            let plural = if r.required == 1 { "" } else { "s" };
            text.push_str(&format!(" ({} approval{plural})", r.required));
            text
        }
    }
}

/// An expectation in words.
pub fn describe_expect(expect: &Expect) -> String {
    match expect {
        Expect::AutoApproved => "auto-approved".into(),
        Expect::AutoDenied => "auto-denied".into(),
        Expect::Routed(r) => {
            let mut parts = Vec::new();
            if let Some(a) = &r.approvers {
                parts.push(format!("to {}", names(a)));
            }
            if let Some(g) = &r.groups {
                parts.push(format!("groups {}", names(g)));
            }
            if let Some(c) = &r.channel {
                parts.push(format!("channel {c}"));
            }
            if let Some(n) = r.required {
                parts.push(format!("{n} approval{}", if n == 1 { "" } else { "s" }));
            }
            if parts.is_empty() { "routed to the approvers".into() } else { format!("routed {}", parts.join(", ")) }
        }
        Expect::Refused(r) => {
            let mut text = format!("refused ({})", r.reason.map_or("any reason", RefusalReason::as_str));
            if let Some(field) = &r.field {
                text.push_str(&format!(" on {field}"));
            }
            if let Some(message) = &r.message {
                text.push_str(&format!(" saying {message:?}"));
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EXAMPLE_CONFIG;
    use crate::evaluation::evaluate;
    use proptest::prelude::*;

    const CASES: &str = r#"cases:
  - name: an emergency is approved by the rule
    who: carol@example.com
    flow: aws-prod
    target: prod-admin
    duration: 1h
    fields: {urgency: Emergency}
    expect: auto_approved
  - who: carol@example.com
    flow: aws-prod
    target: prod-admin
    duration: 900
    fields: {urgency: Normal}
    expect:
      routed: {approvers: [Alice@example.com, bob@example.com], channel: C0APPROVALS, required: 1}
  - who: mallory@elsewhere.example
    flow: aws-prod
    expect: {refused: guest}
  - who: carol@example.com
    role: admin
    groups: [S0SRE]
    flow: sandbox
    duration: 2h
    expect:
      refused: {reason: invalid, field: duration, message: "over this flow's maximum"}
"#;

    fn example() -> Config {
        Config::from_yaml(EXAMPLE_CONFIG).unwrap()
    }

    fn run(config: &Config, case: &Case) -> Vec<Mismatch> {
        let evaluation = evaluate(config, &case.identity(config), &case.groups, &case.input, chrono::Utc::now());
        check(&case.expect, &evaluation.outcome)
    }

    #[test]
    fn a_case_file_parses_with_its_lines_and_passes_on_the_example() {
        let cases = parse(CASES).unwrap();
        let summary: Vec<(&str, Option<usize>)> = cases.iter().map(|c| (c.name.as_str(), c.line)).collect();
        assert_eq!(
            summary,
            [
                ("an emergency is approved by the rule", Some(2)),
                ("case 2", Some(9)),
                ("case 3", Some(16)),
                ("case 4", Some(19))
            ]
        );
        assert_eq!(cases[1].input.duration.as_deref(), Some("900"));
        assert_eq!(cases[0].input.reason, DEFAULT_REASON);
        assert_eq!(cases[3].identity(&example()).role, Role::Admin);
        let config = example();
        for case in &cases {
            assert_eq!(run(&config, case), [], "{}", case.name);
        }
    }

    #[test]
    fn a_mismatch_names_each_difference() {
        let config = example();
        let text = CASES
            .replace(
                "Alice@example.com, bob@example.com], channel: C0APPROVALS, required: 1",
                "bob@example.com], required: 2",
            )
            .replace("expect: {refused: guest}", "expect: {refused: not_a_requester}");
        let cases = parse(&text).unwrap();
        let routed = run(&config, &cases[1]);
        let what: Vec<&str> = routed.iter().map(|m| m.what).collect();
        assert_eq!(what, ["approvers", "required"]);
        assert_eq!(
            (routed[0].expected.as_str(), routed[0].got.as_str()),
            ("bob@example.com", "bob@example.com, alice@example.com")
        );
        let refused = run(&config, &cases[2]);
        assert_eq!(refused[0].what, "reason");
        assert!(refused[0].got.starts_with("refused (guest): guests cannot request access"), "{refused:?}");
        let approved = parse(&CASES.replace("expect: auto_approved", "expect: {routed: {required: 1}}")).unwrap();
        let outcome = run(&config, &approved[0]);
        assert_eq!(outcome[0].what, "outcome");
        assert_eq!(outcome[0].expected, "routed 1 approval");
        assert_eq!(outcome[0].got, r#"auto-approved by auto_approve: fields.urgency == "Emergency""#);
    }

    #[test]
    fn an_outcome_may_be_named_alone() {
        let expect = |e: &str| {
            parse(&format!("cases:\n  - {{who: a@example.com, flow: f, expect: {e}}}")).map(|c| c[0].expect.clone())
        };
        assert_eq!(expect("routed"), Ok(Expect::Routed(RoutedExpect::default())));
        assert_eq!(expect("{routed: }"), Ok(Expect::Routed(RoutedExpect::default())));
        assert_eq!(expect("refused"), Ok(Expect::Refused(RefusedExpect::default())));
        assert_eq!(expect("auto_denied"), Ok(Expect::AutoDenied));
        assert!(expect("{}").is_err());
        assert!(expect("[routed]").unwrap_err().message.contains("one of auto_approved"));
    }

    #[test]
    fn mistakes_in_a_case_file_name_their_line() {
        let at = |text: &str| parse(text).unwrap_err();
        let e = at(&CASES.replace("expect: auto_approved", "expect: auto_aproved"));
        assert_eq!(e.line, Some(8), "{e}");
        assert!(e.message.contains("unknown variant `auto_aproved`, expected one of `auto_approved`"), "{e}");
        let e = at(&CASES.replace("    duration: 900", "    duraton: 900"));
        assert_eq!(e.line, Some(12), "{e}");
        assert!(e.message.contains("unknown field `duraton`"), "{e}");
        let e = at(&CASES.replacen("    who: carol@example.com", "    who: carol", 1));
        assert_eq!((e.line, e.column), (Some(3), None), "{e}");
        assert!(e.message.contains(r#"invalid email address "carol""#), "{e}");
        let e = at(&CASES.replace("who: mallory@elsewhere.example", "who: mallory"));
        assert_eq!(e.line, Some(16), "{e}");
        let e = at(&CASES.replace("groups: [S0SRE]", "groups: [sre]"));
        assert_eq!(
            (e.line, e.message.as_str()),
            (Some(19), r#"cases[3]: groups: "sre" is not a Slack user group id (S…)"#)
        );
        let e = at(&CASES.replace("{refused: guest}", "{refused: guest, routed: {}}"));
        assert!(e.message.contains("expect names one outcome"), "{e}");
        let e = at(&CASES.replace("refused: {reason: invalid,", "refused: {why: invalid,"));
        assert!(e.message.contains("unknown field `why`"), "{e}");
        assert_eq!(at("cases: []").message, "cases: give at least one case");
        assert!(at("").to_string().contains("cases"), "{}", at(""));
        assert!(at("flows: []").message.contains("unknown field `flows`"));
    }

    proptest! {
        #[test]
        fn any_text_is_parsed_or_refused_without_a_panic(text in any::<String>()) {
            if let Err(e) = parse(&text) {
                prop_assert!(!e.message.is_empty());
                prop_assert!(e.line.is_none_or(|l| l >= 1 && l <= text.lines().count().max(1)));
            }
        }

        #[test]
        fn a_damaged_case_file_is_parsed_or_refused_with_a_line(
            at in 0..CASES.len(),
            cut in 0..40usize,
            insert in prop::sample::select(vec!["", ":", "- ", "{", "]", "\n  ", "\t", "expect: ", "'", "é", "!!", "&a *a", "null", "[1, 2]"]),
        ) {
            let at = (0..=at).rev().find(|i| CASES.is_char_boundary(*i)).unwrap_or(0);
            let end = (at + cut).min(CASES.len());
            let end = (end..=CASES.len()).find(|i| CASES.is_char_boundary(*i)).unwrap_or(CASES.len());
            let text = format!("{}{insert}{}", &CASES[..at], &CASES[end..]);
            match parse(&text) {
                Ok(cases) => {
                    let config = example();
                    for case in &cases {
                        let _ = run(&config, case);
                    }
                }
                Err(e) => {
                    prop_assert!(!e.message.is_empty());
                    prop_assert!(e.line.is_none_or(|l| l >= 1 && l <= text.lines().count().max(1)), "{}", e);
                }
            }
        }
    }
}
