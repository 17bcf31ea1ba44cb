//! What one access request costs on AWS. Plays real requests through the code the Lambdas run
//! (the slack-ingress router, the step handlers, the outbox deliverer) over the DynamoDB store and
//! the EventBridge sink against moto, behind a proxy that prices every DynamoDB call in request
//! units and counts the events; times each function's part (warm, in process: a Lambda's billed
//! duration); counts the state transitions of the same paths executed by moto's Step Functions
//! interpreter; and prints the cost per 1,000 requests at AWS list prices.
//!
//! `cargo run --release -p airlock-bench-cost` (uses `MOTO_ENDPOINT`, else starts moto from `.venv`).

mod dynamo;
mod transitions;

use airlock_aws::assembly::{self, Adapters, Prefetch, SlackClients};
use airlock_core::ports::{Clock, Workflow, WorkflowError};
use airlock_core::{Airlock, Config, Hold, Route, StepCall, StepName, Steps, WorkflowState};
use airlock_core::{Decision, services::StepOutcome};
use airlock_http::{ApiTokens, AppState, router};
use airlock_slack::sim::{
    FORM, FakeSlack, FakeUser, Input, SlackSigner, block_actions_body, extend_submission_body,
    request_form_submission_body, slash_command_body,
};
use airlock_slack::{SlackApi, SlackApp};
use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use dynamo::{Proxy, Spent};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Memory of each function (template.yaml: `Globals` 256 MB, slack-ingress 512 MB).
const MEMORY_MB: [(&str, f64); 5] =
    [("slack-ingress", 512.0), ("request", 256.0), ("approve", 256.0), ("escalate", 256.0), ("deescalate", 256.0)];
const NOTIFY_MEMORY_MB: f64 = 256.0;

/// AWS list prices, us-east-1 (on-demand, no free tier), in dollars.
mod price {
    /// Lambda on arm64, per GB-second.
    pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
    /// Lambda, per invocation ($0.20 per million).
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    /// Step Functions Standard, per state transition ($0.025 per 1,000).
    pub const TRANSITION: f64 = 0.025 / 1e3;
    /// DynamoDB on-demand, per write request unit ($0.625 per million).
    pub const WRITE_UNIT: f64 = 0.625 / 1e6;
    /// DynamoDB on-demand, per read request unit ($0.125 per million).
    pub const READ_UNIT: f64 = 0.125 / 1e6;
    /// EventBridge custom events, per event ($1.00 per million).
    pub const EVENT: f64 = 1.0 / 1e6;
    /// API Gateway HTTP API, per request ($1.00 per million).
    pub const HTTP_REQUEST: f64 = 1.0 / 1e6;
}

const SIGNING_SECRET: &str = "cost-signing-secret";
const CAROL: &str = "U0CAROL";
const APPROVERS: [&str; 2] = ["U0BOB", "U0DAVE"];
const TABLE: &str = "airlock-cost";
const BUS: &str = "airlock-cost-audit";
/// Requests measured per case, after one warm-up request.
const RUNS: usize = 5;

/// The cases: the flow each uses, and how it grows.
#[derive(Debug, Clone, Copy)]
struct Case {
    label: &'static str,
    flow: &'static str,
    targets: usize,
    approvals: usize,
    extensions: usize,
}

const CASES: [Case; 4] = [
    Case { label: "1 target, 1 approval (base)", flow: "base", targets: 1, approvals: 1, extensions: 0 },
    Case { label: "2 approvals required", flow: "two-approvals", targets: 1, approvals: 2, extensions: 0 },
    Case { label: "3 targets in one request", flow: "three-targets", targets: 3, approvals: 1, extensions: 0 },
    Case { label: "1 extension (approved)", flow: "base", targets: 1, approvals: 1, extensions: 1 },
];

const CONFIG: &str = r#"
organization: { primary_domain: example.com, admins: [alice@example.com] }
slack: { command: /access, audit_channel: C0AUDIT }
flows:
  - name: base
    label: Base
    description: One record target, one approval
    approvers: { users: [bob@example.com, dave@example.com], channel: C0APPROVALS }
    durations: [1h]
    max_duration: 1h
    approval_timeout: 1h
    extensions: { max: 1 }
    targets: [{ name: t1, label: Target 1, kind: record }]
  - name: two-approvals
    label: Two approvals
    description: One record target, two approvals
    approvers: { users: [bob@example.com, dave@example.com], channel: C0APPROVALS, required: 2 }
    durations: [1h]
    max_duration: 1h
    approval_timeout: 1h
    targets: [{ name: t1, label: Target 1, kind: record }]
  - name: three-targets
    label: Three targets
    description: Three record targets in one request
    approvers: { users: [bob@example.com, dave@example.com], channel: C0APPROVALS }
    durations: [1h]
    max_duration: 1h
    approval_timeout: 1h
    multiple_targets: true
    targets:
      - { name: t1, label: Target 1, kind: record }
      - { name: t2, label: Target 2, kind: record }
      - { name: t3, label: Target 3, kind: record }
