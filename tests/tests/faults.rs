//! Fault injection against the assembled server (`airlock serve`'s): Slack rate limits, errors and
//! slowness, and webhook targets that time out, fail for a while or refuse. Nothing is lost, no
//! grant waits for Slack, no ack waits for more than what must be synchronous, and a failed
//! escalation is cleaned up. Every wait is on something observable (a call the fakes received, a
//! status reached, polled), never on a fixed sleep.

use airlock_core::{AuditAction, RequestId, Status};
use airlock_e2e::*;
use airlock_testkit::slack::{ANY_METHOD, Fault, SlackCall, block_actions_body, slash_command_body};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How long a fault-tolerant path may take to recover (Slack retries, outbox backoff).
const RECOVERY: Duration = Duration::from_secs(30);

/// True when `call` went to `user` directly (their id, or their DM channel).
fn to_user(call: &SlackCall, user: &str) -> bool {
    call.arg("channel").is_some_and(|ch| ch == user || ch == format!("D{user}"))
}

/// Answered `chat.postMessage` calls to `channel` (a channel id, or a user for their DMs) whose body contains `needle`.
fn posts(t: &TestApp, channel: &str, needle: &str) -> Vec<SlackCall> {
    t.slack
        .calls_to("chat.postMessage")
        .into_iter()
        .filter(|c| (c.arg("channel") == Some(channel) || to_user(c, channel)) && c.text().contains(needle))
        .collect()
}

/// The calls to `method` the fake refused (answered with an injected fault).
fn refused(t: &TestApp, method: &str) -> Vec<SlackCall> {
    t.slack.attempts_to(method).into_iter().filter(|c| !c.answered()).collect()
}

