//! The rest of a request's life from Slack, as a person plays it: buttons found by their visible
//! text on the messages and views Airlock sent, clicked with signed payloads. Cancel request from
//! the "submitted" DM, Revoke now on the card (an approver) and on the App Home (the requester),
//! Approve with changes (a shorter duration and a comment).

use airlock_core::{AuditAction, Status};
use airlock_e2e::*;
use airlock_testkit::slack::{SlackCall, approve_with_changes_submission_body};
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

fn card_of(id: &airlock_core::RequestId) -> impl Fn(&SlackCall) -> bool + '_ {
    move |c| c.arg("channel") == Some(APPROVALS) && c.text().contains(id.as_str())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_requester_cancels_from_the_submitted_dm_before_a_decision() {
    let t = TestApp::spawn().await;
    let id = t.request_prod(CAROL, "prod-admin", "1h", "Normal").await;
    t.slack.wait_for("chat.postMessage", card_of(&id), SOON).await;
    let dm = t.dm(CAROL, "was submitted").await;
    let action = button(&dm, "Cancel request", &id).expect("the submitted DM offers Cancel request");

    assert_eq!(t.click_in(CAROL, &action, &id, &format!("D{CAROL}")).await.status(), 200);
    t.wait_status(&id, Status::Cancelled, SOON).await;
    t.dm(CAROL, "was cancelled by <@U0CAROL>").await;
    let update = t
        .slack
        .wait_for(
            "chat.update",
            |c| c.text().contains(id.as_str()) && c.text().contains("Cancelled by <@U0CAROL>"),
            SOON,
        )
        .await;
    assert!(buttons(&update).is_empty(), "the card lost its Approve / Deny buttons: {:?}", buttons(&update));

    // Bob clicks Approve on the card he still sees: told it was cancelled, and by whom.
    t.click(BOB, "approve", &id).await;
    let told = t
        .slack
        .wait_for("chat.postEphemeral", |c| c.arg("user") == Some(BOB) && c.text().contains("cancelled"), SOON)
        .await;
    assert!(told.text().contains("Cancelled by <@U0CAROL>"), "{}", told.text());
    assert_eq!(t.status_of(&id).await, Status::Cancelled);
    assert!(t.hooks.calls().is_empty(), "nothing was granted");
    let actions: Vec<AuditAction> = t.app.audit_trail(&id).await.unwrap().iter().map(|e| e.action).collect();
    assert_eq!(actions, [AuditAction::Submitted, AuditAction::Cancelled]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approver_revokes_from_the_card() {
    let t = TestApp::spawn().await;
    let id = t.request_prod(CAROL, "billing", "1h", "Normal").await;
    t.click(BOB, "approve", &id).await;
    t.wait_status(&id, Status::Active, SOON).await;
    let card = t
        .slack
        .wait_for("chat.update", |c| c.text().contains(id.as_str()) && c.text().contains("access active"), SOON)
        .await;
    let action = button(&card, "Revoke now", &id).expect("an active card offers Revoke now");

    // Dave is neither the requester nor an approver: nothing changes.
    t.click_in(DAVE, &action, &id, APPROVALS).await;
    t.slack
        .wait_for("chat.postEphemeral", |c| c.arg("user") == Some(DAVE) && c.text().contains("Nothing changed"), SOON)
        .await;
    assert_eq!(t.status_of(&id).await, Status::Active);

    assert_eq!(t.click_in(BOB, &action, &id, APPROVALS).await.status(), 200);
    t.wait_status(&id, Status::Revoked, SOON).await;
    let deadline = tokio::time::Instant::now() + SOON;
    while t.hooks.count("deescalate", id.as_str()) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the access was not removed at once");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let revoked = t.app.get_request(&id).await.unwrap();
    assert!(revoked.expires_at().unwrap() <= chrono::Utc::now());
    let update = t
        .slack
        .wait_for(
            "chat.update",
            |c| c.text().contains(id.as_str()) && c.text().contains("revoked early by <@U0BOB> at"),
            SOON,
        )
        .await;
    assert!(buttons(&update).is_empty(), "nothing left to click: {:?}", buttons(&update));
    t.dm(CAROL, "was revoked by <@U0BOB> at").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_requester_revokes_from_the_app_home() {
    let t = TestApp::spawn().await;
    let id = t.request_prod(CAROL, "billing", "1h", "Normal").await;
    t.click(BOB, "approve", &id).await;
    t.wait_status(&id, Status::Active, SOON).await;
    let dm = t.dm(CAROL, "is active until").await;
    assert!(button(&dm, "Revoke now", &id).is_some(), "the active DM offers Revoke now too");

    let home = t.home(CAROL, |c| c.text().contains(id.as_str()) && c.text().contains("left (until")).await;
    let action = button(&home, "Revoke now", &id).expect("the Home offers Revoke now on an active grant");
    assert_eq!(button(&home, "Extend", &id).as_deref(), Some("extend_request"));

    assert_eq!(t.click_home(CAROL, &action, &id).await.status(), 200);
    t.wait_status(&id, Status::Revoked, SOON).await;
    t.dm(CAROL, "was revoked by <@U0CAROL> at").await;
    let home = t.home(CAROL, |c| c.text().contains(id.as_str()) && c.text().contains("revoked early")).await;
    assert!(button(&home, "Revoke now", &id).is_none(), "an ended grant is listed without buttons");
    let deadline = tokio::time::Instant::now() + SOON;
    while t.hooks.count("deescalate", id.as_str()) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the access was not removed at once");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approver_approves_a_shorter_duration_with_a_comment() {
    let t = TestApp::spawn().await;
    let id = t.request_prod(CAROL, "billing", "1h", "Normal").await;
    let card = t.slack.wait_for("chat.postMessage", card_of(&id), SOON).await;
    let action = button(&card, "Approve with changes", &id).expect("the card offers Approve with changes");
    assert!(button(&card, "Approve", &id).is_some() && button(&card, "Deny", &id).is_some());

    t.click_in(BOB, &action, &id, APPROVALS).await;
    let dialog = t.slack.wait_for("views.open", |c| c.text().contains(id.as_str()), SOON).await;
    let view = &dialog.body["view"];
    assert_eq!(view["callback_id"], "approve_with_changes");
    let durations: Vec<&str> = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == "changes_duration")
        .and_then(|b| b["element"]["options"].as_array())
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap())
        .collect();
    assert_eq!(durations, ["1h", "2s"], "the asked duration and the shorter choices, never longer");
    assert_eq!(t.status_of(&id).await, Status::Pending, "nothing decided before the dialog is submitted");

    // A longer duration than asked is refused on its field.
    let longer = approve_with_changes_submission_body(BOB, id.as_str(), "4h", "");
    let answer: Value = t.slack_post("/slack/interactions", &longer, FORM).await.json().await.unwrap();
    assert_eq!(answer["response_action"], "errors", "{answer}");
    assert!(answer["errors"]["changes_duration"].as_str().unwrap().contains("not lengthen"), "{answer}");
    assert_eq!(t.status_of(&id).await, Status::Pending);

    let body = approve_with_changes_submission_body(BOB, id.as_str(), "2s", "two seconds will do");
    let answer: Value = t.slack_post("/slack/interactions", &body, FORM).await.json().await.unwrap();
    assert_eq!(answer["response_action"], "clear", "{answer}");
    t.wait_status(&id, Status::Active, SOON).await;

    let request = t.app.get_request(&id).await.unwrap();
    assert_eq!(request.duration_secs(), 2);
    assert_eq!(request.decision_note(), Some("two seconds will do"));
    let (granted, expires) = (request.granted_at().unwrap(), request.expires_at().unwrap());
    assert_eq!(expires - granted, chrono::Duration::seconds(2));
    let api: Value = t.api(Method::GET, &format!("/api/v1/requests/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(api["duration_seconds"], 2, "{api}");
    assert_eq!(api["decision_note"], "two seconds will do", "{api}");
    let escalation = t.hooks.calls().into_iter().find(|c| c["action"] == "escalate").unwrap();
    let hook_expiry: chrono::DateTime<chrono::Utc> = escalation["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(hook_expiry, expires, "the webhook's grant ends at the shortened expiry");

    let change = "with changes (2 seconds instead of 1 hour): two seconds will do";
    t.dm(CAROL, change).await;
    t.slack.wait_for("chat.update", |c| c.text().contains(id.as_str()) && c.text().contains(change), SOON).await;
    let approved = t.app.audit_trail(&id).await.unwrap().into_iter().find(|e| e.action == AuditAction::Approved);
    assert_eq!(approved.unwrap().detail.as_deref(), Some("duration shortened to 2s (asked: 1h): two seconds will do"));
    t.wait_status(&id, Status::Expired, Duration::from_secs(8)).await;
}