"#;

/// The real time plus an offset the harness moves to reach a grant's expiry.
#[derive(Default)]
struct OffsetClock(Mutex<chrono::Duration>);

impl OffsetClock {
    fn set_to(&self, at: DateTime<Utc>) {
        *self.0.lock().expect("clock") = at - Utc::now();
    }
    fn reset(&self) {
        *self.0.lock().expect("clock") = chrono::Duration::zero();
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.0.lock().expect("clock")
    }
}

/// Step Functions as the services see it: starts and decisions are recorded for the harness to
/// run the steps that would follow.
#[derive(Default)]
struct RecordedWorkflow {
    started: Mutex<Vec<WorkflowState>>,
    decided: Mutex<Vec<WorkflowState>>,
}

#[async_trait::async_trait]
impl Workflow for RecordedWorkflow {
    async fn start(&self, state: &WorkflowState) -> Result<(), WorkflowError> {
        self.started.lock().expect("recorder").push(state.clone());
        Ok(())
    }
    async fn send_decision(&self, _task_token: &str, state: &WorkflowState) -> Result<(), WorkflowError> {
        self.decided.lock().expect("recorder").push(state.clone());
        Ok(())
    }
    async fn remove_now(&self, _state: &WorkflowState) -> Result<(), WorkflowError> {
        Ok(())
    }
}

/// One Lambda invocation's share of a request.
#[derive(Debug, Clone, Copy)]
struct Invocation {
    function: &'static str,
    millis: f64,
    spent: Spent,
}

struct Harness {
    proxy: Proxy,
    base: String,
    http: reqwest::Client,
    steps: Steps,
    airlock: Airlock,
    workflow: Arc<RecordedWorkflow>,
    clock: Arc<OffsetClock>,
    invocations: Vec<Invocation>,
    clicks: usize,
}

impl Harness {
    /// Runs `work` as one invocation of `function`, timing it and taking what it spent.
    async fn invoke<T>(
        &mut self,
        function: &'static str,
        work: impl Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        self.proxy.take();
        let started = Instant::now();
        let out = work.await?;
        let millis = started.elapsed().as_secs_f64() * 1e3;
        self.invocations.push(Invocation { function, millis, spent: self.proxy.take() });
        Ok(out)
    }

    /// A signed Slack request to slack-ingress.
    async fn slack(&mut self, path: &'static str, body: String) -> anyhow::Result<()> {
        let headers = SlackSigner::new(SIGNING_SECRET).header_map(body.as_bytes(), FORM);
        let (http, url) = (self.http.clone(), format!("{}{path}", self.base));
        self.invoke("slack-ingress", async move {
            let answer = http.post(url).headers(headers).body(body).send().await?;
            if !answer.status().is_success() {
                bail!("{path} answered {}", answer.status());
            }
            Ok(())
        })
        .await?;
        self.notify().await
    }

    /// The outbox deliverer, woken by the stream after a change that wrote notifications.
    async fn notify(&mut self) -> anyhow::Result<()> {
        self.proxy.take();
        let started = Instant::now();
        let delivered = self.steps.deliver_notifications().await?;
        let millis = started.elapsed().as_secs_f64() * 1e3;
        let spent = self.proxy.take();
        if delivered.sent + delivered.deferred + delivered.dropped > 0 {
            self.invocations.push(Invocation { function: "notify", millis, spent });
        }
        Ok(())
    }

    /// A task state's Lambda.
    async fn step(
        &mut self,
        function: &'static str,
        step: StepName,
        state: WorkflowState,
        token: Option<String>,
    ) -> anyhow::Result<Option<WorkflowState>> {
        let steps = &self.steps;
        let call = StepCall { step, state, task_token: token };
        self.proxy.take();
        let started = Instant::now();
        let outcome = steps.run(call).await.map_err(|e| anyhow::anyhow!("{}: {e}", step.as_str()))?;
        let millis = started.elapsed().as_secs_f64() * 1e3;
        self.invocations.push(Invocation { function, millis, spent: self.proxy.take() });
        self.notify().await?;
        Ok(match outcome {
            StepOutcome::Next(next) => Some(next),
            StepOutcome::Waiting => None,
        })
    }

