//! A cold start builds no AWS SDK client: with an unreachable AWS endpoint and no credentials, the
//! slack-ingress app is built and answers a signed `/access help` without loading the SDK
//! configuration; the first request that needs the store fails then, naming DynamoDB and why.
//!
//! The only test of this binary: it sets the process's AWS variables before anything reads them.

use airlock_aws::bootstrap::aws_config_loaded;
use airlock_aws::settings::Settings;
use airlock_fn_common::{SlackMode, build_from, fetch_settings};
use airlock_slack::sim::SlackSigner;
use axum::body::Body;
use http::{Request, StatusCode, header};
use tower::ServiceExt;

const SIGNING_SECRET: &str = "cold-start-signing-secret";
/// Nothing listens there: every AWS and Slack call fails to connect.
const UNREACHABLE: &str = "http://127.0.0.1:9";

#[tokio::test]
async fn a_cold_start_makes_no_aws_client_until_a_request_needs_one() {
    // SAFETY: the only test of this binary, run before anything else reads the environment.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", UNREACHABLE);
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/aws-config");
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials");
        for unset in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ] {
            std::env::remove_var(unset);
        }
    }
    // The bench's config: an Identity Center target, a webhook target and a prefetched field.
    let config = include_str!("../../../bench/coldstart/airlock.yaml").replace("EMULATOR", UNREACHABLE);
    let config_file = std::env::temp_dir().join(format!("airlock-cold-start-{}.yaml", std::process::id()));
    std::fs::write(&config_file, config).expect("config written");
    let settings = Settings::from_vars([
        ("AIRLOCK_CONFIG", config_file.to_str().expect("a UTF-8 path")),
        ("SLACK_API_URL", &format!("{UNREACHABLE}/api/")),
        ("SLACK_BOT_TOKEN", "xoxb-cold"),
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
        ("AIRLOCK_API_TOKENS", "ops:ops-token:admin"),
        ("AIRLOCK_TABLE", "airlock-cold"),
        ("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:airlock"),
        ("AIRLOCK_DEESCALATE_FUNCTION", "airlock-deescalate"),
        ("AIRLOCK_EVENT_BUS", "airlock-audit"),
        ("PREFETCH_FUNCTION", "airlock-prefetch"),
        ("AIRLOCK_SSO_INSTANCE_ARN", "arn:aws:sso:::instance/ssoins-1111111111111111"),
        ("AIRLOCK_IDENTITY_STORE_ID", "d-1111111111"),
        ("BILLING_HOOK_SECRET", "s"),
    ]);

    let (settings, path_secrets) = fetch_settings(settings).await.expect("nothing to read from SSM");
    let app = build_from(settings, path_secrets, SlackMode::Interactive).await.expect("built without AWS");
    let router = airlock_fn_slack_ingress::app(app).await.expect("the app is built without AWS");
    std::fs::remove_file(&config_file).expect("config removed");
    assert!(!aws_config_loaded(), "building the app loaded the AWS SDK configuration");

    let body = b"team_id=T1&channel_id=C1&user_id=U1&command=%2Faccess&text=help&trigger_id=1.2.3".to_vec();
    let mut help = Request::post("/slack/commands").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (name, value) in SlackSigner::new(SIGNING_SECRET).headers(&body) {
        help = help.header(name, value);
    }
    let answer = router.clone().oneshot(help.body(Body::from(body)).expect("a request")).await.expect("answered");
    assert_eq!(answer.status(), StatusCode::OK);
    let text = axum::body::to_bytes(answer.into_body(), usize::MAX).await.expect("a body");
    let text: serde_json::Value = serde_json::from_slice(&text).expect("a JSON answer");
    assert_eq!(text["text"], airlock_slack::views::help_text("/access"), "{text}");
    assert!(!aws_config_loaded(), "answering /access help loaded the AWS SDK configuration");

    let read = Request::get("/api/v1/requests/req_01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .header(header::AUTHORIZATION, "Bearer ops-token")
        .body(Body::empty())
        .expect("a request");
    let answer = router.oneshot(read).await.expect("answered");
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    let error = axum::body::to_bytes(answer.into_body(), usize::MAX).await.expect("a body");
    let error = String::from_utf8_lossy(&error);
    assert!(error.contains("DynamoDB") && error.contains("credentials"), "{error}");
    assert!(aws_config_loaded(), "the store call made its client");
}
