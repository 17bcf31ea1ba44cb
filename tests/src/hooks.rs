//! A webhook target that records every escalate/deescalate call it receives, after checking the
//! `X-Airlock-Signature` the way a real receiver would.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Seen {
    calls: Mutex<Vec<Value>>,
}

/// The receiver; stops when dropped.
pub struct HookReceiver {
    addr: SocketAddr,
    seen: Arc<Seen>,
    secret: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for HookReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl HookReceiver {
    pub async fn start(secret: &str) -> HookReceiver {
        let seen = Arc::new(Seen::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = (seen.clone(), secret.to_string());
        let app = Router::new().route("/hook", post(receive)).route("/tickets", get(tickets)).with_state(state);
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        HookReceiver { addr, seen, secret: secret.into(), server }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The prefetch endpoint of the `ticket` field.
    pub fn tickets_url(&self) -> String {
        format!("http://{}/tickets", self.addr)
    }

    /// The bodies received with a valid signature, oldest first.
    pub fn calls(&self) -> Vec<Value> {
        self.seen.calls.lock().unwrap().clone()
    }

    /// How many valid `action` calls (`escalate` / `deescalate`) named `request_id`.
    pub fn count(&self, action: &str, request_id: &str) -> usize {
        self.calls().iter().filter(|c| c["action"] == action && c["request_id"] == request_id).count()
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }
}

async fn receive(State((seen, secret)): State<(Arc<Seen>, String)>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let Ok(timestamp) = header("x-airlock-timestamp").parse::<i64>() else {
        return StatusCode::BAD_REQUEST;
    };
    if !airlock_webhook::verify_signature(secret.as_bytes(), timestamp, &body, &header("x-airlock-signature")) {
        return StatusCode::UNAUTHORIZED;
    }
    match serde_json::from_slice(&body) {
        Ok(value) => {
            seen.calls.lock().unwrap().push(value);
            StatusCode::OK
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

/// Open tickets, as a ticketing system's prefetch endpoint would list them.
async fn tickets() -> axum::Json<Value> {
    axum::Json(serde_json::json!([{"value": "INC-1", "label": "INC-1 Database down"}, "INC-2", "OPS-3"]))
}
