//! DynamoStore's outbox against moto with the real SDK client: notifications written atomically
//! with the change that implies them, claimed oldest first and in order within a request, never by
//! two claimers at once, retried and finished.

use airlock_aws::DynamoStore;
use airlock_core::ports::{Store, StoreError};
use airlock_core::{AuditAction, Notification, OutboxItem, RequestId, Status};
use airlock_testkit::fixtures::{advanced, sample_event, sample_request};
use airlock_testkit::{fake_aws_env, moto_endpoint};
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashSet;
use std::time::Duration as StdDuration;

const LEASE: StdDuration = StdDuration::from_secs(60);

async fn store() -> (DynamoStore, aws_sdk_dynamodb::Client, String) {
    fake_aws_env();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(moto_endpoint()).load().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = format!("airlock-{}", RequestId::generate().as_str().to_ascii_lowercase());
    DynamoStore::create_table(&client, &table).await.unwrap();
    (DynamoStore::new(client.clone(), &table), client, table)
}

fn text(request: Option<&RequestId>, what: &str, now: DateTime<Utc>) -> OutboxItem {
    let notification = Notification::Text { user: "U3".into(), channel: None, text: what.into() };
    OutboxItem::new(request.cloned(), notification, now)
}

fn texts(items: &[OutboxItem]) -> Vec<String> {
    items
        .iter()
        .map(|i| match &i.notification {
            Notification::Text { text, .. } => text.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

fn many(request: &RequestId, count: usize, now: DateTime<Utc>) -> Vec<OutboxItem> {
    (0..count).map(|i| text(Some(request), &format!("n{i}"), now)).collect()
}

/// Notifications stored in `request`'s partition, read straight from the table.
async fn stored(client: &aws_sdk_dynamodb::Client, table: &str, request: &RequestId) -> i32 {
    let mut count = 0;
    let mut start = None;
    loop {
        let page = client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :ntf)")
            .expression_attribute_values(":pk", AttributeValue::S(format!("REQ#{request}")))
            .expression_attribute_values(":ntf", AttributeValue::S("NTF#".into()))
            .select(Select::Count)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        count += page.count();
        match page.last_evaluated_key {
            Some(next) => start = Some(next),
            None => return count,
        }
    }
}

async fn done(store: &DynamoStore, items: &[OutboxItem]) {
    for item in items {
        store.notification_done(&item.id).await.unwrap();
    }
}

#[tokio::test]
async fn notifications_are_stored_with_their_change_or_not_at_all() {
    let (store, client, table) = store().await;
    let now = Utc::now();
    let r = sample_request("carol@example.com", "record:prod-admin");
    store
        .insert_request_with(&r, &sample_event(&r, AuditAction::Submitted), &[text(Some(r.id()), "submitted", now)])
        .await
        .unwrap();
    assert_eq!(stored(&client, &table, r.id()).await, 1);

    let twin = sample_request("carol@example.com", "record:prod-admin");
    let refused =
        store.insert_request_with(&twin, &sample_event(&twin, AuditAction::Submitted), &many(twin.id(), 3, now)).await;
    assert_eq!(refused, Err(StoreError::Duplicate(r.id().clone())));
    assert_eq!(stored(&client, &table, twin.id()).await, 0, "a refused insert writes no notification");

    let (approved, event) = advanced(&r, Status::Approved).unwrap();
    store.update_request_with(&approved, Status::Pending, Some(&event), &many(r.id(), 2, now)).await.unwrap();
    assert_eq!(stored(&client, &table, r.id()).await, 3);

    let (stale, _) = advanced(&r, Status::Denied).unwrap();
    for count in [2, 150] {
        let lost = store.update_request_with(&stale, Status::Pending, None, &many(r.id(), count, now)).await;
        assert_eq!(lost, Err(StoreError::Conflict));
        assert_eq!(stored(&client, &table, r.id()).await, 3, "a conflicting change writes none of {count}");
    }

    // More notifications than one transaction holds: all of them are stored with the change.
    let (active, _) = advanced(&approved, Status::Active).unwrap();
    store.update_request_with(&active, Status::Approved, None, &many(r.id(), 150, now)).await.unwrap();
    assert_eq!(stored(&client, &table, r.id()).await, 153);
    assert_eq!(store.get_request(r.id()).await.unwrap().unwrap(), active);

    let first = store.claim_notifications(now, LEASE, 10).await.unwrap();
    assert_eq!(texts(&first), ["submitted"], "one request's notifications go out one at a time, oldest first");
}

#[tokio::test]
async fn claims_take_the_oldest_due_first_and_keep_each_requests_order() {
    let (store, _, _) = store().await;
    let now = Utc::now();
    let (a, b) = (RequestId::generate(), RequestId::generate());
    let a1 = text(Some(&a), "a1", now);
    let b1 = text(Some(&b), "b1", now);
    let u1 = text(None, "u1", now);
    let a2 = text(Some(&a), "a2", now);
    let mut later = text(None, "later", now);
    later.due_at = now + Duration::minutes(10);
    store.enqueue_notifications(&[a1, b1, u1, a2, later]).await.unwrap();

    let claimed = store.claim_notifications(now, LEASE, 10).await.unwrap();
    assert_eq!(texts(&claimed), ["a1", "b1", "u1"], "a2 waits for a1; later is not due");
    assert!(store.claim_notifications(now, LEASE, 10).await.unwrap().is_empty(), "claimed ones are leased");

    // a1 delivered: a2 is next. b1 failed: it is retried once its wait is over, and held back till then.
    let (a1, b1, u1) = (&claimed[0], &claimed[1], &claimed[2]);
    store.notification_done(&a1.id).await.unwrap();
    let mut b1 = b1.clone();
    b1.failed("ratelimited", Some(StdDuration::from_secs(30)), now);
    store.notification_retry(&b1).await.unwrap();
    assert_eq!(texts(&store.claim_notifications(now, LEASE, 10).await.unwrap()), ["a2"]);
    assert!(store.claim_notifications(now + Duration::seconds(20), LEASE, 10).await.unwrap().is_empty());
    let retried = store.claim_notifications(now + Duration::seconds(31), LEASE, 10).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!((retried[0].id.as_str(), retried[0].attempts), (b1.id.as_str(), 1));
    assert_eq!(retried[0].last_error.as_deref(), Some("ratelimited"));
    done(&store, &retried).await;

    // A lease that ran out (the deliverer died): the notification is delivered again.
    let again = store.claim_notifications(now + Duration::seconds(61), LEASE, 10).await.unwrap();
    assert_eq!(texts(&again), ["u1", "a2"]);
    assert_eq!(again[0].id, u1.id);
    done(&store, &again).await;
    let due_later = store.claim_notifications(now + Duration::minutes(11), LEASE, 10).await.unwrap();
    assert_eq!(texts(&due_later), ["later"]);
    done(&store, &due_later).await;
    assert!(store.claim_notifications(now + Duration::hours(1), LEASE, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_older_notification_waiting_for_a_retry_holds_back_the_newer_ones() {
    let (store, _, _) = store().await;
    let now = Utc::now();
    let c = RequestId::generate();
    let (c1, c2) = (text(Some(&c), "c1", now), text(Some(&c), "c2", now));
    store.enqueue_notifications(&[c1.clone(), c2]).await.unwrap();
    let mut first = store.claim_notifications(now, LEASE, 10).await.unwrap();
    assert_eq!(texts(&first), ["c1"]);
    first[0].failed("slack unavailable", None, now);
    let retry_at = first[0].due_at;
    store.notification_retry(&first[0]).await.unwrap();

    assert!(store.claim_notifications(now, LEASE, 10).await.unwrap().is_empty(), "c2 is due but c1 comes first");
    let next = store.claim_notifications(retry_at, LEASE, 10).await.unwrap();
    assert_eq!(texts(&next), ["c1"]);
    done(&store, &next).await;
    assert_eq!(texts(&store.claim_notifications(retry_at, LEASE, 10).await.unwrap()), ["c2"]);
}

#[tokio::test]
async fn claims_stop_at_the_limit_and_follow_pages() {
    let (store, _, _) = store().await;
    let now = Utc::now();
    let items: Vec<_> = (0..7).map(|i| text(None, &format!("u{i}"), now)).collect();
    store.enqueue_notifications(&items).await.unwrap();
    let mut seen = Vec::new();
    for expected in [3, 3, 1, 0] {
        let claimed = store.claim_notifications(now, LEASE, 3).await.unwrap();
        assert_eq!(claimed.len(), expected);
        seen.extend(texts(&claimed));
    }
    assert_eq!(seen, ["u0", "u1", "u2", "u3", "u4", "u5", "u6"], "oldest first");

    // Pages of two items: the claim reads on until the limit or the end.
    let small = store.with_page_size(2);
    let later = now + Duration::seconds(61);
    assert_eq!(small.claim_notifications(later, LEASE, 100).await.unwrap().len(), 7);
}

#[tokio::test]
async fn two_claimers_never_take_the_same_notification() {
    let (first, client, table) = store().await;
    // Another process: its own store on the same table.
    let second = DynamoStore::new(client, &table);
    let now = Utc::now();
    for round in 0..3 {
        let mut items: Vec<_> = (0..30).map(|i| text(None, &format!("r{round}u{i}"), now)).collect();
        for _ in 0..10 {
            items.extend(many(&RequestId::generate(), 2, now));
        }
        first.enqueue_notifications(&items).await.unwrap();
        let (a, b) =
            tokio::join!(first.claim_notifications(now, LEASE, 100), second.claim_notifications(now, LEASE, 100));
        let (a, b) = (a.unwrap(), b.unwrap());
        let ids: Vec<_> = a.iter().chain(&b).map(|i| i.id.clone()).collect();
        let unique: HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "round {round}: a notification was claimed twice");
        // Every unbound one, the first of each new request, and the second of each request of the
        // round before (first in line since its first was finished).
        let expected = if round == 0 { 40 } else { 50 };
        assert_eq!(ids.len(), expected, "round {round}");
        // Each store finishes half of them, some claimed by the other one (no remembered key).
        for (i, item) in a.iter().chain(&b).enumerate() {
            let finisher = if i % 2 == 0 { &first } else { &second };
            finisher.notification_done(&item.id).await.unwrap();
        }
    }
    let rest = first.claim_notifications(now, LEASE, 100).await.unwrap();
    assert_eq!(rest.len(), 10);
    assert!(rest.iter().all(|i| i.request_id.is_some()));
    done(&second, &rest).await;
    assert!(first.claim_notifications(now + Duration::hours(1), LEASE, 100).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_store_that_did_not_claim_a_notification_can_finish_or_retry_it() {
    let (first, client, table) = store().await;
    let second = DynamoStore::new(client.clone(), &table);
    let now = Utc::now();
    let r = RequestId::generate();
    let (bound, unbound) = (text(Some(&r), "bound", now), text(None, "unbound", now));
    first.enqueue_notifications(&[bound, unbound]).await.unwrap();
    let claimed = first.claim_notifications(now, LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);

    second.notification_done(&claimed[0].id).await.unwrap();
    assert_eq!(stored(&client, &table, &r).await, 0, "found by its id alone and deleted");
    let mut unbound = claimed[1].clone();
    unbound.failed("timeout", None, now);
    second.notification_retry(&unbound).await.unwrap();
    let again = first.claim_notifications(unbound.due_at, LEASE, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    second.notification_done(&again[0].id).await.unwrap();
    assert!(first.claim_notifications(now + Duration::hours(1), LEASE, 10).await.unwrap().is_empty());

    // A retry of a notification finished meanwhile does not bring it back.
    second.notification_retry(&unbound).await.unwrap();
    assert!(first.claim_notifications(now + Duration::hours(1), LEASE, 10).await.unwrap().is_empty());
}
