//! `/api/v1`: bearer auth, JSON errors, create / get / list / revoke.

use airlock_core::Status;
use airlock_e2e::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn the_api_needs_a_valid_bearer_token() {
    let t = TestApp::spawn().await;
    let url = format!("{}/api/v1/requests?user=carol@example.com", t.base);
    for auth in [None, Some("Bearer wrong"), Some("Basic ZTJlOmUyZQ=="), Some(API_TOKEN)] {
        let mut request = t.http.get(&url);
        if let Some(value) = auth {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    assert_eq!(t.http.get(format!("{}/healthz", t.base)).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn create_get_list_and_revoke() {
    let t = TestApp::spawn().await;
    let created = t
        .api(Method::POST, "/api/v1/requests")
        .json(&json!({"requester": "carol@example.com", "flow": "prod", "target": "billing", "duration": "1h",
                      "reason": "deploy", "fields": {"urgency": "Normal"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 202);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["status"], "pending");
    let id = created["id"].as_str().unwrap().to_string();

    let got: Value = t.api(Method::GET, &format!("/api/v1/requests/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["requester"]["email"], "carol@example.com");
    assert_eq!(got["duration_seconds"], 3600);
    assert!(got.get("task_token").is_none());

    t.click(BOB, "approve", &id.parse().unwrap()).await;
    t.wait_status(&id.parse().unwrap(), Status::Active, SOON).await;

    let listed: Value =
        t.api(Method::GET, "/api/v1/requests?user=U0CAROL&status=active").send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = listed["requests"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [id.as_str()]);

    let revoked = t
        .api(Method::POST, &format!("/api/v1/requests/{id}/revoke"))
        .json(&json!({"by": "bob@example.com", "reason": "done early"}))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 202, "revoked at once, removed right after: {}", revoked.text().await.unwrap());
    t.wait_status(&id.parse().unwrap(), Status::Revoked, SOON).await;
    t.hooks.wait_count("deescalate", &id, 1, SOON).await;
    t.dm(CAROL, "was revoked").await;

    let again = t.api(Method::POST, &format!("/api/v1/requests/{id}/revoke")).json(&json!({})).send().await.unwrap();
    assert_eq!(again.status(), 409, "revoking twice is a conflict, not a second deescalation");
    assert_eq!(t.hooks.count("deescalate", &id), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_json_errors_with_fitting_codes() {
    let t = TestApp::spawn().await;
    let post = |body: Value| t.api(Method::POST, "/api/v1/requests").json(&body).send();
    let cases = [
        (json!({"requester": "carol@example.com", "flow": "nope", "reason": "x"}), 404, "unknown_flow"),
        (
            json!({"requester": "carol@example.com", "flow": "prod", "target": "prod-admin", "duration": "8h", "reason": "x"}),
            422,
            "invalid_request",
        ),
        (
            json!({"requester": "gina@gmail.com", "flow": "prod", "target": "prod-admin", "duration": "1h", "reason": "x"}),
            403,
            "forbidden",
        ),
        (
            json!({"requester": "carol@example.com", "flow": "prod", "target": "prod-admin", "duration": "1h", "colour": "red"}),
            400,
            "bad_request",
        ),
    ];
    for (body, status, code) in cases {
        let response = post(body.clone()).await.unwrap();
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{body}: {error}");
        assert!(error["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let malformed = t.api(Method::POST, "/api/v1/requests").body("{\"requester\":").send().await.unwrap();
    assert_eq!(malformed.status(), 400);
    let missing = t.api(Method::GET, "/api/v1/requests/req_01JD0000000000000000000000").send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(t.app.list_requests("carol@example.com", None, 10).await.unwrap().is_empty(), "nothing was created");
}
