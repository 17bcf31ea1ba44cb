//! Whatever arrives, no handler panics: arbitrary bytes and arbitrary values in real shapes, on
//! every route, through the whole router (a caught panic would answer 500).

mod support;

use airlock_testkit::slack::{Input, block_actions_body, block_suggestion_body, request_form_submission_body};
use axum::body::Body;
use axum::http::{Request, header};
use proptest::prelude::*;
use serde_json::{Value, json};
use support::*;

const TOKENS: &str = "ops:O-token:admin";
const SLACK_ROUTES: [&str; 4] = ["/slack/commands", "/slack/interactions", "/slack/events", "/slack/options"];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() }
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        Just(Value::from("1h")),
        Just(Value::from("prod-admin")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "\\PC{0,8}", Just("1é".to_string()), Just("🔥".to_string()), Just("0".to_string())]
}

fn check(status: u16, body: &Value, api: bool) -> Result<(), TestCaseError> {
    prop_assert_ne!(status, 500, "a handler panicked: {}", body);
    if api && status >= 400 {
        prop_assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{}", body);
    }
    Ok(())
}

#[test]
fn slack_routes_take_any_signed_bytes() {
    let rt = runtime();
    let h = rt.block_on(Harness::start(TOKENS));
    proptest!(config(), |(route in 0..SLACK_ROUTES.len(), body in prop::collection::vec(any::<u8>(), 0..300))| {
        let (status, answer) = rt.block_on(async { json_of(h.slack(SLACK_ROUTES[route], &body).await).await });
        check(status, &answer, false)?;
    });
}

#[test]
fn slack_routes_take_any_headers() {
    let rt = runtime();
    let h = rt.block_on(Harness::start(TOKENS));
    proptest!(config(), |(route in 0..SLACK_ROUTES.len(), signature in "\\PC{0,80}", timestamp in "\\PC{0,24}", body in any::<String>())| {
        let request = Request::post(SLACK_ROUTES[route])
            .header("x-slack-signature", signature.as_str())
            .header("x-slack-request-timestamp", timestamp.as_str())
            .body(Body::from(body));
        if let Ok(request) = request {
            let (status, answer) = rt.block_on(async { json_of(h.send(request).await).await });
            prop_assert_eq!(status, 401, "{}", answer);
        }
    });
}

#[test]
fn slash_commands_take_any_text() {
    let rt = runtime();
    let h = rt.block_on(Harness::start(TOKENS));
    proptest!(config(), |(words in text(), user in prop_oneof![Just("U0CAROL".to_string()), Just("U0GINA".to_string()), text()])| {
        let body = serde_urlencoded::to_string([
            ("command", "/access"), ("text", words.as_str()), ("user_id", user.as_str()), ("trigger_id", "t"),
        ]).unwrap();
        let (status, answer) = rt.block_on(async { json_of(h.slack("/slack/commands", body.as_bytes()).await).await });
        check(status, &answer, false)?;
    });
}

#[test]
fn form_submissions_take_any_values() {
    let rt = runtime();
    let h = rt.block_on(Harness::start(TOKENS));
    proptest!(config(), |(target in text(), duration in text(), reason in text(), urgency in text(), count in text(), flow in prop_oneof![Just("prod".to_string()), text()])| {
        let body = request_form_submission_body("U0CAROL", &flow, &[
            ("target", Input::Select(target)),
            ("duration", Input::Select(duration)),
            ("reason", Input::Text(reason)),
            ("field:urgency", Input::Select(urgency)),
            ("field:count", Input::Number(count)),
        ]);
        let (status, answer) = rt.block_on(async { json_of(h.slack("/slack/interactions", body.as_bytes()).await).await });
        check(status, &answer, false)?;
    });
}

#[test]
fn clicks_and_suggestions_take_any_values() {
    let rt = runtime();
    let h = rt.block_on(Harness::start(TOKENS));
    proptest!(config(), |(action in prop_oneof![Just("approve".to_string()), Just("deny".to_string()), text()], value in text(), field in text(), query in text())| {
        let click = block_actions_body("U0BOB", &action, &value, "C0APPROVALS", "1700000000.000100");
        let suggestion = block_suggestion_body("U0CAROL", "prod", &field, &query);
        for (route, body) in [("/slack/interactions", click), ("/slack/options", suggestion)] {
            let (status, answer) = rt.block_on(async { json_of(h.slack(route, body.as_bytes()).await).await });
            check(status, &answer, false)?;
        }
    });
}

#[test]
fn api_bodies_take_any_bytes_and_values() {
    let rt = runtime();
    let h = rt.block_on(Harness::start(TOKENS));
    proptest!(config(), |(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        fields in prop::collection::btree_map(
            prop_oneof![Just("requester"), Just("flow"), Just("target"), Just("duration"), Just("reason"), Just("fields"), Just("by")],
            json_value(), 0..7),
        id in text(),
    )| {
        let raw = String::from_utf8_lossy(&bytes).into_owned();
        let mut shaped: serde_json::Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        shaped.entry("requester").or_insert(json!("carol@example.com"));
        shaped.entry("flow").or_insert(json!("prod"));
        let shaped = Value::Object(shaped).to_string();
        let id = utf8_percent_encode(&id);
        for (method, path, body) in [
            ("POST", "/api/v1/requests".to_string(), raw.as_str()),
            ("POST", "/api/v1/requests".to_string(), shaped.as_str()),
            ("POST", format!("/api/v1/requests/{id}/revoke"), shaped.as_str()),
            ("POST", format!("/api/v1/requests/{id}/revoke"), raw.as_str()),
        ] {
            let (status, answer) = rt.block_on(h.api(method, &path, "O-token", Some(body)));
            check(status, &answer, true)?;
        }
    });
}

#[test]
fn api_reads_take_any_query_path_and_token() {
    let rt = runtime();
    let h = rt.block_on(Harness::start(TOKENS));
    proptest!(config(), |(user in text(), status in text(), limit in text(), id in text(), token in "[ -~]{0,20}")| {
        let query = serde_urlencoded::to_string([("user", user), ("status", status), ("limit", limit)]).unwrap();
        let id = utf8_percent_encode(&id);
        for (path, token) in [
            (format!("/api/v1/requests?{query}"), "O-token"),
            (format!("/api/v1/requests/{id}"), "O-token"),
            (format!("/api/v1/{id}"), "O-token"),
            ("/api/v1/requests?user=U0CAROL".to_string(), token.as_str()),
        ] {
            let request = Request::get(&path).header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::empty());
            if let Ok(request) = request {
                let (status, answer) = rt.block_on(async { json_of(h.send(request).await).await });
                check(status, &answer, true)?;
            }
        }
    });
}

/// `s` as one path segment.
fn utf8_percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
