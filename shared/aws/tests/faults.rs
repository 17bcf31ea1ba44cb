//! Fault injection: the Identity Center escalator and the DynamoDB store with the real SDK clients,
//! against moto behind [`AwsFaultProxy`], which throttles, conflicts, cancels, loses answers and
//! holds requests on command.
//!
//! The clients use the SDK configuration the product loads (`bootstrap::aws_config`: standard retry
//! mode, 3 attempts) with millisecond backoff, so that retries cost milliseconds, and a retry
//! partition of their own, so that one test's throttling never drains another's retry quota.

use airlock_aws::{DynamoStore, SsoEscalator, SsoGroupEscalator};
use airlock_core::flow::{Target, TargetKind};
use airlock_core::ports::{
    Escalation, EscalationError, EscalationProgress, Escalator, GrantSpec, ProgressSink, Store, StoreError,
};
use airlock_core::{AccessRequest, AuditAction, Notification, OutboxItem, RequestId, Status};
use airlock_testkit::aws_faults::{AwsError, AwsFaultProxy};
use airlock_testkit::fixtures::{advanced, sample_event, sample_request};
use airlock_testkit::{fake_aws_env, moto_endpoint};
use aws_config::retry::{RetryConfig, RetryMode};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::retry::RetryPartition;
use aws_sdk_identitystore::types::Email as StoreEmail;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(60);
const WITHIN: Duration = Duration::from_secs(20);

/// The SDK configuration the product loads, pointed at `endpoint`, with millisecond backoff.
async fn sdk_config(endpoint: &str) -> SdkConfig {
    fake_aws_env();
    let config = aws_config::defaults(BehaviorVersion::latest()).endpoint_url(endpoint).load().await;
    let product = config.retry_config().cloned().expect("a retry configuration");
    assert_eq!(product.mode(), RetryMode::Standard, "the product's clients use the standard retry mode");
    let fast = product.with_initial_backoff(Duration::from_millis(5)).with_max_backoff(Duration::from_millis(40));
    config.into_builder().retry_config(fast).build()
}

/// How many attempts the SDK makes per call with `config`.
fn sdk_attempts(config: &SdkConfig) -> usize {
    config.retry_config().map_or(1, |r| r.max_attempts() as usize)
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", RequestId::generate().as_str().to_ascii_lowercase())
}

fn partition() -> RetryPartition {
    RetryPartition::new(unique("faults"))
}

// ----------------------------------------------------------------------------------------------
// Identity Center

/// Whether the escalator's clients retry on their own (the product's configuration) or not at all
/// (so the escalator's own retries are all there is).
#[derive(Clone, Copy, Debug)]
enum SdkRetries {
    Product,
    Off,
}

/// moto's Identity Center, set up and inspected directly (never through a proxy).
struct Sso {
    admin: aws_sdk_ssoadmin::Client,
    identity: aws_sdk_identitystore::Client,
    instance_arn: String,
    store_id: String,
}

/// An escalator whose clients go through `proxy`.
struct Faulty {
    proxy: AwsFaultProxy,
    escalator: SsoEscalator,
    sdk_attempts: usize,
}

impl Sso {
    async fn new() -> Self {
        let config = sdk_config(moto_endpoint()).await;
        let admin = aws_sdk_ssoadmin::Client::new(&config);
        let instances = admin.list_instances().send().await.unwrap();
        let instance = &instances.instances()[0];
        Sso {
            identity: aws_sdk_identitystore::Client::new(&config),
            instance_arn: instance.instance_arn().unwrap().to_string(),
            store_id: instance.identity_store_id().unwrap().to_string(),
            admin,
        }
    }

    async fn faulty(&self, retries: SdkRetries) -> Faulty {
        let proxy = AwsFaultProxy::start(moto_endpoint()).await;
        let mut config = sdk_config(&proxy.endpoint()).await;
        if let SdkRetries::Off = retries {
            config = config.into_builder().retry_config(RetryConfig::disabled()).build();
        }
        let admin = aws_sdk_ssoadmin::config::Builder::from(&config).retry_partition(partition()).build();
        let identity = aws_sdk_identitystore::config::Builder::from(&config).retry_partition(partition()).build();
        let escalator = SsoEscalator::new(
            aws_sdk_ssoadmin::Client::from_conf(admin),
            aws_sdk_identitystore::Client::from_conf(identity),
        )
        .with_identity_store(&self.instance_arn, &self.store_id)
        .with_backoff(Duration::from_millis(1));
        Faulty { proxy, escalator, sdk_attempts: sdk_attempts(&config) }
    }

