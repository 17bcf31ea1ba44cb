//! A simulated Slack for `airlock demo` and the tests: [`FakeSlack`], a Web API server on a loopback
//! port that records every call and answers like Slack, or with a [`Fault`] when asked;
//! [`SlackSigner`], which signs request bodies as Slack does; and builders of realistic inbound
//! payloads (slash commands, button clicks, modal submissions, events) in the shapes Airlock's Slack
//! app reads. `airlock_testkit::slack` re-exports it for the tests.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// A workspace member the fake knows (users.info, users.lookupByEmail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    pub id: String,
    pub email: String,
    pub name: String,
}

impl FakeUser {
    pub fn new(id: &str, email: &str, name: &str) -> Self {
        Self { id: id.into(), email: email.into(), name: name.into() }
    }
}

/// One recorded Web API call.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackCall {
    /// The method, e.g. `chat.postMessage`.
    pub method: String,
    /// The arguments as a JSON object, whether sent as JSON, as a form or in the query string.
    pub body: Value,
    /// True when the call carried a non-empty `Authorization: Bearer` token.
    pub authorized: bool,
    /// The fault the fake answered with instead of Slack's answer; None when it answered as Slack
    /// would (a [`Fault::Delay`] still answers, so it is never recorded here).
    pub refused: Option<Fault>,
}

impl SlackCall {
    /// A string argument (`channel`, `user`, `text`, …).
    pub fn arg(&self, name: &str) -> Option<&str> {
        self.body.get(name).and_then(Value::as_str)
    }

    /// The whole body as text, to search for an id or a phrase anywhere in it.
    pub fn text(&self) -> String {
        self.body.to_string()
    }

    /// True when the fake answered as Slack would, not with an injected fault.
    pub fn answered(&self) -> bool {
        self.refused.is_none()
    }
}

/// What the fake does to a call instead of answering it normally (see [`FakeSlack::fault_next`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 429 with `Retry-After: <secs>` and `{"ok": false, "error": "ratelimited"}`, as Slack
    /// answers a rate-limited call.
    RateLimited { retry_after_secs: u64 },
    /// This HTTP status (e.g. 500, 503) with a plain-text body, as Slack's front end answers when
    /// Slack is down.
    Status(u16),
    /// HTTP 200 with `{"ok": false, "error": <code>}`.
    Error(String),
    /// The normal answer, sent after this long (a slow Slack; longer than a client's timeout: a
    /// Slack that times out). Combines with one of the other faults.
    Delay(Duration),
}

/// The method name that makes a fault apply to every method.
pub const ANY_METHOD: &str = "*";

struct FaultRule {
    method: String,
    /// Only calls whose `channel` argument is this one; None: any.
    channel: Option<String>,
    /// Calls left to fault; None: every call.
    remaining: Option<usize>,
    fault: Fault,
}

impl FaultRule {
    fn applies(&self, method: &str, channel: Option<&str>, delay: bool) -> bool {
        (self.method == ANY_METHOD || self.method == method)
            && self.channel.as_deref().is_none_or(|c| Some(c) == channel)
            && matches!(self.fault, Fault::Delay(_)) == delay
            && self.remaining != Some(0)
    }
}

struct Directory {
    users: Vec<FakeUser>,
    groups: HashMap<String, Vec<String>>,
}

struct Shared {
    directory: Directory,
    calls: Mutex<Vec<SlackCall>>,
    faults: Mutex<Vec<FaultRule>>,
    changed: Notify,
    counter: AtomicU64,
}

/// A fake Slack Web API on `127.0.0.1`, serving `/api/<method>` until dropped.
pub struct FakeSlack {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeSlack {
    /// Starts the fake inside the current tokio runtime with `users` and user `groups`
    /// (`(group id, member user ids)`). Panics when no loopback port can be bound (tests);
    /// [`Self::try_start`] returns the error.
    pub async fn start(users: Vec<FakeUser>, groups: Vec<(String, Vec<String>)>) -> FakeSlack {
        Self::try_start(users, groups).await.expect("bind a loopback port")
    }

    /// [`Self::start`], failing when no loopback port can be bound.
    pub async fn try_start(users: Vec<FakeUser>, groups: Vec<(String, Vec<String>)>) -> std::io::Result<FakeSlack> {
        let shared = Arc::new(Shared {
            directory: Directory { users, groups: groups.into_iter().collect() },
            calls: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            changed: Notify::new(),
            counter: AtomicU64::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new().route("/api/{method}", any(handle)).with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the simulated Slack stopped");
            }
        });
        Ok(FakeSlack { addr, shared, server })
    }

