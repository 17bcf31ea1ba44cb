//! [`SsoEscalator`]: `aws_sso` targets as IAM Identity Center account assignments.
//!
//! The user is found in the instance's identity store by user name, then by email. Creating and
//! deleting an assignment are asynchronous in AWS: the escalator polls the request's status with
//! backoff until it succeeds or fails. User ids (and group ids, for groups) found for a grant are
//! reused for [`LOOKUP_TTL`]. Both directions are idempotent: an assignment that already
//! exists (or is already gone) is success; conflicts with an operation in progress and throttling
//! are retried. Escalating tells whether the assignment existed before Airlock asked for it
//! ([`Escalation::AlreadyHeld`]), so that Airlock never removes standing access.
//!
//! Within Identity Center's quotas: one escalator (one process) keeps at most
//! [`MAX_IN_FLIGHT`] assignment operations in progress (a permit held from the create or delete
//! call until its status poll ends) and paces every Identity Center call it makes to
//! [`REQUESTS_PER_SECOND`]. A grant that waits for either longer than [`QUEUED_AFTER`] reports
//! [`EscalationProgress::Queued`] (the Escalate step tells the requester). Across processes (Lambda
//! instances) the functions' reserved concurrency bounds the operations in flight.

use crate::LazyClient;
use airlock_core::email::Email;
use airlock_core::flow::{Target, TargetKind};
use airlock_core::ports::{
    Escalation, EscalationError, EscalationProgress, Escalator, GrantSpec, NoProgress, ProgressSink,
};
use async_trait::async_trait;
use aws_sdk_identitystore::types::{AlternateIdentifier, UniqueAttribute};
use aws_sdk_ssoadmin::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ssoadmin::types::{AccountAssignmentOperationStatus, PrincipalType, StatusValues, TargetType};
use aws_smithy_types::Document;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

mod group;
pub use group::SsoGroupEscalator;

/// Attempts for a create/delete call that meets a conflict or throttling.
const CALL_ATTEMPTS: u32 = 6;
/// Status polls before giving up (the sweeper and Step Functions retries take over).
const POLLS: u32 = 20;
/// Assignment operations one escalator keeps in progress at once (Identity Center allows 10 per
/// instance).
pub const MAX_IN_FLIGHT: usize = 10;
/// Identity Center calls one escalator makes per second at most (Identity Center allows about 20
/// per instance; the rest is left to other callers).
pub const REQUESTS_PER_SECOND: u32 = 10;
/// How long a grant waits for its turn before it reports [`EscalationProgress::Queued`].
pub const QUEUED_AFTER: Duration = Duration::from_secs(3);

/// How long a looked-up identity store user id or group id is reused: a burst of grants looks
/// each person and group up once.
pub const LOOKUP_TTL: Duration = Duration::from_secs(300);

/// Ids found in the identity store, by store and name; entries expire after `ttl` (zero: nothing
/// is kept). Only ids found are kept, so someone added to the store is found at once. Concurrent
/// lookups of one name take turns ([`Self::turn`]), so a burst of grants looks it up once.
struct Lookups {
    ttl: Duration,
    ids: Mutex<HashMap<Lookup, (Instant, String)>>,
    turns: Mutex<HashMap<Lookup, Arc<tokio::sync::Mutex<()>>>>,
}

/// A lookup: the identity store and the name looked up.
type Lookup = (String, String);

impl Lookups {
    fn new(ttl: Duration) -> Self {
        Self { ttl, ids: Mutex::default(), turns: Mutex::default() }
    }

    fn get(&self, store: &str, name: &str) -> Option<String> {
        let ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        let (at, id) = ids.get(&(store.to_string(), name.to_string()))?;
        (at.elapsed() < self.ttl).then(|| id.clone())
    }

    fn put(&self, store: &str, name: &str, id: &str) {
        if self.ttl.is_zero() {
            return;
        }
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.retain(|_, (at, _)| at.elapsed() < self.ttl);
        ids.insert((store.to_string(), name.to_string()), (Instant::now(), id.to_string()));
    }

