use super::*;
use crate::config::EXAMPLE_CONFIG;
use crate::policy::RequestRefusal;

fn example() -> Config {
    Config::from_yaml(EXAMPLE_CONFIG).unwrap()
}

fn person(config: &Config, email: &str) -> Identity {
    let email: Email = email.parse().unwrap();
    let role = roles::resolve(config, &email, None, &[]).role;
    Identity { email, slack_id: None, name: None, role }
}

fn ask(flow: &str, target: &str, duration: &str, fields: &[(&str, &str)]) -> SubmitInput {
    SubmitInput {
        flow: flow.into(),
        target: Some(target.into()),
        duration: Some(duration.into()),
        reason: "incident".into(),
        fields: fields.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect(),
        ..SubmitInput::default()
    }
}

fn outcome(config: &Config, who: &str, groups: &[&str], input: &SubmitInput) -> Outcome {
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    evaluate(config, &person(config, who), &groups, input, Utc::now()).outcome
}

use crate::email::Email;

#[test]
fn the_example_config_decides_as_its_rules_say() {
    let config = example();
    let emergency = ask("aws-prod", "prod-admin", "1h", &[("urgency", "Emergency")]);
    match outcome(&config, "carol@example.com", &[], &emergency) {
        Outcome::Decided(d) => {
            assert_eq!((d.verdict, d.rule), (Verdict::Approve, "auto_approve"));
            assert_eq!(d.source, r#"fields.urgency == "Emergency""#);
        }
        other => panic!("{other:?}"),
    }
    let normal = ask("aws-prod", "prod-admin", "1h", &[("urgency", "Normal")]);
    let routed = Routing {
        approvers: vec!["bob@example.com".into(), "alice@example.com".into()],
        groups: Vec::new(),
        channel: Some("C0APPROVALS".into()),
        required: 1,
    };
    assert_eq!(outcome(&config, "carol@example.com", &[], &normal), Outcome::Routed(routed));
}

#[test]
fn the_requester_is_no_approver_of_their_own_request_unless_the_flow_allows_it() {
    let config = example();
    let normal = ask("aws-prod", "prod-admin", "1h", &[("urgency", "Normal")]);
    let Outcome::Routed(routing) = outcome(&config, "bob@example.com", &[], &normal) else { panic!() };
    assert_eq!(routing.approvers, ["alice@example.com"]);
    let sandbox = ask("sandbox", "sandbox-admin", "15m", &[]);
    let Outcome::Routed(routing) = outcome(&config, "bob@example.com", &[], &sandbox) else { panic!() };
    assert_eq!(routing.approvers, ["bob@example.com", "dave@example.com", "alice@example.com"]);
}

#[test]
fn refusals_are_the_submission_errors() {
    let config = example();
    let normal = ask("aws-prod", "prod-admin", "1h", &[("urgency", "Normal")]);
    assert_eq!(
        outcome(&config, "mallory@elsewhere.example", &[], &normal),
        Outcome::Refused(SubmitError::NotAllowed(RequestRefusal::Guest))
    );
    let unknown = SubmitInput { flow: "gcp".into(), ..normal.clone() };
    assert_eq!(
        outcome(&config, "carol@example.com", &[], &unknown),
        Outcome::Refused(SubmitError::UnknownFlow("gcp".into()))
    );
    let Outcome::Refused(SubmitError::Invalid(errors)) =
        outcome(&config, "carol@example.com", &[], &ask("aws-prod", "prod-admin", "8h", &[]))
    else {
        panic!()
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["duration", "urgency"], "{errors:?}");
    let staging = SubmitInput { environment: Some("staging".into()), ..normal };
    let Outcome::Refused(SubmitError::Invalid(errors)) = outcome(&config, "carol@example.com", &[], &staging) else {
        panic!()
    };
    assert_eq!(errors[0].field, "environment");
}

const TEAM: &str = "organization:
  primary_domain: example.com
  admins: [alice@example.com]
flows:
  - name: data
    approvers: {users: [bob@example.com], groups: [S0DBA], required: 2}
    requesters: {users: [erin@example.com], groups: [S0SRE]}
    max_duration: 1h
    multiple_targets: true
    targets:
      - {name: db, kind: record}
      - {name: queue, kind: record}
      - name: accounts
        kind: aws_sso
        accounts: ['111111111111', '222222222222']
        exclude_accounts: ['222222222222']
        permission_sets: [ReadOnly]
    fields:
      - {name: ticket, label: Ticket, type: string}
    rules:
      auto_approve: 'target.name == \"db\" || target.account_id == \"111111111111\"'
      auto_deny: 'fields.ticket.startsWith(\"BAD\")'
";

fn several(targets: &[&str]) -> SubmitInput {
    SubmitInput {
        flow: "data".into(),
        targets: targets.iter().map(|t| t.to_string()).collect(),
        duration: Some("30m".into()),
        reason: "migration".into(),
        ..SubmitInput::default()
    }
}

#[test]
fn requesters_are_matched_by_list_or_group() {
    let config = Config::from_yaml(TEAM).unwrap();
    let input = several(&["queue"]);
    assert!(matches!(outcome(&config, "erin@example.com", &[], &input), Outcome::Routed(_)));
    assert!(matches!(outcome(&config, "carol@example.com", &["S0SRE"], &input), Outcome::Routed(_)));
    assert_eq!(
        outcome(&config, "carol@example.com", &["S0OTHER"], &input),
        Outcome::Refused(SubmitError::NotAllowed(RequestRefusal::NotARequester))
    );
}

#[test]
fn several_targets_are_approved_when_every_one_is_and_denied_when_any_is() {
    let config = Config::from_yaml(TEAM).unwrap();
    let approved = |o: Outcome| matches!(o, Outcome::Decided(RuleDecision { verdict: Verdict::Approve, .. }));
    assert!(approved(outcome(&config, "erin@example.com", &[], &several(&["db"]))));
    let Outcome::Routed(routing) = outcome(&config, "erin@example.com", &[], &several(&["db", "queue"])) else {
        panic!()
    };
    assert_eq!((routing.groups, routing.required), (vec!["S0DBA".to_string()], 2));
    let mut bad = several(&["db", "queue"]);
    bad.fields.insert("ticket".into(), "BAD-1".into());
    let evaluation = evaluate(&config, &person(&config, "erin@example.com"), &[], &bad, Utc::now());
    assert!(matches!(evaluation.outcome, Outcome::Decided(RuleDecision { verdict: Verdict::Deny, .. })));
}

#[test]
fn a_rule_that_does_not_evaluate_is_reported_and_counts_as_no_match() {
    let config = Config::from_yaml(TEAM).unwrap();
    let evaluation = evaluate(&config, &person(&config, "erin@example.com"), &[], &several(&["queue"]), Utc::now());
    assert!(matches!(evaluation.outcome, Outcome::Routed(_)));
    assert_eq!(evaluation.rule_errors.len(), 1, "{:?}", evaluation.rule_errors);
    assert_eq!((evaluation.rule_errors[0].rule, evaluation.rule_errors[0].target.as_str()), ("auto_deny", "queue"));
}

#[test]
fn discovered_accounts_are_checked_against_the_scope_offline() {
    let config = Config::from_yaml(TEAM).unwrap();
    let erin = "erin@example.com";
    let accounts = |ids: &[&str], set: &str| SubmitInput {
        accounts: ids.iter().map(|a| a.to_string()).collect(),
        permission_set: Some(set.into()),
        ..several(&["accounts"])
    };
    let approved = outcome(&config, erin, &[], &accounts(&["111111111111"], "readonly"));
    assert!(matches!(approved, Outcome::Decided(RuleDecision { verdict: Verdict::Approve, .. })), "{approved:?}");
    for (ids, set, field) in [
        (&["222222222222"][..], "ReadOnly", "accounts"),
        (&["111111111111"][..], "Admin", "permission_set"),
        (&[][..], "ReadOnly", "accounts"),
    ] {
        let Outcome::Refused(SubmitError::Invalid(errors)) = outcome(&config, erin, &[], &accounts(ids, set)) else {
            panic!("{ids:?} {set}")
        };
        assert_eq!(errors[0].field, field, "{errors:?}");
    }
    let stray = SubmitInput { accounts: vec!["111111111111".into()], ..several(&["db"]) };
    assert!(matches!(outcome(&config, erin, &[], &stray), Outcome::Refused(SubmitError::Invalid(_))));
}

#[test]
fn explain_says_what_a_person_may_request_and_approve_and_why() {
    let config = example();
    let carol = explain(&config, &person(&config, "carol@example.com"), &[]);
    assert_eq!(carol.len(), 2);
    assert!(carol[0].request.allowed && carol[0].request.why.contains("lists no requesters"), "{:?}", carol[0]);
    assert!(!carol[0].approve.allowed && carol[0].approve.why.contains("not in approvers.users (bob@example.com)"));
    let approve = &carol[0].rules[0];
    assert_eq!((approve.rule, approve.always), ("auto_approve", false));
    assert_eq!(approve.when, ["urgency = Emergency"]);
    let deny = &carol[0].rules[1];
    assert!(!deny.always && deny.when.is_empty(), "{deny:?}");

    let bob = explain(&config, &person(&config, "bob@example.com"), &[]);
    assert!(bob[0].approve.allowed);
    assert_eq!(bob[0].approve.why, "listed in approvers.users as bob@example.com; never their own requests");
    assert_eq!(bob[1].approve.why, "listed in approvers.users as bob@example.com");
    let alice = explain(&config, &person(&config, "alice@example.com"), &[]);
    assert!(alice.iter().all(|f| f.approve.allowed && f.approve.why.starts_with("admins may approve")));

    let guest = Identity { role: Role::Guest, ..person(&config, "carol@example.com") };
    let guest = explain(&config, &guest, &[]);
    assert!(!guest[0].request.allowed && guest[0].rules.is_empty());

    let team = Config::from_yaml(TEAM).unwrap();
    let dana = explain(&team, &person(&team, "dana@example.com"), &["S0DBA".into(), "S0SRE".into()]);
    assert_eq!(dana[0].request.why, "in requesters.groups S0SRE");
    assert_eq!(dana[0].approve.why, "in approvers.groups S0DBA; never their own requests");
    let reach = &dana[0].rules[0];
    assert!(reach.when.iter().any(|w| w.starts_with("target db")), "{reach:?}");
    assert!(!dana[0].rules[1].errors.is_empty(), "the deny rule fails on an empty ticket");
}
