use super::*;

fn form(json: &str) -> Vec<u8> {
    serde_urlencoded::to_string([("payload", json)]).unwrap().into_bytes()
}

// Trimmed from Slack's block_actions reference payload.
const BLOCK_ACTIONS: &str = r#"{
  "type": "block_actions",
  "team": {"id": "T9TK3CUKW", "domain": "example"},
  "user": {"id": "UA8RXUSPL", "username": "jtorrance", "name": "jtorrance", "team_id": "T9TK3CUKW"},
  "api_app_id": "AABA1ABCD",
  "token": "9s8d9as89d8as9d8as989",
  "container": {"type": "message", "message_ts": "1548261231.000200", "channel_id": "CBR2V3XEX", "is_ephemeral": false},
  "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
  "channel": {"id": "CBR2V3XEX", "name": "review-updates"},
  "message": {"bot_id": "BAH5CA16Z", "type": "message", "text": "card", "user": "UAJ2RU415", "ts": "1548261231.000200"},
  "response_url": "https://hooks.slack.com/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209",
  "actions": [{
    "action_id": "approve", "block_id": "decision",
    "text": {"type": "plain_text", "text": "Approve", "emoji": true},
    "value": "req_01J00000000000000000000000", "style": "primary", "type": "button", "action_ts": "1548426417.840180"
  }]
}"#;

#[test]
fn parses_a_button_click_on_a_message() {
    let Interaction::BlockActions(click) = parse_interaction(&form(BLOCK_ACTIONS)).unwrap() else {
        panic!("not block_actions")
    };
    assert_eq!(click.user.id, "UA8RXUSPL");
    assert_eq!(click.trigger_id.as_deref(), Some("12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3"));
    assert_eq!(click.channel_id(), Some("CBR2V3XEX"));
    assert_eq!(click.message_ts(), Some("1548261231.000200"));
    assert_eq!(click.actions.len(), 1);
    assert_eq!(click.actions[0].action_id, "approve");
    assert_eq!(click.actions[0].block_id.as_deref(), Some("decision"));
    assert_eq!(click.actions[0].value.as_deref(), Some("req_01J00000000000000000000000"));
    assert!(click.view.is_none());
}

// Trimmed from Slack's view_submission reference payload, with one value of each input kind.
const VIEW_SUBMISSION: &str = r#"{
  "type": "view_submission",
  "team": {"id": "T0001"},
  "user": {"id": "U0002", "username": "bob", "team_id": "T0001"},
  "api_app_id": "A0003",
  "trigger_id": "1234.5678.abcd",
  "view": {
    "id": "VNHU13V36", "type": "modal", "team_id": "T0001",
    "title": {"type": "plain_text", "text": "AWS Production"},
    "blocks": [],
    "private_metadata": "aws-prod",
    "callback_id": "request:aws-prod",
    "hash": "156663117.cd33ad1f",
    "state": {"values": {
      "target": {"target": {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": "Prod admin"}, "value": "prod-admin"}}},
      "reason": {"reason": {"type": "plain_text_input", "value": "incident 42"}},
      "field:count": {"field:count": {"type": "number_input", "value": "3"}},
      "field:ack": {"field:ack": {"type": "checkboxes", "selected_options": [{"text": {"type": "plain_text", "text": "Yes"}, "value": "true"}]}},
      "field:when": {"field:when": {"type": "datepicker", "selected_date": "2026-01-31"}},
      "field:buddy": {"field:buddy": {"type": "users_select", "selected_user": "U0004"}},
      "field:empty": {"field:empty": {"type": "plain_text_input", "value": null}}
    }}
  },
  "response_urls": []
}"#;

#[test]
fn parses_a_view_submission_with_its_state() {
    let Interaction::ViewSubmission(sub) = parse_interaction(&form(VIEW_SUBMISSION)).unwrap() else {
        panic!("not view_submission")
    };
    assert_eq!(sub.user.id, "U0002");
    assert_eq!(sub.view.id, "VNHU13V36");
    assert_eq!(sub.view.callback_id, "request:aws-prod");
    assert_eq!(sub.view.private_metadata, "aws-prod");
    let v = |b: &str| sub.view.value(b, b).unwrap();
    assert_eq!(v("target").single(), Some("prod-admin"));
    assert_eq!(v("reason").single(), Some("incident 42"));
    assert_eq!(v("field:count").single(), Some("3"));
    assert!(v("field:ack").any_selected());
    assert_eq!(v("field:when").single(), Some("2026-01-31"));
    assert_eq!(v("field:buddy").single(), Some("U0004"));
    assert_eq!(v("field:empty").single(), None);
    assert!(sub.view.value("duration", "duration").is_none());
}

#[test]
fn parses_view_closed_and_block_suggestion() {
    let closed = r#"{"type": "view_closed", "team": {"id": "T1"}, "user": {"id": "U1"},
        "view": {"id": "V1", "callback_id": "deny_reason", "private_metadata": "req_x"}, "is_cleared": false}"#;
    let Interaction::ViewClosed(closed) = parse_interaction(&form(closed)).unwrap() else { panic!() };
    assert_eq!(closed.view.callback_id, "deny_reason");

    let suggestion = r#"{"type": "block_suggestion", "user": {"id": "U1", "name": "al"}, "container": {"type": "view", "view_id": "V1"},
        "api_app_id": "A1", "token": "t", "action_id": "field:ticket", "block_id": "field:ticket", "value": "INC",
        "team": {"id": "T1"}, "view": {"id": "V1", "type": "modal", "private_metadata": "aws-prod", "callback_id": "request:aws-prod",
        "state": {"values": {}}, "hash": "1"}}"#;
    let Interaction::BlockSuggestion(s) = parse_interaction(&form(suggestion)).unwrap() else { panic!() };
    assert_eq!(s.action_id, "field:ticket");
    assert_eq!(s.block_id, "field:ticket");
    assert_eq!(s.value, "INC");
    assert_eq!(s.view.unwrap().private_metadata, "aws-prod");
}

