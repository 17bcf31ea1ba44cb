//! Cancelling a pending request: through the API (the token that submitted it, or a token with the
//! revoke or admin scope), by the requester or an admin, and what happens to the workflow waiting
//! for the decision (it ends; a later click changes nothing and grants nothing).

use airlock_cli::app::LocalApp;
use airlock_cli::settings::{Settings, StoreKind};
use airlock_core::error::{ChangeRefusal, GrantChangeError};
use airlock_core::services::{StepOutcome, SubmitInput};
use airlock_core::workflow::State;
use airlock_core::{Actor, AuditAction, Config, Decision, RequestId, Route, Status, StepCall, StepName, WorkflowState};
use airlock_e2e::hooks::HookReceiver;
use airlock_e2e::*;
use airlock_http::ApiTokens;
use airlock_testkit::harness::Harness;
use airlock_testkit::slack::{FakeSlack, FakeUser, SlackSigner, block_actions_body, request_form_submission_body};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::oneshot;

/// Tokens: `ci` submits and reads, `other` only submits, `revoker` may revoke (so cancel anything),
/// `ops` is an admin token, `reader` only reads.
const TOKENS: &str =
    "ci:T-ci:submit,read other:T-other:submit revoker:T-revoker:revoke ops:T-ops:admin reader:T-read:read";

/// The states a request's execution entered, from the local runner.
type History = Box<dyn Fn(&RequestId) -> Vec<StepName> + Send + Sync>;

/// The local server with [`TOKENS`], its runner's history, a fake Slack and a webhook receiver.
struct App {
    base: String,
    http: reqwest::Client,
    slack: FakeSlack,
    hooks: HookReceiver,
    airlock: airlock_core::Airlock,
    history: History,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl App {
    async fn start() -> App {
        airlock_cli::telemetry::init("off");
        // SAFETY: every e2e test sets the same constant; no thread reads it while it changes value.
        unsafe { std::env::set_var(HOOK_SECRET_ENV, HOOK_SECRET) };
        let slack = FakeSlack::start(
            vec![
                FakeUser::new(CAROL, "carol@example.com", "Carol"),
                FakeUser::new(BOB, "bob@example.com", "Bob"),
                FakeUser::new(ALICE, "alice@example.com", "Alice"),
            ],
            vec![],
        )
        .await;
        let hooks = HookReceiver::start(HOOK_SECRET).await;
        let config = format!(
            "organization:
  primary_domain: example.com
  admins: [alice@example.com]
flows:
  - name: prod
    label: Production
    approvers:
      users: [bob@example.com]
      channel: {APPROVALS}
    durations: [1h]
    max_duration: 1h
    targets:
      - name: billing
        label: Billing console
        kind: webhook
        url: {}
        secret_env: {HOOK_SECRET_ENV}
",
            hooks.url()
        );
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            config: Config::from_yaml(&config).unwrap(),
            config_source: "cancel e2e".into(),
            addr: "127.0.0.1:0".parse().unwrap(),
            store: StoreKind::Sqlite(dir.path().join("airlock.db")),
            api_tokens: ApiTokens::parse(TOKENS).unwrap(),
            signing_secret: SIGNING_SECRET.into(),
            bot_token: "xoxb-e2e".into(),
            slack_api_url: slack.base_url(),
            sweep_interval: Duration::from_secs(3600),
            escalation_budget: ESCALATION_BUDGET,
        };
        let local = LocalApp::build(settings).await.unwrap();
        let airlock = local.airlock.clone();
        let runner = local.runner.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(local.serve(listener, async {
            let _ = stopped.await;
        }));
        App {
            base,
            http: reqwest::Client::new(),
            slack,
            hooks,
            airlock,
            history: Box::new(move |id| runner.history(id)),
            stop: Some(stop),
            _dir: dir,
        }
    }

