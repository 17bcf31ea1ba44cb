//! The services driven through their public API over the testkit's fakes: submission, decisions,
//! the workflow's steps, grants and their removal, drift and reminders.

use airlock_core::error::{ChangeRefusal, DecideError, GrantChangeError, SubmitError};
use airlock_core::policy::{DecisionRefusal, RequestRefusal};
use airlock_core::ports::{EscalationError, Store};
use airlock_core::services::{DecideOutcome, RemindersSent, StepOutcome, SubmitInput};
use airlock_core::{Decision, Hold, Route, Status, StepCall, StepName, Verdict, WorkflowState};
use airlock_testkit::harness::Harness;
use serde_json::json;
use std::time::Duration;

fn form(flow: &str, target: &str, duration: &str, urgency: &str) -> SubmitInput {
    SubmitInput {
        flow: flow.into(),
        target: Some(target.into()),
        duration: Some(duration.into()),
        reason: "deploy hotfix".into(),
        fields: if urgency.is_empty() { Default::default() } else { [("urgency".to_string(), json!(urgency))].into() },
        ..SubmitInput::default()
    }
}

async fn step(h: &Harness, step: StepName, state: WorkflowState, token: Option<&str>) -> StepOutcome {
    h.airlock.steps().run(StepCall { step, state, task_token: token.map(String::from) }).await.unwrap()
}

fn next(outcome: StepOutcome) -> WorkflowState {
    match outcome {
        StepOutcome::Next(state) => state,
        StepOutcome::Waiting => panic!("expected the step to go on"),
    }
}

async fn submitted(h: &Harness, who: &str, input: SubmitInput) -> (airlock_core::AccessRequest, WorkflowState) {
    let carol = h.airlock.identify_slack_user(who).await.unwrap();
    let request = h.airlock.submit(&carol, input).await.unwrap();
    let state = h.workflow.started().last().cloned().unwrap();
    (request, state)
}

#[tokio::test]
async fn submit_validates_every_input_and_names_each_field() {
    let h = Harness::new();
    let carol = h.airlock.identify_slack_user("U3").await.unwrap();
    let mut input = form("aws-prod", "nope", "5h", "Sometimes");
    input.reason = "  ".into();
    input.fields.insert("colour".into(), json!("blue"));
    let SubmitError::Invalid(errors) = h.airlock.submit(&carol, input).await.unwrap_err() else {
        panic!("expected field errors")
    };
    let mut fields: Vec<_> = errors.iter().map(|f| f.field.as_str()).collect();
    fields.sort();
    assert_eq!(fields, ["colour", "duration", "reason", "target", "urgency"]);
    assert!(errors.iter().any(|f| f.message.contains("maximum of 4h")));

    let e = h.airlock.submit(&carol, form("aws-dev", "x", "1h", "Normal")).await.unwrap_err();
    assert_eq!(e, SubmitError::UnknownFlow("aws-dev".into()));
    let guest = h.airlock.identify_slack_user("U9").await.unwrap();
    let e = h.airlock.submit(&guest, form("aws-prod", "prod-admin", "1h", "Normal")).await.unwrap_err();
    assert_eq!(e, SubmitError::NotAllowed(RequestRefusal::Guest));
    assert!(h.workflow.started().is_empty(), "nothing invalid starts a workflow");
}

#[tokio::test]
async fn identical_open_requests_are_not_duplicated() {
    let h = Harness::new();
    let (first, _) = submitted(&h, "U3", form("aws-prod", "prod-admin", "1h", "Normal")).await;
    let carol = h.airlock.identify_slack_user("U3").await.unwrap();
    let e = h.airlock.submit(&carol, form("aws-prod", "prod-admin", "15m", "Normal")).await.unwrap_err();
    assert_eq!(e, SubmitError::Duplicate(first.id().clone()));
    assert!(e.to_string().contains(first.id().as_str()));
    h.airlock.submit(&carol, form("aws-prod", "prod-readonly", "15m", "Normal")).await.unwrap();
}