    /// One request of `case`, from `/access` to the removal at expiry; its invocations.
    async fn request(&mut self, case: Case) -> anyhow::Result<Vec<Invocation>> {
        self.invocations.clear();
        self.clock.reset();
        self.clicks += 1;
        let trigger = format!("trigger-{}", self.clicks);
        self.slack("/slack/commands", slash_command_body("/access", case.flow, CAROL, &trigger)).await?;
        let targets: Vec<String> = (1..=case.targets).map(|i| format!("t{i}")).collect();
        let target = if case.targets == 1 { Input::Select("t1".into()) } else { Input::MultiSelect(targets) };
        let inputs = [
            ("target", target),
            ("duration", Input::Select("1h".into())),
            ("reason", Input::Text(format!("Rotate the KMS key ({trigger})"))),
        ];
        self.slack("/slack/interactions", request_form_submission_body(CAROL, case.flow, &inputs)).await?;
        let state =
            self.workflow.started.lock().expect("recorder").pop().context("the submission started no workflow")?;
        let id = state.request_id.clone();

        let routed = self.step("request", StepName::Request, state, None).await?.context("Request has an outcome")?;
        if routed.route != Some(Route::NeedsApproval) {
            bail!("expected the request to need approval, got {:?}", routed.route);
        }
        let token = format!("token-{}", id.as_str());
        if self.step("approve", StepName::AwaitDecision, routed, Some(token)).await?.is_some() {
            bail!("AwaitDecision decided before anyone clicked");
        }
        for (i, approver) in APPROVERS.iter().take(case.approvals).enumerate() {
            let ts = format!("{}.{i}", self.clicks);
            self.slack("/slack/interactions", block_actions_body(approver, "approve", id.as_str(), "C0APPROVALS", &ts))
                .await?;
        }
        let decided = self.workflow.decided.lock().expect("recorder").pop().context("no decision was sent")?;
        if decided.decision != Some(Decision::Approved) {
            bail!("expected an approval, got {:?}", decided.decision);
        }
        let mut granted =
            self.step("escalate", StepName::Escalate, decided, None).await?.context("Escalate has an outcome")?;
        for _ in 0..case.extensions {
            self.slack(
                "/slack/interactions",
                block_actions_body(CAROL, "extend_request", id.as_str(), "DU0CAROL", "9.1"),
            )
            .await?;
            self.slack("/slack/interactions", extend_submission_body(CAROL, id.as_str(), "1h", "Still running"))
                .await?;
            self.slack(
                "/slack/interactions",
                block_actions_body(APPROVERS[0], "approve_extension", id.as_str(), "C0APPROVALS", "9.2"),
            )
            .await?;
        }
        loop {
            let expires_at = granted.expires_at.context("a grant has an expiry")?;
            self.clock.set_to(expires_at + chrono::Duration::seconds(1));
            granted = self
                .step("deescalate", StepName::CheckExpiry, granted, None)
                .await?
                .context("CheckExpiry has an outcome")?;
            if granted.hold != Some(Hold::Wait) {
                break;
            }
        }
        self.step("deescalate", StepName::Deescalate, granted, None).await?;
        let status = self.airlock.get_request(&id).await?.status().to_string();
        if status != "expired" {
            bail!("request {id} ended {status}, not expired");
        }
        self.clock.reset();
        Ok(std::mem::take(&mut self.invocations))
    }
}

/// A request's totals.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    invocations: u32,
    http_requests: u32,
    gb_seconds: f64,
    lambda_millis: f64,
    spent: Spent,
    transitions: u32,
}

impl Totals {
    fn of(invocations: &[Invocation], transitions: u32) -> Totals {
        let mut totals = Totals { transitions, ..Totals::default() };
        for i in invocations {
            let memory = MEMORY_MB.iter().find(|(f, _)| *f == i.function).map_or(NOTIFY_MEMORY_MB, |(_, m)| *m);
            // Lambda bills each invocation's duration rounded up to the millisecond.
            totals.gb_seconds += memory / 1024.0 * i.millis.ceil() / 1e3;
            totals.lambda_millis += i.millis;
            totals.invocations += 1;
            totals.http_requests += u32::from(i.function == "slack-ingress");
            totals.spent += i.spent;
        }
        totals
    }

