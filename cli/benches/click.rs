//! Click to access: on the real `airlock serve` assembly (SQLite file, in-process runner, loopback
//! HTTP), how long after the Approve click's ack the webhook target receives the `escalate` call, and
//! how long after the grant's `expires_at` it receives the `deescalate`. The Slack Web API is the
//! testkit's fake (no delay); the target is the testkit's signed webhook receiver, which records when
//! each call arrived.
//!
//! `cargo bench -p airlock-cli --bench click` (`bash bench/click/run.sh`; prints a Markdown table;
//! not run in CI). `CLICKS=n` sets the number of requests (default 30).

mod support;
use support::SECRET;

use airlock_cli::app::LocalApp;
use airlock_cli::settings::StoreKind;
use airlock_core::{Config, RequestId, Status};
use airlock_testkit::hooks::HookReceiver;
use airlock_testkit::slack::{
    FORM, FakeSlack, FakeUser, Input, SlackSigner, block_actions_body, request_form_submission_body,
};
use chrono::{DateTime, Utc};
use std::time::Duration;

const HOOK_SECRET: &str = "bench-hook-secret";
const HOOK_SECRET_ENV: &str = "AIRLOCK_BENCH_HOOK_SECRET";
/// Each grant's length: long enough for every click to be done before the first expiry.
const GRANT: &str = "30s";

fn main() {
    let clicks: usize = std::env::var("CLICKS").ok().and_then(|n| n.parse().ok()).unwrap_or(30);
    // SAFETY: set before the runtime (and any other thread) starts.
    unsafe { std::env::set_var(HOOK_SECRET_ENV, HOOK_SECRET) };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(run(clicks));
}

fn ms(d: chrono::Duration) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
}

fn row(what: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "| {what} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
        samples.len(),
        pick(0.0),
        pick(0.5),
        pick(0.9),
        pick(1.0)
    );
}

async fn run(clicks: usize) {
    let mut users = vec![FakeUser::new("U0BOB", "bob@example.com", "Bob")];
    users.extend((0..clicks).map(|i| FakeUser::new(&format!("U0R{i:04}"), &format!("r{i}@example.com"), "R")));
    let slack = FakeSlack::start(users, vec![]).await;
    let hooks = HookReceiver::start(HOOK_SECRET).await;
    let config = format!(
        "organization:
  primary_domain: example.com
flows:
  - name: billing
    label: Billing
    approvers:
      users: [bob@example.com]
      channel: C0APPROVALS
    durations: [{GRANT}]
    max_duration: {GRANT}
    targets:
      - name: console
        label: Billing console
        kind: webhook
        url: {}
        secret_env: {HOOK_SECRET_ENV}
",
        hooks.url()
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let settings = support::local_settings(
        Config::from_yaml(&config).expect("the bench config"),
        StoreKind::Sqlite(dir.path().join("airlock.db")),
        slack.base_url(),
    );
    let app = LocalApp::build(settings).await.expect("the local app");
    let airlock = app.airlock.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(app.serve(listener, std::future::pending()));
    let http = reqwest::Client::new();
    let post = |body: String| {
        http.post(format!("{base}/slack/interactions"))
            .headers(SlackSigner::new(SECRET).header_map(body.as_bytes(), FORM))
            .body(body)
            .send()
    };

    let (mut from_click, mut from_ack, mut ids) = (vec![], vec![], vec![]);
    for i in 0..clicks {
        let user = format!("U0R{i:04}");
        let inputs = [
            ("target", Input::Select("console".into())),
            ("duration", Input::Select(GRANT.into())),
            ("reason", Input::Text(format!("bench {i}"))),
        ];
        let submitted = post(request_form_submission_body(&user, "billing", &inputs)).await.expect("submitted");
        assert_eq!(submitted.status(), 200);
        let id = pending_request(&airlock, &format!("r{i}@example.com")).await;
        let click = block_actions_body("U0BOB", "approve", id.as_str(), "C0APPROVALS", "1.1");
        let clicked = Utc::now();
        let acked = post(click).await.expect("clicked");
        assert_eq!(acked.status(), 200);
        acked.bytes().await.expect("the ack");
        let acked = Utc::now();
        hooks.wait_count("escalate", id.as_str(), 1, Duration::from_secs(10)).await;
        let arrived = hooks.arrivals("escalate", id.as_str())[0];
        from_click.push(ms(arrived - clicked));
        from_ack.push(ms(arrived - acked));
        ids.push(id);
    }
    let mut after_expiry = vec![];
    for id in &ids {
        hooks.wait_count("deescalate", id.as_str(), 1, Duration::from_secs(120)).await;
        let expires_at: DateTime<Utc> =
            airlock.get_request(id).await.expect("the request").expires_at().expect("a granted request expires");
        after_expiry.push(ms(hooks.arrivals("deescalate", id.as_str())[0] - expires_at));
    }
    println!("| interval | n | min | median | p90 | max |\n|---|---|---|---|---|---|");
    row("Approve click sent → webhook `escalate` received", from_click);
    row("Approve click's ack → webhook `escalate` received", from_ack);
    row("`expires_at` → webhook `deescalate` received", after_expiry);
}

/// The newest pending request of `email`, once the form submission has stored it.
async fn pending_request(airlock: &airlock_core::Airlock, email: &str) -> RequestId {
    for _ in 0..2_000 {
        let pending = airlock.list_requests(email, Some(Status::Pending), 1).await.expect("the store answers");
        if let Some(request) = pending.first() {
            return request.id().clone();
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("no pending request of {email}");
}