#[tokio::test]
async fn approval_path_from_request_to_expiry() {
    let h = Harness::new();
    let (request, state) = submitted(&h, "U3", form("aws-prod", "prod-admin", "15m", "Normal")).await;
    let state = next(step(&h, StepName::Request, state, None).await);
    assert_eq!(state.route, Some(Route::NeedsApproval));
    assert_eq!(step(&h, StepName::AwaitDecision, state.clone(), Some("tok-1")).await, StepOutcome::Waiting);
    assert_eq!(h.notifier.saw("card req_"), 0, "cards are queued, not posted on the step's path");
    h.deliver().await;
    assert_eq!(h.notifier.saw("card req_"), 2, "the channel and bob");
    assert_eq!(h.airlock.get_request(request.id()).await.unwrap().cards().len(), 2, "cards remembered");
    assert_eq!(step(&h, StepName::AwaitDecision, state.clone(), Some("tok-1")).await, StepOutcome::Waiting);
    h.deliver().await;
    assert_eq!(h.notifier.saw("card req_"), 2, "a replayed AwaitDecision queues no second set");

    let bob = h.airlock.identify_slack_user("U2").await.unwrap();
    let outcome = h.airlock.decide(request.id(), &bob, Verdict::Approve, None).await.unwrap();
    assert!(matches!(outcome, DecideOutcome::Decided(ref r) if r.status() == Status::Approved));
    let (token, decided) = h.workflow.decisions()[0].clone();
    assert_eq!((token.as_str(), decided.decision), ("tok-1", Some(Decision::Approved)));

    let again = h.airlock.decide(request.id(), &bob, Verdict::Approve, None).await.unwrap_err();
    assert_eq!(again, DecideError::AlreadyDecided(Status::Approved), "a double click changes nothing");
    assert_eq!(h.workflow.decisions().len(), 1);

    let state = next(step(&h, StepName::Escalate, decided.clone(), None).await);
    let replay = next(step(&h, StepName::Escalate, decided, None).await);
    assert_eq!(state.expires_at, replay.expires_at);
    assert_eq!(h.escalator.escalated.lock().unwrap().len(), 1, "a replayed Escalate grants once");

    let held = next(step(&h, StepName::CheckExpiry, state.clone(), None).await);
    assert_eq!(held.hold, Some(Hold::Wait), "not expired yet");
    h.clock.advance(Duration::from_secs(15 * 60));
    let done = next(step(&h, StepName::CheckExpiry, state, None).await);
    assert_eq!(done.hold, Some(Hold::Done));
    next(step(&h, StepName::Deescalate, done.clone(), None).await);
    next(step(&h, StepName::Deescalate, done, None).await);
    assert_eq!(h.escalator.deescalated.lock().unwrap().len(), 1, "a replayed Deescalate removes once");

    let request = h.airlock.get_request(request.id()).await.unwrap();
    assert_eq!(request.status(), Status::Expired);
    let actions: Vec<_> = h.airlock.audit_trail(request.id()).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["submitted", "approved", "access_granted", "expired"]);
    h.deliver().await;
    assert_eq!(h.notifier.saw("Active"), 1);
    assert_eq!(h.notifier.saw("Expired"), 1);
}

#[tokio::test]
async fn rules_auto_approve_and_deny() {
    let h = Harness::new();
    let (request, state) = submitted(&h, "U3", form("aws-prod", "prod-admin", "1h", "Emergency")).await;
    let state = next(step(&h, StepName::Request, state, None).await);
    assert_eq!(state.route, Some(Route::AutoApproved));
    let request = h.airlock.get_request(request.id()).await.unwrap();
    assert_eq!(request.status(), Status::Approved);
    assert_eq!(request.decided_by().unwrap().to_string(), "rule:auto_approve");

    let mut config = airlock_core::Config::from_yaml(airlock_core::config::EXAMPLE_CONFIG).unwrap();
    config.flows[0].rules.auto_deny = Some(airlock_core::rules::Rule::compile("duration_seconds > 1800").unwrap());
    let h = Harness::with_config(config);
    let (request, state) = submitted(&h, "U3", form("aws-prod", "prod-admin", "1h", "Emergency")).await;
    let state = next(step(&h, StepName::Request, state, None).await);
    assert_eq!(state.route, Some(Route::AutoDenied), "deny rules win");
    assert_eq!(h.airlock.get_request(request.id()).await.unwrap().status(), Status::Denied);
}

