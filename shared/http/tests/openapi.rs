//! The OpenAPI document: the committed `docs/openapi.json` is the one the code generates, it is
//! served without a token, and it documents every operation's errors and security.
//!
//! After changing the API, regenerate the committed file with
//! `UPDATE_OPENAPI=1 cargo test -p airlock-http --test openapi`.

mod support;

use serde_json::Value;
use std::path::PathBuf;
use support::*;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = airlock_http::openapi_json();
    let path = committed_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write docs/openapi.json");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json differs from the document the code generates; regenerate it with \
         `UPDATE_OPENAPI=1 cargo test -p airlock-http --test openapi` and commit it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_is_served_without_a_token() {
    let h = Harness::start("ops:O-token:admin").await;
    let (status, served) = h.api("GET", "/api/v1/openapi.json", "", None).await;
    assert_eq!(status, 200, "{served}");
    let generated: Value = serde_json::from_str(&airlock_http::openapi_json()).unwrap();
    assert_eq!(served, generated);
    assert_eq!(served["openapi"], "3.1.0");
}

fn operations(document: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            found.push((method.to_uppercase(), path.clone(), operation));
        }
    }
    found
}

#[test]
fn every_route_of_the_api_is_documented() {
    let document: Value = serde_json::from_str(&airlock_http::openapi_json()).unwrap();
    let mut documented: Vec<String> = operations(&document).iter().map(|(m, p, _)| format!("{m} {p}")).collect();
    documented.sort();
    assert_eq!(
        documented,
        [
            "GET /api/v1/openapi.json",
            "GET /api/v1/requests",
            "GET /api/v1/requests/{id}",
            "GET /api/v1/users/{email}/role",
            "POST /api/v1/requests",
            "POST /api/v1/requests/{id}/cancel",
            "POST /api/v1/requests/{id}/extend",
            "POST /api/v1/requests/{id}/revoke",
            "PUT /api/v1/users/{email}/role",
        ]
    );
}

#[test]
fn every_error_is_the_error_object_and_every_secured_operation_names_its_scopes() {
    let document: Value = serde_json::from_str(&airlock_http::openapi_json()).unwrap();
    let scheme = &document["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    for scope in ["submit", "read", "revoke", "admin"] {
        assert!(scheme["description"].as_str().unwrap().contains(&format!("`{scope}`")), "{scope}");
    }
    let codes = &document["components"]["schemas"]["ApiErrorCode"]["enum"];
    for code in ["unauthorized", "forbidden", "not_found", "invalid_request", "conflict", "duplicate_request"] {
        assert!(codes.as_array().unwrap().iter().any(|c| c == code), "{code} in {codes}");
    }
    for (method, path, operation) in operations(&document) {
        let responses = operation["responses"].as_object().unwrap();
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
                    "{method} {path} {status}"
                );
            }
        }
        if path.ends_with("openapi.json") {
            assert!(operation.get("security").is_none(), "the document needs no token");
            continue;
        }
        let security = operation["security"].as_array().unwrap_or_else(|| panic!("{method} {path}: no security"));
        assert!(security.iter().all(|s| s["bearer"].as_array().is_some_and(|scopes| !scopes.is_empty())));
        for status in ["401", "403", "500", "503"] {
            assert!(responses.contains_key(status), "{method} {path} documents {status}");
        }
    }
}
