//! `/api/v1` at its edges: every error is `{"error": {"code", "message"}}`, tokens have scopes and
//! names, and a handler that panics answers 500 while the server keeps serving.

mod support;

use airlock_core::{Actor, RequestId, Status};
use airlock_http::guarded;
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use serde_json::{Value, json};
use support::*;

const TOKENS: &str = "reader:R-token:read submitter:S-token:submit other:T-token:submit revoker:V-token:revoke ops:O-token:admin old-token";

fn assert_error(status: u16, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

fn create_body(duration: Value) -> String {
    json!({"requester": "carol@example.com", "flow": "prod", "target": "prod-admin", "duration": duration,
           "reason": "deploy", "fields": {"urgency": "Normal"}})
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_api_error_is_json() {
    let h = Harness::start(TOKENS).await;
    let id = RequestId::generate();
    for (method, path) in [
        ("PUT", "/api/v1/requests".to_string()),
        ("DELETE", "/api/v1/requests".to_string()),
        ("PUT", format!("/api/v1/requests/{id}")),
        ("DELETE", format!("/api/v1/requests/{id}")),
        ("GET", format!("/api/v1/requests/{id}/revoke")),
    ] {
        let (status, body) = h.api(method, &path, "O-token", None).await;
        assert_error(status, &body, 405, "method_not_allowed");
    }
    let (status, body) = h.api("GET", "/api/v1/nothing-here", "O-token", None).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = h.api("GET", "/api/v1/requests?user=carol@example.com&limit=-1", "O-token", None).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = h.api("GET", "/api/v1/requests?status=active&status=pending", "O-token", None).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = h.api("GET", "/api/v1/requests?status=sideways", "O-token", None).await;
    assert_error(status, &body, 400, "bad_request");

    let huge = format!("{{\"reason\": \"{}\"}}", "x".repeat(10 * 1024 * 1024));
    let (status, body) = h.api("POST", "/api/v1/requests", "O-token", Some(&huge)).await;
    assert_error(status, &body, 413, "payload_too_large");
    let (status, body) = h.api("POST", &format!("/api/v1/requests/{id}/revoke"), "O-token", Some(&huge)).await;
    assert_error(status, &body, 413, "payload_too_large");

    let (status, body) = h.api("POST", "/api/v1/requests", "O-token", Some("{\"requester\":")).await;
    assert_error(status, &body, 400, "bad_request");
    assert!(h.airlock.list_requests("carol@example.com", None, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_durations_are_refused_and_nothing_is_created() {
    let h = Harness::start(TOKENS).await;
    for duration in [json!("1é"), json!("🔥"), json!("5🔥"), json!("0"), json!(0), json!("+60"), json!(-60), json!(1.5)]
    {
        let (status, body) = h.api("POST", "/api/v1/requests", "S-token", Some(&create_body(duration.clone()))).await;
        assert_error(status, &body, 422, "invalid_request");
        assert_eq!(body["error"]["fields"][0]["field"], "duration", "{duration}: {body}");
    }
    assert!(h.airlock.list_requests("carol@example.com", None, 10).await.unwrap().is_empty());
    let (status, body) = h.api("POST", "/api/v1/requests", "S-token", Some(&create_body(json!(900)))).await;
    assert_eq!((status, &body["status"]), (202, &json!("pending")), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_do_only_what_their_scopes_allow() {
    let h = Harness::start(TOKENS).await;
    let create = Some(create_body(json!("1h")));
    let (status, body) = h.api("POST", "/api/v1/requests", "R-token", create.as_deref()).await;
    assert_error(status, &body, 403, "forbidden");
    assert!(body["error"]["message"].as_str().unwrap().contains("submit"), "{body}");
    let (status, body) = h.api("POST", "/api/v1/requests", "S-token", create.as_deref()).await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_string();

    let path = format!("/api/v1/requests/{id}");
    let (status, body) = h.api("GET", &path, "S-token", None).await;
    assert_error(status, &body, 403, "forbidden");
    assert_eq!(h.api("GET", &path, "R-token", None).await.0, 200);
    assert_eq!(h.api("GET", "/api/v1/requests?user=U0CAROL", "R-token", None).await.0, 200);
    assert_eq!(h.api("GET", &path, "O-token", None).await.0, 200, "admin has every scope");
    assert_eq!(h.api("GET", &path, "old-token", None).await.0, 200, "a legacy token has every scope");
    let (status, body) = h.api("GET", &path, "reader", None).await;
    assert_error(status, &body, 401, "unauthorized");

    let emergency = json!({"requester": "bob@example.com", "flow": "prod", "target": "prod-admin", "duration": "1h",
                           "reason": "incident", "fields": {"urgency": "Emergency"}})
    .to_string();
    let (status, body) = h.api("POST", "/api/v1/requests", "S-token", Some(&emergency)).await;
    assert_eq!(status, 202, "{body}");
    let id: RequestId = body["id"].as_str().unwrap().parse().unwrap();
    h.wait_status(&id, Status::Active).await;
    let revoke = format!("/api/v1/requests/{id}/revoke");
    // A submit token may end only what it submitted; the revoke scope ends anything.
    for token in ["R-token", "T-token"] {
        let (status, body) = h.api("POST", &revoke, token, Some("{}")).await;
        assert_error(status, &body, 403, "forbidden");
    }
    let (status, body) = h.api("POST", &revoke, "V-token", Some(r#"{"reason": "done"}"#)).await;
    assert_eq!((status, &body["status"]), (202, &json!("revoked")), "{body}");
    let trail = h.airlock.audit_trail(&id).await.unwrap();
    let revoked = trail.iter().find(|e| e.action == "revoked").expect("a revoked event");
    assert_eq!(revoked.actor, Actor::System { name: "api:revoker".into() }, "the token's name is the actor");

    let (status, body) = h.api("POST", "/api/v1/requests", "S-token", Some(&emergency)).await;
    assert_eq!(status, 202, "{body}");
    let own: RequestId = body["id"].as_str().unwrap().parse().unwrap();
    h.wait_status(&own, Status::Active).await;
    let (status, body) = h.api("POST", &format!("/api/v1/requests/{own}/revoke"), "S-token", None).await;
    assert_eq!((status, &body["status"]), (202, &json!("revoked")), "the submitting token: {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_that_panics_answers_500_and_the_router_keeps_serving() {
    let h = Harness::start(TOKENS).await;
    let (status, body) = h.api("GET", &format!("/api/v1/requests?user={PANICKING_USER}"), "R-token", None).await;
    assert_error(status, &body, 500, "internal");
    assert_eq!(h.api("GET", "/api/v1/requests?user=U0CAROL", "R-token", None).await.0, 200);
    let command = format!("command=%2Faccess&text=whoami&user_id={PANICKING_USER}&trigger_id=t1");
    let response = h.slack("/slack/commands", command.as_bytes()).await;
    assert_eq!(response.status(), 500);
    let (status, _) =
        json_of(h.slack("/slack/commands", b"command=%2Faccess&text=help&user_id=U0CAROL&trigger_id=t").await).await;
    assert_eq!(status, 200);
}

async fn boom() -> &'static str {
    panic!("a bug")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_served_router_survives_a_panicking_handler() {
    let app: Router = guarded(
        Router::new()
            .route("/api/v1/boom", get(boom))
            .route("/boom", get(boom))
            .route("/api/v1/ok", get(|| async { "fine" })),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    for _ in 0..3 {
        for path in ["/api/v1/boom", "/boom"] {
            let response =
                client.get(format!("{base}{path}")).send().await.expect("an answer, not a dropped connection");
            assert_eq!(response.status(), 500);
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "internal", "{body}");
        }
        let ok = client.get(format!("{base}/api/v1/ok")).send().await.unwrap();
        assert_eq!(ok.text().await.unwrap(), "fine");
    }
    let unknown = client.put(format!("{base}/api/v1/ok")).send().await.unwrap();
    assert_eq!(unknown.status(), 405);
    assert_eq!(unknown.json::<Value>().await.unwrap()["error"]["code"], "method_not_allowed");
    server.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn non_api_routes_keep_their_own_answers() {
    let h = Harness::start(TOKENS).await;
    let response = h.send(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(json_of(response).await, (200, json!({"status": "ok"})));
    let unsigned = h.send(Request::post("/slack/commands").body(Body::from("text=help")).unwrap()).await;
    assert_eq!(unsigned.status(), 401, "Slack routes answer Slack, not the API's JSON");
}

/// The document says the cancel and revoke bodies are optional: empty, `null` or an object.
#[tokio::test(flavor = "multi_thread")]
async fn an_optional_body_may_be_null() {
    let h = Harness::start(TOKENS).await;
    let (status, body) = h.api("POST", "/api/v1/requests", "S-token", Some(&create_body(json!("1h")))).await;
    assert_eq!(status, 202, "{body}");
    let cancel = format!("/api/v1/requests/{}/cancel", body["id"].as_str().unwrap());
    let (status, body) = h.api("POST", &cancel, "S-token", Some("[]")).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = h.api("POST", &cancel, "S-token", Some(" null ")).await;
    assert_eq!((status, &body["status"]), (200, &json!("cancelled")), "{body}");
}
