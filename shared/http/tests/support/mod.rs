//! The router over the local adapters (SQLite in memory, the in-process runner, Slack through a
//! fake Web API), for driving `/api/v1` and the Slack endpoints in process.

#![allow(dead_code)]

use airlock_core::escalators::EscalatorSet;
use airlock_core::ports::{Store, SystemClock};
use airlock_core::{AccessRequest, Airlock, Config, Deps, RequestId, Status};
use airlock_http::{ApiTokens, AppState, router};
use airlock_local::{LocalRunner, LogAuditSink, SqliteStore};
use airlock_slack::{SlackApi, SlackApp, SlackDirectory, SlackNotifier};
use airlock_testkit::fakes::PanickingDirectory;
use airlock_testkit::slack::{FakeSlack, FakeUser, SlackSigner};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, header};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

pub const SIGNING_SECRET: &str = "http-test-signing-secret";
/// A Slack user whose directory lookup panics: a bug, on command.
pub const PANICKING_USER: &str = "U0PANIC";

pub const CONFIG: &str = r#"
organization:
  primary_domain: example.com
  admins: [alice@example.com]
flows:
  - name: prod
    approvers: {users: [bob@example.com]}
    durations: [15m, 1h]
    max_duration: 4h
    targets:
      - {name: prod-admin, kind: record}
    fields:
      - {name: urgency, type: select, allowed_values: [Normal, Emergency]}
      - {name: count, type: int}
    rules:
      auto_approve: 'fields.urgency == "Emergency"'
"#;

pub struct Harness {
    pub router: Router,
    pub airlock: Airlock,
    pub slack: FakeSlack,
    runner: Arc<LocalRunner>,
}

impl Harness {
    /// The router with `tokens` as `AIRLOCK_API_TOKENS`.
    pub async fn start(tokens: &str) -> Harness {
        let slack = FakeSlack::start(
            vec![
                FakeUser::new("U0CAROL", "carol@example.com", "Carol"),
                FakeUser::new("U0BOB", "bob@example.com", "Bob"),
                FakeUser::new("U0ALICE", "alice@example.com", "Alice"),
                FakeUser::new("U0GINA", "gina@outside.org", "Gina"),
            ],
            vec![],
        )
        .await;
        let config = Config::from_yaml(CONFIG).expect("the test config is valid");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().expect("in-memory store"));
        let api = Arc::new(SlackApi::new(&slack.base_url(), "xoxb-test").expect("Slack client"));
        let deps = Deps {
            config: Arc::new(config.clone()),
            store: store.clone(),
            notifier: Arc::new(SlackNotifier::new(api.clone(), config)),
            escalator: Arc::new(EscalatorSet::new()),
            audit: Arc::new(LogAuditSink),
            directory: Arc::new(PanickingDirectory::new(Arc::new(SlackDirectory::new(api.clone())), PANICKING_USER)),
            options: Arc::new(airlock_webhook::HttpOptionsSource::new()),
            clock: Arc::new(SystemClock),
        };
        let runner = LocalRunner::new(airlock_core::Steps::new(deps.clone()), store);
        let airlock = Airlock::new(deps, runner.clone());
        let state = AppState {
            airlock: airlock.clone(),
            slack: Arc::new(SlackApp::new(airlock.clone(), api, SIGNING_SECRET)),
            api_tokens: Arc::new(ApiTokens::parse(tokens).expect("valid tokens")),
        };
        Harness { router: router(state), airlock, slack, runner }
    }

    /// Sends `request` through the router.
    pub async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(request).await.expect("the router is infallible")
    }

    /// A `/api/v1` call with `token` (none when empty) and an optional JSON body.
    pub async fn api(&self, method: &str, path: &str, token: &str, body: Option<&str>) -> (u16, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if !token.is_empty() {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        json_of(self.send(request.expect("a valid request")).await).await
    }

    /// POSTs `body` to a Slack route, signed now as Slack signs it.
    pub async fn slack(&self, path: &str, body: &[u8]) -> Response<Body> {
        let mut request = Request::builder()
            .method("POST")
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (name, value) in SlackSigner::new(SIGNING_SECRET).headers(body) {
            request = request.header(name, value);
        }
        self.send(request.body(Body::from(body.to_vec())).expect("a valid request")).await
    }

    /// Waits until the request reaches `status` (the runner works in the background).
    pub async fn wait_status(&self, id: &RequestId, status: Status) -> AccessRequest {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let request = self.airlock.get_request(id).await.expect("the request exists");
            if request.status() == status {
                return request;
            }
            assert!(tokio::time::Instant::now() < deadline, "{id} is {}, expected {status}", request.status());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let runner = self.runner.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { runner.shutdown().await });
        }
    }
}

/// Status and body (JSON, or `{"text": …}` when the body is not JSON).
pub async fn json_of(response: Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
    let body = if is_json {
        serde_json::from_slice(&bytes).expect("JSON as announced")
    } else {
        serde_json::json!({"text": String::from_utf8_lossy(&bytes)})
    };
    (status, body)
}
