use super::*;
use airlock_core::Actor;

fn request(email: &str, access_key: &str) -> AccessRequest {
    airlock_testkit::fixtures::sample_request(email, access_key)
}

fn event(r: &AccessRequest, action: &str) -> AuditEvent {
    AuditEvent::of(r, Actor::system("test"), action.parse().unwrap(), None, None)
}

async fn moved(store: &SqliteStore, r: &AccessRequest, to: Status) -> Result<AccessRequest, StoreError> {
    let (next, event) = airlock_testkit::fixtures::advanced(r, to).unwrap();
    store.update_request(&next, r.status(), Some(&event)).await.map(|()| next)
}

#[tokio::test]
async fn records_round_trip_with_their_audit_trail() {
    let store = SqliteStore::open_in_memory().unwrap();
    let r = request("carol@example.com", "k1");
    store.insert_request(&r, &event(&r, "submitted")).await.unwrap();
    assert_eq!(store.get_request(r.id()).await.unwrap().unwrap(), r);
    let approved = moved(&store, &r, Status::Approved).await.unwrap();
    let actions: Vec<_> = store.audit_events(r.id()).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["submitted", "approved"]);
    assert_eq!(store.requests_with_status(Status::Approved, 10).await.unwrap(), vec![approved.clone()]);
    assert_eq!(store.requests_of_user("carol@example.com", None, 10).await.unwrap(), vec![approved]);
    assert!(store.requests_of_user("carol@example.com", Some(Status::Pending), 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn stale_writes_conflict_and_change_nothing() {
    let store = SqliteStore::open_in_memory().unwrap();
    let r = request("carol@example.com", "k1");
    store.insert_request(&r, &event(&r, "submitted")).await.unwrap();
    moved(&store, &r, Status::Approved).await.unwrap();
    assert_eq!(moved(&store, &r, Status::Denied).await.unwrap_err(), StoreError::Conflict);
    assert_eq!(store.get_request(r.id()).await.unwrap().unwrap().status(), Status::Approved);
    assert_eq!(store.audit_events(r.id()).await.unwrap().len(), 2, "the losing write left no audit event");
}

#[tokio::test]
async fn of_many_concurrent_writers_on_one_version_exactly_one_wins() {
    let store = SqliteStore::open_in_memory().unwrap();
    let r = request("carol@example.com", "k1");
    store.insert_request(&r, &event(&r, "submitted")).await.unwrap();
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let (store, r) = (store.clone(), r.clone());
            tokio::spawn(
                async move { moved(&store, &r, if i % 2 == 0 { Status::Approved } else { Status::Denied }).await },
            )
        })
        .collect();
    let mut wins = 0;
    for w in writers {
        wins += usize::from(w.await.unwrap().is_ok());
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn one_open_request_per_user_and_access() {
    let store = SqliteStore::open_in_memory().unwrap();
    let first = request("carol@example.com", "k1");
    store.insert_request(&first, &event(&first, "submitted")).await.unwrap();
    let again = request("carol@example.com", "k1");
    assert_eq!(
        store.insert_request(&again, &event(&again, "submitted")).await,
        Err(StoreError::Duplicate(first.id().clone()))
    );
    let other = request("dave@example.com", "k1");
    store.insert_request(&other, &event(&other, "submitted")).await.unwrap();
    moved(&store, &first, Status::Denied).await.unwrap();
    store.insert_request(&again, &event(&again, "submitted")).await.unwrap();
}

#[tokio::test]
async fn removals_due_follow_expiry_and_removal() {
    let store = SqliteStore::open_in_memory().unwrap();
    let r = request("carol@example.com", "k1");
    store.insert_request(&r, &event(&r, "submitted")).await.unwrap();
    let approved = moved(&store, &r, Status::Approved).await.unwrap();
    let (active, _) = airlock_testkit::fixtures::advanced(&approved, Status::Active).unwrap();
    store.update_request(&active, Status::Approved, None).await.unwrap();
    assert!(store.removals_due(Utc::now(), 10).await.unwrap().is_empty());
    assert_eq!(store.removals_due(Utc::now() + chrono::Duration::seconds(61), 10).await.unwrap().len(), 1);
    let (expired, _) = airlock_testkit::fixtures::advanced(&active, Status::Expired).unwrap();
    store.update_request(&expired, Status::Active, None).await.unwrap();
    assert!(store.removals_due(Utc::now() + chrono::Duration::days(1), 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn idempotency_keys_claim_once_until_they_expire() {
    let store = SqliteStore::open_in_memory().unwrap();
    assert!(store.claim_idempotency_key("evt:1", Duration::from_secs(60)).await.unwrap());
    assert!(!store.claim_idempotency_key("evt:1", Duration::from_secs(60)).await.unwrap());
    assert!(store.claim_idempotency_key("evt:2", Duration::ZERO).await.unwrap());
    assert!(store.claim_idempotency_key("evt:2", Duration::from_secs(60)).await.unwrap(), "expired keys are reclaimed");
}

#[tokio::test]
async fn data_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("airlock.db");
    let r = request("carol@example.com", "k1");
    SqliteStore::open(&path).unwrap().insert_request(&r, &event(&r, "submitted")).await.unwrap();
    assert_eq!(SqliteStore::open(&path).unwrap().get_request(r.id()).await.unwrap().unwrap(), r);
}

fn note(r: &AccessRequest, text: &str) -> OutboxItem {
    let notification = airlock_core::Notification::Text { user: "U1".into(), channel: None, text: text.into() };
    OutboxItem::new(Some(r.id().clone()), notification, Utc::now())
}

#[tokio::test]
async fn notifications_are_written_with_their_change_or_not_at_all() {
    let store = SqliteStore::open_in_memory().unwrap();
    let r = request("carol@example.com", "k1");
    store.insert_request_with(&r, &event(&r, "submitted"), &[note(&r, "submitted")]).await.unwrap();
    let mut stale = r.clone();
    stale.mark_approvers_reminded(Utc::now()).unwrap();
    store.update_request(&stale, Status::Pending, None).await.unwrap();
    // A second writer that read the same version loses, and its notification is not stored either.
    assert_eq!(
        store.update_request_with(&stale, Status::Pending, None, &[note(&r, "lost")]).await,
        Err(StoreError::Conflict)
    );
    let claimed = store.claim_notifications(Utc::now(), Duration::from_secs(60), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(matches!(&claimed[0].notification, airlock_core::Notification::Text { text, .. } if text == "submitted"));
}

#[tokio::test]
async fn claims_follow_creation_order_one_request_at_a_time_and_never_twice() {
    let store = SqliteStore::open_in_memory().unwrap();
    let a = request("carol@example.com", "k1");
    let b = request("dave@example.com", "k1");
    let (a1, a2, b1) = (note(&a, "a1"), note(&a, "a2"), note(&b, "b1"));
    store.enqueue_notifications(&[a1.clone(), a2.clone(), b1.clone()]).await.unwrap();
    let now = Utc::now();
    let first: Vec<_> = store.claim_notifications(now, Duration::from_secs(60), 10).await.unwrap();
    assert_eq!(first.iter().map(|i| i.id.clone()).collect::<Vec<_>>(), [a1.id.clone(), b1.id.clone()]);
    assert!(store.claim_notifications(now, Duration::from_secs(60), 10).await.unwrap().is_empty(), "leased");
    store.notification_done(&a1.id).await.unwrap();
    let mut deferred = first[1].clone();
    deferred.failed("ratelimited", Some(Duration::from_secs(30)), now);
    store.notification_retry(&deferred).await.unwrap();
    let next = store.claim_notifications(now, Duration::from_secs(60), 10).await.unwrap();
    assert_eq!(next.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), [a2.id.as_str()]);
    let later = store.claim_notifications(now + chrono::Duration::seconds(61), Duration::from_secs(60), 10).await;
    assert_eq!(later.unwrap().len(), 2, "the retried one after its wait, and a2 again after its lease");
}

#[tokio::test]
async fn housekeeping_strips_old_ended_requests_and_expired_keys_only() {
    let store = SqliteStore::open_in_memory().unwrap();
    let fields = [("ticket".to_string(), serde_json::json!("INC-1"))].into();
    let old =
        airlock_testkit::fixtures::sample_builder("carol@example.com", "k1").fields(fields).task_token("token").build();
    store.insert_request(&old, &event(&old, "submitted")).await.unwrap();
    let denied = moved(&store, &old, Status::Denied).await.unwrap();
    let live = request("dave@example.com", "k1");
    store.insert_request(&live, &event(&live, "submitted")).await.unwrap();
    store.claim_idempotency_key("gone", Duration::ZERO).await.unwrap();

    assert_eq!(store.compact(Utc::now() - chrono::Duration::days(1)).await.unwrap(), 0, "too recent");
    assert_eq!(store.compact(Utc::now() + chrono::Duration::seconds(1)).await.unwrap(), 1, "only the ended one");
    let compacted = store.get_request(denied.id()).await.unwrap().unwrap();
    assert!(compacted.fields().is_empty() && compacted.task_token().is_none());
    assert_eq!((compacted.status(), compacted.reason()), (Status::Denied, denied.reason()));
    assert_eq!(store.audit_events(denied.id()).await.unwrap().len(), 2, "the audit trail is kept");
    assert_eq!(store.get_request(live.id()).await.unwrap().unwrap(), live);
    assert_eq!(store.compact(Utc::now() + chrono::Duration::seconds(1)).await.unwrap(), 0, "once");
}

#[tokio::test]
async fn a_version_1_file_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE requests (id TEXT PRIMARY KEY, status TEXT NOT NULL, version INTEGER NOT NULL,
             requester TEXT NOT NULL, access_key TEXT NOT NULL, removal_due TEXT, body TEXT NOT NULL);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.compact(Utc::now()).await.unwrap(), 0);
    drop(store);
    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(reopened.compact(Utc::now()).await.unwrap(), 0, "migrations run once");
}

#[tokio::test]
async fn claims_left_by_a_dead_process_are_released_at_start_but_backoffs_are_kept() {
    let store = SqliteStore::open_in_memory().unwrap();
    let a = request("carol@example.com", "k1");
    let b = request("dave@example.com", "k1");
    store.enqueue_notifications(&[note(&a, "claimed"), note(&b, "backing off")]).await.unwrap();
    let now = Utc::now();
    let claimed = store.claim_notifications(now, Duration::from_secs(60), 10).await.unwrap();
    let mut backing_off = claimed[1].clone();
    backing_off.failed("ratelimited", Some(Duration::from_secs(30)), now);
    store.notification_retry(&backing_off).await.unwrap();
    // The process dies holding the first claim; the next one releases it.
    store.release_notification_claims().await.unwrap();
    let again = store.claim_notifications(Utc::now(), Duration::from_secs(60), 10).await.unwrap();
    assert_eq!(again.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), [claimed[0].id.as_str()]);
}

/// Carol's pending request for two accesses, `k1` (target `prod-admin`) and `k2` (`billing`).
fn two_targets() -> AccessRequest {
    airlock_testkit::fixtures::sample_builder("carol@example.com", "k1").target("billing", "k2").build()
}

async fn write(store: &SqliteStore, before: &AccessRequest, after: &AccessRequest) {
    store.update_request(after, before.status(), None).await.unwrap();
}

#[tokio::test]
async fn each_target_claims_its_own_access_until_its_claim_ends() {
    let store = SqliteStore::open_in_memory().unwrap();
    let both = two_targets();
    store.insert_request(&both, &event(&both, "submitted")).await.unwrap();
    let second = request("carol@example.com", "k2");
    assert_eq!(
        store.insert_request(&second, &event(&second, "submitted")).await,
        Err(StoreError::Duplicate(both.id().clone())),
        "the second target's access is claimed too"
    );
    assert!(store.get_request(second.id()).await.unwrap().is_none(), "nothing of a refused insert is kept");

    let approved = moved(&store, &both, Status::Approved).await.unwrap();
    let mut active = approved.clone();
    active.activate("prod-admin", Utc::now(), false, Utc::now()).unwrap();
    write(&store, &approved, &active).await;
    let mut partly = active.clone();
    partly.fail("billing", "refused", Utc::now()).unwrap();
    write(&store, &active, &partly).await;
    store.insert_request(&second, &event(&second, "submitted")).await.unwrap();
    let first_again = request("carol@example.com", "k1");
    assert_eq!(
        store.insert_request(&first_again, &event(&first_again, "submitted")).await,
        Err(StoreError::Duplicate(both.id().clone())),
        "the granted target still claims its access"
    );

    let history: Vec<RequestId> =
        store.requests_for_access("carol@example.com", "k2").await.unwrap().iter().map(|r| r.id().clone()).collect();
    assert_eq!(history, [second.id().clone(), both.id().clone()], "a user's history of one access, newest first");
    assert_eq!(store.requests_for_access("carol@example.com", "k1").await.unwrap(), vec![partly.clone()]);
    assert_eq!(
        store.removals_due(Utc::now() + chrono::Duration::seconds(1), 10).await.unwrap(),
        vec![partly],
        "the failed target's removal is due at once"
    );
}

#[tokio::test]
async fn a_file_from_before_several_targets_keeps_its_requests_and_their_claims() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    let id = RequestId::generate();
    let body = serde_json::json!({
        "id": id, "version": 3, "status": "active", "flow": "aws-prod",
        "target": "prod-admin", "access_key": "k1",
        "requester": {"email": "carol@example.com", "slack_id": "U3", "role": "member"},
        "duration_secs": 60, "reason": "r", "fields": {},
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:01Z",
        "decision_deadline": "2026-01-01T01:00:00Z", "approvals": [],
        "decided_by": {"type": "system", "name": "test"}, "decision_note": null, "task_token": null,
        "cards": [], "granted_at": "2026-01-01T00:00:01Z", "expires_at": "2026-01-01T00:01:01Z",
        "access_removed_at": null, "failure": null, "reminders": {"approvers": false, "expiry": false},
        "preexisting_access": false, "escalation_attempted": true, "removal": null, "cards_queued": true
    });
    {
        // The schema as the previous release left it (version 3), with one active grant.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE requests (id TEXT PRIMARY KEY, status TEXT NOT NULL, version INTEGER NOT NULL,
             requester TEXT NOT NULL, access_key TEXT NOT NULL, removal_due TEXT, body TEXT NOT NULL,
             compacted INTEGER NOT NULL DEFAULT 0);
             CREATE UNIQUE INDEX one_open_request_per_access ON requests (requester, access_key)
                 WHERE status IN ('pending', 'approved', 'active');
             CREATE TABLE outbox (id TEXT PRIMARY KEY, request_id TEXT, due_at TEXT NOT NULL, body TEXT NOT NULL,
             claimed INTEGER NOT NULL DEFAULT 0);
             PRAGMA user_version = 3;",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO requests (id, status, version, requester, access_key, removal_due, body)
             VALUES (?1, 'active', 3, 'carol@example.com', 'k1', '2026-01-01T00:01:01.000000Z', ?2)",
            params![id.as_str(), body.to_string()],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let stored = store.get_request(&id).await.unwrap().unwrap();
    assert_eq!(stored.targets().len(), 1);
    assert!(stored.holds_access());
    let again = request("carol@example.com", "k1");
    assert_eq!(
        store.insert_request(&again, &event(&again, "submitted")).await,
        Err(StoreError::Duplicate(id.clone())),
        "the open grant still claims its access"
    );
    assert_eq!(store.requests_for_access("carol@example.com", "k1").await.unwrap(), vec![stored.clone()]);
    let due = store.removals_due(Utc::now(), 10).await.unwrap();
    assert_eq!(due.iter().map(|r| r.id()).collect::<Vec<_>>(), [&id]);

    // Removed at its expiry as before; then the access is free again.
    let mut expired = stored.clone();
    expired.expire("prod-admin", Actor::system("test"), None, Utc::now()).unwrap();
    store.update_request(&expired, Status::Active, None).await.unwrap();
    store.insert_request(&again, &event(&again, "submitted")).await.unwrap();
}