    /// The Web API base URL to configure (`SLACK_API_URL`): `http://127.0.0.1:PORT/api/`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/", self.addr)
    }

    /// Every call the fake answered as Slack would, in the order answered (faulted calls
    /// left out: see [`Self::attempts`]).
    pub fn calls(&self) -> Vec<SlackCall> {
        self.shared.calls.lock().unwrap().iter().filter(|c| c.answered()).cloned().collect()
    }

    /// The answered calls to `method`, in the order answered.
    pub fn calls_to(&self, method: &str) -> Vec<SlackCall> {
        self.calls().into_iter().filter(|c| c.method == method).collect()
    }

    /// Every call received, faulted ones included, in the order answered.
    pub fn attempts(&self) -> Vec<SlackCall> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// The calls to `method`, faulted ones included, in the order answered.
    pub fn attempts_to(&self, method: &str) -> Vec<SlackCall> {
        self.attempts().into_iter().filter(|c| c.method == method).collect()
    }

    /// Answers the next `times` calls to `method` ([`ANY_METHOD`]: to any method) with `fault`.
    /// Faults apply in the order given; a [`Fault::Delay`] and one other fault may apply to the
    /// same call.
    pub fn fault_next(&self, method: &str, times: usize, fault: Fault) {
        self.add_fault(method, None, Some(times), fault);
    }

    /// Like [`Self::fault_next`], for calls to `method` whose `channel` argument is `channel` only
    /// (e.g. the approval card to one channel while DMs go through).
    pub fn fault_next_in(&self, method: &str, channel: &str, times: usize, fault: Fault) {
        self.add_fault(method, Some(channel.into()), Some(times), fault);
    }

    /// Answers every call to `method` ([`ANY_METHOD`]: to any method) with `fault` from now on,
    /// e.g. `fault_always(ANY_METHOD, Fault::Delay(300 ms))` for a slow Slack.
    pub fn fault_always(&self, method: &str, fault: Fault) {
        self.add_fault(method, None, None, fault);
    }

    /// Removes every fault not yet used: the fake answers normally again.
    pub fn clear_faults(&self) {
        self.shared.faults.lock().unwrap().clear();
    }

    fn add_fault(&self, method: &str, channel: Option<String>, remaining: Option<usize>, fault: Fault) {
        self.shared.faults.lock().unwrap().push(FaultRule { method: method.into(), channel, remaining, fault });
    }

    /// Waits until a call to `method` matches `predicate` and returns it; panics after `timeout`,
    /// listing the calls seen.
    pub async fn wait_for(&self, method: &str, predicate: impl Fn(&SlackCall) -> bool, timeout: Duration) -> SlackCall {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.shared.changed.notified();
            if let Some(call) = self.calls_to(method).into_iter().find(|c| predicate(c)) {
                return call;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                let seen: Vec<String> = self
                    .attempts()
                    .iter()
                    .map(|c| match &c.refused {
                        None => format!("{} {}", c.method, c.body),
                        Some(fault) => format!("{} {} (refused: {fault:?})", c.method, c.body),
                    })
                    .collect();
                panic!("no matching {method} call within {timeout:?}; calls seen:\n{}", seen.join("\n"));
            }
        }
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| !token.trim().is_empty());
    let args = arguments(&headers, query.as_deref(), &body);
    let (delay, refusal) = shared.take_faults(&method, args.get("channel").and_then(Value::as_str));
    // Answered on its own task so that a delayed call is recorded even when the client gives up.
    let answer = tokio::spawn(async move {
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let response = match refusal.as_ref().and_then(refusal_response) {
            Some(refused) => refused,
            None if authorized => json_response(StatusCode::OK, shared.answer(&method, &args)),
            None => json_response(StatusCode::OK, json!({"ok": false, "error": "invalid_auth"})),
        };
        shared.calls.lock().unwrap().push(SlackCall { method, body: args, authorized, refused: refusal });
        shared.changed.notify_waiters();
        response
    });
    answer.await.unwrap_or_else(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

/// The answer to a refused call; None for a delay, which is answered normally.
fn refusal_response(fault: &Fault) -> Option<Response> {
    Some(match fault {
        Fault::RateLimited { retry_after_secs } => {
            let mut response =
                json_response(StatusCode::TOO_MANY_REQUESTS, json!({"ok": false, "error": "ratelimited"}));
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            response
        }
        Fault::Status(status) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, format!("fake Slack: {status}")).into_response()
        }
        Fault::Error(code) => json_response(StatusCode::OK, json!({"ok": false, "error": code})),
        Fault::Delay(_) => return None,
    })
}

