//! In-memory fakes of core's ports, one of each, for core's service tests (its integration tests)
//! and the adapter and handler tests. Each fails on command where a test needs a failure.

use airlock_core::outbox::OutboxItem;
use airlock_core::ports::{
    Clock, Directory, DirectoryError, DirectoryUser, Escalation, EscalationError, EscalationProgress, Escalator,
    GrantSpec, Notifier, NotifyError, OptionsError, OptionsSource, ProgressSink, RequesterUpdate, SelectOption, Store,
    StoreError, Workflow, WorkflowError,
};
use airlock_core::services::Home;
use airlock_core::workflow::WorkflowState;
use airlock_core::{AccessRequest, AuditEvent, Email, FieldSpec, Flow, MessageRef, RequestId, Status, Target};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A store in memory with the semantics of the real ones: conditional writes (status and version),
/// one open request per person and access, idempotency keys, and an outbox whose claims take the
/// oldest due notifications, never one while an older one of the same request is stored, and hide
/// each for its lease.
#[derive(Default)]
pub struct MemoryStore {
    requests: Mutex<HashMap<RequestId, AccessRequest>>,
    events: Mutex<Vec<AuditEvent>>,
    keys: Mutex<Vec<String>>,
    outbox: Mutex<Vec<OutboxItem>>,
    down: Mutex<Option<StoreError>>,
    roles: crate::roles::MemoryRoles,
}

impl MemoryStore {
    /// A store out of reach: every call fails as unavailable ("connection refused").
    pub fn unreachable() -> Self {
        let store = Self::default();
        store.set_down(Some(StoreError::Unavailable("connection refused".into())));
        store
    }

    /// Makes every later call fail with `error` (`None` brings the store back).
    pub fn set_down(&self, error: Option<StoreError>) {
        *self.down.lock().unwrap() = error;
    }

    /// The notifications stored now (claimed or not), oldest first.
    pub fn outbox(&self) -> Vec<OutboxItem> {
        let mut items = self.outbox.lock().unwrap().clone();
        items.sort_by(|a, b| a.id.cmp(&b.id));
        items
    }

    fn reachable(&self) -> Result<(), StoreError> {
        self.down.lock().unwrap().clone().map_or(Ok(()), Err)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn insert_request_with(
        &self,
        request: &AccessRequest,
        event: &AuditEvent,
        outbox: &[OutboxItem],
    ) -> Result<(), StoreError> {
        self.reachable()?;
        let mut requests = self.requests.lock().unwrap();
        let claims = |r: &AccessRequest, key: &str| r.target_with_key(key).is_some_and(|t| r.target_is_open(t));
        if let Some(open) = requests.values().find(|r| {
            r.requester().email == request.requester().email
                && request.targets().iter().any(|t| claims(r, t.access_key()))
        }) {
            return Err(StoreError::Duplicate(open.id().clone()));
        }
        requests.insert(request.id().clone(), request.clone());
        self.events.lock().unwrap().push(event.clone());
        self.outbox.lock().unwrap().extend_from_slice(outbox);
        Ok(())
    }

    async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequest>, StoreError> {
        self.reachable()?;
        Ok(self.requests.lock().unwrap().get(id).cloned())
    }

    async fn update_request_with(
        &self,
        request: &AccessRequest,
        expected: Status,
        event: Option<&AuditEvent>,
        outbox: &[OutboxItem],
    ) -> Result<(), StoreError> {
        self.reachable()?;
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
        self.reachable()?;
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
        self.reachable()?;
        let requests = self.requests.lock().unwrap();
        let mut found: Vec<_> = requests
            .values()
            .filter(|r| r.requester().user_key() == user_key && r.target_with_key(access_key).is_some())
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
        self.reachable()?;
        let requests = self.requests.lock().unwrap();
        let mut found: Vec<_> =
            requests.values().filter(|r| r.status() == status && before.is_none_or(|b| r.id() < b)).cloned().collect();
        found.sort_by(|a, b| b.id().cmp(a.id()));
        found.truncate(limit);
        Ok(found)
    }

    async fn removals_due(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<AccessRequest>, StoreError> {
        self.reachable()?;
        let requests = self.requests.lock().unwrap();
        let mut due: Vec<_> =
            requests.values().filter(|r| r.removal_due().is_some_and(|d| d <= before)).cloned().collect();
        due.sort_by_key(|r| r.removal_due());
        due.truncate(limit);
        Ok(due)
    }

    async fn audit_events(&self, id: &RequestId) -> Result<Vec<AuditEvent>, StoreError> {
        self.reachable()?;
        Ok(self.events.lock().unwrap().iter().filter(|e| &e.request_id == id).cloned().collect())
    }

    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.reachable()?;
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }

    async fn claim_idempotency_key(&self, key: &str, _ttl: Duration) -> Result<bool, StoreError> {
        self.reachable()?;
        let mut keys = self.keys.lock().unwrap();
        if keys.iter().any(|k| k == key) {
            return Ok(false);
        }
        keys.push(key.into());
        Ok(true)
    }

    async fn enqueue_notifications(&self, items: &[OutboxItem]) -> Result<(), StoreError> {
        self.reachable()?;
        self.outbox.lock().unwrap().extend_from_slice(items);
        Ok(())
    }

    async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        self.reachable()?;
        let lease = chrono::Duration::from_std(lease).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut outbox = self.outbox.lock().unwrap();
        outbox.sort_by(|a, b| a.id.cmp(&b.id));
        let mut claimed = Vec::new();
        let mut seen_requests = HashSet::new();
        for item in outbox.iter_mut() {
            let first_of_request = item.request_id.as_ref().is_none_or(|id| seen_requests.insert(id.clone()));
            if first_of_request && item.due_at <= now && claimed.len() < limit {
                claimed.push(item.clone());
                item.due_at = now + lease;
            }
        }
        Ok(claimed)
    }

