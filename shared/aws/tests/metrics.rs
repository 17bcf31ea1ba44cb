//! The metrics the services' audit events publish through [`MeteredAuditSink`], driven through the
//! core's services over the testkit's fakes with a controlled clock: a request approved by a person
//! 90 s after submission and granted 30 s later.

use airlock_aws::metrics::{MeteredAuditSink, Metrics};
use airlock_core::services::SubmitInput;
use airlock_core::{Airlock, StepCall, StepName, Verdict};
use airlock_testkit::harness::Harness;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// (metric name, value, Outcome) of each data point.
fn points(metrics: &Metrics) -> Vec<(String, f64, Option<String>)> {
    metrics
        .recorded()
        .iter()
        .map(|d| {
            let name = d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"].as_str().unwrap().to_string();
            let value = d[&name].as_f64().unwrap();
            (name, value, d.get("Outcome").and_then(Value::as_str).map(str::to_string))
        })
        .collect()
}

#[tokio::test]
async fn a_request_publishes_its_outcome_its_wait_for_a_decision_and_its_time_to_access() {
    let h = Harness::new();
    let metrics = Metrics::in_memory();
    let mut deps = h.deps.clone();
    deps.audit = Arc::new(MeteredAuditSink::new(deps.audit, metrics.clone()));
    let airlock = Airlock::new(deps, h.workflow.clone());

    let carol = airlock.identify_slack_user("U3").await.unwrap();
    let input = SubmitInput {
        flow: "aws-prod".into(),
        target: Some("prod-admin".into()),
        duration: Some("15m".into()),
        reason: "deploy hotfix".into(),
        fields: [("urgency".to_string(), json!("Normal"))].into(),
        ..SubmitInput::default()
    };
    let request = airlock.submit(&carol, input).await.unwrap();
    let state = h.workflow.started().last().cloned().unwrap();
    let run = |step, state, token: Option<&str>| {
        let call = StepCall { step, state, task_token: token.map(String::from) };
        let steps = airlock.steps();
        async move { steps.run(call).await.unwrap() }
    };
    let airlock_core::services::StepOutcome::Next(state) = run(StepName::Request, state, None).await else {
        panic!("routed")
    };
    run(StepName::AwaitDecision, state.clone(), Some("tok-1")).await;

    h.clock.advance(Duration::from_secs(90));
    let bob = airlock.identify_slack_user("U2").await.unwrap();
    airlock.decide(request.id(), &bob, Verdict::Approve, None).await.unwrap();
    let (_, decided) = h.workflow.decisions()[0].clone();
    h.clock.advance(Duration::from_secs(30));
    run(StepName::Escalate, decided, None).await;

    let points = points(&metrics);
    let expected = [
        ("Requests".to_string(), 1.0, Some("submitted".to_string())),
        ("Requests".to_string(), 1.0, Some("approved".to_string())),
        ("DecisionTime".to_string(), 90.0, None),
        ("TimeToAccess".to_string(), 30.0, None),
    ];
    assert_eq!(points, expected);
}
