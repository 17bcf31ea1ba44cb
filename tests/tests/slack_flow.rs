//! The access loop driven the way Slack drives it: signed slash commands, modal submissions and
//! button clicks, with every Slack Web API call recorded by the fake.

use airlock_core::Status;
use airlock_e2e::*;
use airlock_testkit::slack::{block_actions_body, deny_reason_submission_body, slash_command_body};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn request_approve_grant_and_expire() {
    let t = TestApp::spawn().await;
    let answer = t.slack_post("/slack/commands", &slash_command_body("/access", "prod", CAROL, "trig-1"), FORM).await;
    assert_eq!(answer.status(), 200);
    let form = t.slack.wait_for("views.open", |c| c.arg("trigger_id") == Some("trig-1"), SOON).await;
    let view = &form.body["view"];
    assert_eq!(view["callback_id"], "request:prod");
    for block in ["target", "duration", "reason", "field:urgency"] {
        assert!(view["blocks"].as_array().unwrap().iter().any(|b| b["block_id"] == block), "form lacks {block}");
    }

    let id = t.request_prod(CAROL, "billing", "2s", "Normal").await;
    assert_eq!(t.status_of(&id).await, Status::Pending);
    let card = t
        .slack
        .wait_for("chat.postMessage", |c| c.arg("channel") == Some(APPROVALS) && c.text().contains(id.as_str()), SOON)
        .await;
    assert!(card.text().contains("incident INC-7"), "the card shows why");
    assert!(!card.text().contains("local:"), "the card never carries the task token");
    t.dm(BOB, id.as_str()).await;
    t.dm(CAROL, "was submitted").await;

    assert_eq!(t.click(BOB, "approve", &id).await.status(), 200);
    t.wait_status(&id, Status::Active, SOON).await;
    t.dm(CAROL, "is active until").await;
    t.slack.wait_for("chat.update", |c| c.text().contains("access active"), SOON).await;
    assert_eq!(t.hooks.count("escalate", id.as_str()), 1);
    let escalation = t.hooks.calls().into_iter().find(|c| c["action"] == "escalate").unwrap();
    assert_eq!(escalation["user"]["email"], "carol@example.com");
    assert_eq!(escalation["user"]["slack_id"], CAROL);
    assert!(escalation["expires_at"].is_string());

    t.wait_status(&id, Status::Expired, Duration::from_secs(8)).await;
    assert_eq!(t.hooks.count("deescalate", id.as_str()), 1);
    t.dm(CAROL, "has expired").await;
    let trail: Vec<Status> = t.app.audit_trail(&id).await.unwrap().iter().map(|e| e.to).collect();
    assert_eq!(trail, [Status::Pending, Status::Approved, Status::Active, Status::Expired]);
}

#[tokio::test(flavor = "multi_thread")]
async fn deny_with_a_reason() {
    let t = TestApp::spawn().await;
    let id = t.request_prod(CAROL, "prod-admin", "1h", "Normal").await;
    t.click(BOB, "deny", &id).await;
    let dialog = t.slack.wait_for("views.open", |c| c.text().contains(id.as_str()), SOON).await;
    assert_eq!(dialog.body["view"]["callback_id"], "deny_reason");
    assert_eq!(t.status_of(&id).await, Status::Pending, "a Deny click only asks why");

    let body = deny_reason_submission_body(BOB, id.as_str(), "use the read-only role");
    let answer = t.slack_post("/slack/interactions", &body, FORM).await;
    assert_eq!(answer.json::<serde_json::Value>().await.unwrap()["response_action"], "clear");
    t.wait_status(&id, Status::Denied, SOON).await;
    t.dm(CAROL, "use the read-only role").await;
    t.slack.wait_for("chat.update", |c| c.text().contains("Denied by"), SOON).await;
    assert!(t.hooks.calls().is_empty(), "nothing was granted");
}