#[tokio::test]
async fn a_call_that_panics_fails_alone_and_the_store_keeps_answering() {
    let store = SqliteStore::open_in_memory().unwrap();
    let r = request("carol@example.com", "k1");
    store.insert_request(&r, &event(&r, "submitted")).await.unwrap();
    let failed = store
        .call(|conn| -> Result<(), StoreError> {
            let tx = conn.transaction().map_err(unavailable)?;
            tx.execute("DELETE FROM requests", []).map_err(unavailable)?;
            panic!("a bug in a store call")
        })
        .await;
    assert!(matches!(failed, Err(StoreError::Unavailable(_))), "{failed:?}");
    assert_eq!(
        store.get_request(r.id()).await.unwrap(),
        Some(r.clone()),
        "the panicking call's transaction was rolled back"
    );
    moved(&store, &store.get_request(r.id()).await.unwrap().unwrap(), Status::Approved).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_from_many_tasks_are_all_answered() {
    let store = SqliteStore::open_in_memory().unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let r = request(&format!("u{i}@example.com"), "k1");
                store.insert_request(&r, &event(&r, "submitted")).await.unwrap();
                store.get_request(r.id()).await.unwrap().unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.requests_with_status(Status::Pending, 1000).await.unwrap().len(), 200);
}

#[tokio::test]
async fn a_users_requests_of_one_status_are_read_without_scanning_everyone_elses() {
    let store = SqliteStore::open_in_memory().unwrap();
    let plan: String = store
        .call(|conn| {
            conn.query_row(
                "EXPLAIN QUERY PLAN SELECT body FROM requests WHERE requester = ?1 AND status = ?2 ORDER BY id DESC LIMIT ?3",
                params!["carol@example.com", "expired", 10],
                |row| row.get(3),
            )
            .map_err(unavailable)
        })
        .await
        .unwrap();
    assert!(plan.contains("requests_by_user_status"), "{plan}");
}