#[tokio::test]
async fn two_approvals_when_two_are_required() {
    let mut config = airlock_core::Config::from_yaml(airlock_core::config::EXAMPLE_CONFIG).unwrap();
    config.flows[0].approvers.required = 2;
    let h = Harness::with_config(config);
    let (request, _) = submitted(&h, "U3", form("aws-prod", "prod-admin", "1h", "Normal")).await;
    let bob = h.airlock.identify_slack_user("U2").await.unwrap();
    let alice = h.airlock.identify_slack_user("U1").await.unwrap();
    let first = h.airlock.decide(request.id(), &bob, Verdict::Approve, None).await.unwrap();
    assert!(matches!(first, DecideOutcome::ApprovalRecorded { approvals: 1, required: 2, .. }));
    assert_eq!(
        h.airlock.decide(request.id(), &bob, Verdict::Approve, None).await.unwrap_err(),
        DecideError::NotAllowed(DecisionRefusal::AlreadyApprovedByYou)
    );
    let second = h.airlock.decide(request.id(), &alice, Verdict::Approve, None).await.unwrap();
    assert!(matches!(second, DecideOutcome::Decided(ref r) if r.status() == Status::Approved));
}

#[tokio::test]
async fn deny_with_reason_and_refusals() {
    let h = Harness::new();
    let (request, _) = submitted(&h, "U3", form("aws-prod", "prod-admin", "1h", "Normal")).await;
    let carol = h.airlock.identify_slack_user("U3").await.unwrap();
    let dave = h.airlock.identify_slack_user("U4").await.unwrap();
    assert_eq!(
        h.airlock.decide(request.id(), &carol, Verdict::Approve, None).await.unwrap_err(),
        DecideError::NotAllowed(DecisionRefusal::SelfApproval)
    );
    assert_eq!(
        h.airlock.decide(request.id(), &dave, Verdict::Approve, None).await.unwrap_err(),
        DecideError::NotAllowed(DecisionRefusal::NotAnApprover)
    );
    let bob = h.airlock.identify_slack_user("U2").await.unwrap();
    h.airlock.decide(request.id(), &bob, Verdict::Deny, Some("use staging".into())).await.unwrap();
    let request = h.airlock.get_request(request.id()).await.unwrap();
    assert_eq!((request.status(), request.decision_note()), (Status::Denied, Some("use staging")));
    h.deliver().await;
    assert_eq!(h.notifier.saw("Denied"), 1);
}

#[tokio::test]
async fn decision_before_the_token_is_stored_is_returned_by_await_decision() {
    let h = Harness::new();
    let (request, state) = submitted(&h, "U3", form("aws-prod", "prod-admin", "1h", "Normal")).await;
    let bob = h.airlock.identify_slack_user("U2").await.unwrap();
    h.airlock.decide(request.id(), &bob, Verdict::Approve, None).await.unwrap();
    let state = next(step(&h, StepName::AwaitDecision, state, Some("late-token")).await);
    assert_eq!(state.decision, Some(Decision::Approved));
}

#[tokio::test]
async fn timeout_records_timed_out_unless_an_approval_won() {
    let h = Harness::new();
    let (request, state) = submitted(&h, "U3", form("aws-prod", "prod-admin", "1h", "Normal")).await;
    let state = next(step(&h, StepName::TimedOut, state, None).await);
    assert_eq!(state.decision, Some(Decision::TimedOut));
    assert_eq!(h.airlock.get_request(request.id()).await.unwrap().status(), Status::TimedOut);
}

#[tokio::test]
async fn transient_and_permanent_escalation_failures() {
    let h = Harness::new();
    let (request, state) = submitted(&h, "U3", form("aws-prod", "prod-admin", "1h", "Emergency")).await;
    let state = next(step(&h, StepName::Request, state, None).await);
    h.escalator.failures.lock().unwrap().push(EscalationError::Transient("throttled".into()));
    let call = StepCall { step: StepName::Escalate, state: state.clone(), task_token: None };
    let err = h.airlock.steps().run(call).await.unwrap_err();
    assert_eq!(err.error_type(), "Airlock.Transient");
    h.escalator.failures.lock().unwrap().push(EscalationError::Permanent("no such user".into()));
    let call = StepCall { step: StepName::Escalate, state: state.clone(), task_token: None };
    assert_eq!(h.airlock.steps().run(call).await.unwrap_err().error_type(), "Airlock.Permanent");
    next(step(&h, StepName::EscalationFailed, state, None).await);
    assert_eq!(h.airlock.get_request(request.id()).await.unwrap().status(), Status::Failed);
    h.deliver().await;
    assert_eq!(h.notifier.saw("Failed"), 1);
}