    fn api(&self, token: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base)).bearer_auth(token)
    }

    /// Carol's request for billing, created with `token`.
    async fn create(&self, token: &str) -> RequestId {
        let body = json!({"requester": "carol@example.com", "flow": "prod", "target": "billing", "duration": "1h",
                          "reason": "INC-9"});
        let created = self.api(token, Method::POST, "/api/v1/requests").json(&body).send().await.unwrap();
        assert_eq!(created.status(), 202);
        created.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap()
    }

    async fn cancel(&self, token: &str, id: &RequestId, body: Option<Value>) -> (u16, Value) {
        let mut call = self.api(token, Method::POST, &format!("/api/v1/requests/{id}/cancel"));
        if let Some(body) = body {
            call = call.json(&body);
        }
        let answer = call.send().await.unwrap();
        (answer.status().as_u16(), answer.json().await.unwrap())
    }

    async fn slack_post(&self, body: &str) -> reqwest::Response {
        let headers = SlackSigner::new(SIGNING_SECRET).header_map(body.as_bytes(), FORM);
        self.http
            .post(format!("{}/slack/interactions", self.base))
            .headers(headers)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    async fn status_of(&self, id: &RequestId) -> Status {
        self.airlock.get_request(id).await.unwrap().status()
    }

    /// Waits until the request's execution has entered `Done`; its states.
    async fn execution_done(&self, id: &RequestId) -> Vec<StepName> {
        let deadline = tokio::time::Instant::now() + SOON;
        loop {
            let states = (self.history)(id);
            if states.last() == Some(&StepName::Done) {
                return states;
            }
            assert!(tokio::time::Instant::now() < deadline, "the execution of {id} did not end: {states:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_submitting_token_cancels_its_request_with_a_reason() {
    let app = App::start().await;
    let id = app.create("T-ci").await;
    let (status, cancelled) = app.cancel("T-ci", &id, Some(json!({"reason": "  wrong ticket  "}))).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["decided_by"], json!({"type": "system", "name": "api:ci"}));
    assert_eq!(cancelled["decision_note"], "wrong ticket");
    let trail = app.airlock.audit_trail(&id).await.unwrap();
    let actions: Vec<(AuditAction, &Actor)> = trail.iter().map(|e| (e.action, &e.actor)).collect();
    let ci = Actor::system("api:ci");
    assert_eq!(actions, [(AuditAction::Submitted, &ci), (AuditAction::Cancelled, &ci)], "the token is the actor");
    assert_eq!(app.execution_done(&id).await.last(), Some(&StepName::Done));

    let (status, again) = app.cancel("T-ci", &id, None).await;
    assert_eq!((status, again["error"]["code"].as_str()), (409, Some("conflict")), "{again}");
    assert!(again["error"]["message"].as_str().unwrap().contains("already cancelled"), "{again}");
    let missing = RequestId::generate();
    let (status, unknown) = app.cancel("T-ops", &missing, None).await;
    assert_eq!((status, unknown["error"]["code"].as_str()), (404, Some("not_found")), "{unknown}");
    let (status, bad) = app.cancel("T-ci", &id, Some(json!({"colour": "red"}))).await;
    assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("bad_request")), "{bad}");
}

