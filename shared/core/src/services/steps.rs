//! The workflow's task states. Each reads the store (the source of truth), acts only if the request
//! is in the status the step expects, and is safe to run twice (Step Functions and the local runner
//! may replay a step after a timeout or crash).

use super::Steps;
use crate::audit::Actor;
use crate::error::{Error, ErrorCode};
use crate::flow::Target;
use crate::outbox::Notification;
use crate::ports::{Escalation, EscalationError, GrantSpec, StoreError};
use crate::request::{AccessRequest, Status, Verdict};
use crate::rules::RuleInput;
use crate::workflow::{Decision, Hold, Route, StepCall, StepName, WorkflowState};
use serde_json::{Value, json};

/// A step's result.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// Go on with this state.
    Next(WorkflowState),
    /// AwaitDecision is parked until a decision is sent with the task token.
    Waiting,
}

/// A step failure, named as the state machine's Retry/Catch match it (`errorType`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// Retry with backoff (`Airlock.Transient`).
    #[error("Airlock.Transient: {0}")]
    Transient(String),
    /// Do not retry; the Catch takes over (`Airlock.Permanent`).
    #[error("Airlock.Permanent: {0}")]
    Permanent(String),
}

impl StepError {
    /// The `errorType` a Lambda reports for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            StepError::Transient(_) => "Airlock.Transient",
            StepError::Permanent(_) => "Airlock.Permanent",
        }
    }
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        if e.is_transient() { StepError::Transient(e.message) } else { StepError::Permanent(e.message) }
    }
}

impl From<crate::ports::StoreError> for StepError {
    fn from(e: crate::ports::StoreError) -> Self {
        Error::from(e).into()
    }
}

type StepResult = Result<StepOutcome, StepError>;

impl Steps {
    /// Runs one task state.
    pub async fn run(&self, call: StepCall) -> StepResult {
        let StepCall { step, state, task_token } = call;
        match step {
            StepName::Request => self.request(state).await,
            StepName::AwaitDecision => {
                let token =
                    task_token.ok_or_else(|| StepError::Permanent("AwaitDecision needs a task token".into()))?;
                self.await_decision(state, token).await
            }
            StepName::TimedOut => self.timed_out(state).await,
            StepName::Escalate => self.escalate(state).await,
            StepName::EscalationFailed => self.escalation_failed(state).await,
            StepName::CheckExpiry => self.check_expiry(state).await,
            StepName::Deescalate => self.deescalate(state).await,
            other => Err(StepError::Permanent(format!("{} is not a task state", other.as_str()))),
        }
    }

    /// Request: evaluate the flow's rules and route (deny rules win over approve rules).
    async fn request(&self, mut state: WorkflowState) -> StepResult {
        let deps = &self.deps;
        let mut request = deps.load(&state.request_id).await?;
        let flow = deps.flow_of(&request)?.clone();
        let route = match request.status() {
            Status::Pending => {
                let input = rule_input(&request, &flow);
                let matched = |name: &str, rule: &Option<crate::rules::Rule>| {
                    rule.as_ref().is_some_and(|r| {
                        r.matches(&input).unwrap_or_else(|e| {
                            tracing::warn!(request_id = %request.id(), rule = name, error = %e, "rule did not evaluate; treated as no match");
                            false
                        })
                    })
                };
                let auto = if matched("auto_deny", &flow.rules.auto_deny) {
                    Some((Verdict::Deny, "auto_deny", &flow.rules.auto_deny, Route::AutoDenied))
                } else if matched("auto_approve", &flow.rules.auto_approve) {
                    Some((Verdict::Approve, "auto_approve", &flow.rules.auto_approve, Route::AutoApproved))
                } else {
                    None
                };
                match auto {
                    None => Route::NeedsApproval,
                    Some((verdict, rule, source, route)) => {
                        let note = source.as_ref().map(|r| format!("rule: {}", r.source()));
                        let event =
                            request.decide_by_rule(verdict, rule, note, deps.clock.now()).map_err(Error::from)?;
                        deps.commit(&request, Status::Pending, event).await?;
                        route
                    }
                }
            }
            Status::Approved | Status::Active => Route::AutoApproved,
            _ => Route::AutoDenied,
        };
        state.route = Some(route);
        Ok(StepOutcome::Next(state))
    }

