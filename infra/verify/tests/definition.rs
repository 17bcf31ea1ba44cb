//! The definition and core's transition table (`airlock_core::workflow`) agree on every state name,
//! kind and transition, both ways.

use airlock_core::StepName;
use airlock_core::workflow::{On, RetryClass, State};
use airlock_infra_verify::definition;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn state_names_match_the_code_both_ways() {
    let asl = definition();
    let states = asl["States"].as_object().unwrap();
    let in_asl: BTreeSet<&str> = states.keys().map(String::as_str).collect();
    let in_code: BTreeSet<&str> = StepName::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(in_asl, in_code);
    assert_eq!(asl["StartAt"], StepName::START.as_str());

    let tasks: BTreeSet<&str> =
        states.iter().filter(|(_, s)| s["Type"] == "Task").map(|(name, _)| name.as_str()).collect();
    let task_steps: BTreeSet<&str> = StepName::TASKS.iter().map(|s| s.as_str()).collect();
    assert_eq!(tasks, task_steps, "Task states are exactly the steps with a handler");
    for (name, state) in states.iter().filter(|(_, s)| s["Type"] == "Task") {
        assert_eq!(state["Parameters"]["Payload"]["step"], name.as_str(), "{name} tells its handler which step it is");
    }
}

/// A transition named the same way on both sides: (from, what takes it, to).
type Edge = (String, String, String);

fn label(on: On) -> String {
    match on {
        On::Next => "Next".into(),
        On::Default => "Default".into(),
        On::Case(case) => format!("{} == {}", case.variable(), case.value()),
        On::Failure => "Catch States.ALL".into(),
        On::Timeout => "Catch States.Timeout".into(),
    }
}

fn table_edges() -> BTreeSet<Edge> {
    StepName::ALL
        .iter()
        .flat_map(|step| step.transitions())
        .map(|t| (t.from.as_str().to_string(), label(t.on), t.to.as_str().to_string()))
        .collect()
}

/// Every transition the definition writes: `Next`, `Default`, each Choice and each Catch.
fn asl_edges(asl: &Value) -> BTreeSet<Edge> {
    let mut edges = BTreeSet::new();
    for (name, state) in asl["States"].as_object().unwrap() {
        let mut add = |label: String, to: &Value| {
            edges.insert((
                name.clone(),
                label,
                to.as_str().unwrap_or_else(|| panic!("{name}: {to} is no state")).into(),
            ));
        };
        for key in ["Next", "Default"] {
            if let Some(to) = state.get(key) {
                add(key.into(), to);
            }
        }
        for choice in state.get("Choices").and_then(Value::as_array).into_iter().flatten() {
            let value = choice["StringEquals"].as_str().unwrap_or_else(|| panic!("{name}: only StringEquals choices"));
            add(format!("{} == {value}", choice["Variable"].as_str().unwrap_or_default()), &choice["Next"]);
        }
        for catch in state.get("Catch").and_then(Value::as_array).into_iter().flatten() {
            let errors: Vec<&str> = catch["ErrorEquals"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
            add(format!("Catch {}", errors.join(" | ")), &catch["Next"]);
        }
    }
    edges
}

/// The definition and core's transition table (`StepName::state`) have the same transitions, both ways.
#[test]
fn the_definition_has_exactly_the_tables_transitions() {
    let asl = definition();
    let (in_table, in_asl) = (table_edges(), asl_edges(&asl));
    let missing: Vec<&Edge> = in_table.difference(&in_asl).collect();
    assert!(missing.is_empty(), "in the table, not in the ASL: {missing:?}");
    let extra: Vec<&Edge> = in_asl.difference(&in_table).collect();
    assert!(extra.is_empty(), "in the ASL, not in the table: {extra:?}");
}

/// The details the table orders or implies: kinds, which choice wins first, the token task, the wait.
#[test]
fn the_definition_has_the_tables_kinds_and_order() {
    let asl = definition();
    let s = &asl["States"];
    assert_eq!(asl["StartAt"], StepName::START.as_str());
    for step in StepName::ALL {
        let (name, state) = (step.as_str(), &s[step.as_str()]);
        match step.state() {
            State::Task(task) => {
                assert_eq!(state["Type"], "Task", "{name}");
                let catches = state["Catch"].as_array().unwrap_or_else(|| panic!("{name} has no Catch"));
                assert_eq!(
                    catches.last().unwrap()["ErrorEquals"],
                    json!(["States.ALL"]),
                    "{name} catches every error last"
                );
                for catch in catches {
                    assert_eq!(catch["ResultPath"], "$.error", "{name}'s Catch keeps the workflow state");
                }
                let waits = state["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken";
                assert_eq!(waits, task.awaits_token.is_some(), "{name} waits for its task token as the table says");
                if waits {
                    assert_eq!(state["TimeoutSecondsPath"], "$.approval_timeout_seconds");
                    assert_eq!(state["Parameters"]["Payload"]["task_token.$"], "$$.Task.Token");
                }
            }
            State::Choice(choice) => {
                assert_eq!(state["Type"], "Choice", "{name}");
                let order: Vec<&str> =
                    state["Choices"].as_array().unwrap().iter().filter_map(|c| c["Next"].as_str()).collect();
                let table: Vec<&str> = choice.cases.iter().map(|(_, to)| to.as_str()).collect();
                assert_eq!(order, table, "{name}'s first matching choice is the table's");
            }
            State::Wait { .. } => {
                assert_eq!(state["Type"], "Wait", "{name}");
                assert_eq!(state["TimestampPath"], "$.expires_at", "{name} waits until the grant expires");
            }
            State::Succeed => assert_eq!(state["Type"], "Succeed", "{name}"),
            State::Fail => assert_eq!(state["Type"], "Fail", "{name}"),
        }
    }
}

/// Tasks of one retry class are retried alike, and the classes differ: each class is one budget.
#[test]
fn retries_follow_the_tables_retry_classes() {
    let asl = definition();
    let mut by_class: BTreeMap<RetryClass, Vec<(StepName, &Value)>> = BTreeMap::new();
    for step in StepName::TASKS {
        let task = step.task().unwrap();
        by_class.entry(task.retry).or_default().push((step, &asl["States"][step.as_str()]["Retry"]));
    }
    for tasks in by_class.values() {
        for (step, retry) in tasks {
            assert_eq!(*retry, tasks[0].1, "{step:?} and {:?} share a retry class", tasks[0].0);
        }
    }
    let distinct: BTreeSet<String> = by_class.values().map(|tasks| tasks[0].1.to_string()).collect();
    assert_eq!(distinct.len(), by_class.len(), "each retry class has its own Retry");
    for (step, retry) in by_class.values().flatten() {
        let retried: Vec<&str> = retry[0]["ErrorEquals"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(
            retried.contains(&"Airlock.Transient") || retried == ["States.ALL"],
            "{step:?} retries transient step errors"
        );
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