    /// A new identity store user: (email, user id).
    async fn user(&self) -> (String, String) {
        let email = format!("{}@example.com", unique("user"));
        let id = self
            .identity
            .create_user()
            .identity_store_id(&self.store_id)
            .user_name(&email)
            .display_name(&email)
            .name(aws_sdk_identitystore::types::Name::builder().given_name("Test").family_name("User").build())
            .emails(StoreEmail::builder().value(&email).primary(true).r#type("work").build())
            .send()
            .await
            .unwrap()
            .user_id()
            .to_string();
        (email, id)
    }

    /// A new permission set in account `111111111111`, as an `aws_sso` target.
    async fn target(&self) -> Target {
        let name = unique("ps")[..32].to_string();
        let set = self
            .admin
            .create_permission_set()
            .instance_arn(&self.instance_arn)
            .name(&name)
            .session_duration("PT1H")
            .send()
            .await
            .unwrap();
        Target {
            name: name.clone(),
            label: name,
            kind: TargetKind::AwsSso {
                account_id: "111111111111".into(),
                permission_set_arn: set.permission_set().unwrap().permission_set_arn().unwrap().to_string(),
                instance_arn: self.instance_arn.clone(),
            },
        }
    }

    /// Every principal assigned `target` (one page is enough for these tests).
    async fn assigned(&self, target: &Target) -> Vec<String> {
        let TargetKind::AwsSso { account_id, permission_set_arn, .. } = &target.kind else { unreachable!() };
        let out = self
            .admin
            .list_account_assignments()
            .instance_arn(&self.instance_arn)
            .account_id(account_id)
            .permission_set_arn(permission_set_arn)
            .send()
            .await
            .unwrap();
        out.account_assignments().iter().filter_map(|a| a.principal_id().map(String::from)).collect()
    }
}

fn grant(email: &str, target: &Target) -> GrantSpec {
    GrantSpec {
        request_id: RequestId::generate(),
        user_email: email.parse().unwrap(),
        user_slack_id: None,
        target: target.clone(),
        expires_at: Utc::now() + chrono::Duration::hours(1),
    }
}

/// An assignment operation status as Identity Center answers it (`status` of `what`:
/// `AccountAssignmentCreationStatus` or `AccountAssignmentDeletionStatus`).
fn assignment_status(what: &str, status: &str, failure: Option<&str>) -> Value {
    let mut body = json!({"Status": status, "RequestId": "5f9a1c9e-0000-4000-8000-00000000fa11"});
    if let Some(reason) = failure {
        body["FailureReason"] = reason.into();
    }
    Value::Object(serde_json::Map::from_iter([(what.to_string(), body)]))
}

#[tokio::test]
async fn throttled_creation_is_retried_and_makes_exactly_one_assignment() {
    let sso = Sso::new().await;
    for retries in [SdkRetries::Product, SdkRetries::Off] {
        let (email, user) = sso.user().await;
        let target = sso.target().await;
        let f = sso.faulty(retries).await;
        f.proxy.fail_next("CreateAccountAssignment", 2, AwsError::throttling());

        let escalated = f.escalator.escalate(&grant(&email, &target)).await;
        assert_eq!(escalated, Ok(Escalation::Granted), "{retries:?}");
        assert_eq!(sso.assigned(&target).await, [user], "{retries:?}: one assignment");
        assert_eq!(f.proxy.refused_count("CreateAccountAssignment"), 2, "{retries:?}");
        assert_eq!(f.proxy.forwarded("CreateAccountAssignment"), 1, "{retries:?}: created once");
    }
}

#[tokio::test]
async fn a_burst_of_grants_looks_each_person_and_group_up_once_and_removals_look_afresh() {
    let sso = Sso::new().await;
    let (email, user) = sso.user().await;
    let targets = [sso.target().await, sso.target().await, sso.target().await];
    let f = sso.faulty(SdkRetries::Product).await;
    let escalator = Arc::new(f.escalator.with_rate(1000));
    // Held, so that the three grants all ask for the person's id before it is known.
    let held = f.proxy.hold_next("GetUserId");
    let grants = targets.iter().map(|target| {
        let (escalator, g) = (escalator.clone(), grant(&email, target));
        tokio::spawn(async move { escalator.escalate(&g).await })
    });
    let grants: Vec<_> = grants.collect();
    held.arrived(WITHIN).await;
    held.release();
    for result in futures_join(grants.into_iter()).await {
        assert_eq!(result, Ok(Escalation::Granted));
    }
    for target in &targets {
        assert_eq!(sso.assigned(target).await, std::slice::from_ref(&user));
    }
    assert_eq!(f.proxy.forwarded("GetUserId"), 1, "one person in three permission sets at once: looked up once");
    escalator.deescalate(&grant(&email, &targets[0])).await.unwrap();
    assert!(sso.assigned(&targets[0]).await.is_empty());
    assert_eq!(f.proxy.forwarded("GetUserId"), 2, "a removal looks the person up afresh");

    // Group memberships: the group's id is looked up once for a burst of grants.
    let group = unique("group");
    let group_id = sso
        .identity
        .create_group()
        .identity_store_id(&sso.store_id)
        .display_name(&group)
        .send()
        .await
        .unwrap()
        .group_id()
        .to_string();
    let target = Target {
        name: "admins".into(),
        label: "Admins".into(),
        kind: TargetKind::AwsSsoGroup { group: group.clone(), instance_arn: Some(sso.instance_arn.clone()) },
    };
    let mut people = Vec::new();
    for _ in 0..3 {
        people.push(sso.user().await.0);
    }
    for ttl in [None, Some(Duration::ZERO)] {
        let f = sso.faulty(SdkRetries::Product).await;
        let mut escalator = f.escalator.with_rate(1000);
        if let Some(ttl) = ttl {
            escalator = escalator.with_lookup_ttl(ttl);
        }
        let groups = SsoGroupEscalator::new(escalator);
        for person in &people {
            assert_eq!(groups.escalate(&grant(person, &target)).await, Ok(Escalation::Granted), "{ttl:?}");
        }
        let members = sso.identity.list_group_memberships().identity_store_id(&sso.store_id).group_id(&group_id);
        assert_eq!(members.send().await.unwrap().group_memberships().len(), 3, "{ttl:?}");
        let lookups = (f.proxy.forwarded("GetGroupId"), f.proxy.forwarded("GetUserId"));
        match ttl {
            None => assert_eq!(lookups, (1, 3), "the group once, each person once"),
            Some(_) => assert_eq!(lookups, (3, 3), "without the cache, the group for every grant"),
        }
        for person in &people {
            groups.deescalate(&grant(person, &target)).await.unwrap();
        }
        assert_eq!(f.proxy.forwarded("GetGroupId"), lookups.0 + 3, "removals look the group up afresh");
    }
}

#[tokio::test]
async fn a_conflicting_deletion_is_retried_until_the_assignment_is_gone() {
    let sso = Sso::new().await;
    let (email, _) = sso.user().await;
    let target = sso.target().await;
    let f = sso.faulty(SdkRetries::Product).await;
    let g = grant(&email, &target);
    assert_eq!(f.escalator.escalate(&g).await, Ok(Escalation::Granted));

    // The SDK does not retry ConflictException: the escalator does.
    f.proxy.fail_next("DeleteAccountAssignment", 2, AwsError::new(400, "ConflictException"));
    f.escalator.deescalate(&g).await.unwrap();
    assert!(sso.assigned(&target).await.is_empty());
    assert_eq!(f.proxy.refused_count("DeleteAccountAssignment"), 2);
    assert_eq!(f.proxy.forwarded("DeleteAccountAssignment"), 1);
}

#[tokio::test]
async fn throttling_past_every_retry_is_transient_and_a_later_attempt_succeeds() {
    let sso = Sso::new().await;
    for operation in ["GetUserId", "ListAccountAssignments", "CreateAccountAssignment"] {
        let (email, user) = sso.user().await;
        let target = sso.target().await;
        let f = sso.faulty(SdkRetries::Product).await;
        let g = grant(&email, &target);
        f.proxy.fail_next(operation, usize::MAX, AwsError::throttling());

        let err = f.escalator.escalate(&g).await.unwrap_err();
        assert!(matches!(err, EscalationError::Transient(ref m) if m.contains(operation)), "{operation}: {err:?}");
        assert!(sso.assigned(&target).await.is_empty(), "{operation}: nothing was created");
        assert!(f.proxy.refused_count(operation) >= f.sdk_attempts, "{operation}: the SDK retried");
        assert_eq!(f.proxy.forwarded(operation), 0);
        if operation == "CreateAccountAssignment" {
            assert!(f.proxy.refused_count(operation) > f.sdk_attempts, "the escalator retried after the SDK");
        }

        // The workflow retries a transient failure: once the throttling ends, the grant is made.
        f.proxy.clear();
        assert_eq!(f.escalator.escalate(&g).await, Ok(Escalation::Granted), "{operation}");
        assert_eq!(sso.assigned(&target).await, [user], "{operation}");
    }

    let (email, user) = sso.user().await;
    let target = sso.target().await;
    let f = sso.faulty(SdkRetries::Product).await;
    let g = grant(&email, &target);
    f.escalator.escalate(&g).await.unwrap();
    f.proxy.fail_next("DeleteAccountAssignment", usize::MAX, AwsError::throttling());
    let err = f.escalator.deescalate(&g).await.unwrap_err();
    assert!(matches!(err, EscalationError::Transient(_)), "{err:?}");
    assert_eq!(sso.assigned(&target).await, [user], "still assigned");
    assert!(f.proxy.refused_count("DeleteAccountAssignment") > f.sdk_attempts);
    f.proxy.clear();
    f.escalator.deescalate(&g).await.unwrap();
    assert!(sso.assigned(&target).await.is_empty());
}

#[tokio::test]
async fn assignments_in_progress_are_polled_through_throttled_polls() {
    // moto answers every assignment operation SUCCEEDED at once: the proxy rewrites the answer to
    // IN_PROGRESS (the assignment is made at moto all the same), and the first poll is throttled
    // with the SDK's retries off, so the escalator's own poll loop must go on.
    let sso = Sso::new().await;
    let (email, user) = sso.user().await;
    let target = sso.target().await;
    let f = sso.faulty(SdkRetries::Off).await;
    let g = grant(&email, &target);
    for (operation, status) in [
        ("CreateAccountAssignment", "AccountAssignmentCreationStatus"),
        ("DeleteAccountAssignment", "AccountAssignmentDeletionStatus"),
    ] {
        f.proxy.rewrite_next(operation, 1, move |answer| answer[status]["Status"] = "IN_PROGRESS".into());
    }
    f.proxy.fail_next("DescribeAccountAssignmentCreationStatus", 1, AwsError::throttling());
    f.proxy.fail_next("DescribeAccountAssignmentDeletionStatus", 1, AwsError::throttling());

    assert_eq!(f.escalator.escalate(&g).await, Ok(Escalation::Granted));
    assert_eq!(sso.assigned(&target).await, [user]);
    assert_eq!(f.proxy.requests("DescribeAccountAssignmentCreationStatus"), 2, "a throttled poll, then SUCCEEDED");

    f.escalator.deescalate(&g).await.unwrap();
    assert!(sso.assigned(&target).await.is_empty());
    assert_eq!(f.proxy.requests("DescribeAccountAssignmentDeletionStatus"), 2);
}

#[tokio::test]
async fn a_failed_creation_is_permanent_with_its_reason() {
    // moto never reports FAILED: the proxy answers the creation (IN_PROGRESS, not forwarded, so
    // nothing is made) and its status polls (IN_PROGRESS, then FAILED) itself.
    let sso = Sso::new().await;
    let (email, _) = sso.user().await;
    let target = sso.target().await;
    let f = sso.faulty(SdkRetries::Product).await;
    let status = "AccountAssignmentCreationStatus";
    let reason = "Received a 404 status error: Not supported account";
    f.proxy.answer_next("CreateAccountAssignment", 1, assignment_status(status, "IN_PROGRESS", None));
    f.proxy.answer_next("DescribeAccountAssignmentCreationStatus", 1, assignment_status(status, "IN_PROGRESS", None));
    f.proxy.answer_next(
        "DescribeAccountAssignmentCreationStatus",
        1,
        assignment_status(status, "FAILED", Some(reason)),
    );

    let err = f.escalator.escalate(&grant(&email, &target)).await.unwrap_err();
    assert!(matches!(err, EscalationError::Permanent(ref m) if m.contains(reason)), "{err:?}");
    assert_eq!(f.proxy.requests("DescribeAccountAssignmentCreationStatus"), 2);
    assert_eq!(f.proxy.forwarded("CreateAccountAssignment"), 0);
    assert!(sso.assigned(&target).await.is_empty());
}

/// Counts an escalator's progress reports; a test can wait for the first.
struct Reports {
    queued: tokio::sync::watch::Sender<usize>,
}

impl Reports {
    fn new() -> Self {
        Self { queued: tokio::sync::watch::channel(0).0 }
    }

