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
        (GOOD_FLOW.replace("kind: record", "kind: aws_sso_group"), "needs `group`"),
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

#[test]
fn a_non_ascii_duration_names_its_line_instead_of_panicking() {
    for bad in ["1é", "🔥", "5🔥", "0", "+60s"] {
        let text =
            with_flow(&GOOD_FLOW.replace("max_duration: 1h", &format!("max_duration: 1h\n    durations: [{bad}]")));
        let e = error_of(&text);
        assert!(e.message.contains("invalid duration"), "{bad}: {e}");
        assert_eq!(e.line, Some(7), "{bad}: {e}");
    }
}

#[test]
fn required_approvals_must_be_reachable() {
    let admins = "organization:\n  primary_domain: example.com\n  admins: [alice@example.com]\nflows:\n";
    let two_users = GOOD_FLOW.replace("{users: [bob@example.com]}", "{users: [bob@example.com, U0DAVE], required: 3}");
    let e = error_of(&with_flow(&two_users));
    assert!(e.message.contains("approvers.required 3 is more than the 2 people"), "{e}");
    assert_eq!(e.line, Some(5), "{e}");
    assert!(Config::from_yaml(&format!("{admins}{two_users}")).is_ok(), "admins may approve too");

    let listed_admin = GOOD_FLOW.replace("{users: [bob@example.com]}", "{users: [Alice@Example.com], required: 2}");
    let e = Config::from_yaml(&format!("{admins}{listed_admin}")).unwrap_err();
    assert!(e.message.contains("the 1 people"), "an admin listed as approver counts once: {e}");

    let channel_only = GOOD_FLOW.replace("{users: [bob@example.com]}", "\n      channel: C0APPROVALS");
    let e = error_of(&with_flow(&channel_only));
    assert!(e.message.contains("approvers.required 1 is more than the 0 people"), "{e}");
    assert_eq!(e.line, Some(4), "no `required:` line: the flow's line");
    assert!(Config::from_yaml(&format!("{admins}{channel_only}")).is_ok(), "admins decide channel-only flows");
}

#[test]
fn approver_groups_count_as_possible_approvers_and_must_be_group_ids() {
    let grouped =
        GOOD_FLOW.replace("{users: [bob@example.com]}", "{users: [bob@example.com], groups: [S0SRE], required: 3}");
    let config = Config::from_yaml(&with_flow(&grouped)).expect("a group may hold any number of approvers");
    let approvers = &config.flow("f").unwrap().approvers;
    assert_eq!(
        (approvers.groups.as_slice(), approvers.required, approvers.allow_guests),
        (&["S0SRE".to_string()][..], 3, false)
    );

    let only_groups = GOOD_FLOW.replace("{users: [bob@example.com]}", "{groups: [S0SRE, S0SRE], allow_guests: true}");
    let config = Config::from_yaml(&with_flow(&only_groups)).expect("groups alone are approvers enough");
    let approvers = &config.flow("f").unwrap().approvers;
    assert_eq!(approvers.groups, ["S0SRE"], "listed once");
    assert!(approvers.allow_guests);

    let not_a_group = GOOD_FLOW.replace("{users: [bob@example.com]}", "\n      groups: [C0SRE]");
    let e = error_of(&with_flow(&not_a_group));
    assert!(e.message.contains("\"C0SRE\" is not a Slack user group id"), "{e}");
    assert_eq!(e.line, Some(6), "{e}");
    let nobody = GOOD_FLOW.replace("{users: [bob@example.com]}", "{groups: []}");
    assert!(error_of(&with_flow(&nobody)).message.contains("at least one of `users`, `groups` or `channel`"));
}

#[test]
fn unset_webhook_secrets_name_their_line() {
    let flow = GOOD_FLOW.replace(
        "kind: record}",
        "kind: record}\n      - {name: hook, kind: webhook, url: https://x.example, secret_env: HOOK_SECRET}",
    );
    let text = with_flow(&format!("{GOOD_FLOW}{}", flow.replace("name: f", "name: g")));
    let config = Config::from_yaml(&text).unwrap();
    let missing = config.missing_webhook_secrets(&text, |_| None);
    assert_eq!(missing.len(), 1);
    assert!(missing[0].message.contains("HOOK_SECRET is not set") && missing[0].message.contains("\"hook\""));
    assert_eq!(missing[0].line, Some(14), "{}", missing[0]);
    assert_eq!(config.missing_webhook_secrets(&text, |_| Some("  ".into())).len(), 1, "blank is unset");
    assert!(config.missing_webhook_secrets(&text, |name| (name == "HOOK_SECRET").then(|| "s".into())).is_empty());
}

#[test]
fn roles_are_explained() {
    let config = Config::from_yaml(EXAMPLE_CONFIG).unwrap();
    let explain = |e: &str| config.explain_role(&e.parse().unwrap());
    assert_eq!(
        explain("eve@outside.org"),
        (Role::Guest, "your email domain outside.org is not a member domain".into())
    );
    assert_eq!(explain("eve@contractor.example").0, Role::Member);
    assert!(explain("eve@contractor.example").1.contains("contractor.example is a member domain"));
    assert!(explain("bob@example.com").1.contains("primary domain"));
    assert!(explain("alice@example.com").1.contains("organization.admins"));
}