    fn dollars(&self) -> f64 {
        self.gb_seconds * price::LAMBDA_GB_SECOND
            + f64::from(self.invocations) * price::LAMBDA_REQUEST
            + f64::from(self.transitions) * price::TRANSITION
            + self.spent.write_units * price::WRITE_UNIT
            + self.spent.read_units * price::READ_UNIT
            + f64::from(self.spent.events) * price::EVENT
            + f64::from(self.http_requests) * price::HTTP_REQUEST
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    airlock_testkit::fake_aws_env();
    let moto = airlock_testkit::moto_endpoint().to_string();
    let proxy = Proxy::start(&moto).await?;
    // SAFETY: set before any SDK client reads the environment; nothing else runs yet.
    unsafe { std::env::set_var("AWS_ENDPOINT_URL", proxy.endpoint()) };
    let sdk = airlock_aws::bootstrap::aws_config().await;
    let _ = aws_sdk_eventbridge::Client::new(sdk).create_event_bus().name(BUS).send().await;
    let store = airlock_aws::bootstrap::dynamo_store(TABLE, true).await?;

    let users = [
        FakeUser::new(CAROL, "carol@example.com", "Carol"),
        FakeUser::new(APPROVERS[0], "bob@example.com", "Bob"),
        FakeUser::new(APPROVERS[1], "dave@example.com", "Dave"),
    ];
    let slack = FakeSlack::try_start(users.to_vec(), vec![]).await.context("cannot start the fake Slack")?;
    let config = Config::from_yaml(CONFIG).map_err(|e| anyhow::anyhow!("{e}"))?;
    let api = Arc::new(SlackApi::new(&slack.base_url(), "xoxb-cost")?);
    let clients = SlackClients { directory: api.clone(), notifier: api.clone() };
    let adapters = Adapters {
        event_bus: Some(BUS.into()),
        prefetch: Prefetch::UrlOnly,
        webhook_secrets: Default::default(),
        aws_sso: Default::default(),
    };
    let mut deps = assembly::deps(&config, store, clients, adapters).await?;
    let clock = Arc::new(OffsetClock::default());
    deps.clock = clock.clone();
    let workflow = Arc::new(RecordedWorkflow::default());
    let airlock = Airlock::new(deps.clone(), workflow.clone());
    let slack_app = Arc::new(SlackApp::new(airlock.clone(), api, SIGNING_SECRET.to_string()));
    let state = AppState { airlock: airlock.clone(), slack: slack_app, api_tokens: Arc::new(ApiTokens::default()) };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router(state)).await });

    let mut harness = Harness {
        proxy,
        base,
        http: reqwest::Client::new(),
        steps: Steps::new(deps),
        airlock,
        workflow,
        clock,
        invocations: vec![],
        clicks: 0,
    };
    harness.request(CASES[0]).await.context("the warm-up request")?;

    let mut rows = Vec::new();
    for case in CASES {
        let transitions = transitions::count(case.extensions).await?;
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            let invocations = harness.request(case).await.with_context(|| case.label)?;
            runs.push((Totals::of(&invocations, transitions), invocations));
        }
        runs.sort_by(|a, b| a.0.gb_seconds.total_cmp(&b.0.gb_seconds));
        rows.push((case, runs.swap_remove(RUNS / 2)));
    }
    print_tables(&rows);
    Ok(())
}

fn print_tables(rows: &[(Case, (Totals, Vec<Invocation>))]) {
    println!("Per request (median of {RUNS} by Lambda time, after a warm-up; moto on this machine):\n");
    println!(
        "| request | Lambda invocations | Lambda GB-s | state transitions | DynamoDB WRU | DynamoDB RRU | EventBridge events | HTTP API requests | $ per 1,000 requests |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (case, (t, _)) in rows {
        println!(
            "| {} | {} | {:.4} | {} | {} | {} | {} | {} | {:.4} |",
            case.label,
            t.invocations,
            t.gb_seconds,
            t.transitions,
            t.spent.write_units,
            t.spent.read_units,
            t.spent.events,
            t.http_requests,
            t.dollars() * 1000.0
        );
    }
    if let Some((case, (_, invocations))) = rows.first() {
        println!("\nWhere the base request ({}) goes, per function:\n", case.label);
        println!("| function | invocations | total ms | DynamoDB calls | WRU | RRU | events |");
        println!("|---|---|---|---|---|---|---|");
        let mut by: BTreeMap<&str, (u32, f64, Spent)> = BTreeMap::new();
        for i in invocations {
            let entry = by.entry(i.function).or_default();
            entry.0 += 1;
            entry.1 += i.millis;
            entry.2 += i.spent;
        }
        for (function, (n, ms, s)) in by {
            println!(
                "| {function} | {n} | {ms:.1} | {} | {} | {} | {} |",
                s.dynamodb_calls, s.write_units, s.read_units, s.events
            );
        }
    }
    let [base, two, three, ext] = [0, 1, 2, 3].map(|i| rows.get(i).map_or(0.0, |(_, (t, _))| t.dollars() * 1000.0));
    println!(
        "\nGrowth per 1,000 requests: +{:.4} $ per extra approval, +{:.4} $ per extra target, +{:.4} $ per extension.",
        two - base,
        (three - base) / 2.0,
        ext - base
    );
    println!(
        "Prices: us-east-1 list prices, no free tier: Lambda arm64 $0.0000133334 per GB-s and $0.20 per million \
         invocations; Step Functions Standard $0.025 per 1,000 state transitions; DynamoDB on-demand $0.625 per \
         million write and $0.125 per million read request units; EventBridge $1.00 per million custom events; \
         HTTP API $1.00 per million requests."
    );
}
