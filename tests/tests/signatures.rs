//! Every Slack route refuses what Slack did not sign, and does nothing for it.

use airlock_e2e::*;
use airlock_testkit::slack::{SlackSigner, block_actions_body, slash_command_body};

const ROUTES: [(&str, &str); 4] =
    [("/slack/commands", FORM), ("/slack/interactions", FORM), ("/slack/events", JSON), ("/slack/options", FORM)];

async fn post_with(t: &TestApp, path: &str, content_type: &str, body: &str, headers: &[(&str, String)]) -> u16 {
    let mut request =
        t.http.post(format!("{}{path}", t.base)).header("content-type", content_type).body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap().status().as_u16()
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_wrongly_signed_and_stale_requests_get_401_and_do_nothing() {
    let t = TestApp::spawn().await;
    let body = slash_command_body("/access", "prod", CAROL, "trig-x");
    let good = SlackSigner::new(SIGNING_SECRET);
    let forged = SlackSigner::new("not-the-secret");
    let ts = now();
    for (path, content_type) in ROUTES {
        let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
            ("missing headers", vec![]),
            ("missing signature", vec![("x-slack-request-timestamp", ts.to_string())]),
            ("wrong secret", forged.headers_at(body.as_bytes(), ts).to_vec()),
            ("stale timestamp", good.headers_at(body.as_bytes(), ts - 6 * 60).to_vec()),
            ("future timestamp", good.headers_at(body.as_bytes(), ts + 6 * 60).to_vec()),
            (
                "garbage signature",
                vec![("x-slack-request-timestamp", ts.to_string()), ("x-slack-signature", "v0=zz".into())],
            ),
            ("signature of another body", good.headers_at(b"text=other", ts).to_vec()),
        ];
        for (case, headers) in cases {
            assert_eq!(post_with(&t, path, content_type, &body, &headers).await, 401, "{path}: {case}");
        }
    }
    let replay_body = block_actions_body(BOB, "approve", "req_01JD0000000000000000000000", APPROVALS, "1.0");
    let stale = good.headers_at(replay_body.as_bytes(), ts - 301).to_vec();
    assert_eq!(post_with(&t, "/slack/interactions", FORM, &replay_body, &stale).await, 401, "a replayed click");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(t.slack.calls().is_empty(), "nothing reached Slack: {:?}", t.slack.calls());
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_but_malformed_payloads_get_a_clear_400() {
    let t = TestApp::spawn().await;
    for (path, content_type, body) in [
        ("/slack/commands", FORM, "user_id=U0CAROL"),
        ("/slack/interactions", FORM, "payload=%7Bnot-json"),
        ("/slack/interactions", FORM, "nothing=here"),
        ("/slack/events", JSON, "{\"type\": 5"),
    ] {
        let response = t.slack_post(path, body, content_type).await;
        assert_eq!(response.status(), 400, "{path} {body}");
        assert!(!response.text().await.unwrap().is_empty(), "the 400 says what is wrong");
    }
}