/// The call's arguments: the query string, then the JSON or form body, as one JSON object.
fn arguments(headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Value {
    let mut args = Map::new();
    let form = |text: &[u8]| -> Vec<(String, String)> { serde_urlencoded::from_bytes(text).unwrap_or_default() };
    for (k, v) in form(query.unwrap_or_default().as_bytes()) {
        args.insert(k, Value::String(v));
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
            args.extend(map);
        }
    } else {
        for (k, v) in form(body) {
            // Slack accepts JSON-encoded values (blocks, view) in form fields.
            let value = match serde_json::from_str::<Value>(&v) {
                Ok(parsed @ (Value::Object(_) | Value::Array(_))) => parsed,
                _ => Value::String(v),
            };
            args.insert(k, value);
        }
    }
    Value::Object(args)
}

impl Shared {
    /// Uses up the first delay and the first other fault that apply to a call to `method`.
    fn take_faults(&self, method: &str, channel: Option<&str>) -> (Option<Duration>, Option<Fault>) {
        let mut faults = self.faults.lock().unwrap();
        let mut take = |delay: bool| {
            let rule = faults.iter_mut().find(|r| r.applies(method, channel, delay))?;
            if let Some(remaining) = rule.remaining.as_mut() {
                *remaining -= 1;
            }
            Some(rule.fault.clone())
        };
        let delay = match take(true) {
            Some(Fault::Delay(delay)) => Some(delay),
            _ => None,
        };
        (delay, take(false))
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn ts(&self) -> String {
        format!("1700000000.{:06}", self.next())
    }

    fn user(&self, matches: impl Fn(&FakeUser) -> bool) -> Option<Value> {
        self.directory.users.iter().find(|u| matches(u)).map(|u| {
            json!({
                "id": u.id, "team_id": "T0FAKE", "name": u.name, "real_name": u.name, "deleted": false,
                "profile": {"email": u.email, "real_name": u.name, "display_name": u.name}
            })
        })
    }

    fn answer(&self, method: &str, args: &Value) -> Value {
        let arg = |name: &str| args.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
        match method {
            "chat.postMessage" => {
                let channel = dm_channel(&arg("channel"));
                let ts = self.ts();
                let mut message = json!({"type": "message", "ts": ts, "text": args.get("text"), "bot_id": "B0FAKE"});
                if let Some(blocks) = args.get("blocks") {
                    message["blocks"] = blocks.clone();
                }
                json!({"ok": true, "channel": channel, "ts": ts, "message": message})
            }
            "chat.update" => {
                let mut message = json!({"text": args.get("text")});
                if let Some(blocks) = args.get("blocks") {
                    message["blocks"] = blocks.clone();
                }
                json!({"ok": true, "channel": arg("channel"), "ts": arg("ts"), "text": args.get("text"), "message": message})
            }
            "chat.postEphemeral" => json!({"ok": true, "message_ts": self.ts()}),
            "views.open" | "views.update" | "views.publish" | "views.push" => {
                let mut view = args.get("view").cloned().unwrap_or_else(|| json!({}));
                view["id"] = Value::String(match arg("view_id") {
                    id if !id.is_empty() => id,
                    _ => format!("V{:08}", self.next()),
                });
                view["team_id"] = json!("T0FAKE");
                view["hash"] = json!(format!("{}.fake", self.next()));
                view["state"] = json!({"values": {}});
                json!({"ok": true, "view": view})
            }
            "users.info" => match self.user(|u| u.id == arg("user")) {
                Some(user) => json!({"ok": true, "user": user}),
                None => json!({"ok": false, "error": "user_not_found"}),
            },
            "users.lookupByEmail" => match self.user(|u| u.email.eq_ignore_ascii_case(&arg("email"))) {
                Some(user) => json!({"ok": true, "user": user}),
                None => json!({"ok": false, "error": "users_not_found"}),
            },
            "usergroups.users.list" => match self.directory.groups.get(&arg("usergroup")) {
                Some(members) => json!({"ok": true, "users": members}),
                None => json!({"ok": false, "error": "no_such_subteam"}),
            },
            "conversations.open" => {
                let user = match args.get("users") {
                    Some(Value::Array(users)) => users.first().and_then(Value::as_str).unwrap_or_default().to_string(),
                    Some(Value::String(users)) => users.split(',').next().unwrap_or_default().to_string(),
                    _ => String::new(),
                };
                json!({"ok": true, "channel": {"id": format!("D{user}")}})
            }
            "auth.test" => json!({"ok": true, "user_id": "U0AIRLOCK", "team_id": "T0FAKE", "bot_id": "B0FAKE"}),
            _ => json!({"ok": false, "error": "unknown_method"}),
        }
    }
}

/// Slack DMs a user when a message is posted to their user id; the answer names the DM channel.
fn dm_channel(channel: &str) -> String {
    if channel.starts_with('U') || channel.starts_with('W') { format!("D{channel}") } else { channel.to_string() }
}

/// Signs request bodies as Slack does (v0 HMAC-SHA256 with the app's signing secret).
#[derive(Debug, Clone)]
pub struct SlackSigner {
    secret: String,
}

impl SlackSigner {
    pub fn new(signing_secret: &str) -> Self {
        Self { secret: signing_secret.into() }
    }

