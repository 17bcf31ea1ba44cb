//! In-memory fakes of the ports, for the services' unit tests.

use crate::audit::AuditEvent;
use crate::config::{Config, EXAMPLE_CONFIG};
use crate::email::Email;
use crate::escalators::EscalatorSet;
use crate::flow::{FieldSpec, Flow};
use crate::ids::RequestId;
use crate::outbox::OutboxItem;
use crate::ports::*;
use crate::request::{AccessRequest, MessageRef, Status};
use crate::workflow::WorkflowState;
use crate::{Airlock, Deps};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
pub struct MemoryStore {
    requests: Mutex<HashMap<RequestId, AccessRequest>>,
    events: Mutex<Vec<AuditEvent>>,
    keys: Mutex<Vec<String>>,
    pub outbox: Mutex<Vec<OutboxItem>>,
}

#[async_trait]
impl Store for MemoryStore {
    async fn insert_request_with(
        &self,
        request: &AccessRequest,
        event: &AuditEvent,
        outbox: &[OutboxItem],
    ) -> Result<(), StoreError> {
        let mut requests = self.requests.lock().unwrap();
        if let Some(open) = requests.values().find(|r| {
            !r.status().is_terminal()
                && r.requester().email == request.requester().email
                && r.access_key() == request.access_key()
        }) {
            return Err(StoreError::Duplicate(open.id().clone()));
        }
        requests.insert(request.id().clone(), request.clone());
        self.events.lock().unwrap().push(event.clone());
        self.outbox.lock().unwrap().extend_from_slice(outbox);
        Ok(())
    }

    async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequest>, StoreError> {
        Ok(self.requests.lock().unwrap().get(id).cloned())
    }

    async fn update_request_with(
        &self,
        request: &AccessRequest,
        expected: Status,
        event: Option<&AuditEvent>,
        outbox: &[OutboxItem],
    ) -> Result<(), StoreError> {
        let mut requests = self.requests.lock().unwrap();
        match requests.get(request.id()) {
            Some(stored) if stored.status() == expected && stored.version() + 1 == request.version() => {
                requests.insert(request.id().clone(), request.clone());
                self.events.lock().unwrap().extend(event.cloned());
                self.outbox.lock().unwrap().extend_from_slice(outbox);
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }

    async fn requests_of_user(
        &self,
        user_key: &str,
        status: Option<Status>,
        limit: usize,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        let requests = self.requests.lock().unwrap();
        let mut found: Vec<_> = requests
            .values()
            .filter(|r| r.requester().user_key() == user_key && status.is_none_or(|s| r.status() == s))
            .cloned()
            .collect();
        found.sort_by(|a, b| b.id().cmp(a.id()));
        found.truncate(limit);
        Ok(found)
    }

    async fn requests_for_access(&self, user_key: &str, access_key: &str) -> Result<Vec<AccessRequest>, StoreError> {
        let requests = self.requests.lock().unwrap();
        let mut found: Vec<_> = requests
            .values()
            .filter(|r| r.requester().user_key() == user_key && r.access_key() == access_key)
            .cloned()
            .collect();
        found.sort_by(|a, b| b.id().cmp(a.id()));
        Ok(found)
    }

    async fn requests_with_status_before(
        &self,
        status: Status,
        before: Option<&RequestId>,
        limit: usize,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        let requests = self.requests.lock().unwrap();
        let mut found: Vec<_> =
            requests.values().filter(|r| r.status() == status && before.is_none_or(|b| r.id() < b)).cloned().collect();
        found.sort_by(|a, b| b.id().cmp(a.id()));
        found.truncate(limit);
        Ok(found)
    }

    async fn removals_due(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<AccessRequest>, StoreError> {
        let requests = self.requests.lock().unwrap();
        let mut due: Vec<_> =
            requests.values().filter(|r| r.removal_due().is_some_and(|d| d <= before)).cloned().collect();
        due.sort_by_key(|r| r.removal_due());
        due.truncate(limit);
        Ok(due)
    }

    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }

    async fn enqueue_notifications(&self, items: &[OutboxItem]) -> Result<(), StoreError> {
        self.outbox.lock().unwrap().extend_from_slice(items);
        Ok(())
    }

    async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let mut outbox = self.outbox.lock().unwrap();
        outbox.sort_by(|a, b| a.id.cmp(&b.id));
        let mut claimed = Vec::new();
        let mut seen_requests = std::collections::HashSet::new();
        for item in outbox.iter_mut() {
            let first_of_request = item.request_id.as_ref().is_none_or(|id| seen_requests.insert(id.clone()));
            if first_of_request && item.due_at <= now && claimed.len() < limit {
                claimed.push(item.clone());
                item.due_at = now + chrono::Duration::from_std(lease).unwrap();
            }
        }
        Ok(claimed)
    }

    async fn notification_done(&self, id: &str) -> Result<(), StoreError> {
        self.outbox.lock().unwrap().retain(|i| i.id != id);
        Ok(())
    }

    async fn notification_retry(&self, item: &OutboxItem) -> Result<(), StoreError> {
        if let Some(stored) = self.outbox.lock().unwrap().iter_mut().find(|i| i.id == item.id) {
            *stored = item.clone();
        }
        Ok(())
    }

    async fn audit_events(&self, id: &RequestId) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self.events.lock().unwrap().iter().filter(|e| &e.request_id == id).cloned().collect())
    }

    async fn claim_idempotency_key(&self, key: &str, _ttl: Duration) -> Result<bool, StoreError> {
        let mut keys = self.keys.lock().unwrap();
        if keys.iter().any(|k| k == key) {
            return Ok(false);
        }
        keys.push(key.into());
        Ok(true)
    }
}

