//! The end-to-end harness: [`TestApp::spawn`] runs the real local assembly (`airlock serve`'s) on a
//! loopback port over a SQLite file, with a fake Slack Web API and a webhook receiver, and offers
//! helpers that speak to it the way Slack and API clients do.

pub use airlock_testkit::hooks;

use airlock_cli::app::LocalApp;
use airlock_cli::settings::{Settings, StoreKind};
use airlock_core::{Config, RequestId, Status};
use airlock_http::ApiTokens;
pub use airlock_testkit::slack::{FORM, Input, JSON};
use airlock_testkit::slack::{FakeSlack, FakeUser, SlackCall, SlackSigner, request_form_submission_body};
use hooks::HookReceiver;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SIGNING_SECRET: &str = "e2e-signing-secret";
pub const API_TOKEN: &str = "e2e-api-token";
/// A token named `ci` with the submit and read scopes: it may cancel, revoke or extend only the
/// requests it submitted.
pub const SUBMIT_TOKEN: &str = "e2e-ci-token";
/// A token named `other` with the submit scope only.
pub const OTHER_SUBMIT_TOKEN: &str = "e2e-other-token";
pub const HOOK_SECRET_ENV: &str = "AIRLOCK_E2E_HOOK_SECRET";
pub const HOOK_SECRET: &str = "e2e-hook-secret";

/// Carol: a member who requests.
pub const CAROL: &str = "U0CAROL";
/// Bob: the listed approver of `prod`.
pub const BOB: &str = "U0BOB";
/// Dave: a member who is not an approver.
pub const DAVE: &str = "U0DAVE";
/// Gina: a guest (outside the organization's domains).
pub const GINA: &str = "U0GINA";
/// Alice: an admin.
pub const ALICE: &str = "U0ALICE";
/// Erin: a member, in the Slack user group [`SRE`].
pub const ERIN: &str = "U0ERIN";
/// A Slack user group whose one member is Erin.
pub const SRE: &str = "S0SRE";
pub const APPROVALS: &str = "C0APPROVALS";

/// How long the e2e server retries an escalation before the grant fails (the product's default is
/// minutes; tests of a failing target should not wait that long).
pub const ESCALATION_BUDGET: Duration = Duration::from_secs(15);

/// How long to wait for something that happens right away (the runner is asynchronous).
pub const SOON: Duration = Duration::from_secs(10);

fn config_yaml(hook_url: &str, tickets_url: &str) -> String {
    format!(
        r#"
organization:
  primary_domain: example.com
  admins: [alice@example.com]
slack:
  command: /access
  audit_channel: C0AUDIT
flows:
  - name: prod
    label: Production
    approvers:
      users: [bob@example.com]
      channel: {APPROVALS}
    durations: [2s, 1h]
    max_duration: 4h
    approval_timeout: 1h
    targets:
      - name: prod-admin
        label: Prod admin
        kind: record
      - name: billing
        label: Billing console
        kind: webhook
        url: {hook_url}
        secret_env: {HOOK_SECRET_ENV}
    fields:
      - name: urgency
        label: Urgency
        type: select
        allowed_values: [Normal, Emergency]
      - name: ticket
        label: Ticket
        type: select
        prefetch: {{ url: {tickets_url} }}
    rules:
      auto_approve: 'fields.urgency == "Emergency"'
  - name: sandbox
    label: Sandbox
    approvers:
      users: [carol@example.com]
    allow_self_approval: true
    durations: [1h]
    max_duration: 1h
    targets:
      - name: sandbox-admin
        label: Sandbox admin
        kind: record
"#
    )
}

/// A running Airlock with its fake Slack and webhook receiver.
pub struct TestApp {
    pub base: String,
    pub slack: FakeSlack,
    pub hooks: HookReceiver,
    pub http: reqwest::Client,
    pub app: airlock_core::Airlock,
    config: Config,
    store: StoreKind,
    escalation_budget: Duration,
    _dir: tempfile::TempDir,
    server: Option<Server>,
}

