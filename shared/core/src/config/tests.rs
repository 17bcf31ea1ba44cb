use super::*;

fn error_of(yaml: &str) -> ConfigError {
    Config::from_yaml(yaml).expect_err("config should be refused")
}

fn with_flow(flow: &str) -> String {
    format!("organization:\n  primary_domain: example.com\nflows:\n{flow}")
}

const GOOD_FLOW: &str = "  - name: f
    approvers: {users: [bob@example.com]}
    max_duration: 1h
    targets:
      - {name: t, kind: record}
";

#[test]
fn the_example_config_loads() {
    let config = Config::from_yaml(EXAMPLE_CONFIG).unwrap();
    assert_eq!(config.flows.len(), 2);
    let flow = config.flow("aws-prod").unwrap();
    assert_eq!(flow.durations.len(), 3);
    assert!(flow.rules.auto_approve.is_some());
    assert_eq!(config.slack.audit_channel.as_deref(), Some("C0AUDIT"));
}

#[test]
fn the_design_doc_config_loads() {
    let config = Config::from_yaml(include_str!("design_example.yaml")).unwrap();
    let flow = config.flow("aws-prod").unwrap();
    assert_eq!(flow.targets.len(), 2);
    assert_eq!(flow.fields[0].allowed_values, ["Normal", "Emergency"]);
}

#[test]
fn minimal_flow_gets_defaults() {
    let config = Config::from_yaml(&with_flow(GOOD_FLOW)).unwrap();
    let flow = config.flow("f").unwrap();
    assert_eq!(flow.approvers.required, 1);
    assert_eq!(flow.durations, vec![flow.max_duration]);
    assert_eq!(flow.approval_timeout.as_secs(), 3600);
    assert_eq!(config.slack.command, "/access");
}

#[test]
fn unknown_key_names_its_line() {
    let e = error_of(&with_flow(&GOOD_FLOW.replace("max_duration: 1h", "max_duration: 1h\n    colour: blue")));
    assert!(e.message.contains("unknown field `colour`"), "{e}");
    assert_eq!(e.line, Some(7), "{e}");
}

#[test]
fn bad_duration_names_its_line() {
    let e = error_of(&with_flow(&GOOD_FLOW.replace("max_duration: 1h", "max_duration: 1 hour")));
    assert!(e.message.contains("invalid duration"), "{e}");
    assert_eq!(e.line, Some(6), "{e}");
}

#[test]
fn unknown_escalator_kind_is_refused() {
    let e = error_of(&with_flow(&GOOD_FLOW.replace("kind: record", "kind: ldap")));
    assert!(e.message.contains("unknown kind \"ldap\""), "{e}");
    assert_eq!(e.line, Some(8), "{e}");
}

#[test]
fn empty_approvers_are_refused() {
    let e = error_of(&with_flow(&GOOD_FLOW.replace("{users: [bob@example.com]}", "{users: []}")));
    assert!(e.message.contains("approvers needs at least one"), "{e}");
    assert_eq!(e.line, Some(5), "{e}");
}

#[test]
fn cel_rule_that_does_not_compile_is_refused() {
    let flow = format!("{GOOD_FLOW}    rules:\n      auto_approve: 'fields.urgency =='\n");
    let e = error_of(&with_flow(&flow));
    assert!(e.message.contains("does not compile"), "{e}");
    assert_eq!(e.line, Some(10), "{e}");
}

#[test]
fn other_mistakes_are_explained() {
    let cases = [
        (GOOD_FLOW.replace("max_duration: 1h", "max_duration: 1h\n    durations: [2h]"), "over max_duration"),
        (GOOD_FLOW.replace("kind: record", "kind: aws_sso"), "needs `account_id`"),
        (GOOD_FLOW.replace("kind: record", "kind: webhook, url: https://x.example"), "needs `secret_env`"),
        (GOOD_FLOW.replace("name: f", "name: help"), "reserved"),
        (GOOD_FLOW.replace("name: f", "name: Bad Name"), "lowercase"),
        (format!("{GOOD_FLOW}{GOOD_FLOW}"), "duplicate flow name"),
        (GOOD_FLOW.replace("{users: [bob@example.com]}", "{users: [bob]}"), "neither an email"),
    ];
    for (flow, expected) in cases {
        let e = error_of(&with_flow(&flow));
        assert!(e.message.contains(expected), "expected {expected:?} in {e}");
    }
}

#[test]
fn roles_come_from_email() {
    let config = Config::from_yaml(EXAMPLE_CONFIG).unwrap();
    let role = |e: &str| config.role_of(&e.parse().unwrap());
    assert_eq!(role("alice@example.com"), Role::Admin);
    assert_eq!(role("Bob@Example.com"), Role::Member);
    assert_eq!(role("eve@contractor.example"), Role::Member);
    assert_eq!(role("mallory@elsewhere.example"), Role::Guest);
}

#[test]
fn a_bad_duration_found_after_parsing_names_its_line() {
    let text = EXAMPLE_CONFIG.replace("max_duration: 1h", "max_duration: 1 hour");
    let line = text.lines().position(|l| l.contains("1 hour")).unwrap() + 1;
    let error = Config::from_yaml(&text).unwrap_err();
    assert_eq!(error.line, Some(line), "{error}");
}
