//! Identity Center's quotas in `template.yaml` and the state machine, checked statically: the
//! escalate and deescalate functions' reserved concurrency keeps Airlock within the 10 account
//! assignment operations in progress an instance allows, and the states those functions run back off
//! with jitter when Lambda throttles them or Identity Center does.

use airlock_testkit::workspace_root;
use serde_yaml_ng::Value as Yaml;

/// Identity Center's limit of account-assignment operations in progress per instance.
const IDENTITY_CENTER_OPERATIONS: u64 = 10;

fn template() -> Yaml {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

/// The parameter a function's `ReservedConcurrentExecutions` refers to (`!Ref Name`).
fn reserved_concurrency_parameter(template: &Yaml, function: &str) -> String {
    let reserved = &template["Resources"][function]["Properties"]["ReservedConcurrentExecutions"];
    let text = serde_yaml_ng::to_string(reserved).unwrap();
    let name = text.trim().strip_prefix("!Ref ").unwrap_or_else(|| panic!("{function}: {text}"));
    name.trim().to_string()
}

#[test]
fn the_functions_that_assign_stay_within_identity_centers_operations_in_progress() {
    let template = template();
    let escalate = reserved_concurrency_parameter(&template, "EscalateFunction");
    let deescalate = reserved_concurrency_parameter(&template, "DeescalateFunction");
    let mut most = 0;
    for name in [&escalate, &deescalate] {
        let parameter = &template["Parameters"][name.as_str()];
        assert_eq!(parameter["Type"].as_str(), Some("Number"), "{name}");
        let default = parameter["Default"].as_u64().unwrap_or_else(|| panic!("{name} has a default"));
        let max = parameter["MaxValue"].as_u64().unwrap_or_else(|| panic!("{name} is bounded"));
        assert!(parameter["MinValue"].as_u64().is_some_and(|min| min >= 1), "{name}: at least one");
        assert!(default <= max, "{name}: the default is allowed");
        most += max;
    }
    assert!(
        most <= IDENTITY_CENTER_OPERATIONS,
        "escalate and deescalate may run {most} at once, past Identity Center's {IDENTITY_CENTER_OPERATIONS}"
    );
}

#[test]
fn throttled_assigning_states_back_off_with_jitter() {
    let asl = airlock_infra_verify::definition();
    for (state, error) in [
        ("Escalate", "Lambda.TooManyRequestsException"),
        ("Escalate", "Airlock.Transient"),
        ("Deescalate", "Lambda.TooManyRequestsException"),
        ("Deescalate", "Airlock.Transient"),
    ] {
        let retriers = asl["States"][state]["Retry"].as_array().unwrap();
        let retrier = retriers
            .iter()
            .find(|r| r["ErrorEquals"].as_array().unwrap().iter().any(|e| e == error || e == "States.ALL"))
            .unwrap_or_else(|| panic!("{state} retries {error}"));
        assert_eq!(retrier["JitterStrategy"], "FULL", "{state}/{error}: throttled executions do not return together");
        assert!(retrier["BackoffRate"].as_f64().is_some_and(|r| r > 1.0), "{state}/{error}: backs off");
        assert!(retrier["MaxAttempts"].as_u64().is_some_and(|n| n >= 10), "{state}/{error}: outlasts a burst");
        assert!(retrier["MaxDelaySeconds"].as_u64().is_some_and(|d| d <= 300), "{state}/{error}: capped");
    }
}