    /// Waits for the turn to look `name` up: one lookup of a name at a time, so that the others
    /// find its answer in the cache.
    async fn turn(&self, store: &str, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let gate = {
            let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
            turns.retain(|_, gate| Arc::strong_count(gate) > 1);
            Arc::clone(turns.entry((store.to_string(), name.to_string())).or_default())
        };
        gate.lock_owned().await
    }
}

/// Spaces calls evenly at a rate (a token bucket of one token): each call takes the next free slot
/// and sleeps until it (no burst is saved up while idle).
struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    fn new(per_second: u32) -> Self {
        Self { interval: Duration::from_secs(1) / per_second.max(1), next: Mutex::new(Instant::now()) }
    }

    /// Books the next free slot and returns it.
    fn book(&self) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let slot = (*next).max(Instant::now());
        *next = slot + self.interval;
        slot
    }
}

/// The three coordinates of an assignment.
struct Assignment<'a> {
    instance_arn: &'a str,
    account_id: &'a str,
    permission_set_arn: &'a str,
}

impl<'a> Assignment<'a> {
    fn of(target: &'a Target) -> Result<Self, EscalationError> {
        match &target.kind {
            TargetKind::AwsSso { account_id, permission_set_arn, instance_arn } => {
                Ok(Self { instance_arn, account_id, permission_set_arn })
            }
            other => {
                Err(EscalationError::Permanent(format!("{} is a {} target, not aws_sso", target.name, other.name())))
            }
        }
    }
}

/// One grant's waits for a turn, and whether it was reported queued.
struct Waits<'p> {
    progress: &'p dyn ProgressSink,
    reported: AtomicBool,
}

impl<'p> Waits<'p> {
    fn new(progress: &'p dyn ProgressSink) -> Self {
        Self { progress, reported: AtomicBool::new(false) }
    }
}

/// Grants and removes Identity Center access.
pub struct SsoEscalator {
    sso: LazyClient<aws_sdk_ssoadmin::Client>,
    identity: LazyClient<aws_sdk_identitystore::Client>,
    /// Identity store id per instance ARN (from ListInstances, or configured).
    stores: Mutex<HashMap<String, String>>,
    /// The identity store of every instance not in `stores` (an organization has one instance).
    default_store: Option<String>,
    backoff: Duration,
    /// Permits for assignment operations in progress.
    in_flight: Semaphore,
    pacer: Pacer,
    queued_after: Duration,
    /// User ids by email; group ids by display name or id ([`SsoGroupEscalator`]).
    users: Lookups,
    groups: Lookups,
}

/// Worth retrying: a conflicting operation in progress, throttling, or a service-side failure.
fn retryable(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("ConflictException" | "ThrottlingException" | "TooManyRequestsException" | "InternalServerException")
    )
}

/// A failed call as an [`EscalationError`]: transient when retrying may help (see [`retryable`], 5xx,
/// or the service not reached at all), permanent for the service's other answers (access denied,
/// validation, not found).
fn failure<E>(what: &str, e: SdkError<E>) -> EscalationError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transient = match &e {
        SdkError::ServiceError(s) => retryable(s.err().code()) || s.raw().status().is_server_error(),
        _ => true,
    };
    let message = format!("{what}: {}", DisplayErrorContext(e));
    if transient { EscalationError::Transient(message) } else { EscalationError::Permanent(message) }
}

impl SsoEscalator {
    /// An escalator that finds each instance's identity store with `sso:ListInstances` (once).
    pub fn new(
        sso: impl Into<LazyClient<aws_sdk_ssoadmin::Client>>,
        identity: impl Into<LazyClient<aws_sdk_identitystore::Client>>,
    ) -> Self {
        Self {
            sso: sso.into(),
            identity: identity.into(),
            stores: Mutex::default(),
            default_store: None,
            backoff: Duration::from_millis(500),
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
            pacer: Pacer::new(REQUESTS_PER_SECOND),
            queued_after: QUEUED_AFTER,
            users: Lookups::new(LOOKUP_TTL),
            groups: Lookups::new(LOOKUP_TTL),
        }
    }

    /// Reuses looked-up user and group ids for `ttl` (default [`LOOKUP_TTL`]; zero: look up
    /// every time).
    pub fn with_lookup_ttl(mut self, ttl: Duration) -> Self {
        self.users = Lookups::new(ttl);
        self.groups = Lookups::new(ttl);
        self
    }

