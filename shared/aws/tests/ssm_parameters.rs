//! The Lambdas' SSM parameters (the config and the secrets) read at cold start in one
//! `GetParameters` call, with the real SDK client against moto behind a proxy that counts calls.

use airlock_aws::bootstrap::ssm_parameters;
use airlock_aws::settings::Settings;
use airlock_core::RequestId;
use airlock_testkit::aws_faults::{AwsError, AwsFaultProxy};
use airlock_testkit::{fake_aws_env, moto_endpoint};
use aws_sdk_ssm::types::ParameterType;

const CONFIG: &str = "organization: { primary_domain: example.com }\n";

async fn ssm(endpoint: &str) -> aws_sdk_ssm::Client {
    fake_aws_env();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(endpoint).load().await;
    aws_sdk_ssm::Client::new(&sdk)
}

/// A parameter path of its own per test run, so reruns against one moto server never meet.
fn prefix() -> String {
    format!("/airlock-test-{}", RequestId::generate().as_str()[4..].to_ascii_lowercase())
}

async fn put(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) {
    ssm.put_parameter().name(name).value(value).r#type(ParameterType::SecureString).send().await.unwrap();
}

/// Stores the config and the three secrets under `prefix` and returns the variables naming them.
async fn stored(prefix: &str) -> Vec<(String, String)> {
    let direct = ssm(moto_endpoint()).await;
    let mut vars = Vec::new();
    for (var, value) in [
        ("AIRLOCK_CONFIG_PARAM", CONFIG),
        ("SLACK_BOT_TOKEN_PARAM", "xoxb-from-ssm"),
        ("SLACK_SIGNING_SECRET_PARAM", "signing-from-ssm"),
        ("AIRLOCK_API_TOKENS_PARAM", "ci:token:read"),
    ] {
        let name = format!("{prefix}/{}", var.trim_end_matches("_PARAM").to_ascii_lowercase());
        put(&direct, &name, value).await;
        vars.push((var.to_string(), name));
    }
    vars
}

#[tokio::test]
async fn the_config_and_every_secret_come_from_one_get_parameters_call() {
    let prefix = prefix();
    let vars = stored(&prefix).await;
    let proxy = AwsFaultProxy::start(moto_endpoint()).await;
    let client = ssm(&proxy.endpoint()).await;

    let settings = Settings::from_vars(vars).fetch_parameters(&client).await.unwrap();
    assert_eq!(proxy.requests("GetParameters"), 1);
    assert_eq!(proxy.requests("GetParameter"), 0, "no parameter is read on its own");

    assert_eq!(settings.config_text().await.unwrap(), CONFIG);
    assert_eq!(settings.slack_bot_token.load().await.unwrap(), "xoxb-from-ssm", "decrypted");
    assert_eq!(settings.slack_signing_secret.load().await.unwrap(), "signing-from-ssm");
    assert_eq!(settings.api_tokens.value(), Some("ci:token:read"));
    assert_eq!(proxy.requests("GetParameters") + proxy.requests("GetParameter"), 1, "answered from memory");
}

#[tokio::test]
async fn nothing_in_ssm_makes_no_call_and_a_config_file_wins_over_its_parameter() {
    let proxy = AwsFaultProxy::start(moto_endpoint()).await;
    let client = ssm(&proxy.endpoint()).await;
    let settings = Settings::from_vars([("SLACK_BOT_TOKEN", "xoxb-env")]).fetch_parameters(&client).await.unwrap();
    assert_eq!(settings.slack_bot_token.load().await.unwrap(), "xoxb-env");

    let prefix = prefix();
    let vars = stored(&prefix).await;
    let file = std::env::temp_dir().join(format!("{}.yaml", &prefix[1..]));
    std::fs::write(&file, "from: file\n").unwrap();
    let mut with_file = vars.clone();
    with_file.push(("AIRLOCK_CONFIG".into(), file.display().to_string()));
    let settings = Settings::from_vars(with_file);
    assert_eq!(settings.parameters().len(), 3, "the config parameter is not read when a file is given");
    let settings = settings.fetch_parameters(&client).await.unwrap();
    assert_eq!(settings.config_text().await.unwrap(), "from: file\n");
    assert_eq!(proxy.requests("GetParameters"), 1);
    std::fs::remove_file(file).unwrap();
}

#[tokio::test]
async fn a_missing_parameter_fails_the_start_naming_it_and_shared_names_are_read_once() {
    let prefix = prefix();
    let direct = ssm(moto_endpoint()).await;
    put(&direct, &format!("{prefix}/token"), "xoxb-1").await;
    let token = format!("{prefix}/token");
    let absent = format!("{prefix}/absent");

    let err = ssm_parameters(&direct, &[("SLACK_BOT_TOKEN", &token), ("SLACK_SIGNING_SECRET", &absent)])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&absent) && err.contains("SLACK_SIGNING_SECRET"), "{err}");
    assert!(!err.contains("xoxb-1"), "a value is never in an error: {err}");

    let values = ssm_parameters(&direct, &[("A", &token), ("B", &token)]).await.unwrap();
    assert_eq!(values.len(), 1);
    assert_eq!(values[&token], "xoxb-1");
}

#[tokio::test]
async fn more_than_ten_parameters_are_read_ten_a_call_and_an_ssm_error_fails() {
    let prefix = prefix();
    let direct = ssm(moto_endpoint()).await;
    let names: Vec<String> = (0..12).map(|i| format!("{prefix}/p{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        put(&direct, name, &format!("v{i}")).await;
    }
    let wanted: Vec<(&str, &str)> = names.iter().map(|n| ("PARAM", n.as_str())).collect();
    let proxy = AwsFaultProxy::start(moto_endpoint()).await;
    let client = ssm(&proxy.endpoint()).await;
    let values = ssm_parameters(&client, &wanted).await.unwrap();
    assert_eq!(values.len(), 12);
    assert_eq!(values[&names[11]], "v11");
    assert_eq!(proxy.requests("GetParameters"), 2);

    proxy.fail_next("GetParameters", 5, AwsError::new(400, "AccessDeniedException"));
    let err = ssm_parameters(&client, &wanted[..1]).await.unwrap_err().to_string();
    assert!(err.contains("AccessDeniedException"), "{err}");
}