/// Records what the services asked the workflow to do.
#[derive(Default)]
pub struct RecordingWorkflow {
    pub started: Mutex<Vec<WorkflowState>>,
    pub decisions: Mutex<Vec<(String, WorkflowState)>>,
    pub removals: Mutex<Vec<RequestId>>,
}

#[async_trait]
impl Workflow for RecordingWorkflow {
    async fn start(&self, state: &WorkflowState) -> Result<(), WorkflowError> {
        self.started.lock().unwrap().push(state.clone());
        Ok(())
    }

    async fn send_decision(&self, task_token: &str, state: &WorkflowState) -> Result<(), WorkflowError> {
        self.decisions.lock().unwrap().push((task_token.into(), state.clone()));
        Ok(())
    }

    async fn remove_now(&self, state: &WorkflowState) -> Result<(), WorkflowError> {
        self.removals.lock().unwrap().push(state.request_id.clone());
        Ok(())
    }
}

/// Records every notification as a line of text.
#[derive(Default)]
pub struct RecordingNotifier {
    pub lines: Mutex<Vec<String>>,
    /// Errors the next calls fail with, in order (a Slack outage or rate limit on command).
    pub failures: Mutex<Vec<NotifyError>>,
}

impl RecordingNotifier {
    fn take_failure(&self) -> Result<(), NotifyError> {
        let mut failures = self.failures.lock().unwrap();
        if failures.is_empty() { Ok(()) } else { Err(failures.remove(0)) }
    }