    fn count(&self) -> usize {
        *self.queued.borrow()
    }
}

#[async_trait::async_trait]
impl ProgressSink for Reports {
    async fn report(&self, progress: EscalationProgress) {
        assert_eq!(progress, EscalationProgress::Queued);
        self.queued.send_modify(|n| *n += 1);
    }
}

#[tokio::test]
async fn sixty_concurrent_grants_against_a_throttling_identity_center_all_succeed_within_its_quota() {
    // Identity Center allows 10 assignment operations in progress: the proxy reports every
    // creation IN_PROGRESS (moto finishes them at once) until its first status poll, counts the
    // operations in progress, and throttles or conflicts a share of every call.
    let sso = Sso::new().await;
    let target = sso.target().await;
    let mut users = Vec::new();
    for _ in 0..60 {
        users.push(sso.user().await);
    }
    let Faulty { proxy, escalator, .. } = sso.faulty(SdkRetries::Product).await;
    for operation in ["GetUserId", "ListAccountAssignments", "DescribeAccountAssignmentCreationStatus"] {
        proxy.fail_every(operation, 4, AwsError::throttling());
    }
    proxy.fail_every("CreateAccountAssignment", 3, AwsError::new(400, "TooManyRequestsException"));
    proxy.fail_every("CreateAccountAssignment", 5, AwsError::new(400, "ConflictException"));
    proxy.rewrite_all("CreateAccountAssignment", |answer| {
        answer["AccountAssignmentCreationStatus"]["Status"] = "IN_PROGRESS".into();
    });
    let escalator = Arc::new(escalator.with_rate(200).with_backoff(Duration::from_millis(20)));

    let grants = users.iter().map(|(email, _)| {
        let escalator = escalator.clone();
        let g = grant(email, &target);
        tokio::spawn(async move { escalator.escalate(&g).await })
    });
    let results: Vec<_> = futures_join(grants).await;

    assert!(results.iter().all(|r| *r == Ok(Escalation::Granted)), "{results:?}");
    let mut assigned = sso.assigned(&target).await;
    assigned.sort();
    let mut expected: Vec<String> = users.iter().map(|(_, id)| id.clone()).collect();
    expected.sort();
    assert_eq!(assigned, expected, "every grant made its assignment");
    let most = proxy.most_assignments_in_progress();
    assert!((2..=10).contains(&most), "{most} assignment operations in progress at once");
    assert!(proxy.refused_count("CreateAccountAssignment") >= 20, "a share of creations was refused");
    assert!(proxy.refused().iter().any(|r| r.code == "ConflictException"));
    assert_eq!(proxy.forwarded("CreateAccountAssignment"), 60, "each assignment created once");
}

/// Awaits every task, in order.
async fn futures_join<T: Send + 'static>(tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut results = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        results.push(task.await.expect("a grant task"));
    }
    results
}

