//! How long Slack waits for Airlock's answer when Slack itself is slow: every Web API call of a
//! fake Slack takes 300 ms, and the real `airlock serve` assembly answers over loopback HTTP. A
//! click and a form submission are acked after only what must be synchronous (the signature, at
//! most one uncached users.info, the conditional write and the workflow signal); cards and DMs
//! follow from the outbox. A slash command that opens a form pays for views.open.
//!
//! `cargo bench -p airlock-cli --bench ack` (prints a table; not run in CI)

mod support;
use support::SECRET;

use airlock_cli::app::LocalApp;
use airlock_cli::settings::StoreKind;
use airlock_core::{Config, Status};
use airlock_testkit::slack::{
    ANY_METHOD, FORM, FakeSlack, FakeUser, Fault, Input, SlackSigner, block_actions_body, request_form_submission_body,
    slash_command_body,
};
use std::time::{Duration, Instant};

const SLACK_LATENCY: Duration = Duration::from_millis(300);
const REQUESTERS: usize = 20;

struct Timings(Vec<Duration>);

impl Timings {
    fn row(&mut self, what: &str) {
        self.0.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let p50 = self.0[self.0.len() / 2];
        let max = *self.0.last().unwrap();
        println!("| {what} | {} | {:.0} ms | {:.0} ms |", self.0.len(), ms(p50), ms(max));
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut users = vec![FakeUser::new("U0BOB", "bob@example.com", "Bob")];
    users.extend((0..REQUESTERS).map(|i| FakeUser::new(&format!("U0R{i:03}"), &format!("r{i}@example.com"), "R")));
    let slack = FakeSlack::start(users, vec![]).await;
    slack.fault_always(ANY_METHOD, Fault::Delay(SLACK_LATENCY));
    let settings = support::local_settings(
        Config::from_yaml(airlock_core::config::EXAMPLE_CONFIG).unwrap(),
        StoreKind::Memory,
        slack.base_url(),
    );
    let app = LocalApp::build(settings).await.unwrap();
    let airlock = app.airlock.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(app.serve(listener, std::future::pending()));
    let http = reqwest::Client::new();
    let post = |path: &'static str, body: String| {
        let request = http
            .post(format!("{base}{path}"))
            .headers(SlackSigner::new(SECRET).header_map(body.as_bytes(), FORM))
            .body(body);
        async move {
            let started = Instant::now();
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.bytes().await.unwrap();
            started.elapsed()
        }
    };

    let (mut commands, mut submissions, mut clicks) = (Timings(vec![]), Timings(vec![]), Timings(vec![]));
    for i in 0..REQUESTERS {
        let user = format!("U0R{i:03}");
        commands
            .0
            .push(post("/slack/commands", slash_command_body("/access", "aws-prod", &user, &format!("t{i}"))).await);
        let inputs = [
            ("target", Input::Select("prod-admin".into())),
            ("duration", Input::Select("1h".into())),
            ("reason", Input::Text(format!("bench {i}"))),
            ("field:urgency", Input::Select("Normal".into())),
        ];
        submissions.0.push(post("/slack/interactions", request_form_submission_body(&user, "aws-prod", &inputs)).await);
    }
    for i in 0..REQUESTERS {
        let email = format!("r{i}@example.com");
        let id = loop {
            let pending = airlock.list_requests(&email, Some(Status::Pending), 1).await.unwrap();
            match pending.first() {
                Some(r) if r.cards_queued() => break r.id().clone(),
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        };
        let click = block_actions_body("U0BOB", "approve", id.as_str(), "C0APPROVALS", "1.1");
        clicks.0.push(post("/slack/interactions", click).await);
    }
    println!("Slack answers every Web API call in {} ms; {REQUESTERS} of each:\n", SLACK_LATENCY.as_millis());
    println!("| request | n | median ack | slowest ack |\n|---|---|---|---|");
    commands.row("`/access aws-prod` (users.info + views.open)");
    submissions.row("form submission (view_submission)");
    clicks.row("Approve click (block_actions)");
}
