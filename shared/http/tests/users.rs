//! `/api/v1/users/{email}/role`: admin tokens only, JSON errors, and a change that holds at once.

mod support;

use airlock_core::Role;
use serde_json::{Value, json};
use support::*;

const TOKENS: &str = "reader:R-token:read revoker:V-token:revoke ops:O-token:admin";

fn assert_error(status: u16, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_token_reads_and_sets_roles() {
    let h = Harness::start(TOKENS).await;
    let path = "/api/v1/users/Gina@Outside.org/role";
    let (status, body) = h.api("GET", path, "O-token", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"email": "gina@outside.org", "role": "guest", "source": "domain",
               "reason": "your email domain outside.org is not a member domain"})
    );

    let (status, body) = h.api("PUT", path, "O-token", Some(r#"{"role": "member"}"#)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["role"].as_str(), body["changed"].as_bool()), (Some("member"), Some(true)));
    assert_eq!(body["set_by"], "airlock:api:ops", "the token's name is the actor");
    assert_eq!(body["reason"], "set by airlock:api:ops through the API");
    assert_eq!(h.airlock.identify_slack_user("U0GINA").await.unwrap().role, Role::Member, "at once");
    let (_, again) = h.api("PUT", path, "O-token", Some(r#"{"role": "MEMBER"}"#)).await;
    assert_eq!(again["changed"], false);
    let (_, read) = h.api("GET", path, "O-token", None).await;
    assert_eq!((read["role"].as_str(), read["source"].as_str()), (Some("member"), Some("set")));

    let changes = h.airlock.people().changes(10).await.unwrap();
    assert_eq!(changes.len(), 1, "one audited change");
    assert_eq!(changes[0].actor.to_string(), "airlock:api:ops");
}

#[tokio::test(flavor = "multi_thread")]
async fn other_tokens_and_bad_input_are_refused_as_json() {
    let h = Harness::start(TOKENS).await;
    let path = "/api/v1/users/carol@example.com/role";
    let (status, body) = h.api("GET", path, "", None).await;
    assert_error(status, &body, 401, "unauthorized");
    for token in ["R-token", "V-token"] {
        let (status, body) = h.api("GET", path, token, None).await;
        assert_error(status, &body, 403, "forbidden");
        let (status, body) = h.api("PUT", path, token, Some(r#"{"role": "admin"}"#)).await;
        assert_error(status, &body, 403, "forbidden");
    }
    let (status, body) = h.api("PUT", path, "O-token", Some(r#"{"role": "owner"}"#)).await;
    assert_error(status, &body, 422, "invalid_request");
    let (status, body) = h.api("PUT", path, "O-token", Some(r#"{"role": "admin", "why": "x"}"#)).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = h.api("PUT", path, "O-token", Some("not json")).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = h.api("GET", "/api/v1/users/not-an-email/role", "O-token", None).await;
    assert_error(status, &body, 422, "invalid_request");
    let (status, body) = h.api("POST", path, "O-token", Some(r#"{"role": "admin"}"#)).await;
    assert_error(status, &body, 405, "method_not_allowed");
    assert_eq!(h.airlock.identify("carol@example.com").await.unwrap().role, Role::Member, "nothing changed");
    assert!(h.airlock.people().changes(10).await.unwrap().is_empty());
}
