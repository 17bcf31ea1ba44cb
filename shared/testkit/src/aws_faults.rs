//! A fault-injecting proxy in front of moto: [`AwsFaultProxy`] listens on a loopback port and
//! forwards every request unchanged to an upstream endpoint (moto), except those a test told it to
//! fail, answer, rewrite, delay or hold. Point the SDK clients under test at
//! [`AwsFaultProxy::endpoint`].
//!
//! Requests are matched by operation: the name after the last `.` of the `X-Amz-Target` header for
//! the AWS JSON protocols (DynamoDB, SSO Admin, Identity Store, Step Functions, EventBridge), e.g.
//! `TransactWriteItems`; an operation that starts with `/` matches instead the start of the path
//! (REST-JSON services such as Lambda). Errors are answered the way those protocols carry them: the
//! code in the `x-amzn-ErrorType` header and in the body's `__type`, with a `message`. The proxy
//! records every request and what it refused, and counts Identity Center's account-assignment
//! operations in progress as its answers report them (see [`AwsFaultProxy::most_assignments_in_progress`]).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// An AWS service error as the JSON protocols answer it.
#[derive(Debug, Clone)]
pub struct AwsError {
    status: StatusCode,
    code: String,
    body: Map<String, Value>,
}

impl AwsError {
    /// Error `code` (e.g. `ConflictException`) with HTTP `status` and a generic message.
    pub fn new(status: u16, code: &str) -> Self {
        let status = StatusCode::from_u16(status).expect("an HTTP status code");
        let mut body = Map::new();
        body.insert("__type".into(), code.into());
        body.insert("message".into(), format!("injected {code}").into());
        Self { status, code: code.into(), body }
    }

    /// `ThrottlingException` (HTTP 400), as every one of these services answers when throttling.
    pub fn throttling() -> Self {
        Self::new(400, "ThrottlingException")
    }

    /// Adds (or replaces) a field of the error body, e.g. DynamoDB's `CancellationReasons`.
    pub fn with_field(mut self, name: &str, value: Value) -> Self {
        self.body.insert(name.into(), value);
        self
    }

    /// The error code.
    pub fn code(&self) -> &str {
        &self.code
    }
}

/// A request the proxy answered with an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The operation (or, with no `X-Amz-Target`, the path).
    pub operation: String,
    /// The error code answered.
    pub code: String,
    /// Whether the request reached upstream before the error was answered (a lost answer).
    pub forwarded: bool,
}

type Edit = Arc<dyn Fn(&mut Value) + Send + Sync>;

#[derive(Clone)]
enum Reaction {
    Fail(AwsError),
    FailAfterForwarding(AwsError),
    Answer(Value),
    Rewrite(Edit),
    Delay(Duration),
    Hold(Arc<HoldState>),
}

struct Rule {
    operation: String,
    remaining: usize,
    reaction: Reaction,
    /// Applies to every `every`-th matching request only; the others look further down the rules.
    every: usize,
    matched: usize,
}

/// One request that reached the proxy.
struct Seen {
    operation: String,
    forwarded: bool,
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
    refused: Mutex<Vec<Refusal>>,
    assignments: Mutex<InProgress>,
}

/// Account-assignment operations answered `IN_PROGRESS` and not yet reported finished.
#[derive(Default)]
struct InProgress {
    requests: std::collections::HashSet<String>,
    most: usize,
}

impl InProgress {
    /// Follows an answer of `operation`: a create or delete starts an operation (finished at once
    /// when it already answers SUCCEEDED or FAILED), a status answer that is no longer
    /// `IN_PROGRESS` ends it.
    fn follow(&mut self, operation: &str, answer: &Value) {
        let starts = matches!(operation, "CreateAccountAssignment" | "DeleteAccountAssignment");
        let polls =
            matches!(operation, "DescribeAccountAssignmentCreationStatus" | "DescribeAccountAssignmentDeletionStatus");
        if !starts && !polls {
            return;
        }
        let Some(status) =
            answer.get("AccountAssignmentCreationStatus").or_else(|| answer.get("AccountAssignmentDeletionStatus"))
        else {
            return;
        };
        let Some(id) = status["RequestId"].as_str() else { return };
        let running = status["Status"] == "IN_PROGRESS";
        if starts {
            self.requests.insert(id.to_string());
            self.most = self.most.max(self.requests.len());
        }
        if !running {
            self.requests.remove(id);
        }
    }
}

impl Shared {
    /// Uses up the first rule that matches `operation` / `path`, if any.
    fn take_reaction(&self, operation: Option<&str>, path: &str) -> Option<Reaction> {
        let mut rules = self.rules.lock().unwrap();
        let mut found = None;
        for (index, r) in rules.iter_mut().enumerate() {
            let matches = r.remaining > 0
                && match r.operation.strip_prefix('/') {
                    Some(_) => operation.is_none() && path.starts_with(&r.operation),
                    None => operation == Some(r.operation.as_str()),
                };
            if !matches {
                continue;
            }
            r.matched += 1;
            if r.matched % r.every == 0 {
                found = Some(index);
                break;
            }
        }
        let index = found?;
        let rule = &mut rules[index];
        rule.remaining -= 1;
        let reaction = rule.reaction.clone();
        if rule.remaining == 0 {
            rules.remove(index);
        }
        Some(reaction)
    }
}

