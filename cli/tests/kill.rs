//! `airlock serve` killed with SIGKILL at each step of the flow and restarted on the same SQLite
//! file: no lost message, no lost revoke, no double grant, no request stuck.
//!
//! Each test runs the real binary as a child process against an in-test fake Slack (behind a
//! [`SlackFront`] that can hold a call unanswered) and webhook receiver, holds the flow exactly at
//! one step (the fake has received the call and does not answer), kills the process, starts a new
//! one on the same data, and checks the outcome through the API, the fakes and the audit trail.

use airlock_testkit::hooks::HookReceiver;
use airlock_testkit::slack::{FORM, FakeSlack, FakeUser, SlackCall, SlackSigner, block_actions_body};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};

const SIGNING_SECRET: &str = "kill-signing-secret";
const BOT_TOKEN: &str = "xoxb-kill";
const API_TOKEN: &str = "kill-api-token";
const HOOK_SECRET_ENV: &str = "AIRLOCK_KILL_HOOK_SECRET";
const HOOK_SECRET: &str = "kill-hook-secret";
const CAROL: &str = "U0CAROL";
const BOB: &str = "U0BOB";
const APPROVALS: &str = "C0APPROVALS";
/// How long something due at once after a (re)start may take: the outbox is polled every 200 ms,
/// the workflow resumes at start.
const SOON: Duration = Duration::from_secs(10);
/// How long a start may take until `/healthz` answers (the runner has resumed by then).
const START: Duration = Duration::from_secs(20);
/// The short grant of the test flow.
const SHORT: &str = "3s";
const SHORT_SECS: u64 = 3;

