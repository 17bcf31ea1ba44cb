//! `assembly::deps`: the escalator set it builds routes each target kind as configured, with the
//! webhook secrets it is given. No AWS call is made: nothing here needs an `aws_sso` escalator, a
//! bus or Lambda prefetch.

use airlock_aws::DynamoStore;
use airlock_aws::assembly::{self, Adapters, Prefetch, SlackClients};
use airlock_core::flow::{Target, TargetKind};
use airlock_core::ports::{Escalation, EscalationError, GrantSpec};
use airlock_core::{Config, Deps, RequestId};
use airlock_slack::SlackApi;
use airlock_testkit::hooks::HookReceiver;
use std::collections::HashMap;
use std::sync::Arc;

/// Set nowhere in the environment: the secret can only come from the map given to the assembly.
const SECRET_ENV: &str = "AIRLOCK_ASSEMBLY_TEST_UNSET_SECRET";

fn config(hook_url: &str) -> Config {
    Config::from_yaml(&format!(
        r#"
organization:
  primary_domain: example.com
  admins: [alice@example.com]
slack:
  command: /access
flows:
  - name: ops
    label: Ops
    description: Ops access
    approvers:
      users: [bob@example.com]
    durations: [15m]
    max_duration: 1h
    approval_timeout: 30m
    targets:
      - name: billing
        label: Billing
        kind: webhook
        url: {hook_url}
        secret_env: {SECRET_ENV}
      - name: notes
        label: Notes
        kind: record
"#
    ))
    .expect("valid config")
}

async fn deps(config: &Config, webhook_secrets: HashMap<String, String>) -> Deps {
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .build(),
    );
    let slack = Arc::new(SlackApi::new("http://127.0.0.1:9/api/", "xoxb-test").expect("slack client"));
    let adapters =
        Adapters { event_bus: None, prefetch: Prefetch::UrlOnly, webhook_secrets, aws_sso: Default::default() };
    let clients = SlackClients { directory: slack.clone(), notifier: slack };
    assembly::deps(config, Arc::new(DynamoStore::new(dynamo, "unused")), clients, adapters).await.expect("assembled")
}

fn grant(target: Target) -> GrantSpec {
    GrantSpec {
        request_id: RequestId::generate(),
        user_email: "carol@example.com".parse().expect("email"),
        user_slack_id: Some("U0CAROL".into()),
        target,
        expires_at: chrono::Utc::now() + chrono::Duration::minutes(15),
    }
}

fn configured(config: &Config, name: &str) -> Target {
    config.flows[0].targets.iter().find(|t| t.name == name).cloned().expect("configured target")
}

#[tokio::test]
async fn webhook_calls_are_signed_with_the_secret_given() {
    let hooks = HookReceiver::start("billing-secret").await;
    let config = config(&hooks.url());
    let deps = deps(&config, HashMap::from([(SECRET_ENV.to_string(), "billing-secret".to_string())])).await;

    let grant = grant(configured(&config, "billing"));
    assert_eq!(deps.escalator.escalate(&grant).await, Ok(Escalation::Granted));
    assert_eq!(hooks.count("escalate", grant.request_id.as_str()), 1);
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_receiver() {
    let hooks = HookReceiver::start("billing-secret").await;
    let config = config(&hooks.url());
    let deps = deps(&config, HashMap::from([(SECRET_ENV.to_string(), "another-secret".to_string())])).await;

    let result = deps.escalator.escalate(&grant(configured(&config, "billing"))).await;
    assert!(matches!(result, Err(EscalationError::Permanent(_))), "{result:?}");
}

#[tokio::test]
async fn record_targets_are_handled_and_aws_sso_only_when_configured() {
    let hooks = HookReceiver::start("unused").await;
    let config = config(&hooks.url());
    let deps = deps(&config, HashMap::new()).await;

    assert_eq!(deps.escalator.escalate(&grant(configured(&config, "notes"))).await, Ok(Escalation::Granted));
    let sso = Target {
        name: "prod".into(),
        label: "Prod".into(),
        kind: TargetKind::AwsSso {
            account_id: "111111111111".into(),
            permission_set_arn: "arn:aws:sso:::permissionSet/ssoins-1/ps-1".into(),
            instance_arn: "arn:aws:sso:::instance/ssoins-1".into(),
        },
    };
    let result = deps.escalator.escalate(&grant(sso)).await;
    assert!(matches!(&result, Err(EscalationError::Permanent(m)) if m.contains("aws_sso")), "{result:?}");
}