struct HoldState {
    arrived: watch::Sender<bool>,
    released: watch::Sender<bool>,
}

/// A request the proxy holds before forwarding it (see [`AwsFaultProxy::hold_next`]); dropping it
/// releases the request.
pub struct HeldRequest {
    state: Arc<HoldState>,
}

impl HeldRequest {
    /// Waits until the held request has arrived; panics after `within`.
    pub async fn arrived(&self, within: Duration) {
        let mut arrived = self.state.arrived.subscribe();
        if !matches!(tokio::time::timeout(within, arrived.wait_for(|a| *a)).await, Ok(Ok(_))) {
            panic!("the request to hold did not arrive within {within:?}");
        }
    }

    /// Forwards the held request (or lets the next matching one through if none arrived yet).
    pub fn release(&self) {
        self.state.released.send_replace(true);
    }
}

impl Drop for HeldRequest {
    fn drop(&mut self) {
        self.release();
    }
}

/// The proxy; stops when dropped.
pub struct AwsFaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for AwsFaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl AwsFaultProxy {
    /// Starts a proxy on a loopback port that forwards to `upstream` (e.g. [`crate::moto_endpoint`]).
    pub async fn start(upstream: &str) -> AwsFaultProxy {
        let client = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            client,
            rules: Mutex::default(),
            seen: Mutex::default(),
            refused: Mutex::default(),
            assignments: Mutex::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("AWS fault proxy");
        });
        AwsFaultProxy { addr, shared, server }
    }

    /// The endpoint URL to give the SDK clients (`endpoint_url`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers the next `times` requests for `operation` with `error`, without forwarding them.
    pub fn fail_next(&self, operation: &str, times: usize, error: AwsError) {
        self.add(operation, times, Reaction::Fail(error));
    }

    /// Forwards the next `times` requests for `operation` (upstream applies them) and then answers
    /// `error` instead of upstream's answer: a change made whose answer was lost.
    pub fn fail_after_forwarding(&self, operation: &str, times: usize, error: AwsError) {
        self.add(operation, times, Reaction::FailAfterForwarding(error));
    }

    /// Answers the next `times` requests for `operation` with HTTP 200 and `body`, without
    /// forwarding them.
    pub fn answer_next(&self, operation: &str, times: usize, body: Value) {
        self.add(operation, times, Reaction::Answer(body));
    }

    /// Forwards the next `times` requests for `operation` and answers upstream's JSON answer as
    /// changed by `edit` (for states the emulator never reports, such as `IN_PROGRESS`).
    pub fn rewrite_next(&self, operation: &str, times: usize, edit: impl Fn(&mut Value) + Send + Sync + 'static) {
        self.add(operation, times, Reaction::Rewrite(Arc::new(edit)));
    }

    /// Answers every `every`-th request for `operation` with `error` from now on (without
    /// forwarding it); the others go on to the other faults, or upstream.
    pub fn fail_every(&self, operation: &str, every: usize, error: AwsError) {
        self.add_every(operation, usize::MAX, every, Reaction::Fail(error));
    }

    /// Rewrites upstream's answer to every request for `operation` with `edit` from now on (after
    /// the faults added before this one).
    pub fn rewrite_all(&self, operation: &str, edit: impl Fn(&mut Value) + Send + Sync + 'static) {
        self.add(operation, usize::MAX, Reaction::Rewrite(Arc::new(edit)));
    }

    /// The most Identity Center account-assignment operations that were in progress at once, as
    /// the answers passed on told it: an operation starts with the create or delete answer and
    /// ends with the first status answer (or the create/delete answer itself) that is no longer
    /// `IN_PROGRESS`.
    pub fn most_assignments_in_progress(&self) -> usize {
        self.shared.assignments.lock().unwrap().most
    }

    /// Forwards the next `times` requests for `operation` untouched (so that faults added after
    /// this one start with a later request).
    pub fn pass_next(&self, operation: &str, times: usize) {
        self.add(operation, times, Reaction::Delay(Duration::ZERO));
    }

    /// Forwards the next `times` requests for `operation` after `delay`.
    pub fn delay_next(&self, operation: &str, times: usize, delay: Duration) {
        self.add(operation, times, Reaction::Delay(delay));
    }

    /// Holds the next request for `operation` until the returned [`HeldRequest`] is released or
    /// dropped, then forwards it.
    pub fn hold_next(&self, operation: &str) -> HeldRequest {
        let state = Arc::new(HoldState { arrived: watch::channel(false).0, released: watch::channel(false).0 });
        self.add(operation, 1, Reaction::Hold(state.clone()));
        HeldRequest { state }
    }

    /// Drops every fault not yet used: from now on every request is forwarded.
    pub fn clear(&self) {
        self.shared.rules.lock().unwrap().clear();
    }

    /// The requests answered with an error, oldest first.
    pub fn refused(&self) -> Vec<Refusal> {
        self.shared.refused.lock().unwrap().clone()
    }

    /// How many requests for `operation` were answered with an error.
    pub fn refused_count(&self, operation: &str) -> usize {
        self.refused().iter().filter(|r| r.operation == operation).count()
    }

    /// How many requests for `operation` reached the proxy.
    pub fn requests(&self, operation: &str) -> usize {
        self.shared.seen.lock().unwrap().iter().filter(|s| s.operation == operation).count()
    }

    /// How many requests for `operation` were forwarded upstream.
    pub fn forwarded(&self, operation: &str) -> usize {
        self.shared.seen.lock().unwrap().iter().filter(|s| s.operation == operation && s.forwarded).count()
    }

    fn add(&self, operation: &str, times: usize, reaction: Reaction) {
        self.add_every(operation, times, 1, reaction);
    }

    fn add_every(&self, operation: &str, times: usize, every: usize, reaction: Reaction) {
        if times > 0 {
            let rule =
                Rule { operation: operation.into(), remaining: times, reaction, every: every.max(1), matched: 0 };
            self.shared.rules.lock().unwrap().push(rule);
        }
    }
}