#[tokio::test]
async fn a_grant_waiting_for_an_operation_slot_reports_queued_once() {
    let sso = Sso::new().await;
    let (first_email, _) = sso.user().await;
    let (second_email, second_user) = sso.user().await;
    let target = sso.target().await;
    let Faulty { proxy, escalator, .. } = sso.faulty(SdkRetries::Product).await;
    let escalator =
        Arc::new(escalator.with_max_in_flight(1).with_rate(1000).with_queued_after(Duration::from_millis(500)));
    let held = proxy.hold_next("CreateAccountAssignment");

    let first_reports = Arc::new(Reports::new());
    let first = tokio::spawn({
        let (escalator, reports, g) = (escalator.clone(), first_reports.clone(), grant(&first_email, &target));
        async move { escalator.escalate_reporting(&g, &*reports).await }
    });
    held.arrived(WITHIN).await;
    let second_reports = Arc::new(Reports::new());
    let second = tokio::spawn({
        let (escalator, reports, g) = (escalator.clone(), second_reports.clone(), grant(&second_email, &target));
        async move { escalator.escalate_reporting(&g, &*reports).await }
    });
    let mut queued = second_reports.queued.subscribe();
    tokio::time::timeout(WITHIN, queued.wait_for(|n| *n > 0)).await.expect("queued reported").unwrap();
    assert_eq!(proxy.requests("CreateAccountAssignment"), 1, "the second waits for the first's operation");
    held.release();

    assert_eq!(first.await.unwrap(), Ok(Escalation::Granted));
    assert_eq!(second.await.unwrap(), Ok(Escalation::Granted));
    assert_eq!(first_reports.count(), 0, "the first never waited");
    assert_eq!(second_reports.count(), 1, "reported once");
    assert!(sso.assigned(&target).await.contains(&second_user));
}