    async fn notification_done(&self, id: &str) -> Result<(), StoreError> {
        self.reachable()?;
        self.outbox.lock().unwrap().retain(|i| i.id != id);
        Ok(())
    }

    async fn notification_retry(&self, item: &OutboxItem) -> Result<(), StoreError> {
        self.reachable()?;
        if let Some(stored) = self.outbox.lock().unwrap().iter_mut().find(|i| i.id == item.id) {
            *stored = item.clone();
        }
        Ok(())
    }

    fn roles(&self) -> Option<&dyn airlock_core::roles::RoleStore> {
        Some(&self.roles)
    }
}

/// A Slack that records every message as a line of text (and each requester DM as its update), and
/// fails the next calls with the errors it is given, in order.
#[derive(Default)]
pub struct RecordingNotifier {
    lines: Mutex<Vec<String>>,
    told: Mutex<Vec<RequesterUpdate>>,
    failures: Mutex<Vec<NotifyError>>,
    homes: Mutex<Vec<(String, Home)>>,
}

impl RecordingNotifier {
    /// Fails the next call not failed yet with `error` (an outage or a rate limit, on command).
    pub fn fail_next(&self, error: NotifyError) {
        self.failures.lock().unwrap().push(error);
    }

    /// Every message delivered, as lines such as `card <id> to <channel>` or `dm <id> <update>`.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// How many delivered messages contain `needle`.
    pub fn saw(&self, needle: &str) -> usize {
        self.lines.lock().unwrap().iter().filter(|l| l.contains(needle)).count()
    }

    /// The requester DMs delivered, in order.
    pub fn told(&self) -> Vec<RequesterUpdate> {
        self.told.lock().unwrap().clone()
    }

    /// The App Homes published, as (Slack user id, home), in order (kept apart from [`Self::lines`]).
    pub fn homes(&self) -> Vec<(String, Home)> {
        self.homes.lock().unwrap().clone()
    }

    /// The last App Home published to `user`.
    pub fn home_of(&self, user: &str) -> Option<Home> {
        self.homes.lock().unwrap().iter().rev().find(|(u, _)| u == user).map(|(_, h)| h.clone())
    }

