//! `airlock config check` and `airlock serve` refuse configs that cannot work, naming the line.

use std::process::{Command, Output};

const CONFIG: &str = "organization:
  primary_domain: example.com
  admins: [alice@example.com]
flows:
  - name: prod
    approvers:
      users: [bob@example.com]
      required: 1
    durations: [15m, 1h]
    max_duration: 4h
    targets:
      - name: billing
        kind: webhook
        url: https://hooks.example/x
        secret_env: AIRLOCK_CLI_TEST_HOOK_SECRET
";

fn run(args: &[&str], config: &str, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("airlock.yaml");
    std::fs::write(&file, config).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_airlock"));
    command.args(args).env_remove("AIRLOCK_CLI_TEST_HOOK_SECRET").env_remove("SLACK_SIGNING_SECRET");
    if args == ["serve"] {
        command.env("AIRLOCK_CONFIG", &file).env("AIRLOCK_ADDR", "127.0.0.1:0");
    } else {
        command.arg(&file);
    }
    command.envs(env.iter().copied()).output().expect("run airlock")
}

fn refused(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "a refusal, not a crash: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_non_ascii_duration_is_named_with_its_line() {
    for bad in ["1é", "🔥", "5🔥", "0"] {
        let config = CONFIG.replace("durations: [15m, 1h]", &format!("durations: [15m, {bad}]"));
        let stderr = refused(&run(&["config", "check"], &config, &[("AIRLOCK_CLI_TEST_HOOK_SECRET", "s")]));
        assert!(stderr.contains("line 9") && stderr.contains("invalid duration"), "{bad}: {stderr}");
    }
}

#[test]
fn more_required_approvals_than_approvers_is_refused() {
    let config = CONFIG.replace("required: 1", "required: 3");
    let stderr = refused(&run(&["config", "check"], &config, &[("AIRLOCK_CLI_TEST_HOOK_SECRET", "s")]));
    assert!(stderr.contains("line 8") && stderr.contains("approvers.required 3 is more than the 2 people"), "{stderr}");
    let two = CONFIG.replace("required: 1", "required: 2");
    assert!(run(&["config", "check"], &two, &[("AIRLOCK_CLI_TEST_HOOK_SECRET", "s")]).status.success());
}

#[test]
fn an_unset_webhook_secret_is_refused_by_check_and_serve() {
    let stderr = refused(&run(&["config", "check"], CONFIG, &[]));
    assert!(stderr.contains("line 15") && stderr.contains("AIRLOCK_CLI_TEST_HOOK_SECRET is not set"), "{stderr}");
    let ok = run(&["config", "check"], CONFIG, &[("AIRLOCK_CLI_TEST_HOOK_SECRET", "s")]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));

    let stderr = refused(&run(&["serve"], CONFIG, &[]));
    assert!(stderr.contains("line 15") && stderr.contains("AIRLOCK_CLI_TEST_HOOK_SECRET is not set"), "{stderr}");
}

#[test]
fn serve_refuses_malformed_api_tokens_without_printing_them() {
    let env = [("AIRLOCK_CLI_TEST_HOOK_SECRET", "s"), ("AIRLOCK_API_TOKENS", "ci:very-secret-token:deploy")];
    let stderr = refused(&run(&["serve"], CONFIG, &env));
    assert!(stderr.contains("unknown scope \"deploy\""), "{stderr}");
    assert!(!stderr.contains("very-secret-token"), "{stderr}");
}
