//! EventBridgeAuditSink against moto: a rule routes the bus's `airlock` events to an SQS queue.

use airlock_aws::EventBridgeAuditSink;
use airlock_core::Actor;
use airlock_core::ports::AuditSink;
use airlock_testkit::fixtures::sample_request;
use airlock_testkit::{fake_aws_env, moto_endpoint};
use serde_json::Value;

#[tokio::test]
async fn each_audit_event_becomes_one_eventbridge_event() {
    fake_aws_env();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(moto_endpoint()).load().await;
    let bridge = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let suffix = airlock_core::RequestId::generate().as_str()[18..].to_ascii_lowercase();
    let bus = format!("airlock-{suffix}");
    bridge.create_event_bus().name(&bus).send().await.unwrap();
    let queue = sqs.create_queue().queue_name(format!("audit-{suffix}")).send().await.unwrap();
    let queue_url = queue.queue_url().unwrap();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn = attributes.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    bridge
        .put_rule()
        .name("airlock-audit")
        .event_bus_name(&bus)
        .event_pattern(r#"{"source": ["airlock"]}"#)
        .send()
        .await
        .unwrap();
    bridge
        .put_targets()
        .rule("airlock-audit")
        .event_bus_name(&bus)
        .targets(aws_sdk_eventbridge::types::Target::builder().id("queue").arn(queue_arn).build().unwrap())
        .send()
        .await
        .unwrap();

    let mut request = sample_request("carol@example.com", "record:prod-admin");
    let actor = Actor::User { email: "bob@example.com".parse().unwrap(), slack_id: Some("U2".into()) };
    let event = request.approve(actor, 1, None, Some("looks fine".into()), chrono::Utc::now()).unwrap();
    EventBridgeAuditSink::new(bridge, &bus).emit(&event).await;

    let received = sqs.receive_message().queue_url(queue_url).wait_time_seconds(5).send().await.unwrap();
    let messages = received.messages();
    assert_eq!(messages.len(), 1);
    let body: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(body["source"], "airlock");
    assert_eq!(body["detail-type"], "Request Approved");
    let detail = &body["detail"];
    assert_eq!(detail["request_id"], request.id().as_str());
    assert_eq!(detail["from"], "pending");
    assert_eq!(detail["to"], "approved");
    assert_eq!(detail["flow"], "aws-prod");
    assert_eq!(detail["target"], "prod-admin");
    assert_eq!(detail["requester"], "carol@example.com");
    assert!(detail["actor"].as_str().unwrap().contains("bob@example.com"));
    assert_eq!(detail["detail"], "looks fine");
}