#[tokio::test]
async fn a_grant_that_waits_behind_others_tells_the_requester_once() {
    let h = Harness::new();
    h.escalator.queued.lock().unwrap().push("prod-admin".into());
    let (request, state) = submitted(&h, "U3", form("aws-prod", "prod-admin", "1h", "Emergency")).await;
    let state = next(step(&h, StepName::Request, state, None).await);
    next(step(&h, StepName::Escalate, state, None).await);
    assert_eq!(h.airlock.get_request(request.id()).await.unwrap().status(), Status::Active);
    h.deliver().await;
    let queued: Vec<String> =
        h.notifier.lines().into_iter().filter(|l| l.contains("queued behind other grants")).collect();
    assert_eq!(queued.len(), 1, "told once though reported twice: {queued:?}");
    assert!(queued[0].starts_with("tell U3 ") && queued[0].contains(request.id().as_str()), "{queued:?}");
    let lines = h.notifier.lines();
    let position = |needle: &str| lines.iter().position(|l| l.contains(needle)).unwrap();
    assert!(position("queued behind") < position("Active"), "told before the grant: {lines:?}");
}

#[tokio::test]
async fn an_assignment_that_fails_asynchronously_fails_the_request_with_awss_reason() {
    let h = Harness::new();
    let reason = "assignment creation failed: Received a 409 status error: quota of assignments reached";
    h.escalator.failures.lock().unwrap().push(EscalationError::Permanent(reason.into()));
    let (request, state) = submitted(&h, "U3", form("aws-prod", "prod-admin", "1h", "Emergency")).await;
    let state = next(step(&h, StepName::Request, state, None).await);
    let call = StepCall { step: StepName::Escalate, state: state.clone(), task_token: None };
    assert_eq!(h.airlock.steps().run(call).await.unwrap_err().error_type(), "Airlock.Permanent");
    next(step(&h, StepName::EscalationFailed, state, None).await);
    let failed = h.airlock.get_request(request.id()).await.unwrap();
    assert_eq!(failed.status(), Status::Failed, "never active");
    assert!(failed.failure().is_some_and(|f| f.contains(reason)), "{:?}", failed.failure());
    let events = h.store.audit_events(request.id()).await.unwrap();
    assert!(
        events.iter().any(|e| e.detail.as_deref().is_some_and(|d| d.contains(reason))),
        "the audit trail has the reason: {events:?}"
    );
    h.deliver().await;
    assert_eq!(h.notifier.told().last(), Some(&airlock_core::ports::RequesterUpdate::Failed));
}

#[tokio::test]
async fn revoke_removes_access_once_and_deescalate_is_then_a_no_op() {
    let h = Harness::new();
    let (request, state) = submitted(&h, "U3", form("aws-prod", "prod-admin", "1h", "Emergency")).await;
    let state = next(step(&h, StepName::Request, state, None).await);
    let state = next(step(&h, StepName::Escalate, state, None).await);
    let dave = h.airlock.identify_slack_user("U4").await.unwrap();
    assert_eq!(
        h.airlock.revoke(request.id(), &dave, None).await.unwrap_err(),
        GrantChangeError::NotAllowed(ChangeRefusal::Revoke)
    );
    let carol = h.airlock.identify_slack_user("U3").await.unwrap();
    let revoked = h.airlock.revoke(request.id(), &carol, Some("done early".into())).await.unwrap();
    assert_eq!(revoked.status(), Status::Revoked);
    assert!(revoked.holds_access(), "the caller does not wait for the target system");
    assert_eq!(h.workflow.removals(), vec![request.id().clone()], "the workflow removes it now");
    let removal = WorkflowState::start(request.id().clone(), 0);
    next(step(&h, StepName::Deescalate, removal, None).await);
    assert!(h.airlock.get_request(request.id()).await.unwrap().access_removed_at().is_some());
    let done = next(step(&h, StepName::CheckExpiry, state, None).await);
    assert_eq!(done.hold, Some(Hold::Done));
    next(step(&h, StepName::Deescalate, done, None).await);
    assert_eq!(h.escalator.deescalated.lock().unwrap().len(), 1);
    assert_eq!(
        h.airlock.revoke(request.id(), &carol, None).await.unwrap_err(),
        GrantChangeError::NotActive(Status::Revoked)
    );
}

async fn emergency_grant(h: &Harness) -> airlock_core::RequestId {
    let (request, state) = submitted(h, "U3", form("aws-prod", "prod-admin", "15m", "Emergency")).await;
    let state = next(step(h, StepName::Request, state, None).await);
    next(step(h, StepName::Escalate, state, None).await);
    request.id().clone()
}