    fn take_failure(&self) -> Result<(), NotifyError> {
        let mut failures = self.failures.lock().unwrap();
        if failures.is_empty() { Ok(()) } else { Err(failures.remove(0)) }
    }

    fn deliver(&self, line: String) -> Result<usize, NotifyError> {
        self.take_failure()?;
        let mut lines = self.lines.lock().unwrap();
        lines.push(line);
        Ok(lines.len())
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
        let n = self.deliver(format!("card {} to {destination}", request.id()))?;
        Ok(MessageRef { channel: destination.into(), ts: format!("{n}.1") })
    }

    async fn update_approval_cards(&self, request: &AccessRequest, _flow: &Flow) -> Result<(), NotifyError> {
        self.deliver(format!("card-update {} {}", request.id(), request.status()))?;
        Ok(())
    }

    async fn post_extension_card(
        &self,
        request: &AccessRequest,
        _flow: &Flow,
        destination: &str,
    ) -> Result<MessageRef, NotifyError> {
        let number = request.pending_extension().map_or(0, |e| e.number);
        let n = self.deliver(format!("extension-card {} #{number} to {destination}", request.id()))?;
        Ok(MessageRef { channel: destination.into(), ts: format!("{n}.2") })
    }

    async fn tell_requester(
        &self,
        request: &AccessRequest,
        _flow: &Flow,
        update: RequesterUpdate,
    ) -> Result<(), NotifyError> {
        self.deliver(format!("dm {} {update:?}", request.id()))?;
        self.told.lock().unwrap().push(update);
        Ok(())
    }

    async fn remind_approvers(
        &self,
        request: &AccessRequest,
        _flow: &Flow,
        approvers: &[DirectoryUser],
    ) -> Result<(), NotifyError> {
        self.deliver(format!("remind {} to {}", request.id(), approvers.len()))?;
        Ok(())
    }

    async fn tell_user(&self, user: &str, _channel: Option<&str>, text: &str) -> Result<(), NotifyError> {
        self.deliver(format!("tell {user} {text}"))?;
        Ok(())
    }

    async fn post_audit(&self, channel: &str, request: &AccessRequest, event: &AuditEvent) -> Result<(), NotifyError> {
        self.deliver(format!("audit {channel} {} {}", request.id(), event.action))?;
        Ok(())
    }

    async fn report_drift(&self, channel: &str, holder: &Email, target: &str) -> Result<(), NotifyError> {
        self.deliver(format!("drift {channel} {holder} {target}"))?;
        Ok(())
    }

    async fn publish_home(&self, user: &str, home: &Home) -> Result<(), NotifyError> {
        self.take_failure()?;
        self.homes.lock().unwrap().push((user.to_string(), home.clone()));
        Ok(())
    }
}

/// A fixed set of Slack users (id and email), every group holding the same members.
pub struct FixedDirectory {
    people: Vec<(String, String)>,
    group_members: Vec<String>,
}

impl Default for FixedDirectory {
    /// The people of core's unit tests: U1 alice (admin in the example config), U2 bob, U3 carol,
    /// U4 dave (every group's only member), U9 mallory (outside the organization).
    fn default() -> Self {
        Self::new(&[
            ("U1", "alice@example.com"),
            ("U2", "bob@example.com"),
            ("U3", "carol@example.com"),
            ("U4", "dave@example.com"),
            ("U9", "mallory@elsewhere.example"),
        ])
        .with_group_members(&["U4"])
    }
}

impl FixedDirectory {
    /// `people` as (Slack id, email), in no group.
    pub fn new(people: &[(&str, &str)]) -> Self {
        Self {
            people: people.iter().map(|(id, email)| (id.to_string(), email.to_string())).collect(),
            group_members: Vec::new(),
        }
    }

    /// Makes every group hold `members` (Slack ids).
    pub fn with_group_members(mut self, members: &[&str]) -> Self {
        self.group_members = members.iter().map(|m| m.to_string()).collect();
        self
    }

