//! `airlock demo`: a self-contained tour. It serves the real router on a loopback port over an
//! in-memory store, points it at an in-process fake Slack, then plays Carol (requester) and Bob
//! (approver) through request, approval, a 10-second grant and its expiry, printing what each person
//! would see in Slack and, at the end, the audit trail.

pub mod render;

use crate::app::LocalApp;
use crate::settings::{Settings, StoreKind};
use airlock_core::{Config, RequestId};
use airlock_http::ApiTokens;
use airlock_slack::sim::{
    FORM, FakeSlack, FakeUser, Input, SlackCall, SlackSigner, block_actions_body, request_form_submission_body,
    slash_command_body,
};
use anyhow::{Context, anyhow};
use render::Names;
use std::time::Duration;

const CONFIG: &str = include_str!("demo.yaml");
const SIGNING_SECRET: &str = "demo-signing-secret";
const CAROL: &str = "U0CAROL";
const BOB: &str = "U0BOB";
const NAMES: &[(&str, &str)] = &[
    (CAROL, "Carol"),
    (BOB, "Bob"),
    ("U0ALICE", "Alice"),
    ("DU0CAROL", "Carol"),
    ("DU0BOB", "Bob"),
    ("C0APPROVALS", "approvals"),
    ("C0AUDIT", "audit"),
];

/// Runs the tour; fails if any step does not happen as it should.
pub async fn run() -> anyhow::Result<()> {
    let slack = FakeSlack::try_start(
        vec![
            FakeUser::new(CAROL, "carol@example.com", "Carol"),
            FakeUser::new(BOB, "bob@example.com", "Bob"),
            FakeUser::new("U0ALICE", "alice@example.com", "Alice"),
        ],
        vec![],
    )
    .await
    .context("cannot start the simulated Slack")?;
    let settings = Settings {
        config: Config::from_yaml(CONFIG)?,
        config_source: "demo".into(),
        addr: "127.0.0.1:0".parse()?,
        store: StoreKind::Memory,
        api_tokens: ApiTokens::default(),
        signing_secret: SIGNING_SECRET.into(),
        bot_token: "xoxb-demo".into(),
        slack_api_url: slack.base_url(),
        sweep_interval: Duration::from_secs(60),
        escalation_budget: airlock_local::DEFAULT_ESCALATION_BUDGET,
    };
    let app = LocalApp::build(settings).await?;
    let airlock = app.airlock.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));

    let mut tour = Tour { slack: &slack, http: reqwest::Client::new(), base, seen: 0 };
    println!("Airlock demo: Carol needs admin in the sandbox; Bob approves. Everything below is what");
    println!("they would see in Slack, sent by the real server to a fake Slack on this machine.\n");

    tour.say("Carol types `/access sandbox` in Slack");
    tour.post("/slack/commands", slash_command_body("/access", "sandbox", CAROL, "trigger-demo-1")).await?;
    tour.expect("views.open", |_| true).await?;

    tour.say("Carol picks the target, 10 seconds, gives a reason and submits");
    let form = request_form_submission_body(
        CAROL,
        "sandbox",
        &[
            ("target", Input::Select("sandbox-admin".into())),
            ("duration", Input::Select("10s".into())),
            ("reason", Input::Text("Rotate the sandbox KMS key (INC-42)".into())),
            ("field:ticket", Input::Text("INC-42".into())),
        ],
    );
    tour.post("/slack/interactions", form).await?;
    let card = tour.expect("chat.postMessage", |c| c.arg("channel") == Some("C0APPROVALS")).await?;
    let id = request_id_in(&card)?;

    tour.say("Bob clicks Approve on the card");
    tour.post("/slack/interactions", block_actions_body(BOB, "approve", id.as_str(), "C0APPROVALS", "1.000001"))
        .await?;
    tour.expect("chat.postMessage", |c| {
        matches!(c.arg("channel"), Some("DU0CAROL" | "U0CAROL")) && c.text().contains("until")
    })
    .await?;

    tour.say("Ten seconds pass; nobody has to remember to remove the access");
    tour.expect_within(
        "chat.postMessage",
        |c| matches!(c.arg("channel"), Some("DU0CAROL" | "U0CAROL")) && c.text().contains("xpired"),
        30,
    )
    .await?;

    println!("\n▶ The audit trail of {id}");
    for e in airlock.audit_trail(&id).await? {
        let from = e.from.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
        println!("   {}  {:<18} {:>9} → {:<9} by {}", e.at.format("%H:%M:%S"), e.action, from, e.to, e.actor);
    }
    let request = airlock.get_request(&id).await?;
    println!("\nFinal status: {}. Run `airlock serve` to point a real Slack app at it (see README).", request.status());
    let _ = stop.send(());
    server.await.context("the demo server panicked")??;
    Ok(())
}

struct Tour<'a> {
    slack: &'a FakeSlack,
    http: reqwest::Client,
    base: String,
    /// How many Slack calls have been printed.
    seen: usize,
}

impl Tour<'_> {
    fn say(&self, what: &str) {
        println!("\n▶ {what}");
    }

    /// Sends a signed Slack request, as Slack would.
    async fn post(&self, path: &str, body: String) -> anyhow::Result<()> {
        let headers = SlackSigner::new(SIGNING_SECRET).header_map(body.as_bytes(), FORM);
        let response = self.http.post(format!("{}{path}", self.base)).headers(headers).body(body).send().await?;
        let status = response.status();
        if !status.is_success() {
            return Err(anyhow!("{path} answered {status}: {}", response.text().await.unwrap_or_default()));
        }
        Ok(())
    }

    async fn expect(&mut self, method: &str, matches: impl Fn(&SlackCall) -> bool) -> anyhow::Result<SlackCall> {
        self.expect_within(method, matches, 10).await
    }

    /// Waits for a matching Slack call, then prints every call made since the last one printed.
    async fn expect_within(
        &mut self,
        method: &str,
        matches: impl Fn(&SlackCall) -> bool,
        seconds: u64,
    ) -> anyhow::Result<SlackCall> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        let found = loop {
            if let Some(call) = self.slack.calls()[self.seen..].iter().find(|c| c.method == method && matches(c)) {
                break call.clone();
            }
            if tokio::time::Instant::now() > deadline {
                self.print_new();
                return Err(anyhow!("the demo expected a {method} call that never came"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Let the calls made in the same breath (card + DM) arrive before printing.
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.print_new();
        Ok(found)
    }

    fn print_new(&mut self) {
        let calls = self.slack.calls();
        for call in &calls[self.seen..] {
            if let Some(text) = render::call(&Names(NAMES), &call.method, &call.body) {
                println!("{text}");
            }
        }
        self.seen = calls.len();
    }
}

/// The request id carried by an approval card's buttons.
fn request_id_in(card: &SlackCall) -> anyhow::Result<RequestId> {
    let text = card.text();
    let start = text.find("req_").ok_or_else(|| anyhow!("the approval card carries no request id"))?;
    text[start..start + 30].parse().map_err(|e| anyhow!("bad request id on the card: {e}"))
}