fn in_environment(environment: &str) -> String {
    GOOD_FLOW.replace("  - name: f\n", &format!("  - name: f\n    environment: {environment}\n"))
}

#[test]
fn a_flow_name_may_appear_once_per_environment() {
    let config = Config::from_yaml(&with_flow(&format!("{GOOD_FLOW}{}", in_environment("staging")))).unwrap();
    assert_eq!(config.environments_of("f"), ["prod", "staging"]);
    assert_eq!(config.flow_in("f", "staging").unwrap().environment, "staging");
    assert_eq!(config.flow("f").unwrap().environment, "prod", "a bare name is the default environment's flow");
    assert_eq!(config.flow("f@staging").unwrap().reference(), "f@staging");
    assert_eq!(config.flow("f@prod").unwrap().reference(), "f");
    assert!(config.flow("f@dev").is_none() && config.flow("g").is_none());

    let staging_only = Config::from_yaml(&with_flow(&in_environment("staging"))).unwrap();
    assert_eq!(staging_only.flow("f").unwrap().environment, "staging", "a bare name finds a flow's only environment");
}

#[test]
fn resolving_a_flow_names_the_valid_environments() {
    let config = Config::from_yaml(&with_flow(&format!("{GOOD_FLOW}{}", in_environment("staging")))).unwrap();
    assert_eq!(config.resolve_flow("f", Some("staging")).unwrap().environment, "staging");
    let needed = config.resolve_flow("f", None).unwrap_err();
    assert_eq!(
        needed,
        FlowLookupError::EnvironmentNeeded { flow: "f".into(), valid: vec!["prod".into(), "staging".into()] }
    );
    assert!(needed.to_string().contains("choose one of: prod, staging"), "{needed}");
    let unknown = config.resolve_flow("f", Some("dev")).unwrap_err();
    assert!(unknown.to_string().contains("no environment \"dev\"; choose one of: prod, staging"), "{unknown}");
    assert_eq!(config.resolve_flow("g", None).unwrap_err(), FlowLookupError::UnknownFlow("g".into()));
    assert_eq!(config.resolve_flow("g", Some("prod")).unwrap_err(), FlowLookupError::UnknownFlow("g".into()));

    let single = Config::from_yaml(&with_flow(GOOD_FLOW)).unwrap();
    assert_eq!(single.resolve_flow("f", None).unwrap().environment, "prod", "one environment: optional");
    assert_eq!(single.resolve_flow("f", Some(" ")).unwrap().environment, "prod", "blank is none");
}

#[test]
fn a_duplicate_flow_in_the_same_environment_names_its_line() {
    let text = with_flow(&format!("{GOOD_FLOW}{}{}", in_environment("staging"), in_environment("staging")));
    let e = error_of(&text);
    assert!(e.message.contains("duplicate flow name \"f\" in environment \"staging\""), "{e}");
    let second_staging = text.lines().enumerate().filter(|(_, l)| l.starts_with("  - name: f")).nth(2).unwrap().0 + 1;
    assert_eq!(e.line, Some(second_staging), "{e}");

    let e = error_of(&with_flow(&format!("{GOOD_FLOW}{}", in_environment("prod"))));
    assert!(e.message.contains("in environment \"prod\""), "an explicit prod is the default environment: {e}");
    assert_eq!(e.line, Some(9), "{e}");
}

#[test]
fn an_environment_name_is_checked() {
    let e = error_of(&with_flow(&in_environment("Prod Env")));
    assert!(e.message.contains("environment name \"Prod Env\" must be"), "{e}");
    assert_eq!(e.line, Some(5), "{e}");
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;

    /// `text`'s line count, for checking that reported lines exist.
    fn lines(text: &str) -> usize {
        text.lines().count().max(1)
    }

    fn check(text: &str) -> Result<(), TestCaseError> {
        if let Err(e) = Config::from_yaml(text) {
            prop_assert!(e.line.is_none_or(|l| l >= 1 && l <= lines(text)), "line {:?} of {}", e.line, lines(text));
            prop_assert!(!e.message.is_empty());
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn any_text(text in any::<String>()) {
            check(&text)?;
        }

        #[test]
        fn any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            check(&String::from_utf8_lossy(&bytes))?;
        }

        #[test]
        fn the_example_with_text_inserted_anywhere(at in any::<prop::sample::Index>(), insert in any::<String>()) {
            let chars: Vec<char> = EXAMPLE_CONFIG.chars().collect();
            let at = at.index(chars.len() + 1);
            let text: String = chars[..at].iter().chain(insert.chars().collect::<Vec<_>>().iter()).chain(&chars[at..]).collect();
            check(&text)?;
        }

        #[test]
        fn the_example_with_any_value_on_any_line(line in any::<prop::sample::Index>(), value in any::<String>()) {
            let mut lines: Vec<String> = EXAMPLE_CONFIG.lines().map(String::from).collect();
            let i = line.index(lines.len());
            if let Some((key, _)) = lines[i].split_once(": ") {
                lines[i] = format!("{key}: {value}");
            }
            check(&lines.join("\n"))?;
        }

        #[test]
        fn the_example_with_any_duration(value in "\\PC{0,6}") {
            let text = EXAMPLE_CONFIG.replace("durations: [15m, 1h, 4h]", &format!("durations: [15m, {value:?}, 4h]"));
            check(&text)?;
        }
    }
}