    /// At most `operations` assignment operations in progress at once (default [`MAX_IN_FLIGHT`]).
    pub fn with_max_in_flight(mut self, operations: usize) -> Self {
        self.in_flight = Semaphore::new(operations.max(1));
        self
    }

    /// At most `per_second` Identity Center calls per second (default [`REQUESTS_PER_SECOND`]).
    pub fn with_rate(mut self, per_second: u32) -> Self {
        self.pacer = Pacer::new(per_second);
        self
    }

    /// Reports [`EscalationProgress::Queued`] after waiting `wait` for a turn (default
    /// [`QUEUED_AFTER`]).
    pub fn with_queued_after(mut self, wait: Duration) -> Self {
        self.queued_after = wait;
        self
    }

    /// Waits for `turn`; when that takes longer than `queued_after`, reports `Queued` (once per
    /// grant).
    async fn wait_turn<T>(&self, turn: impl Future<Output = T>, waits: &Waits<'_>) -> T {
        tokio::pin!(turn);
        if waits.reported.load(Ordering::SeqCst) {
            return turn.await;
        }
        match tokio::time::timeout(self.queued_after, &mut turn).await {
            Ok(done) => done,
            Err(_) => {
                if !waits.reported.swap(true, Ordering::SeqCst) {
                    waits.progress.report(EscalationProgress::Queued).await;
                }
                turn.await
            }
        }
    }

    /// Waits for this process's next Identity Center call slot.
    async fn pace(&self, waits: &Waits<'_>) {
        self.wait_turn(tokio::time::sleep_until(self.pacer.book()), waits).await;
    }

    /// Uses `identity_store_id` for every instance not set with [`Self::with_identity_store`],
    /// instead of looking it up (no `sso:ListInstances` permission needed).
    pub fn with_default_identity_store(mut self, identity_store_id: &str) -> Self {
        self.default_store = Some(identity_store_id.into());
        self
    }

    /// Uses `identity_store_id` for `instance_arn` instead of looking it up.
    pub fn with_identity_store(self, instance_arn: &str, identity_store_id: &str) -> Self {
        self.stores.lock().unwrap_or_else(|e| e.into_inner()).insert(instance_arn.into(), identity_store_id.into());
        self
    }

    /// The first wait between polls and retries (doubling, at most 5 s).
    pub fn with_backoff(mut self, first: Duration) -> Self {
        self.backoff = first;
        self
    }

    async fn identity_store(&self, instance_arn: &str, waits: &Waits<'_>) -> Result<String, EscalationError> {
        if let Some(id) = self.stores.lock().unwrap_or_else(|e| e.into_inner()).get(instance_arn) {
            return Ok(id.clone());
        }
        if let Some(id) = &self.default_store {
            return Ok(id.clone());
        }
        self.pace(waits).await;
        let instances = self.sso.get().await.list_instances().send().await.map_err(|e| failure("ListInstances", e))?;
        let id = instances
            .instances()
            .iter()
            .find(|i| i.instance_arn() == Some(instance_arn))
            .and_then(|i| i.identity_store_id())
            .ok_or_else(|| EscalationError::Permanent(format!("no Identity Center instance {instance_arn}")))?
            .to_string();
        self.stores.lock().unwrap_or_else(|e| e.into_inner()).insert(instance_arn.into(), id.clone());
        Ok(id)
    }

    /// The identity store user id of `email` (by user name first, then by email address); `None`
    /// when the store has no such user. Grants (`cached`) reuse an id found within the lookup
    /// TTL; removals look up afresh, so that a user made again under the same email never keeps
    /// access.
    async fn user_id(
        &self,
        store: &str,
        email: &Email,
        cached: bool,
        waits: &Waits<'_>,
    ) -> Result<Option<String>, EscalationError> {
        let _turn = if cached {
            if let Some(id) = self.users.get(store, email.as_str()) {
                return Ok(Some(id));
            }
            let turn = self.users.turn(store, email.as_str()).await;
            if let Some(id) = self.users.get(store, email.as_str()) {
                return Ok(Some(id));
            }
            Some(turn)
        } else {
            None
        };
        let found = self.look_up_user(store, email, waits).await?;
        if let Some(id) = &found {
            self.users.put(store, email.as_str(), id);
        }
        Ok(found)
    }