    fn user(&self, found: Option<&(String, String)>) -> Option<DirectoryUser> {
        found.map(|(id, email)| DirectoryUser { slack_id: id.clone(), email: email.parse().ok(), name: None })
    }
}

#[async_trait]
impl Directory for FixedDirectory {
    async fn user_by_slack_id(&self, slack_id: &str) -> Result<Option<DirectoryUser>, DirectoryError> {
        Ok(self.user(self.people.iter().find(|(id, _)| id == slack_id)))
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<DirectoryUser>, DirectoryError> {
        Ok(self.user(self.people.iter().find(|(_, e)| e == email.as_str())))
    }

    async fn group_members(&self, _group_id: &str) -> Result<Vec<String>, DirectoryError> {
        Ok(self.group_members.clone())
    }
}

/// A directory that panics when asked about one Slack user (a bug in a port, on command) and
/// otherwise answers as `inner`.
pub struct PanickingDirectory {
    inner: Arc<dyn Directory>,
    slack_id: String,
}

impl PanickingDirectory {
    /// `inner`, except that looking up `slack_id` panics.
    pub fn new(inner: Arc<dyn Directory>, slack_id: &str) -> Self {
        Self { inner, slack_id: slack_id.into() }
    }
}

#[async_trait]
impl Directory for PanickingDirectory {
    async fn user_by_slack_id(&self, slack_id: &str) -> Result<Option<DirectoryUser>, DirectoryError> {
        assert_ne!(slack_id, self.slack_id, "a bug in a port, on command");
        self.inner.user_by_slack_id(slack_id).await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<DirectoryUser>, DirectoryError> {
        self.inner.user_by_email(email).await
    }

    async fn group_members(&self, group_id: &str) -> Result<Vec<String>, DirectoryError> {
        self.inner.group_members(group_id).await
    }
}

/// A workflow that starts nothing and records what the services asked of it.
#[derive(Default)]
pub struct RecordingWorkflow {
    started: Mutex<Vec<WorkflowState>>,
    decisions: Mutex<Vec<(String, WorkflowState)>>,
    removals: Mutex<Vec<RequestId>>,
}

impl RecordingWorkflow {
    /// The states executions were started with.
    pub fn started(&self) -> Vec<WorkflowState> {
        self.started.lock().unwrap().clone()
    }

    /// The decisions sent, with their task tokens.
    pub fn decisions(&self) -> Vec<(String, WorkflowState)> {
        self.decisions.lock().unwrap().clone()
    }

    /// The requests whose grant was asked to end now.
    pub fn removals(&self) -> Vec<RequestId> {
        self.removals.lock().unwrap().clone()
    }
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

/// An escalator that fails with the scripted errors first (last given, first used), then succeeds,
/// recording each grant and removal.
#[derive(Default)]
pub struct ScriptedEscalator {
    /// Errors the next escalations fail with.
    pub failures: Mutex<Vec<EscalationError>>,
    /// Errors the next deescalations fail with.
    pub removal_failures: Mutex<Vec<EscalationError>>,
    /// People who hold the access before any grant: escalation finds it already there.
    pub standing: Mutex<Vec<Email>>,
    /// People whose access can never be removed (every deescalation fails transiently).
    pub stuck: Mutex<Vec<Email>>,
    /// Who the target system says holds each target (by target name), for drift checks.
    pub holding: Mutex<HashMap<String, Vec<Email>>>,
    /// Requests escalated.
    pub escalated: Mutex<Vec<RequestId>>,
    /// Requests deescalated.
    pub deescalated: Mutex<Vec<RequestId>>,
    /// Targets (by name) whose every escalation fails with the given error.
    pub refusing: Mutex<HashMap<String, EscalationError>>,
    /// Targets (by name) whose every deescalation fails with the given error.
    pub refusing_removal: Mutex<HashMap<String, EscalationError>>,
    /// Every escalation and deescalation that succeeded: (action, request, target name).
    pub calls: Mutex<Vec<(&'static str, RequestId, String)>>,
    /// Targets (by name) whose escalation waits behind others: it reports
    /// [`EscalationProgress::Queued`] twice, then goes on.
    pub queued: Mutex<Vec<String>>,
}

impl ScriptedEscalator {
    /// The targets `action` (`escalate` / `deescalate`) succeeded for on `request`, in order.
    pub fn targets(&self, action: &str, request: &RequestId) -> Vec<String> {
        let calls = self.calls.lock().unwrap();
        calls.iter().filter(|(a, r, _)| *a == action && r == request).map(|(_, _, t)| t.clone()).collect()
    }
}

#[async_trait]
impl Escalator for ScriptedEscalator {
    async fn escalate_reporting(
        &self,
        grant: &GrantSpec,
        progress: &dyn ProgressSink,
    ) -> Result<Escalation, EscalationError> {
        if self.queued.lock().unwrap().contains(&grant.target.name) {
            progress.report(EscalationProgress::Queued).await;
            progress.report(EscalationProgress::Queued).await;
        }
        self.escalate(grant).await
    }

