//! The whole loop on the AWS adapters against moto: `airlock serve`'s assembly with
//! `AIRLOCK_STORE=dynamodb`, an `aws_sso` target and an EventBridge bus. Records land in DynamoDB,
//! the Identity Center assignment appears and disappears, and the audit events arrive on the bus.
//! (Its own test binary: it sets process-wide environment variables.)

mod identity_center;

use airlock_cli::settings::StoreKind;
use airlock_core::Status;
use airlock_e2e::*;
use airlock_testkit::moto_endpoint;
use aws_sdk_dynamodb::types::AttributeValue;
use std::time::Duration;

use identity_center::Aws;

impl Aws {
    /// A bus whose `airlock` events are copied to a queue; the queue URL.
    async fn bus_to_queue(&self, bus: &str) -> String {
        let bridge = aws_sdk_eventbridge::Client::new(&self.config);
        let sqs = aws_sdk_sqs::Client::new(&self.config);
        bridge.create_event_bus().name(bus).send().await.unwrap();
        let url =
            sqs.create_queue().queue_name(format!("{bus}-q")).send().await.unwrap().queue_url().unwrap().to_string();
        let arn_name = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
        let attributes =
            sqs.get_queue_attributes().queue_url(&url).attribute_names(arn_name.clone()).send().await.unwrap();
        let arn = attributes.attributes().unwrap()[&arn_name].clone();
        bridge
            .put_rule()
            .name("all")
            .event_bus_name(bus)
            .event_pattern(r#"{"source": ["airlock"]}"#)
            .send()
            .await
            .unwrap();
        let target = aws_sdk_eventbridge::types::Target::builder().id("q").arn(arn).build().unwrap();
        bridge.put_targets().rule("all").event_bus_name(bus).targets(target).send().await.unwrap();
        url
    }

    async fn detail_types(&self, queue: &str) -> Vec<String> {
        let sqs = aws_sdk_sqs::Client::new(&self.config);
        let mut types = Vec::new();
        loop {
            let got = sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            if got.messages().is_empty() {
                return types;
            }
            for message in got.messages() {
                let body: serde_json::Value = serde_json::from_str(message.body().unwrap()).unwrap();
                types.push(body["detail-type"].as_str().unwrap().to_string());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_access_loop_on_dynamodb_identity_center_and_eventbridge() {
    let aws = Aws::new().await;
    let suffix = airlock_core::RequestId::generate().as_str()[18..].to_ascii_lowercase();
    let (table, bus, account) = (format!("airlock-e2e-{suffix}"), format!("airlock-e2e-{suffix}"), "210987654321");
    let carol_id = aws.user("carol@example.com").await;
    let permission_set = aws.permission_set(&format!("admin-{suffix}")).await;
    let queue = aws.bus_to_queue(&bus).await;
    // SAFETY: this test binary has this one test; nothing else reads the environment meanwhile.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", moto_endpoint());
        std::env::set_var("AIRLOCK_TABLE", &table);
        std::env::set_var("AIRLOCK_CREATE_TABLE", "1");
        std::env::set_var("AIRLOCK_EVENT_BUS", &bus);
    }
    let instance = aws.instance_arn.clone();
    let config = move |_: &airlock_e2e::hooks::HookReceiver| {
        format!(
            r#"
organization: {{ primary_domain: example.com }}
flows:
  - name: prod
    label: Production
    approvers: {{ users: [bob@example.com] }}
    durations: [2s, 1h]
    max_duration: 1h
    targets:
      - name: prod-admin
        label: Prod admin
        kind: aws_sso
        account_id: "{account}"
        permission_set_arn: {permission_set}
        instance_arn: {instance}
"#
        )
    };
    let t = TestApp::spawn_with(config, Some(StoreKind::DynamoDb)).await;

    let answer = t
        .submit_form(
            CAROL,
            "prod",
            &[
                ("target", Input::Select("prod-admin".into())),
                ("duration", Input::Select("2s".into())),
                ("reason", Input::Text("rotate keys".into())),
            ],
        )
        .await;
    assert_eq!(answer["response_action"], "clear", "{answer}");
    let id = t.app.list_requests("carol@example.com", None, 10).await.unwrap()[0].id().clone();
    t.click(BOB, "approve", &id).await;
    t.wait_status(&id, Status::Active, SOON).await;
    let TargetSso { account, permission_set } = target_of(&t, &id).await;
    assert_eq!(aws.assigned(&account, &permission_set).await, std::slice::from_ref(&carol_id), "the assignment exists");

    t.wait_status(&id, Status::Expired, Duration::from_secs(10)).await;
    assert!(aws.assigned(&account, &permission_set).await.is_empty(), "the assignment is gone at expiry");

    let dynamo = aws_sdk_dynamodb::Client::new(&aws.config);
    let item = dynamo
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("REQ#{id}")))
        .key("sk", AttributeValue::S("REQ".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the request is a DynamoDB item");
    assert_eq!(item["status"].as_s().unwrap(), "expired");

    let types = aws.detail_types(&queue).await;
    for expected in ["Request Submitted", "Request Approved", "Access Granted", "Access Expired"] {
        assert!(types.iter().any(|t| t == expected), "{expected} missing from {types:?}");
    }
}

struct TargetSso {
    account: String,
    permission_set: String,
}

async fn target_of(t: &TestApp, id: &airlock_core::RequestId) -> TargetSso {
    let request = t.app.get_request(id).await.unwrap();
    let flow = t.app.config().flow(request.flow()).unwrap();
    match &flow.target(request.target()).unwrap().kind {
        airlock_core::TargetKind::AwsSso { account_id, permission_set_arn, .. } => {
            TargetSso { account: account_id.clone(), permission_set: permission_set_arn.clone() }
        }
        other => panic!("not an aws_sso target: {other:?}"),
    }
}
