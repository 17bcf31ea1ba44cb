//! Fakes shared by the handler tests: a Slack that says nothing, a store that cannot be reached,
//! and a clock the test moves.

#![allow(dead_code)] // each test binary uses its own part of these

use airlock_core::config::EXAMPLE_CONFIG;
use airlock_core::escalators::EscalatorSet;
use airlock_core::flow::{FieldSpec, Flow};
use airlock_core::ports::{
    Clock, Directory, DirectoryError, DirectoryUser, Notifier, NotifyError, OptionsError, OptionsSource,
    RequesterUpdate, SelectOption, Store, StoreError,
};
use airlock_core::{AccessRequest, AuditEvent, Config, Deps, Email, MessageRef, OutboxItem, RequestId, Status};
use airlock_local::LogAuditSink;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Slack that accepts everything and knows nobody.
pub struct QuietSlack;

#[async_trait]
impl Notifier for QuietSlack {
    async fn post_approval_card(&self, _r: &AccessRequest, _f: &Flow, to: &str) -> Result<MessageRef, NotifyError> {
        Ok(MessageRef { channel: to.into(), ts: "1.1".into() })
    }
    async fn update_approval_cards(&self, _request: &AccessRequest, _flow: &Flow) -> Result<(), NotifyError> {
        Ok(())
    }
    async fn tell_requester(&self, _r: &AccessRequest, _f: &Flow, _u: RequesterUpdate) -> Result<(), NotifyError> {
        Ok(())
    }
    async fn remind_approvers(&self, _r: &AccessRequest, _f: &Flow, _a: &[DirectoryUser]) -> Result<(), NotifyError> {
        Ok(())
    }
    async fn tell_user(&self, _user: &str, _channel: Option<&str>, _text: &str) -> Result<(), NotifyError> {
        Ok(())
    }
    async fn post_audit(&self, _c: &str, _r: &AccessRequest, _e: &AuditEvent) -> Result<(), NotifyError> {
        Ok(())
    }

    async fn report_drift(&self, _channel: &str, _holder: &Email, _target: &str) -> Result<(), NotifyError> {
        Ok(())
    }
}

#[async_trait]
impl Directory for QuietSlack {
    async fn user_by_slack_id(&self, _slack_id: &str) -> Result<Option<DirectoryUser>, DirectoryError> {
        Ok(None)
    }
    async fn user_by_email(&self, _email: &Email) -> Result<Option<DirectoryUser>, DirectoryError> {
        Ok(None)
    }
    async fn group_members(&self, _group_id: &str) -> Result<Vec<String>, DirectoryError> {
        Ok(vec![])
    }
}

#[async_trait]
impl OptionsSource for QuietSlack {
    async fn options(&self, _flow: &Flow, _field: &FieldSpec, _query: &str) -> Result<Vec<SelectOption>, OptionsError> {
        Ok(vec![])
    }
}

/// A store that cannot be reached: every call fails as unavailable.
pub struct Down;

pub fn down() -> StoreError {
    StoreError::Unavailable("connection refused".into())
}

#[async_trait]
impl Store for Down {
    async fn insert_request_with(
        &self,
        _r: &AccessRequest,
        _e: &AuditEvent,
        _o: &[OutboxItem],
    ) -> Result<(), StoreError> {
        Err(down())
    }
    async fn get_request(&self, _id: &RequestId) -> Result<Option<AccessRequest>, StoreError> {
        Err(down())
    }
    async fn update_request_with(
        &self,
        _r: &AccessRequest,
        _s: Status,
        _e: Option<&AuditEvent>,
        _o: &[OutboxItem],
    ) -> Result<(), StoreError> {
        Err(down())
    }
    async fn requests_of_user(
        &self,
        _u: &str,
        _s: Option<Status>,
        _l: usize,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        Err(down())
    }
    async fn requests_for_access(&self, _u: &str, _k: &str) -> Result<Vec<AccessRequest>, StoreError> {
        Err(down())
    }
    async fn requests_with_status_before(
        &self,
        _s: Status,
        _b: Option<&RequestId>,
        _l: usize,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        Err(down())
    }
    async fn removals_due(&self, _b: DateTime<Utc>, _l: usize) -> Result<Vec<AccessRequest>, StoreError> {
        Err(down())
    }
    async fn audit_events(&self, _id: &RequestId) -> Result<Vec<AuditEvent>, StoreError> {
        Err(down())
    }
    async fn append_audit_event(&self, _e: &AuditEvent) -> Result<(), StoreError> {
        Err(down())
    }
    async fn claim_idempotency_key(&self, _k: &str, _t: Duration) -> Result<bool, StoreError> {
        Err(down())
    }
    async fn enqueue_notifications(&self, _items: &[OutboxItem]) -> Result<(), StoreError> {
        Err(down())
    }
    async fn claim_notifications(
        &self,
        _now: DateTime<Utc>,
        _lease: Duration,
        _limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        Err(down())
    }
    async fn notification_done(&self, _id: &str) -> Result<(), StoreError> {
        Err(down())
    }
    async fn notification_retry(&self, _item: &OutboxItem) -> Result<(), StoreError> {
        Err(down())
    }
}

/// A clock that moves only when told.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(Utc::now())))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now += chrono::Duration::from_std(by).unwrap();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// The example config's services over `store` and `notifier`, at `clock`'s time.
pub fn deps(store: Arc<dyn Store>, notifier: Arc<dyn Notifier>, clock: Arc<dyn Clock>) -> Deps {
    Deps {
        config: Arc::new(Config::from_yaml(EXAMPLE_CONFIG).unwrap()),
        store,
        notifier,
        escalator: Arc::new(EscalatorSet::new()),
        audit: Arc::new(LogAuditSink),
        directory: Arc::new(QuietSlack),
        options: Arc::new(QuietSlack),
        clock,
    }
}
