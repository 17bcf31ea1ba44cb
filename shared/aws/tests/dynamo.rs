//! DynamoStore against moto with the real SDK client: conditional writes, transactions, indexes,
//! idempotency keys and pagination.

use airlock_aws::DynamoStore;
use airlock_core::ports::{Store, StoreError};
use airlock_core::{AccessRequest, AuditAction, Status};
use airlock_testkit::fixtures::{advanced, granted, sample_event, sample_request};
use airlock_testkit::{fake_aws_env, moto_endpoint};
use chrono::{Duration, Utc};
use std::time::Duration as StdDuration;

async fn client() -> aws_sdk_dynamodb::Client {
    fake_aws_env();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(moto_endpoint()).load().await;
    aws_sdk_dynamodb::Client::new(&config)
}

/// A store on a fresh table of its own.
async fn store() -> (DynamoStore, aws_sdk_dynamodb::Client, String) {
    let client = client().await;
    let table = format!("airlock-{}", airlock_core::RequestId::generate().as_str().to_ascii_lowercase());
    DynamoStore::create_table(&client, &table).await.unwrap();
    (DynamoStore::new(client.clone(), &table), client, table)
}

async fn moved(store: &DynamoStore, r: &AccessRequest, to: Status) -> Result<AccessRequest, StoreError> {
    let (next, event) = advanced(r, to).unwrap();
    store.update_request(&next, r.status(), Some(&event)).await.map(|()| next)
}

#[tokio::test]
async fn records_round_trip_with_their_ordered_audit_trail() {
    let (store, _, _) = store().await;
    let r = sample_request("carol@example.com", "record:prod-admin");
    store.insert_request(&r, &sample_event(&r, AuditAction::Submitted)).await.unwrap();
    assert_eq!(store.get_request(r.id()).await.unwrap().unwrap(), r);
    let approved = moved(&store, &r, Status::Approved).await.unwrap();
    let active = moved(&store, &approved, Status::Active).await.unwrap();
    let actions: Vec<_> = store.audit_events(r.id()).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["submitted", "approved", "access_granted"]);
    assert_eq!(store.get_request(r.id()).await.unwrap().unwrap(), active);
    assert!(store.get_request(&airlock_core::RequestId::generate()).await.unwrap().is_none());
}

#[tokio::test]
async fn an_open_request_for_the_same_access_is_a_duplicate_until_it_ends() {
    let (store, _, _) = store().await;
    let first = sample_request("carol@example.com", "record:prod-admin");
    store.insert_request(&first, &sample_event(&first, AuditAction::Submitted)).await.unwrap();
    let second = sample_request("Carol@Example.com", "record:prod-admin");
    let err = store.insert_request(&second, &sample_event(&second, AuditAction::Submitted)).await.unwrap_err();
    assert_eq!(err, StoreError::Duplicate(first.id().clone()));
    assert!(store.get_request(second.id()).await.unwrap().is_none(), "the refused request left nothing behind");

    let other = sample_request("carol@example.com", "record:prod-readonly");
    store.insert_request(&other, &sample_event(&other, AuditAction::Submitted)).await.unwrap();

    moved(&store, &first, Status::Denied).await.unwrap();
    store.insert_request(&second, &sample_event(&second, AuditAction::Submitted)).await.unwrap();
}

#[tokio::test]
async fn two_concurrent_approvals_exactly_one_wins() {
    let (store, _, _) = store().await;
    let r = sample_request("carol@example.com", "record:prod-admin");
    store.insert_request(&r, &sample_event(&r, AuditAction::Submitted)).await.unwrap();
    let (a, b) = tokio::join!(moved(&store, &r, Status::Approved), moved(&store, &r, Status::Denied));
    assert!(a.is_ok() != b.is_ok(), "exactly one wins: {a:?} {b:?}");
    let loser = if a.is_err() { a } else { b };
    assert_eq!(loser.unwrap_err(), StoreError::Conflict);
    assert_eq!(store.audit_events(r.id()).await.unwrap().len(), 2, "the loser's audit event was not written");

    let stale = moved(&store, &r, Status::Cancelled).await.unwrap_err();
    assert_eq!(stale, StoreError::Conflict, "a write on an old version changes nothing");
}

