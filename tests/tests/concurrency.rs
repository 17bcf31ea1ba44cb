//! Concurrency against the assembled server (`airlock serve`'s): a storm of Approve clicks (and
//! Slack's redeliveries of them) on one request escalates once, and one person submitting the same
//! form many times at once makes one request.

use airlock_core::{RequestId, Status};
use airlock_e2e::*;
use airlock_testkit::slack::{SlackSigner, block_actions_body, request_form_submission_body};
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Signs and POSTs `body` to `/slack/interactions`; `retry` marks it as Slack's redelivery number `retry`.
async fn post_interaction(
    http: reqwest::Client,
    base: String,
    body: String,
    retry: Option<u32>,
) -> (StatusCode, String) {
    let mut headers = SlackSigner::new(SIGNING_SECRET).header_map(body.as_bytes(), FORM);
    if let Some(n) = retry {
        headers.insert("x-slack-retry-num", HeaderValue::from(n));
        headers.insert("x-slack-retry-reason", HeaderValue::from_static("http_timeout"));
    }
    let response = http
        .post(format!("{base}/slack/interactions"))
        .headers(headers)
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

/// Runs every `(body, retry)` at once and returns the answers.
async fn all_at_once(t: &TestApp, posts: Vec<(String, Option<u32>)>) -> Vec<(StatusCode, String)> {
    let mut set = JoinSet::new();
    for (body, retry) in posts {
        set.spawn(post_interaction(t.http.clone(), t.base.clone(), body, retry));
    }
    set.join_all().await
}

async fn eventually(what: &str, within: Duration, check: impl AsyncFn() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn approvals(t: &TestApp, id: &RequestId) -> usize {
    t.app.audit_trail(id).await.unwrap().iter().filter(|e| e.action == "approved").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_approve_clicks_and_their_retries_escalate_once() {
    let t = TestApp::spawn().await;
    let id = t.request_prod(CAROL, "billing", "1h", "Normal").await;
    t.slack
        .wait_for("chat.postMessage", |c| c.arg("channel") == Some(APPROVALS) && c.text().contains(id.as_str()), SOON)
        .await;

    // Bob and Alice (an admin) click Approve 500 times between them; every fifth delivery is Slack
    // redelivering a click it thinks timed out.
    let clicks = (0..500)
        .map(|i| {
            let clicker = if i % 3 == 0 { ALICE } else { BOB };
            let body = block_actions_body(clicker, "approve", id.as_str(), APPROVALS, "1700000000.000100");
            (body, (i % 5 == 4).then_some(1 + i % 3))
        })
        .collect();
    let started = Instant::now();
    let answers = all_at_once(&t, clicks).await;
    let acked = started.elapsed();
    let not_ok: Vec<_> = answers.iter().filter(|(status, _)| *status != StatusCode::OK).collect();
    assert!(not_ok.is_empty(), "{} clicks were not acked: {:?}", not_ok.len(), &not_ok[..not_ok.len().min(5)]);

    t.wait_status(&id, Status::Active, SOON).await;
    // The requester hears that the access is active only after the grant is recorded.
    eventually("Carol told the access is active", Duration::from_secs(60), async || {
        t.slack
            .calls_to("chat.postMessage")
            .iter()
            .any(|c| c.arg("channel").is_some_and(|ch| ch.ends_with(CAROL)) && c.text().contains("is active"))
    })
    .await;
    let told = started.elapsed();
    assert_eq!(t.hooks.count("escalate", id.as_str()), 1, "one escalation");
    assert_eq!(approvals(&t, &id).await, 1, "one approved audit event");
    let request = t.app.get_request(&id).await.unwrap();
    assert_eq!(request.status(), Status::Active);
    assert_eq!(request.approvals().len(), 1);
    // Every other first delivery is told, once, that it changed nothing; redeliveries are ignored.
    eventually("399 clickers told nothing changed", Duration::from_secs(60), async || {
        t.slack.calls_to("chat.postEphemeral").len() >= 399
    })
    .await;
    let notices = t.slack.calls_to("chat.postEphemeral");
    assert_eq!(notices.len(), 399);
    assert!(notices.iter().all(|c| c.text().contains("Nothing changed")), "{:?}", notices[0]);
    eprintln!(
        "500 clicks acked in {acked:?}; requester told in {told:?}; clickers in {:?}; users.info calls: {}",
        started.elapsed(),
        t.slack.calls_to("users.info").len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_submissions_of_one_form_make_one_request() {
    let t = TestApp::spawn().await;
    let form = |reason: &str| {
        request_form_submission_body(
            CAROL,
            "prod",
            &[
                ("target", Input::Select("prod-admin".into())),
                ("duration", Input::Select("1h".into())),
                ("reason", Input::Text(reason.into())),
                ("field:urgency", Input::Select("Normal".into())),
            ],
        )
    };

    // The same signed bytes 50 times (Slack redelivering, or a replay): one request, the rest cleared.
    let answers = all_at_once(&t, (0..50).map(|_| (form("INC-9"), None)).collect()).await;
    assert!(answers.iter().all(|(status, _)| *status == StatusCode::OK), "{answers:?}");
    for (_, text) in &answers {
        let answer: serde_json::Value = serde_json::from_str(text).expect("a JSON answer");
        assert_eq!(answer["response_action"], "clear", "{answer}");
    }
    let mine = t.app.list_requests("carol@example.com", None, 100).await.unwrap();
    assert_eq!(mine.len(), 1, "one request");

    // 50 different submissions for the same access (other reasons): one open request, the rest are
    // refused as duplicates on the form.
    let answers = all_at_once(&t, (0..50).map(|i| (form(&format!("ticket {i}")), None)).collect()).await;
    assert!(answers.iter().all(|(status, _)| *status == StatusCode::OK), "{answers:?}");
    for (_, text) in &answers {
        let answer: serde_json::Value = serde_json::from_str(text).expect("a JSON answer");
        assert_eq!(answer["response_action"], "errors", "{answer}");
        assert!(answer["errors"]["target"].is_string(), "{answer}");
    }
    assert_eq!(t.app.list_requests("carol@example.com", None, 100).await.unwrap().len(), 1, "still one request");

    t.dm(CAROL, "was submitted").await;
    t.slack.wait_for("chat.postMessage", |c| c.arg("channel") == Some(APPROVALS), SOON).await;
    let submitted = t.slack.calls_to("chat.postMessage").iter().filter(|c| c.text().contains("was submitted")).count();
    assert_eq!(submitted, 1, "one submitted DM");
    let cards = t.slack.calls_to("chat.postMessage").iter().filter(|c| c.arg("channel") == Some(APPROVALS)).count();
    assert_eq!(cards, 1, "one card");
}