/// Waits until the fake has received (answered or refused) a call to `method` matching `predicate`.
async fn wait_attempt(t: &TestApp, method: &str, predicate: impl Fn(&SlackCall) -> bool) -> SlackCall {
    let deadline = Instant::now() + RECOVERY;
    loop {
        if let Some(call) = t.slack.attempts_to(method).into_iter().find(|c| predicate(c)) {
            return call;
        }
        assert!(Instant::now() < deadline, "no {method} attempt within {RECOVERY:?}: {:?}", t.slack.attempts());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (up to `within`) until `check` holds; `what` names it in the failure.
async fn eventually(what: &str, within: Duration, check: impl AsyncFn() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until both approval cards of `id` (the channel's and Bob's DM) are recorded on it.
async fn cards_recorded(t: &TestApp, id: &RequestId) {
    eventually("both cards recorded on the request", SOON, async || {
        t.app.get_request(id).await.unwrap().cards().len() == 2
    })
    .await;
}

/// Waits (up to `within`) for a request to leave `Pending`/`Approved`, and returns where it went.
async fn settled(t: &TestApp, id: &RequestId, within: Duration) -> Status {
    let deadline = Instant::now() + within;
    loop {
        let status = t.status_of(id).await;
        if !matches!(status, Status::Pending | Status::Approved) {
            return status;
        }
        assert!(Instant::now() < deadline, "{id} is still {status} after {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks `action` on the request's card as `user` at once, whether or not a card was posted.
async fn click_now(t: &TestApp, user: &str, action: &str, id: &RequestId) -> reqwest::Response {
    t.slack_post(
        "/slack/interactions",
        &block_actions_body(user, action, id.as_str(), APPROVALS, "1700000000.000100"),
        FORM,
    )
    .await
}

/// The Slack calls the fake answered (or refused) while `action` ran: everything an ack waited for.
async fn calls_during<R>(t: &TestApp, action: impl Future<Output = R>) -> (R, Vec<SlackCall>) {
    let before = t.slack.attempts().len();
    let result = action.await;
    (result, t.slack.attempts().split_off(before))
}

fn methods(calls: &[SlackCall]) -> Vec<&str> {
    calls.iter().map(|c| c.method.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limited_messages_are_delivered_once_each() {
    let t = TestApp::spawn().await;
    t.slack.fault_next("chat.postMessage", 1, Fault::RateLimited { retry_after_secs: 1 });
    t.slack.fault_next("chat.update", 1, Fault::RateLimited { retry_after_secs: 1 });

    let id = t.request_prod(CAROL, "prod-admin", "1h", "Normal").await;
    let submitted = t.dm(CAROL, "was submitted").await;
    let limited = refused(&t, "chat.postMessage");
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].body, submitted.body, "the rate-limited call was the submitted DM, sent again as it was");
    t.slack
        .wait_for("chat.postMessage", |c| c.arg("channel") == Some(APPROVALS) && c.text().contains(id.as_str()), SOON)
        .await;
    t.slack.wait_for("chat.postMessage", |c| to_user(c, BOB) && c.text().contains(id.as_str()), SOON).await;
    cards_recorded(&t, &id).await;

    assert_eq!(t.click(BOB, "approve", &id).await.status(), 200);
    t.wait_status(&id, Status::Active, SOON).await;
    // The requester's last message comes after every earlier message about the request.
    t.slack.wait_for("chat.postMessage", |c| to_user(c, CAROL) && c.text().contains("is active"), RECOVERY).await;

    let limited = refused(&t, "chat.update");
    assert_eq!(limited.len(), 1, "one chat.update was rate limited");
    let updates = t.slack.calls_to("chat.update");
    assert!(updates.iter().any(|c| c.body == limited[0].body), "the rate-limited card update was delivered");
    for card_channel in [APPROVALS.to_string(), format!("D{BOB}")] {
        let to_card = updates.iter().filter(|c| c.arg("channel") == Some(card_channel.as_str())).count();
        assert_eq!(to_card, 2, "card in {card_channel}: one update for the approval and one for the grant");
    }
    assert!(updates.iter().all(|c| c.text().contains(id.as_str())));
    assert!(updates.iter().filter(|c| c.text().contains("access active")).count() >= 2, "both cards show the grant");
    assert_eq!(posts(&t, CAROL, "was submitted").len(), 1, "the submitted DM was delivered once");
    assert_eq!(posts(&t, CAROL, "is active").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slack_outage_delays_messages_and_blocks_no_grant() {
    let t = TestApp::spawn().await;
    // Carol, Dave and Bob have used Airlock before: who they are is cached.
    for user in [CAROL, DAVE, BOB] {
        let whoami = t.slack_post("/slack/commands", &slash_command_body("/access", "whoami", user, "t"), FORM).await;
        assert_eq!(whoami.status(), 200);
    }

    // Slack goes down: first `internal_error`s, then HTTP 503 on every method until it is back.
    t.slack.fault_next(ANY_METHOD, 3, Fault::Error("internal_error".into()));
    t.slack.fault_always(ANY_METHOD, Fault::Status(503));
    let id = t.request_prod(CAROL, "billing", "1h", "Normal").await;
    // The internal errors are used up and the 503s have begun when the approver clicks.
    wait_attempt(&t, "chat.postMessage", |c| c.refused == Some(Fault::Status(503))).await;
    let internal_errors =
        t.slack.attempts().iter().filter(|c| c.refused == Some(Fault::Error("internal_error".into()))).count();
    assert_eq!(internal_errors, 3);
    assert_eq!(click_now(&t, BOB, "approve", &id).await.status(), 200);
    t.wait_status(&id, Status::Active, SOON).await;
    assert_eq!(t.hooks.count("escalate", id.as_str()), 1, "granted while Slack was down");
    assert!(t.slack.calls_to("chat.postMessage").is_empty(), "Slack was still refusing every message");
    // Dave asks for something else while Slack is still down; it stays pending.
    let dave = t.request_prod(DAVE, "prod-admin", "1h", "Normal").await;
    eventually("Dave's cards queued while Slack is down", SOON, async || {
        t.app.get_request(&dave).await.unwrap().cards_queued()
    })
    .await;

    // Slack is back: everything arrives, once.
    t.slack.clear_faults();
    t.slack.wait_for("chat.postMessage", |c| to_user(c, CAROL) && c.text().contains("is active"), RECOVERY).await;
    assert_eq!(posts(&t, CAROL, "was submitted").len(), 1);
    assert_eq!(posts(&t, CAROL, "was approved").len(), 1);
    assert_eq!(posts(&t, CAROL, "is active").len(), 1);
    assert_eq!(posts(&t, APPROVALS, id.as_str()).len(), 1, "the card was posted once");
    eventually("audit lines: submitted, approved, granted", RECOVERY, async || {
        posts(&t, "C0AUDIT", id.as_str()).len() >= 3
    })
    .await;
    assert_eq!(posts(&t, "C0AUDIT", id.as_str()).len(), 3);
    let card = t.app.get_request(&id).await.unwrap().cards().to_vec();
    assert!(card.iter().any(|c| c.channel == APPROVALS), "the channel card is on the request: {card:?}");
    t.slack
        .wait_for(
            "chat.update",
            |c| c.arg("channel") == Some(APPROVALS) && c.text().contains("access active"),
            RECOVERY,
        )
        .await;

    // Dave's request is still waiting: its card reaches the channel and the approver's DMs (the
    // approver is looked up when their card is delivered, after Slack is back).
    t.slack
        .wait_for(
            "chat.postMessage",
            |c| c.arg("channel") == Some(APPROVALS) && c.text().contains(dave.as_str()),
            RECOVERY,
        )
        .await;
    t.dm(DAVE, "was submitted").await;
    eventually("Bob's DM card for Dave's request", SOON, async || posts(&t, BOB, dave.as_str()).len() == 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_card_post_that_is_rate_limited_is_posted_later() {
    let t = TestApp::spawn().await;
    // More rate limits on the channel's card than one delivery's retries: it goes back to the outbox.
    t.slack.fault_next_in("chat.postMessage", APPROVALS, 4, Fault::RateLimited { retry_after_secs: 1 });
    t.slack.fault_next_in("chat.postMessage", APPROVALS, 2, Fault::Error("ratelimited".into()));
    let id = t.request_prod(CAROL, "prod-admin", "1h", "Normal").await;
    t.dm(CAROL, "was submitted").await;

    t.slack.wait_for("chat.postMessage", |c| to_user(c, BOB) && c.text().contains(id.as_str()), RECOVERY).await;
    let limited = refused(&t, "chat.postMessage");
    assert_eq!(limited.len(), 6);
    assert!(
        limited.iter().all(|c| c.arg("channel") == Some(APPROVALS) && c.text().contains(id.as_str())),
        "{limited:?}"
    );
    assert_eq!(posts(&t, APPROVALS, id.as_str()).len(), 1, "the channel card was posted, once");
    assert_eq!(posts(&t, BOB, id.as_str()).len(), 1, "Bob's card was posted, once");
    assert_eq!(t.status_of(&id).await, Status::Pending);
    cards_recorded(&t, &id).await;

    // The re-posted card is the one updated with the decision.
    assert_eq!(t.click(BOB, "approve", &id).await.status(), 200);
    t.slack
        .wait_for("chat.update", |c| c.arg("channel") == Some(APPROVALS) && c.text().contains("access active"), SOON)
        .await;
    let card = t.app.get_request(&id).await.unwrap().cards().iter().find(|c| c.channel == APPROVALS).unwrap().clone();
    let updates = t.slack.calls_to("chat.update");
    let updates: Vec<_> = updates.iter().filter(|c| c.arg("channel") == Some(APPROVALS)).collect();
    assert!(updates.iter().all(|c| c.arg("ts") == Some(card.ts.as_str())), "{updates:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn acks_wait_for_nothing_but_the_identity_lookup_on_a_slow_slack() {
    let t = TestApp::spawn().await;
    t.slack.fault_always(ANY_METHOD, Fault::Delay(Duration::from_millis(300)));

    // A command that opens a view: views.open and at most one more call (Carol's users.info).
    let (answer, during) = calls_during(
        &t,
        t.slack_post("/slack/commands", &slash_command_body("/access", "prod", CAROL, "trig-slow"), FORM),
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert!(methods(&during).contains(&"views.open"), "{:?}", methods(&during));
    assert!(during.len() <= 2, "the command waited for {:?}", methods(&during));

    // A form submission by someone not seen yet: at most their users.info.
    let (answer, during) = calls_during(
        &t,
        t.submit_form(
            DAVE,
            "prod",
            &[
                ("target", Input::Select("prod-admin".into())),
                ("duration", Input::Select("1h".into())),
                ("reason", Input::Text("slow slack".into())),
                ("field:urgency", Input::Select("Normal".into())),
            ],
        ),
    )
    .await;
    assert_eq!(answer["response_action"], "clear", "{answer}");
    assert!(
        methods(&during).iter().all(|m| *m == "users.info") && during.len() <= 1,
        "the submission waited for {:?}",
        methods(&during)
    );
    let id = t.app.list_requests("dave@example.com", None, 10).await.unwrap().remove(0).id().clone();

    // Everything the submission implies is delivered before the click, so calls made for the click
    // are all that can arrive while it is answered.
    t.dm(DAVE, "was submitted").await;
    t.slack
        .wait_for("chat.postMessage", |c| c.arg("channel") == Some("C0AUDIT") && c.text().contains(id.as_str()), SOON)
        .await;
    t.slack
        .wait_for("chat.postMessage", |c| c.arg("channel") == Some(APPROVALS) && c.text().contains(id.as_str()), SOON)
        .await;
    t.slack.wait_for("chat.postMessage", |c| to_user(c, BOB) && c.text().contains(id.as_str()), SOON).await;
    cards_recorded(&t, &id).await;

    let (answer, during) = calls_during(&t, t.click(BOB, "approve", &id)).await;
    assert_eq!(answer.status(), 200);
    assert!(
        methods(&during).iter().all(|m| *m == "users.info") && during.len() <= 1,
        "the click waited for {:?}",
        methods(&during)
    );
    t.wait_status(&id, Status::Active, SOON).await;
    t.dm(DAVE, "is active").await;
}

/// What the flaky webhook target answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    Status(u16),
    /// Applies the call but answers only after the escalator's 10-second timeout.
    Late,
}

/// Decides the answer to a call from its action and how many calls of that action came before.
type Policy = dyn Fn(&str, usize) -> Answer + Send + Sync;

#[derive(Debug, Clone)]
struct HookCall {
    action: String,
    request_id: String,
    answer: Answer,
}

struct HookState {
    policy: Box<Policy>,
    calls: Mutex<Vec<HookCall>>,
}

/// A webhook target that answers as its policy says and records every signed call.
struct FlakyHook {
    addr: SocketAddr,
    state: Arc<HookState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FlakyHook {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FlakyHook {
    async fn start(policy: impl Fn(&str, usize) -> Answer + Send + Sync + 'static) -> FlakyHook {
        let state = Arc::new(HookState { policy: Box::new(policy), calls: Mutex::default() });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/hook", post(flaky_receive)).with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FlakyHook { addr, state, server }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn calls(&self, action: &str, request_id: &RequestId) -> Vec<HookCall> {
        let calls = self.state.calls.lock().unwrap();
        calls.iter().filter(|c| c.action == action && c.request_id == request_id.as_str()).cloned().collect()
    }

    /// Calls of `action` answered with a 2xx in time.
    fn succeeded(&self, action: &str, request_id: &RequestId) -> usize {
        self.calls(action, request_id).iter().filter(|c| c.answer == Answer::Ok).count()
    }
}

async fn flaky_receive(State(state): State<Arc<HookState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let Ok(timestamp) = header("x-airlock-timestamp").parse::<i64>() else {
        return StatusCode::BAD_REQUEST;
    };
    if !airlock_webhook::verify_signature(HOOK_SECRET.as_bytes(), timestamp, &body, &header("x-airlock-signature")) {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(call) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let action = call["action"].as_str().unwrap_or_default().to_string();
    let answer = {
        let mut calls = state.calls.lock().unwrap();
        let before = calls.iter().filter(|c| c.action == action).count();
        let answer = (state.policy)(&action, before);
        let request_id = call["request_id"].as_str().unwrap_or_default().to_string();
        calls.push(HookCall { action, request_id, answer });
        answer
    };
    match answer {
        Answer::Ok => StatusCode::OK,
        Answer::Status(status) => StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Answer::Late => {
            tokio::time::sleep(Duration::from_secs(12)).await;
            StatusCode::OK
        }
    }
}

/// One flow whose only target is the flaky webhook; `Emergency` requests are auto-approved.
fn webhook_config(url: &str) -> String {
    format!(
        r#"
organization:
  primary_domain: example.com
slack:
  command: /access
flows:
  - name: prod
    label: Production
    approvers:
      users: [bob@example.com]
      channel: {APPROVALS}
    durations: [1h]
    max_duration: 4h
    approval_timeout: 1h
    targets:
      - name: billing
        label: Billing console
        kind: webhook
        url: {url}
        secret_env: {HOOK_SECRET_ENV}
    fields:
      - name: urgency
        label: Urgency
        type: select
        allowed_values: [Normal, Emergency]
    rules:
      auto_approve: 'fields.urgency == "Emergency"'
"#
    )
}

/// Escalation calls the old fixed budget made before failing a grant (4 attempts of 4 calls).
const OLD_BUDGET_CALLS: usize = 16;

#[tokio::test(flavor = "multi_thread")]
async fn an_escalation_outlasts_a_webhook_outage_longer_than_the_old_budget() {
    let hook = FlakyHook::start(|action, before| match action {
        "escalate" if before <= OLD_BUDGET_CALLS => Answer::Status(503),
        _ => Answer::Ok,
    })
    .await;
    let url = hook.url();
    let t = TestApp::spawn_with(|_| webhook_config(&url), None).await;
    let id = t.request_prod(CAROL, "billing", "1h", "Emergency").await;

    let ended = settled(&t, &id, ESCALATION_BUDGET + SOON).await;
    let answers: Vec<Answer> = hook.calls("escalate", &id).iter().map(|c| c.answer).collect();
    assert_eq!(ended, Status::Active, "the grant gave up after {answers:?}");
    assert_eq!(answers.len(), OLD_BUDGET_CALLS + 2, "{answers:?}");
    assert_eq!(hook.succeeded("escalate", &id), 1);
    assert!(hook.calls("deescalate", &id).is_empty(), "nothing removed");
    t.dm(CAROL, "is active").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_escalation_that_times_out_then_fails_for_good_is_removed() {
    // The target applies the grant but answers after the escalator's timeout, then fails every
    // retry until the budget is spent; the first removal attempt fails too.
    let hook = FlakyHook::start(|action, before| match (action, before) {
        ("escalate", 0) => Answer::Late,
        ("escalate", _) => Answer::Status(503),
        ("deescalate", 0) => Answer::Status(503),
        _ => Answer::Ok,
    })
    .await;
    let url = hook.url();
    let t = TestApp::spawn_with(|_| webhook_config(&url), None).await;
    let id = t.request_prod(CAROL, "billing", "1h", "Emergency").await;

    assert_eq!(settled(&t, &id, ESCALATION_BUDGET + SOON).await, Status::Failed);
    t.dm(CAROL, "could not be granted").await;
    removed_after_failure(&t, &hook, &id).await;
    let escalations: Vec<Answer> = hook.calls("escalate", &id).iter().map(|c| c.answer).collect();
    assert_eq!(escalations.first(), Some(&Answer::Late));
    assert!(escalations[1..].iter().all(|a| *a == Answer::Status(503)), "{escalations:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_escalation_fails_at_once_and_is_removed() {
    let hook = FlakyHook::start(|action, before| match (action, before) {
        ("escalate", _) => Answer::Status(403),
        ("deescalate", 0) => Answer::Status(503),
        _ => Answer::Ok,
    })
    .await;
    let url = hook.url();
    let t = TestApp::spawn_with(|_| webhook_config(&url), None).await;
    let id = t.request_prod(CAROL, "billing", "1h", "Emergency").await;

    assert_eq!(settled(&t, &id, SOON).await, Status::Failed);
    t.dm(CAROL, "could not be granted").await;
    removed_after_failure(&t, &hook, &id).await;
    let escalations: Vec<Answer> = hook.calls("escalate", &id).iter().map(|c| c.answer).collect();
    assert_eq!(escalations, [Answer::Status(403)], "a refusal is not retried");
}

/// After a failed escalation: one removal that succeeds (after a failed attempt), recorded on the
/// request and in its audit trail.
async fn removed_after_failure(t: &TestApp, hook: &FlakyHook, id: &RequestId) {
    eventually("a deescalate after the failed escalation", SOON, async || hook.succeeded("deescalate", id) > 0).await;
    eventually("the removal recorded on the request", SOON, async || {
        t.app.get_request(id).await.unwrap().access_removed_at().is_some()
    })
    .await;
    let removals: Vec<Answer> = hook.calls("deescalate", id).iter().map(|c| c.answer).collect();
    assert_eq!(removals, [Answer::Status(503), Answer::Ok], "the removal is retried until it succeeds, once");
    let actions: Vec<_> = t.app.audit_trail(id).await.unwrap().into_iter().map(|e| e.action).collect();
    assert!(actions.contains(&AuditAction::EscalationFailed), "{actions:?}");
}
