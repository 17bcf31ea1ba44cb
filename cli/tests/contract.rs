//! The API against its own OpenAPI document: schemathesis (property-based, from PyPI) generates
//! requests for every operation of `GET /api/v1/openapi.json` and sends them to a real `airlock
//! serve` (the embedded default: SQLite, the built-in example config, a token with every scope,
//! Slack faked). Checks: no 5xx, every status and content type is documented, every response
//! matches its schema (so every error is the documented `{"error": {"code", "message"}}`), and
//! operations that need a token refuse to work without one.
//!
//! Needs `.venv/bin/schemathesis` (`bash scripts/setup-venv.sh`); without `.venv` the test says so
//! and passes. The examples are bounded (and the seed fixed) so the run takes well under a minute.

use airlock_testkit::slack::{FakeSlack, FakeUser};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "contract-token";
/// Generated cases per operation and phase.
const MAX_EXAMPLES: &str = "50";
const SEED: &str = "13";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_keeps_its_openapi_contract() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let schemathesis = root.join(".venv/bin/schemathesis");
    if !root.join(".venv").exists() {
        eprintln!("SKIPPED: no .venv; run `bash scripts/setup-venv.sh` to install schemathesis");
        return;
    }
    assert!(schemathesis.exists(), "{} is missing: run `bash scripts/setup-venv.sh`", schemathesis.display());

    let slack = FakeSlack::start(
        vec![
            FakeUser::new("U0ALICE", "alice@example.com", "Alice"),
            FakeUser::new("U0BOB", "bob@example.com", "Bob"),
            FakeUser::new("U0CAROL", "carol@example.com", "Carol"),
        ],
        vec![("S0SRE".to_string(), vec!["U0BOB".to_string()])],
    )
    .await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(dir.path().join("serve.log")).expect("a log file");
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_airlock"))
            .arg("serve")
            .env_remove("AIRLOCK_CONFIG")
            .env_remove("AIRLOCK_STORE")
            .env("SLACK_SIGNING_SECRET", "contract-signing-secret")
            .env("SLACK_BOT_TOKEN", "xoxb-contract")
            .env("SLACK_API_URL", slack.base_url())
            .env("BILLING_HOOK_SECRET", "contract-hook-secret")
            .env("AIRLOCK_DATA", dir.path().join("airlock.db"))
            .env("AIRLOCK_ADDR", format!("127.0.0.1:{port}"))
            .env("AIRLOCK_API_TOKENS", format!("contract:{TOKEN}:admin"))
            .env("RUST_LOG", "warn")
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            .spawn()
            .expect("start airlock serve"),
    );
    let client = reqwest::Client::new();
    let started = tokio::time::Instant::now();
    while !client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
        let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
        assert!(started.elapsed() < Duration::from_secs(30), "airlock serve did not start:\n{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let work = dir.path().to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(schemathesis)
            .current_dir(&work) // its example database (.hypothesis) stays out of the repository
            .args(["run", &format!("{base}/api/v1/openapi.json"), "--url", &base])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,\
                 response_schema_conformance,ignored_auth",
            ])
            .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
            .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED, "--workers", "1"])
            .args(["--request-timeout", "30"])
            // Hypothesis's health checks judge the generator's speed, not the API: on a loaded CI
            // machine they would fail a run in which every response was right.
            .args(["--suppress-health-check", "all"])
            .env("NO_COLOR", "1")
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .stdin(Stdio::null())
            .output()
            .expect("run schemathesis")
    })
    .await
    .expect("schemathesis ran");
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
    assert!(output.status.success(), "schemathesis found a contract violation:\n{report}\n--- airlock serve:\n{log}");
    eprintln!("{report}");
}
