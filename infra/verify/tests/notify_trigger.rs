//! The notify function's stream trigger in `template.yaml` against the keys the real DynamoStore
//! writes (under moto): its filter lets every new outbox item through and nothing else.

use airlock_aws::DynamoStore;
use airlock_core::ports::{RequesterUpdate, Store};
use airlock_core::{AuditAction, Notification, OutboxItem, RequestId};
use airlock_testkit::fixtures::{sample_event, sample_request};
use airlock_testkit::{fake_aws_env, moto_endpoint, workspace_root};
use serde_json::{Value, json};
use serde_yaml_ng::Value as Yaml;
use std::time::Duration;

fn template() -> Yaml {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

/// The one filter pattern of the trigger, as JSON.
fn trigger_pattern(template: &Yaml) -> Value {
    let trigger = &template["Resources"]["NotifyStreamTrigger"];
    assert_eq!(trigger["Type"].as_str(), Some("AWS::Lambda::EventSourceMapping"));
    let filters = trigger["Properties"]["FilterCriteria"]["Filters"].as_sequence().unwrap();
    assert_eq!(filters.len(), 1, "one pattern");
    serde_json::from_str(filters[0]["Pattern"].as_str().unwrap()).unwrap()
}

#[test]
fn the_trigger_reads_the_tables_stream_and_wakes_the_notify_function() {
    let template = template();
    let resources = &template["Resources"];
    let view = resources["Table"]["Properties"]["StreamSpecification"]["StreamViewType"].as_str();
    assert!(matches!(view, Some("KEYS_ONLY" | "NEW_IMAGE")), "the table has a stream: {view:?}");
    let trigger = &resources["NotifyStreamTrigger"]["Properties"];
    let source = serde_yaml_ng::to_string(&trigger["EventSourceArn"]).unwrap();
    assert!(source.contains("Table.StreamArn"), "{source}");
    let function = serde_yaml_ng::to_string(&trigger["FunctionName"]).unwrap();
    assert!(function.contains("NotifyFunction"), "{function}");
    let notify = &resources["NotifyFunction"]["Properties"];
    assert_eq!(notify["ReservedConcurrentExecutions"].as_u64(), Some(1), "one deliverer at a time");
    let schedule = &notify["Events"]["Retries"]["Properties"]["ScheduleExpression"];
    assert_eq!(schedule.as_str(), Some("rate(1 minute)"), "deferred notifications are retried every minute");
}

#[tokio::test]
async fn the_trigger_filter_passes_new_outbox_items_and_nothing_else() {
    let pattern = trigger_pattern(&template());
    let prefix = pattern["dynamodb"]["Keys"]["sk"]["S"][0]["prefix"].as_str().expect("an sk prefix filter").to_string();
    assert_eq!(
        pattern,
        json!({"eventName": ["INSERT"], "dynamodb": {"Keys": {"sk": {"S": [{"prefix": prefix}]}}}}),
        "only inserts (new notifications), matched on the sort key"
    );

    fake_aws_env();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(moto_endpoint()).load().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("airlock-{}", RequestId::generate().as_str().to_ascii_lowercase());
    DynamoStore::create_table(&client, &table).await.unwrap();
    let store = DynamoStore::new(client.clone(), &table);

    // Every kind of item the store writes: a request with its notification, its audit events,
    // its open-request lock, a notification of no request, an idempotency key.
    let request = sample_request("carol@example.com", "record:prod-admin");
    let now = chrono::Utc::now();
    let submitted = Notification::Requester { update: RequesterUpdate::Submitted };
    let of_request = OutboxItem::new(Some(request.id().clone()), submitted, now);
    store.insert_request_with(&request, &sample_event(&request, AuditAction::Submitted), &[of_request]).await.unwrap();
    store.append_audit_event(&sample_event(&request, AuditAction::RemovalFailed)).await.unwrap();
    let text = Notification::Text { user: "U3".into(), channel: None, text: "hello".into() };
    store.enqueue_notifications(&[OutboxItem::new(None, text, now)]).await.unwrap();
    assert!(store.claim_idempotency_key("slack:event:Ev1", Duration::from_secs(60)).await.unwrap());

    let scanned = client.scan().table_name(&table).send().await.unwrap();
    let (mut outbox, mut other) = (0, 0);
    for item in scanned.items() {
        let sk = item["sk"].as_s().unwrap();
        let data = item.get("data").and_then(|d| d.as_s().ok());
        let is_outbox = data.is_some_and(|d| serde_json::from_str::<OutboxItem>(d).is_ok());
        if is_outbox {
            outbox += 1;
            assert!(sk.starts_with(&prefix), "an outbox item's sk {sk:?} does not start with {prefix:?}");
        } else {
            other += 1;
            assert!(!sk.starts_with(&prefix), "sk {sk:?} of a non-outbox item would wake the notify function");
        }
    }
    assert_eq!(outbox, 2, "both notifications were written");
    assert!(other >= 4, "the request, its events, its lock and the idempotency key were written: {other}");
}