// ----------------------------------------------------------------------------------------------
// DynamoDB

struct Dynamo {
    proxy: AwsFaultProxy,
    config: SdkConfig,
    table: String,
    store: DynamoStore,
    sdk_attempts: usize,
}

impl Dynamo {
    /// A store on a fresh table, through a proxy.
    async fn new() -> Self {
        let proxy = AwsFaultProxy::start(moto_endpoint()).await;
        let config = sdk_config(&proxy.endpoint()).await;
        let table = unique("airlock");
        let store = Self::store_on(&config, &table);
        DynamoStore::create_table(&Self::client(&config), &table).await.unwrap();
        Dynamo { proxy, sdk_attempts: sdk_attempts(&config), config, table, store }
    }

    fn client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(config).retry_partition(partition()).build(),
        )
    }

    fn store_on(config: &SdkConfig, table: &str) -> DynamoStore {
        DynamoStore::new(Self::client(config), table)
    }

    /// A second store on the same table, through the same proxy, with a client of its own (another
    /// Lambda instance).
    fn other_store(&self) -> DynamoStore {
        Self::store_on(&self.config, &self.table)
    }

    async fn inserted(&self) -> AccessRequest {
        let r = sample_request(&format!("{}@example.com", unique("carol")), "record:prod-admin");
        self.store.insert_request(&r, &sample_event(&r, AuditAction::Submitted)).await.unwrap();
        r
    }

    async fn actions(&self, r: &AccessRequest) -> Vec<String> {
        self.store.audit_events(r.id()).await.unwrap().into_iter().map(|e| e.action.to_string()).collect()
    }
}

