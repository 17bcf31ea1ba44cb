//! Extending an active grant, as people play it in Slack: Extend on the requester's DM or App Home
//! opens a modal, the approvers get an extension card (Approve extension / Deny extension), and on
//! approval the grant really lasts until the new expiry; a flow with `extensions.self_approve`
//! extends at once; and `POST /api/v1/requests/{id}/extend` with its refusals.

use airlock_core::request::ExtensionStatus;
use airlock_core::{AuditAction, RequestId, Status};
use airlock_e2e::hooks::HookReceiver;
use airlock_e2e::*;
use airlock_testkit::slack::{SlackCall, extend_submission_body};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// `prod` needs Bob's approval (for requests and extensions); `quick` grants for seconds, its
/// requests approved by a rule that leaves extensions to Bob; `selfext` extends without approvers,
/// twice at most.
fn config(hooks: &HookReceiver) -> String {
    let hook = hooks.url();
    format!(
        r#"
organization:
  primary_domain: example.com
  admins: [alice@example.com]
slack:
  command: /access
  audit_channel: C0AUDIT
flows:
  - name: prod
    label: Production
    approvers:
      users: [bob@example.com]
      channel: {APPROVALS}
    durations: [1h, 30m]
    max_duration: 4h
    targets:
      - name: billing
        label: Billing console
        kind: webhook
        url: {hook}
        secret_env: {HOOK_SECRET_ENV}
  - name: quick
    label: Quick
    approvers:
      users: [bob@example.com]
      channel: {APPROVALS}
    durations: [6s, 3s]
    max_duration: 1h
    targets:
      - name: console
        label: Console
        kind: webhook
        url: {hook}
        secret_env: {HOOK_SECRET_ENV}
    rules:
      auto_approve: '!request.is_extension'
  - name: selfext
    label: Scratch space
    approvers:
      users: [bob@example.com]
      channel: {APPROVALS}
    durations: [1h, 30m]
    max_duration: 1h
    extensions: {{max: 2, self_approve: true}}
    targets:
      - name: scratch
        label: Scratch
        kind: record
    rules:
      auto_approve: '!request.is_extension'
"#
    )
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(config, None).await
}

/// Carol's request for `target` of `flow` for `duration`, submitted with the Slack form.
async fn request(t: &TestApp, flow: &str, target: &str, duration: &str) -> RequestId {
    let answer = t
        .submit_form(
            CAROL,
            flow,
            &[
                ("target", Input::Select(target.into())),
                ("duration", Input::Select(duration.into())),
                ("reason", Input::Text(format!("deploy of {flow}"))),
            ],
        )
        .await;
    assert_eq!(answer["response_action"], "clear", "the form was not accepted: {answer}");
    t.app.list_requests("carol@example.com", None, 100).await.unwrap()[0].id().clone()
}

/// The extension card of `id` posted to the approvals channel.
fn extension_card_of(id: &RequestId) -> impl Fn(&SlackCall) -> bool + '_ {
    move |c| {
        c.arg("channel") == Some(APPROVALS) && c.text().contains(id.as_str()) && c.text().contains("approve_extension")
    }
}

/// The Extend modal opened for `id` while the grant ended at `expiry`.
fn extend_modal_of(id: &RequestId, expiry: DateTime<Utc>) -> impl Fn(&SlackCall) -> bool + '_ {
    move |c| {
        c.body["view"]["callback_id"] == "extend_request"
            && c.body["view"]["private_metadata"] == id.as_str()
            && c.text().contains(&date(expiry))
    }
}

/// How Slack is asked to render a time.
fn date(at: DateTime<Utc>) -> String {
    format!("<!date^{}^", at.timestamp())
}

fn durations_offered(modal: &SlackCall) -> Vec<String> {
    let blocks = modal.body["view"]["blocks"].as_array().cloned().unwrap_or_default();
    let select = blocks.iter().find(|b| b["block_id"] == "extend_duration").expect("a duration block");
    let options = select["element"]["options"].as_array().cloned().unwrap_or_default();
    options.iter().map(|o| o["value"].as_str().unwrap_or_default().to_string()).collect()
}

