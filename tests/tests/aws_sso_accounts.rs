//! Several accounts of a discovered `aws_sso` target in one request, end to end on the local server
//! over the AWS adapters against moto: the form's account search answers from AWS Organizations,
//! one request for three accounts in one permission set creates three Identity Center assignments
//! and removes all three at expiry, and the API refuses an account outside the target's scope.
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
    /// An OU named `name` under the organization's root holding `n` new accounts; the OU's id and
    /// the accounts' ids. A further account stays at the root (outside the OU).
    async fn ou_with_accounts(&self, name: &str, n: usize) -> (String, Vec<String>, String) {
        let orgs = aws_sdk_organizations::Client::new(&self.config);
        if orgs.describe_organization().send().await.is_err() {
            let all = aws_sdk_organizations::types::OrganizationFeatureSet::All;
            orgs.create_organization().feature_set(all).send().await.unwrap();
        }
        let root = orgs.list_roots().send().await.unwrap().roots()[0].id().unwrap().to_string();
        let ou = orgs.create_organizational_unit().parent_id(&root).name(name).send().await.unwrap();
        let ou = ou.organizational_unit().unwrap().id().unwrap().to_string();
        let mut ids = Vec::new();
        for i in 0..=n {
            let created = orgs
                .create_account()
                .account_name(format!("{name}-{i}"))
                .email(format!("{name}-{i}@example.com"))
                .send()
                .await
                .unwrap();
            ids.push(created.create_account_status().unwrap().account_id().unwrap().to_string());
        }
        let outside = ids.pop().unwrap();
        for id in &ids {
            orgs.move_account().account_id(id).source_parent_id(&root).destination_parent_id(&ou).send().await.unwrap();
        }
        (ou, ids, outside)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_accounts_in_one_request_are_three_assignments_removed_at_expiry() {
    let aws = Aws::new().await;
    let suffix = airlock_core::RequestId::generate().as_str()[18..].to_ascii_lowercase();
    let carol_id = aws.user("carol@example.com").await;
    let (ou, accounts, outside) = aws.ou_with_accounts(&format!("team-{suffix}"), 4).await;
    let admin_set = aws.permission_set(&format!("Admin-{suffix}")).await;
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
        assert_eq!(aws.assigned(account, &admin_set).await, std::slice::from_ref(&carol_id), "{account}");
    }
    assert!(aws.assigned(&accounts[3], &admin_set).await.is_empty(), "the account not chosen is untouched");

    t.wait_status(&id, Status::Expired, Duration::from_secs(20)).await;
    for account in &chosen {
        assert!(aws.assigned(account, &admin_set).await.is_empty(), "{account}: the assignment is gone at expiry");
    }
    let request = t.app.get_request(&id).await.unwrap();
    assert!(request.targets().iter().all(|g| !request.target_holds_access(g)));
}