#[tokio::test]
async fn listings_by_user_status_and_removal_due() {
    let (store, _, _) = store().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = sample_request("dave@example.com", &format!("record:t{i}"));
        store.insert_request(&r, &sample_event(&r, AuditAction::Submitted)).await.unwrap();
        ids.push(r.id().clone());
    }
    let mine = store.requests_of_user("dave@example.com", None, 10).await.unwrap();
    let newest_first: Vec<_> = ids.iter().rev().cloned().collect();
    assert_eq!(mine.iter().map(|r| r.id().clone()).collect::<Vec<_>>(), newest_first);
    assert_eq!(store.requests_of_user("dave@example.com", None, 2).await.unwrap().len(), 2);

    let r = store.get_request(&ids[0]).await.unwrap().unwrap();
    let approved = moved(&store, &r, Status::Approved).await.unwrap();
    let granted = granted(&approved, Utc::now() - Duration::minutes(1) - Duration::seconds(60)).unwrap();
    store.update_request(&granted, Status::Approved, None).await.unwrap();

    let active = store.requests_of_user("dave@example.com", Some(Status::Active), 10).await.unwrap();
    assert_eq!(active, vec![granted.clone()]);
    let pending = store.requests_with_status(Status::Pending, 10).await.unwrap();
    assert_eq!(pending.iter().map(|r| r.id().clone()).collect::<Vec<_>>(), [ids[2].clone(), ids[1].clone()]);
    assert_eq!(store.removals_due(Utc::now(), 10).await.unwrap(), vec![granted.clone()]);
    assert!(store.removals_due(Utc::now() - Duration::minutes(5), 10).await.unwrap().is_empty(), "not due yet then");

    let (removed, _) = advanced(&granted, Status::Expired).unwrap();
    store.update_request(&removed, Status::Active, None).await.unwrap();
    assert!(store.removals_due(Utc::now(), 10).await.unwrap().is_empty(), "the sparse index entry is gone");
}

#[tokio::test]
async fn listings_follow_pages() {
    let (store, client, table) = store().await;
    let store = store.with_page_size(7);
    let count = 40;
    let mut first = None;
    for i in 0..count {
        let r = sample_request("erin@example.com", &format!("record:t{i}"));
        store.insert_request(&r, &sample_event(&r, AuditAction::Submitted)).await.unwrap();
        first.get_or_insert(r);
    }
    // The emulator pages like DynamoDB, so the listings below cross page boundaries.
    let one_page = client
        .query()
        .table_name(&table)
        .index_name("gsi1")
        .key_condition_expression("gsi1pk = :pk")
        .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S("USER#erin@example.com".into()))
        .limit(7)
        .send()
        .await
        .unwrap();
    assert!(one_page.last_evaluated_key.is_some(), "a short page says where to go on");

    let mine = store.requests_of_user("erin@example.com", None, 500).await.unwrap();
    assert_eq!(mine.len(), count);
    assert!(mine.windows(2).all(|w| w[0].id().as_str() > w[1].id().as_str()), "newest first across pages");
    assert_eq!(store.requests_of_user("erin@example.com", None, 9).await.unwrap().len(), 9);
    let pending = store.requests_with_status(Status::Pending, 500).await.unwrap();
    assert_eq!(pending.len(), count);
    assert!(pending.windows(2).all(|w| w[0].id().as_str() > w[1].id().as_str()), "shards merged newest first");
    let newest = store.requests_with_status(Status::Pending, 3).await.unwrap();
    assert_eq!(newest, pending[..3]);

    // Filtered listings keep reading pages until enough match.
    let first = first.unwrap();
    let approved = moved(&store, &first, Status::Approved).await.unwrap();
    assert_eq!(store.requests_of_user("erin@example.com", Some(Status::Approved), 5).await.unwrap(), [approved]);

    // Audit trails longer than a page come back whole and in order.
    let mut current = store.get_request(first.id()).await.unwrap().unwrap();
    for _ in 0..10 {
        let card = airlock_core::MessageRef { channel: "C1".into(), ts: current.version().to_string() };
        current.record_card(card, Utc::now());
        let event = sample_event(&current, AuditAction::ApprovalRecorded);
        store.update_request(&current, Status::Approved, Some(&event)).await.unwrap();
    }
    let trail = store.audit_events(first.id()).await.unwrap();
    assert_eq!(trail.len(), 12);
    assert!(trail.windows(2).all(|w| w[0].id.as_str() < w[1].id.as_str()));
    assert_eq!(trail[0].action, "submitted");
}

