//! A webhook target for tests: [`HookReceiver`] records every escalate/deescalate call it receives,
//! after checking `X-Airlock-Signature` the way a real receiver would, and on command answers calls
//! with an error status ([`HookReceiver::fail_next`]) or holds one unanswered until the test lets
//! it go ([`HookReceiver::hold_next`]), as a slow or crashed target system would.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// What the receiver does with a call instead of answering 200.
enum Reaction {
    Status(StatusCode),
    Hold(Arc<HoldState>),
}

struct Rule {
    action: String,
    remaining: usize,
    reaction: Reaction,
}

struct Shared {
    secret: String,
    calls: Mutex<Vec<Value>>,
    /// When each call of `calls` arrived, in the same order.
    arrivals: Mutex<Vec<chrono::DateTime<chrono::Utc>>>,
    rules: Mutex<Vec<Rule>>,
    changed: Notify,
}

impl Shared {
    /// Uses up the first rule for `action`, if any.
    fn take_reaction(&self, action: &str) -> Option<Reaction> {
        let mut rules = self.rules.lock().unwrap();
        let index = rules.iter().position(|r| r.action == action && r.remaining > 0)?;
        let rule = &mut rules[index];
        rule.remaining -= 1;
        let reaction = match &rule.reaction {
            Reaction::Status(status) => Reaction::Status(*status),
            Reaction::Hold(state) => Reaction::Hold(state.clone()),
        };
        if rule.remaining == 0 {
            rules.remove(index);
        }
        Some(reaction)
    }
}

struct HoldState {
    arrived: watch::Sender<Option<Value>>,
    released: watch::Sender<bool>,
}

/// A call the receiver holds unanswered (see [`HookReceiver::hold_next`]); dropping it releases
/// the call.
pub struct HeldCall {
    state: Arc<HoldState>,
}

impl HeldCall {
    /// Waits until the held call has arrived and returns its body; panics after `within`.
    pub async fn arrived(&self, within: Duration) -> Value {
        let mut arrived = self.state.arrived.subscribe();
        match tokio::time::timeout(within, arrived.wait_for(Option::is_some)).await {
            Ok(Ok(body)) => body.clone().unwrap_or_default(),
            _ => panic!("the call to hold did not arrive within {within:?}"),
        }
    }

    /// Answers the held call (200), or lets the next matching call through if none arrived yet.
    pub fn release(&self) {
        self.state.released.send_replace(true);
    }
}

impl Drop for HeldCall {
    fn drop(&mut self) {
        self.release();
    }
}

/// The receiver; stops when dropped.
pub struct HookReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for HookReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl HookReceiver {
    /// Starts the receiver on a loopback port, checking signatures with `secret`.
    pub async fn start(secret: &str) -> HookReceiver {
        let shared = Arc::new(Shared {
            secret: secret.into(),
            calls: Mutex::default(),
            arrivals: Mutex::default(),
            rules: Mutex::default(),
            changed: Notify::new(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let app =
            Router::new().route("/hook", post(receive)).route("/tickets", get(tickets)).with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("webhook receiver");
        });
        HookReceiver { addr, shared, server }
    }

    /// The URL to configure as the webhook target's `url`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The prefetch endpoint of the `ticket` field.
    pub fn tickets_url(&self) -> String {
        format!("http://{}/tickets", self.addr)
    }

    /// The bodies received with a valid signature, oldest first, however they were answered
    /// (failed and held calls included: the target got them).
    pub fn calls(&self) -> Vec<Value> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// How many valid `action` calls (`escalate` / `deescalate`) named `request_id`.
    pub fn count(&self, action: &str, request_id: &str) -> usize {
        self.calls().iter().filter(|c| c["action"] == action && c["request_id"] == request_id).count()
    }

    /// When the valid `action` calls (`escalate` / `deescalate`) naming `request_id` arrived (the
    /// receiver's clock), oldest first.
    pub fn arrivals(&self, action: &str, request_id: &str) -> Vec<chrono::DateTime<chrono::Utc>> {
        let calls = self.shared.calls.lock().unwrap();
        let arrivals = self.shared.arrivals.lock().unwrap();
        calls
            .iter()
            .zip(arrivals.iter())
            .filter(|(c, _)| c["action"] == action && c["request_id"] == request_id)
            .map(|(_, at)| *at)
            .collect()
    }

    /// Waits until at least `n` valid `action` calls named `request_id` arrived; panics after
    /// `within`, listing the calls received.
    pub async fn wait_count(&self, action: &str, request_id: &str, n: usize, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let changed = self.shared.changed.notified();
            if self.count(action, request_id) >= n {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!(
                    "fewer than {n} {action} calls for {request_id} within {within:?}; received: {:?}",
                    self.calls()
                );
            }
        }
    }

    /// The signing secret calls are checked with.
    pub fn secret(&self) -> &str {
        &self.shared.secret
    }

    /// Answers the next `times` valid `action` calls with HTTP `status` (e.g. 503); they are
    /// still recorded. Rules apply in the order given.
    pub fn fail_next(&self, action: &str, times: usize, status: u16) {
        let status = StatusCode::from_u16(status).expect("an HTTP status code");
        self.add(action, times, Reaction::Status(status));
    }

    /// Holds the next valid `action` call unanswered (it is recorded on arrival) until the returned
    /// [`HeldCall`] is released or dropped: a target that took the call and never answered.
    pub fn hold_next(&self, action: &str) -> HeldCall {
        let state = Arc::new(HoldState { arrived: watch::channel(None).0, released: watch::channel(false).0 });
        self.add(action, 1, Reaction::Hold(state.clone()));
        HeldCall { state }
    }

    fn add(&self, action: &str, times: usize, reaction: Reaction) {
        if times > 0 {
            self.shared.rules.lock().unwrap().push(Rule { action: action.into(), remaining: times, reaction });
        }
    }
}

/// True when `header` (`v1=<hex>`) is the HMAC-SHA256 of `<timestamp>.<body>` under `secret`,
/// compared in constant time.
fn signature_valid(secret: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(signature) = header.trim().strip_prefix("v1=").and_then(|hex| hex::decode(hex).ok()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let timestamp = header("x-airlock-timestamp");
    if timestamp.parse::<i64>().is_err() {
        return StatusCode::BAD_REQUEST;
    }
    if !signature_valid(&shared.secret, &timestamp, &body, &header("x-airlock-signature")) {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(call) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let reaction = shared.take_reaction(call["action"].as_str().unwrap_or_default());
    {
        let mut calls = shared.calls.lock().unwrap();
        calls.push(call.clone());
        shared.arrivals.lock().unwrap().push(chrono::Utc::now());
    }
    shared.changed.notify_waiters();
    match reaction {
        None => StatusCode::OK,
        Some(Reaction::Status(status)) => status,
        Some(Reaction::Hold(state)) => {
            state.arrived.send_replace(Some(call));
            let mut released = state.released.subscribe();
            let _ = released.wait_for(|released| *released).await;
            StatusCode::OK
        }
    }
}

/// Open tickets, as a ticketing system's prefetch endpoint would list them.
async fn tickets() -> axum::Json<Value> {
    axum::Json(serde_json::json!([{"value": "INC-1", "label": "INC-1 Database down"}, "INC-2", "OPS-3"]))
}
