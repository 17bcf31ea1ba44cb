//! Thirty-two grants at once on the local server over the AWS adapters, against moto behind a proxy that
//! throttles and conflicts a share of Identity Center's calls and reports every assignment in
//! progress until polled: every request ends `active` with its assignment made, Identity Center
//! never has more than 10 assignment operations in progress, and requesters whose grant waited
//! are told it is queued. (Its own test binary: it sets process-wide environment variables.)

mod identity_center;

use airlock_core::Status;
use airlock_e2e::*;
use airlock_testkit::aws_faults::{AwsError, AwsFaultProxy};
use airlock_testkit::moto_endpoint;
use serde_json::json;
use std::time::Duration;

use identity_center::Aws;

/// Requests per person: four people, eight accounts each; 32 grants, over three times the 10
/// assignment operations Identity Center allows in progress.
const ACCOUNTS: usize = 8;
const GRANTS: usize = 4 * ACCOUNTS;

#[tokio::test(flavor = "multi_thread")]
async fn thirty_two_concurrent_grants_against_a_throttling_identity_center_all_end_active() {
    let aws = Aws::new().await;
    let suffix = airlock_core::RequestId::generate().as_str()[18..].to_ascii_lowercase();
    let people = ["carol@example.com", "dave@example.com", "alice@example.com", "erin@example.com"];
    let mut principals = Vec::new();
    for email in people {
        principals.push(aws.user(email).await);
    }
    let (ou, accounts, _) = aws.ou_with_accounts(&format!("burst-{suffix}"), ACCOUNTS).await;
    let set_name = format!("Admin-{suffix}");
    let admin_set = aws.permission_set(&set_name).await;

    let proxy = AwsFaultProxy::start(moto_endpoint()).await;
    for operation in ["ListAccountAssignments", "DescribeAccountAssignmentCreationStatus"] {
        proxy.fail_every(operation, 5, AwsError::throttling());
    }
    proxy.fail_every("CreateAccountAssignment", 4, AwsError::new(400, "TooManyRequestsException"));
    proxy.fail_every("CreateAccountAssignment", 7, AwsError::new(400, "ConflictException"));
    proxy.rewrite_all("CreateAccountAssignment", |answer| {
        answer["AccountAssignmentCreationStatus"]["Status"] = "IN_PROGRESS".into();
    });
    // SAFETY: this test binary has this one test; nothing else reads the environment meanwhile.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", proxy.endpoint());
        std::env::set_var("AIRLOCK_SSO_INSTANCE_ARN", &aws.instance_arn);
    }
    let in_config = set_name.clone();
    let config = move |_: &airlock_e2e::hooks::HookReceiver| {
        let set_name = &in_config;
        format!(
            r#"
organization: {{ primary_domain: example.com, admins: [alice@example.com] }}
flows:
  - name: prod
    label: Production
    approvers: {{ users: [bob@example.com] }}
    durations: [1h]
    max_duration: 1h
    rules: {{ auto_approve: 'true' }}
    targets:
      - name: team
        label: Team accounts
        kind: aws_sso
        accounts: {{ ou: {ou}, recursive: false }}
        permission_sets: [{set_name}]
        max_accounts: 1
"#
        )
    };
    // The product's retry budget for a grant that fails transiently, 5 minutes (the tests' default
    // is shorter).
    let t = TestApp::spawn_with_budget(config, None, Duration::from_secs(5 * 60)).await;

    let submissions = people.iter().flat_map(|email| accounts.iter().map(move |account| (*email, account.clone())));
    let submitted = submissions.map(|(email, account)| {
        let request = t.api(reqwest::Method::POST, "/api/v1/requests").json(&json!({
            "requester": email, "flow": "prod", "target": "team", "account": account,
            "permission_set": set_name, "duration": "1h", "reason": "burst"
        }));
        tokio::spawn(async move {
            let answer = request.send().await.unwrap();
            assert_eq!(answer.status(), 202);
            let body: serde_json::Value = answer.json().await.unwrap();
            body["id"].as_str().unwrap().parse::<airlock_core::RequestId>().unwrap()
        })
    });
    let mut ids = Vec::new();
    for task in submitted.collect::<Vec<_>>() {
        ids.push(task.await.unwrap());
    }
    assert_eq!(ids.len(), GRANTS);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    for id in &ids {
        loop {
            let request = t.app.get_request(id).await.unwrap();
            let failures: Vec<_> = request.targets().iter().filter_map(|g| g.failure()).collect();
            match request.status() {
                Status::Active => {
                    assert!(failures.is_empty() && request.targets().iter().all(|g| g.granted_at().is_some()));
                    break;
                }
                Status::Pending | Status::Approved => {
                    assert!(tokio::time::Instant::now() < deadline, "{id} not active in time");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => panic!("{id} is {other}: {failures:?}"),
            }
        }
    }
    for account in &accounts {
        let mut assigned = aws.assigned(account, &admin_set).await;
        assigned.sort();
        let mut expected = principals.clone();
        expected.sort();
        assert_eq!(assigned, expected, "{account}: each person's assignment");
    }
    assert_eq!(proxy.requests("GetUserId"), people.len(), "each person looked up once for the burst");
    let most = proxy.most_assignments_in_progress();
    assert!((1..=10).contains(&most), "{most} assignment operations in progress at once");
    assert!(proxy.refused_count("CreateAccountAssignment") >= GRANTS / 4, "a share of creations was refused");
    assert!(proxy.refused().iter().any(|r| r.code == "ConflictException"));
    assert_eq!(proxy.forwarded("CreateAccountAssignment"), GRANTS, "each assignment created once");
    // Thirty-two grants at 10 calls a second: some requester waited and was told so.
    let requesters = [CAROL, DAVE, ALICE, ERIN].map(|p| format!("D{p}"));
    let queued = |c: &airlock_testkit::slack::SlackCall| {
        c.text().contains("queued behind other grants")
            && c.arg("channel").is_some_and(|ch| requesters.iter().any(|r| *r == ch || r[1..] == *ch))
    };
    t.slack.wait_for("chat.postMessage", queued, SOON).await;
}
