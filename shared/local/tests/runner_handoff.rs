//! The runner's AwaitDecision hand-off: an approval delivered at any point of it is driven on to a
//! grant. Each interleaving is forced, not hoped for: a gate around the SQLite store pauses the
//! driving task inside a chosen store call, and a hook on the runner's "parked" debug event pauses it
//! right after it parked, while the test delivers the decision.

use airlock_core::outbox::OutboxItem;
use airlock_core::ports::{Store, StoreError, SystemClock};
use airlock_core::services::SubmitInput;
use airlock_core::{AccessRequest, Airlock, AuditEvent, Config, Deps, RequestId, Status, Verdict};
use airlock_local::{LocalRunner, LogAuditSink, SqliteStore};
use airlock_testkit::fakes::{FixedDirectory, FixedOptions, RecordingNotifier};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const CONFIG: &str = r#"
organization:
  primary_domain: example.com
slack:
  command: /access
flows:
  - name: ops
    label: Ops
    approvers:
      users: [bob@example.com]
      channel: C0APPROVALS
    durations: [1h]
    max_duration: 1h
    approval_timeout: 1h
    targets:
      - name: box
        label: Box
        kind: record
"#;

/// Bound on how long a request may take to become active once nothing holds it back (a failure
/// bound, not a synchronisation: the test fails if it is reached).
const BOUND: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_while_the_runner_reads_the_deadline_is_driven_on() {
    let h = Harness::new();
    // The runner's first read of the request after AwaitDecision stored its task token.
    let paused = h.store.pause_get(|r| r.task_token().is_some());
    let id = h.submit().await;
    let paused = paused.reached().await;

    h.approve(&id).await;
    paused.release();

    h.assert_active(&id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_right_after_parking_is_driven_on() {
    let h = Harness::new();
    let parked = ParkHook::arm(&h.store);
    let id = h.submit().await;
    let parked = parked.reached().await;

    h.approve(&id).await;
    parked.release();

    h.assert_active(&id).await;
}

struct Harness {
    airlock: Airlock,
    runner: Arc<LocalRunner>,
    store: Arc<GateStore>,
}

impl Harness {
    fn new() -> Self {
        install_hooks();
        let config = Config::from_yaml(CONFIG).expect("a valid config");
        let store = Arc::new(GateStore::new(SqliteStore::open_in_memory().expect("an in-memory store")));
        let deps = Deps {
            config: Arc::new(config),
            store: store.clone(),
            notifier: Arc::new(RecordingNotifier::default()),
            escalator: Arc::new(airlock_core::escalators::EscalatorSet::new()),
            audit: Arc::new(LogAuditSink),
            // Carol asks, Bob approves; both are in Slack.
            directory: Arc::new(FixedDirectory::new(&[("U0CAROL", "carol@example.com"), ("U0BOB", "bob@example.com")])),
            options: Arc::new(FixedOptions::default()),
            clock: Arc::new(SystemClock),
        };
        let runner = LocalRunner::new(airlock_core::Steps::new(deps.clone()), store.clone());
        Self { airlock: Airlock::new(deps, runner.clone()), runner, store }
    }

    async fn submit(&self) -> RequestId {
        let carol = self.airlock.identify("carol@example.com").await.expect("carol");
        let input = SubmitInput {
            flow: "ops".into(),
            target: Some("box".into()),
            duration: Some("1h".into()),
            reason: "INC-1".into(),
            fields: Default::default(),
            ..SubmitInput::default()
        };
        self.airlock.submit(&carol, input).await.expect("submitted").id().clone()
    }

    async fn approve(&self, id: &RequestId) {
        let bob = self.airlock.identify("bob@example.com").await.expect("bob");
        let outcome = self.airlock.decide(id, &bob, Verdict::Approve, None).await.expect("approved");
        assert!(matches!(outcome, airlock_core::services::DecideOutcome::Decided(_)), "{outcome:?}");
    }

    async fn assert_active(&self, id: &RequestId) {
        let mut statuses = self.store.statuses.subscribe();
        let active = tokio::time::timeout(BOUND, statuses.wait_for(|s| s.get(id.as_str()) == Some(&Status::Active)));
        if active.await.is_err() {
            let status = self.store.get_request(id).await.ok().flatten().map(|r| r.status());
            panic!("request is {status:?}, expected active; steps: {:?}", self.runner.history(id));
        }
    }
}

/// The SQLite store, with a gate that can hold one `get_request` and a feed of every status written.
struct GateStore {
    inner: SqliteStore,
    ids: Mutex<HashSet<String>>,
    gate: Mutex<Option<Gate>>,
    statuses: watch::Sender<HashMap<String, Status>>,
}

type Matcher = Box<dyn Fn(&AccessRequest) -> bool + Send>;

struct Gate {
    when: Matcher,
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// A store call held at the gate; the caller continues once this is released (or dropped).
struct Held(oneshot::Sender<()>);

impl Held {
    fn release(self) {
        let _ = self.0.send(());
    }
}

/// A pause armed but not reached yet.
struct Armed {
    reached: oneshot::Receiver<()>,
    release: oneshot::Sender<()>,
}

impl Armed {
    async fn reached(self) -> Held {
        tokio::time::timeout(BOUND, self.reached).await.expect("the paused call was reached").expect("gate open");
        Held(self.release)
    }
}

impl GateStore {
    fn new(inner: SqliteStore) -> Self {
        Self { inner, ids: Mutex::default(), gate: Mutex::default(), statuses: watch::Sender::new(HashMap::new()) }
    }

    /// Holds the first `get_request` whose answer matches `when`, after reading, before answering.
    fn pause_get(&self, when: impl Fn(&AccessRequest) -> bool + Send + 'static) -> Armed {
        let (reached_tx, reached) = oneshot::channel();
        let (release, release_rx) = oneshot::channel();
        *self.gate.lock().unwrap() = Some(Gate { when: Box::new(when), reached: reached_tx, release: release_rx });
        Armed { reached, release }
    }

    fn holds(&self, id: &str) -> bool {
        self.ids.lock().unwrap().contains(id)
    }

    fn written(&self, request: &AccessRequest) {
        self.statuses.send_modify(|s| {
            s.insert(request.id().to_string(), request.status());
        });
    }
}

#[async_trait]
impl Store for GateStore {
    async fn insert_request_with(
        &self,
        request: &AccessRequest,
        event: &AuditEvent,
        outbox: &[OutboxItem],
    ) -> Result<(), StoreError> {
        self.ids.lock().unwrap().insert(request.id().to_string());
        self.inner.insert_request_with(request, event, outbox).await?;
        self.written(request);
        Ok(())
    }

    async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequest>, StoreError> {
        let found = self.inner.get_request(id).await?;
        let gate = {
            let mut gate = self.gate.lock().unwrap();
            match (&*gate, &found) {
                (Some(g), Some(r)) if (g.when)(r) => gate.take(),
                _ => None,
            }
        };
        if let Some(gate) = gate {
            let _ = gate.reached.send(());
            let _ = gate.release.await;
        }
        Ok(found)
    }

    async fn update_request_with(
        &self,
        request: &AccessRequest,
        expected: Status,
        event: Option<&AuditEvent>,
        outbox: &[OutboxItem],
    ) -> Result<(), StoreError> {
        self.inner.update_request_with(request, expected, event, outbox).await?;
        self.written(request);
        Ok(())
    }

    async fn requests_of_user(
        &self,
        user_key: &str,
        status: Option<Status>,
        limit: usize,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        self.inner.requests_of_user(user_key, status, limit).await
    }

    async fn requests_for_access(&self, user_key: &str, access_key: &str) -> Result<Vec<AccessRequest>, StoreError> {
        self.inner.requests_for_access(user_key, access_key).await
    }

    async fn requests_with_status_before(
        &self,
        status: Status,
        before: Option<&RequestId>,
        limit: usize,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        self.inner.requests_with_status_before(status, before, limit).await
    }

    async fn removals_due(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<AccessRequest>, StoreError> {
        self.inner.removals_due(before, limit).await
    }

    async fn audit_events(&self, id: &RequestId) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.audit_events(id).await
    }

    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.inner.append_audit_event(event).await
    }

    async fn claim_idempotency_key(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.inner.claim_idempotency_key(key, ttl).await
    }

    async fn enqueue_notifications(&self, items: &[OutboxItem]) -> Result<(), StoreError> {
        self.inner.enqueue_notifications(items).await
    }

    async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        self.inner.claim_notifications(now, lease, limit).await
    }

    async fn notification_done(&self, id: &str) -> Result<(), StoreError> {
        self.inner.notification_done(id).await
    }

    async fn notification_retry(&self, item: &OutboxItem) -> Result<(), StoreError> {
        self.inner.notification_retry(item).await
    }
}

/// Holds the task that logs "AwaitDecision parked" for a request of one store, inside the log call.
struct ParkHook {
    store: Arc<GateStore>,
    reached: Option<oneshot::Sender<()>>,
    release: mpsc::Receiver<()>,
}

/// A park hook armed but not reached yet.
struct ArmedHook {
    reached: oneshot::Receiver<()>,
    release: mpsc::Sender<()>,
}

/// A parked task held in its log call.
struct HeldTask(mpsc::Sender<()>);

impl HeldTask {
    fn release(self) {
        let _ = self.0.send(());
    }
}

impl ArmedHook {
    async fn reached(self) -> HeldTask {
        tokio::time::timeout(BOUND, self.reached).await.expect("the runner parked").expect("hook armed");
        HeldTask(self.release)
    }
}

static PARK_HOOKS: Mutex<Vec<ParkHook>> = Mutex::new(Vec::new());

impl ParkHook {
    fn arm(store: &Arc<GateStore>) -> ArmedHook {
        let (reached_tx, reached) = oneshot::channel();
        let (release, release_rx) = mpsc::channel();
        PARK_HOOKS.lock().unwrap().push(ParkHook {
            store: store.clone(),
            reached: Some(reached_tx),
            release: release_rx,
        });
        ArmedHook { reached, release }
    }

    /// Blocks the calling thread (the driving task) until the test releases it.
    fn hold(mut self) {
        if let Some(reached) = self.reached.take() {
            let _ = reached.send(());
        }
        let _ = self.release.recv();
    }
}

/// A subscriber that only watches the runner's events, for the park hooks.
struct Hooks;

fn install_hooks() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| tracing::subscriber::set_global_default(Hooks).expect("the only subscriber"));
}

#[derive(Default)]
struct Fields {
    message: String,
    request_id: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "request_id" => self.request_id = format!("{value:?}"),
            _ => {}
        }
    }
}

impl Subscriber for Hooks {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "airlock_local::runner"
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.message != "AwaitDecision parked" {
            return;
        }
        let hook = {
            let mut hooks = PARK_HOOKS.lock().unwrap();
            hooks.iter().position(|h| h.store.holds(&fields.request_id)).map(|at| hooks.remove(at))
        };
        if let Some(hook) = hook {
            hook.hold();
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