async fn submit_extension(t: &TestApp, id: &RequestId, duration: &str, reason: &str) -> Value {
    let body = extend_submission_body(CAROL, id.as_str(), duration, reason);
    let answer = t.slack_post("/slack/interactions", &body, FORM).await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

async fn expiry_of(t: &TestApp, id: &RequestId) -> DateTime<Utc> {
    t.app.get_request(id).await.unwrap().expires_at().expect("an active grant has an expiry")
}

/// The request as `GET /api/v1/requests/{id}` shows it.
async fn api_get(t: &TestApp, id: &RequestId) -> Value {
    let answer = t.api(Method::GET, &format!("/api/v1/requests/{id}")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

fn api_expiry(request: &Value) -> DateTime<Utc> {
    request["expires_at"].as_str().expect("expires_at").parse().expect("an RFC 3339 time")
}

/// Waits until the pending extension's card is recorded on the request (Slack answered the post).
async fn card_recorded(t: &TestApp, id: &RequestId) {
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let request = t.app.get_request(id).await.unwrap();
        if request.pending_extension().is_some_and(|e| !e.cards.is_empty()) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the extension card of {id} was not recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn actions(t: &TestApp, id: &RequestId) -> Vec<AuditAction> {
    t.app.audit_trail(id).await.unwrap().iter().map(|e| e.action).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approved_extension_holds_the_grant_until_the_new_expiry() {
    let t = spawn().await;
    let id = request(&t, "quick", "console", "6s").await;
    t.wait_status(&id, Status::Active, SOON).await;
    let old_expiry = expiry_of(&t, &id).await;

    // Carol finds Extend next to Revoke now on her "active" DM.
    let dm = t.dm(CAROL, "is active until").await;
    assert!(button(&dm, "Revoke now", &id).is_some());
    let extend = button(&dm, "Extend", &id).expect("the active DM offers Extend");
    t.click_in(CAROL, &extend, &id, &format!("D{CAROL}")).await;
    let modal = t.slack.wait_for("views.open", extend_modal_of(&id, old_expiry), SOON).await;
    assert_eq!(modal.arg("trigger_id"), Some(format!("trigger-{CAROL}-1700000000.000200").as_str()));
    assert_eq!(durations_offered(&modal), ["3s", "6s"]);
    assert_eq!(modal.body["view"]["submit"]["text"], "Ask");

    let answer = submit_extension(&t, &id, "3s", "the migration runs late").await;
    assert_eq!(answer["response_action"], "clear", "{answer}");
    t.dm(CAROL, "You asked to extend your access").await;
    let card = t.slack.wait_for("chat.postMessage", extension_card_of(&id), SOON).await;
    assert!(card.text().contains("the migration runs late") && card.text().contains("3 seconds"), "{}", card.text());
    assert!(card.text().contains(&format!("Extends request `{id}`")), "the card names the request");
    assert_eq!(expiry_of(&t, &id).await, old_expiry, "nothing moves before a decision");

    let approve = button(&card, "Approve extension", &id).expect("the card offers Approve extension");
    assert!(button(&card, "Deny extension", &id).is_some());
    // As a person reads it: the card is up (and recorded) before anyone clicks.
    card_recorded(&t, &id).await;
    assert_eq!(t.click_in(BOB, &approve, &id, APPROVALS).await.status(), 200);
    let deadline = tokio::time::Instant::now() + SOON;
    while t.app.get_request(&id).await.unwrap().pending_extension().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "the extension was not decided");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let extended = t.app.get_request(&id).await.unwrap();
    let decided_at = extended.extensions()[0].decided_at.unwrap();
    assert!(
        decided_at < old_expiry,
        "the machine was too slow for this test: approved at {decided_at}, after the old expiry {old_expiry}"
    );
    let new_expiry = extended.expires_at().unwrap();
    assert_eq!(new_expiry - old_expiry, chrono::Duration::seconds(3));
    assert_eq!(extended.status(), Status::Active);
    let api = api_get(&t, &id).await;
    assert_eq!(api_expiry(&api), new_expiry, "{api}");
    assert_eq!(api["extensions"][0]["status"], "approved", "{api}");
    assert_eq!(api["extensions"][0]["added_seconds"], 3, "{api}");

    // The requester hears it (the flow allows one extension: no further Extend), the card says who.
    let dm = t.dm(CAROL, "was extended until").await;
    assert!(dm.text().contains(&date(new_expiry)) && dm.text().contains("by <@U0BOB>"), "{}", dm.text());
    assert!(button(&dm, "Extend", &id).is_none(), "the one extension the flow allows is used");

    // The access is removed once, at the new expiry, not the old one.
    t.hooks.wait_count("deescalate", id.as_str(), 1, Duration::from_secs(20)).await;
    let removed = t.hooks.arrivals("deescalate", id.as_str());
    assert_eq!(removed.len(), 1, "removed once: {removed:?}");
    assert!(removed[0] >= new_expiry, "removed at {}, before the new expiry {new_expiry}", removed[0]);
    let hook_expiry: DateTime<Utc> =
        t.hooks.calls().iter().rev().find(|c| c["action"] == "deescalate").unwrap()["expires_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
    assert_eq!(hook_expiry, new_expiry);
    t.wait_status(&id, Status::Expired, SOON).await;
    let trail = actions(&t, &id).await;
    assert_eq!(
        trail[..5],
        [
            AuditAction::Submitted,
            AuditAction::AutoApproved,
            AuditAction::AccessGranted,
            AuditAction::ExtensionRequested,
            AuditAction::Extended,
        ]
    );
    assert!(trail.contains(&AuditAction::Expired), "{trail:?}");

    // Bob's card says who extended it, without buttons.
    let updated = t
        .slack
        .wait_for("chat.update", |c| c.text().contains("Extended by <@U0BOB>") && c.text().contains(id.as_str()), SOON)
        .await;
    assert!(buttons(&updated).is_empty(), "a decided extension card has no buttons");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_extension_keeps_the_expiry_and_refusals_are_explained() {
    let t = spawn().await;
    let id = request(&t, "prod", "billing", "1h").await;
    t.click(BOB, "approve", &id).await;
    t.wait_status(&id, Status::Active, SOON).await;
    let expiry = expiry_of(&t, &id).await;

    // Dave may not ask for Carol's grant.
    t.click_in(DAVE, "extend_request", &id, &format!("D{DAVE}")).await;
    t.dm(DAVE, "only the requester and admins can ask to extend a grant").await;

    // Carol extends from her App Home.
    let home = t.home(CAROL, |c| c.text().contains(id.as_str()) && c.text().contains("left (until")).await;
    let extend = button(&home, "Extend", &id).expect("the Home offers Extend on an active grant");
    t.click_home(CAROL, &extend, &id).await;
    let modal = t.slack.wait_for("views.open", extend_modal_of(&id, expiry), SOON).await;
    assert_eq!(durations_offered(&modal), ["30m", "1h"]);

    // Field errors stay in the modal.
    let too_long = submit_extension(&t, &id, "5h", "a long night").await;
    assert_eq!(too_long["response_action"], "errors", "{too_long}");
    assert_eq!(too_long["errors"]["extend_duration"], "One extension adds at most 4h.", "{too_long}");
    let garbage = submit_extension(&t, &id, "soon", "a long night").await;
    assert_eq!(garbage["response_action"], "errors", "{garbage}");
    assert!(garbage["errors"]["extend_duration"].is_string(), "{garbage}");
    let no_reason = submit_extension(&t, &id, "1h", "   ").await;
    assert_eq!(no_reason["errors"]["extend_reason"], "Say why you need longer.", "{no_reason}");
    assert!(t.app.get_request(&id).await.unwrap().extensions().is_empty(), "nothing was asked");

    let answer = submit_extension(&t, &id, "1h", "a long night").await;
    assert_eq!(answer["response_action"], "clear", "{answer}");
    let card = t.slack.wait_for("chat.postMessage", extension_card_of(&id), SOON).await;

    // One at a time: Extend again is refused with the reason.
    t.click_in(CAROL, "extend_request", &id, &format!("D{CAROL}")).await;
    t.dm(CAROL, "already waiting for a decision").await;
    let home = t.home(CAROL, |c| c.text().contains(id.as_str()) && c.text().contains("waiting for a decision")).await;
    assert!(button(&home, "Extend", &id).is_none(), "no Extend while one waits");

    // Carol cannot decide her own extension, nor can Dave; both are told why, nothing changes.
    let approve = button(&card, "Approve extension", &id).unwrap();
    let deny = button(&card, "Deny extension", &id).expect("the card offers Deny extension");
    t.click_in(CAROL, &approve, &id, APPROVALS).await;
    t.slack
        .wait_for(
            "chat.postEphemeral",
            |c| c.arg("user") == Some(CAROL) && c.text().contains("cannot decide your own request"),
            SOON,
        )
        .await;
    t.click_in(DAVE, &approve, &id, APPROVALS).await;
    t.slack
        .wait_for("chat.postEphemeral", |c| c.arg("user") == Some(DAVE) && c.text().contains("not an approver"), SOON)
        .await;
    assert!(t.app.get_request(&id).await.unwrap().pending_extension().is_some());

    assert_eq!(t.click_in(BOB, &deny, &id, APPROVALS).await.status(), 200);
    let told = t.dm(CAROL, "was denied by <@U0BOB>").await;
    assert!(told.text().contains("Your extension of"), "{}", told.text());
    let request = t.app.get_request(&id).await.unwrap();
    assert_eq!(request.extensions()[0].status, ExtensionStatus::Denied);
    assert_eq!(request.expires_at(), Some(expiry), "a denial keeps the expiry");
    assert_eq!(api_expiry(&api_get(&t, &id).await), expiry);
    assert_eq!(request.status(), Status::Active);
    t.slack
        .wait_for("chat.update", |c| c.text().contains("Denied by <@U0BOB>") && c.text().contains(id.as_str()), SOON)
        .await;

    // A late click on the decided card says what happened to it.
    t.click_in(BOB, &approve, &id, APPROVALS).await;
    t.slack
        .wait_for(
            "chat.postEphemeral",
            |c| c.arg("user") == Some(BOB) && c.text().contains("already denied by <@U0BOB>"),
            SOON,
        )
        .await;
    assert_eq!(expiry_of(&t, &id).await, expiry);
    assert_eq!(actions(&t, &id).await[3..], [AuditAction::ExtensionRequested, AuditAction::ExtensionDenied]);

    // After a revoke, Extend explains that the grant ended.
    t.api(Method::POST, &format!("/api/v1/requests/{id}/revoke")).send().await.unwrap();
    t.wait_status(&id, Status::Revoked, SOON).await;
    t.click_home(CAROL, "extend_request", &id).await;
    t.dm(CAROL, "Nothing changed: this request is already revoked").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_extends_and_refuses_past_the_limit_when_not_active_over_the_maximum_and_for_others() {
    let t = spawn().await;
    let extend = |token: &'static str, id: &RequestId, body: Value| {
        t.http.post(format!("{}/api/v1/requests/{id}/extend", t.base)).bearer_auth(token).json(&body).send()
    };
    let created = t
        .http
        .post(format!("{}/api/v1/requests", t.base))
        .bearer_auth(SUBMIT_TOKEN)
        .json(&json!({"requester": "carol@example.com", "flow": "prod", "target": "billing", "duration": "1h",
                      "reason": "INC-12"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 202);
    let id: RequestId = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    let body = json!({"duration": "30m", "reason": "the fix needs longer"});

    // Pending, not active: 409.
    let answer = extend(SUBMIT_TOKEN, &id, body.clone()).await.unwrap();
    assert_eq!(answer.status(), 409);
    let error: Value = answer.json().await.unwrap();
    assert_eq!(error["error"]["code"], "conflict", "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("not active"), "{error}");

    t.click(BOB, "approve", &id).await;
    t.wait_status(&id, Status::Active, SOON).await;
    let expiry = expiry_of(&t, &id).await;

    // A token that neither submitted it nor may revoke: 403.
    let answer = extend(OTHER_SUBMIT_TOKEN, &id, body.clone()).await.unwrap();
    assert_eq!(answer.status(), 403);
    assert_eq!(answer.json::<Value>().await.unwrap()["error"]["code"], "forbidden");
    // Over the flow's max_duration (4h): 422.
    let answer = extend(SUBMIT_TOKEN, &id, json!({"duration": "5h", "reason": "r"})).await.unwrap();
    assert_eq!(answer.status(), 422);
    let error: Value = answer.json().await.unwrap();
    assert!(error["error"]["message"].as_str().unwrap().contains("at most 4h"), "{error}");
    assert!(t.app.get_request(&id).await.unwrap().extensions().is_empty());

    // The token that submitted it: 200 with the request, the extension waiting for Bob.
    let answer = extend(SUBMIT_TOKEN, &id, body.clone()).await.unwrap();
    assert_eq!(answer.status(), 200);
    let request: Value = answer.json().await.unwrap();
    assert_eq!(request["id"], id.as_str(), "{request}");
    assert_eq!(request["status"], "active", "{request}");
    assert_eq!(request["extensions"][0]["status"], "pending", "{request}");
    assert_eq!(request["extensions"][0]["added_seconds"], 1800, "{request}");
    assert_eq!(request["extensions"][0]["requested_by"]["name"], "api:ci", "{request}");
    assert_eq!(api_expiry(&request), expiry);

    // One waiting: 409 extension_limit.
    let answer = extend(API_TOKEN, &id, body.clone()).await.unwrap();
    assert_eq!(answer.status(), 409);
    assert_eq!(answer.json::<Value>().await.unwrap()["error"]["code"], "extension_limit");

    let card = t.slack.wait_for("chat.postMessage", extension_card_of(&id), SOON).await;
    t.click_in(BOB, &button(&card, "Approve extension", &id).unwrap(), &id, APPROVALS).await;
    let deadline = tokio::time::Instant::now() + SOON;
    while expiry_of(&t, &id).await == expiry {
        assert!(tokio::time::Instant::now() < deadline, "the expiry did not move");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let extended = api_get(&t, &id).await;
    assert_eq!(api_expiry(&extended) - expiry, chrono::Duration::minutes(30), "{extended}");

    // The flow allows one extension: 409 extension_limit, even for an admin token.
    let answer = extend(API_TOKEN, &id, body.clone()).await.unwrap();
    assert_eq!(answer.status(), 409);
    let error: Value = answer.json().await.unwrap();
    assert_eq!(error["error"]["code"], "extension_limit", "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("already extended once"), "{error}");
    assert_eq!(api_expiry(&api_get(&t, &id).await), api_expiry(&extended));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_self_approved_flow_extends_at_once_without_a_card() {
    let t = spawn().await;
    let id = request(&t, "selfext", "scratch", "30m").await;
    t.wait_status(&id, Status::Active, SOON).await;
    let first = expiry_of(&t, &id).await;

    let dm = t.dm(CAROL, "is active until").await;
    t.click_in(CAROL, &button(&dm, "Extend", &id).unwrap(), &id, &format!("D{CAROL}")).await;
    t.slack.wait_for("views.open", extend_modal_of(&id, first), SOON).await;
    let body = extend_submission_body(CAROL, id.as_str(), "30m", "pairing runs over");
    let answer: Value = t.slack_post("/slack/interactions", &body, FORM).await.json().await.unwrap();
    assert_eq!(answer["response_action"], "clear", "{answer}");
    let second = expiry_of(&t, &id).await;
    assert_eq!(second - first, chrono::Duration::minutes(30), "extended at once");

    // A replay of the same signed submission extends nothing more.
    let replayed: Value = t.slack_post("/slack/interactions", &body, FORM).await.json().await.unwrap();
    assert_eq!(replayed["response_action"], "clear", "{replayed}");
    assert_eq!(expiry_of(&t, &id).await, second);
    assert_eq!(t.app.get_request(&id).await.unwrap().extensions().len(), 1);

    // The "extended" DM offers the second extension the flow allows.
    let dm = t.dm(CAROL, &format!("was extended until {}", date(second))).await;
    assert!(dm.text().contains("rule `extensions.self_approve`"), "{}", dm.text());
    let extend = button(&dm, "Extend", &id).expect("one more extension is allowed");
    t.click_in(CAROL, &extend, &id, &format!("D{CAROL}")).await;
    t.slack.wait_for("views.open", extend_modal_of(&id, second), SOON).await;
    let answer = submit_extension(&t, &id, "1h", "and the review").await;
    assert_eq!(answer["response_action"], "clear", "{answer}");
    let third = expiry_of(&t, &id).await;
    assert_eq!(third - second, chrono::Duration::hours(1));
    let dm = t.dm(CAROL, &format!("was extended until {}", date(third))).await;
    assert!(button(&dm, "Extend", &id).is_none(), "the flow's two extensions are used");

    let cards: Vec<SlackCall> = t.slack.calls_to("chat.postMessage");
    assert!(
        !cards.iter().any(|c| c.text().contains("approve_extension")),
        "no approver was asked: {:?}",
        cards.iter().map(SlackCall::text).collect::<Vec<_>>()
    );
    let trail = t.app.audit_trail(&id).await.unwrap();
    let extended: Vec<_> = trail.iter().filter(|e| e.action == AuditAction::Extended).collect();
    assert_eq!(extended.len(), 2);
    assert!(extended.iter().all(|e| e.actor == airlock_core::Actor::Rule { name: "extensions.self_approve".into() }));

    // A third is refused in Slack with the limit.
    t.click_home(CAROL, "extend_request", &id).await;
    t.dm(CAROL, "already extended 2 times, the most its flow allows").await;
}
