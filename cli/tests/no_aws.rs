//! The `airlock` binary built without the `aws` feature (the quick start's build,
//! `--no-default-features`): the demo runs, and whatever needs AWS is refused with how to get it.
#![cfg(not(feature = "aws"))]

use std::process::{Command, Output};

fn airlock(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_airlock"));
    command.args(args).env_remove("AIRLOCK_CONFIG").env_remove("AIRLOCK_STORE").env_remove("AIRLOCK_EVENT_BUS");
    command.envs(env.iter().copied()).output().expect("run airlock")
}

fn refused(out: &Output, names: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused: {stderr}");
    assert!(stderr.contains(names), "the error names {names}: {stderr}");
    assert!(stderr.contains("built without AWS"), "the error says why: {stderr}");
    assert!(stderr.contains("cargo build --release -p airlock-cli"), "the error says how to get AWS: {stderr}");
}

#[test]
fn the_demo_runs_to_the_expiry() {
    let out = airlock(&["demo"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Final status: expired"), "{stdout}");
}

#[test]
fn commands_that_need_aws_say_how_to_build_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("airlock.db");
    let data = data.to_str().unwrap();
    let secret = ("SLACK_SIGNING_SECRET", "s");

    let dynamodb = [("AIRLOCK_STORE", "dynamodb"), ("AIRLOCK_TABLE", "airlock"), secret];
    refused(&airlock(&["serve"], &dynamodb), "AIRLOCK_STORE=dynamodb");
    refused(&airlock(&["users", "list"], &dynamodb), "AIRLOCK_STORE=dynamodb");

    let sso = dir.path().join("sso.yaml");
    std::fs::write(&sso, config(SSO_TARGET)).unwrap();
    let local =
        [secret, ("AIRLOCK_DATA", data), ("AIRLOCK_ADDR", "127.0.0.1:0"), ("AIRLOCK_CONFIG", sso.to_str().unwrap())];
    refused(&airlock(&["serve"], &local), "aws_sso targets");

    let discovered = dir.path().join("discovered.yaml");
    std::fs::write(&discovered, config(DISCOVERED_TARGET)).unwrap();
    refused(&airlock(&["targets", "list", discovered.to_str().unwrap()], &[]), "target team");
}

const SSO_TARGET: &str = r#"{ name: admin, label: Admin, kind: aws_sso, account_id: "111111111111", permission_set_arn: "arn:aws:sso:::permissionSet/ssoins-1111111111111111/ps-1111111111111111", instance_arn: "arn:aws:sso:::instance/ssoins-1111111111111111" }"#;
const DISCOVERED_TARGET: &str =
    r#"{ name: team, label: Team, kind: aws_sso, accounts: ["111111111111"], permission_sets: [ReadOnly] }"#;

fn config(target: &str) -> String {
    format!(
        "organization: {{ primary_domain: example.com, admins: [alice@example.com] }}\n\
         slack: {{ command: /access }}\n\
         flows:\n  - {{ name: aws, label: AWS, description: d, approvers: {{ users: [bob@example.com] }}, \
         durations: [1h], max_duration: 1h, approval_timeout: 1h, targets: [{target}] }}\n"
    )
}

#[test]
fn what_needs_no_aws_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("record.yaml");
    std::fs::write(&config, include_str!("../src/demo/demo.yaml")).unwrap();
    let out = airlock(&["targets", "list", config.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "sandbox (prod):\n  sandbox-admin: record\n");
}