fn config_yaml(hook_url: &str) -> String {
    format!(
        r#"organization:
  primary_domain: example.com
  admins: [alice@example.com]
slack:
  command: /access
flows:
  - name: prod
    label: Production
    approvers:
      users: [bob@example.com]
      channel: {APPROVALS}
    durations: [{SHORT}, 1h]
    max_duration: 4h
    approval_timeout: 1h
    targets:
      - name: billing
        label: Billing console
        kind: webhook
        url: {hook_url}
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

/// A call that reached the front, as raw text (query and body), to match ids and phrases.
#[derive(Debug, Clone)]
struct Arrival {
    method: String,
    text: String,
}

struct FrontHold {
    method: String,
    needle: String,
    arrived: watch::Sender<bool>,
}

struct FrontShared {
    upstream: String,
    client: reqwest::Client,
    arrivals: Mutex<Vec<Arrival>>,
    holds: Mutex<Vec<FrontHold>>,
    /// Calls to this method are answered HTTP 429 with this `Retry-After` (seconds), not forwarded.
    rate_limited: Mutex<Option<(String, u64)>>,
    changed: Notify,
}

/// Stands in front of the fake Slack: forwards every Web API call to it and logs each arrival;
/// on command holds one call unanswered forever (never forwarded), as a Slack that took the call
/// and did not answer before the process died, or rate-limits a method. Both are decided when the
/// call arrives, so a call the killed process made can never reach the fake after the test has
/// changed its mind.
struct SlackFront {
    addr: std::net::SocketAddr,
    shared: Arc<FrontShared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for SlackFront {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl SlackFront {
    async fn start(slack: &FakeSlack) -> SlackFront {
        let shared = Arc::new(FrontShared {
            upstream: slack.base_url(),
            client: reqwest::Client::new(),
            arrivals: Mutex::default(),
            holds: Mutex::default(),
            rate_limited: Mutex::default(),
            changed: Notify::new(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/api/{method}", any(forward)).with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        SlackFront { addr, shared, server }
    }

    /// The `SLACK_API_URL` to give the server.
    fn base_url(&self) -> String {
        format!("http://{}/api/", self.addr)
    }

    /// Holds the next call to `method` whose text contains `needle`; the receiver turns true
    /// when it has arrived.
    fn hold_next(&self, method: &str, needle: &str) -> watch::Receiver<bool> {
        let (arrived, seen) = watch::channel(false);
        self.shared.holds.lock().unwrap().push(FrontHold { method: method.into(), needle: needle.into(), arrived });
        seen
    }

    /// Answers every call to `method` with HTTP 429, `Retry-After: retry_after_secs` and
    /// `{"ok": false, "error": "ratelimited"}` as Slack does, until [`Self::stop_rate_limit`].
    fn rate_limit(&self, method: &str, retry_after_secs: u64) {
        *self.shared.rate_limited.lock().unwrap() = Some((method.into(), retry_after_secs));
    }

    fn stop_rate_limit(&self) {
        *self.shared.rate_limited.lock().unwrap() = None;
    }

    /// Waits until a call to `method` whose text satisfies `matches` has arrived (answered or not).
    async fn wait_arrival(&self, method: &str, matches: impl Fn(&str) -> bool) {
        let deadline = tokio::time::Instant::now() + SOON;
        loop {
            let changed = self.shared.changed.notified();
            if self.shared.arrivals.lock().unwrap().iter().any(|a| a.method == method && matches(&a.text)) {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                let seen = self.shared.arrivals.lock().unwrap().clone();
                panic!("no matching {method} call arrived within {SOON:?}; arrived: {seen:#?}");
            }
        }
    }
}

async fn forward(
    State(front): State<Arc<FrontShared>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    http_method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = format!("{} {}", query.as_deref().unwrap_or_default(), String::from_utf8_lossy(&body));
    let retry_after = match front.rate_limited.lock().unwrap().as_ref() {
        Some((limited, secs)) if *limited == method => Some(*secs),
        _ => None,
    };
    let held = match retry_after {
        Some(_) => None,
        None => {
            let mut holds = front.holds.lock().unwrap();
            let index = holds.iter().position(|h| h.method == method && text.contains(&h.needle));
            index.map(|i| holds.remove(i))
        }
    };
    front.arrivals.lock().unwrap().push(Arrival { method: method.clone(), text });
    front.changed.notify_waiters();
    if let Some(secs) = retry_after {
        let body = json!({"ok": false, "error": "ratelimited"}).to_string();
        let headers = [(header::CONTENT_TYPE, "application/json".to_string()), (header::RETRY_AFTER, secs.to_string())];
        return (StatusCode::TOO_MANY_REQUESTS, headers, body).into_response();
    }
    if let Some(hold) = held {
        hold.arrived.send_replace(true);
        std::future::pending::<()>().await;
    }
    let mut url = format!("{}{method}", front.upstream);
    if let Some(query) = query {
        url = format!("{url}?{query}");
    }
    let mut call = front.client.request(http_method, url).body(body);
    for name in [header::CONTENT_TYPE, header::AUTHORIZATION] {
        if let Some(value) = headers.get(&name) {
            call = call.header(name, value);
        }
    }
    let answer = match call.send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status();
    let mut kept = HeaderMap::new();
    for name in [header::CONTENT_TYPE, header::RETRY_AFTER] {
        if let Some(value) = answer.headers().get(&name) {
            kept.insert(name, value.clone());
        }
    }
    let body = answer.bytes().await.unwrap_or_default();
    (status, kept, body).into_response()
}

/// One `airlock serve` process.
struct Server {
    child: Child,
    base: String,
}

/// The fakes, the data directory, and the server process running on them.
struct Harness {
    dir: tempfile::TempDir,
    slack: FakeSlack,
    front: SlackFront,
    hooks: HookReceiver,
    http: reqwest::Client,
    server: Option<Server>,
    starts: usize,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Harness {
    async fn start() -> Harness {
        let slack = FakeSlack::start(
            vec![
                FakeUser::new(CAROL, "carol@example.com", "Carol"),
                FakeUser::new(BOB, "bob@example.com", "Bob"),
                FakeUser::new("U0ALICE", "alice@example.com", "Alice"),
            ],
            vec![],
        )
        .await;
        let front = SlackFront::start(&slack).await;
        let hooks = HookReceiver::start(HOOK_SECRET).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("airlock.yaml"), config_yaml(&hooks.url())).unwrap();
        let mut harness = Harness { dir, slack, front, hooks, http: reqwest::Client::new(), server: None, starts: 0 };
        harness.serve().await;
        harness
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("airlock.db")
    }

    fn log(&self, start: usize) -> PathBuf {
        self.dir.path().join(format!("serve-{start}.log"))
    }

    /// Starts `airlock serve` on the data directory and waits until it answers.
    async fn serve(&mut self) {
        assert!(self.server.is_none(), "a server is already running");
        self.starts += 1;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = File::create(self.log(self.starts)).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_airlock"))
            .arg("serve")
            .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
            .env("SLACK_BOT_TOKEN", BOT_TOKEN)
            .env("SLACK_API_URL", self.front.base_url())
            .env("AIRLOCK_CONFIG", self.dir.path().join("airlock.yaml"))
            .env("AIRLOCK_DATA", self.db())
            .env("AIRLOCK_ADDR", format!("127.0.0.1:{port}"))
            .env("AIRLOCK_API_TOKENS", format!("kill:{API_TOKEN}:submit,read,revoke"))
            .env(HOOK_SECRET_ENV, HOOK_SECRET)
            .env("RUST_LOG", "info")
            .env_remove("AIRLOCK_STORE")
            .env_remove("AIRLOCK_EVENT_BUS")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start airlock serve");
        let mut server = Server { child, base: format!("http://127.0.0.1:{port}") };
        let deadline = tokio::time::Instant::now() + START;
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("airlock serve exited with {status} at start:\n{}", self.log_text(self.starts));
            }
            let health = self.http.get(format!("{}/healthz", server.base)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                let _ = server.child.kill();
                panic!("airlock serve did not answer within {START:?}:\n{}", self.log_text(self.starts));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.server = Some(server);
    }

    /// SIGKILL (what `Child::kill` sends on Unix), and reap the process.
    fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.child.kill();
            let _ = server.child.wait();
        }
    }

    /// Kills the server with SIGKILL and starts a new one on the same data.
    async fn kill_and_restart(&mut self) {
        self.kill();
        self.serve().await;
    }

    fn base(&self) -> &str {
        &self.server.as_ref().expect("a running server").base
    }

    fn log_text(&self, start: usize) -> String {
        std::fs::read_to_string(self.log(start)).unwrap_or_default()
    }

    /// Everything worth reading when a test fails: the request, its audit trail, the server logs.
    async fn diagnostics(&self, id: &str) -> String {
        let request = match &self.server {
            Some(_) => self.request(id).await.to_string(),
            None => "(no server running)".into(),
        };
        let logs: Vec<String> =
            (1..=self.starts).map(|n| format!("--- serve #{n} log ---\n{}", self.log_text(n))).collect();
        format!("request: {request}\naudit trail:\n{}\n{}", self.audit(id).join("\n"), logs.join("\n"))
    }

    /// `airlock audit ID` on the same data: one line per audit event.
    fn audit(&self, id: &str) -> Vec<String> {
        let out =
            Command::new(env!("CARGO_BIN_EXE_airlock")).args(["audit", id]).env("AIRLOCK_DATA", self.db()).output();
        let out = out.expect("run airlock audit");
        assert!(out.status.success(), "airlock audit failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
    }

    /// How many audit events of `action` the request has.
    fn audited(&self, id: &str, action: &str) -> usize {
        self.audit(id).iter().filter(|line| line.split_whitespace().nth(1) == Some(action)).count()
    }

    /// Carol asks for the webhook target for `duration`; `Emergency` is approved by the flow's rule.
    async fn submit(&self, urgency: &str, duration: &str) -> String {
        let body = json!({"requester": "carol@example.com", "flow": "prod", "target": "billing",
            "duration": duration, "reason": "INC-9", "fields": {"urgency": urgency}});
        let answer =
            self.http.post(format!("{}/api/v1/requests", self.base())).bearer_auth(API_TOKEN).json(&body).send().await;
        let answer = answer.unwrap();
        assert_eq!(answer.status(), StatusCode::ACCEPTED);
        let answer: Value = answer.json().await.unwrap();
        answer["id"].as_str().expect("the new request's id").to_string()
    }

    async fn request(&self, id: &str) -> Value {
        let url = format!("{}/api/v1/requests/{id}", self.base());
        let answer = self.http.get(url).bearer_auth(API_TOKEN).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        answer.json().await.unwrap()
    }

    /// Waits until the request satisfies `done` (described by `what`); panics with diagnostics.
    async fn wait_request(&self, id: &str, what: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let request = self.request(id).await;
            if done(&request) {
                return request;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("{id} did not become {what} within {within:?}\n{}", self.diagnostics(id).await);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn wait_status(&self, id: &str, status: &str, within: Duration) -> Value {
        self.wait_request(id, status, within, |r| r["status"] == status).await
    }

    /// Bob clicks Approve on the request's card (a signed `block_actions`, as Slack sends it).
    async fn approve(&self, id: &str) {
        let body = block_actions_body(BOB, "approve", id, APPROVALS, "1700000000.000100");
        let headers = SlackSigner::new(SIGNING_SECRET).header_map(body.as_bytes(), FORM);
        let url = format!("{}/slack/interactions", self.base());
        let answer = self.http.post(url).headers(headers).body(body).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "the click was not acked");
    }

    /// The calls Slack answered (not the held or refused ones) to `method` about `id`.
    fn slack_calls(&self, method: &str, id: &str, matches: impl Fn(&SlackCall) -> bool) -> Vec<SlackCall> {
        self.slack.calls_to(method).into_iter().filter(|c| c.text().contains(id) && matches(c)).collect()
    }
}

fn to_carol(call: &SlackCall) -> bool {
    call.arg("channel").is_some_and(|c| c == CAROL || c == format!("D{CAROL}"))
}

fn in_channel(call: &SlackCall) -> bool {
    call.arg("channel") == Some(APPROVALS)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_card_post_hanging_at_the_kill_is_posted_after_the_restart_and_one_approval_grants_once() {
    let mut h = Harness::start().await;
    let mut card_held = h.front.hold_next("chat.postMessage", APPROVALS);
    let id = h.submit("Normal", "1h").await;
    tokio::time::timeout(SOON, card_held.wait_for(|arrived| *arrived)).await.unwrap().unwrap();

    h.kill_and_restart().await;

    let card = |c: &SlackCall| in_channel(c);
    h.slack.wait_for("chat.postMessage", |c| card(c) && c.text().contains(&id), SOON).await;
    h.approve(&id).await;
    h.wait_status(&id, "active", SOON).await;
    assert_eq!(h.hooks.count("escalate", &id), 1, "{}", h.diagnostics(&id).await);
    assert_eq!(h.audited(&id, "access_granted"), 1, "{}", h.diagnostics(&id).await);
    assert_eq!(h.slack_calls("chat.postMessage", &id, card).len(), 1, "one card in the channel");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_escalation_hanging_at_the_kill_grants_once_after_the_restart_and_is_removed_once_at_expiry() {
    let mut h = Harness::start().await;
    let held = h.hooks.hold_next("escalate");
    let id = h.submit("Emergency", SHORT).await;
    held.arrived(SOON).await;
    assert_eq!(h.request(&id).await["status"], "approved", "nothing recorded before the target answered");

    h.kill_and_restart().await;

    let active = h.wait_status(&id, "active", SOON).await;
    assert!(active["granted_at"].is_string());
    let removed = |r: &Value| r["status"] == "expired" && r["access_removed_at"].is_string();
    h.wait_request(&id, "expired and removed", SOON + Duration::from_secs(SHORT_SECS), removed).await;
    let diagnostics = h.diagnostics(&id).await;
    assert!(h.hooks.count("escalate", &id) >= 2, "the grant was made again after the restart: {diagnostics}");
    assert_eq!(h.audited(&id, "access_granted"), 1, "one grant: {diagnostics}");
    assert_eq!(h.hooks.count("deescalate", &id), 1, "one removal: {diagnostics}");
    assert_eq!(h.audited(&id, "expired"), 1, "{diagnostics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deescalation_hanging_at_the_kill_is_completed_after_the_restart() {
    let mut h = Harness::start().await;
    let held = h.hooks.hold_next("deescalate");
    let id = h.submit("Emergency", SHORT).await;
    h.wait_status(&id, "active", SOON).await;
    held.arrived(SOON + Duration::from_secs(SHORT_SECS)).await;
    let before = h.request(&id).await;
    assert!(before["status"] == "active" && before["access_removed_at"].is_null(), "{before}");

    h.kill_and_restart().await;

    let removed = |r: &Value| r["status"] == "expired" && r["access_removed_at"].is_string();
    h.wait_request(&id, "expired and removed", SOON, removed).await;
    let diagnostics = h.diagnostics(&id).await;
    assert_eq!(h.hooks.count("deescalate", &id), 2, "the removal was sent again: {diagnostics}");
    assert_eq!(h.hooks.count("escalate", &id), 1, "{diagnostics}");
    assert_eq!(h.audited(&id, "expired"), 1, "{diagnostics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoke_answered_before_the_kill_still_removes_the_access_after_the_restart() {
    let mut h = Harness::start().await;
    let id = h.submit("Emergency", "1h").await;
    h.wait_status(&id, "active", SOON).await;
    let held = h.hooks.hold_next("deescalate");
    let url = format!("{}/api/v1/requests/{id}/revoke", h.base());
    let answer = h.http.post(url).bearer_auth(API_TOKEN).send().await.unwrap();
    assert!(answer.status().is_success(), "revoke answered {}", answer.status());
    let revoked: Value = answer.json().await.unwrap();
    assert_eq!(revoked["status"], "revoked");
    held.arrived(SOON).await;

    h.kill_and_restart().await;

    let removed = |r: &Value| r["access_removed_at"].is_string();
    let request = h.wait_request(&id, "removed (access_removed_at set)", SOON, removed).await;
    assert_eq!(request["status"], "revoked");
    let diagnostics = h.diagnostics(&id).await;
    assert_eq!(h.hooks.count("deescalate", &id), 2, "the removal was sent again: {diagnostics}");
    assert_eq!(h.audited(&id, "revoked"), 1, "{diagnostics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dm_rate_limited_at_the_kill_is_delivered_once_after_the_restart() {
    let mut h = Harness::start().await;
    h.front.rate_limit("chat.postMessage", 1);
    let id = h.submit("Normal", "1h").await;
    let submitted = |text: &str| text.contains(&id) && text.contains("was submitted");
    h.front.wait_arrival("chat.postMessage", submitted).await;

    h.kill();
    h.front.stop_rate_limit();
    h.serve().await;

    let dm = |c: &SlackCall| to_carol(c) && c.text().contains("was submitted");
    h.slack.wait_for("chat.postMessage", |c| dm(c) && c.text().contains(&id), SOON).await;
    // Carol's next DM comes after it (one request's messages go out in order): once she has it,
    // nothing of the first one is left to send.
    h.approve(&id).await;
    let active = |c: &SlackCall| to_carol(c) && c.text().contains("is active");
    h.slack.wait_for("chat.postMessage", active, SOON).await;
    assert_eq!(h.slack_calls("chat.postMessage", &id, dm).len(), 1, "delivered once");
}
