//! Webhook targets' secrets on AWS: read at cold start from the SSM path the template names, with
//! the real SDK client against moto.

use airlock_core::{Config, RequestId};
use airlock_fn_common::webhook_secrets;
use airlock_testkit::{fake_aws_env, moto_endpoint};
use aws_sdk_ssm::types::ParameterType;

const CONFIG: &str = r#"
organization: { primary_domain: example.com, admins: [alice@example.com] }
slack: { command: /access }
flows:
  - name: billing
    label: Billing
    description: Billing tools
    approvers: { users: [bob@example.com] }
    durations: [1h]
    max_duration: 1h
    approval_timeout: 1h
    targets:
      - { name: console, label: Console, kind: webhook, url: "https://hooks.internal/a", secret_env: BILLING_HOOK_SECRET }
      - { name: refunds, label: Refunds, kind: webhook, url: "https://hooks.internal/b", secret_env: REFUNDS_HOOK_SECRET }
"#;

async fn ssm() -> aws_sdk_ssm::Client {
    fake_aws_env();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(moto_endpoint()).load().await;
    aws_sdk_ssm::Client::new(&sdk)
}

async fn put(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) {
    ssm.put_parameter().name(name).value(value).r#type(ParameterType::SecureString).send().await.unwrap();
}

/// A path of its own per test run, so reruns against one moto server do not see each other.
fn path() -> String {
    format!("/airlock-test-{}/webhook", RequestId::generate().as_str()[4..].to_ascii_lowercase())
}

#[tokio::test]
async fn secrets_under_the_path_are_read_by_their_variable_name() {
    let ssm = ssm().await;
    let path = path();
    put(&ssm, &format!("{path}/BILLING_HOOK_SECRET"), "billing-secret").await;
    // A target that left the config may still have a grant to remove: its secret is kept too.
    put(&ssm, &format!("{path}/OLD_HOOK_SECRET"), "old-secret").await;
    // Deeper paths and neighbours are not webhook secrets.
    put(&ssm, &format!("{path}/nested/OTHER"), "no").await;
    put(&ssm, &format!("{path}-other/BILLING_HOOK_SECRET"), "no").await;
    let config = Config::from_yaml(CONFIG).unwrap();

    let secrets = webhook_secrets(&ssm, &path, &config).await.unwrap();
    assert_eq!(secrets.len(), 2, "{:?}", secrets.keys().collect::<Vec<_>>());
    assert_eq!(secrets["BILLING_HOOK_SECRET"], "billing-secret", "decrypted");
    assert_eq!(secrets["OLD_HOOK_SECRET"], "old-secret");
    assert!(!secrets.contains_key("REFUNDS_HOOK_SECRET"), "a missing parameter is logged, not invented");

    let with_slash = webhook_secrets(&ssm, &format!("{path}/"), &config).await.unwrap();
    assert_eq!(with_slash, secrets, "a trailing slash names the same path");
}

#[tokio::test]
async fn more_secrets_than_one_page_are_all_read() {
    let ssm = ssm().await;
    let path = path();
    for i in 0..23 {
        put(&ssm, &format!("{path}/HOOK_{i}"), &format!("secret-{i}")).await;
    }
    let secrets = webhook_secrets(&ssm, &path, &Config::from_yaml(CONFIG).unwrap()).await.unwrap();
    assert_eq!(secrets.len(), 23);
    assert_eq!(secrets["HOOK_22"], "secret-22");
}
