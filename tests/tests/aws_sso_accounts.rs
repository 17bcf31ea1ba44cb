//! Several accounts of a discovered `aws_sso` target in one request, end to end on the local server
//! over the AWS adapters against moto: the form's account search answers from AWS Organizations,
//! one request for three accounts in one permission set creates three Identity Center assignments
//! and removes all three at expiry, the API refuses an account outside the target's scope, and the
//! drift check removes an assignment Airlock made that no grant backs while a standing assignment
//! in the same scope survives expiry and drift.
//! (Its own test binary: it sets process-wide environment variables.)

mod identity_center;

use airlock_core::{Status, TargetKind};
use airlock_e2e::*;
use airlock_testkit::moto_endpoint;
use airlock_testkit::slack::block_suggestion_body_in;
use serde_json::json;
use std::time::Duration;

use identity_center::Aws;

impl Aws {
    /// Assigns `permission_set` in `account` to the user `principal` directly (outside Airlock).
    async fn assign(&self, account: &str, permission_set: &str, principal: &str) {
        aws_sdk_ssoadmin::Client::new(&self.config)
            .create_account_assignment()
            .instance_arn(&self.instance_arn)
            .target_id(account)
            .target_type(aws_sdk_ssoadmin::types::TargetType::AwsAccount)
            .permission_set_arn(permission_set)
            .principal_type(aws_sdk_ssoadmin::types::PrincipalType::User)
            .principal_id(principal)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_accounts_in_one_request_are_three_assignments_removed_at_expiry() {
    let aws = Aws::new().await;
    let suffix = airlock_core::RequestId::generate().as_str()[18..].to_ascii_lowercase();
    let carol_id = aws.user("carol@example.com").await;
    let dave_id = aws.user("dave@example.com").await;
    let (ou, accounts, outside) = aws.ou_with_accounts(&format!("team-{suffix}"), 4).await;
    let admin_set = aws.permission_set(&format!("Admin-{suffix}")).await;
    // Dave's standing access in the first account, in the same permission set.
    aws.assign(&accounts[0], &admin_set, &dave_id).await;
    aws.permission_set(&format!("Billing-{suffix}")).await;
    // SAFETY: this test binary has this one test; nothing else reads the environment meanwhile.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", moto_endpoint());
        std::env::set_var("AIRLOCK_SSO_INSTANCE_ARN", &aws.instance_arn);
    }
    let in_config = suffix.clone();
    let config = move |_: &airlock_e2e::hooks::HookReceiver| {
        let suffix = &in_config;
        format!(
            r#"
organization: {{ primary_domain: example.com }}
flows:
  - name: prod
    label: Production
    approvers: {{ users: [bob@example.com] }}
    durations: [3s, 1h]
    max_duration: 1h
    targets:
      - name: team
        label: Team accounts
        kind: aws_sso
        accounts: {{ ou: {ou}, recursive: true }}
        permission_sets: [Admin-{suffix}]
        max_accounts: 3
"#
        )
    };
    let t = TestApp::spawn_with(config, None).await;

    // The form's account select: search as you type, by name, case-insensitively.
    let body = block_suggestion_body_in(CAROL, "prod", "accounts", &format!("TEAM-{suffix}"));
    let options: serde_json::Value = t.slack_post("/slack/options", &body, FORM).await.json().await.unwrap();
    let mut offered: Vec<String> =
        options["options"].as_array().unwrap().iter().map(|o| o["value"].as_str().unwrap().to_string()).collect();
    offered.sort();
    let mut expected = accounts.clone();
    expected.sort();
    assert_eq!(offered, expected, "the OU's accounts, not the one outside: {options}");
    let body = block_suggestion_body_in(CAROL, "prod", "permission_set", "");
    let options: serde_json::Value = t.slack_post("/slack/options", &body, FORM).await.json().await.unwrap();
    assert_eq!(options["options"][0]["value"], format!("Admin-{suffix}"), "{options}");
    assert_eq!(options["options"].as_array().unwrap().len(), 1, "only the permission sets the target lists");

    // The API refuses what the target does not grant.
    for (account, set) in [(outside.as_str(), format!("Admin-{suffix}")), (&accounts[0], format!("Billing-{suffix}"))] {
        let refused = t
            .api(reqwest::Method::POST, "/api/v1/requests")
            .json(&json!({"requester": "carol@example.com", "flow": "prod", "target": "team", "account": account,
                          "permission_set": set, "duration": "1h", "reason": "outside"}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 422, "{account} {set}");
        let error: serde_json::Value = refused.json().await.unwrap();
        assert!(error.to_string().contains("is not"), "{error}");
    }

    let chosen: Vec<String> = accounts[..3].to_vec();
    let answer = t
        .submit_form(
            CAROL,
            "prod",
            &[
                ("target", Input::Select("team".into())),
                ("accounts", Input::MultiSelect(chosen.clone())),
                ("permission_set", Input::Select(format!("Admin-{suffix}"))),
                ("duration", Input::Select("3s".into())),
                ("reason", Input::Text("incident across accounts".into())),
            ],
        )
        .await;
    assert_eq!(answer["response_action"], "clear", "{answer}");
    let id = t.app.list_requests("carol@example.com", None, 10).await.unwrap()[0].id().clone();
    let request = t.app.get_request(&id).await.unwrap();
    let granted: Vec<String> = request
        .targets()
        .iter()
        .map(|g| match &g.spec().unwrap().kind {
            TargetKind::AwsSso { account_id, permission_set_arn, .. } => {
                assert_eq!(permission_set_arn, &admin_set);
                account_id.clone()
            }
            other => panic!("not an assignment: {other:?}"),
        })
        .collect();
    assert_eq!(granted, chosen);

    t.click(BOB, "approve", &id).await;
    t.wait_status(&id, Status::Active, SOON).await;
    let deadline = tokio::time::Instant::now() + SOON;
    for account in &chosen {
        // Each target is granted on its own: wait for the last one.
        while aws.assigned(account, &admin_set).await.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut expected = vec![carol_id.clone()];
        if *account == accounts[0] {
            expected.push(dave_id.clone());
        }
        let mut assigned = aws.assigned(account, &admin_set).await;
        assigned.sort_by_key(|p| *p != carol_id);
        assert_eq!(assigned, expected, "{account}");
    }
    assert!(aws.assigned(&accounts[3], &admin_set).await.is_empty(), "the account not chosen is untouched");

    t.wait_status(&id, Status::Expired, Duration::from_secs(20)).await;
    assert_eq!(
        aws.assigned(&chosen[0], &admin_set).await,
        std::slice::from_ref(&dave_id),
        "Dave's standing access stays"
    );
    for account in &chosen[1..] {
        assert!(aws.assigned(account, &admin_set).await.is_empty(), "{account}: the assignment is gone at expiry");
    }
    let request = t.app.get_request(&id).await.unwrap();
    assert!(request.targets().iter().all(|g| !request.target_holds_access(g)));

    // The drift check covers the accounts granted through the target: a removal that was lost
    // (Carol's assignment is back in the second account) is removed; Dave's is reported, never removed.
    aws.assign(&chosen[1], &admin_set, &carol_id).await;
    let report = t.app.steps().reconcile().await.unwrap();
    let key = |account: &str| format!("aws_sso:{account}:{admin_set}");
    assert_eq!(report.removed, [("carol@example.com".parse().unwrap(), key(&chosen[1]))], "{report:?}");
    assert_eq!(report.reported, [("dave@example.com".parse().unwrap(), key(&chosen[0]))], "{report:?}");
    assert!(aws.assigned(&chosen[1], &admin_set).await.is_empty(), "the unbacked assignment is gone");
    assert_eq!(aws.assigned(&chosen[0], &admin_set).await, [dave_id], "Dave's standing access survives drift");
}
