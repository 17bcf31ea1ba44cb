use super::*;
use crate::payload::parse_interaction;
use airlock_core::audit::Actor;
use airlock_core::flow::{Approvers, Prefetch, TargetKind};
use airlock_core::ports::{RequesterUpdate, SelectOption};
use airlock_core::services::Home;
use airlock_core::{
    AccessRequest, Config, FieldSpec, FieldType, Flow, GrantDuration, Identity, MessageRef, RequestBuilder, RequestId,
    Role, Rules, Status, Target,
};
use chrono::Utc;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn field(name: &str, label: &str, field_type: FieldType, allowed: &[&str], prefetch: bool) -> FieldSpec {
    FieldSpec {
        name: name.into(),
        label: label.into(),
        field_type,
        required: true,
        allowed_values: allowed.iter().map(|s| s.to_string()).collect(),
        prefetch: prefetch.then(|| Prefetch::Url("https://tickets.internal/open".into())),
    }
}

fn target(name: &str, label: &str) -> Target {
    Target { name: name.into(), label: label.into(), kind: TargetKind::Record }
}

fn flow_with(label: &str, targets: Vec<Target>, fields: Vec<FieldSpec>, durations: Vec<u64>) -> Flow {
    Flow {
        name: "aws-prod".into(),
        environment: airlock_core::flow::DEFAULT_ENVIRONMENT.into(),
        label: label.into(),
        description: "Admin in the production accounts".into(),
        approvers: Approvers {
            users: vec![],
            groups: vec![],
            channel: Some("C0APPROVALS".into()),
            required: 1,
            allow_guests: false,
        },
        requesters: None,
        allow_self_approval: false,
        durations: durations.into_iter().map(GrantDuration::from_secs).collect(),
        max_duration: GrantDuration::from_secs(14_400),
        approval_timeout: GrantDuration::from_secs(3_600),
        targets,
        multiple_targets: false,
        fields,
        rules: Rules::default(),
        extensions: Default::default(),
    }
}

fn sample_flow() -> Flow {
    flow_with(
        "AWS Production",
        vec![target("prod-admin", "Prod admin"), target("prod-readonly", "Prod read-only")],
        vec![
            field("urgency", "Urgency", FieldType::String, &["Normal", "Emergency"], false),
            field("notes", "Notes", FieldType::Text, &[], false),
            field("count", "Count", FieldType::Int, &[], false),
            field("ack", "Acknowledged", FieldType::Bool, &[], false),
            field("when", "When", FieldType::Date, &[], false),
            field("buddy", "Buddy", FieldType::User, &[], false),
            field("ticket", "Ticket", FieldType::Select, &[], true),
            field("env", "Environment", FieldType::Select, &["dev", "prod"], false),
        ],
        vec![900, 3_600, 14_400],
    )
}

fn request_for(flow: &Flow, status: Status) -> AccessRequest {
    building(flow, status).build()
}

fn building(flow: &Flow, status: Status) -> RequestBuilder {
    let now = Utc::now();
    let mut fields = BTreeMap::new();
    fields.insert("urgency".to_string(), json!("Emergency"));
    fields.insert("buddy".to_string(), json!("U0BUDDY"));
    fields.insert("ack".to_string(), json!(true));
    AccessRequest::builder("carol@example.com".parse().unwrap(), &flow.name, &flow.targets[0].name)
        .access_key("record:prod-admin")
        .slack_id(Some("U0CAROL"))
        .role(Role::Member)
        .status(status)
        .duration_secs(3_600)
        .reason("incident <!channel> 42")
        .fields(fields)
        .created_at(now)
        .decision_deadline(now + chrono::Duration::hours(1))
        .cards(vec![MessageRef { channel: "C0APPROVALS".into(), ts: "1.1".into() }])
}

fn bob() -> Actor {
    Actor::User { email: "bob@example.com".parse().unwrap(), slack_id: Some("U0BOB".into()) }
}

fn to_json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

fn text_of(v: &Value) -> &str {
    v.get("text").and_then(Value::as_str).unwrap_or_default()
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Every limit of Slack's that the views promise to respect, checked on the JSON sent to Slack.
fn assert_within_limits(view: &Value, max_blocks: usize) {
    let blocks = view["blocks"].as_array().expect("blocks");
    assert!(blocks.len() <= max_blocks, "{} blocks", blocks.len());
    for key in ["title", "submit", "close"] {
        if let Some(t) = view.get(key) {
            assert!(chars(text_of(t)) <= limits::MODAL_TITLE, "{key} too long: {t}");
        }
    }
    if let Some(m) = view.get("private_metadata").and_then(Value::as_str) {
        assert!(chars(m) <= limits::PRIVATE_METADATA);
    }
    walk(view);
}

fn walk(v: &Value) {
    match v {
        Value::Array(items) => items.iter().for_each(walk),
        Value::Object(map) => {
            let kind = map.get("type").and_then(Value::as_str).unwrap_or_default();
            match kind {
                "header" => assert!(chars(text_of(&map["text"])) <= limits::HEADER_TEXT),
                "section" => {
                    if let Some(t) = map.get("text") {
                        assert!(chars(text_of(t)) <= limits::SECTION_TEXT);
                    }
                    if let Some(fields) = map.get("fields").and_then(Value::as_array) {
                        assert!(fields.len() <= 10);
                        fields.iter().for_each(|f| assert!(chars(text_of(f)) <= limits::SECTION_FIELD));
                    }
                }
                "context" => assert!(map["elements"].as_array().unwrap().len() <= limits::CONTEXT_ELEMENTS),
                "button" => {
                    assert!(chars(text_of(&map["text"])) <= limits::BUTTON_TEXT);
                    if let Some(value) = map.get("value").and_then(Value::as_str) {
                        assert!(chars(value) <= limits::BUTTON_VALUE);
                    }
                }
                "input" => assert!(chars(text_of(&map["label"])) <= limits::INPUT_LABEL),
                _ => {}
            }
            if let Some(options) = map.get("options").and_then(Value::as_array) {
                assert!(options.len() <= limits::OPTIONS_PER_SELECT, "{} options", options.len());
                for option in options {
                    assert!(chars(text_of(&option["text"])) <= limits::OPTION_TEXT, "option text {option}");
                    let value = option["value"].as_str().unwrap();
                    assert!(!value.is_empty() && chars(value) <= limits::OPTION_VALUE);
                    if let Some(d) = option.get("description") {
                        assert!(chars(text_of(d)) <= limits::OPTION_TEXT);
                    }
                }
                if let Some(initial) = map.get("initial_option") {
                    assert!(options.contains(initial), "initial option {initial} is not among the options");
                }
                for initial in map.get("initial_options").and_then(Value::as_array).into_iter().flatten() {
                    assert!(options.contains(initial), "initial option {initial} is not among the options");
                }
            }
            for key in ["block_id", "action_id", "callback_id"] {
                if let Some(id) = map.get(key).and_then(Value::as_str) {
                    assert!(chars(id) <= limits::ID);
                }
            }
            if let Some(p) = map.get("placeholder") {
                assert!(chars(text_of(p)) <= limits::PLACEHOLDER);
            }
            map.values().for_each(walk);
        }
        _ => {}
    }
}

fn block_ids(view: &Value) -> Vec<String> {
    view["blocks"].as_array().unwrap().iter().filter_map(|b| b["block_id"].as_str().map(String::from)).collect()
}

fn block<'v>(view: &'v Value, id: &str) -> &'v Value {
    view["blocks"].as_array().unwrap().iter().find(|b| b["block_id"] == id).unwrap_or_else(|| panic!("no block {id}"))
}