#[tokio::test]
async fn a_late_removal_never_takes_access_another_grant_holds() {
    let h = Harness::new();
    let carol = h.airlock.identify_slack_user("U3").await.unwrap();
    let first = emergency_grant(&h).await;
    h.escalator.removal_failures.lock().unwrap().push(EscalationError::Transient("throttled".into()));
    h.airlock.revoke(&first, &carol, None).await.unwrap();
    let removal =
        StepCall { step: StepName::Deescalate, state: WorkflowState::start(first.clone(), 0), task_token: None };
    assert!(h.airlock.steps().run(removal).await.is_err());
    let revoked = h.airlock.get_request(&first).await.unwrap();
    assert!(revoked.holds_access(), "removal failed: still held, left to the sweeper");
    assert_eq!(revoked.removal().map(|r| r.attempts), Some(1), "the failure is on the record");
    let second = emergency_grant(&h).await;
    assert_eq!(h.airlock.steps().sweep().await.unwrap(), 0, "not before the failed removal's backoff");
    h.clock.advance(Duration::from_secs(10));
    assert_eq!(h.airlock.steps().sweep().await.unwrap(), 1);
    assert!(h.escalator.deescalated.lock().unwrap().is_empty(), "the second grant still holds the same access");
    assert!(!h.airlock.get_request(&first).await.unwrap().holds_access());
    h.airlock.revoke(&second, &carol, None).await.unwrap();
    assert_eq!(h.airlock.steps().sweep().await.unwrap(), 1);
    assert_eq!(*h.escalator.deescalated.lock().unwrap(), vec![second]);
}

#[tokio::test]
async fn sweeper_removes_grants_past_expiry_and_extend_pushes_expiry() {
    let h = Harness::new();
    let (request, state) = submitted(&h, "U3", form("sandbox", "sandbox-admin", "15m", "")).await;
    let bob = h.airlock.identify_slack_user("U2").await.unwrap();
    h.airlock.decide(request.id(), &bob, Verdict::Approve, None).await.unwrap();
    let mut state = state;
    state.decision = Some(Decision::Approved);
    let state = next(step(&h, StepName::Escalate, state, None).await);
    let carol = h.airlock.identify_slack_user("U3").await.unwrap();
    let quarter = "15m".parse().unwrap();
    let asked = h.airlock.ask_extension(request.id(), &carol, quarter, "still debugging").await.unwrap();
    assert_eq!(asked.expires_at(), state.expires_at, "the expiry moves only once the extension is approved");
    let extended = h.airlock.decide_extension(request.id(), &bob, Verdict::Approve, None).await.unwrap();
    assert_eq!(extended.expires_at().unwrap() - state.expires_at.unwrap(), chrono::Duration::minutes(15));
    assert!(
        matches!(
            h.airlock.ask_extension(request.id(), &carol, quarter, "again").await,
            Err(GrantChangeError::ExtensionLimit(1))
        ),
        "one extension per grant by default"
    );
    h.clock.advance(Duration::from_secs(16 * 60));
    let held = next(step(&h, StepName::CheckExpiry, state, None).await);
    assert_eq!(held.hold, Some(Hold::Wait), "extended grants are held again");
    assert_eq!(h.airlock.steps().sweep().await.unwrap(), 0);
    h.clock.advance(Duration::from_secs(15 * 60));
    assert_eq!(h.airlock.steps().sweep().await.unwrap(), 1);
    assert_eq!(h.store.get_request(request.id()).await.unwrap().unwrap().status(), Status::Expired);
}