    pub fn saw(&self, needle: &str) -> usize {
        self.lines.lock().unwrap().iter().filter(|l| l.contains(needle)).count()
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn post_approval_card(
        &self,
        request: &AccessRequest,
        _flow: &Flow,
        destination: &str,
    ) -> Result<MessageRef, NotifyError> {
        self.take_failure()?;
        self.lines.lock().unwrap().push(format!("card {} to {destination}", request.id()));
        Ok(MessageRef { channel: destination.into(), ts: format!("{}.1", self.lines.lock().unwrap().len()) })
    }

    async fn remind_approvers(
        &self,
        request: &AccessRequest,
        _flow: &Flow,
        approvers: &[DirectoryUser],
    ) -> Result<(), NotifyError> {
        self.take_failure()?;
        self.lines.lock().unwrap().push(format!("remind {} to {}", request.id(), approvers.len()));
        Ok(())
    }

    async fn update_approval_cards(&self, request: &AccessRequest, _flow: &Flow) -> Result<(), NotifyError> {
        self.take_failure()?;
        self.lines.lock().unwrap().push(format!("card-update {} {}", request.id(), request.status()));
        Ok(())
    }

    async fn tell_requester(
        &self,
        request: &AccessRequest,
        _flow: &Flow,
        update: RequesterUpdate,
    ) -> Result<(), NotifyError> {
        self.take_failure()?;
        self.lines.lock().unwrap().push(format!("dm {} {update:?}", request.id()));
        Ok(())
    }

    async fn tell_user(&self, user: &str, _channel: Option<&str>, text: &str) -> Result<(), NotifyError> {
        self.take_failure()?;
        self.lines.lock().unwrap().push(format!("tell {user} {text}"));
        Ok(())
    }

    async fn report_drift(&self, channel: &str, holder: &Email, target: &str) -> Result<(), NotifyError> {
        self.take_failure()?;
        self.lines.lock().unwrap().push(format!("drift {channel} {holder} {target}"));
        Ok(())
    }

    async fn post_audit(&self, channel: &str, request: &AccessRequest, event: &AuditEvent) -> Result<(), NotifyError> {
        self.take_failure()?;
        self.lines.lock().unwrap().push(format!("audit {channel} {} {}", request.id(), event.action));
        Ok(())
    }
}

/// Slack users U1 alice (admin), U2 bob (approver), U3 carol (member), U4 dave, U9 mallory (guest).
pub struct FakeDirectory;

const PEOPLE: [(&str, &str); 5] = [
    ("U1", "alice@example.com"),
    ("U2", "bob@example.com"),
    ("U3", "carol@example.com"),
    ("U4", "dave@example.com"),
    ("U9", "mallory@elsewhere.example"),
];

#[async_trait]
impl Directory for FakeDirectory {
    async fn user_by_slack_id(&self, slack_id: &str) -> Result<Option<DirectoryUser>, DirectoryError> {
        Ok(PEOPLE.iter().find(|(id, _)| *id == slack_id).map(|(id, email)| user(id, email)))
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<DirectoryUser>, DirectoryError> {
        Ok(PEOPLE.iter().find(|(_, e)| *e == email.as_str()).map(|(id, email)| user(id, email)))
    }

    async fn group_members(&self, _group_id: &str) -> Result<Vec<String>, DirectoryError> {
        Ok(vec!["U4".into()])
    }
}

fn user(id: &str, email: &str) -> DirectoryUser {
    DirectoryUser { slack_id: id.into(), email: Some(email.parse().unwrap()), name: None }
}

pub struct NoOptions;

#[async_trait]
impl OptionsSource for NoOptions {
    async fn options(&self, _flow: &Flow, _field: &FieldSpec, _query: &str) -> Result<Vec<SelectOption>, OptionsError> {
        Ok(vec![])
    }
}

pub struct NoAudit;

#[async_trait]
impl AuditSink for NoAudit {
    async fn emit(&self, _event: &AuditEvent) {}
}

/// A clock tests move by hand.
pub struct ManualClock(pub Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn advance(&self, secs: i64) {
        *self.0.lock().unwrap() += chrono::Duration::seconds(secs);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// Fails escalation with the configured errors first, then succeeds; counts calls.
#[derive(Default)]
pub struct ScriptedEscalator {
    pub failures: Mutex<Vec<EscalationError>>,
    pub removal_failures: Mutex<Vec<EscalationError>>,
    pub escalated: Mutex<Vec<RequestId>>,
    /// People (emails) who hold the access before any grant: escalation finds it already there.
    pub standing: Mutex<Vec<Email>>,
    /// People whose access can never be removed (every deescalation fails transiently).
    pub stuck: Mutex<Vec<Email>>,
    pub deescalated: Mutex<Vec<RequestId>>,
    /// Who the target system says holds each target (by target name), for drift checks.
    pub holding: Mutex<HashMap<String, Vec<Email>>>,
}

#[async_trait]
impl Escalator for ScriptedEscalator {
    async fn escalate(&self, grant: &GrantSpec) -> Result<Escalation, EscalationError> {
        if let Some(e) = self.failures.lock().unwrap().pop() {
            return Err(e);
        }
        self.escalated.lock().unwrap().push(grant.request_id.clone());
        if self.standing.lock().unwrap().contains(&grant.user_email) {
            return Ok(Escalation::AlreadyHeld);
        }
        Ok(Escalation::Granted)
    }

    async fn deescalate(&self, grant: &GrantSpec) -> Result<(), EscalationError> {
        if self.stuck.lock().unwrap().contains(&grant.user_email) {
            return Err(EscalationError::Transient("the target system keeps failing".into()));
        }
        if let Some(e) = self.removal_failures.lock().unwrap().pop() {
            return Err(e);
        }
        self.deescalated.lock().unwrap().push(grant.request_id.clone());
        Ok(())
    }

    async fn holders(&self, target: &crate::flow::Target) -> Result<Option<Vec<Email>>, EscalationError> {
        Ok(self.holding.lock().unwrap().get(&target.name).cloned())
    }
}

pub struct Harness {
    pub airlock: Airlock,
    pub deps: Deps,
    pub store: Arc<MemoryStore>,
    pub workflow: Arc<RecordingWorkflow>,
    pub notifier: Arc<RecordingNotifier>,
    pub escalator: Arc<ScriptedEscalator>,
    pub clock: Arc<ManualClock>,
}

pub fn harness_with(config: Config) -> Harness {
    let store = Arc::new(MemoryStore::default());
    let workflow = Arc::new(RecordingWorkflow::default());
    let notifier = Arc::new(RecordingNotifier::default());
    let escalator = Arc::new(ScriptedEscalator::default());
    let clock = Arc::new(ManualClock(Mutex::new(Utc::now())));
    let deps = Deps {
        config: Arc::new(config),
        store: store.clone(),
        notifier: notifier.clone(),
        escalator: Arc::new(EscalatorSet::new().with("record", escalator.clone())),
        audit: Arc::new(NoAudit),
        directory: Arc::new(FakeDirectory),
        options: Arc::new(NoOptions),
        clock: clock.clone(),
    };
    Harness { airlock: Airlock::new(deps.clone(), workflow.clone()), deps, store, workflow, notifier, escalator, clock }
}

impl Harness {
    /// The same ports and store under another config (a config change between two releases).
    pub fn reconfigured(&self, config: Config) -> Airlock {
        let deps = Deps { config: Arc::new(config), ..self.deps.clone() };
        Airlock::new(deps, self.workflow.clone())
    }

    /// Delivers every queued notification (what the runner's deliverer does in the background).
    pub async fn deliver(&self) -> crate::services::Delivered {
        self.airlock.steps().deliver_notifications().await.unwrap()
    }
}

pub fn harness() -> Harness {
    harness_with(Config::from_yaml(EXAMPLE_CONFIG).unwrap())
}