    async fn look_up_user(
        &self,
        store: &str,
        email: &Email,
        waits: &Waits<'_>,
    ) -> Result<Option<String>, EscalationError> {
        for path in ["userName", "emails.value"] {
            let by = UniqueAttribute::builder()
                .attribute_path(path)
                .attribute_value(Document::String(email.as_str().to_string()))
                .build()
                .map_err(|e| EscalationError::Permanent(e.to_string()))?;
            let identity = self.identity.get().await;
            let found = self
                .paced(waits, || {
                    identity
                        .get_user_id()
                        .identity_store_id(store)
                        .alternate_identifier(AlternateIdentifier::UniqueAttribute(by.clone()))
                        .send()
                })
                .await;
            match found {
                Ok(out) => return Ok(Some(out.user_id().to_string())),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => continue,
                Err(e) => return Err(failure("GetUserId", e)),
            }
        }
        Ok(None)
    }

    /// Principal ids (users) assigned `target` now.
    async fn assigned_users(&self, a: &Assignment<'_>, waits: &Waits<'_>) -> Result<Vec<String>, EscalationError> {
        let mut users = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let sso = self.sso.get().await;
            let page = self
                .paced(waits, || {
                    sso.list_account_assignments()
                        .instance_arn(a.instance_arn)
                        .account_id(a.account_id)
                        .permission_set_arn(a.permission_set_arn)
                        .set_next_token(next.clone())
                        .send()
                })
                .await
                .map_err(|e| failure("ListAccountAssignments", e))?;
            users.extend(
                page.account_assignments()
                    .iter()
                    .filter(|x| x.principal_type() == Some(&PrincipalType::User))
                    .filter_map(|x| x.principal_id().map(String::from)),
            );
            match page.next_token() {
                Some(token) => next = Some(token.to_string()),
                None => return Ok(users),
            }
        }
    }

    /// One call sent at the pacer's rate, retried with jittered backoff (up to [`CALL_ATTEMPTS`]
    /// attempts) while Identity Center answers with a [`retryable`] error.
    async fn paced<T, E, R, F>(&self, waits: &Waits<'_>, send: impl Fn() -> F) -> Result<T, SdkError<E, R>>
    where
        F: Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata,
    {
        let mut attempt = 0;
        loop {
            self.pace(waits).await;
            match send().await {
                Err(e) if retryable(e.code()) && attempt + 1 < CALL_ATTEMPTS => {
                    self.sleep(attempt, true).await;
                    attempt += 1;
                }
                sent => return sent,
            }
        }
    }

    /// Backoff before retry or poll `attempt`: doubling from `backoff` up to 5 s, with full jitter
    /// on retries (so that grants throttled together do not come back together).
    async fn sleep(&self, attempt: u32, jitter: bool) {
        let ceiling = self.backoff.saturating_mul(1 << attempt.min(4)).min(Duration::from_secs(5));
        let wait = if jitter { ceiling.mul_f64(fastrand::f64()) } else { ceiling };
        tokio::time::sleep(wait).await;
    }

    /// Creates (`create`) or deletes the assignment, then polls its status; true when there was
    /// nothing to do (the assignment already existed, or was already gone).
    async fn change(&self, grant: &GrantSpec, create: bool, waits: &Waits<'_>) -> Result<bool, EscalationError> {
        let a = Assignment::of(&grant.target)?;
        let store = self.identity_store(a.instance_arn, waits).await?;
        let user = match self.user_id(&store, &grant.user_email, create, waits).await? {
            Some(user) => user,
            None if create => {
                return Err(EscalationError::Permanent(format!(
                    "{} is not a user in the identity store {store}",
                    grant.user_email
                )));
            }
            // Nobody to remove access from: the user is gone from the identity store.
            None => return Ok(true),
        };
        let present = self.assigned_users(&a, waits).await?.contains(&user);
        if present == create {
            return Ok(true);
        }
        // Held until the operation's status poll ends: Identity Center counts it in progress.
        let _permit = self
            .wait_turn(self.in_flight.acquire(), waits)
            .await
            .map_err(|_| EscalationError::Transient("the escalator is shutting down".into()))?;
        let mut attempt = 0;
        let status = loop {
            self.pace(waits).await;
            let sent = if create {
                self.sso
                    .get()
                    .await
                    .create_account_assignment()
                    .instance_arn(a.instance_arn)
                    .target_id(a.account_id)
                    .target_type(TargetType::AwsAccount)
                    .permission_set_arn(a.permission_set_arn)
                    .principal_type(PrincipalType::User)
                    .principal_id(&user)
                    .send()
                    .await
                    .map(|o| o.account_assignment_creation_status().cloned())
                    .map_err(|e| (e.code() == Some("ResourceNotFoundException"), failure("CreateAccountAssignment", e)))
            } else {
                self.sso
                    .get()
                    .await
                    .delete_account_assignment()
                    .instance_arn(a.instance_arn)
                    .target_id(a.account_id)
                    .target_type(TargetType::AwsAccount)
                    .permission_set_arn(a.permission_set_arn)
                    .principal_type(PrincipalType::User)
                    .principal_id(&user)
                    .send()
                    .await
                    .map(|o| o.account_assignment_deletion_status().cloned())
                    .map_err(|e| (e.code() == Some("ResourceNotFoundException"), failure("DeleteAccountAssignment", e)))
            };
            match sent {
                Ok(status) => break status,
                // Already gone: nothing to delete.
                Err((true, _)) if !create => return Ok(true),
                Err((_, EscalationError::Transient(e))) if attempt + 1 < CALL_ATTEMPTS => {
                    tracing::warn!(request_id = %grant.request_id, error = %e, attempt, "assignment call retried");
                    self.sleep(attempt, true).await;
                    attempt += 1;
                }
                Err((_, e)) => return Err(e),
            }
        };
        self.await_status(&a, status, create, waits).await.map(|()| false)
    }

    /// Polls an assignment request until it succeeds or fails; a poll that fails transiently is
    /// tried again at the next turn.
    async fn await_status(
        &self,
        a: &Assignment<'_>,
        first: Option<AccountAssignmentOperationStatus>,
        create: bool,
        waits: &Waits<'_>,
    ) -> Result<(), EscalationError> {
        let what = if create { "creation" } else { "deletion" };
        let mut current =
            first.ok_or_else(|| EscalationError::Transient(format!("the assignment {what} returned no status")))?;
        let request_id = current
            .request_id()
            .ok_or_else(|| EscalationError::Transient(format!("the assignment {what} has no request id")))?
            .to_string();
        for poll in 0..POLLS {
            match current.status() {
                Some(StatusValues::Succeeded) => return Ok(()),
                Some(StatusValues::Failed) => {
                    let reason = current.failure_reason().unwrap_or("no reason given");
                    return Err(EscalationError::Permanent(format!("assignment {what} failed: {reason}")));
                }
                _ => {}
            }
            self.sleep(poll, false).await;
            self.pace(waits).await;
            let polled = if create {
                self.sso
                    .get()
                    .await
                    .describe_account_assignment_creation_status()
                    .instance_arn(a.instance_arn)
                    .account_assignment_creation_request_id(&request_id)
                    .send()
                    .await
                    .map(|o| o.account_assignment_creation_status().cloned())
                    .map_err(|e| failure("DescribeAccountAssignmentCreationStatus", e))
            } else {
                self.sso
                    .get()
                    .await
                    .describe_account_assignment_deletion_status()
                    .instance_arn(a.instance_arn)
                    .account_assignment_deletion_request_id(&request_id)
                    .send()
                    .await
                    .map(|o| o.account_assignment_deletion_status().cloned())
                    .map_err(|e| failure("DescribeAccountAssignmentDeletionStatus", e))
            };
            match polled {
                Ok(Some(status)) => current = status,
                Ok(None) => {}
                Err(EscalationError::Transient(e)) => tracing::warn!(request_id, error = %e, "status poll failed"),
                Err(e) => return Err(e),
            }
        }
        Err(EscalationError::Transient(format!("the assignment {what} was still in progress after {POLLS} polls")))
    }
}