#[tokio::test(flavor = "multi_thread")]
async fn emergency_is_auto_approved_by_rule() {
    let t = TestApp::spawn().await;
    let id = t.request_prod(CAROL, "billing", "1h", "Emergency").await;
    t.wait_status(&id, Status::Active, SOON).await;
    assert_eq!(t.hooks.count("escalate", id.as_str()), 1);
    let request = t.app.get_request(&id).await.unwrap();
    assert!(request.approvals().is_empty(), "no human approved it");
    t.dm(CAROL, "is active").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn self_approval_is_refused_unless_the_flow_allows_it() {
    let t = TestApp::spawn().await;
    let id = t.request_prod(BOB, "prod-admin", "1h", "Normal").await;
    t.click(BOB, "approve", &id).await;
    let notice = t
        .slack
        .wait_for("chat.postEphemeral", |c| c.arg("user") == Some(BOB) && c.text().contains("Nothing changed"), SOON)
        .await;
    assert!(notice.text().contains("own"), "the refusal says why: {}", notice.text());
    assert_eq!(t.status_of(&id).await, Status::Pending);

    // sandbox allows it: Carol approves her own request there.
    let answer = t
        .submit_form(
            CAROL,
            "sandbox",
            &[
                ("target", Input::Select("sandbox-admin".into())),
                ("duration", Input::Select("1h".into())),
                ("reason", Input::Text("testing".into())),
            ],
        )
        .await;
    assert_eq!(answer["response_action"], "clear");
    let mine = t.app.list_requests("carol@example.com", Some(Status::Pending), 10).await.unwrap();
    t.click(CAROL, "approve", mine[0].id()).await;
    t.wait_status(mine[0].id(), Status::Active, SOON).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn guests_and_non_approvers_change_nothing() {
    let t = TestApp::spawn().await;
    let refused = t.slack_post("/slack/commands", &slash_command_body("/access", "prod", GINA, "trig-g"), FORM).await;
    assert_eq!(refused.status(), 200);
    assert!(refused.text().await.unwrap().contains("only members"), "the guest is told why");
    assert!(t.slack.calls_to("views.open").is_empty(), "no form for a guest");

    let id = t.request_prod(CAROL, "billing", "1h", "Normal").await;
    for clicker in [GINA, DAVE] {
        t.click(clicker, "approve", &id).await;
        t.slack
            .wait_for(
                "chat.postEphemeral",
                |c| c.arg("user") == Some(clicker) && c.text().contains("Nothing changed"),
                SOON,
            )
            .await;
        t.click(clicker, "deny", &id).await;
    }
    assert_eq!(t.status_of(&id).await, Status::Pending);
    assert!(t.slack.calls_to("views.open").is_empty(), "no deny dialog for people who may not decide");
    assert!(t.hooks.calls().is_empty());

    // An admin may decide any flow.
    t.click(ALICE, "approve", &id).await;
    t.wait_status(&id, Status::Active, SOON).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_double_click_escalates_once() {
    let t = TestApp::spawn().await;
    let id = t.request_prod(CAROL, "billing", "1h", "Normal").await;
    let (a, b, c) =
        tokio::join!(t.click(BOB, "approve", &id), t.click(BOB, "approve", &id), t.click(ALICE, "approve", &id));
    assert!([a.status(), b.status(), c.status()].iter().all(|s| *s == 200));
    t.wait_status(&id, Status::Active, SOON).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(t.hooks.count("escalate", id.as_str()), 1);
    let approvals = t.app.audit_trail(&id).await.unwrap().iter().filter(|e| e.to == Status::Approved).count();
    assert_eq!(approvals, 1, "one approval recorded");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_open_request_is_refused_on_the_form() {
    let t = TestApp::spawn().await;
    t.request_prod(CAROL, "prod-admin", "1h", "Normal").await;
    let answer = t
        .submit_form(
            CAROL,
            "prod",
            &[
                ("target", Input::Select("prod-admin".into())),
                ("duration", Input::Select("1h".into())),
                ("reason", Input::Text("again".into())),
                ("field:urgency", Input::Select("Normal".into())),
            ],
        )
        .await;
    assert_eq!(answer["response_action"], "errors");
    assert!(answer["errors"]["target"].is_string(), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duration_over_the_maximum_is_an_error_on_its_block() {
    let t = TestApp::spawn().await;
    let answer = t
        .submit_form(
            CAROL,
            "prod",
            &[
                ("target", Input::Select("prod-admin".into())),
                ("duration", Input::Select("8h".into())),
                ("reason", Input::Text("long".into())),
            ],
        )
        .await;
    assert_eq!(answer["response_action"], "errors", "{answer}");
    assert!(answer["errors"]["duration"].as_str().unwrap().contains("4h"), "{answer}");
    assert!(t.app.list_requests("carol@example.com", None, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_help_whoami_and_unknown_flows() {
    let t = TestApp::spawn().await;
    let help = t.slack_post("/slack/commands", &slash_command_body("/access", "help", CAROL, "t1"), FORM).await;
    assert!(help.text().await.unwrap().contains("/access"));
    let whoami = t.slack_post("/slack/commands", &slash_command_body("/access", "whoami", ALICE, "t2"), FORM).await;
    let text = whoami.text().await.unwrap();
    assert!(text.contains("alice@example.com") && text.contains("admin"), "{text}");

    t.slack_post("/slack/commands", &slash_command_body("/access", "no-such-flow", CAROL, "t3"), FORM).await;
    let picker = t.slack.wait_for("views.open", |c| c.arg("trigger_id") == Some("t3"), SOON).await;
    assert_eq!(picker.body["view"]["callback_id"], "flow_picker");

    t.slack_post("/slack/commands", &slash_command_body("/access", "", CAROL, "t4"), FORM).await;
    let picker = t.slack.wait_for("views.open", |c| c.arg("trigger_id") == Some("t4"), SOON).await;
    let text = picker.text();
    assert!(text.contains("prod") && text.contains("sandbox"));
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_retries_and_url_verification() {
    let t = TestApp::spawn().await;
    let challenge = airlock_testkit::slack::url_verification_body("chal-123");
    let answer = t.slack_post("/slack/events", &challenge, JSON).await;
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().contains("chal-123"));

    let event = airlock_testkit::slack::app_home_opened_body("Ev0001", CAROL);
    t.slack_post("/slack/events", &event, JSON).await;
    t.slack.wait_for("views.publish", |_| true, SOON).await;
    let headers = airlock_testkit::slack::SlackSigner::new(SIGNING_SECRET).header_map(event.as_bytes(), JSON);
    let retry = t
        .http
        .post(format!("{}/slack/events", t.base))
        .headers(headers)
        .header("X-Slack-Retry-Num", "1")
        .header("X-Slack-Retry-Reason", "http_timeout")
        .body(event.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(t.slack.calls_to("views.publish").len(), 1, "a retried event is not handled twice");

    // A click replayed after it was handled changes nothing either.
    let id = t.request_prod(CAROL, "billing", "1h", "Normal").await;
    let click = block_actions_body(BOB, "approve", id.as_str(), APPROVALS, "1.1");
    t.slack_post("/slack/interactions", &click, FORM).await;
    t.wait_status(&id, Status::Active, SOON).await;
    t.slack_post("/slack/interactions", &click, FORM).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(t.hooks.count("escalate", id.as_str()), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn select_options_are_prefetched_live() {
    let t = TestApp::spawn().await;
    t.slack_post("/slack/commands", &slash_command_body("/access", "prod", CAROL, "trig-p"), FORM).await;
    let form = t.slack.wait_for("views.open", |c| c.arg("trigger_id") == Some("trig-p"), SOON).await;
    let ticket =
        form.body["view"]["blocks"].as_array().unwrap().iter().find(|b| b["block_id"] == "field:ticket").cloned();
    assert_eq!(ticket.unwrap()["element"]["type"], "external_select");

    let body = airlock_testkit::slack::block_suggestion_body(CAROL, "prod", "ticket", "inc");
    let answer: serde_json::Value = t.slack_post("/slack/options", &body, FORM).await.json().await.unwrap();
    let values: Vec<&str> =
        answer["options"].as_array().unwrap().iter().map(|o| o["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["INC-1", "INC-2"]);
    assert_eq!(answer["options"][0]["text"]["text"], "INC-1 Database down");
}
