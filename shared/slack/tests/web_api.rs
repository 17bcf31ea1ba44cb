//! SlackApi, SlackNotifier and SlackDirectory against the fake Slack Web API.

use airlock_core::audit::Actor;
use airlock_core::ports::{Directory, Notifier, NotifyError, RequesterUpdate};
use airlock_core::{AccessRequest, AuditAction, AuditEvent, Config, Email, RequestBuilder, Status};
use airlock_slack::{SlackApi, SlackDirectory, SlackNotifier};
use airlock_testkit::slack::{FakeSlack, FakeUser, Fault};
use std::sync::Arc;
use std::time::Duration;

async fn fake() -> FakeSlack {
    FakeSlack::start(
        vec![
            FakeUser::new("U1", "alice@example.com", "Alice Admin"),
            FakeUser::new("U2", "bob@example.com", "Bob Approver"),
            FakeUser::new("U3", "Carol@Example.com", "Carol"),
        ],
        vec![("S0SRE".into(), vec!["U2".into(), "U3".into()])],
    )
    .await
}

fn api(slack: &FakeSlack) -> Arc<SlackApi> {
    Arc::new(SlackApi::new(&slack.base_url(), "xoxb-test-token").unwrap())
}

fn config() -> Config {
    Config::from_yaml(airlock_core::config::EXAMPLE_CONFIG).unwrap()
}

fn request(slack_id: Option<&str>) -> AccessRequest {
    requested_by("carol@example.com", slack_id).build()
}

fn requested_by(email: &str, slack_id: Option<&str>) -> RequestBuilder {
    let now = chrono::Utc::now();
    AccessRequest::builder(email.parse().unwrap(), "aws-prod", "prod-admin")
        .access_key("record:prod-admin")
        .slack_id(slack_id)
        .duration_secs(3_600)
        .reason("incident 42")
        .created_at(now)
        .decision_deadline(now + chrono::Duration::hours(1))
}

#[tokio::test]
async fn cards_go_to_the_channel_and_each_approver_and_are_updated_in_place() {
    let slack = fake().await;
    let notifier = SlackNotifier::new(api(&slack), config());
    let config = config();
    let flow = config.flow("aws-prod").unwrap();
    let request = request(Some("U3"));
    let mut cards = Vec::new();
    for destination in ["C0APPROVALS", "U2"] {
        cards.push(notifier.post_approval_card(&request, flow, destination).await.unwrap());
    }
    assert_eq!(cards[0].channel, "C0APPROVALS");
    assert_eq!(cards[1].channel, "DU2", "the DM channel Slack answers with");
    let posts = slack.calls_to("chat.postMessage");
    assert!(posts.iter().all(|c| c.authorized));
    assert_eq!(posts[0].arg("channel"), Some("C0APPROVALS"));
    assert_eq!(posts[1].arg("channel"), Some("U2"));
    assert!(posts[0].text().contains(request.id().as_str()) && posts[0].text().contains("\"action_id\":\"approve\""));

    let bob = Actor::User { email: "bob@example.com".parse().unwrap(), slack_id: Some("U2".into()) };
    let request = requested_by("carol@example.com", Some("U3"))
        .cards(cards.clone())
        .status(Status::Denied)
        .decided_by(bob)
        .build();
    notifier.update_approval_cards(&request, flow).await.unwrap();
    let updates = slack.calls_to("chat.update");
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[0].arg("ts"), Some(cards[0].ts.as_str()));
    assert_eq!(updates[1].arg("channel"), Some("DU2"));
    assert!(updates[0].text().contains("Denied by <@U2>") && !updates[0].text().contains("\"action_id\":\"approve\""));
}

#[tokio::test]
async fn the_requester_is_found_by_email_when_the_request_has_no_slack_id() {
    let slack = fake().await;
    let notifier = SlackNotifier::new(api(&slack), config());
    let config = config();
    let flow = config.flow("aws-prod").unwrap();
    notifier.tell_requester(&request(None), flow, RequesterUpdate::Submitted).await.unwrap();
    assert_eq!(slack.calls_to("users.lookupByEmail")[0].arg("email"), Some("carol@example.com"));
    let dm = slack.wait_for("chat.postMessage", |c| c.arg("channel") == Some("U3"), Duration::from_secs(1)).await;
    assert!(dm.arg("text").unwrap().contains("was submitted"));

    let stranger = requested_by("nobody@example.com", None).build();
    assert!(notifier.tell_requester(&stranger, flow, RequesterUpdate::Submitted).await.is_err());
}