#[test]
fn the_request_form_has_stable_block_ids_and_an_element_per_field_type() {
    let flow = sample_flow();
    let view = to_json(request_form_modal(&flow, Some("Prod read-only")));
    assert_eq!(view["type"], "modal");
    assert_eq!(view["callback_id"], "request:aws-prod");
    assert_eq!(view["private_metadata"], "aws-prod");
    assert_eq!(view["title"]["text"], "AWS Production");
    assert_eq!(
        block_ids(&view),
        [
            "target",
            "duration",
            "reason",
            "field:urgency",
            "field:notes",
            "field:count",
            "field:ack",
            "field:when",
            "field:buddy",
            "field:ticket",
            "field:env"
        ]
    );
    let element = |id: &str| block(&view, id)["element"].clone();
    assert_eq!(element("target")["initial_option"]["value"], "prod-readonly");
    assert_eq!(element("duration")["options"].as_array().unwrap().len(), 3);
    assert_eq!(element("duration")["options"][0]["value"], "15m");
    assert_eq!(element("duration")["options"][1]["text"]["text"], "1 hour");
    assert_eq!(element("reason")["multiline"], true);
    assert_eq!(element("field:urgency")["type"], "static_select");
    assert_eq!(element("field:notes")["type"], "plain_text_input");
    assert_eq!(element("field:notes")["multiline"], true);
    assert_eq!(element("field:count")["type"], "number_input");
    assert_eq!(element("field:count")["is_decimal_allowed"], false);
    assert_eq!(element("field:ack")["type"], "checkboxes");
    assert_eq!(element("field:when")["type"], "datepicker");
    assert_eq!(element("field:buddy")["type"], "users_select");
    assert_eq!(element("field:ticket")["type"], "external_select");
    assert_eq!(element("field:ticket")["min_query_length"], 0);
    assert_eq!(element("field:env")["options"][1]["value"], "prod");
    for id in block_ids(&view) {
        assert_eq!(block(&view, &id)["element"]["action_id"], id.as_str(), "action id of {id}");
    }
    assert_eq!(block(&view, "field:ack")["optional"], true);
    assert!(block(&view, "field:urgency").get("optional").is_none_or(|o| o == false));
    assert_within_limits(&view, limits::VIEW_BLOCKS);
}

#[test]
fn a_single_target_is_preselected_and_an_unknown_one_is_not() {
    let mut flow = sample_flow();
    let view = to_json(request_form_modal(&flow, Some("nope")));
    assert!(block(&view, "target")["element"].get("initial_option").is_none());
    flow.targets.truncate(1);
    let view = to_json(request_form_modal(&flow, None));
    assert_eq!(block(&view, "target")["element"]["initial_option"]["value"], "prod-admin");
}

#[test]
fn field_names_map_to_block_ids_and_back() {
    assert_eq!(block_id_of_field("target"), "target");
    assert_eq!(block_id_of_field("duration"), "duration");
    assert_eq!(block_id_of_field("reason"), "reason");
    assert_eq!(block_id_of_field("ticket"), "field:ticket");
    assert_eq!(field_of_block_id("field:ticket"), Some("ticket"));
    assert_eq!(field_of_block_id("target"), None);
}

