//! Several targets in one request, end to end on the assembled local server: chosen in the Slack
//! form's multi-select or sent as `"targets"` to the API, decided with one card, then granted,
//! expired, revoked and audited target by target against a signed webhook receiver.

use airlock_core::{AuditAction, RequestId, Status};
use airlock_e2e::*;
use airlock_testkit::slack::slash_command_body;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// `multi` lets a request name several of its targets (two webhooks and a record); `single` does
/// not. `Emergency` requests are auto-approved.
fn config(hook_url: &str) -> String {
    format!(
        r#"
organization:
  primary_domain: example.com
  admins: [alice@example.com]
slack:
  command: /access
  audit_channel: C0AUDIT
flows:
  - name: multi
    label: Data platform
    approvers:
      users: [bob@example.com]
      channel: {APPROVALS}
    multiple_targets: true
    durations: [2s, 1h]
    max_duration: 4h
    targets:
      - name: db
        label: Database
        kind: webhook
        url: {hook_url}
        secret_env: {HOOK_SECRET_ENV}
      - name: queue
        label: Queue
        kind: webhook
        url: {hook_url}
        secret_env: {HOOK_SECRET_ENV}
      - name: notes
        label: Notes
        kind: record
    fields:
      - name: urgency
        label: Urgency
        type: select
        allowed_values: [Normal, Emergency]
    rules:
      auto_approve: 'fields.urgency == "Emergency"'
  - name: single
    label: Single
    approvers:
      users: [bob@example.com]
    durations: [1h]
    max_duration: 1h
    targets:
      - name: box
        label: Box
        kind: record
"#
    )
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(|hooks| config(&hooks.url()), None).await
}

/// The targets (by name, sorted) of the webhook calls of `action` for request `id`.
fn hook_targets(t: &TestApp, action: &str, id: &RequestId) -> Vec<String> {
    let calls = t.hooks.calls();
    let of_request = calls.iter().filter(|c| c["action"] == action && c["request_id"] == id.as_str());
    let mut names: Vec<String> =
        of_request.map(|c| c["target"]["name"].as_str().unwrap_or_default().to_string()).collect();
    // In name order: each target is granted on its own, so a transport error retried on one of
    // them (the other granted meanwhile) changes the order of the calls, not their number.
    names.sort();
    names
}

/// The audit trail of `id` as `(action, target)`.
async fn trail(t: &TestApp, id: &RequestId) -> Vec<(AuditAction, String)> {
    t.app.audit_trail(id).await.unwrap().into_iter().map(|e| (e.action, e.target)).collect()
}