async fn moved(store: &DynamoStore, r: &AccessRequest, to: Status) -> Result<AccessRequest, StoreError> {
    let (next, event) = advanced(r, to).unwrap();
    store.update_request(&next, r.status(), Some(&event)).await.map(|()| next)
}

/// DynamoDB's answer to a transaction cancelled for `reason` (on its first item).
fn cancelled(reason: &str) -> AwsError {
    AwsError::new(400, "TransactionCanceledException")
        .with_field(
            "Message",
            format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{reason}, None]")
                .into(),
        )
        .with_field("CancellationReasons", json!([{"Code": reason, "Message": "injected"}, {"Code": "None"}]))
}

fn text(what: &str, now: DateTime<Utc>) -> OutboxItem {
    OutboxItem::new(None, Notification::Text { user: "U3".into(), channel: None, text: what.into() }, now)
}

fn ids(items: &[OutboxItem]) -> Vec<String> {
    items.iter().map(|i| i.id.clone()).collect()
}

#[tokio::test]
async fn throttled_transactions_are_retried_by_the_sdk_and_written_once() {
    for code in ["ProvisionedThroughputExceededException", "ThrottlingException"] {
        let d = Dynamo::new().await;
        d.proxy.fail_next("TransactWriteItems", 2, AwsError::new(400, code));
        let r = d.inserted().await;
        d.proxy.fail_next("TransactWriteItems", 2, AwsError::new(400, code));
        let approved = moved(&d.store, &r, Status::Approved).await.unwrap();

        assert_eq!(d.proxy.refused_count("TransactWriteItems"), 4, "{code}");
        assert_eq!(d.proxy.forwarded("TransactWriteItems"), 2, "{code}: the insert and the approval, once each");
        assert_eq!(d.actions(&r).await, ["submitted", "approved"], "{code}: no duplicate audit event");
        assert_eq!(d.store.get_request(r.id()).await.unwrap(), Some(approved), "{code}");
    }
}