    /// AwaitDecision: keep the task token with the request and queue the approval cards (in the same
    /// write, so a crash cannot leave a pending request without cards), then wait. If the request was
    /// decided before the token was stored, the decision is returned at once.
    async fn await_decision(&self, mut state: WorkflowState, token: String) -> StepResult {
        let deps = &self.deps;
        for _ in 0..5 {
            let mut request = deps.load(&state.request_id).await?;
            if let Some(decision) = decision_of(request.status()) {
                state.decision = Some(decision);
                return Ok(StepOutcome::Next(state));
            }
            if request.task_token() == Some(token.as_str()) && request.cards_queued() {
                return Ok(StepOutcome::Waiting);
            }
            let mut cards = Vec::new();
            if request.await_decision(&token, deps.clock.now()).map_err(Error::from)? {
                let flow = deps.flow_of(&request)?.clone();
                // Approvers named by email are looked up when their card is delivered, with the
                // outbox's retries: a Slack outage now must not cost anyone their card.
                cards = deps
                    .card_destinations(&flow, &request)
                    .into_iter()
                    .map(|destination| Notification::ApprovalCard { destination })
                    .collect();
                if cards.is_empty() {
                    tracing::error!(request_id = %request.id(), "no approver can be reached: no channel and no approver in Slack");
                }
            }
            match deps.save(&request, Status::Pending, &cards).await {
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
                Ok(()) => return Ok(StepOutcome::Waiting),
            }
        }
        Err(StepError::Transient("request kept changing while storing the task token".into()))
    }

    /// TimedOut: no decision in time. An approval that won the race still counts.
    async fn timed_out(&self, mut state: WorkflowState) -> StepResult {
        let deps = &self.deps;
        let mut request = deps.load(&state.request_id).await?;
        if request.status() == Status::Pending {
            let event = request.time_out(deps.clock.now()).map_err(Error::from)?;
            match deps.commit(&request, Status::Pending, event).await {
                Ok(()) => {}
                Err(e) if e.code == ErrorCode::Conflict => request = deps.load(&state.request_id).await?,
                Err(e) => return Err(e.into()),
            }
        }
        state.decision = Some(decision_of(request.status()).unwrap_or(Decision::TimedOut));
        Ok(StepOutcome::Next(state))
    }