#[tokio::test]
async fn the_history_of_one_access_is_read_whole() {
    let (store, client, table) = store().await;
    let mut expected = Vec::new();
    for i in 0..105 {
        let r = sample_request("ivan@example.com", "record:prod-admin");
        store.insert_request(&r, &sample_event(&r, AuditAction::Submitted)).await.unwrap();
        expected.push(moved(&store, &r, Status::Denied).await.unwrap());
        if i % 10 == 0 {
            let other = sample_request("ivan@example.com", &format!("record:other{i}"));
            store.insert_request(&other, &sample_event(&other, AuditAction::Submitted)).await.unwrap();
        }
    }
    let open = sample_request("ivan@example.com", "record:prod-admin");
    store.insert_request(&open, &sample_event(&open, AuditAction::Submitted)).await.unwrap();
    expected.push(open);
    // A request stored before `access_key` was an attribute of its own.
    client
        .update_item()
        .table_name(&table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("REQ#{}", expected[0].id())))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("REQ".into()))
        .update_expression("REMOVE access_key")
        .send()
        .await
        .unwrap();
    let someone_else = sample_request("judy@example.com", "record:prod-admin");
    store.insert_request(&someone_else, &sample_event(&someone_else, AuditAction::Submitted)).await.unwrap();

    expected.reverse();
    let history = store.requests_for_access("ivan@example.com", "record:prod-admin").await.unwrap();
    assert_eq!(history.len(), 106, "every request, past the first page");
    assert_eq!(history, expected, "newest first, other access keys and other users left out");
    assert!(store.requests_for_access("ivan@example.com", "record:nothing").await.unwrap().is_empty());
}

#[tokio::test]
async fn status_listings_page_with_the_id_cursor_across_shards() {
    let (store, _, _) = store().await;
    let store = store.with_page_size(3);
    let mut pending = Vec::new();
    for i in 0..30 {
        let r = sample_request("kim@example.com", &format!("record:p{i}"));
        store.insert_request(&r, &sample_event(&r, AuditAction::Submitted)).await.unwrap();
        if i % 3 == 0 {
            moved(&store, &r, Status::Cancelled).await.unwrap();
        } else {
            pending.push(r.id().clone());
        }
    }
    let shards: std::collections::HashSet<_> = pending.iter().map(airlock_aws::dynamo::shard_of_request).collect();
    assert!(shards.len() > 1, "the requests span several shards");
    pending.reverse();

    let mut read = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.requests_with_status_before(Status::Pending, cursor.as_ref(), 7).await.unwrap();
        assert!(page.len() <= 7);
        assert!(page.iter().all(|r| r.status() == Status::Pending));
        let Some(last) = page.last() else { break };
        cursor = Some(last.id().clone());
        read.extend(page.iter().map(|r| r.id().clone()));
    }
    assert_eq!(read, pending, "every pending request once, newest first");
    let cancelled = store.requests_with_status_before(Status::Cancelled, Some(&read[0]), 100).await.unwrap();
    assert_eq!(cancelled.len(), 10);
    assert!(cancelled.iter().all(|r| *r.id() < read[0]));
}

#[tokio::test]
async fn audit_events_can_be_appended_on_their_own() {
    let (store, _, _) = store().await;
    let r = sample_request("liam@example.com", "record:prod-admin");
    store.insert_request(&r, &sample_event(&r, AuditAction::Submitted)).await.unwrap();
    let failed = sample_event(&r, AuditAction::RemovalFailed);
    store.append_audit_event(&failed).await.unwrap();
    let actions: Vec<_> = store.audit_events(r.id()).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["submitted", "removal_failed"]);
    assert_eq!(store.get_request(r.id()).await.unwrap().unwrap(), r, "the request is unchanged");
}