async fn api_json(t: &TestApp, id: &RequestId) -> Value {
    let answer = t.api(Method::GET, &format!("/api/v1/requests/{id}")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

/// Carol's request through the API; the answer's status and body.
async fn api_submit(t: &TestApp, body: Value) -> (u16, Value) {
    let answer = t.api(Method::POST, "/api/v1/requests").json(&body).send().await.unwrap();
    (answer.status().as_u16(), answer.json().await.unwrap())
}

async fn wait_until(what: &str, within: Duration, check: impl AsyncFn() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_targets_chosen_in_slack_are_granted_and_expire_each_on_its_own() {
    let t = spawn().await;
    let opened = t.slack_post("/slack/commands", &slash_command_body("/access", "multi", CAROL, "trig-1"), FORM).await;
    assert_eq!(opened.status(), 200);
    let form = t.slack.wait_for("views.open", |c| c.arg("trigger_id") == Some("trig-1"), SOON).await;
    let target_input = &form.body["view"]["blocks"][1];
    assert_eq!(target_input["element"]["type"], "multi_static_select", "{target_input}");
    assert_eq!(target_input["label"]["text"], "Targets");

    let answer = t
        .submit_form(
            CAROL,
            "multi",
            &[
                ("target", Input::MultiSelect(vec!["db".into(), "queue".into()])),
                ("duration", Input::Select("2s".into())),
                ("reason", Input::Text("migrate the orders table".into())),
                ("field:urgency", Input::Select("Normal".into())),
            ],
        )
        .await;
    assert_eq!(answer["response_action"], "clear", "{answer}");
    let id = t.app.list_requests("carol@example.com", None, 10).await.unwrap()[0].id().clone();
    let request = t.app.get_request(&id).await.unwrap();
    assert_eq!(request.targets().iter().map(|t| t.name()).collect::<Vec<_>>(), ["db", "queue"]);

    // One card and one decision for both.
    let card = t
        .slack
        .wait_for("chat.postMessage", |c| c.arg("channel") == Some(APPROVALS) && c.text().contains(id.as_str()), SOON)
        .await;
    assert!(card.text().contains("*Targets*\\nDatabase, Queue"), "{}", card.text());
    assert_eq!(t.click(BOB, "approve", &id).await.status(), 200);
    t.wait_status(&id, Status::Active, SOON).await;
    t.hooks.wait_count("escalate", id.as_str(), 2, SOON).await;
    assert_eq!(hook_targets(&t, "escalate", &id), ["db", "queue"], "one escalation call per target");
    let active = t.dm(CAROL, "is active").await;
    assert!(active.text().contains("Database, Queue"), "{}", active.text());

    // The 2-second grant ends: each target is removed and audited on its own.
    t.wait_status(&id, Status::Expired, SOON).await;
    assert_eq!(hook_targets(&t, "deescalate", &id), ["db", "queue"]);
    let events = trail(&t, &id).await;
    for expected in [
        (AuditAction::AccessGranted, "db"),
        (AuditAction::AccessGranted, "queue"),
        (AuditAction::Expired, "db"),
        (AuditAction::Expired, "queue"),
    ] {
        assert!(events.contains(&(expected.0, expected.1.to_string())), "{expected:?} in {events:?}");
    }
    assert_eq!(events.iter().filter(|(a, _)| *a == AuditAction::AccessGranted).count(), 2);
    t.dm(CAROL, "has expired").await;

    let json = api_json(&t, &id).await;
    assert_eq!((json["status"].as_str(), json["target"].as_str()), (Some("expired"), Some("db")));
    let targets = json["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    for (target, (name, label)) in targets.iter().zip([("db", "Database"), ("queue", "Queue")]) {
        assert_eq!((target["name"].as_str(), target["label"].as_str()), (Some(name), Some(label)));
        assert_eq!(target["status"], "expired");
        assert!(target["granted_at"].is_string() && target["access_removed_at"].is_string(), "{target}");
        assert_eq!(target["expires_at"], json["expires_at"], "the grant's one expiry");
        assert_eq!(target["failure"], Value::Null);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_target_fails_alone_while_the_other_is_granted_then_revoked() {
    let t = spawn().await;
    // The first escalation (the database's) is refused for good.
    t.hooks.fail_next("escalate", 1, 403);
    let (status, created) = api_submit(
        &t,
        json!({"requester": "carol@example.com", "flow": "multi", "targets": ["db", "queue"], "duration": "1h",
               "reason": "INC-9", "fields": {"urgency": "Emergency"}}),
    )
    .await;
    assert_eq!(status, 202, "{created}");
    let id: RequestId = created["id"].as_str().unwrap().parse().unwrap();
    t.wait_status(&id, Status::Active, SOON).await;
    // What the refused target may have applied is removed at once; the other is not touched.
    t.hooks.wait_count("deescalate", id.as_str(), 1, SOON).await;
    assert_eq!(hook_targets(&t, "escalate", &id), ["db", "queue"]);
    assert_eq!(hook_targets(&t, "deescalate", &id), ["db"]);
    t.dm(CAROL, "Not granted: Database").await;

    let json = api_json(&t, &id).await;
    assert_eq!(json["status"], "active");
    let targets = json["targets"].as_array().unwrap();
    assert_eq!((targets[0]["name"].as_str(), targets[0]["status"].as_str()), (Some("db"), Some("failed")));
    assert!(targets[0]["failure"].as_str().is_some_and(|f| f.contains("403")), "{}", targets[0]);
    assert_eq!(targets[0]["granted_at"], Value::Null);
    assert_eq!((targets[1]["status"].as_str(), targets[1]["failure"].as_str()), (Some("active"), None));
    let events = trail(&t, &id).await;
    assert!(events.contains(&(AuditAction::EscalationFailed, "db".into())), "{events:?}");
    assert!(events.contains(&(AuditAction::AccessGranted, "queue".into())), "{events:?}");

    // The refused access may be asked for again; the granted one is still claimed.
    let (status, again) = api_submit(
        &t,
        json!({"requester": "carol@example.com", "flow": "multi", "targets": ["queue"], "duration": "1h",
               "reason": "again", "fields": {"urgency": "Normal"}}),
    )
    .await;
    assert_eq!((status, again["error"]["code"].as_str()), (409, Some("duplicate_request")), "{again}");

    let revoked = t.api(Method::POST, &format!("/api/v1/requests/{id}/revoke")).send().await.unwrap();
    assert_eq!(revoked.status(), 202);
    wait_until("the queue's access removed", SOON, async || {
        api_json(&t, &id).await["targets"][1]["access_removed_at"].is_string()
    })
    .await;
    assert_eq!(hook_targets(&t, "deescalate", &id), ["db", "queue"]);
    let json = api_json(&t, &id).await;
    assert_eq!((json["status"].as_str(), json["holds_access"].as_bool()), (Some("revoked"), Some(false)));
    assert_eq!(json["targets"][1]["status"], "revoked");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_takes_targets_only_where_the_flow_allows_them() {
    let t = spawn().await;
    let base = json!({"requester": "carol@example.com", "duration": "1h", "reason": "r",
                      "fields": {"urgency": "Normal"}});
    let with = |extra: Value| {
        let mut body = base.clone();
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };

    let (status, both) = api_submit(&t, with(json!({"flow": "multi", "target": "db", "targets": ["queue"]}))).await;
    assert_eq!((status, both["error"]["code"].as_str()), (400, Some("bad_request")), "{both}");
    let (status, empty) = api_submit(&t, with(json!({"flow": "multi", "targets": []}))).await;
    assert_eq!(status, 400, "{empty}");
    let (status, unknown) = api_submit(&t, with(json!({"flow": "multi", "targets": ["db", "nope"]}))).await;
    assert_eq!((status, unknown["error"]["code"].as_str()), (422, Some("invalid_request")), "{unknown}");
    assert!(unknown["error"]["message"].as_str().unwrap().contains("nope"));
    let (status, twice) = api_submit(&t, with(json!({"flow": "multi", "targets": ["db", "Database"]}))).await;
    assert_eq!(status, 422, "{twice}");
    let single = json!({"flow": "single", "targets": ["box"], "fields": {}});
    let (status, refused) = api_submit(&t, with(single)).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("one target per request"), "{refused}");

    // One target, either way, is a request with a one-element `targets`.
    let (status, one) = api_submit(&t, with(json!({"flow": "multi", "target": "notes"}))).await;
    assert_eq!(status, 202, "{one}");
    let id: RequestId = one["id"].as_str().unwrap().parse().unwrap();
    let json = api_json(&t, &id).await;
    assert_eq!(json["target"], "notes");
    assert_eq!(json["targets"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        (json["targets"][0]["name"].as_str(), json["targets"][0]["status"].as_str()),
        (Some("notes"), Some("pending"))
    );
    let (status, _) = api_submit(&t, with(json!({"flow": "single", "target": "box", "fields": {}}))).await;
    assert_eq!(status, 202);
}