    async fn escalate(&self, grant: &GrantSpec) -> Result<Escalation, EscalationError> {
        if let Some(e) = self.failures.lock().unwrap().pop() {
            return Err(e);
        }
        if let Some(e) = self.refusing.lock().unwrap().get(&grant.target.name) {
            return Err(e.clone());
        }
        self.escalated.lock().unwrap().push(grant.request_id.clone());
        self.calls.lock().unwrap().push(("escalate", grant.request_id.clone(), grant.target.name.clone()));
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
        if let Some(e) = self.refusing_removal.lock().unwrap().get(&grant.target.name) {
            return Err(e.clone());
        }
        self.deescalated.lock().unwrap().push(grant.request_id.clone());
        self.calls.lock().unwrap().push(("deescalate", grant.request_id.clone(), grant.target.name.clone()));
        Ok(())
    }

    async fn holders(&self, target: &Target) -> Result<Option<Vec<Email>>, EscalationError> {
        Ok(self.holding.lock().unwrap().get(&target.name).cloned())
    }
}

/// A clock that moves only when told.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl Default for ManualClock {
    /// Stopped at the moment it is made.
    fn default() -> Self {
        Self::at(Utc::now())
    }
}

impl ManualClock {
    /// Stopped at `now`.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self(Mutex::new(now))
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).expect("a test advances the clock by a sane duration");
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// Options for every select field: those whose value starts with the query. `default()` offers none.
#[derive(Default)]
pub struct FixedOptions(Vec<SelectOption>);

impl FixedOptions {
    /// Offers `options` as (value, label).
    pub fn new(options: &[(&str, &str)]) -> Self {
        Self(
            options
                .iter()
                .map(|(value, label)| SelectOption { value: value.to_string(), label: label.to_string() })
                .collect(),
        )
    }
}

#[async_trait]
impl OptionsSource for FixedOptions {
    async fn options(&self, _flow: &Flow, _field: &FieldSpec, query: &str) -> Result<Vec<SelectOption>, OptionsError> {
        Ok(self.0.iter().filter(|o| o.value.starts_with(query)).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{advanced, sample_event, sample_request};
    use airlock_core::{AuditAction, Notification};

    fn dm(request: &AccessRequest, update: RequesterUpdate, now: DateTime<Utc>) -> OutboxItem {
        OutboxItem::new(Some(request.id().clone()), Notification::Requester { update }, now)
    }

    #[tokio::test]
    async fn writes_are_conditional_on_status_and_version_and_one_request_is_open_per_access() {
        let store = MemoryStore::default();
        let request = sample_request("carol@example.com", "record:prod-admin");
        store.insert_request(&request, &sample_event(&request, AuditAction::Submitted)).await.unwrap();
        let again = sample_request("carol@example.com", "record:prod-admin");
        let refused = store.insert_request(&again, &sample_event(&again, AuditAction::Submitted)).await;
        assert_eq!(refused, Err(StoreError::Duplicate(request.id().clone())));

        let (approved, event) = advanced(&request, Status::Approved).unwrap();
        assert_eq!(store.update_request(&approved, Status::Denied, Some(&event)).await, Err(StoreError::Conflict));
        store.update_request(&approved, Status::Pending, Some(&event)).await.unwrap();
        assert_eq!(
            store.update_request(&approved, Status::Pending, Some(&event)).await,
            Err(StoreError::Conflict),
            "a second write of the same version loses"
        );
        assert_eq!(store.get_request(request.id()).await.unwrap().map(|r| r.status()), Some(Status::Approved));
        assert_eq!(store.audit_events(request.id()).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn claims_keep_each_requests_order_and_hide_what_they_took_for_the_lease() {
        let store = MemoryStore::default();
        let now = Utc::now();
        let carol = sample_request("carol@example.com", "record:a");
        let dave = sample_request("dave@example.com", "record:a");
        let first = dm(&carol, RequesterUpdate::Submitted, now + chrono::Duration::seconds(60));
        let second = dm(&carol, RequesterUpdate::Approved, now);
        let other = dm(&dave, RequesterUpdate::Submitted, now);
        store.enqueue_notifications(&[first.clone(), second.clone(), other.clone()]).await.unwrap();

        let lease = Duration::from_secs(30);
        let claimed = store.claim_notifications(now, lease, 10).await.unwrap();
        assert_eq!(
            claimed.iter().map(|i| &i.id).collect::<Vec<_>>(),
            [&other.id],
            "carol's second waits for her first, which is not due yet"
        );
        assert!(store.claim_notifications(now, lease, 10).await.unwrap().is_empty(), "the claim hides it");

        let later = now + chrono::Duration::seconds(61);
        let claimed = store.claim_notifications(later, lease, 10).await.unwrap();
        assert_eq!(claimed.iter().map(|i| &i.id).collect::<Vec<_>>(), [&first.id, &other.id]);
        store.notification_done(&first.id).await.unwrap();
        let claimed = store.claim_notifications(later, lease, 10).await.unwrap();
        assert_eq!(claimed.iter().map(|i| &i.id).collect::<Vec<_>>(), [&second.id]);
    }

    #[tokio::test]
    async fn a_store_set_down_fails_every_call_until_it_is_back() {
        let store = MemoryStore::unreachable();
        let id = sample_request("carol@example.com", "record:a").id().clone();
        assert_eq!(store.get_request(&id).await, Err(StoreError::Unavailable("connection refused".into())));
        store.set_down(None);
        assert_eq!(store.get_request(&id).await, Ok(None));
    }

    #[tokio::test]
    async fn the_notifier_fails_the_next_calls_in_order_then_records() {
        let slack = RecordingNotifier::default();
        let request = sample_request("carol@example.com", "record:a");
        let flow = airlock_core::Config::from_yaml(airlock_core::config::EXAMPLE_CONFIG).unwrap().flows[0].clone();
        slack.fail_next(NotifyError::Permanent("first".into()));
        slack.fail_next(NotifyError::Permanent("second".into()));
        for expected in ["first", "second"] {
            let failed = slack.tell_requester(&request, &flow, RequesterUpdate::Submitted).await;
            assert_eq!(failed, Err(NotifyError::Permanent(expected.into())));
        }
        slack.tell_requester(&request, &flow, RequesterUpdate::Submitted).await.unwrap();
        assert_eq!(slack.told(), [RequesterUpdate::Submitted]);
        assert_eq!(slack.saw("dm "), 1);
    }

    #[tokio::test]
    async fn the_directory_knows_its_people_and_the_clock_moves_only_when_told() {
        let directory = FixedDirectory::new(&[("U0BOB", "bob@example.com")]);
        let bob = directory.user_by_email(&"bob@example.com".parse().unwrap()).await.unwrap();
        assert_eq!(bob.map(|u| u.slack_id), Some("U0BOB".to_string()));
        assert_eq!(directory.user_by_slack_id("U3").await.unwrap(), None);

        let start = Utc::now();
        let clock = ManualClock::at(start);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
    }
}
