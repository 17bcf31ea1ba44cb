//! Test support shared by core's service tests and the adapter and end-to-end tests: in-memory fakes
//! of the ports ([`fakes`]), the services over them ([`harness`]), a fake Slack ([`slack`]: the
//! product's `airlock_slack::sim`), a webhook target ([`hooks`]), fixtures, and a moto server.
//!
//! [`moto_endpoint`] gives the base URL of a moto server (the local AWS emulator): the one named by
//! `MOTO_ENDPOINT` when the test script started it, or else one this process starts from the project's
//! virtualenv (`.venv/bin/moto_server`, made by `scripts/setup-venv.sh`) on a free loopback port.

pub mod aws_faults;
pub mod fakes;
pub mod fixtures;
pub mod harness;
pub mod hooks;
pub mod roles;
pub mod slack;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

struct Moto {
    endpoint: String,
    _child: Option<ChildGuard>,
}

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

static MOTO: OnceLock<Moto> = OnceLock::new();

/// Base URL (`http://127.0.0.1:PORT`) of a running moto server; panics with set-up advice if none can start.
pub fn moto_endpoint() -> &'static str {
    &MOTO.get_or_init(start_or_reuse).endpoint
}

/// Fake AWS credentials and region for SDK clients pointed at moto.
pub fn fake_aws_env() {
    // SAFETY: called by tests before any SDK client reads the environment; the values are constants.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::remove_var("AWS_PROFILE");
    }
}

fn start_or_reuse() -> Moto {
    if let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") {
        return Moto { endpoint: endpoint.trim_end_matches('/').to_string(), _child: None };
    }
    let bin = workspace_root().join(".venv/bin/moto_server");
    assert!(
        bin.exists(),
        "moto server not found at {}: run scripts/setup-venv.sh (or scripts/test.sh) first",
        bin.display()
    );
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    // A watchdog shell stops moto once this test process is gone (statics are never dropped).
    let child = Command::new("sh")
        .args(["-c", r#""$0" -H 127.0.0.1 -p "$1" & m=$!; while kill -0 "$2" 2>/dev/null; do sleep 1; done; kill $m"#])
        .arg(&bin)
        .arg(port.to_string())
        .arg(std::process::id().to_string())
        .env("MOTO_PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not listen on port {port} within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto { endpoint: format!("http://127.0.0.1:{port}"), _child: Some(ChildGuard(child)) }
}

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("Cargo.lock").exists() && !dir.join(".git").exists() {
        if !dir.pop() {
            break;
        }
    }
    dir
}