    /// Escalate: grant the access, then mark the request active with its expiry. The escalator is
    /// called once per attempt; losing the conditional write afterwards re-reads and applies the
    /// result again rather than calling the target system a second time.
    async fn escalate(&self, mut state: WorkflowState) -> StepResult {
        let deps = &self.deps;
        let request = deps.load(&state.request_id).await?;
        match request.status() {
            Status::Approved => {}
            Status::Active => {
                state.expires_at = request.expires_at();
                return Ok(StepOutcome::Next(state));
            }
            other => {
                return Err(StepError::Permanent(format!("request is {other}, not approved")));
            }
        }
        let target = self.target_of(&request)?;
        // Recorded before the first call: if that call applies the access and then fails (or the
        // process dies), a retry finding it "already held" must not mistake it for standing access.
        let first_attempt = !request.escalation_attempted();
        if first_attempt {
            let mut marked = request.clone();
            marked.escalation_started(deps.clock.now()).map_err(Error::from)?;
            deps.save(&marked, Status::Approved, &[]).await?;
        }
        let granted_at = deps.clock.now();
        let expires_at = request.expiry_if_granted_at(granted_at);
        let grant = grant_spec(&request, target, expires_at);
        let found = deps.escalator.escalate(&grant).await.map_err(escalation_error)?;
        let standing = found == Escalation::AlreadyHeld && first_attempt;
        for _ in 0..10 {
            let mut request = deps.load(&state.request_id).await?;
            match request.status() {
                Status::Approved => {}
                Status::Active => {
                    state.expires_at = request.expires_at();
                    return Ok(StepOutcome::Next(state));
                }
                other => return Err(StepError::Permanent(format!("request became {other} while escalating"))),
            }
            let event = request.activate(granted_at, standing, deps.clock.now()).map_err(Error::from)?;
            match deps.commit(&request, Status::Approved, event).await {
                Ok(()) => {
                    state.expires_at = Some(expires_at);
                    return Ok(StepOutcome::Next(state));
                }
                Err(e) if e.code == ErrorCode::Conflict => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StepError::Transient("request kept changing while recording the grant".into()))
    }

    /// The target a request grants: as it was when requested, or (for requests stored before
    /// targets were kept with them) as configured now.
    pub(super) fn target_of(&self, request: &AccessRequest) -> Result<Target, StepError> {
        if let Some(target) = request.target_spec() {
            return Ok(target.clone());
        }
        self.deps
            .config
            .flow_of(request)
            .and_then(|f| f.target(request.target()))
            .cloned()
            .ok_or_else(|| StepError::Permanent(format!("target {:?} is no longer configured", request.target())))
    }

    /// EscalationFailed: the grant could not be made; record it, tell people, and remove whatever
    /// the target system may have applied before failing (the sweeper keeps trying if this fails).
    async fn escalation_failed(&self, state: WorkflowState) -> StepResult {
        let deps = &self.deps;
        let mut request = deps.load(&state.request_id).await?;
        if request.status() == Status::Approved {
            let event =
                request.fail("the target system did not grant the access", deps.clock.now()).map_err(Error::from)?;
            deps.commit(&request, Status::Approved, event).await?;
        }
        if request.holds_access()
            && let Err(e) = self.remove_access(request, Actor::system("escalation-cleanup")).await
        {
            tracing::warn!(request_id = %state.request_id, error = %e, "cleanup after a failed escalation deferred to the sweeper");
        }
        Ok(StepOutcome::Next(state))
    }

    /// CheckExpiry: after the Wait, hold again if the grant was extended.
    async fn check_expiry(&self, mut state: WorkflowState) -> StepResult {
        let deps = &self.deps;
        let request = deps.load(&state.request_id).await?;
        let hold = match (request.status(), request.expires_at()) {
            (Status::Active, Some(at)) if at > deps.clock.now() => {
                state.expires_at = Some(at);
                Hold::Wait
            }
            _ => Hold::Done,
        };
        state.hold = Some(hold);
        Ok(StepOutcome::Next(state))
    }

    /// Deescalate: remove the access at expiry; nothing to do if a revoke already removed it.
    async fn deescalate(&self, state: WorkflowState) -> StepResult {
        let request = self.deps.load(&state.request_id).await?;
        self.remove_access(request, Actor::system("expiry")).await?;
        Ok(StepOutcome::Next(state))
    }
}

fn decision_of(status: Status) -> Option<Decision> {
    match status {
        Status::Pending => None,
        Status::Approved | Status::Active | Status::Failed | Status::Revoked | Status::Expired => {
            Some(Decision::Approved)
        }
        Status::Denied => Some(Decision::Denied),
        Status::Cancelled => Some(Decision::Cancelled),
        Status::TimedOut => Some(Decision::TimedOut),
    }
}

pub(super) fn escalation_error(e: EscalationError) -> StepError {
    match e {
        EscalationError::Transient(m) => StepError::Transient(m),
        EscalationError::Permanent(m) => StepError::Permanent(m),
    }
}

/// What an escalator is told about `request`'s grant of `target`.
pub(super) fn grant_spec(
    request: &AccessRequest,
    target: Target,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> GrantSpec {
    GrantSpec {
        request_id: request.id().clone(),
        user_email: request.requester().email.clone(),
        user_slack_id: request.requester().slack_id.clone(),
        target,
        expires_at,
    }
}

/// The variables rules see for `request`.
pub(crate) fn rule_input(request: &AccessRequest, flow: &crate::flow::Flow) -> RuleInput {
    let mut fields = serde_json::Map::new();
    for spec in &flow.fields {
        fields.insert(spec.name.clone(), request.fields().get(&spec.name).cloned().unwrap_or(Value::Null));
    }
    let target = flow.target(request.target());
    let account_id = match target.map(|t| &t.kind) {
        Some(crate::flow::TargetKind::AwsSso { account_id, .. }) => Value::from(account_id.clone()),
        _ => Value::Null,
    };
    RuleInput {
        fields,
        requester: json!({
            "email": request.requester().email.as_str(),
            "role": request.requester().role.as_str(),
            "slack_id": request.requester().slack_id,
        }),
        target: json!({
            "name": request.target(),
            "label": target.map(|t| t.label.as_str()),
            "kind": target.map(|t| t.kind.name()),
            "account_id": account_id,
        }),
        flow: request.flow().to_string(),
        duration_seconds: request.duration_secs(),
        request: json!({"reason": request.reason(), "duration_seconds": request.duration_secs(), "is_extension": false}),
    }
}
