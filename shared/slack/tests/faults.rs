//! SlackApi against a fake Slack that fails on command: HTTP 429 with Retry-After, 5xx, Slack
//! errors and slow answers, for the interactive and the background client, on every method.

use airlock_slack::api::RetryPolicy;
use airlock_slack::{SlackApi, SlackApiError};
use airlock_testkit::slack::{ANY_METHOD, FakeSlack, FakeUser, Fault};
use slack_morphism::prelude::SlackMessageContent;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ONE_SECOND: Fault = Fault::RateLimited { retry_after_secs: 1 };

async fn fake() -> FakeSlack {
    FakeSlack::start(vec![FakeUser::new("U2", "bob@example.com", "Bob")], vec![("S0SRE".into(), vec!["U2".into()])])
        .await
}

fn interactive(slack: &FakeSlack) -> SlackApi {
    SlackApi::new(&slack.base_url(), "xoxb-test").unwrap()
}

/// A background client with a short backoff, so the tests stay fast.
fn background(slack: &FakeSlack) -> SlackApi {
    let policy = RetryPolicy { backoff: Duration::from_millis(100), ..RetryPolicy::default() };
    SlackApi::new(&slack.base_url(), "xoxb-test").unwrap().with_retries(policy)
}

fn text(text: &str) -> SlackMessageContent {
    SlackMessageContent::new().with_text(text.into())
}

type Outcome = Pin<Box<dyn Future<Output = Result<(), SlackApiError>> + Send>>;

/// One call of every SlackApi method, by method name.
fn every_method(api: &Arc<SlackApi>) -> Vec<(&'static str, Outcome)> {
    macro_rules! call {
        ($method:literal, |$api:ident| $call:expr) => {{
            let $api = api.clone();
            ($method, Box::pin(async move { $call.await.map(drop) }) as Outcome)
        }};
    }
    vec![
        call!("chat.postMessage", |api| api.post_message("C1", text("hi"))),
        call!("chat.update", |api| api.update_message("C1", "1.000001", text("edited"))),
        call!("chat.postEphemeral", |api| api.post_ephemeral("C1", "U2", "psst")),
        call!("conversations.open", |api| api.open_dm("U2")),
        call!("views.open", |api| api.open_view("trigger", airlock_slack::views::error_modal("t", "m"))),
        call!("views.update", |api| api.update_view("V1", airlock_slack::views::error_modal("t", "m"))),
        call!("views.publish", |api| api.publish_home("U2", airlock_slack::views::error_modal("t", "m"))),
        call!("users.info", |api| api.user_info("U2")),
        call!("users.lookupByEmail", |api| api.user_by_email("bob@example.com")),
        call!("usergroups.users.list", |api| api.usergroup_members("S0SRE")),
    ]
}

/// Makes the first call of every method meet `fault`, calls every method at once with `api`, and
/// returns each method with its result.
async fn fault_every_method(
    slack: &FakeSlack,
    api: SlackApi,
    fault: Fault,
) -> Vec<(&'static str, Result<(), SlackApiError>)> {
    let mut running = Vec::new();
    for (method, call) in every_method(&Arc::new(api)) {
        slack.fault_next(method, 1, fault.clone());
        running.push((method, tokio::spawn(call)));
    }
    let mut results = Vec::new();
    for (method, call) in running {
        results.push((method, call.await.unwrap()));
    }
    results
}

#[tokio::test]
async fn a_rate_limited_message_is_sent_once_after_retry_after() {
    let slack = fake().await;
    slack.fault_next("chat.postMessage", 1, ONE_SECOND);
    let started = Instant::now();
    let posted = background(&slack).post_message("C1", text("submitted")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900), "waited for Retry-After: {:?}", started.elapsed());

    let attempts = slack.attempts_to("chat.postMessage");
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].refused, Some(ONE_SECOND));
    assert!(attempts[1].answered());
    let delivered = slack.calls_to("chat.postMessage");
    assert_eq!(delivered.len(), 1, "delivered once");
    assert_eq!((delivered[0].arg("text"), posted.ts.as_str()), (Some("submitted"), "1700000000.000001"));
}

#[tokio::test]
async fn the_interactive_client_fails_at_once_on_a_rate_limit() {
    let slack = fake().await;
    slack.fault_next("views.open", 1, Fault::RateLimited { retry_after_secs: 30 });
    let api = interactive(&slack);
    let err = api.open_view("trigger", airlock_slack::views::error_modal("t", "m")).await.unwrap_err();
    assert_eq!(err, SlackApiError::RateLimited { method: "views.open", retry_after: Some(Duration::from_secs(30)) });
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(err.to_string(), "Slack views.open rate limited, retry after 30 s");
    assert!(err.is_transient());
    assert_eq!(slack.attempts_to("views.open").len(), 1, "no retry");
    api.open_view("trigger", airlock_slack::views::error_modal("t", "m")).await.unwrap();
}