#[async_trait]
impl Escalator for SsoEscalator {
    /// Lists the target's assignments (every page) first: if the user already holds it, nothing is
    /// created and the answer is [`Escalation::AlreadyHeld`]; otherwise the assignment is created
    /// and, once Identity Center reports it succeeded, the answer is [`Escalation::Granted`].
    ///
    /// Limitation: Identity Center does not record who made an assignment, and the core passes
    /// nothing that marks a repeated call, so a repeat of an escalation that did create the
    /// assignment also answers `AlreadyHeld`. The core records the first successful answer and does
    /// not escalate an active request again, so that happens only when an attempt created the
    /// assignment and then failed before its answer was recorded: the status polls ran out
    /// (a `Transient` error after the creation was accepted), the function was stopped before it
    /// answered, or the step's conditional write failed. Airlock then leaves that assignment in
    /// place when the grant ends (the drift check reports it instead of removing it). An assignment
    /// made by someone else between the listing and the creation is taken as Airlock's own.
    async fn escalate(&self, grant: &GrantSpec) -> Result<Escalation, EscalationError> {
        self.escalate_reporting(grant, &NoProgress).await
    }

    /// [`Self::escalate`], reporting [`EscalationProgress::Queued`] once when the grant waits
    /// longer than [`QUEUED_AFTER`] for a call slot or an operation permit.
    async fn escalate_reporting(
        &self,
        grant: &GrantSpec,
        progress: &dyn ProgressSink,
    ) -> Result<Escalation, EscalationError> {
        let already = self.change(grant, true, &Waits::new(progress)).await?;
        Ok(if already { Escalation::AlreadyHeld } else { Escalation::Granted })
    }