#[tokio::test]
async fn drift_removes_airlock_made_access_and_reports_the_rest() {
    let h = Harness::new();
    let email = |e: &str| e.parse::<airlock_core::Email>().unwrap();
    // Carol's emergency grant on prod-admin is active; dave once had prod-readonly, now expired.
    let (active, state) = submitted(&h, "U3", form("aws-prod", "prod-admin", "15m", "Emergency")).await;
    next(step(&h, StepName::Escalate, next(step(&h, StepName::Request, state, None).await), None).await);
    let (old, state) = submitted(&h, "U4", form("aws-prod", "prod-readonly", "15m", "Emergency")).await;
    let granted = next(step(&h, StepName::Escalate, next(step(&h, StepName::Request, state, None).await), None).await);
    h.clock.advance(Duration::from_secs(16 * 60));
    next(step(&h, StepName::Deescalate, granted, None).await);
    assert_eq!(h.airlock.get_request(old.id()).await.unwrap().status(), Status::Expired);
    h.escalator.deescalated.lock().unwrap().clear();

    h.escalator.holding.lock().unwrap().extend([
        ("prod-admin".to_string(), vec![email("carol@example.com"), email("mallory@elsewhere.example")]),
        ("prod-readonly".to_string(), vec![email("dave@example.com")]),
    ]);
    let report = h.airlock.steps().reconcile().await.unwrap();
    assert_eq!(report.removed, [(email("dave@example.com"), "record:aws-prod:prod-readonly".to_string())]);
    assert_eq!(report.reported, [(email("mallory@elsewhere.example"), "record:aws-prod:prod-admin".to_string())]);
    assert_eq!(
        h.escalator.deescalated.lock().unwrap().as_slice(),
        std::slice::from_ref(old.id()),
        "only the unbacked Airlock grant"
    );
    h.deliver().await;
    assert_eq!(h.notifier.saw("drift C0AUDIT mallory@elsewhere.example Prod admin"), 1);
    h.airlock.steps().reconcile().await.unwrap();
    h.deliver().await;
    assert_eq!(h.notifier.saw("drift C0AUDIT mallory"), 1, "reported once a day, not on every sweep");
    assert_eq!(h.airlock.get_request(active.id()).await.unwrap().status(), Status::Active, "backed access stays");
}

#[tokio::test]
async fn approvers_are_reminded_once_half_way_and_requesters_warned_once_before_expiry() {
    let h = Harness::new();
    let (pending, state) = submitted(&h, "U3", form("aws-prod", "prod-admin", "4h", "Normal")).await;
    next(step(&h, StepName::Request, state, None).await);
    let (active, state) = submitted(&h, "U4", form("aws-prod", "prod-readonly", "1h", "Emergency")).await;
    next(step(&h, StepName::Escalate, next(step(&h, StepName::Request, state, None).await), None).await);

    let one_active = RemindersSent { active: 1, ..RemindersSent::default() };
    assert_eq!(h.airlock.steps().remind().await.unwrap(), one_active, "too early for either; one grant counted");

    h.clock.advance(Duration::from_secs(31 * 60)); // half of the 1h approval window
    let sent = h.airlock.steps().remind().await.unwrap();
    assert_eq!(sent.approvers, 1);
    h.deliver().await;
    assert_eq!(h.notifier.saw(&format!("remind {}", pending.id())), 1);
    assert!(h.airlock.get_request(pending.id()).await.unwrap().reminders().approvers);

    h.clock.advance(Duration::from_secs(20 * 60)); // 9 minutes before the 1h grant ends
    let sent = h.airlock.steps().remind().await.unwrap();
    assert_eq!((sent.approvers, sent.expiry), (0, 1), "each reminder goes out once");
    h.deliver().await;
    assert_eq!(h.notifier.saw(&format!("dm {} ExpiringSoon", active.id())), 1);
    assert_eq!(h.airlock.steps().remind().await.unwrap(), one_active);
    assert_eq!(
        h.airlock.get_request(active.id()).await.unwrap().status(),
        Status::Active,
        "a reminder changes no status"
    );
}

#[tokio::test]
async fn only_the_requester_cancels_and_only_while_pending() {
    let h = Harness::new();
    let (request, _) = submitted(&h, "U3", form("aws-prod", "prod-admin", "1h", "Normal")).await;
    let (bob, carol) =
        (h.airlock.identify_slack_user("U2").await.unwrap(), h.airlock.identify_slack_user("U3").await.unwrap());
    assert_eq!(
        h.airlock.cancel(request.id(), &bob, None).await.unwrap_err(),
        GrantChangeError::NotAllowed(ChangeRefusal::Cancel)
    );
    h.airlock.decide(request.id(), &bob, Verdict::Deny, None).await.unwrap();
    let late = h.airlock.cancel(request.id(), &carol, None).await.unwrap_err();
    assert_eq!(late, GrantChangeError::NotPending(Status::Denied));
    assert_eq!(late.to_string(), "this request is already denied");
    let missing = airlock_core::RequestId::generate();
    assert_eq!(h.airlock.cancel(&missing, &carol, None).await.unwrap_err(), GrantChangeError::NotFound(missing));
}
