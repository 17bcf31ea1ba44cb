//! The on-call dashboard and the alarms in `template.yaml` against the metrics the code publishes
//! (`airlock_aws::metrics`, CloudWatch embedded metric format): every `Airlock` metric they name is
//! one the code publishes, with the dimensions it publishes it under, and the logs are its only feed.

use airlock_aws::metrics::{Metric, NAMESPACE, OUTCOMES};
use airlock_testkit::workspace_root;
use serde_json::Value;
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeSet;

fn template() -> Yaml {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

/// The resources of `kind`, by logical id.
fn resources<'a>(template: &'a Yaml, kind: &str) -> Vec<(&'a str, &'a Yaml)> {
    let all = template["Resources"].as_mapping().unwrap();
    all.iter().filter(|(_, r)| r["Type"].as_str() == Some(kind)).map(|(id, r)| (id.as_str().unwrap(), r)).collect()
}

/// The dashboard body (a `!Sub` string) as JSON, each `${...}` replaced by a placeholder.
fn dashboard_body(template: &Yaml) -> Value {
    let dashboards = resources(template, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1, "one dashboard");
    let body = match &dashboards[0].1["Properties"]["DashboardBody"] {
        Yaml::Tagged(tagged) if tagged.tag == "Sub" => tagged.value.as_str().unwrap().to_string(),
        other => panic!("DashboardBody is a !Sub string: {other:?}"),
    };
    let mut text = String::new();
    let mut rest = body.as_str();
    while let Some(start) = rest.find("${") {
        text.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closed ${...}") + start;
        text.push_str("sub");
        rest = &rest[end + 1..];
    }
    text.push_str(rest);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("the dashboard body is JSON: {e}\n{text}"))
}

/// One metric line of a widget: namespace, name, dimensions (name, value).
type MetricLine = (String, String, Vec<(String, String)>);

/// Each metric line of each metric widget.
fn dashboard_metrics(body: &Value) -> Vec<MetricLine> {
    let mut lines = Vec::new();
    for widget in body["widgets"].as_array().unwrap() {
        if widget["type"] != "metric" {
            continue;
        }
        for line in widget["properties"]["metrics"].as_array().unwrap() {
            let parts: Vec<&str> = line.as_array().unwrap().iter().filter_map(Value::as_str).collect();
            assert!(parts.len() >= 2 && parts.len().is_multiple_of(2), "namespace, name, then dimension pairs: {line}");
            assert!(!parts.contains(&"."), "no shorthand, so each line can be checked: {line}");
            let dimensions = parts[2..].chunks(2).map(|p| (p[0].to_string(), p[1].to_string())).collect();
            lines.push((parts[0].to_string(), parts[1].to_string(), dimensions));
        }
    }
    lines
}

fn metric(name: &str) -> Metric {
    Metric::ALL
        .into_iter()
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("{name} is not a metric the code publishes"))
}

#[test]
fn every_airlock_metric_on_the_dashboard_is_published_with_those_dimensions() {
    let body = dashboard_body(&template());
    let lines = dashboard_metrics(&body);
    let mut shown = BTreeSet::new();
    let mut outcomes = BTreeSet::new();
    for (namespace, name, dimensions) in &lines {
        if namespace != NAMESPACE {
            assert!(namespace.starts_with("AWS/"), "{namespace}/{name}: Airlock's own or an AWS service's");
            continue;
        }
        let metric = metric(name);
        let keys: Vec<&str> = dimensions.iter().map(|(k, _)| k.as_str()).collect();
        assert!(
            metric.dimension_sets().contains(&keys.as_slice()),
            "{name} is published under {:?}, not {keys:?}",
            metric.dimension_sets()
        );
        for (key, value) in dimensions {
            if key == "Outcome" {
                assert!(OUTCOMES.contains(&value.as_str()), "{name}: no outcome {value:?}");
                outcomes.insert(value.clone());
            }
        }
        shown.insert(metric.name());
    }
    let all: BTreeSet<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(shown, all, "the dashboard shows every metric the code publishes");
    assert_eq!(outcomes, OUTCOMES.iter().map(|o| o.to_string()).collect(), "and every outcome");
}

#[test]
fn the_dashboard_names_only_resources_of_the_stack_and_shows_every_alarm() {
    let template = template();
    let dashboards = resources(&template, "AWS::CloudWatch::Dashboard");
    let body = serde_yaml_ng::to_string(&dashboards[0].1["Properties"]["DashboardBody"]).unwrap();
    let ids: BTreeSet<&str> = template["Resources"].as_mapping().unwrap().keys().filter_map(Yaml::as_str).collect();
    let mut rest = body.as_str();
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').unwrap() + start;
        let reference = &rest[start + 2..end];
        let id = reference.split('.').next().unwrap();
        assert!(id.starts_with("AWS::") || ids.contains(id), "the dashboard names ${{{reference}}}, not in the stack");
        rest = &rest[end + 1..];
    }
    for (alarm, _) in resources(&template, "AWS::CloudWatch::Alarm") {
        assert!(body.contains(&format!("${{{alarm}.Arn}}")), "the alarm widget shows {alarm}");
    }
}

#[test]
fn alarms_on_airlock_metrics_read_what_the_code_publishes_and_the_logs_are_the_only_feed() {
    let template = template();
    let mut on_airlock = 0;
    for (id, alarm) in resources(&template, "AWS::CloudWatch::Alarm") {
        let properties = &alarm["Properties"];
        if properties["Namespace"].as_str() != Some(NAMESPACE) {
            continue;
        }
        on_airlock += 1;
        let metric = metric(properties["MetricName"].as_str().unwrap());
        let keys: Vec<&str> = properties["Dimensions"]
            .as_sequence()
            .map(|d| d.iter().map(|d| d["Name"].as_str().unwrap()).collect())
            .unwrap_or_default();
        assert!(metric.dimension_sets().contains(&keys.as_slice()), "{id}: dimensions {keys:?}");
    }
    assert!(on_airlock >= 1, "RemovalFailedAlarm reads Airlock/RemovalFailures");
    assert_eq!(
        template["Resources"]["RemovalFailedAlarm"]["Properties"]["MetricName"].as_str(),
        Some(Metric::RemovalFailures.name())
    );
    // A metric filter publishing into the namespace as well would count each data point twice.
    for (id, filter) in resources(&template, "AWS::Logs::MetricFilter") {
        for transformation in filter["Properties"]["MetricTransformations"].as_sequence().unwrap() {
            assert_ne!(transformation["MetricNamespace"].as_str(), Some(NAMESPACE), "{id} feeds Airlock's namespace");
        }
    }
}