#[tokio::test]
async fn the_interactive_client_reports_every_fault_of_every_method_without_retrying() {
    let slack = fake().await;
    for (method, result) in fault_every_method(&slack, interactive(&slack), ONE_SECOND).await {
        assert_eq!(result, Err(SlackApiError::RateLimited { method, retry_after: Some(Duration::from_secs(1)) }));
    }
    for (method, result) in fault_every_method(&slack, interactive(&slack), Fault::Status(503)).await {
        assert_eq!(result, Err(SlackApiError::Http { method, status: 503 }));
    }
    for (method, result) in fault_every_method(&slack, interactive(&slack), Fault::Error("not_in_channel".into())).await
    {
        assert_eq!(result, Err(SlackApiError::Api { method, code: "not_in_channel".into() }));
    }
    let api = interactive(&slack).with_timeout(Duration::from_millis(200));
    for (method, result) in fault_every_method(&slack, api, Fault::Delay(Duration::from_secs(1))).await {
        assert_eq!(result, Err(SlackApiError::Timeout { method }));
    }
    for (method, _) in every_method(&Arc::new(interactive(&slack))) {
        // The slow calls are recorded once the fake answers them, after the client gave up.
        slack.wait_for(method, |_| true, Duration::from_secs(5)).await;
        assert_eq!(slack.attempts_to(method).len(), 4, "{method}");
        assert_eq!(slack.calls_to(method).len(), 1, "{method}: only the slow call was answered");
    }
}

#[tokio::test]
async fn the_background_client_retries_rate_limits_and_server_errors_on_every_method() {
    let slack = fake().await;
    for (method, result) in fault_every_method(&slack, background(&slack), ONE_SECOND).await {
        assert_eq!(result, Ok(()), "{method}");
        assert_eq!(slack.attempts_to(method).len(), 2, "{method}");
    }
    for (method, result) in fault_every_method(&slack, background(&slack), Fault::Status(500)).await {
        assert_eq!(result, Ok(()), "{method}");
        assert_eq!(slack.attempts_to(method).len(), 4, "{method}");
        assert_eq!(slack.calls_to(method).len(), 2, "{method}: answered once per round");
    }
}

#[tokio::test]
async fn server_errors_are_retried_and_transient_slack_errors_too() {
    let slack = fake().await;
    slack.fault_next("chat.update", 2, Fault::Status(502));
    background(&slack).update_message("C1", "1.1", text("edited")).await.unwrap();
    assert_eq!(slack.attempts_to("chat.update").len(), 3);

    slack.fault_next("chat.update", 1, Fault::Error("internal_error".into()));
    background(&slack).update_message("C1", "1.1", text("edited")).await.unwrap();
    assert_eq!(slack.attempts_to("chat.update").len(), 5);
    assert_eq!(slack.calls_to("chat.update").len(), 2);
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let slack = fake().await;
    for code in ["channel_not_found", "not_in_channel", "invalid_auth"] {
        slack.fault_next("chat.postMessage", 1, Fault::Error(code.into()));
        let err = background(&slack).post_message("C1", text("hi")).await.unwrap_err();
        assert_eq!(err.code(), Some(code));
        assert!(!err.is_transient(), "{code}");
        assert_eq!(err.retry_after(), None);
    }
    assert_eq!(slack.attempts_to("chat.postMessage").len(), 3, "one attempt each");
    assert!(slack.calls().is_empty(), "no call answered");

    slack.fault_next("chat.postMessage", 1, Fault::Status(404));
    let err = background(&slack).post_message("C1", text("hi")).await.unwrap_err();
    assert_eq!(
        (err.clone(), err.is_transient()),
        (SlackApiError::Http { method: "chat.postMessage", status: 404 }, false)
    );
    assert_eq!(slack.attempts_to("chat.postMessage").len(), 4);
}

