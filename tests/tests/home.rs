//! The App Home, live: published on `app_home_opened` with each person's sections and buttons,
//! and republished to everyone concerned when a request changes (an approver's Home loses a
//! request as soon as someone else decides it).

use airlock_core::Status;
use airlock_e2e::*;
use airlock_testkit::slack::app_home_opened_body;

#[tokio::test(flavor = "multi_thread")]
async fn app_home_opened_publishes_each_persons_sections() {
    let t = TestApp::spawn().await;
    let published_to = |user: &str| {
        t.slack.calls_to("views.publish").into_iter().filter(|c| c.arg("user_id") == Some(user)).collect::<Vec<_>>()
    };
    // Dave requests nothing and decides nothing: one Home, with the Request access button only.
    t.slack_post("/slack/events", &app_home_opened_body("EvHomeDave", DAVE), JSON).await;
    let dave = published_to(DAVE);
    assert_eq!(dave.len(), 1, "published while the event is handled");
    let labels: Vec<String> = buttons(&dave[0]).into_iter().map(|(label, _, _)| label).collect();
    assert_eq!(labels, ["Request access"]);
    assert!(
        dave[0].text().contains("You have no pending requests")
            && !dave[0].text().contains("Waiting for your decision")
    );

    let id = t.request_prod(CAROL, "prod-admin", "1h", "Normal").await;
    let before = published_to(BOB).len();
    t.slack_post("/slack/events", &app_home_opened_body("EvHomeBob", BOB), JSON).await;
    let calls = published_to(BOB);
    assert!(calls.len() > before, "published while the event is handled");
    let bob = calls.last().unwrap();
    let text = bob.text();
    assert!(text.contains("Waiting for your decision") && text.contains("<@U0CAROL> asks for"), "{text}");
    let labels: Vec<String> = buttons(bob).into_iter().map(|(label, _, _)| label).collect();
    assert_eq!(labels, ["Request access", "Approve", "Approve with changes", "Deny"]);
    assert_eq!(button(bob, "Approve", &id).as_deref(), Some("approve"));

    t.slack_post("/slack/events", &app_home_opened_body("EvHomeCarol", CAROL), JSON).await;
    let carol = published_to(CAROL).pop().unwrap();
    let text = carol.text();
    assert!(
        text.contains("Your pending requests* (1)") && text.contains("Your access") && text.contains("Recently ended")
    );
    assert!(text.contains("Nothing is waiting for you"), "carol approves sandbox, never her own request: {text}");
    let labels: Vec<String> = buttons(&carol).into_iter().map(|(label, _, _)| label).collect();
    assert_eq!(labels, ["Request access", "Cancel request"]);

    // Her Home's Cancel request works like the DM's.
    let action = button(&carol, "Cancel request", &id).unwrap();
    t.click_home(CAROL, &action, &id).await;
    t.wait_status(&id, Status::Cancelled, SOON).await;
    let after = t.home(CAROL, |c| c.text().contains(id.as_str()) && c.text().contains("Cancelled by <@U0CAROL>")).await;
    assert!(button(&after, "Cancel request", &id).is_none());

    // The Home's Request access button opens the flow picker, as /access does.
    let body = airlock_testkit::slack::home_block_actions_body(CAROL, "open_picker", "");
    t.slack_post("/slack/interactions", &body, FORM).await;
    let picker = t.slack.wait_for("views.open", |c| c.text().contains("flow_picker"), SOON).await;
    assert!(picker.text().contains("prod") && picker.text().contains("sandbox"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approvers_home_loses_a_request_someone_else_decided() {
    let t = TestApp::spawn().await;
    let id = t.request_prod(CAROL, "prod-admin", "1h", "Normal").await;
    let waiting = t.home(BOB, |c| c.text().contains(id.as_str())).await;
    assert!(button(&waiting, "Approve", &id).is_some(), "bob's Home offers the decision");

    // Alice (an admin) approves on the card; Bob's Home is republished without the request.
    t.click(ALICE, "approve", &id).await;
    t.wait_status(&id, Status::Active, SOON).await;
    let after = t.home(BOB, |c| !c.text().contains(id.as_str())).await;
    assert!(after.text().contains("Nothing is waiting for you"), "{}", after.text());
    assert!(buttons(&after).iter().all(|(label, _, _)| label == "Request access"));
    // Carol's Home shows her grant with its time left.
    let carol = t.home(CAROL, |c| c.text().contains(id.as_str()) && c.text().contains("left (until")).await;
    assert!(button(&carol, "Revoke now", &id).is_some() && button(&carol, "Extend", &id).is_some());
}
