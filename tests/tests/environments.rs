//! Environments: one flow name per environment, chosen with `/access <flow> <env>` (optional when
//! the flow has one environment), shown in the picker and the form, stored with the request and
//! followed through the approval and the grant; the API names the valid environments.

use airlock_core::Status;
use airlock_e2e::*;
use airlock_testkit::slack::{slash_command_body, view_submission_body};
use reqwest::Method;
use serde_json::{Value, json};

fn config(_: &hooks::HookReceiver) -> String {
    let flow = |environment: &str| {
        format!(
            "
  - name: db
    environment: {environment}
    label: Database
    approvers:
      users: [bob@example.com]
      channel: {APPROVALS}
    durations: [1h]
    max_duration: 1h
    targets:
      - {{name: db-admin, label: DB admin, kind: record}}
      - {{name: db-reader, label: DB reader, kind: record}}"
        )
    };
    format!(
        "organization:
  primary_domain: example.com
  admins: [alice@example.com]
flows:{}{}
  - name: vpn
    environment: corp
    label: VPN
    approvers:
      users: [bob@example.com]
    durations: [1h]
    max_duration: 1h
    targets:
      - {{name: office, label: Office network, kind: record}}
      - {{name: lab, label: Lab network, kind: record}}
",
        flow("prod"),
        flow("staging")
    )
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(config, None).await
}

/// Runs `/access <text>` as Carol; the form it opened, or the ephemeral answer when none opened.
async fn access(t: &TestApp, text: &str, trigger: &str) -> Result<Value, String> {
    let answer = t.slack_post("/slack/commands", &slash_command_body("/access", text, CAROL, trigger), FORM).await;
    assert_eq!(answer.status(), 200);
    let body = answer.text().await.unwrap();
    if !body.is_empty() {
        return Err(body);
    }
    let opened = t.slack.wait_for("views.open", |c| c.arg("trigger_id") == Some(trigger), SOON).await;
    Ok(opened.body["view"].clone())
}

fn intro(view: &Value) -> String {
    view["blocks"][0]["text"]["text"].as_str().unwrap_or_default().to_string()
}