impl TestApp {
    /// The standard app: the e2e config on a SQLite file.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|hooks| config_yaml(&hooks.url(), &hooks.tickets_url()), None).await
    }

    /// An app on the config `config` makes (given the webhook receiver) and `store` (default: a
    /// fresh SQLite file).
    pub async fn spawn_with(config: impl FnOnce(&HookReceiver) -> String, store: Option<StoreKind>) -> TestApp {
        Self::spawn_with_budget(config, store, ESCALATION_BUDGET).await
    }

    /// [`Self::spawn_with`], retrying a grant that fails transiently for `escalation_budget`
    /// (`AIRLOCK_ESCALATION_RETRY`) instead of [`ESCALATION_BUDGET`].
    pub async fn spawn_with_budget(
        config: impl FnOnce(&HookReceiver) -> String,
        store: Option<StoreKind>,
        escalation_budget: Duration,
    ) -> TestApp {
        airlock_cli::telemetry::init("off");
        // SAFETY: every test sets the same constant; no thread reads it while it changes value.
        unsafe { std::env::set_var(HOOK_SECRET_ENV, HOOK_SECRET) };
        let slack = FakeSlack::start(
            vec![
                FakeUser::new(CAROL, "carol@example.com", "Carol"),
                FakeUser::new(BOB, "bob@example.com", "Bob"),
                FakeUser::new(DAVE, "dave@example.com", "Dave"),
                FakeUser::new(GINA, "gina@gmail.com", "Gina"),
                FakeUser::new(ALICE, "alice@example.com", "Alice"),
                FakeUser::new(ERIN, "erin@example.com", "Erin"),
            ],
            vec![(SRE.into(), vec![ERIN.into()])],
        )
        .await;
        let hooks = HookReceiver::start(HOOK_SECRET).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store.unwrap_or_else(|| StoreKind::Sqlite(dir.path().join("airlock.db")));
        let config = Config::from_yaml(&config(&hooks)).expect("the e2e config is valid");
        let settings = Settings { escalation_budget, ..settings(&slack, &config, &store) };
        let (app, base, server) = launch(settings).await;
        TestApp {
            base,
            slack,
            hooks,
            http: reqwest::Client::new(),
            app,
            config,
            store,
            escalation_budget,
            _dir: dir,
            server: Some(server),
        }
    }

    /// Stops the server (as a crash or deploy would) and starts a new one on the same store.
    pub async fn restart(&mut self) {
        self.stop().await;
        let settings =
            Settings { escalation_budget: self.escalation_budget, ..settings(&self.slack, &self.config, &self.store) };
        let (app, base, server) = launch(settings).await;
        (self.app, self.base, self.server) = (app, base, Some(server));
    }

    pub async fn stop(&mut self) {
        if let Some((stop, server)) = self.server.take() {
            let _ = stop.send(());
            server.await.expect("server task").expect("server ran");
        }
    }

    /// POSTs `body` to a Slack route, signed as Slack signs it.
    pub async fn slack_post(&self, path: &str, body: &str, content_type: &str) -> reqwest::Response {
        let headers = SlackSigner::new(SIGNING_SECRET).header_map(body.as_bytes(), content_type);
        self.http.post(format!("{}{path}", self.base)).headers(headers).body(body.to_string()).send().await.unwrap()
    }

    /// Submits the request form of `flow` as `user` and returns Slack's view of the answer (JSON, or
    /// `null` for an empty ack).
    pub async fn submit_form(&self, user: &str, flow: &str, inputs: &[(&str, Input)]) -> serde_json::Value {
        let body = request_form_submission_body(user, flow, inputs);
        let response = self.slack_post("/slack/interactions", &body, FORM).await;
        assert_eq!(response.status(), 200, "view_submission answered {}", response.status());
        let text = response.text().await.unwrap();
        if text.is_empty() { serde_json::Value::Null } else { serde_json::from_str(&text).unwrap() }
    }

    /// Carol asks for `target` on `prod` for `duration` and the id of her new request.
    pub async fn request_prod(&self, user: &str, target: &str, duration: &str, urgency: &str) -> RequestId {
        let before = self.app.list_requests(&email_of(user), None, 100).await.unwrap().len();
        let answer = self
            .submit_form(
                user,
                "prod",
                &[
                    ("target", Input::Select(target.into())),
                    ("duration", Input::Select(duration.into())),
                    ("reason", Input::Text("incident INC-7".into())),
                    ("field:urgency", Input::Select(urgency.into())),
                ],
            )
            .await;
        assert_eq!(answer["response_action"], "clear", "the form was not accepted: {answer}");
        let mine = self.app.list_requests(&email_of(user), None, 100).await.unwrap();
        assert_eq!(mine.len(), before + 1, "one new request");
        mine[0].id().clone()
    }

    /// Clicks `action` (`approve` / `deny`) on the request's card as `user`; as an approver would,
    /// only once a card of a pending request has been posted.
    pub async fn click(&self, user: &str, action: &str, id: &RequestId) -> reqwest::Response {
        if self.status_of(id).await == Status::Pending {
            let card_of =
                |c: &SlackCall| c.text().contains(id.as_str()) && c.text().contains(r#""action_id":"approve""#);
            self.slack.wait_for("chat.postMessage", card_of, SOON).await;
        }
        let body =
            airlock_testkit::slack::block_actions_body(user, action, id.as_str(), APPROVALS, "1700000000.000100");
        self.slack_post("/slack/interactions", &body, FORM).await
    }

    pub async fn status_of(&self, id: &RequestId) -> Status {
        self.app.get_request(id).await.unwrap().status()
    }

    /// Waits until the request reaches `status`; panics with the status it is stuck in.
    pub async fn wait_status(&self, id: &RequestId, status: Status, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let now = self.status_of(id).await;
            if now == status {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{id} is {now}, expected {status} within {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for a DM (chat.postMessage to the user's DM channel) containing `needle`.
    pub async fn dm(&self, user: &str, needle: &str) -> SlackCall {
        let dm_channel = format!("D{user}");
        let to_user = |c: &SlackCall| c.arg("channel").is_some_and(|ch| ch == user || ch == dm_channel);
        self.slack.wait_for("chat.postMessage", |c| to_user(c) && c.text().contains(needle), SOON).await
    }

    /// Clicks `action` (e.g. `cancel_request`, `revoke_request`) for the request as `user` on a
    /// message in `channel` (`D<user>` for the requester's DM, [`APPROVALS`] for the card).
    pub async fn click_in(&self, user: &str, action: &str, id: &RequestId, channel: &str) -> reqwest::Response {
        let body = airlock_testkit::slack::block_actions_body(user, action, id.as_str(), channel, "1700000000.000200");
        self.slack_post("/slack/interactions", &body, FORM).await
    }

    /// Clicks `action` for the request as `user` on their App Home.
    pub async fn click_home(&self, user: &str, action: &str, id: &RequestId) -> reqwest::Response {
        let body = airlock_testkit::slack::home_block_actions_body(user, action, id.as_str());
        self.slack_post("/slack/interactions", &body, FORM).await
    }

    /// Waits for an App Home published to `user` (views.publish) that matches `predicate`.
    pub async fn home(&self, user: &str, predicate: impl Fn(&SlackCall) -> bool) -> SlackCall {
        self.slack.wait_for("views.publish", |c| c.arg("user_id") == Some(user) && predicate(c), SOON).await
    }

    /// A `/api/v1` call with the API token.
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base)).bearer_auth(API_TOKEN)
    }
}

type Server = (oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>);

fn settings(slack: &FakeSlack, config: &Config, store: &StoreKind) -> Settings {
    Settings {
        config: config.clone(),
        config_source: "e2e".into(),
        addr: "127.0.0.1:0".parse().unwrap(),
        store: store.clone(),
        api_tokens: ApiTokens::parse(&format!(
            "{API_TOKEN} ci:{SUBMIT_TOKEN}:submit,read other:{OTHER_SUBMIT_TOKEN}:submit"
        ))
        .expect("a valid token list"),
        signing_secret: SIGNING_SECRET.into(),
        bot_token: "xoxb-e2e".into(),
        slack_api_url: slack.base_url(),
        sweep_interval: Duration::from_secs(3600),
        escalation_budget: ESCALATION_BUDGET,
    }
}

/// Builds the local assembly and serves it on a fresh loopback port.
async fn launch(settings: Settings) -> (airlock_core::Airlock, String, Server) {
    let local = LocalApp::build(settings).await.expect("the app builds");
    let airlock = local.airlock.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(local.serve(listener, async {
        let _ = stopped.await;
    }));
    (airlock, base, (stop, server))
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((stop, _)) = self.server.take() {
            let _ = stop.send(());
        }
    }
}

/// The buttons of a message or view sent to Slack (a call's `blocks`, or its `view`'s), as
/// (visible text, action_id, value), in order: how a person (or a check) finds a button.
pub fn buttons(call: &SlackCall) -> Vec<(String, String, String)> {
    let blocks = call.body.get("blocks").or_else(|| call.body.get("view").and_then(|v| v.get("blocks")));
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    blocks
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["type"] == "button")
        .map(|e| (text(&e["text"]["text"]), text(&e["action_id"]), text(&e["value"])))
        .collect()
}

/// The button with visible text `label` whose value is `id` in `call`, as its action id.
pub fn button(call: &SlackCall, label: &str, id: &RequestId) -> Option<String> {
    buttons(call)
        .into_iter()
        .find(|(text, _, value)| text == label && value == id.as_str())
        .map(|(_, action, _)| action)
}

pub fn email_of(user: &str) -> String {
    format!(
        "{}@{}",
        user.trim_start_matches("U0").to_ascii_lowercase(),
        if user == GINA { "gmail.com" } else { "example.com" }
    )
}
