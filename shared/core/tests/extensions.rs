//! Extensions through the services: asked by the requester, decided by rules or approvers, within
//! the flow's limits; the workflow's expiry check holds until the new expiry.

use airlock_core::error::{ChangeRefusal, DecideError, GrantChangeError};
use airlock_core::policy::DecisionRefusal;
use airlock_core::request::ExtensionStatus;
use airlock_core::services::SubmitInput;
use airlock_core::{
    AccessRequest, AuditAction, Config, Decision, GrantDuration, Hold, Status, StepCall, StepName, Verdict,
    WorkflowState,
};
use airlock_testkit::harness::Harness;
use std::time::Duration;

const CONFIG: &str = r#"
organization:
  primary_domain: example.com
  admins: [alice@example.com]
slack:
  command: /access
flows:
  - name: db
    label: Database
    approvers:
      users: [bob@example.com]
      channel: C0APPROVALS
    durations: [15m, 1h]
    max_duration: 1h
    targets:
      - {name: primary, label: Primary, kind: record}
    rules:
      auto_deny: 'request.is_extension && request.extension_seconds > 1800 && request.reason == "weekend"'
  - name: scratch
    label: Scratch
    approvers:
      users: [bob@example.com]
    durations: [15m]
    max_duration: 1h
    extensions: {max: 2, self_approve: true}
    targets:
      - {name: box, label: Box, kind: record}
  - name: frozen
    label: Frozen
    approvers:
      users: [bob@example.com]
    durations: [15m]
    max_duration: 1h
    extensions: {max: 0}
    targets:
      - {name: ice, label: Ice, kind: record}
"#;

fn harness() -> Harness {
    Harness::with_config(Config::from_yaml(CONFIG).expect("the test config parses"))
}

fn quarter() -> GrantDuration {
    "15m".parse().unwrap()
}

/// Carol's request for `flow`/`target`, approved by Bob and granted; its workflow state after Escalate.
async fn granted(h: &Harness, flow: &str, target: &str) -> (AccessRequest, WorkflowState) {
    let carol = h.airlock.identify_slack_user("U3").await.unwrap();
    let input = SubmitInput {
        flow: flow.into(),
        target: Some(target.into()),
        duration: Some("15m".into()),
        reason: "migration".into(),
        ..SubmitInput::default()
    };
    let request = h.airlock.submit(&carol, input).await.unwrap();
    let bob = h.airlock.identify_slack_user("U2").await.unwrap();
    h.airlock.decide(request.id(), &bob, Verdict::Approve, None).await.unwrap();
    let mut state = h.workflow.started().last().cloned().unwrap();
    state.decision = Some(Decision::Approved);
    let call = StepCall { step: StepName::Escalate, state, task_token: None };
    let airlock_core::services::StepOutcome::Next(state) = h.airlock.steps().run(call).await.unwrap() else {
        panic!("escalation goes on")
    };
    (h.airlock.get_request(request.id()).await.unwrap(), state)
}

#[tokio::test]
async fn an_extension_goes_to_the_approvers_and_moves_the_expiry_only_once_approved() {
    let h = harness();
    let (request, state) = granted(&h, "db", "primary").await;
    let carol = h.airlock.identify_slack_user("U3").await.unwrap();
    let asked = h.airlock.ask_extension(request.id(), &carol, quarter(), "long migration").await.unwrap();
    assert_eq!(asked.expires_at(), request.expires_at());
    h.deliver().await;
    assert_eq!(h.notifier.saw(&format!("extension-card {} #1 to C0APPROVALS", request.id())), 1);
    assert_eq!(h.notifier.saw(&format!("extension-card {} #1 to bob@example.com", request.id())), 0);
    assert_eq!(h.notifier.saw(&format!("extension-card {} #1 to U2", request.id())), 1, "bob is DMed by Slack id");
    assert!(h.notifier.lines().iter().any(|l| l.ends_with("ExtensionRequested")));

    // The requester cannot approve their own extension; Bob can.
    assert_eq!(
        h.airlock.decide_extension(request.id(), &carol, Verdict::Approve, None).await.unwrap_err(),
        DecideError::NotAllowed(DecisionRefusal::SelfApproval)
    );
    let bob = h.airlock.identify_slack_user("U2").await.unwrap();
    let extended = h.airlock.decide_extension(request.id(), &bob, Verdict::Approve, Some("ok".into())).await.unwrap();
    assert_eq!(extended.expires_at().unwrap() - request.expires_at().unwrap(), chrono::Duration::minutes(15));
    assert_eq!(
        h.airlock.decide_extension(request.id(), &bob, Verdict::Approve, None).await.unwrap_err(),
        DecideError::AlreadyDecided(Status::Active),
        "nothing is pending any more"
    );
    h.deliver().await;
    assert!(h.notifier.lines().iter().any(|l| l.ends_with("Extended")));
    let actions: Vec<AuditAction> =
        h.airlock.audit_trail(request.id()).await.unwrap().into_iter().map(|e| e.action).collect();
    assert!(actions.ends_with(&[AuditAction::ExtensionRequested, AuditAction::Extended]), "{actions:?}");

    // The workflow's hold re-reads the stored expiry and waits again; then removes on time.
    h.clock.advance(Duration::from_secs(16 * 60));
    let call = StepCall { step: StepName::CheckExpiry, state, task_token: None };
    let airlock_core::services::StepOutcome::Next(held) = h.airlock.steps().run(call).await.unwrap() else {
        panic!("the expiry check goes on")
    };
    assert_eq!(held.hold, Some(Hold::Wait));
    assert_eq!(held.expires_at, extended.expires_at());
    assert_eq!(h.airlock.steps().sweep().await.unwrap(), 0, "not due before the new expiry");
    h.clock.advance(Duration::from_secs(15 * 60));
    assert_eq!(h.airlock.steps().sweep().await.unwrap(), 1);
}

