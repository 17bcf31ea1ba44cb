//! The `airlock` binary as a user runs it.

use std::process::Command;

fn airlock(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_airlock")).args(args).output().expect("run airlock")
}

#[test]
fn config_check_accepts_the_example_and_names_the_line_of_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, airlock_core::config::EXAMPLE_CONFIG).unwrap();
    let ok = airlock(&["config", "check", good.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));

    let bad = dir.path().join("bad.yaml");
    let broken = airlock_core::config::EXAMPLE_CONFIG.replace("max_duration: 4h", "max_duration: 4 hours");
    std::fs::write(&bad, &broken).unwrap();
    let line = broken.lines().position(|l| l.contains("4 hours")).unwrap() + 1;
    let failed = airlock(&["config", "check", bad.to_str().unwrap()]);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains(&format!("line {line}")), "the error names line {line}: {stderr}");
}

#[test]
fn unknown_commands_print_usage_and_fail() {
    let out = airlock(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("USAGE"));
    assert!(airlock(&["help"]).status.success());
}

#[test]
fn serve_refuses_to_start_without_a_signing_secret() {
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .arg("serve")
        .env_remove("SLACK_SIGNING_SECRET")
        .env("AIRLOCK_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SLACK_SIGNING_SECRET"));
}