    /// The `X-Slack-Signature` value for `body` sent at `timestamp` (Unix seconds).
    pub fn signature(&self, body: &[u8], timestamp: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).expect("any key length");
        mac.update(format!("v0:{timestamp}:").as_bytes());
        mac.update(body);
        format!("v0={}", hex::encode(mac.finalize().into_bytes()))
    }

    /// The two headers to send with `body` at `timestamp`: `X-Slack-Signature` and
    /// `X-Slack-Request-Timestamp`.
    pub fn headers_at(&self, body: &[u8], timestamp: i64) -> [(&'static str, String); 2] {
        [("X-Slack-Signature", self.signature(body, timestamp)), ("X-Slack-Request-Timestamp", timestamp.to_string())]
    }

    /// [`Self::headers_at`] the current time.
    pub fn headers(&self, body: &[u8]) -> [(&'static str, String); 2] {
        self.headers_at(body, unix_now())
    }

    /// The signed headers as a `HeaderMap`, with the content type to send `body` with.
    pub fn header_map(&self, body: &[u8], content_type: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in self.headers(body) {
            map.insert(name, HeaderValue::from_str(&value).expect("ASCII header"));
        }
        map.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).expect("ASCII content type"));
        map
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

/// Content type of slash command, interaction and options bodies.
pub const FORM: &str = "application/x-www-form-urlencoded";
/// Content type of Events API bodies.
pub const JSON: &str = "application/json";

/// A slash command body (`POST /slack/commands`, [`FORM`]) as Slack sends it: `command` with
/// `text` typed by `user_id`, and a `trigger_id` valid for opening a modal.
pub fn slash_command_body(command: &str, text: &str, user_id: &str, trigger_id: &str) -> String {
    serde_urlencoded::to_string([
        ("token", "deprecated-verification-token"),
        ("team_id", "T0FAKE"),
        ("team_domain", "fake"),
        ("channel_id", "C0GENERAL"),
        ("channel_name", "general"),
        ("user_id", user_id),
        ("user_name", user_id),
        ("command", command),
        ("text", text),
        ("api_app_id", "A0AIRLOCK"),
        ("response_url", "https://hooks.slack.com/commands/T0FAKE/1/fake"),
        ("trigger_id", trigger_id),
    ])
    .expect("form encoding")
}

fn interaction_form(payload: &Value) -> String {
    serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form encoding")
}

/// A `block_actions` body (`POST /slack/interactions`, [`FORM`]): `user_id` clicked the button
/// `action_id` (`approve`, `approve_with_changes`, `deny` or `revoke_request` on an approval card,
/// `cancel_request` or `revoke_request` in a DM) whose value
/// is `value` (the request id on cards), on the message `message_ts` in `channel` (`D…` for a DM).
pub fn block_actions_body(user_id: &str, action_id: &str, value: &str, channel: &str, message_ts: &str) -> String {
    interaction_form(&json!({
        "type": "block_actions",
        "team": {"id": "T0FAKE", "domain": "fake"},
        "user": {"id": user_id, "username": user_id, "name": user_id, "team_id": "T0FAKE"},
        "api_app_id": "A0AIRLOCK",
        "token": "deprecated-verification-token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": false},
        "trigger_id": format!("trigger-{user_id}-{message_ts}"),
        "channel": {"id": channel, "name": "approvals"},
        "message": {"type": "message", "ts": message_ts, "bot_id": "B0FAKE", "text": "Access request"},
        "response_url": "https://hooks.slack.com/actions/T0FAKE/1/fake",
        "actions": [{
            "action_id": action_id, "block_id": "decision", "value": value, "type": "button",
            "text": {"type": "plain_text", "text": action_id}, "action_ts": "1700000000.000001"
        }]
    }))
}

/// A `block_actions` body (`POST /slack/interactions`, [`FORM`]): `user_id` clicked the button
/// `action_id` whose value is `value` on their App Home (a view container: no channel, no message),
/// e.g. `cancel_request`, `revoke_request` or `approve` with a request id.
pub fn home_block_actions_body(user_id: &str, action_id: &str, value: &str) -> String {
    interaction_form(&json!({
        "type": "block_actions",
        "team": {"id": "T0FAKE", "domain": "fake"},
        "user": {"id": user_id, "username": user_id, "name": user_id, "team_id": "T0FAKE"},
        "api_app_id": "A0AIRLOCK",
        "token": "deprecated-verification-token",
        "container": {"type": "view", "view_id": format!("V0HOME{user_id}")},
        "trigger_id": format!("trigger-{user_id}-home-{action_id}"),
        "view": {"id": format!("V0HOME{user_id}"), "type": "home", "callback_id": "", "private_metadata": "",
                 "state": {"values": {}}, "hash": "1700000000.fake", "blocks": []},
        "actions": [{
            "action_id": action_id, "block_id": "home", "value": value, "type": "button",
            "text": {"type": "plain_text", "text": action_id}, "action_ts": "1700000000.000001"
        }]
    }))
}

/// One input's value in a submitted modal.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A plain-text input (single or multiline).
    Text(String),
    /// A number input (Slack sends its text).
    Number(String),
    /// A static or external select's chosen option value.
    Select(String),
    /// A multi-select's chosen option values, in order.
    MultiSelect(Vec<String>),
    /// A datepicker's `YYYY-MM-DD`.
    Date(String),
    /// A users select's user id.
    User(String),
    /// A single "Yes" checkbox, ticked or not.
    Checkbox(bool),
}

