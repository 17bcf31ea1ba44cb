//! Bad input against the assembled server (`airlock serve`'s): nothing stops it, every `/api/v1`
//! error is JSON, guests learn their role, and a replayed form submission creates nothing.

use airlock_e2e::*;
use airlock_testkit::slack::{
    SlackSigner, deny_reason_submission_body, request_form_submission_body, slash_command_body,
};
use reqwest::Method;
use serde_json::{Value, json};

async fn still_serving(t: &TestApp) {
    let health = t.http.get(format!("{}/healthz", t.base)).send().await.expect("the server still answers");
    assert_eq!(health.status(), 200);
}

/// POSTs headers announcing a 10 MB JSON body to the API, sends none of it, and returns the status
/// and body of the answer.
async fn announce_huge_body(base: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/requests HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {API_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        10 * 1024 * 1024
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).to_string();
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

async fn json_error(response: reqwest::Response, status: u16, code: &str) {
    assert_eq!(response.status(), status);
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn non_ascii_and_zero_durations_are_refused_and_the_server_keeps_serving() {
    let t = TestApp::spawn().await;
    for (i, duration) in
        [json!("1é"), json!("🔥"), json!("5🔥"), json!("0"), json!(0), json!("+60")].into_iter().enumerate()
    {
        let body = json!({"requester": "carol@example.com", "flow": "prod", "target": "prod-admin",
                          "duration": duration, "reason": "x", "fields": {"urgency": "Normal"}});
        let response = t.api(Method::POST, "/api/v1/requests").json(&body).send().await.expect("an answer");
        json_error(response, 422, "invalid_request").await;
        still_serving(&t).await;

        let text = duration.as_str().map(String::from).unwrap_or_else(|| duration.to_string());
        let answer = t
            .submit_form(
                CAROL,
                "prod",
                &[
                    ("target", Input::Select("prod-admin".into())),
                    ("duration", Input::Select(text.clone())),
                    ("reason", Input::Text(format!("try {i}"))),
                ],
            )
            .await;
        assert_eq!(answer["response_action"], "errors", "{text}: {answer}");
        assert!(answer["errors"]["duration"].is_string(), "{text}: {answer}");
        still_serving(&t).await;
    }
    assert!(t.app.list_requests("carol@example.com", None, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_api_error_is_json_over_the_wire() {
    let t = TestApp::spawn().await;
    // A 10 MB body is refused from its Content-Length, before it is read: announce it and read the
    // answer without sending it (a client that keeps writing after the 413 may see the connection
    // closed under it, as with any HTTP/1.1 server that refuses an oversized body).
    let (status, body) = announce_huge_body(&t.base).await;
    assert_eq!(status, 413, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        json_error(t.api(method.clone(), "/api/v1/requests").send().await.unwrap(), 405, "method_not_allowed").await;
        let one = "/api/v1/requests/req_01JD0000000000000000000000";
        json_error(t.api(method, one).send().await.unwrap(), 405, "method_not_allowed").await;
    }
    json_error(t.api(Method::GET, "/api/v1/unknown").send().await.unwrap(), 404, "not_found").await;
    json_error(t.api(Method::GET, "/api/v1/requests?user=U0CAROL&limit=-1").send().await.unwrap(), 400, "bad_request")
        .await;
    let repeated = "/api/v1/requests?status=active&status=pending";
    json_error(t.api(Method::GET, repeated).send().await.unwrap(), 400, "bad_request").await;
    still_serving(&t).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_is_told_their_role_and_why() {
    let t = TestApp::spawn().await;
    let answer = t.slack_post("/slack/commands", &slash_command_body("/access", "whoami", GINA, "t1"), FORM).await;
    let answer: Value = answer.json().await.unwrap();
    let text = answer["text"].as_str().unwrap();
    assert!(text.contains("*guest*") && text.contains("gmail.com is not a member domain"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_form_submission_creates_nothing() {
    let t = TestApp::spawn().await;
    let form = request_form_submission_body(
        CAROL,
        "prod",
        &[
            ("target", Input::Select("prod-admin".into())),
            ("duration", Input::Select("1h".into())),
            ("reason", Input::Text("INC-9".into())),
            ("field:urgency", Input::Select("Normal".into())),
        ],
    );
    let headers = SlackSigner::new(SIGNING_SECRET).header_map(form.as_bytes(), FORM);
    let send =
        || t.http.post(format!("{}/slack/interactions", t.base)).headers(headers.clone()).body(form.clone()).send();
    let first: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(first["response_action"], "clear", "{first}");
    let id = t.app.list_requests("carol@example.com", None, 10).await.unwrap()[0].id().clone();
    // Bob denies it: with no open request left, only the deduplication stops a second one.
    let deny = deny_reason_submission_body(BOB, id.as_str(), "not now");
    assert_eq!(t.slack_post("/slack/interactions", &deny, FORM).await.status(), 200);
    t.wait_status(&id, airlock_core::Status::Denied, SOON).await;

    let replayed = send().await.unwrap();
    assert_eq!(replayed.status(), 200);
    let replayed: Value = replayed.json().await.unwrap();
    assert_eq!(replayed["response_action"], "clear", "{replayed}");
    assert_eq!(
        t.app.list_requests("carol@example.com", None, 10).await.unwrap().len(),
        1,
        "the replay created nothing"
    );
}
