//! People end to end, over signed Slack payloads against the local server and the fake Slack:
//! approvers from a Slack user group, roles and member domains changed by the CLI while the server
//! runs, guests asking who they are and clicking cards.

use airlock_cli::admin::run_people;
use airlock_core::{Actor, RequestId, Status};
use airlock_e2e::*;
use airlock_testkit::slack::{SlackCall, block_actions_body, slash_command_body};
use serde_json::Value;

fn config(_: &hooks::HookReceiver) -> String {
    format!(
        r#"
organization:
  primary_domain: example.com
  admins: [alice@example.com]
flows:
  - name: prod
    label: Production
    approvers:
      users: [bob@example.com]
      groups: [{SRE}]
      channel: {APPROVALS}
      required: 2
    durations: [1h]
    max_duration: 4h
    targets:
      - {{name: prod-admin, label: Prod admin, kind: record}}
    fields:
      - {{name: urgency, label: Urgency, type: select, allowed_values: [Normal, Emergency]}}
  - name: partners
    label: Partner portal
    approvers:
      users: [gina@gmail.com]
      allow_guests: true
    durations: [1h]
    max_duration: 1h
    targets:
      - {{name: portal, label: Portal admin, kind: record}}
"#
    )
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(config, None).await
}

/// Runs `airlock users|domains …` (the CLI's handler) on the running server's store.
async fn cli(t: &TestApp, args: &[&str]) -> String {
    let mut out = Vec::new();
    let by = Actor::User { email: "ops@example.com".parse().unwrap(), slack_id: None };
    run_people(&t.app.people(), by, args, &mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

/// `/access <text>` as `user`: the ephemeral answer's text, or "" for a bare ack.
async fn slash(t: &TestApp, user: &str, text: &str, trigger: &str) -> String {
    let response = t.slack_post("/slack/commands", &slash_command_body("/access", text, user, trigger), FORM).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    if body.is_empty() {
        return String::new();
    }
    let answer: Value = serde_json::from_str(&body).unwrap();
    answer["text"].as_str().unwrap_or_default().to_string()
}

fn opened(t: &TestApp, trigger: &str) -> bool {
    t.slack.calls_to("views.open").iter().any(|c| c.arg("trigger_id") == Some(trigger))
}

/// The approval card of `id` in the approvals channel.
async fn channel_card(t: &TestApp, id: &RequestId) -> SlackCall {
    let in_channel = |c: &SlackCall| c.arg("channel") == Some(APPROVALS) && button(c, "Approve", id).is_some();
    t.slack.wait_for("chat.postMessage", in_channel, SOON).await
}

/// Waits for a message shown only to `user` in a channel, containing `needle`.
async fn ephemeral(t: &TestApp, user: &str, needle: &str) -> SlackCall {
    let to_user = |c: &SlackCall| c.arg("user") == Some(user) && c.text().contains(needle);
    t.slack.wait_for("chat.postEphemeral", to_user, SOON).await
}

/// The approval card of `id` DMed to `user`.
async fn card_to(t: &TestApp, user: &str, id: &RequestId) -> SlackCall {
    let dm = format!("D{user}");
    let to_user = move |c: &SlackCall| c.arg("channel").is_some_and(|ch| ch == user || ch == dm);
    t.slack.wait_for("chat.postMessage", |c| to_user(c) && button(c, "Approve", id).is_some(), SOON).await
}

/// Clicks the button labelled `label` on `card` as `user`.
async fn press(t: &TestApp, user: &str, card: &SlackCall, label: &str, id: &RequestId) {
    let action = button(card, label, id).unwrap_or_else(|| panic!("no {label} button on {}", card.text()));
    // A card posted to a user id lives in the DM channel Slack opens with them.
    let channel = match card.arg("channel").unwrap_or(APPROVALS) {
        user if user.starts_with('U') => format!("D{user}"),
        channel => channel.to_string(),
    };
    let body = block_actions_body(user, &action, id.as_str(), &channel, "1700000000.000300");
    assert_eq!(t.slack_post("/slack/interactions", &body, FORM).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_of_two_with_one_approver_from_a_user_group() {
    let t = spawn().await;
    let id = t.request_prod(CAROL, "prod-admin", "1h", "Normal").await;
    let erins = card_to(&t, ERIN, &id).await;
    let bobs = card_to(&t, BOB, &id).await;

    press(&t, DAVE, &channel_card(&t, &id).await, "Approve", &id).await;
    ephemeral(&t, DAVE, "not an approver").await;
    press(&t, ERIN, &erins, "Approve", &id).await;
    t.dm(ERIN, "1 of 2").await;
    let request = t.app.get_request(&id).await.unwrap();
    assert_eq!((request.status(), request.approvals().len()), (Status::Pending, 1), "Dave's click counted nothing");
    press(&t, ERIN, &erins, "Approve", &id).await;
    assert_eq!(t.app.get_request(&id).await.unwrap().approvals().len(), 1, "Erin counts once");

    press(&t, BOB, &bobs, "Approve", &id).await;
    t.wait_status(&id, Status::Active, SOON).await;
    let approvers: Vec<String> =
        t.app.get_request(&id).await.unwrap().approvals().iter().map(|a| a.by.to_string()).collect();
    assert_eq!(approvers, ["erin@example.com", "bob@example.com"]);
    let posts = t.slack.calls_to("chat.postMessage");
    let cards_to_erin = posts.iter().filter(|c| c.arg("channel") == Some(ERIN) && button(c, "Approve", &id).is_some());
    assert_eq!(cards_to_erin.count(), 1, "one card per group member");
}

#[tokio::test(flavor = "multi_thread")]
async fn role_changes_through_the_cli_change_what_access_offers() {
    let t = spawn().await;
    assert_eq!(slash(&t, DAVE, "", "trig-dave-1").await, "");
    assert!(opened(&t, "trig-dave-1"), "a member gets the picker");

    assert_eq!(cli(&t, &["users", "set-role", "dave@example.com", "guest"]).await, "dave@example.com is now guest\n");
    let refused = slash(&t, DAVE, "", "trig-dave-2").await;
    assert!(refused.contains("only members of this organization can request access"), "{refused}");
    assert!(!opened(&t, "trig-dave-2"), "no form for a guest");
    let whoami = slash(&t, DAVE, "whoami", "trig-dave-3").await;
    assert!(whoami.contains("You are a *guest*: set by ops@example.com with `airlock users set-role`"), "{whoami}");

    let refused = slash(&t, GINA, "prod", "trig-gina-1").await;
    assert!(refused.contains("only members"), "{refused}");
    assert_eq!(cli(&t, &["domains", "add", "gmail.com"]).await, "gmail.com is now a member domain\n");
    assert_eq!(slash(&t, GINA, "prod", "trig-gina-2").await, "");
    assert!(opened(&t, "trig-gina-2"), "a member by domain gets the form at once");
    let whoami = slash(&t, GINA, "whoami", "trig-gina-3").await;
    assert!(
        whoami.contains("You are a *member*: your email domain gmail.com is a member domain (added by"),
        "{whoami}"
    );

    assert_eq!(cli(&t, &["users", "set-role", "gina@gmail.com", "admin"]).await, "gina@gmail.com is now admin\n");
    let listed = cli(&t, &["users", "list"]).await;
    let roles: Vec<(&str, &str)> = listed
        .lines()
        .map(|l| {
            let mut words = l.split_whitespace();
            (words.next().unwrap(), words.next().unwrap())
        })
        .collect();
    assert_eq!(roles, [("alice@example.com", "admin"), ("dave@example.com", "guest"), ("gina@gmail.com", "admin")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_asks_who_they_are() {
    let t = spawn().await;
    let whoami = slash(&t, GINA, "whoami", "trig-1").await;
    assert!(
        whoami.contains("You are a *guest*: your email domain gmail.com is not a member domain."),
        "the role word and why: {whoami}"
    );
    assert!(whoami.contains("Guests cannot request access"), "{whoami}");
    let whoami = slash(&t, ALICE, "whoami", "trig-2").await;
    assert!(whoami.contains("You are an *admin*: alice@example.com is listed in organization.admins."), "{whoami}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_click_on_a_card_changes_nothing_and_is_explained_by_dm() {
    let t = spawn().await;
    let id = t.request_prod(CAROL, "prod-admin", "1h", "Normal").await;
    let card = channel_card(&t, &id).await;
    press(&t, GINA, &card, "Approve", &id).await;
    press(&t, GINA, &card, "Deny", &id).await;
    let dm = t.dm(GINA, "changed nothing").await;
    assert!(dm.text().contains("you are a *guest*") && dm.text().contains(id.as_str()), "{}", dm.text());
    let request = t.app.get_request(&id).await.unwrap();
    assert_eq!((request.status(), request.approvals().len()), (Status::Pending, 0));
    assert!(!t.slack.calls_to("views.open").iter().any(|c| c.text().contains(id.as_str())), "no deny dialog");

    // A flow that lets guests decide takes Gina's approval.
    let answer = t
        .submit_form(
            CAROL,
            "partners",
            &[
                ("target", Input::Select("portal".into())),
                ("duration", Input::Select("1h".into())),
                ("reason", Input::Text("partner onboarding".into())),
            ],
        )
        .await;
    assert_eq!(answer["response_action"], "clear", "{answer}");
    let pending = t.app.list_requests("carol@example.com", Some(Status::Pending), 10).await.unwrap();
    let id = pending.into_iter().find(|r| r.flow() == "partners").expect("the partners request").id().clone();
    let card = card_to(&t, GINA, &id).await;
    press(&t, GINA, &card, "Approve", &id).await;
    t.wait_status(&id, Status::Active, SOON).await;
}