impl Input {
    fn state(&self) -> Value {
        match self {
            Input::Text(v) => json!({"type": "plain_text_input", "value": v}),
            Input::Number(v) => json!({"type": "number_input", "value": v}),
            Input::Select(v) => {
                json!({"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": v}, "value": v}})
            }
            Input::MultiSelect(values) => {
                let options: Vec<Value> =
                    values.iter().map(|v| json!({"text": {"type": "plain_text", "text": v}, "value": v})).collect();
                json!({"type": "multi_static_select", "selected_options": options})
            }
            Input::Date(v) => json!({"type": "datepicker", "selected_date": v}),
            Input::User(v) => json!({"type": "users_select", "selected_user": v}),
            Input::Checkbox(true) => {
                json!({"type": "checkboxes", "selected_options": [{"text": {"type": "plain_text", "text": "Yes"}, "value": "true"}]})
            }
            Input::Checkbox(false) => json!({"type": "checkboxes", "selected_options": []}),
        }
    }
}

/// A `view_submission` body (`POST /slack/interactions`, [`FORM`]) of any modal: `inputs` are
/// `(block_id, value)` pairs; each input's action id equals its block id, as in Airlock's views.
pub fn view_submission_body(
    user_id: &str,
    callback_id: &str,
    private_metadata: &str,
    inputs: &[(&str, Input)],
) -> String {
    let values: Map<String, Value> =
        inputs.iter().map(|(block, input)| (block.to_string(), json!({ *block: input.state() }))).collect();
    interaction_form(&json!({
        "type": "view_submission",
        "team": {"id": "T0FAKE", "domain": "fake"},
        "user": {"id": user_id, "username": user_id, "name": user_id, "team_id": "T0FAKE"},
        "api_app_id": "A0AIRLOCK",
        "token": "deprecated-verification-token",
        "trigger_id": format!("trigger-{user_id}-submit"),
        "view": {
            "id": "V0FAKEFORM", "team_id": "T0FAKE", "type": "modal",
            "title": {"type": "plain_text", "text": "Airlock"},
            "blocks": [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": values},
            "hash": "1700000000.fake",
            "app_id": "A0AIRLOCK", "bot_id": "B0FAKE"
        },
        "response_urls": []
    }))
}

/// A `view_submission` of the request form of `flow` (callback id `request:<flow>`, metadata the
/// flow name). Name inputs by block id: `target`, `duration` (e.g. `Input::Select("1h")`),
/// `reason`, and `field:<name>` for custom fields.
pub fn request_form_submission_body(user_id: &str, flow: &str, inputs: &[(&str, Input)]) -> String {
    view_submission_body(user_id, &format!("request:{flow}"), flow, inputs)
}

/// A `view_submission` of the deny-reason modal for `request_id` (empty `reason`: none given).
pub fn deny_reason_submission_body(user_id: &str, request_id: &str, reason: &str) -> String {
    view_submission_body(user_id, "deny_reason", request_id, &[("deny_reason", Input::Text(reason.into()))])
}

/// A `view_submission` of the Approve with changes modal for `request_id`: the `duration` chosen
/// (e.g. `"15m"`) and a `comment` (empty: none given).
pub fn approve_with_changes_submission_body(user_id: &str, request_id: &str, duration: &str, comment: &str) -> String {
    view_submission_body(
        user_id,
        "approve_with_changes",
        request_id,
        &[("changes_duration", Input::Select(duration.into())), ("changes_comment", Input::Text(comment.into()))],
    )
}

/// A `view_submission` of the Extend modal for `request_id`: the `duration` chosen (e.g. `"1h"`)
/// and the `reason` given.
pub fn extend_submission_body(user_id: &str, request_id: &str, duration: &str, reason: &str) -> String {
    view_submission_body(
        user_id,
        "extend_request",
        request_id,
        &[("extend_duration", Input::Select(duration.into())), ("extend_reason", Input::Text(reason.into()))],
    )
}

/// A `view_submission` of the flow picker choosing `flow`.
pub fn flow_picker_submission_body(user_id: &str, flow: &str) -> String {
    view_submission_body(user_id, "flow_picker", "", &[("flow", Input::Select(flow.into()))])
}

/// A `block_suggestion` body (`POST /slack/options`, [`FORM`]): `user_id` typed `query` into the
/// external select of custom field `field` on the request form of `flow`.
pub fn block_suggestion_body(user_id: &str, flow: &str, field: &str, query: &str) -> String {
    block_suggestion_body_in(user_id, flow, &format!("field:{field}"), query)
}

/// A `block_suggestion` body for the input `id` (block and action id) of the request form of
/// `flow`, e.g. `accounts` or `permission_set`.
pub fn block_suggestion_body_in(user_id: &str, flow: &str, id: &str, query: &str) -> String {
    interaction_form(&json!({
        "type": "block_suggestion",
        "user": {"id": user_id, "name": user_id, "team_id": "T0FAKE"},
        "container": {"type": "view", "view_id": "V0FAKEFORM"},
        "api_app_id": "A0AIRLOCK",
        "token": "deprecated-verification-token",
        "action_id": id, "block_id": id, "value": query,
        "team": {"id": "T0FAKE", "domain": "fake"},
        "view": {"id": "V0FAKEFORM", "type": "modal", "private_metadata": flow, "callback_id": format!("request:{flow}"),
                 "state": {"values": {}}, "hash": "1700000000.fake"}
    }))
}

/// An Events API `url_verification` body (`POST /slack/events`, [`JSON`]).
pub fn url_verification_body(challenge: &str) -> String {
    json!({"token": "deprecated-verification-token", "challenge": challenge, "type": "url_verification"}).to_string()
}

/// An Events API `app_home_opened` delivery (`POST /slack/events`, [`JSON`]) with `event_id`
/// (the same on Slack's retries, which also carry `X-Slack-Retry-Num`).
pub fn app_home_opened_body(event_id: &str, user_id: &str) -> String {
    json!({
        "token": "deprecated-verification-token", "team_id": "T0FAKE", "api_app_id": "A0AIRLOCK",
        "type": "event_callback", "event_id": event_id, "event_time": 1_700_000_000,
        "event": {"type": "app_home_opened", "user": user_id, "channel": format!("D{user_id}"), "tab": "home",
                  "event_ts": "1700000000.000100"}
    })
    .to_string()
}