fn preselected_target(view: &Value) -> Option<String> {
    let target = view["blocks"].as_array().unwrap().iter().find(|b| b["block_id"] == "target")?;
    target["element"]["initial_option"]["value"].as_str().map(String::from)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_environment_word_opens_that_environments_flow_and_the_request_keeps_it() {
    let t = spawn().await;
    let form = access(&t, "db staging", "trig-staging").await.unwrap();
    assert_eq!(form["private_metadata"], "db@staging");
    assert!(intro(&form).contains("*Database* (staging)"), "the form names its environment: {}", intro(&form));
    assert_eq!(preselected_target(&form), None);
    let prod = access(&t, "db prod", "trig-prod").await.unwrap();
    assert_eq!(prod["private_metadata"], "db");
    assert!(intro(&prod).contains("(prod)"));

    // The same target in both environments: two requests, neither a duplicate of the other.
    let inputs = |reason: &str| {
        [
            ("target", Input::Select("db-admin".into())),
            ("duration", Input::Select("1h".into())),
            ("reason", Input::Text(reason.into())),
        ]
    };
    for metadata in ["db@staging", "db"] {
        // Different input (the reason), or the second would be taken for a replay of the first.
        let body = view_submission_body(CAROL, "request:db", metadata, &inputs(&format!("migration in {metadata}")));
        let answer: Value = t.slack_post("/slack/interactions", &body, FORM).await.json().await.unwrap();
        assert_eq!(answer["response_action"], "clear", "{metadata}: {answer}");
    }
    let mine = t.app.list_requests("carol@example.com", None, 10).await.unwrap();
    let environments: Vec<&str> = mine.iter().map(|r| r.environment()).collect();
    assert_eq!(environments, ["prod", "staging"], "newest first");
    let staging = mine[1].id().clone();

    // The whole path looks the flow up by name and environment: card, approval, grant.
    t.click(BOB, "approve", &staging).await;
    t.wait_status(&staging, Status::Active, SOON).await;
    let got: Value =
        t.api(Method::GET, &format!("/api/v1/requests/{staging}")).send().await.unwrap().json().await.unwrap();
    assert_eq!((got["flow"].as_str(), got["environment"].as_str()), (Some("db"), Some("staging")));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_or_missing_environment_is_answered_with_the_valid_ones() {
    let t = spawn().await;
    let unknown = access(&t, "db dev", "trig-dev").await.unwrap_err();
    assert!(unknown.contains("ephemeral"), "only Carol sees it: {unknown}");
    assert!(unknown.contains("no environment `dev`") && unknown.contains("`prod`, `staging`"), "{unknown}");
    let missing = access(&t, "db", "trig-none").await.unwrap_err();
    assert!(missing.contains("several environments: `prod`, `staging`"), "{missing}");
    assert!(missing.contains("/access db <environment>"), "it says how: {missing}");
    assert!(t.slack.calls_to("views.open").is_empty(), "no form opened");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_after_the_flow_is_still_preselected() {
    let t = spawn().await;
    let form = access(&t, "db staging DB reader", "trig-1").await.unwrap();
    assert_eq!(form["private_metadata"], "db@staging");
    assert_eq!(preselected_target(&form).as_deref(), Some("db-reader"), "by label, two words");

    let form = access(&t, "vpn Office network", "trig-2").await.unwrap();
    assert_eq!(form["private_metadata"], "vpn@corp");
    assert_eq!(preselected_target(&form).as_deref(), Some("office"), "no environment word needed");
    let form = access(&t, "vpn corp lab", "trig-3").await.unwrap();
    assert_eq!(preselected_target(&form).as_deref(), Some("lab"), "by name, after the environment");

    let neither = access(&t, "vpn home", "trig-4").await.unwrap_err();
    assert!(neither.contains("no environment or target `home`") && neither.contains("`corp`"), "{neither}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_in_one_environment_needs_no_argument_and_the_picker_shows_environments() {
    let t = spawn().await;
    let form = access(&t, "vpn", "trig-vpn").await.unwrap();
    assert_eq!(form["private_metadata"], "vpn@corp");
    assert!(intro(&form).contains("*VPN* (corp)"), "{}", intro(&form));
    let body = view_submission_body(
        CAROL,
        "request:vpn",
        "vpn@corp",
        &[
            ("target", Input::Select("office".into())),
            ("duration", Input::Select("1h".into())),
            ("reason", Input::Text("travel".into())),
        ],
    );
    let answer: Value = t.slack_post("/slack/interactions", &body, FORM).await.json().await.unwrap();
    assert_eq!(answer["response_action"], "clear", "{answer}");
    let mine = t.app.list_requests("carol@example.com", None, 10).await.unwrap();
    assert_eq!((mine[0].flow(), mine[0].environment()), ("vpn", "corp"));

    let picker = access(&t, "", "trig-picker").await.unwrap();
    let select = &picker["blocks"][1]["element"];
    let options: Vec<(&str, &str)> = select["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["text"]["text"].as_str().unwrap(), o["value"].as_str().unwrap()))
        .collect();
    assert_eq!(options, [("Database (prod)", "db"), ("Database (staging)", "db@staging"), ("VPN (corp)", "vpn@corp")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_takes_the_environment_and_names_the_valid_ones_when_it_is_needed() {
    let t = spawn().await;
    let create = |body: Value| t.api(Method::POST, "/api/v1/requests").json(&body).send();
    let base = json!({"requester": "carol@example.com", "flow": "db", "target": "db-admin", "duration": "1h",
                      "reason": "deploy"});

    let ambiguous = create(base.clone()).await.unwrap();
    assert_eq!(ambiguous.status(), 422);
    let error: Value = ambiguous.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_request");
    assert_eq!(error["error"]["fields"][0]["field"], "environment");
    assert!(error["error"]["message"].as_str().unwrap().contains("choose one of: prod, staging"), "{error}");

    let mut unknown = base.clone();
    unknown["environment"] = json!("dev");
    let error: Value = create(unknown).await.unwrap().json().await.unwrap();
    assert!(error["error"]["message"].as_str().unwrap().contains("no environment \"dev\"; choose one of"), "{error}");

    let mut staging = base.clone();
    staging["environment"] = json!("staging");
    let created = create(staging).await.unwrap();
    assert_eq!(created.status(), 202);
    let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let got: Value = t.api(Method::GET, &format!("/api/v1/requests/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["environment"], "staging");

    let single = json!({"requester": "carol@example.com", "flow": "vpn", "target": "office", "duration": "1h",
                        "reason": "travel"});
    let created = create(single).await.unwrap();
    assert_eq!(created.status(), 202, "one environment: optional");
    let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let got: Value = t.api(Method::GET, &format!("/api/v1/requests/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["environment"], "corp");
}