#[test]
fn a_submitted_form_reads_back_as_core_input() {
    let flow = sample_flow();
    let state = json!({
        "target": {"target": {"type": "static_select", "selected_option": {"value": "prod-admin"}}},
        "duration": {"duration": {"type": "static_select", "selected_option": {"value": "1h"}}},
        "reason": {"reason": {"type": "plain_text_input", "value": "incident"}},
        "field:urgency": {"field:urgency": {"type": "static_select", "selected_option": {"value": "Normal"}}},
        "field:notes": {"field:notes": {"type": "plain_text_input", "value": null}},
        "field:count": {"field:count": {"type": "number_input", "value": "3"}},
        "field:ack": {"field:ack": {"type": "checkboxes", "selected_options": []}},
        "field:when": {"field:when": {"type": "datepicker", "selected_date": "2026-01-31"}},
        "field:buddy": {"field:buddy": {"type": "users_select", "selected_user": "U0BUDDY"}},
        "field:ticket": {"field:ticket": {"type": "external_select", "selected_option": {"value": "INC-1"}}}
    });
    let payload = json!({"type": "view_submission", "user": {"id": "U1"},
        "view": {"id": "V1", "callback_id": "request:aws-prod", "private_metadata": "aws-prod", "state": {"values": state}}});
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    let crate::payload::Interaction::ViewSubmission(submission) = parse_interaction(body.as_bytes()).unwrap() else {
        panic!()
    };
    let input = form_input(&flow, &submission.view);
    assert_eq!(input.flow, "aws-prod");
    assert_eq!(input.target.as_deref(), Some("prod-admin"));
    assert_eq!(input.duration.as_deref(), Some("1h"));
    assert_eq!(input.reason, "incident");
    let expected: BTreeMap<String, Value> = [
        ("urgency", json!("Normal")),
        ("count", json!("3")),
        ("ack", json!(false)),
        ("when", json!("2026-01-31")),
        ("buddy", json!("U0BUDDY")),
        ("ticket", json!("INC-1")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(input.fields, expected);
}

#[test]
fn the_flow_picker_lists_flows_in_a_static_select() {
    let a = sample_flow();
    let mut b = sample_flow();
    b.name = "sandbox".into();
    b.label = "Sandbox".into();
    let view = to_json(flow_picker_modal(&[&a, &b]));
    assert_eq!(view["callback_id"], FLOW_PICKER_CALLBACK);
    let select = &block(&view, FLOW_BLOCK)["element"];
    assert_eq!(select["type"], "static_select");
    assert_eq!(select["action_id"], FLOW_BLOCK);
    let values: Vec<_> = select["options"].as_array().unwrap().iter().map(|o| o["value"].clone()).collect();
    assert_eq!(values, [json!("aws-prod"), json!("sandbox")]);
    assert_within_limits(&view, limits::VIEW_BLOCKS);
}

fn card_json(request: &AccessRequest, flow: &Flow) -> Value {
    to_json(approval_card(request, flow))
}

/// The visible texts of a view's or message's buttons, in order.
fn button_texts(view: &Value) -> Vec<String> {
    buttons(view).iter().map(|b| b["text"]["text"].as_str().unwrap_or_default().to_string()).collect()
}

fn buttons(card: &Value) -> Vec<Value> {
    card["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap().clone())
        .collect()
}

#[test]
fn a_pending_card_shows_the_request_and_both_buttons() {
    let flow = sample_flow();
    let request = request_for(&flow, Status::Pending);
    let card = card_json(&request, &flow);
    let text = card.to_string();
    assert_eq!(card["blocks"][0]["type"], "header");
    assert!(text.contains("<@U0CAROL>"), "requester mention");
    assert!(text.contains("AWS Production") && text.contains("Prod admin") && text.contains("1 hour"));
    assert!(text.contains("incident &lt;!channel&gt; 42"), "reason escaped: {text}");
    assert!(
        text.contains("*Urgency:* Emergency") && text.contains("<@U0BUDDY>") && text.contains("*Acknowledged:* Yes")
    );
    assert!(text.contains(request.id().as_str()));
    assert!(text.contains("Waiting for approval"));
    let buttons = buttons(&card);
    assert_eq!(button_texts(&card), ["Approve", "Approve with changes", "Deny"]);
    assert_eq!(buttons[0]["action_id"], ACTION_APPROVE);
    assert_eq!(buttons[0]["style"], "primary");
    assert_eq!(buttons[1]["action_id"], ACTION_APPROVE_WITH_CHANGES);
    assert_eq!(buttons[2]["action_id"], ACTION_DENY);
    assert_eq!(buttons[2]["style"], "danger");
    assert!(buttons.iter().all(|b| b["value"] == request.id().as_str()));
    assert_within_limits(&card, limits::MESSAGE_BLOCKS);
}

#[test]
fn a_decided_card_shows_the_outcome_and_who_decided_without_buttons() {
    let flow = sample_flow();
    let decided = building(&flow, Status::Denied).decided_by(bob()).decision_note(Some("not during the freeze".into()));
    let request = decided.clone().build();
    let card = card_json(&request, &flow);
    let text = card.to_string();
    assert!(text.contains("Denied by <@U0BOB>: not during the freeze"), "{text}");
    assert!(buttons(&card).is_empty());

    let request = decided.status(Status::Active).expires_at(Utc::now()).build();
    let text = card_json(&request, &flow).to_string();
    assert!(text.contains("Approved by <@U0BOB>") && text.contains("access active until"));
    let card = card_json(&request, &flow);
    assert_eq!(button_texts(&card), ["Revoke now"], "an active grant can be revoked from its card");
    assert_eq!(buttons(&card)[0]["action_id"], ACTION_REVOKE);
}

#[test]
fn a_card_needing_more_approvals_counts_them() {
    let mut flow = sample_flow();
    flow.approvers.required = 2;
    let request = building(&flow, Status::Pending).approval(bob(), Utc::now()).build();
    let card = card_json(&request, &flow);
    assert!(card.to_string().contains("1 of 2 approvals (approved by <@U0BOB>)"));
    assert_eq!(buttons(&card).len(), 3);
}

#[test]
fn the_deny_modal_carries_the_request_id() {
    let flow = sample_flow();
    let id = RequestId::generate();
    let view = to_json(deny_reason_modal(&id, &flow));
    assert_eq!(view["callback_id"], DENY_CALLBACK);
    assert_eq!(view["private_metadata"], id.as_str());
    assert_eq!(block(&view, DENY_REASON_BLOCK)["optional"], true);
    assert_eq!(block(&view, DENY_REASON_BLOCK)["element"]["action_id"], DENY_REASON_BLOCK);
    assert_within_limits(&view, limits::VIEW_BLOCKS);
}

#[test]
fn every_requester_update_has_a_message() {
    let flow = sample_flow();
    let denied = building(&flow, Status::Denied).decided_by(bob()).decision_note(Some("no".into()));
    let request = denied.clone().build();
    let denied_text = requester_update_text(&request, &flow, RequesterUpdate::Denied);
    assert!(denied_text.contains("denied by <@U0BOB>: no"), "{denied_text}");
    let denied = denied.expires_at(Utc::now());
    let request = denied.clone().build();
    use RequesterUpdate::*;
    for update in
        [Submitted, Approved, Denied, TimedOut, Cancelled, Active, Failed, Extended, ExpiringSoon, Expired, Revoked]
    {
        let text = requester_update_text(&request, &flow, update);
        assert!(text.contains("AWS Production"), "{update:?}: {text}");
        assert!(chars(&text) <= limits::SECTION_TEXT);
    }
    assert!(requester_update_text(&request, &flow, Submitted).contains(request.id().as_str()));
    assert!(requester_update_text(&request, &flow, Active).contains("until <!date^"));
    assert!(requester_update_text(&request, &flow, ExpiringSoon).contains("expires soon, at <!date^"));

    let reminder = approver_reminder_text(&request, &flow);
    assert!(
        reminder.contains(request.id().as_str()) && reminder.contains("<@") && reminder.contains("<!date^"),
        "{reminder}"
    );
    let denied = denied.slack_id(None);
    let request = denied.clone().build();
    assert!(approver_reminder_text(&request, &flow).contains(request.requester().email.as_str()));
    let request = denied.reason("x".repeat(5_000)).build();
    assert!(chars(&approver_reminder_text(&request, &flow)) <= limits::SECTION_TEXT);
}

#[test]
fn whoami_help_audit_and_home() {
    let flow = sample_flow();
    let who = Identity {
        email: "alice@example.com".parse().unwrap(),
        slack_id: Some("U1".into()),
        name: None,
        role: Role::Admin,
    };
    let text = whoami_text(&who, &[&flow]);
    assert!(text.contains("alice@example.com") && text.contains("*admin*") && text.contains("`aws-prod`"));
    assert!(help_text("/access").contains("/access whoami"));

    let request = request_for(&flow, Status::Pending);
    let event = airlock_core::AuditEvent::of(
        &request,
        Actor::User { email: "carol@example.com".parse().unwrap(), slack_id: Some("U0CAROL".into()) },
        airlock_core::AuditAction::Submitted,
        None,
        None,
    );
    let line = audit_line(&request, &event, Some(&flow));
    assert!(
        line.contains("Request Submitted") && line.contains(request.id().as_str()) && !line.contains("<@"),
        "{line}"
    );

    let config: Config = Config::from_yaml(airlock_core::config::EXAMPLE_CONFIG).unwrap();
    let home = to_json(home_view(&config, &home_of(vec![request.clone()], vec![], vec![], vec![], false)));
    assert_eq!(home["type"], "home");
    let text = home.to_string();
    assert!(text.contains(ACTION_OPEN_PICKER) && text.contains(request.id().as_str()));
    let empty = to_json(home_view(&config, &home_of(vec![], vec![], vec![], vec![], false))).to_string();
    assert!(empty.contains("no pending requests") && !empty.contains("Waiting for your decision"));
}

#[test]
fn suggestion_options_are_capped_and_trimmed() {
    let options: Vec<SelectOption> = (0..150)
        .map(|i| SelectOption { value: format!("v{i}"), label: "x".repeat(200) })
        .chain([SelectOption { value: "y".repeat(151), label: "too long".into() }])
        .collect();
    let answer = suggestion_options(&options);
    let list = answer["options"].as_array().unwrap();
    assert_eq!(list.len(), 100);
    walk(&answer);
    assert_eq!(
        suggestion_options(&[SelectOption { value: "a".into(), label: "".into() }])["options"][0]["text"]["text"],
        "a"
    );
}

/// Short or very long text (a random piece repeated, so generation stays cheap).
fn long_text() -> impl Strategy<Value = String> {
    ("[a-zé<>&* ]{1,12}", prop_oneof![1usize..4, 10usize..40, 300usize..700]).prop_map(|(s, n)| s.repeat(n))
}

fn field_spec() -> impl Strategy<Value = FieldSpec> {
    let kinds = proptest::sample::select(vec![
        FieldType::String,
        FieldType::Text,
        FieldType::Int,
        FieldType::Bool,
        FieldType::Date,
        FieldType::User,
        FieldType::Select,
    ]);
    (
        "[a-z]{1,64}",
        long_text(),
        kinds,
        prop_oneof![proptest::collection::vec(long_text(), 0..3), proptest::collection::vec("[a-z]{1,8}", 95..130)],
        any::<bool>(),
    )
        .prop_map(|(name, label, kind, allowed, prefetch)| FieldSpec {
            name,
            label,
            field_type: kind,
            required: true,
            allowed_values: allowed,
            prefetch: (prefetch && kind == FieldType::Select).then(|| Prefetch::Url("https://x.example".into())),
        })
}

fn any_flow() -> impl Strategy<Value = Flow> {
    let targets = proptest::collection::vec(("[a-z0-9-]{1,64}", long_text()), 1..130);
    let fields = proptest::collection::vec(field_spec(), 0..120);
    let durations = proptest::collection::vec(1u64..=366 * 86_400, 1..130);
    (long_text(), targets, fields, durations, "[a-z0-9-]{1,64}").prop_map(
        |(label, targets, fields, durations, name)| {
            let mut flow =
                flow_with(&label, targets.into_iter().map(|(n, l)| target(&n, &l)).collect(), fields, durations);
            flow.name = name;
            flow.description = flow.label.repeat(3);
            flow
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn forms_and_pickers_stay_within_slacks_limits(flow in any_flow(), preselect in proptest::option::of("[a-z0-9-]{1,64}")) {
        assert_within_limits(&to_json(request_form_modal(&flow, preselect.as_deref())), limits::VIEW_BLOCKS);
        let many: Vec<&Flow> = std::iter::repeat_n(&flow, 130).collect();
        assert_within_limits(&to_json(flow_picker_modal(&many)), limits::VIEW_BLOCKS);
    }

    #[test]
    fn cards_and_messages_stay_within_slacks_limits(
        flow in any_flow(),
        reason in long_text(),
        values in proptest::collection::vec(long_text(), 0..60),
        note in proptest::option::of(long_text()),
        status in proptest::sample::select(Status::ALL.to_vec()),
    ) {
        let request = building(&flow, status)
            .reason(reason)
            .decision_note(note)
            .failure("x".repeat(5_000))
            .fields(flow.fields.iter().zip(values).map(|(f, v)| (f.name.clone(), json!(v))).collect())
            .build();
        let card = card_json(&request, &flow);
        assert_within_limits(&card, limits::MESSAGE_BLOCKS);
        prop_assert!(chars(card["text"].as_str().unwrap()) <= limits::MESSAGE_TEXT);
        let expected = match status {
            Status::Pending => 3,
            Status::Active => 1,
            _ => 0,
        };
        prop_assert_eq!(buttons(&card).len(), expected);
        assert_within_limits(&to_json(deny_reason_modal(request.id(), &flow)), limits::VIEW_BLOCKS);
        for update in [RequesterUpdate::Submitted, RequesterUpdate::Denied, RequesterUpdate::Failed] {
            prop_assert!(chars(&requester_update_text(&request, &flow, update)) <= limits::SECTION_TEXT);
        }
        let config = Config::from_yaml(airlock_core::config::EXAMPLE_CONFIG).unwrap();
        let many = vec![request.clone(); 120];
        let home = home_of(many.clone(), many.clone(), many.clone(), many, true);
        assert_within_limits(&to_json(home_view(&config, &home)), limits::VIEW_BLOCKS);
        assert_within_limits(&to_json(approve_with_changes_modal(&request, &flow)), limits::VIEW_BLOCKS);
        for update in [RequesterUpdate::Submitted, RequesterUpdate::Active, RequesterUpdate::Revoked] {
            assert_within_limits(&to_json(requester_update_message(&request, &flow, update)), limits::MESSAGE_BLOCKS);
        }
        prop_assert!(chars(&unchanged_text(&request, &flow)) <= limits::SECTION_TEXT);
    }
}

#[test]
fn a_flow_with_several_targets_offers_a_multi_select_and_reads_back_every_choice() {
    let mut flow = sample_flow();
    flow.multiple_targets = true;
    let view = to_json(request_form_modal(&flow, Some("Prod read-only")));
    let select = &block(&view, "target")["element"];
    assert_eq!((select["type"].as_str(), select["action_id"].as_str()), (Some("multi_static_select"), Some("target")));
    assert_eq!(select["max_selected_items"], 20);
    assert_eq!(select["initial_options"][0]["value"], "prod-readonly", "the target named after the flow is chosen");
    assert_within_limits(&view, limits::VIEW_BLOCKS);
    assert_eq!(block_id_of_field("targets"), "target", "errors about the targets show on the target input");

    let state = json!({
        "target": {"target": {"type": "multi_static_select",
                              "selected_options": [{"value": "prod-readonly"}, {"value": "prod-admin"}]}},
        "duration": {"duration": {"type": "static_select", "selected_option": {"value": "1h"}}},
        "reason": {"reason": {"type": "plain_text_input", "value": "incident"}}
    });
    let payload = json!({"type": "view_submission", "user": {"id": "U1"},
        "view": {"id": "V1", "callback_id": "request:aws-prod", "private_metadata": "aws-prod", "state": {"values": state}}});
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    let crate::payload::Interaction::ViewSubmission(submission) = parse_interaction(body.as_bytes()).unwrap() else {
        panic!()
    };
    let input = form_input(&flow, &submission.view);
    assert_eq!((input.target, input.targets), (None, vec!["prod-readonly".to_string(), "prod-admin".to_string()]));
}

/// An active request of `flow` for its first two targets: the first granted, the second refused.
fn partly_granted(flow: &Flow) -> AccessRequest {
    let now = Utc::now();
    building(flow, Status::Active)
        .granted_at(now)
        .expires_at(now + chrono::Duration::hours(1))
        .target(&flow.targets[1].name, "record:prod-readonly")
        .failure("403 <forbidden>")
        .build()
}

#[test]
fn cards_and_messages_list_several_targets_with_where_each_stands() {
    let flow = sample_flow();
    let request = partly_granted(&flow);
    let card = card_json(&request, &flow);
    let text = card.to_string();
    assert!(text.contains("*Targets*\\nProd admin, Prod read-only"), "{text}");
    assert!(text.contains("• Prod admin: active\\n• Prod read-only: failed: 403 &lt;forbidden&gt;"), "{text}");
    assert_within_limits(&card, limits::MESSAGE_BLOCKS);
    let active = requester_update_text(&request, &flow, RequesterUpdate::Active);
    assert!(active.contains("Prod admin, Prod read-only"), "{active}");
    assert!(active.contains("Not granted: Prod read-only (403 &lt;forbidden&gt;)"), "{active}");

    let one = card_json(&request_for(&flow, Status::Active), &flow).to_string();
    assert!(one.contains("*Target*\\nProd admin") && !one.contains("• Prod admin"), "one target, as before: {one}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn several_targets_stay_within_slacks_limits(flow in any_flow(), status in proptest::sample::select(Status::ALL.to_vec())) {
        let mut multi = flow.clone();
        multi.multiple_targets = true;
        let preselect = flow.targets.last().map(|t| t.name.clone());
        assert_within_limits(&to_json(request_form_modal(&multi, preselect.as_deref())), limits::VIEW_BLOCKS);
        let mut request = building(&flow, status);
        for (i, target) in flow.targets.iter().enumerate().skip(1).take(19) {
            request = request.target(&target.name, &format!("k{i}")).failure("y".repeat(3_000));
        }
        let request = request.build();
        let card = card_json(&request, &flow);
        assert_within_limits(&card, limits::MESSAGE_BLOCKS);
        prop_assert!(chars(card["text"].as_str().unwrap()) <= limits::MESSAGE_TEXT);
        for update in [RequesterUpdate::Active, RequesterUpdate::Failed, RequesterUpdate::Expired] {
            prop_assert!(chars(&requester_update_text(&request, &flow, update)) <= limits::SECTION_TEXT);
        }
    }
}

/// A Home for Carol (a member) at `now`.
fn home_of(
    pending: Vec<AccessRequest>,
    active: Vec<AccessRequest>,
    ended: Vec<AccessRequest>,
    to_decide: Vec<AccessRequest>,
    is_approver: bool,
) -> Home {
    let who = Identity {
        email: "carol@example.com".parse().unwrap(),
        slack_id: Some("U0CAROL".into()),
        name: None,
        role: Role::Member,
    };
    Home { who, at: Utc::now(), pending, active, ended, to_decide, is_approver }
}

#[test]
fn the_home_shows_each_list_with_its_buttons() {
    let config = Config::from_yaml(airlock_core::config::EXAMPLE_CONFIG).unwrap();
    let flow = &config.flows[0];
    let now = Utc::now();
    let pending = request_for(flow, Status::Pending);
    let active = building(flow, Status::Active)
        .decided_by(bob())
        .granted_at(now)
        .expires_at(now + chrono::Duration::minutes(125))
        .build();
    let ended = building(flow, Status::Cancelled).decided_by(bob()).build();
    let theirs = building(flow, Status::Pending).slack_id(Some("U0DAVE")).build();
    let mut home =
        home_of(vec![pending.clone()], vec![active.clone()], vec![ended.clone()], vec![theirs.clone()], true);
    home.at = now;
    let view = to_json(home_view(&config, &home));
    assert_within_limits(&view, limits::VIEW_BLOCKS);
    assert_eq!(
        button_texts(&view),
        ["Request access", "Approve", "Approve with changes", "Deny", "Cancel request", "Revoke now", "Extend"]
    );
    let ids: Vec<(String, String)> = buttons(&view)
        .iter()
        .map(|b| (b["action_id"].as_str().unwrap().to_string(), b["value"].as_str().unwrap_or_default().to_string()))
        .collect();
    let by = |action: &str| ids.iter().find(|(a, _)| a == action).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(by(ACTION_APPROVE), theirs.id().as_str());
    assert_eq!(by(ACTION_CANCEL), pending.id().as_str());
    assert_eq!(by(ACTION_REVOKE), active.id().as_str());
    assert_eq!(by(ACTION_EXTEND), active.id().as_str());
    let text = view.to_string();
    assert!(text.contains("Waiting for your decision* (1)") && text.contains("<@U0DAVE> asks for"), "{text}");
    assert!(text.contains("2 h 5 min left"), "time left: {text}");
    assert!(text.contains("Recently ended") && text.contains("Cancelled by <@U0BOB>"), "{text}");

    // Not an approver: no decision section at all.
    let view = to_json(home_view(&config, &home_of(vec![], vec![], vec![], vec![], false)));
    assert_eq!(button_texts(&view), ["Request access"]);
    assert!(!view.to_string().contains("Waiting for your decision"));
}

#[test]
fn a_long_home_shows_counts_and_the_most_recent_within_100_blocks() {
    let config = Config::from_yaml(airlock_core::config::EXAMPLE_CONFIG).unwrap();
    let flow = &config.flows[0];
    let many = |status| (0..60).map(|_| request_for(flow, status)).collect::<Vec<_>>();
    let active: Vec<AccessRequest> =
        (0..60).map(|_| building(flow, Status::Active).expires_at(Utc::now()).build()).collect();
    let home = home_of(many(Status::Pending), active, many(Status::Expired), many(Status::Pending), true);
    let view = to_json(home_view(&config, &home));
    assert_within_limits(&view, limits::VIEW_BLOCKS);
    let text = view.to_string();
    assert!(text.contains("Waiting for your decision* (60)") && text.contains("Your pending requests* (60)"));
    assert!(text.contains("and 45 more") && text.contains("and 50 more"), "{text}");
    // The shown entries are the first of each list (the service gives them newest first).
    assert!(text.contains(home.to_decide[0].id().as_str()) && !text.contains(home.to_decide[59].id().as_str()));
}

#[test]
fn the_requester_dm_offers_cancel_while_pending_and_revoke_while_active() {
    let flow = sample_flow();
    let pending = request_for(&flow, Status::Pending);
    let submitted = to_json(requester_update_message(&pending, &flow, RequesterUpdate::Submitted));
    assert_eq!(button_texts(&submitted), ["Cancel request"]);
    assert_eq!(buttons(&submitted)[0]["action_id"], ACTION_CANCEL);
    assert_eq!(buttons(&submitted)[0]["value"], pending.id().as_str());
    assert!(text_of(&submitted).contains("was submitted"), "the DM keeps its text for notifications");

    let cancelled = building(&flow, Status::Cancelled).decided_by(bob()).build();
    let late = to_json(requester_update_message(&cancelled, &flow, RequesterUpdate::Submitted));
    assert!(button_texts(&late).is_empty(), "no Cancel on a request that moved on");
    let told = requester_update_text(&cancelled, &flow, RequesterUpdate::Cancelled);
    assert!(told.contains("cancelled by <@U0BOB>"), "{told}");

    let active = building(&flow, Status::Active).decided_by(bob()).expires_at(Utc::now()).build();
    let dm = to_json(requester_update_message(&active, &flow, RequesterUpdate::Active));
    assert_eq!(button_texts(&dm), ["Revoke now", "Extend"]);
    assert_eq!(buttons(&dm)[0]["action_id"], ACTION_REVOKE);
    assert_eq!(buttons(&dm)[1]["action_id"], ACTION_EXTEND);
    assert_eq!(buttons(&dm)[1]["value"], active.id().as_str());
    assert!(button_texts(&to_json(requester_update_message(&active, &flow, RequesterUpdate::Approved))).is_empty());
}

#[test]
fn a_cancelled_or_revoked_card_says_who_and_has_no_decision_buttons() {
    let flow = sample_flow();
    let alice = Actor::User { email: "alice@example.com".parse().unwrap(), slack_id: Some("U0ALICE".into()) };
    let cancelled = building(&flow, Status::Cancelled).decided_by(alice.clone()).build();
    let card = card_json(&cancelled, &flow);
    assert!(card.to_string().contains("Cancelled by <@U0ALICE>"));
    assert!(buttons(&card).is_empty());
    assert!(unchanged_text(&cancelled, &flow).contains("Cancelled by <@U0ALICE>"));

    let now = Utc::now();
    let mut active = building(&flow, Status::Pending).build();
    active.approve(bob(), 1, None, None, now).unwrap();
    active.activate("prod-admin", now, false, now).unwrap();
    active.revoke(alice, None, now).unwrap();
    let card = card_json(&active, &flow);
    let text = card.to_string();
    assert!(text.contains("access revoked early by <@U0ALICE> at <!date^"), "{text}");
    assert!(buttons(&card).is_empty());
    let dm = requester_update_text(&active, &flow, RequesterUpdate::Revoked);
    assert!(dm.contains("revoked by <@U0ALICE> at <!date^"), "{dm}");
}

#[test]
fn approve_with_changes_offers_the_asked_duration_and_shorter_ones_only() {
    let flow = sample_flow(); // 15m, 1h, 4h
    let request = request_for(&flow, Status::Pending); // asks for 1h
    let view = to_json(approve_with_changes_modal(&request, &flow));
    assert_within_limits(&view, limits::VIEW_BLOCKS);
    assert_eq!(view["callback_id"], CHANGES_CALLBACK);
    assert_eq!(view["private_metadata"], request.id().as_str());
    let select = &block(&view, CHANGES_DURATION_BLOCK)["element"];
    assert_eq!(select["action_id"], CHANGES_DURATION_BLOCK);
    let values: Vec<&str> =
        select["options"].as_array().unwrap().iter().map(|o| o["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["1h", "15m"], "never longer than asked");
    assert_eq!(select["initial_option"]["value"], "1h");
    assert_eq!(block(&view, CHANGES_COMMENT_BLOCK)["optional"], true);

    // Approved with changes: the card, the DM and the note show it.
    let mut approved = request.clone();
    let now = Utc::now();
    let event =
        approved.approve(bob(), 1, Some(GrantDuration::from_secs(900)), Some("15 minutes is enough".into()), now);
    assert!(event.unwrap().detail.unwrap().contains("duration shortened to 15m (asked: 1h): 15 minutes is enough"));
    let card = card_json(&approved, &flow).to_string();
    assert!(card.contains("15 minutes (asked: 1 hour)"), "{card}");
    assert!(card.contains("with changes (15 minutes instead of 1 hour): 15 minutes is enough"), "{card}");
    let dm = requester_update_text(&approved, &flow, RequesterUpdate::Approved);
    assert!(dm.contains("with changes (15 minutes instead of 1 hour): 15 minutes is enough"), "{dm}");
}

fn carol() -> Actor {
    Actor::User { email: "carol@example.com".parse().unwrap(), slack_id: Some("U0CAROL".into()) }
}

/// Carol's active grant of `flow`, ending in 30 minutes.
fn active_grant(flow: &Flow) -> AccessRequest {
    let now = Utc::now();
    building(flow, Status::Active)
        .decided_by(bob())
        .granted_at(now)
        .expires_at(now + chrono::Duration::minutes(30))
        .build()
}

fn limits_of(flow: &Flow) -> airlock_core::request::ExtensionLimits {
    airlock_core::request::ExtensionLimits { max: flow.extensions.max, max_added: flow.max_duration }
}

/// `request` with an extension of `secs` asked for by Carol.
fn asking(mut request: AccessRequest, flow: &Flow, secs: u64) -> AccessRequest {
    let added = GrantDuration::from_secs(secs);
    request
        .ask_extension(carol(), added, "the migration <!here> runs late".into(), limits_of(flow), Utc::now())
        .unwrap();
    request
}

fn dm_buttons(request: &AccessRequest, flow: &Flow, update: RequesterUpdate) -> Vec<String> {
    button_texts(&to_json(requester_update_message(request, flow, update)))
}

#[test]
fn extend_is_offered_on_the_dms_while_the_flow_allows_another_extension() {
    use RequesterUpdate::*;
    let flow = sample_flow(); // extensions: max 1
    let active = active_grant(&flow);
    assert!(extension_refusal(&active, &flow).is_none());
    assert_eq!(dm_buttons(&active, &flow, Active), ["Revoke now", "Extend"]);
    let warning = to_json(requester_update_message(&active, &flow, ExpiringSoon));
    assert_eq!(button_texts(&warning), ["Extend"]);
    assert_eq!(buttons(&warning)[0]["action_id"], ACTION_EXTEND);
    assert_eq!(buttons(&warning)[0]["value"], active.id().as_str());
    assert!(text_of(&warning).contains("Click Extend"), "{warning}");

    // One waiting: no second Extend anywhere.
    let waiting = asking(active.clone(), &flow, 3_600);
    assert_eq!(extension_refusal(&waiting, &flow), Some(airlock_core::error::GrantChangeError::ExtensionPending));
    assert_eq!(dm_buttons(&waiting, &flow, Active), ["Revoke now"]);
    assert!(dm_buttons(&waiting, &flow, ExpiringSoon).is_empty());
    let asked = requester_update_text(&waiting, &flow, ExtensionRequested);
    assert!(asked.contains("extend your access") && asked.contains("by 1h"), "{asked}");

    // A denied extension does not count: Extend comes back.
    let mut denied = waiting.clone();
    denied.deny_extension(bob(), Some("not tonight".into()), Utc::now()).unwrap();
    assert_eq!(dm_buttons(&denied, &flow, ExpiringSoon), ["Extend"]);
    let told = requester_update_text(&denied, &flow, ExtensionDenied);
    assert!(told.contains("denied by <@U0BOB>: not tonight") && told.contains("still ends at <!date^"), "{told}");

    // Approved: the limit of 1 is reached, the DM says so by offering nothing more.
    let mut extended = waiting.clone();
    extended.approve_extension(bob(), 1, None, Utc::now()).unwrap();
    assert!(dm_buttons(&extended, &flow, Extended).is_empty());
    let warning = requester_update_text(&extended, &flow, ExpiringSoon);
    assert!(warning.contains("Request it again if you need longer"), "{warning}");
    let refusal = extension_refusal(&extended, &flow).unwrap().to_string();
    assert!(refusal.contains("already extended once"), "{refusal}");

    // A flow allowing two: the "extended" DM offers the next one.
    let mut two = sample_flow();
    two.extensions.max = 2;
    let mut extended = asking(active_grant(&two), &two, 900);
    extended.approve_extension(bob(), 1, None, Utc::now()).unwrap();
    let dm = to_json(requester_update_message(&extended, &two, Extended));
    assert_eq!(button_texts(&dm), ["Extend"]);
    assert!(text_of(&dm).contains("was extended until <!date^"), "{dm}");

    // Extensions off: never offered, and the refusal says so.
    let mut off = sample_flow();
    off.extensions.max = 0;
    let active = active_grant(&off);
    assert_eq!(dm_buttons(&active, &off, Active), ["Revoke now"]);
    assert!(dm_buttons(&active, &off, ExpiringSoon).is_empty());
    assert!(extension_refusal(&active, &off).unwrap().to_string().contains("cannot be extended"));

    // Not active: nothing to extend.
    for status in [Status::Pending, Status::Approved, Status::Expired, Status::Revoked] {
        let request = building(&flow, status).expires_at(Utc::now()).build();
        assert_eq!(
            extension_refusal(&request, &flow),
            Some(airlock_core::error::GrantChangeError::NotActive(status)),
            "{status}"
        );
        for update in [Active, ExpiringSoon, Extended] {
            assert!(!dm_buttons(&request, &flow, update).contains(&"Extend".to_string()), "{status} {update:?}");
        }
    }
}

#[test]
fn the_extend_modal_offers_the_flows_durations_up_to_its_maximum() {
    let mut flow = sample_flow(); // 15m, 1h, 4h; max 4h
    flow.durations.push(GrantDuration::from_secs(86_400));
    let request = active_grant(&flow);
    let view = to_json(extend_modal(&request, &flow));
    assert_within_limits(&view, limits::VIEW_BLOCKS);
    assert_eq!(view["callback_id"], EXTEND_CALLBACK);
    assert_eq!(view["private_metadata"], request.id().as_str());
    assert_eq!(view["title"]["text"], "Extend access");
    let select = &block(&view, EXTEND_DURATION_BLOCK)["element"];
    assert_eq!(select["action_id"], EXTEND_DURATION_BLOCK);
    let values: Vec<&str> =
        select["options"].as_array().unwrap().iter().map(|o| o["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["15m", "1h", "4h"], "never more than the flow's max_duration");
    assert_eq!(select["initial_option"]["value"], "15m");
    assert_eq!(block(&view, EXTEND_REASON_BLOCK)["element"]["action_id"], EXTEND_REASON_BLOCK);
    assert!(block(&view, EXTEND_REASON_BLOCK).get("optional").is_none_or(|o| o == false), "a reason is required");
    // Every value offered reads back as the duration the service gets.
    for value in values {
        assert!(GrantDuration::parse_or_seconds(value).unwrap() <= flow.max_duration);
    }
}

#[test]
fn the_extension_card_has_its_buttons_while_pending_and_says_who_decided() {
    let flow = sample_flow();
    let request = asking(active_grant(&flow), &flow, 3_600);
    let extension = request.pending_extension().unwrap();
    let card = to_json(extension_card(&request, extension, &flow));
    assert_within_limits(&card, limits::MESSAGE_BLOCKS);
    assert_eq!(button_texts(&card), ["Approve extension", "Deny extension"]);
    let card_buttons = buttons(&card);
    let ids: Vec<(&str, &str)> =
        card_buttons.iter().map(|b| (b["action_id"].as_str().unwrap(), b["value"].as_str().unwrap())).collect();
    assert_eq!(
        ids,
        [(ACTION_APPROVE_EXTENSION, request.id().as_str()), (ACTION_DENY_EXTENSION, request.id().as_str())]
    );
    let text = card.to_string();
    assert!(text.contains(&format!("Extends request `{}`", request.id())), "names the original request: {text}");
    assert!(text.contains("1 hour") && text.contains("Extension #1"), "the added time: {text}");
    assert!(!text.contains("<!here>"), "the reason is escaped: {text}");

    let mut approved = request.clone();
    approved.approve_extension(bob(), 1, Some("go ahead".into()), Utc::now()).unwrap();
    let card = to_json(extension_card(&approved, &approved.extensions()[0], &flow));
    assert!(buttons(&card).is_empty());
    assert!(card.to_string().contains("Extended by <@U0BOB>: access now ends <!date^"), "{card}");
    let unchanged = extension_unchanged_text(&approved, &flow);
    assert!(unchanged.contains("already approved by <@U0BOB>") && unchanged.contains("ends <!date^"), "{unchanged}");

    let mut denied = request.clone();
    denied.deny_extension(bob(), None, Utc::now()).unwrap();
    let card = to_json(extension_card(&denied, &denied.extensions()[0], &flow));
    assert!(buttons(&card).is_empty());
    assert!(card.to_string().contains("Denied by <@U0BOB>"), "{card}");
    assert!(extension_unchanged_text(&denied, &flow).contains("already denied by <@U0BOB>"));

    // The grant ended before a decision: the click is told where the request stands.
    let mut revoked = request.clone();
    revoked.revoke(bob(), None, Utc::now()).unwrap();
    let unchanged = extension_unchanged_text(&revoked, &flow);
    assert!(unchanged.contains("already revoked"), "{unchanged}");
}

#[test]
fn the_home_offers_extend_only_when_the_grant_can_be_extended() {
    let config = Config::from_yaml(airlock_core::config::EXAMPLE_CONFIG).unwrap();
    let flow = &config.flows[0];
    let active = active_grant(flow);
    let waiting = asking(active_grant(flow), flow, flow.durations[0].as_secs());
    let view =
        to_json(home_view(&config, &home_of(vec![], vec![active.clone(), waiting.clone()], vec![], vec![], false)));
    assert_within_limits(&view, limits::VIEW_BLOCKS);
    let extend: Vec<String> = buttons(&view)
        .iter()
        .filter(|b| b["action_id"] == ACTION_EXTEND)
        .map(|b| b["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(extend, [active.id().to_string()], "no second Extend while one waits");
    assert!(view.to_string().contains("waiting for a decision"), "{view}");
    assert_eq!(button_texts(&view).iter().filter(|t| *t == "Revoke now").count(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn extension_views_stay_within_slacks_limits(flow in any_flow(), reason in long_text(), note in proptest::option::of(long_text())) {
        let mut request = active_grant(&flow);
        assert_within_limits(&to_json(extend_modal(&request, &flow)), limits::VIEW_BLOCKS);
        let added = extension_durations(&flow).first().copied().unwrap_or(flow.max_duration);
        let limits = airlock_core::request::ExtensionLimits { max: 1, max_added: flow.max_duration };
        request.ask_extension(carol(), added, reason, limits, Utc::now()).unwrap();
        let card = to_json(extension_card(&request, request.pending_extension().unwrap(), &flow));
        assert_within_limits(&card, limits::MESSAGE_BLOCKS);
        prop_assert!(chars(card["text"].as_str().unwrap()) <= limits::MESSAGE_TEXT);
        prop_assert_eq!(buttons(&card).len(), 2);
        request.deny_extension(bob(), note, Utc::now()).unwrap();
        let card = to_json(extension_card(&request, &request.extensions()[0], &flow));
        assert_within_limits(&card, limits::MESSAGE_BLOCKS);
        prop_assert!(chars(&extension_unchanged_text(&request, &flow)) <= limits::SECTION_TEXT);
        for update in [RequesterUpdate::ExtensionRequested, RequesterUpdate::ExtensionDenied, RequesterUpdate::ExpiringSoon, RequesterUpdate::Extended] {
            assert_within_limits(&to_json(requester_update_message(&request, &flow, update)), limits::MESSAGE_BLOCKS);
        }
    }
}

fn scoped_flow(max_accounts: usize, with_record: bool) -> Flow {
    let mut flow = sample_flow();
    let scope = airlock_core::flow::SsoScope {
        accounts: airlock_core::flow::AccountScope::Ou { ou: "ou-abcd-12345678".into(), recursive: true },
        permission_sets: vec!["ReadOnly".into()],
        exclude_accounts: Vec::new(),
        max_accounts,
        instance_arn: None,
    };
    let org = Target { name: "org".into(), label: "Organization".into(), kind: TargetKind::AwsSsoScope(scope) };
    flow.targets = if with_record { vec![target("sandbox", "Sandbox"), org] } else { vec![org] };
    flow
}

#[test]
fn a_target_that_lists_accounts_adds_searched_account_and_permission_set_selects() {
    let view = to_json(request_form_modal(&scoped_flow(3, false), None));
    assert_eq!(block_ids(&view)[..5], ["target", "accounts", "permission_set", "duration", "reason"]);
    let element = |id: &str| block(&view, id)["element"].clone();
    assert_eq!(element("accounts")["type"], "multi_external_select");
    assert_eq!(element("accounts")["max_selected_items"], 3);
    assert_eq!(element("accounts")["min_query_length"], 0);
    assert_eq!(element("permission_set")["type"], "external_select");
    assert!(block(&view, "accounts").get("optional").is_none_or(|o| o == false));
    assert_within_limits(&view, limits::VIEW_BLOCKS);

    let view = to_json(request_form_modal(&scoped_flow(1, true), None));
    assert_eq!(block(&view, "accounts")["element"]["type"], "external_select");
    assert_eq!(block(&view, "accounts")["optional"], true, "needed only when the target is chosen");
    assert_eq!(block_id_of_field("accounts"), "accounts");
    assert_eq!(block_id_of_field("permission_set"), "permission_set");
    assert_within_limits(&view, limits::VIEW_BLOCKS);
}

#[test]
fn the_chosen_accounts_and_permission_set_are_read_back() {
    let flow = scoped_flow(3, true);
    let state = json!({
        "target": {"target": {"type": "static_select", "selected_option": {"value": "org"}}},
        "accounts": {"accounts": {"type": "multi_external_select",
                                  "selected_options": [{"value": "111111111111"}, {"value": "222222222222"}]}},
        "permission_set": {"permission_set": {"type": "external_select", "selected_option": {"value": "ReadOnly"}}},
    });
    let payload = json!({"type": "view_submission", "user": {"id": "U1"},
        "view": {"id": "V1", "callback_id": "request:aws-prod", "private_metadata": "aws-prod", "state": {"values": state}}});
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    let crate::payload::Interaction::ViewSubmission(submission) = parse_interaction(body.as_bytes()).unwrap() else {
        panic!()
    };
    let input = form_input(&flow, &submission.view);
    assert_eq!(input.target.as_deref(), Some("org"));
    assert_eq!(input.accounts, ["111111111111", "222222222222"]);
    assert_eq!(input.permission_set.as_deref(), Some("ReadOnly"));
    assert_eq!(scoped_target(&flow, Some(&submission.view)).map(|t| t.name.as_str()), Some("org"));
    assert_eq!(scoped_target(&sample_flow(), None), None);
}