    async fn deescalate(&self, grant: &GrantSpec) -> Result<(), EscalationError> {
        self.change(grant, false, &Waits::new(&NoProgress)).await.map(drop)
    }

    async fn holders(&self, target: &Target) -> Result<Option<Vec<Email>>, EscalationError> {
        // A target that lists accounts is many assignments; the drift check does not list them.
        if matches!(target.kind, TargetKind::AwsSsoScope(_)) {
            return Ok(None);
        }
        let waits = Waits::new(&NoProgress);
        let a = Assignment::of(target)?;
        let store = self.identity_store(a.instance_arn, &waits).await?;
        let mut emails = Vec::new();
        for user_id in self.assigned_users(&a, &waits).await? {
            self.pace(&waits).await;
            let user = self
                .identity
                .get()
                .await
                .describe_user()
                .identity_store_id(&store)
                .user_id(&user_id)
                .send()
                .await
                .map_err(|e| failure("DescribeUser", e))?;
            let primary = user.emails().iter().find(|e| e.primary()).or_else(|| user.emails().first());
            let address = primary.and_then(|e| e.value()).or(user.user_name());
            match address.map(str::parse::<Email>) {
                Some(Ok(email)) => emails.push(email),
                _ => tracing::warn!(user_id, "an assigned user has no usable email; drift check skips them"),
            }
        }
        Ok(Some(emails))
    }
}

#[cfg(test)]
mod tests {
    use super::Pacer;
    use std::time::Duration;

    #[tokio::test]
    async fn calls_booked_together_are_spaced_at_the_rate() {
        let pacer = Pacer::new(10);
        let slots: Vec<_> = (0..10).map(|_| pacer.book()).collect();
        for pair in slots.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(100), "{:?}", pair[1] - pair[0]);
        }
        assert!(slots[9] - slots[0] >= Duration::from_millis(900), "10 calls take 0.9 s at 10 per second");
    }

    #[tokio::test]
    async fn idle_time_lets_the_next_call_go_at_once_but_saves_no_burst() {
        let pacer = Pacer::new(100);
        pacer.book();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let slots: Vec<_> = (0..3).map(|_| pacer.book()).collect();
        assert!(slots[0] <= tokio::time::Instant::now(), "the first call after idle time goes at once");
        for pair in slots.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(10), "{:?}", pair[1] - pair[0]);
        }
    }
}
