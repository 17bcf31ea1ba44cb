//! `airlock policy test` and `airlock config explain`, run as the binary: the sample case file
//! passes on the example config, a mistake in a rule is caught with a diff, bad case files and
//! arguments are refused with their line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

fn example_config() -> String {
    root().join("shared/core/src/config/example.yaml").display().to_string()
}

fn sample_cases() -> String {
    root().join("examples/policy-cases.yaml").display().to_string()
}

fn airlock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airlock")).args(args).env_remove("AIRLOCK_CONFIG").output().expect("run airlock")
}

fn text(output: &Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn write(dir: &tempfile::TempDir, name: &str, content: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

#[test]
fn the_sample_cases_pass_on_the_example_config() {
    let output = airlock(&["policy", "test", &sample_cases(), "--config", &example_config()]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("PASS  ")).count(), 9, "{stdout}");
    assert!(stdout.contains("PASS  an emergency in production is approved by the rule: auto-approved by auto_approve"));
    assert!(stdout.ends_with("9 cases passed\n"), "{stdout}");
    // Without --config (and without AIRLOCK_CONFIG) the built-in example is used.
    assert!(airlock(&["policy", "test", &sample_cases()]).status.success());
}

#[test]
fn a_mistake_in_a_rule_is_caught_with_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(example_config()).unwrap();
    let mistaken = example.replace(r#"fields.urgency == "Emergency""#, r#"fields.urgency == "emergency""#);
    assert_ne!(mistaken, example);
    let config = write(&dir, "airlock.yaml", &mistaken);
    assert!(airlock(&["config", "check", &config]).status.success(), "the config itself is valid");

    let output = airlock(&["policy", "test", &sample_cases(), "--config", &config]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    let fail = format!("FAIL  an emergency in production is approved by the rule ({}:13)", sample_cases());
    assert!(stdout.contains(&fail), "{stdout}");
    assert!(stdout.contains("      outcome: expected auto-approved\n"), "{stdout}");
    assert!(
        stdout.contains(
            "                    got routed to bob@example.com, alice@example.com, channel C0APPROVALS (1 approval)\n"
        ),
        "{stdout}"
    );
    assert_eq!(stdout.lines().filter(|l| l.starts_with("PASS  ")).count(), 8, "{stdout}");
    assert!(stderr.contains("1 of 9 cases failed (8 passed)"), "{stderr}");
}

#[test]
fn a_rule_that_does_not_evaluate_is_noted() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(example_config()).unwrap();
    let config = write(
        &dir,
        "airlock.yaml",
        &example.replace(r#"'requester.role == "guest"'"#, r#"'fields.ticket.startsWith("X")'"#),
    );
    let output = airlock(&["policy", "test", &sample_cases(), "--config", &config]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("note: auto_deny did not evaluate for target prod-admin (counted as no match)"),
        "{stdout}"
    );
}

#[test]
fn bad_case_files_and_arguments_are_refused_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let sample = std::fs::read_to_string(sample_cases()).unwrap();
    let refused = |cases: &str| {
        let file = write(&dir, "cases.yaml", cases);
        let output = airlock(&["policy", "test", &file]);
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    };
    let stderr = refused(&sample.replace("    expect: auto_approved", "    expect: approved"));
    assert!(stderr.contains("cases.yaml: line 19, column 13: cases[0].expect: unknown variant `approved`"), "{stderr}");
    let stderr = refused(&sample.replace("who: bob@example.com", "who: bob"));
    assert!(stderr.contains("cases.yaml: line 31: cases[2]: invalid email address \"bob\""), "{stderr}");
    let stderr = refused(&sample.replace("    duration: 4h", "    durations: 4h"));
    assert!(stderr.contains("line 43") && stderr.contains("unknown field `durations`"), "{stderr}");
    assert!(refused("cases:\n").contains("cases: give at least one case"));
    assert!(refused("\u{0}\u{1}garbage: [").contains("cases.yaml: "));

    let (_, stderr) = text(&airlock(&["policy", "test"]));
    assert!(stderr.contains("usage: airlock policy test CASES.yaml [--config FILE]"), "{stderr}");
    let (_, stderr) = text(&airlock(&["policy", "test", "/nonexistent/cases.yaml"]));
    assert!(stderr.contains("cannot read /nonexistent/cases.yaml"), "{stderr}");
    let (_, stderr) = text(&airlock(&["policy", "test", &sample_cases(), "--config"]));
    assert!(stderr.contains("--config needs a value"), "{stderr}");
}

#[test]
fn explain_says_what_a_person_may_request_and_approve() {
    let config = example_config();
    let output = airlock(&["config", "explain", "carol@example.com", "--config", &config]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    for line in [
        "carol@example.com is a member (your email domain example.com is the organization's primary domain)",
        "Slack user groups: none given",
        "\naws-prod (AWS Production)\n  request: yes: every member and admin may (the flow lists no requesters)\n",
        "  approve: no: not in approvers.users (bob@example.com), and not an admin\n",
        "  auto_approve: fields.urgency == \"Emergency\"\n    holds for: urgency = Emergency\n",
        "  auto_deny: requester.role == \"guest\"\n    never holds for them",
        "\nsandbox (Sandbox)\n",
    ] {
        assert!(stdout.contains(line), "{line:?} in:\n{stdout}");
    }

    let (stdout, _) = text(&airlock(&["config", "explain", "bob@example.com"]));
    assert!(stdout.contains("  approve: yes: listed in approvers.users as bob@example.com; never their own requests"));
    assert!(stdout.contains("  approve: yes: listed in approvers.users as bob@example.com\n"), "{stdout}");

    let (stdout, _) = text(&airlock(&["config", "explain", "carol@example.com", "--role", "guest", "--groups=S0SRE"]));
    assert!(
        stdout.contains("carol@example.com is a guest (given with --role; the config makes them member"),
        "{stdout}"
    );
    assert!(stdout.contains("Slack user groups: S0SRE"));
    assert!(stdout.contains("  request: no: guests may not request access"), "{stdout}");
    assert!(!stdout.contains("auto_approve"), "no rules for flows they may not request: {stdout}");

    let (stdout, _) = text(&airlock(&["config", "explain", "alice@example.com"]));
    assert!(stdout.contains("alice@example.com is an admin (alice@example.com is listed in organization.admins)"));
    assert!(stdout.contains("  approve: yes: admins may approve every flow; never their own requests"), "{stdout}");

    for (args, error) in [
        (&["config", "explain", "carol"][..], "usage: airlock config explain EMAIL"),
        (&["config", "explain", "carol@example.com", "--role", "owner"], "--role: unknown role \"owner\""),
        (
            &["config", "explain", "carol@example.com", "--groups", "sre"],
            "--groups: \"sre\" is not a Slack user group id",
        ),
        (&["config", "explain"], "usage: airlock config explain EMAIL"),
    ] {
        let output = airlock(args);
        let (_, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(stderr.contains(error), "{args:?}: {stderr}");
    }
}