#[tokio::test]
async fn audit_lines_and_direct_messages() {
    let slack = fake().await;
    let notifier = SlackNotifier::new(api(&slack), config());
    let request = request(Some("U3"));
    let event = AuditEvent::of(&request, Actor::system("test"), AuditAction::Submitted, None, None);
    notifier.post_audit("C0AUDIT", &request, &event).await.unwrap();
    notifier.tell_user("U2", None, "hello").await.unwrap();
    let posts = slack.calls_to("chat.postMessage");
    assert_eq!(posts[0].arg("channel"), Some("C0AUDIT"));
    assert!(posts[0].arg("text").unwrap().contains(request.id().as_str()));
    assert_eq!((posts[1].arg("channel"), posts[1].arg("text")), (Some("U2"), Some("hello")));
}

#[tokio::test]
async fn slack_faults_tell_the_outbox_whether_and_when_to_try_again() {
    let slack = fake().await;
    let notifier = SlackNotifier::new(api(&slack), config());
    let config = config();
    let flow = config.flow("aws-prod").unwrap();
    let request = request(Some("U3"));

    slack.fault_next("chat.postMessage", 1, Fault::RateLimited { retry_after_secs: 7 });
    match notifier.tell_requester(&request, flow, RequesterUpdate::Submitted).await {
        Err(NotifyError::Retry { after, .. }) => assert_eq!(after, Some(Duration::from_secs(7))),
        other => panic!("expected a retry after 7 s, got {other:?}"),
    }
    slack.fault_next("chat.postMessage", 1, Fault::Status(503));
    assert!(matches!(notifier.post_approval_card(&request, flow, "C0APPROVALS").await, Err(NotifyError::Retry { .. })));
    slack.fault_next("chat.postMessage", 1, Fault::Error("channel_not_found".into()));
    assert!(matches!(notifier.post_approval_card(&request, flow, "C0GONE").await, Err(NotifyError::Permanent(_))));
    assert!(slack.calls().is_empty(), "nothing delivered");
    notifier.tell_requester(&request, flow, RequesterUpdate::Submitted).await.unwrap();
    assert_eq!(slack.calls_to("chat.postMessage").len(), 1);
    assert_eq!(slack.attempts_to("chat.postMessage").len(), 4);
}

#[tokio::test]
async fn the_directory_reads_profiles_and_caches_them() {
    let slack = fake().await;
    let directory = SlackDirectory::new(api(&slack));
    let carol = directory.user_by_slack_id("U3").await.unwrap().unwrap();
    assert_eq!(carol.email, Some("carol@example.com".parse::<Email>().unwrap()), "lowercased");
    assert_eq!(carol.name.as_deref(), Some("Carol"));
    directory.user_by_slack_id("U3").await.unwrap();
    assert_eq!(slack.calls_to("users.info").len(), 1, "second lookup served from the cache");
    assert_eq!(directory.user_by_slack_id("U404").await.unwrap(), None);

    let bob = directory.user_by_email(&"BOB@example.com".parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(bob.slack_id, "U2");
    assert_eq!(directory.user_by_email(&"nobody@example.com".parse().unwrap()).await.unwrap(), None);

    assert_eq!(directory.group_members("S0SRE").await.unwrap(), ["U2", "U3"]);
    directory.group_members("S0SRE").await.unwrap();
    assert_eq!(slack.calls_to("usergroups.users.list").len(), 1);
    assert!(directory.group_members("S0NONE").await.is_err());

    let uncached = SlackDirectory::with_ttl(api(&slack), Duration::ZERO);
    uncached.user_by_slack_id("U1").await.unwrap();
    uncached.user_by_slack_id("U1").await.unwrap();
    assert_eq!(slack.calls_to("users.info").iter().filter(|c| c.arg("user") == Some("U1")).count(), 2);
}

#[tokio::test]
async fn api_errors_are_reported_without_the_token() {
    let slack = fake().await;
    let anonymous = SlackApi::new(&slack.base_url(), "").unwrap();
    let err = anonymous.post_message("C1", slack_morphism::prelude::SlackMessageContent::new()).await.unwrap_err();
    assert_eq!(err.code(), Some("invalid_auth"));
    assert!(!slack.calls()[0].authorized);

    let with_token = api(&slack);
    let err = with_token.usergroup_members("S0NONE").await.unwrap_err();
    assert!(!err.to_string().contains("xoxb-test-token"));
    assert_eq!(with_token.open_dm("U2").await.unwrap(), "DU2");
    assert_eq!(with_token.open_view("trigger", airlock_slack::views::error_modal("t", "m")).await.unwrap().len(), 9);
}

#[tokio::test]
async fn calls_time_out() {
    // A listener that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/", listener.local_addr().unwrap());
    let _hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let api = SlackApi::new(&url, "xoxb-t").unwrap().with_timeout(Duration::from_millis(200));
    let err = api.post_ephemeral("C1", "U1", "hi").await.unwrap_err();
    assert_eq!(err, airlock_slack::SlackApiError::Timeout { method: "chat.postEphemeral" });
}
