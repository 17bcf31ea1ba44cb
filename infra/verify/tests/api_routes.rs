//! Every operation of the API contract (`docs/openapi.json`) is routed by the SAM template's HTTP API
//! to the slack-ingress function, which serves the same router as `airlock serve`: a route added to
//! the API cannot be forgotten on AWS.

use airlock_testkit::workspace_root;
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeSet;

fn documented() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(workspace_root().join("docs/openapi.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("the document has paths") {
        for method in item.as_object().unwrap().keys() {
            operations.insert((method.to_uppercase(), path.clone()));
        }
    }
    operations
}

fn routed_to_ingress() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let template: Yaml = serde_yaml_ng::from_str(&text).unwrap();
    let events = template["Resources"]["SlackIngressFunction"]["Properties"]["Events"]
        .as_mapping()
        .expect("slack-ingress has events");
    events
        .values()
        .filter(|event| event["Type"].as_str() == Some("HttpApi"))
        .map(|event| {
            let properties = &event["Properties"];
            (properties["Method"].as_str().unwrap().to_string(), properties["Path"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn every_documented_api_operation_is_routed_on_aws() {
    let routed = routed_to_ingress();
    let missing: Vec<_> = documented().into_iter().filter(|op| !routed.contains(op)).collect();
    assert!(missing.is_empty(), "documented in docs/openapi.json but not routed by template.yaml: {missing:?}");
}

#[test]
fn the_slack_endpoints_and_health_check_are_routed() {
    let routed = routed_to_ingress();
    for path in ["/slack/commands", "/slack/interactions", "/slack/events", "/slack/options"] {
        assert!(routed.contains(&("POST".to_string(), path.to_string())), "{path}");
    }
    assert!(routed.contains(&("GET".to_string(), "/healthz".to_string())));
}