#[test]
fn unknown_kinds_are_other() {
    let shortcut = r#"{"type": "shortcut", "callback_id": "x", "trigger_id": "t", "user": {"id": "U1"}}"#;
    assert_eq!(parse_interaction(&form(shortcut)).unwrap(), Interaction::Other);
}

#[test]
fn malformed_bodies_are_clear_errors() {
    assert_eq!(parse_interaction(b"foo=bar"), Err(PayloadError::MissingPayload));
    assert!(matches!(parse_interaction(&form("{not json")), Err(PayloadError::Json(_))));
    assert!(matches!(parse_interaction(&form(r#"{"type": "view_submission"}"#)), Err(PayloadError::Json(_))));
}

#[test]
fn a_replay_has_the_same_key_and_a_new_submission_another() {
    let Interaction::ViewSubmission(sub) = parse_interaction(&form(VIEW_SUBMISSION)).unwrap() else { panic!() };
    let again = parse_interaction(&form(VIEW_SUBMISSION)).unwrap();
    let Interaction::ViewSubmission(again) = again else { panic!() };
    assert_eq!(sub.replay_key(), again.replay_key());
    assert!(sub.replay_key().starts_with("slack-submit:VNHU13V36:"));
    let resubmitted = VIEW_SUBMISSION.replace("1234.5678.abcd", "1234.5678.other");
    let Interaction::ViewSubmission(resubmitted) = parse_interaction(&form(&resubmitted)).unwrap() else { panic!() };
    assert_ne!(sub.replay_key(), resubmitted.replay_key(), "a new trigger is a new submission");
    let changed = VIEW_SUBMISSION.replace("incident 42", "incident 43");
    let Interaction::ViewSubmission(changed) = parse_interaction(&form(&changed)).unwrap() else { panic!() };
    assert_ne!(sub.replay_key(), changed.replay_key(), "other values are another submission");
}

// A click on the App Home (a view container: no channel, no message).
const HOME_CLICK: &str = r#"{
  "type": "block_actions",
  "user": {"id": "U0CAROL", "username": "carol", "name": "carol", "team_id": "T1"},
  "api_app_id": "A1", "token": "t", "team": {"id": "T1", "domain": "example"},
  "container": {"type": "view", "view_id": "V0HOME"},
  "trigger_id": "1.2.home",
  "view": {"id": "V0HOME", "type": "home", "callback_id": "", "private_metadata": "", "state": {"values": {}},
           "hash": "1.fake", "blocks": []},
  "actions": [{
    "action_id": "revoke_request", "block_id": "x1",
    "text": {"type": "plain_text", "text": "Revoke now", "emoji": true},
    "value": "req_01J00000000000000000000000", "style": "danger", "type": "button", "action_ts": "1.1"
  }]
}"#;

#[test]
fn parses_a_click_on_the_app_home() {
    let Interaction::BlockActions(click) = parse_interaction(&form(HOME_CLICK)).unwrap() else { panic!() };
    assert_eq!(click.user.id, "U0CAROL");
    assert_eq!(click.channel_id(), None, "nowhere to answer ephemerally: the answer is a DM");
    assert_eq!(click.message_ts(), None);
    assert_eq!(click.view.as_ref().map(|v| v.id.as_str()), Some("V0HOME"));
    assert_eq!(click.actions[0].action_id, "revoke_request");
    assert_eq!(click.actions[0].value.as_deref(), Some("req_01J00000000000000000000000"));
    for action in ["cancel_request", "approve_with_changes", "extend_request"] {
        let Interaction::BlockActions(click) =
            parse_interaction(&form(&HOME_CLICK.replace("revoke_request", action))).unwrap()
        else {
            panic!()
        };
        assert_eq!(click.actions[0].action_id, action);
    }
}

// The Approve with changes modal submitted: a static select and an optional comment left empty.
const CHANGES_SUBMISSION: &str = r#"{
  "type": "view_submission",
  "team": {"id": "T1"}, "user": {"id": "U0BOB", "username": "bob", "team_id": "T1"},
  "api_app_id": "A1", "trigger_id": "1.2.changes",
  "view": {
    "id": "V0CHANGES", "type": "modal", "callback_id": "approve_with_changes",
    "private_metadata": "req_01J00000000000000000000000", "hash": "1.x", "blocks": [],
    "state": {"values": {
      "changes_duration": {"changes_duration": {"type": "static_select",
        "selected_option": {"text": {"type": "plain_text", "text": "15 minutes"}, "value": "15m"}}},
      "changes_comment": {"changes_comment": {"type": "plain_text_input", "value": null}}
    }}
  }
}"#;

#[test]
fn parses_the_approve_with_changes_submission() {
    let Interaction::ViewSubmission(sub) = parse_interaction(&form(CHANGES_SUBMISSION)).unwrap() else { panic!() };
    assert_eq!(sub.view.callback_id, "approve_with_changes");
    assert_eq!(sub.view.private_metadata, "req_01J00000000000000000000000");
    assert_eq!(sub.view.value("changes_duration", "changes_duration").and_then(|v| v.single()), Some("15m"));
    assert_eq!(sub.view.value("changes_comment", "changes_comment").and_then(|v| v.single()), None);
    let commented = CHANGES_SUBMISSION.replace(r#""value": null"#, r#""value": "15 minutes is enough""#);
    let Interaction::ViewSubmission(sub) = parse_interaction(&form(&commented)).unwrap() else { panic!() };
    assert_eq!(
        sub.view.value("changes_comment", "changes_comment").and_then(|v| v.single()),
        Some("15 minutes is enough")
    );
}

// The Extend modal submitted: the extra time chosen in a static select and the reason.
const EXTEND_SUBMISSION: &str = r#"{
  "type": "view_submission",
  "team": {"id": "T1"}, "user": {"id": "U0CAROL", "username": "carol", "team_id": "T1"},
  "api_app_id": "A1", "trigger_id": "1.2.extend",
  "view": {
    "id": "V0EXTEND", "type": "modal", "callback_id": "extend_request",
    "private_metadata": "req_01J00000000000000000000000", "hash": "1.x", "blocks": [],
    "state": {"values": {
      "extend_duration": {"extend_duration": {"type": "static_select",
        "selected_option": {"text": {"type": "plain_text", "text": "1 hour"}, "value": "1h"}}},
      "extend_reason": {"extend_reason": {"type": "plain_text_input", "value": "the migration runs late"}}
    }}
  }
}"#;

#[test]
fn parses_the_extend_submission() {
    let Interaction::ViewSubmission(sub) = parse_interaction(&form(EXTEND_SUBMISSION)).unwrap() else { panic!() };
    assert_eq!(sub.view.callback_id, "extend_request");
    assert_eq!(sub.view.private_metadata, "req_01J00000000000000000000000");
    assert_eq!(sub.view.value("extend_duration", "extend_duration").and_then(|v| v.single()), Some("1h"));
    assert_eq!(
        sub.view.value("extend_reason", "extend_reason").and_then(|v| v.single()),
        Some("the migration runs late")
    );
    // The same values about another request are another submission, not a replay.
    let other = EXTEND_SUBMISSION.replace("req_01J00000000000000000000000", "req_01J00000000000000000000001");
    let Interaction::ViewSubmission(other) = parse_interaction(&form(&other)).unwrap() else { panic!() };
    assert_ne!(sub.replay_key(), other.replay_key());
    let cleared = EXTEND_SUBMISSION.replace(r#""value": "the migration runs late""#, r#""value": null"#);
    let Interaction::ViewSubmission(cleared) = parse_interaction(&form(&cleared)).unwrap() else { panic!() };
    assert_eq!(cleared.view.value("extend_reason", "extend_reason").and_then(|v| v.single()), None);
}

#[test]
fn parses_the_extension_card_buttons() {
    for action in ["approve_extension", "deny_extension"] {
        let body = BLOCK_ACTIONS.replace(r#""action_id": "approve""#, &format!(r#""action_id": "{action}""#));
        let Interaction::BlockActions(click) = parse_interaction(&form(&body)).unwrap() else { panic!() };
        assert_eq!(click.actions[0].action_id, action);
        assert_eq!(click.actions[0].value.as_deref(), Some("req_01J00000000000000000000000"));
        assert_eq!(click.channel_id(), Some("CBR2V3XEX"));
        assert_eq!(click.trigger_id.as_deref(), Some("12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3"));
    }
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;

    /// Any JSON value, a few levels deep.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            any::<String>().prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn use_it(parsed: Result<Interaction, PayloadError>) {
        match parsed {
            Ok(Interaction::BlockActions(click)) => {
                let _ = (click.channel_id(), click.message_ts());
            }
            Ok(Interaction::ViewSubmission(sub)) => {
                let _ = sub.replay_key();
                for (block, actions) in sub.view.state.iter().flat_map(|s| &s.values) {
                    for (action, value) in actions {
                        let _ = (sub.view.value(block, action), value.single(), value.any_selected());
                    }
                }
            }
            _ => {}
        }
    }

    proptest! {
        #[test]
        fn any_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            use_it(parse_interaction(&body));
        }

        #[test]
        fn any_text_as_the_payload(payload in any::<String>()) {
            use_it(parse_interaction(&form(&payload)));
        }

        #[test]
        fn any_json_under_each_type(kind in prop_oneof![
            Just("block_actions"), Just("view_submission"), Just("view_closed"), Just("block_suggestion"), Just("shortcut")
        ], fields in prop::collection::btree_map(prop_oneof![
            Just("user".to_string()), Just("view".to_string()), Just("actions".to_string()), Just("state".to_string()),
            Just("container".to_string()), Just("channel".to_string()), Just("trigger_id".to_string()), "[a-z_]{1,8}",
        ], json_value(), 0..6)) {
            let mut payload: serde_json::Map<String, serde_json::Value> = fields.into_iter().collect();
            payload.insert("type".into(), kind.into());
            use_it(parse_interaction(&form(&serde_json::Value::Object(payload).to_string())));
        }

        #[test]
        fn any_values_in_an_approve_with_changes_submission(duration in json_value(), comment in json_value(), metadata in json_value()) {
            let mut payload: serde_json::Value = serde_json::from_str(CHANGES_SUBMISSION).unwrap();
            payload["view"]["state"]["values"]["changes_duration"]["changes_duration"] = duration;
            payload["view"]["state"]["values"]["changes_comment"]["changes_comment"] = comment;
            payload["view"]["private_metadata"] = metadata;
            use_it(parse_interaction(&form(&payload.to_string())));
        }

        #[test]
        fn any_values_in_an_extend_submission(duration in json_value(), reason in json_value(), metadata in json_value()) {
            let mut payload: serde_json::Value = serde_json::from_str(EXTEND_SUBMISSION).unwrap();
            payload["view"]["state"]["values"]["extend_duration"]["extend_duration"] = duration;
            payload["view"]["state"]["values"]["extend_reason"]["extend_reason"] = reason;
            payload["view"]["private_metadata"] = metadata;
            let parsed = parse_interaction(&form(&payload.to_string()));
            // What the Extend handler reads: the duration, the reason and the request id.
            if let Ok(Interaction::ViewSubmission(sub)) = &parsed {
                let chosen = sub.view.value("extend_duration", "extend_duration").and_then(|v| v.single());
                let _ = chosen.map(airlock_core::GrantDuration::parse_or_seconds);
                let _ = sub.view.value("extend_reason", "extend_reason").and_then(|v| v.single()).map(str::trim);
                let _ = sub.view.private_metadata.parse::<airlock_core::RequestId>();
            }
            use_it(parsed);
        }

        #[test]
        fn any_action_on_the_home(action in json_value(), container in json_value()) {
            let mut payload: serde_json::Value = serde_json::from_str(HOME_CLICK).unwrap();
            payload["actions"][0] = action;
            payload["container"] = container;
            use_it(parse_interaction(&form(&payload.to_string())));
        }

        #[test]
        fn any_state_in_a_real_submission(state in json_value()) {
            let mut payload: serde_json::Value = serde_json::from_str(VIEW_SUBMISSION).unwrap();
            payload["view"]["state"] = serde_json::json!({"values": {"reason": {"reason": state}}});
            use_it(parse_interaction(&form(&payload.to_string())));
        }
    }
}
