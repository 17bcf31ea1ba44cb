//! SlackApp end to end over core's services: signed requests in real Slack shapes, the fake Slack
//! Web API behind the notifier and directory, and the testkit's in-memory fakes of the other ports.

use airlock_core::escalators::EscalatorSet;
use airlock_core::ports::{LogAuditSink, SystemClock};
use airlock_core::{AccessRequest, Airlock, Config, Deps, RequestId, Status};
use airlock_slack::{SlackApi, SlackApp, SlackDirectory, SlackNotifier, SlackReply, SlackRoute};
use airlock_testkit::fakes::{FixedOptions, MemoryStore, RecordingWorkflow};
use airlock_testkit::slack::*;
use chrono::Utc;
use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "test-signing-secret";
const WAIT: Duration = Duration::from_secs(10);

const CONFIG: &str = r#"
organization:
  primary_domain: example.com
  admins: [alice@example.com]
flows:
  - name: aws-prod
    label: AWS Production
    approvers:
      users: [bob@example.com]
      channel: C0APPROVALS
    durations: [15m, 1h]
    max_duration: 4h
    targets:
      - name: prod-admin
        label: Prod admin
        kind: record
      - name: prod-readonly
        label: Prod read-only
        kind: record
    fields:
      - name: ticket
        label: Ticket
        type: select
        prefetch: { url: https://tickets.internal/open }
      - name: count
        type: int
  - name: two-keys
    approvers:
      users: [bob@example.com, alice@example.com]
      required: 2
    max_duration: 1h
    targets:
      - name: vault
        kind: record
  - name: sre-only
    approvers:
      users: [bob@example.com]
    requesters:
      groups: [S0SRE]
    max_duration: 1h
    targets:
      - name: box
        kind: record
"#;

struct World {
    slack: FakeSlack,
    app: SlackApp,
    airlock: Airlock,
    deliverer: tokio::task::JoinHandle<()>,
}

impl Drop for World {
    fn drop(&mut self) {
        self.deliverer.abort();
    }
}

async fn world() -> World {
    let slack = FakeSlack::start(
        vec![
            FakeUser::new("U1", "alice@example.com", "Alice"),
            FakeUser::new("U2", "bob@example.com", "Bob"),
            FakeUser::new("U3", "carol@example.com", "Carol"),
            FakeUser::new("U4", "dave@example.com", "Dave"),
            FakeUser::new("U9", "mallory@elsewhere.example", "Mallory"),
        ],
        vec![("S0SRE".into(), vec!["U4".into()])],
    )
    .await;
    let api = Arc::new(SlackApi::new(&slack.base_url(), "xoxb-test").unwrap());
    let config = Config::from_yaml(CONFIG).unwrap();
    let store = Arc::new(MemoryStore::default());
    let deps = Deps {
        config: Arc::new(config.clone()),
        store: store.clone(),
        notifier: Arc::new(SlackNotifier::new(
            Arc::new(SlackApi::background(&slack.base_url(), "xoxb-test").unwrap()),
            config,
        )),
        escalator: Arc::new(EscalatorSet::new()),
        audit: Arc::new(LogAuditSink),
        directory: Arc::new(SlackDirectory::new(api.clone())),
        // Ticket options, filtered by the query.
        options: Arc::new(FixedOptions::new(&[
            ("INC-1", "Ticket INC-1"),
            ("INC-2", "Ticket INC-2"),
            ("CHG-7", "Ticket CHG-7"),
        ])),
        clock: Arc::new(SystemClock),
    };
    let airlock = Airlock::new(deps, Arc::new(RecordingWorkflow::default()));
    // The outbox deliverer, as the local runner runs it.
    let steps = airlock.steps();
    let deliverer = tokio::spawn(async move {
        loop {
            steps.deliver_notifications().await.expect("the outbox is readable");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    World { app: SlackApp::new(airlock.clone(), api, SECRET), airlock, deliverer, slack }
}

impl World {
    async fn send(&self, route: SlackRoute, body: &str) -> SlackReply {
        let content_type = if route == SlackRoute::Events { JSON } else { FORM };
        let headers = SlackSigner::new(SECRET).header_map(body.as_bytes(), content_type);
        self.app.handle(route, &headers, body.as_bytes()).await
    }

    async fn command(&self, user: &str, text: &str) -> SlackReply {
        self.send(SlackRoute::Commands, &slash_command_body("/access", text, user, &format!("trig-{user}"))).await
    }

    async fn submit(&self, user: &str, inputs: &[(&str, Input)]) -> SlackReply {
        self.send(SlackRoute::Interactions, &request_form_submission_body(user, "aws-prod", inputs)).await
    }

    async fn pending_request_of(&self, user: &str) -> AccessRequest {
        assert_eq!(self.submit(user, &valid_form()).await.json_body().unwrap(), json!({"response_action": "clear"}));
        let email = format!("{}@example.com", if user == "U3" { "carol" } else { "dave" });
        self.airlock.list_requests(&email, None, 1).await.unwrap().remove(0)
    }

    async fn status_of(&self, id: &RequestId) -> Status {
        self.airlock.get_request(id).await.unwrap().status()
    }
}

fn valid_form() -> Vec<(&'static str, Input)> {
    vec![
        ("target", Input::Select("prod-admin".into())),
        ("duration", Input::Select("1h".into())),
        ("reason", Input::Text("incident 42".into())),
        ("field:ticket", Input::Select("INC-1".into())),
        ("field:count", Input::Number("3".into())),
    ]
}

fn opened_view(call: &SlackCall) -> &Value {
    &call.body["view"]
}

#[tokio::test]
async fn unsigned_stale_or_forged_requests_are_refused_before_anything_else() {
    let w = world().await;
    let body = slash_command_body("/access", "", "U3", "t");
    let reply = w.app.handle(SlackRoute::Commands, &HeaderMap::new(), body.as_bytes()).await;
    assert_eq!(reply.status, 401);

    let signer = SlackSigner::new(SECRET);
    let mut stale = HeaderMap::new();
    for (name, value) in signer.headers_at(body.as_bytes(), Utc::now().timestamp() - 600) {
        stale.insert(name, HeaderValue::from_str(&value).unwrap());
    }
    let reply = w.app.handle(SlackRoute::Commands, &stale, body.as_bytes()).await;
    assert_eq!((reply.status, reply.body.as_str()), (401, "request timestamp is more than 5 minutes from now"));

    let forged = SlackSigner::new("wrong-secret").header_map(body.as_bytes(), FORM);
    assert_eq!(w.app.handle(SlackRoute::Interactions, &forged, body.as_bytes()).await.status, 401);
    assert!(w.slack.calls().is_empty(), "nothing done for unverified requests");
}

#[tokio::test]
async fn access_opens_the_picker_with_the_flows_the_user_may_request() {
    let w = world().await;
    assert_eq!(w.command("U3", "").await, SlackReply::ack());
    let call = w.slack.wait_for("views.open", |_| true, WAIT).await;
    assert_eq!(call.arg("trigger_id"), Some("trig-U3"));
    assert_eq!(opened_view(&call)["callback_id"], "flow_picker");
    let text = opened_view(&call).to_string();
    assert!(text.contains("aws-prod") && !text.contains("sre-only"), "carol is not in S0SRE: {text}");

    w.command("U4", "").await;
    let call = w.slack.wait_for("views.open", |c| c.arg("trigger_id") == Some("trig-U4"), WAIT).await;
    assert!(opened_view(&call).to_string().contains("sre-only"), "dave is in S0SRE");
}

#[tokio::test]
async fn access_with_a_flow_opens_its_form_and_an_unknown_flow_the_picker() {
    let w = world().await;
    w.command("U3", "aws-prod Prod read-only").await;
    w.command("U3", "AWS-PROD prod-readonly").await;
    let forms = w.slack.calls_to("views.open");
    let view = opened_view(&forms[1]);
    assert_eq!(view["callback_id"], "request:aws-prod");
    assert_eq!(view["private_metadata"], "aws-prod");
    assert!(view.to_string().contains(
        r#""initial_option":{"text":{"text":"Prod read-only","type":"plain_text"},"value":"prod-readonly"}"#
    ));

    w.command("U3", "nonsense").await;
    w.command("U3", "sre-only").await;
    let calls = w.slack.calls_to("views.open");
    assert_eq!(opened_view(&calls[2])["callback_id"], "flow_picker");
    assert_eq!(opened_view(&calls[3])["callback_id"], "flow_picker", "a flow carol may not request");
}

#[tokio::test]
async fn whoami_help_and_guests_get_ephemeral_answers() {
    let w = world().await;
    let whoami = w.command("U1", "whoami").await.json_body().unwrap();
    assert_eq!(whoami["response_type"], "ephemeral");
    let text = whoami["text"].as_str().unwrap();
    assert!(text.contains("alice@example.com") && text.contains("admin"), "{text}");

    let help = w.command("U9", "help").await.json_body().unwrap();
    assert!(help["text"].as_str().unwrap().contains("/access whoami"));

    let refusal = w.command("U9", "").await.json_body().unwrap();
    assert_eq!(refusal["response_type"], "ephemeral");
    assert!(refusal["text"].as_str().unwrap().contains("only members"));
    let unknown = w.command("U404", "").await.json_body().unwrap();
    assert!(unknown["text"].as_str().unwrap().contains("could not tell who you are"));
    assert!(w.slack.calls_to("views.open").is_empty());
}

#[tokio::test]
async fn the_picker_submission_turns_into_the_form() {
    let w = world().await;
    let reply = w.send(SlackRoute::Interactions, &flow_picker_submission_body("U3", "aws-prod")).await;
    let body = reply.json_body().unwrap();
    assert_eq!(body["response_action"], "update");
    assert_eq!(body["view"]["callback_id"], "request:aws-prod");
    assert_eq!(body["view"]["type"], "modal");
}

#[tokio::test]
async fn a_valid_form_is_submitted_and_the_modal_cleared() {
    let w = world().await;
    let request = w.pending_request_of("U3").await;
    assert_eq!(request.status(), Status::Pending);
    assert_eq!(request.target(), "prod-admin");
    assert_eq!(request.duration_secs(), 3_600);
    assert_eq!(request.fields()["ticket"], "INC-1");
    assert_eq!(request.fields()["count"], 3);
    assert_eq!(request.requester().slack_id.as_deref(), Some("U3"));
    let dm = w.slack.wait_for("chat.postMessage", |c| c.arg("channel") == Some("U3"), WAIT).await;
    assert!(dm.arg("text").unwrap().contains(request.id().as_str()));
}

#[tokio::test]
async fn invalid_forms_get_errors_on_their_blocks() {
    let w = world().await;
    let reply = w
        .submit(
            "U3",
            &[
                ("duration", Input::Select("9h".into())),
                ("reason", Input::Text("  ".into())),
                ("field:count", Input::Number("many".into())),
            ],
        )
        .await;
    let body = reply.json_body().unwrap();
    assert_eq!(body["response_action"], "errors");
    let errors = body["errors"].as_object().unwrap();
    let mut blocks: Vec<_> = errors.keys().cloned().collect();
    blocks.sort();
    assert_eq!(blocks, ["duration", "field:count", "reason", "target"]);

    w.pending_request_of("U3").await;
    // Another form (a new reason): the very same bytes again would be a replay, which creates nothing.
    let again = [valid_form(), vec![("reason", Input::Text("again".into()))]].concat();
    let duplicate = w.submit("U3", &again).await.json_body().unwrap();
    assert_eq!(duplicate["response_action"], "errors");
    assert!(duplicate["errors"]["target"].as_str().unwrap().contains("already requested"));
}

#[tokio::test]
async fn an_approver_click_approves_and_others_are_told_why_not() {
    let w = world().await;
    let request = w.pending_request_of("U3").await;
    let click = |user: &str, channel: &str| {
        block_actions_body(user, "approve", request.id().as_str(), channel, "1700000000.000001")
    };

    assert_eq!(w.send(SlackRoute::Interactions, &click("U4", "C0APPROVALS")).await, SlackReply::ack());
    let told = w.slack.wait_for("chat.postEphemeral", |c| c.arg("user") == Some("U4"), WAIT).await;
    assert_eq!(told.arg("channel"), Some("C0APPROVALS"));
    assert!(told.arg("text").unwrap().contains("not an approver"));
    assert_eq!(w.status_of(request.id()).await, Status::Pending);

    assert_eq!(w.send(SlackRoute::Interactions, &click("U2", "C0APPROVALS")).await, SlackReply::ack());
    assert_eq!(w.status_of(request.id()).await, Status::Approved);

    w.send(SlackRoute::Interactions, &click("U2", "DU2")).await;
    let told = w
        .slack
        .wait_for("chat.postMessage", |c| c.arg("channel") == Some("U2") && c.text().contains("already approved"), WAIT)
        .await;
    assert!(told.arg("text").unwrap().starts_with("Nothing changed"));
}

#[tokio::test]
async fn deny_asks_for_a_reason_then_denies() {
    let w = world().await;
    let request = w.pending_request_of("U3").await;
    let click =
        |user: &str| block_actions_body(user, "deny", request.id().as_str(), "C0APPROVALS", "1700000000.000001");

    w.send(SlackRoute::Interactions, &click("U3")).await;
    let told = w.slack.wait_for("chat.postEphemeral", |c| c.arg("user") == Some("U3"), WAIT).await;
    assert!(told.arg("text").unwrap().contains("your own request"));
    assert!(w.slack.calls_to("views.open").is_empty());

    w.send(SlackRoute::Interactions, &click("U2")).await;
    let modal = w.slack.wait_for("views.open", |_| true, WAIT).await;
    assert_eq!(opened_view(&modal)["callback_id"], "deny_reason");
    assert_eq!(opened_view(&modal)["private_metadata"], request.id().as_str());
    assert_eq!(w.status_of(request.id()).await, Status::Pending, "nothing decided before the modal is submitted");

    let reply =
        w.send(SlackRoute::Interactions, &deny_reason_submission_body("U2", request.id().as_str(), "freeze")).await;
    assert_eq!(reply.json_body().unwrap(), json!({"response_action": "clear"}));
    let denied = w.airlock.get_request(request.id()).await.unwrap();
    assert_eq!(denied.status(), Status::Denied);
    assert_eq!(denied.decision_note(), Some("freeze"));

    let again = w.send(SlackRoute::Interactions, &deny_reason_submission_body("U2", request.id().as_str(), "")).await;
    let body = again.json_body().unwrap();
    assert_eq!(body["response_action"], "update");
    assert!(body["view"].to_string().contains("already denied"));
}

#[tokio::test]
async fn external_selects_get_options_from_the_options_source() {
    let w = world().await;
    let reply = w.send(SlackRoute::Options, &block_suggestion_body("U3", "aws-prod", "ticket", "INC")).await;
    assert_eq!(reply.content_type, "application/json");
    let values: Vec<_> =
        reply.json_body().unwrap()["options"].as_array().unwrap().iter().map(|o| o["value"].clone()).collect();
    assert_eq!(values, [json!("INC-1"), json!("INC-2")]);
    let unknown = w.send(SlackRoute::Options, &block_suggestion_body("U3", "aws-prod", "nope", "")).await;
    assert_eq!(unknown.json_body().unwrap(), json!({"options": []}));
}

#[tokio::test]
async fn events_verify_the_url_and_publish_the_home_tab_once_per_event() {
    let w = world().await;
    let reply = w.send(SlackRoute::Events, &url_verification_body("challenge-123")).await;
    assert_eq!(reply.json_body().unwrap(), json!({"challenge": "challenge-123"}));

    w.pending_request_of("U3").await;
    // The submission republishes the Homes of carol, bob and alice (the last) through the outbox.
    w.slack.wait_for("views.publish", |c| c.arg("user_id") == Some("U1"), WAIT).await;
    let before = w.slack.calls_to("views.publish").len();
    let body = app_home_opened_body("Ev0001", "U3");
    assert_eq!(w.send(SlackRoute::Events, &body).await, SlackReply::ack());
    let published = w.slack.calls_to("views.publish");
    assert_eq!(published.len(), before + 1, "published while the event is handled");
    let published = published.last().unwrap();
    assert_eq!(published.arg("user_id"), Some("U3"));
    assert!(published.text().contains("AWS Production") && published.text().contains("open_picker"));

    let mut retry = SlackSigner::new(SECRET).header_map(body.as_bytes(), JSON);
    retry.insert("X-Slack-Retry-Num", HeaderValue::from_static("1"));
    assert_eq!(w.app.handle(SlackRoute::Events, &retry, body.as_bytes()).await, SlackReply::ack());
    assert_eq!(w.slack.calls_to("views.publish").len(), before + 1, "a redelivery does nothing");
}

#[tokio::test]
async fn retried_commands_are_acked_without_work_and_garbage_is_a_400() {
    let w = world().await;
    let body = slash_command_body("/access", "", "U3", "t");
    let mut retry = SlackSigner::new(SECRET).header_map(body.as_bytes(), FORM);
    retry.insert("X-Slack-Retry-Num", HeaderValue::from_static("2"));
    assert_eq!(w.app.handle(SlackRoute::Commands, &retry, body.as_bytes()).await, SlackReply::ack());
    assert!(w.slack.calls().is_empty());

    assert_eq!(w.send(SlackRoute::Interactions, "payload=%7Bnot-json").await.status, 400);
    assert_eq!(w.send(SlackRoute::Events, "{}").await.status, 400);
    assert_eq!(w.send(SlackRoute::Commands, "text=hi").await.status, 400);
}

#[tokio::test]
async fn the_home_button_opens_the_picker() {
    let w = world().await;
    let body = block_actions_body("U3", "open_picker", "", "DU3", "1700000000.000009");
    assert_eq!(w.send(SlackRoute::Interactions, &body).await, SlackReply::ack());
    let call = w.slack.wait_for("views.open", |_| true, WAIT).await;
    assert_eq!(opened_view(&call)["callback_id"], "flow_picker");
}

#[tokio::test]
async fn the_first_of_two_approvals_is_recorded_and_the_approver_told() {
    let w = world().await;
    let form = [("duration", Input::Select("1h".into())), ("reason", Input::Text("rotate keys".into()))];
    let reply = w.send(SlackRoute::Interactions, &request_form_submission_body("U3", "two-keys", &form)).await;
    assert_eq!(reply.json_body().unwrap(), json!({"response_action": "clear"}));
    let request = w.airlock.list_requests("carol@example.com", None, 1).await.unwrap().remove(0);
    let click =
        |user: &str| block_actions_body(user, "approve", request.id().as_str(), "C0APPROVALS", "1700000000.000002");

    w.send(SlackRoute::Interactions, &click("U2")).await;
    let told = w.slack.wait_for("chat.postEphemeral", |c| c.arg("user") == Some("U2"), WAIT).await;
    assert!(told.arg("text").unwrap().contains("1 of 2"));
    assert_eq!(w.status_of(request.id()).await, Status::Pending);
    w.send(SlackRoute::Interactions, &click("U1")).await;
    assert_eq!(w.status_of(request.id()).await, Status::Approved);
}
