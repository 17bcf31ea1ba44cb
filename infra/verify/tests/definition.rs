//! The definition and the code agree on every state name, and every transition lands on a state.

use airlock_core::StepName;
use airlock_infra_verify::definition;
use serde_json::Value;
use std::collections::BTreeSet;

#[test]
fn state_names_match_the_code_both_ways() {
    let asl = definition();
    let states = asl["States"].as_object().unwrap();
    let in_asl: BTreeSet<&str> = states.keys().map(String::as_str).collect();
    let in_code: BTreeSet<&str> = StepName::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(in_asl, in_code);
    assert_eq!(asl["StartAt"], StepName::Request.as_str());

    let tasks: BTreeSet<&str> =
        states.iter().filter(|(_, s)| s["Type"] == "Task").map(|(name, _)| name.as_str()).collect();
    let task_steps: BTreeSet<&str> = StepName::TASKS.iter().map(|s| s.as_str()).collect();
    assert_eq!(tasks, task_steps, "Task states are exactly the steps with a handler");
    for (name, state) in states.iter().filter(|(_, s)| s["Type"] == "Task") {
        assert_eq!(state["Parameters"]["Payload"]["step"], name.as_str(), "{name} tells its handler which step it is");
    }
}

#[test]
fn every_transition_targets_a_state() {
    let asl = definition();
    let states = asl["States"].as_object().unwrap();
    let mut targets = Vec::new();
    for state in states.values() {
        targets.extend(state.get("Next").and_then(Value::as_str));
        targets.extend(state.get("Default").and_then(Value::as_str));
        for list in ["Choices", "Catch"] {
            for item in state.get(list).and_then(Value::as_array).into_iter().flatten() {
                targets.extend(item["Next"].as_str());
            }
        }
    }
    for target in &targets {
        assert!(states.contains_key(*target), "{target} is not a state");
    }
    for name in states.keys().filter(|n| *n != "Request") {
        assert!(targets.contains(&name.as_str()), "{name} is unreachable");
    }
}

#[test]
fn the_workflow_contract_details_hold() {
    let asl = definition();
    let s = &asl["States"];
    assert_eq!(s["AwaitDecision"]["Resource"], "arn:aws:states:::lambda:invoke.waitForTaskToken");
    assert_eq!(s["AwaitDecision"]["TimeoutSecondsPath"], "$.approval_timeout_seconds");
    assert_eq!(s["AwaitDecision"]["Parameters"]["Payload"]["task_token.$"], "$$.Task.Token");
    assert_eq!(s["AwaitDecision"]["Catch"][0]["ErrorEquals"][0], "States.Timeout");
    assert_eq!(s["AwaitDecision"]["Catch"][0]["Next"], "TimedOut");
    assert_eq!(s["TimedOut"]["Next"], "Decided");
    assert_eq!(s["HoldUntilExpiry"]["TimestampPath"], "$.expires_at");
    assert_eq!(s["Escalate"]["Catch"][0]["Next"], "EscalationFailed");
    assert_eq!(s["Deescalate"]["Catch"][0]["Next"], "DeescalationFailed");
    for task in ["Request", "AwaitDecision", "TimedOut", "Escalate", "EscalationFailed", "CheckExpiry"] {
        let retried: Vec<&str> =
            s[task]["Retry"][0]["ErrorEquals"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(retried.contains(&"Airlock.Transient"), "{task} retries transient step errors");
    }
}

/// The waits a retrier allows in seconds, as Step Functions computes them: retry `n` waits
/// `IntervalSeconds * BackoffRate^n`, capped at `MaxDelaySeconds`; with full jitter each wait is
/// drawn between 0 and that, so on average half of it. Returns (longest total, average total).
fn retry_budget(retrier: &Value) -> (f64, f64) {
    let interval = retrier["IntervalSeconds"].as_f64().unwrap_or(1.0);
    let rate = retrier["BackoffRate"].as_f64().unwrap_or(2.0);
    let cap = retrier["MaxDelaySeconds"].as_f64().unwrap_or(f64::INFINITY);
    let attempts = retrier["MaxAttempts"].as_i64().unwrap_or(3) as i32;
    let longest: f64 = (0..attempts).map(|n| (interval * rate.powi(n)).min(cap)).sum();
    let jittered = retrier["JitterStrategy"] == "FULL";
    (longest, if jittered { longest / 2.0 } else { longest })
}

fn retrier_for<'a>(state: &'a Value, error: &str) -> &'a Value {
    state["Retry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ErrorEquals"].as_array().unwrap().iter().any(|e| e == error))
        .unwrap_or_else(|| panic!("no retrier for {error}"))
}