/// The operation named by `X-Amz-Target` (`DynamoDB_20120810.GetItem` → `GetItem`).
fn target_operation(headers: &HeaderMap) -> Option<String> {
    let target = headers.get("x-amz-target")?.to_str().ok()?;
    Some(target.rsplit('.').next().unwrap_or(target).to_string())
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let operation = target_operation(request.headers());
    let answer = react(&shared, request).await;
    match operation.as_deref() {
        Some(op) if op.contains("AccountAssignment") && answer.status().is_success() => {
            let (parts, body) = answer.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
                shared.assignments.lock().unwrap().follow(op, &value);
            }
            Response::from_parts(parts, Body::from(bytes))
        }
        _ => answer,
    }
}

/// The answer to `request`: the first fault that matches it, or upstream's.
async fn react(shared: &Shared, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(e) => return plain(StatusCode::BAD_REQUEST, format!("unreadable request body: {e}")),
    };
    let operation = target_operation(&parts.headers);
    let path = parts.uri.path().to_string();
    let reaction = shared.take_reaction(operation.as_deref(), &path);
    let operation = operation.unwrap_or(path);
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("application/x-amz-json-1.1"));
    let forwarded = !matches!(reaction, Some(Reaction::Fail(_) | Reaction::Answer(_)));
    shared.seen.lock().unwrap().push(Seen { operation: operation.clone(), forwarded });
    let refuse = |error: &AwsError, forwarded: bool| {
        let refusal = Refusal { operation: operation.clone(), code: error.code.clone(), forwarded };
        shared.refused.lock().unwrap().push(refusal);
        aws_error(error, content_type.clone())
    };
    match reaction {
        None => forward(shared, parts, body).await,
        Some(Reaction::Fail(error)) => refuse(&error, false),
        Some(Reaction::FailAfterForwarding(error)) => {
            drop(forward(shared, parts, body).await);
            refuse(&error, true)
        }
        Some(Reaction::Answer(answer)) => json(StatusCode::OK, &answer, content_type.clone()),
        Some(Reaction::Rewrite(edit)) => {
            let answer = forward(shared, parts, body).await;
            let status = answer.status();
            let bytes = match axum::body::to_bytes(answer.into_body(), usize::MAX).await {
                Ok(bytes) => bytes,
                Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("unreadable upstream answer: {e}")),
            };
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(mut value) => {
                    edit(&mut value);
                    json(status, &value, content_type.clone())
                }
                Err(e) => plain(StatusCode::BAD_GATEWAY, format!("upstream answer is not JSON: {e}")),
            }
        }
        Some(Reaction::Delay(delay)) => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            forward(shared, parts, body).await
        }
        Some(Reaction::Hold(state)) => {
            state.arrived.send_replace(true);
            let mut released = state.released.subscribe();
            let _ = released.wait_for(|released| *released).await;
            forward(shared, parts, body).await
        }
    }
}

/// Removes the headers that belong to one connection, not to the request or answer.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in [header::HOST, header::CONNECTION, header::CONTENT_LENGTH, header::TRANSFER_ENCODING] {
        headers.remove(name);
    }
}

async fn forward(shared: &Shared, parts: axum::http::request::Parts, body: Bytes) -> Response {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    let sent = shared
        .client
        .request(parts.method, format!("{}{path}", shared.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("upstream: {e}")),
    };
    let status = answer.status();
    let mut headers = answer.headers().clone();
    strip_hop_by_hop(&mut headers);
    let body = match answer.bytes().await {
        Ok(body) => body,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("upstream answer: {e}")),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn aws_error(error: &AwsError, content_type: HeaderValue) -> Response {
    let mut response = json(error.status, &Value::Object(error.body.clone()), content_type);
    if let Ok(code) = HeaderValue::from_str(&error.code) {
        response.headers_mut().insert("x-amzn-errortype", code);
    }
    response
}

fn json(status: StatusCode, value: &Value, content_type: HeaderValue) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, content_type);
    response
}

fn plain(status: StatusCode, message: String) -> Response {
    let mut response = Response::new(Body::from(message));
    *response.status_mut() = status;
    response
}
