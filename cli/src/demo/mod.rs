//! `airlock demo`: a self-contained tour. It serves the real router on a loopback port over an
//! in-memory store, points it at an in-process fake Slack, then plays Carol (requester) and Bob
//! (approver) through a cancelled request, a request approved with changes (10 seconds instead of
//! 15 minutes), an extension asked for and approved, and the grant's expiry, printing what each
//! person would see in Slack and, at the end, the audit trail.

pub mod render;

use crate::app::LocalApp;
use crate::settings::{Settings, StoreKind};
use airlock_core::{Config, RequestId};
use airlock_http::ApiTokens;
use airlock_slack::sim::{
    FORM, FakeSlack, FakeUser, Input, SlackCall, SlackSigner, approve_with_changes_submission_body, block_actions_body,
    extend_submission_body, request_form_submission_body, slash_command_body,
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

    tour.say("Carol asks for 15 minutes, then thinks better of it and clicks Cancel request in her DM");
    tour.post("/slack/interactions", form(CAROL, "Rotate the sandbox KMS key")).await?;
    let card = tour.expect("chat.postMessage", |c| c.arg("channel") == Some("C0APPROVALS")).await?;
    let first = request_id_in(&card)?;
    tour.post("/slack/interactions", block_actions_body(CAROL, "cancel_request", first.as_str(), "DU0CAROL", "1.1"))
        .await?;
    tour.expect("chat.update", |c| c.text().contains("ancelled")).await?;

    tour.say("She asks again, with the ticket; Bob clicks Approve with changes and grants 10 seconds");
    tour.post("/slack/interactions", form(CAROL, "Rotate the sandbox KMS key (INC-42)")).await?;
    let card = tour.expect("chat.postMessage", |c| c.arg("channel") == Some("C0APPROVALS")).await?;
    let id = request_id_in(&card)?;
    tour.post(
        "/slack/interactions",
        block_actions_body(BOB, "approve_with_changes", id.as_str(), "C0APPROVALS", "1.2"),
    )
    .await?;
    tour.expect("views.open", |_| true).await?;
    let changes = approve_with_changes_submission_body(BOB, id.as_str(), "10s", "10 seconds is plenty for a rotation");
    tour.post("/slack/interactions", changes).await?;
    tour.expect("chat.postMessage", |c| is_carols_dm(c) && c.text().contains("until")).await?;

    tour.say("The rotation runs long: Carol clicks Extend in her DM and asks for 10 more seconds");
    tour.post("/slack/interactions", block_actions_body(CAROL, "extend_request", id.as_str(), "DU0CAROL", "1.3"))
        .await?;
    tour.expect("views.open", |_| true).await?;
    let extend = extend_submission_body(CAROL, id.as_str(), "10s", "The rotation is still running");
    tour.post("/slack/interactions", extend).await?;
    tour.expect("chat.postMessage", |c| c.arg("channel") == Some("C0APPROVALS") && c.text().contains("Extension"))
        .await?;

    tour.say("Bob clicks Approve extension on the new card");
    tour.post("/slack/interactions", block_actions_body(BOB, "approve_extension", id.as_str(), "C0APPROVALS", "1.4"))
        .await?;
    tour.expect("chat.postMessage", |c| is_carols_dm(c) && c.text().contains("extended")).await?;

    tour.say("The time passes; nobody has to remember to remove the access");
    tour.expect_within("chat.postMessage", |c| is_carols_dm(c) && c.text().contains("xpired"), 40).await?;

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
        // App Homes are republished on every change; the tour shows the messages.
        for call in calls[self.seen..].iter().filter(|c| c.method != "views.publish") {
            if let Some(text) = render::call(&Names(NAMES), &call.method, &call.body) {
                println!("{text}");
            }
        }
        self.seen = calls.len();
    }
}

/// Carol's submission of the sandbox form: 15 minutes, `reason`, ticket INC-42.
fn form(user: &str, reason: &str) -> String {
    request_form_submission_body(
        user,
        "sandbox",
        &[
            ("target", Input::Select("sandbox-admin".into())),
            ("duration", Input::Select("15m".into())),
            ("reason", Input::Text(reason.into())),
            ("field:ticket", Input::Text("INC-42".into())),
        ],
    )
}

/// A message to Carol (her DM).
fn is_carols_dm(call: &SlackCall) -> bool {
    matches!(call.arg("channel"), Some("DU0CAROL" | CAROL))
}

/// The request id carried by an approval card's buttons.
fn request_id_in(card: &SlackCall) -> anyhow::Result<RequestId> {
    let text = card.text();
    let start = text.find("req_").ok_or_else(|| anyhow!("the approval card carries no request id"))?;
    text[start..start + 30].parse().map_err(|e| anyhow!("bad request id on the card: {e}"))
}