#[tokio::test]
async fn exhausted_retries_end_rate_limited_with_retry_after() {
    let slack = fake().await;
    slack.fault_next("chat.postMessage", 5, ONE_SECOND);
    let api = SlackApi::background(&slack.base_url(), "xoxb-test")
        .unwrap()
        .with_retries(RetryPolicy { max_retries: 1, ..RetryPolicy::default() });
    let err = api.post_message("C1", text("hi")).await.unwrap_err();
    assert_eq!(
        err,
        SlackApiError::RateLimited { method: "chat.postMessage", retry_after: Some(Duration::from_secs(1)) }
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert!(err.is_transient());
    assert_eq!(slack.attempts_to("chat.postMessage").len(), 2, "one try and one retry");

    slack.fault_next("chat.update", 5, Fault::Status(503));
    let err = api.update_message("C1", "1.1", text("x")).await.unwrap_err();
    assert_eq!(err, SlackApiError::Http { method: "chat.update", status: 503 });
    assert!(err.is_transient());
    assert_eq!(slack.attempts_to("chat.update").len(), 2, "one try and one retry");
}

#[tokio::test]
async fn the_total_wait_is_bounded() {
    let slack = fake().await;
    let policy = RetryPolicy { max_total: Duration::from_millis(500), ..RetryPolicy::default() };
    let api = SlackApi::new(&slack.base_url(), "xoxb-test").unwrap().with_retries(policy);

    slack.fault_next("chat.postMessage", 1, Fault::RateLimited { retry_after_secs: 30 });
    let started = Instant::now();
    let err = api.post_message("C1", text("hi")).await.unwrap_err();
    assert_eq!(err, SlackApiError::Timeout { method: "chat.postMessage" });
    assert!(err.is_transient());
    assert!(started.elapsed() < Duration::from_secs(10), "did not sit out a 30 s Retry-After");

    slack.fault_always(ANY_METHOD, Fault::Delay(Duration::from_secs(2)));
    let err = api.usergroup_members("S0SRE").await.unwrap_err();
    assert_eq!(err, SlackApiError::Timeout { method: "usergroups.users.list" });
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_slow_slack_answers_late_and_faults_combine_with_delays() {
    let slack = fake().await;
    slack.fault_always(ANY_METHOD, Fault::Delay(Duration::from_millis(300)));
    slack.fault_next("users.info", 1, Fault::Error("fatal_error".into()));
    let api = interactive(&slack);
    let started = Instant::now();
    let err = api.user_info("U2").await.unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(err.code(), Some("fatal_error"));
    assert!(err.is_transient());

    let started = Instant::now();
    assert_eq!(api.user_info("U2").await.unwrap().unwrap().id.0, "U2");
    assert!(started.elapsed() >= Duration::from_millis(300), "every call is slow");

    slack.clear_faults();
    api.user_info("U2").await.unwrap();
    assert_eq!(slack.attempts_to("users.info").len(), 3);
    assert_eq!(slack.calls_to("users.info").len(), 2);
}

#[tokio::test]
async fn refused_calls_are_recorded_apart_from_answered_ones() {
    let slack = fake().await;
    slack.fault_next(ANY_METHOD, 2, Fault::Status(500));
    let api = interactive(&slack);
    assert!(api.open_dm("U2").await.is_err());
    assert!(api.post_ephemeral("C1", "U2", "psst").await.is_err());
    assert_eq!(api.open_dm("U2").await.unwrap(), "DU2", "the fault is used up");

    assert_eq!(slack.calls().len(), 1);
    let attempts = slack.attempts();
    let refused: Vec<_> = attempts.iter().map(|c| (c.method.as_str(), c.refused.clone())).collect();
    assert_eq!(
        refused,
        [
            ("conversations.open", Some(Fault::Status(500))),
            ("chat.postEphemeral", Some(Fault::Status(500))),
            ("conversations.open", None)
        ]
    );
    // wait_for only ever returns answered calls.
    let call = slack.wait_for("conversations.open", |_| true, Duration::from_secs(1)).await;
    assert!(call.answered());
}

#[tokio::test]
async fn a_call_the_client_gave_up_on_is_still_recorded() {
    let slack = fake().await;
    slack.fault_next("chat.postEphemeral", 1, Fault::Delay(Duration::from_millis(500)));
    let api = interactive(&slack).with_timeout(Duration::from_millis(100));
    let err = api.post_ephemeral("C1", "U2", "late").await.unwrap_err();
    assert_eq!(err, SlackApiError::Timeout { method: "chat.postEphemeral" });
    let late = slack.wait_for("chat.postEphemeral", |c| c.arg("text") == Some("late"), Duration::from_secs(5)).await;
    assert!(late.answered(), "Slack did the work; only the answer was late");
}

#[tokio::test]
async fn transport_errors_are_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/", listener.local_addr().unwrap());
    drop(listener);
    let err = SlackApi::new(&url, "xoxb-t").unwrap().open_dm("U2").await.unwrap_err();
    assert!(matches!(err, SlackApiError::Transport { method: "conversations.open", .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(!err.to_string().contains("xoxb-t"));
}

#[tokio::test]
async fn the_failure_hook_is_told_of_every_failed_attempt_and_of_nothing_else() {
    let slack = fake().await;
    let seen: Arc<std::sync::Mutex<Vec<SlackApiError>>> = Arc::default();
    let api = background(&slack).on_failure(seen_hook(&seen));
    slack.fault_next("chat.update", 2, Fault::Status(502));
    api.for_channel().update_message("C1", "1.1", text("edited")).await.unwrap();
    slack.fault_next("views.open", 1, Fault::RateLimited { retry_after_secs: 30 });
    let interactive = interactive(&slack).on_failure(seen_hook(&seen));
    interactive.open_view("trigger", airlock_slack::views::error_modal("t", "m")).await.unwrap_err();
    interactive.user_info("U2").await.unwrap();
    api.post_message("C1", text("hi")).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            SlackApiError::Http { method: "chat.update", status: 502 },
            SlackApiError::Http { method: "chat.update", status: 502 },
            SlackApiError::RateLimited { method: "views.open", retry_after: Some(Duration::from_secs(30)) },
        ],
        "each failed attempt once, retried ones included (for_channel keeps the hook); none for calls that worked"
    );
    assert_eq!(seen[2].method(), Some("views.open"));
}

fn seen_hook(seen: &Arc<std::sync::Mutex<Vec<SlackApiError>>>) -> airlock_slack::api::FailureHook {
    let seen = seen.clone();
    Arc::new(move |e: &SlackApiError| seen.lock().unwrap().push(e.clone()))
}