#[tokio::test(flavor = "multi_thread")]
async fn another_token_is_refused_and_revoke_or_admin_tokens_cancel_any_request() {
    let app = App::start().await;
    let first = app.create("T-ci").await;
    for token in ["T-other", "T-read"] {
        let (status, refused) = app.cancel(token, &first, None).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("forbidden")), "{token}: {refused}");
    }
    let (status, _) = app.cancel("wrong", &first, None).await;
    assert_eq!(status, 401);
    assert_eq!(app.status_of(&first).await, Status::Pending, "nothing changed");

    let (status, cancelled) = app.cancel("T-ops", &first, None).await;
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("cancelled")), "{cancelled}");
    assert_eq!(cancelled["decided_by"]["name"], "api:ops");
    app.execution_done(&first).await;

    let second = app.create("T-other").await;
    let (status, cancelled) = app.cancel("T-revoker", &second, Some(json!({}))).await;
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("cancelled")), "{cancelled}");
    assert_eq!(cancelled["decision_note"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_before_the_decision_ends_the_workflow_and_a_late_approval_grants_nothing() {
    let app = App::start().await;
    let form = request_form_submission_body(
        CAROL,
        "prod",
        &[
            ("target", Input::Select("billing".into())),
            ("duration", Input::Select("1h".into())),
            ("reason", Input::Text("INC-9".into())),
        ],
    );
    let answer: Value = app.slack_post(&form).await.json().await.unwrap();
    assert_eq!(answer["response_action"], "clear", "{answer}");
    let id = app.airlock.list_requests("carol@example.com", None, 1).await.unwrap()[0].id().clone();
    // The approvers' card is out: the execution is parked on its decision.
    let card_of = |c: &airlock_testkit::slack::SlackCall| {
        c.arg("channel") == Some(APPROVALS) && c.text().contains(id.as_str()) && c.text().contains("approve")
    };
    app.slack.wait_for("chat.postMessage", card_of, SOON).await;

    let (status, cancelled) = app.cancel("T-ops", &id, Some(json!({"reason": "not needed any more"}))).await;
    assert_eq!(status, 200, "{cancelled}");
    let states = app.execution_done(&id).await;
    assert_eq!(
        states,
        [StepName::Request, StepName::Route, StepName::AwaitDecision, StepName::Decided, StepName::Done],
        "nothing waits on the cancelled request"
    );
    let updated = app.slack.wait_for("chat.update", |c| c.text().contains("Cancelled by"), SOON).await;
    assert!(updated.text().contains("not needed any more"), "the card says why: {}", updated.text());
    assert!(!updated.text().contains(r#""action_id":"approve""#), "the Approve button is gone");

    let click = block_actions_body(BOB, "approve", id.as_str(), APPROVALS, "1700000000.000100");
    assert_eq!(app.slack_post(&click).await.status(), 200);
    let notice = app
        .slack
        .wait_for("chat.postEphemeral", |c| c.arg("user") == Some(BOB) && c.text().contains("Nothing changed"), SOON)
        .await;
    assert!(notice.text().contains("Cancelled by"), "the approver is told why: {}", notice.text());
    assert_eq!(app.status_of(&id).await, Status::Cancelled);
    assert_eq!(app.hooks.count("escalate", id.as_str()), 0, "no grant");
    let trail: Vec<AuditAction> = app.airlock.audit_trail(&id).await.unwrap().iter().map(|e| e.action).collect();
    assert_eq!(trail, [AuditAction::Submitted, AuditAction::Cancelled]);
    assert_eq!((app.history)(&id), states, "the click started nothing");
}

fn input(flow: &str, target: &str) -> SubmitInput {
    SubmitInput {
        flow: flow.into(),
        target: Some(target.into()),
        duration: Some("15m".into()),
        reason: "deploy".into(),
        fields: [("urgency".to_string(), json!("Normal"))].into(),
        ..SubmitInput::default()
    }
}

/// Where the Choice state `choice` sends `state`.
fn choose(choice: StepName, state: &WorkflowState) -> StepName {
    match choice.state() {
        State::Choice(c) => c.choose(state),
        other => panic!("{} is no choice: {other:?}", choice.as_str()),
    }
}

async fn step(h: &Harness, step: StepName, state: &WorkflowState, token: Option<&str>) -> WorkflowState {
    let call = StepCall { step, state: state.clone(), task_token: token.map(String::from) };
    match h.airlock.steps().run(call).await.unwrap() {
        StepOutcome::Next(next) => next,
        StepOutcome::Waiting => panic!("{} parked on a cancelled request", step.as_str()),
    }
}

#[tokio::test]
async fn the_requester_or_an_admin_cancels_and_the_steps_end_on_a_request_cancelled_before_they_ran() {
    let h = Harness::new();
    let who = |id: &'static str| h.airlock.identify_slack_user(id);
    let (alice, bob, carol) = (who("U1").await.unwrap(), who("U2").await.unwrap(), who("U3").await.unwrap());

    let request = h.airlock.submit(&carol, input("aws-prod", "prod-admin")).await.unwrap();
    let refused = h.airlock.cancel(request.id(), &bob, None).await.unwrap_err();
    assert_eq!(refused, GrantChangeError::NotAllowed(ChangeRefusal::Cancel), "an approver who is no admin");
    let cancelled = h.airlock.cancel(request.id(), &alice, Some("duplicate of INC-8".into())).await.unwrap();
    assert_eq!(cancelled.status(), Status::Cancelled);
    assert_eq!(cancelled.decided_by(), Some(&Actor::User { email: alice.email.clone(), slack_id: Some("U1".into()) }));
    assert_eq!(cancelled.decision_note(), Some("duplicate of INC-8"));
    assert!(h.workflow.decisions().is_empty(), "no execution parked yet: nothing to release");

    // The execution started before the cancel runs its steps only now: each ends it.
    let start = h.workflow.started()[0].clone();
    let routed = step(&h, StepName::Request, &start, None).await;
    assert_eq!(routed.route, Some(Route::AutoDenied));
    assert_eq!(choose(StepName::Route, &routed), StepName::Done);
    let awaiting = WorkflowState { route: Some(Route::NeedsApproval), ..start.clone() };
    let decided = step(&h, StepName::AwaitDecision, &awaiting, Some("token-1")).await;
    assert_eq!(decided.decision, Some(Decision::Cancelled));
    assert_eq!(choose(StepName::Decided, &decided), StepName::Done);
    let stored = h.airlock.get_request(request.id()).await.unwrap();
    assert!(stored.task_token().is_none() && !stored.cards_queued(), "no card goes out for a cancelled request");

    // The requester cancels their own; once parked, the decision is handed to the waiting task.
    let mine = h.airlock.submit(&carol, input("aws-prod", "prod-readonly")).await.unwrap();
    let parked = WorkflowState { route: Some(Route::NeedsApproval), ..h.workflow.started()[1].clone() };
    let call = StepCall { step: StepName::AwaitDecision, state: parked, task_token: Some("token-2".into()) };
    assert_eq!(h.airlock.steps().run(call).await.unwrap(), StepOutcome::Waiting);
    h.airlock.cancel(mine.id(), &carol, None).await.unwrap();
    let sent = h.workflow.decisions();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].0.as_str(), sent[0].1.decision), ("token-2", Some(Decision::Cancelled)));
    let late = h.airlock.cancel(mine.id(), &carol, None).await.unwrap_err();
    assert_eq!(late, GrantChangeError::NotPending(Status::Cancelled));
}