#[tokio::test]
async fn throttling_past_the_sdk_retries_is_unavailable_and_changes_nothing() {
    let d = Dynamo::new().await;
    let attempts = d.sdk_attempts;

    let r = sample_request("dora@example.com", "record:prod-admin");
    d.proxy.fail_next("TransactWriteItems", attempts, AwsError::new(400, "ProvisionedThroughputExceededException"));
    let err = d.store.insert_request(&r, &sample_event(&r, AuditAction::Submitted)).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert_eq!(d.proxy.refused_count("TransactWriteItems"), attempts, "the SDK tried exactly its attempts");
    assert_eq!(d.store.get_request(r.id()).await.unwrap(), None);
    // Retried by the caller: not a duplicate of itself, the open-request lock was never written.
    d.store.insert_request(&r, &sample_event(&r, AuditAction::Submitted)).await.unwrap();

    d.proxy.fail_next("TransactWriteItems", attempts, AwsError::throttling());
    let err = moved(&d.store, &r, Status::Approved).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "not a conflict: {err:?}");
    assert_eq!(d.store.get_request(r.id()).await.unwrap().as_ref(), Some(&r), "unchanged");
    assert_eq!(d.actions(&r).await, ["submitted"]);
    let approved = moved(&d.store, &r, Status::Approved).await.unwrap();
    assert_eq!(d.actions(&r).await, ["submitted", "approved"]);

    d.proxy.fail_next("GetItem", attempts, AwsError::throttling());
    assert!(matches!(d.store.get_request(r.id()).await, Err(StoreError::Unavailable(_))));
    d.proxy.fail_next("Query", attempts, AwsError::throttling());
    assert!(matches!(d.store.requests_with_status(Status::Approved, 10).await, Err(StoreError::Unavailable(_))));
    assert_eq!(d.store.requests_with_status(Status::Approved, 10).await.unwrap(), [approved]);
}

#[tokio::test]
async fn a_cancelled_transaction_is_a_conflict_only_when_a_condition_or_another_transaction_won() {
    let d = Dynamo::new().await;
    let r = d.inserted().await;
    // TransactionConflict: another transaction is writing the request; callers re-read on Conflict.
    for reason in ["ConditionalCheckFailed", "TransactionConflict"] {
        d.proxy.fail_next("TransactWriteItems", 1, cancelled(reason));
        assert_eq!(moved(&d.store, &r, Status::Approved).await, Err(StoreError::Conflict), "{reason}");
    }
    assert_eq!(d.proxy.refused_count("TransactWriteItems"), 2, "the SDK does not retry a cancellation");
    // Cancelled for capacity: nobody else changed the request, the write may simply be tried again.
    for reason in ["ThrottlingError", "ProvisionedThroughputExceeded"] {
        d.proxy.fail_next("TransactWriteItems", 1, cancelled(reason));
        let err = moved(&d.store, &r, Status::Approved).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{reason}: {err:?}");
    }
    assert_eq!(d.actions(&r).await, ["submitted"]);
    moved(&d.store, &r, Status::Approved).await.unwrap();
    assert_eq!(d.actions(&r).await, ["submitted", "approved"]);

    let fresh = sample_request("erin@example.com", "record:prod-admin");
    d.proxy.fail_next("TransactWriteItems", 1, cancelled("ConditionalCheckFailed"));
    let err = d.store.insert_request(&fresh, &sample_event(&fresh, AuditAction::Submitted)).await.unwrap_err();
    assert_eq!(err, StoreError::Conflict, "a failed condition with no open request in the way");
    d.proxy.fail_next("TransactWriteItems", 1, cancelled("ThrottlingError"));
    let err = d.store.insert_request(&fresh, &sample_event(&fresh, AuditAction::Submitted)).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    d.store.insert_request(&fresh, &sample_event(&fresh, AuditAction::Submitted)).await.unwrap();
}