/// A target that is down or throttling for a few minutes does not fail the grant; access removal
/// outlasts an Identity Center throttling spell by far (the sweeper backs both up).
#[test]
fn retry_budgets_are_minutes_for_escalation_and_generous_for_removal() {
    let asl = definition();
    let s = &asl["States"];

    let escalate = retrier_for(&s["Escalate"], "Airlock.Transient");
    assert_eq!(escalate["JitterStrategy"], "FULL", "retries of many requests do not move in step");
    let (longest, average) = retry_budget(escalate);
    assert!((240.0..=360.0).contains(&average), "Escalate waits {average} s on average, not about 5 minutes");
    assert!(longest <= 900.0, "Escalate may wait {longest} s, past its requester's patience");
    for error in ["Lambda.TooManyRequestsException", "Lambda.ServiceException"] {
        assert_eq!(retrier_for(&s["Escalate"], error), escalate, "{error} gets the same budget");
    }

    let deescalate = retrier_for(&s["Deescalate"], "States.ALL");
    assert_eq!(deescalate["JitterStrategy"], "FULL");
    let (_, average) = retry_budget(deescalate);
    assert!(average >= 30.0 * 60.0, "Deescalate retries for {average} s on average, under half an hour");
    assert!(deescalate["MaxDelaySeconds"].as_f64().unwrap() <= 300.0, "a removal is tried at least every 5 minutes");
}

/// Where a task that fails for good goes, as in shared/local/src/runner.rs: Failed, except Escalate
/// (EscalationFailed records it) and Deescalate (DeescalationFailed, which an alarm watches).
#[test]
fn failures_end_where_the_local_runner_ends_them() {
    let asl = definition();
    let s = &asl["States"];
    let expected = [
        ("Request", "Failed"),
        ("AwaitDecision", "Failed"),
        ("TimedOut", "Failed"),
        ("Escalate", "EscalationFailed"),
        ("EscalationFailed", "Failed"),
        ("CheckExpiry", "Failed"),
        ("Deescalate", "DeescalationFailed"),
    ];
    assert_eq!(expected.len(), StepName::TASKS.len());
    for (task, target) in expected {
        let catches = s[task]["Catch"].as_array().unwrap_or_else(|| panic!("{task} has no Catch"));
        let last = catches.last().unwrap();
        assert_eq!(last["ErrorEquals"], serde_json::json!(["States.ALL"]), "{task} catches every error last");
        assert_eq!(last["Next"], target, "{task} fails to {target}");
        for catch in catches {
            assert_eq!(catch["ResultPath"], "$.error", "{task}'s Catch keeps the workflow state");
        }
    }
    assert_eq!(s["EscalationFailed"]["Next"], "Failed");
    for end in ["Failed", "DeescalationFailed"] {
        assert_eq!(s[end]["Type"], "Fail");
    }
    assert_eq!(s["Done"]["Type"], "Succeed");
}

#[test]
fn the_sample_step_events_are_valid_step_calls() {
    let dir = airlock_testkit::workspace_root().join("events");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if event.get("step").is_some() {
            let call: airlock_core::StepCall =
                serde_json::from_value(event).unwrap_or_else(|e| panic!("{} is not a step call: {e}", path.display()));
            assert!(StepName::TASKS.contains(&call.step), "{} names a task state", path.display());
            checked += 1;
        }
    }
    assert_eq!(checked, StepName::TASKS.len(), "one sample event per task state");
}