#[tokio::test]
async fn a_denied_extension_keeps_the_expiry_and_does_not_count() {
    let h = harness();
    let (request, _) = granted(&h, "db", "primary").await;
    let carol = h.airlock.identify_slack_user("U3").await.unwrap();
    let bob = h.airlock.identify_slack_user("U2").await.unwrap();
    h.airlock.ask_extension(request.id(), &carol, quarter(), "more").await.unwrap();
    assert_eq!(
        h.airlock.ask_extension(request.id(), &carol, quarter(), "more").await.unwrap_err(),
        GrantChangeError::ExtensionPending
    );
    let denied = h.airlock.decide_extension(request.id(), &bob, Verdict::Deny, Some("not today".into())).await.unwrap();
    assert_eq!(denied.expires_at(), request.expires_at());
    assert_eq!(denied.extensions()[0].status, ExtensionStatus::Denied);
    h.airlock.ask_extension(request.id(), &carol, quarter(), "please").await.unwrap();
}

#[tokio::test]
async fn rules_see_an_extension_and_self_approve_needs_no_approver() {
    let h = harness();
    let carol = h.airlock.identify_slack_user("U3").await.unwrap();
    let (db, _) = granted(&h, "db", "primary").await;
    let hour = "1h".parse().unwrap();
    let denied = h.airlock.ask_extension(db.id(), &carol, hour, "weekend").await.unwrap();
    assert_eq!(denied.extensions()[0].status, ExtensionStatus::Denied, "auto_deny matched request.is_extension");
    assert_eq!(denied.expires_at(), db.expires_at());
    h.deliver().await;
    assert_eq!(h.notifier.saw("extension-card"), 0, "a rule's decision needs no card");

    let (scratch, _) = granted(&h, "scratch", "box").await;
    let extended = h.airlock.ask_extension(scratch.id(), &carol, quarter(), "tests").await.unwrap();
    assert_eq!(extended.extensions()[0].status, ExtensionStatus::Approved);
    assert_eq!(extended.expires_at().unwrap() - scratch.expires_at().unwrap(), chrono::Duration::minutes(15));
    let again = h.airlock.ask_extension(scratch.id(), &carol, quarter(), "more tests").await.unwrap();
    assert_eq!(again.expires_at().unwrap() - scratch.expires_at().unwrap(), chrono::Duration::minutes(30));
    assert_eq!(
        h.airlock.ask_extension(scratch.id(), &carol, quarter(), "even more").await.unwrap_err(),
        GrantChangeError::ExtensionLimit(2)
    );
    let actions: Vec<AuditAction> =
        h.airlock.audit_trail(scratch.id()).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions.iter().filter(|a| **a == AuditAction::ExtensionRequested).count(), 2);
    assert_eq!(actions.iter().filter(|a| **a == AuditAction::Extended).count(), 2);
}

#[tokio::test]
async fn limits_and_who_may_ask() {
    let h = harness();
    let carol = h.airlock.identify_slack_user("U3").await.unwrap();
    let (frozen, _) = granted(&h, "frozen", "ice").await;
    assert_eq!(
        h.airlock.ask_extension(frozen.id(), &carol, quarter(), "x").await.unwrap_err(),
        GrantChangeError::ExtensionLimit(0)
    );
    let (db, _) = granted(&h, "db", "primary").await;
    let two_hours = "2h".parse().unwrap();
    assert!(matches!(
        h.airlock.ask_extension(db.id(), &carol, two_hours, "x").await.unwrap_err(),
        GrantChangeError::TooLong(_)
    ));
    let dave = h.airlock.identify_slack_user("U4").await.unwrap();
    assert_eq!(
        h.airlock.ask_extension(db.id(), &dave, quarter(), "x").await.unwrap_err(),
        GrantChangeError::NotAllowed(ChangeRefusal::Extend)
    );
    let alice = h.airlock.identify_slack_user("U1").await.unwrap();
    h.airlock.ask_extension(db.id(), &alice, quarter(), "on carol's behalf").await.unwrap();
}

#[tokio::test]
async fn a_pending_extension_lapses_when_the_grant_ends() {
    let h = harness();
    let (request, _) = granted(&h, "db", "primary").await;
    let carol = h.airlock.identify_slack_user("U3").await.unwrap();
    h.airlock.ask_extension(request.id(), &carol, quarter(), "more").await.unwrap();
    h.airlock.revoke(request.id(), &carol, None).await.unwrap();
    let request = h.airlock.get_request(request.id()).await.unwrap();
    assert_eq!(request.extensions()[0].status, ExtensionStatus::Lapsed);
    let bob = h.airlock.identify_slack_user("U2").await.unwrap();
    assert_eq!(
        h.airlock.decide_extension(request.id(), &bob, Verdict::Approve, None).await.unwrap_err(),
        DecideError::AlreadyDecided(Status::Revoked)
    );
}