#[tokio::test]
async fn a_claimer_slowed_by_throttling_never_takes_what_another_claimed() {
    let d = Dynamo::new().await;
    let now = Utc::now();
    let items: Vec<OutboxItem> = (0..5).map(|i| text(&format!("n{i}"), now)).collect();
    d.store.enqueue_notifications(&items).await.unwrap();

    // The slow claimer has read every candidate; its first lease is throttled, and its retry held
    // at the proxy while a second claimer takes everything.
    d.proxy.fail_next("PutItem", 1, AwsError::throttling());
    let held = d.proxy.hold_next("PutItem");
    let slow = tokio::spawn({
        let store = d.store.clone();
        async move { store.claim_notifications(now, LEASE, 10).await }
    });
    held.arrived(WITHIN).await;
    let other = d.other_store();
    let fast = other.claim_notifications(now, LEASE, 10).await.unwrap();
    assert_eq!(ids(&fast), ids(&items));
    held.release();
    let slow = slow.await.unwrap().unwrap();
    assert!(slow.is_empty(), "claimed twice: {:?}", ids(&slow));
    assert_eq!(d.proxy.refused_count("PutItem"), 1);

    for item in &fast {
        other.notification_done(&item.id).await.unwrap();
    }
    let later = now + chrono::Duration::from_std(LEASE).unwrap() + chrono::Duration::seconds(1);
    assert!(d.store.claim_notifications(later, LEASE, 10).await.unwrap().is_empty(), "all delivered once");
}

#[tokio::test]
async fn a_lease_whose_answer_was_lost_holds_the_notification_for_one_lease_only() {
    let d = Dynamo::new().await;
    let now = Utc::now();
    let later = now + chrono::Duration::from_std(LEASE).unwrap() + chrono::Duration::seconds(1);
    let item = text("lost", now);
    d.store.enqueue_notifications(std::slice::from_ref(&item)).await.unwrap();

    // The lease is written, its answer lost (500); the SDK's retry then finds the lease moved.
    d.proxy.fail_after_forwarding("PutItem", 1, AwsError::new(500, "InternalServerError"));
    assert_eq!(d.store.claim_notifications(now, LEASE, 10).await.unwrap(), []);
    assert_eq!(d.proxy.forwarded("PutItem"), 2, "the lease and the SDK's retry");
    let other = d.other_store();
    assert_eq!(other.claim_notifications(now, LEASE, 10).await.unwrap(), [], "nobody has it during the lease");
    assert_eq!(ids(&other.claim_notifications(later, LEASE, 10).await.unwrap()), [item.id]);
    assert_eq!(d.store.claim_notifications(later, LEASE, 10).await.unwrap(), [], "and then only one claimer");
}

#[tokio::test]
async fn a_claim_cut_short_by_throttling_loses_nothing() {
    let d = Dynamo::new().await;
    let now = Utc::now();
    let later = now + chrono::Duration::from_std(LEASE).unwrap() + chrono::Duration::seconds(1);
    let items: Vec<OutboxItem> = (0..3).map(|i| text(&format!("n{i}"), now)).collect();
    d.store.enqueue_notifications(&items).await.unwrap();

    // The first lease is written; the second is throttled past the SDK's retries.
    d.proxy.pass_next("PutItem", 1);
    d.proxy.fail_next("PutItem", d.sdk_attempts, AwsError::throttling());
    let err = d.store.claim_notifications(now, LEASE, 10).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    // What was not leased is claimable at once; what was leased comes back when the lease ends.
    let rest = d.store.claim_notifications(now, LEASE, 10).await.unwrap();
    assert_eq!(ids(&rest), ids(&items[1..]));
    for item in &rest {
        d.store.notification_done(&item.id).await.unwrap();
    }
    assert_eq!(ids(&d.store.claim_notifications(later, LEASE, 10).await.unwrap()), ids(&items[..1]));
}