#[tokio::test]
async fn removals_come_earliest_due_first() {
    let (store, _, _) = store().await;
    let now = Utc::now();
    let mut expected = Vec::new();
    for minutes_ago in [5, 50, 20, 1] {
        let r = sample_request("hana@example.com", &format!("record:due{minutes_ago}"));
        store.insert_request(&r, &sample_event(&r, AuditAction::Submitted)).await.unwrap();
        let approved = moved(&store, &r, Status::Approved).await.unwrap();
        let granted = granted(&approved, now - Duration::minutes(minutes_ago) - Duration::seconds(60)).unwrap();
        store.update_request(&granted, Status::Approved, None).await.unwrap();
        expected.push((minutes_ago, granted));
    }
    expected.sort_by_key(|(minutes_ago, _)| -minutes_ago);
    let expected: Vec<_> = expected.into_iter().map(|(_, r)| r).collect();
    assert_eq!(store.removals_due(now, 10).await.unwrap(), expected);
    assert_eq!(store.removals_due(now, 2).await.unwrap(), expected[..2], "the most overdue first");
    assert_eq!(store.removals_due(now - Duration::minutes(10), 10).await.unwrap(), expected[..2]);
}

#[tokio::test]
async fn idempotency_keys_are_claimed_once_and_carry_a_ttl() {
    let (store, client, table) = store().await;
    assert!(store.claim_idempotency_key("event:Ev1", StdDuration::from_secs(3600)).await.unwrap());
    assert!(!store.claim_idempotency_key("event:Ev1", StdDuration::from_secs(3600)).await.unwrap());
    assert!(store.claim_idempotency_key("event:Ev2", StdDuration::from_secs(3600)).await.unwrap());

    let item = client
        .get_item()
        .table_name(&table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("IDEM#event:Ev1".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("IDEM".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let ttl: i64 = item["ttl"].as_n().unwrap().parse().unwrap();
    assert!((ttl - Utc::now().timestamp() - 3600).abs() < 60, "ttl is epoch seconds an hour ahead");
    let described = client.describe_time_to_live().table_name(&table).send().await.unwrap();
    assert_eq!(described.time_to_live_description().unwrap().attribute_name(), Some("ttl"));

    // An expired claim (TTL deletion is lazy in DynamoDB) can be claimed again.
    assert!(store.claim_idempotency_key("event:Ev3", StdDuration::from_secs(0)).await.unwrap());
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    assert!(store.claim_idempotency_key("event:Ev3", StdDuration::from_secs(60)).await.unwrap());
}

#[tokio::test]
async fn each_target_holds_its_own_lock_until_its_claim_ends() {
    let (store, _, _) = store().await;
    let both = airlock_testkit::fixtures::sample_builder("carol@example.com", "record:prod-admin")
        .target("billing", "webhook:billing")
        .build();
    store.insert_request(&both, &sample_event(&both, AuditAction::Submitted)).await.unwrap();
    let billing = sample_request("carol@example.com", "webhook:billing");
    let err = store.insert_request(&billing, &sample_event(&billing, AuditAction::Submitted)).await.unwrap_err();
    assert_eq!(err, StoreError::Duplicate(both.id().clone()), "the second target's access is claimed too");
    assert!(store.get_request(billing.id()).await.unwrap().is_none());

    let approved = moved(&store, &both, Status::Approved).await.unwrap();
    let now = Utc::now();
    let mut active = approved.clone();
    active.activate("prod-admin", now, false, now).unwrap();
    store.update_request(&active, Status::Approved, None).await.unwrap();
    let mut partly = active.clone();
    partly.fail("billing", "refused", now).unwrap();
    store.update_request(&partly, Status::Active, None).await.unwrap();
    // The failed target's lock went with that write; the granted one keeps its own.
    store.insert_request(&billing, &sample_event(&billing, AuditAction::Submitted)).await.unwrap();
    let admin = sample_request("carol@example.com", "record:prod-admin");
    let err = store.insert_request(&admin, &sample_event(&admin, AuditAction::Submitted)).await.unwrap_err();
    assert_eq!(err, StoreError::Duplicate(both.id().clone()));
    // A later write of the first request leaves the lock the new request holds alone.
    let mut removed = partly.clone();
    removed.record_removal("billing", airlock_core::Actor::system("test"), None, now).unwrap();
    store.update_request(&removed, Status::Active, None).await.unwrap();
    let again = sample_request("carol@example.com", "webhook:billing");
    let err = store.insert_request(&again, &sample_event(&again, AuditAction::Submitted)).await.unwrap_err();
    assert_eq!(err, StoreError::Duplicate(billing.id().clone()));

    let history = store.requests_for_access("carol@example.com", "webhook:billing").await.unwrap();
    assert_eq!(history.iter().map(|r| r.id().clone()).collect::<Vec<_>>(), [billing.id().clone(), both.id().clone()]);
    assert_eq!(store.requests_for_access("carol@example.com", "record:prod-admin").await.unwrap(), vec![removed]);
}

#[tokio::test]
async fn a_request_stored_with_one_target_still_loads_ends_and_frees_its_access() {
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let (store, client, table) = store().await;
    let id = airlock_core::RequestId::generate();
    let body = serde_json::json!({
        "id": id, "version": 3, "status": "active", "flow": "aws-prod",
        "target": "prod-admin", "access_key": "record:prod-admin",
        "requester": {"email": "carol@example.com", "slack_id": "U3", "role": "member"},
        "duration_secs": 60, "reason": "r", "fields": {},
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:01Z",
        "decision_deadline": "2026-01-01T01:00:00Z", "approvals": [],
        "decided_by": {"type": "system", "name": "test"}, "decision_note": null, "task_token": null,
        "cards": [], "granted_at": "2026-01-01T00:00:01Z", "expires_at": "2026-01-01T00:01:01Z",
        "access_removed_at": null, "failure": null, "reminders": {"approvers": false, "expiry": false},
        "preexisting_access": false, "escalation_attempted": true, "removal": null, "cards_queued": true
    });
    // The items the previous release wrote: the request (no `access_keys`) and its one lock.
    let shard = airlock_aws::dynamo::shard_of_request(&id);
    client
        .put_item()
        .table_name(&table)
        .item("pk", S(format!("REQ#{id}")))
        .item("sk", S("REQ".into()))
        .item("data", S(body.to_string()))
        .item("status", S("active".into()))
        .item("version", N("3".into()))
        .item("access_key", S("record:prod-admin".into()))
        .item("gsi1pk", S("USER#carol@example.com".into()))
        .item("gsi1sk", S(id.to_string()))
        .item("gsi2pk", S(format!("STATUS#active#{shard}")))
        .item("gsi2sk", S(id.to_string()))
        .item("gsi3pk", S(format!("DUE#{shard}")))
        .item("gsi3sk", S(format!("2026-01-01T00:01:01.000Z#{id}")))
        .send()
        .await
        .unwrap();
    client
        .put_item()
        .table_name(&table)
        .item("pk", S("OPEN#carol@example.com#record:prod-admin".into()))
        .item("sk", S("OPEN".into()))
        .item("request_id", S(id.to_string()))
        .send()
        .await
        .unwrap();

    let stored = store.get_request(&id).await.unwrap().unwrap();
    assert_eq!(stored.targets().len(), 1);
    assert!(stored.holds_access());
    assert_eq!(
        store.requests_for_access("carol@example.com", "record:prod-admin").await.unwrap(),
        vec![stored.clone()]
    );
    assert_eq!(store.removals_due(Utc::now(), 10).await.unwrap(), vec![stored.clone()]);
    let again = sample_request("carol@example.com", "record:prod-admin");
    let err = store.insert_request(&again, &sample_event(&again, AuditAction::Submitted)).await.unwrap_err();
    assert_eq!(err, StoreError::Duplicate(id.clone()), "its lock still holds");

    let mut expired = stored.clone();
    expired.expire("prod-admin", airlock_core::Actor::system("test"), None, Utc::now()).unwrap();
    store.update_request(&expired, Status::Active, None).await.unwrap();
    store.insert_request(&again, &sample_event(&again, AuditAction::Submitted)).await.unwrap();
    assert!(store.removals_due(Utc::now(), 10).await.unwrap().is_empty());
}
