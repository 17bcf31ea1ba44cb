//! The edges: standing access, config changes, failures that must not lose, starve or strand anything.

use airlock_core::config::EXAMPLE_CONFIG;
use airlock_core::ports::{EscalationError, NotifyError};
use airlock_core::services::{StepError, StepOutcome, SubmitInput};
use airlock_core::{Airlock, Status, StepCall, StepName, WorkflowState};
use airlock_testkit::harness::Harness;
use serde_json::json;
use std::time::Duration;

fn form(flow: &str, target: &str, duration: &str, urgency: &str) -> SubmitInput {
    SubmitInput {
        flow: flow.into(),
        target: Some(target.into()),
        duration: Some(duration.into()),
        reason: "incident".into(),
        fields: if urgency.is_empty() { Default::default() } else { [("urgency".to_string(), json!(urgency))].into() },
        ..SubmitInput::default()
    }
}

async fn run(airlock: &Airlock, step: StepName, id: &airlock_core::RequestId) -> Result<StepOutcome, StepError> {
    let state = WorkflowState::start(id.clone(), 3600);
    airlock.steps().run(StepCall { step, state, task_token: None }).await
}

/// An auto-approved (Emergency) grant of `target` in aws-prod for `email`, escalated.
async fn granted(h: &Harness, email: &str, target: &str, duration: &str) -> airlock_core::RequestId {
    let who = h.airlock.identify(email).await.unwrap();
    let request = h.airlock.submit(&who, form("aws-prod", target, duration, "Emergency")).await.unwrap();
    run(&h.airlock, StepName::Request, request.id()).await.unwrap();
    run(&h.airlock, StepName::Escalate, request.id()).await.unwrap();
    request.id().clone()
}

fn email(e: &str) -> airlock_core::Email {
    e.parse().unwrap()
}

#[tokio::test]
async fn standing_access_is_never_removed_at_expiry_or_by_the_drift_check() {
    let h = Harness::new();
    h.escalator.standing.lock().unwrap().push(email("carol@example.com"));
    let id = granted(&h, "carol@example.com", "prod-admin", "15m").await;
    let request = h.airlock.get_request(&id).await.unwrap();
    assert!(request.preexisting_access(), "the escalator found the access already there");

    h.clock.advance(Duration::from_secs(16 * 60));
    run(&h.airlock, StepName::Deescalate, &id).await.unwrap();
    let request = h.airlock.get_request(&id).await.unwrap();
    assert_eq!(request.status(), Status::Expired);
    assert!(h.escalator.deescalated.lock().unwrap().is_empty(), "standing access stays");
    let trail = h.airlock.audit_trail(&id).await.unwrap();
    assert!(trail.last().unwrap().detail.as_deref().unwrap().contains("existed before Airlock"));

    h.escalator.holding.lock().unwrap().insert("prod-admin".into(), vec![email("carol@example.com")]);
    let report = h.airlock.steps().reconcile().await.unwrap();
    assert!(report.removed.is_empty(), "the drift check leaves standing access alone");
    assert_eq!(report.reported.len(), 1);
    assert!(h.escalator.deescalated.lock().unwrap().is_empty());
}

#[tokio::test]
async fn access_is_removed_even_after_its_target_left_the_config() {
    let h = Harness::new();
    let id = granted(&h, "carol@example.com", "prod-admin", "15m").await;
    let without_target =
        EXAMPLE_CONFIG.replace("      - name: prod-admin\n        label: Prod admin\n        kind: record\n", "");
    let later = h.reconfigured(airlock_core::Config::from_yaml(&without_target).unwrap());
    assert!(later.config().flow("aws-prod").unwrap().target("prod-admin").is_none());
    h.clock.advance(Duration::from_secs(16 * 60));
    run(&later, StepName::Deescalate, &id).await.unwrap();
    assert_eq!(*h.escalator.deescalated.lock().unwrap(), vec![id.clone()], "removed with the target it was granted");
    assert!(!later.get_request(&id).await.unwrap().holds_access());
}

#[tokio::test]
async fn the_drift_check_reads_a_holders_whole_history() {
    let h = Harness::new();
    let old = granted(&h, "dave@example.com", "prod-readonly", "15m").await;
    h.clock.advance(Duration::from_secs(16 * 60));
    run(&h.airlock, StepName::Deescalate, &old).await.unwrap();
    // 120 later requests of other access push the old grant out of any "last 100".
    let dave = h.airlock.identify("dave@example.com").await.unwrap();
    for _ in 0..120 {
        let r = h.airlock.submit(&dave, form("sandbox", "sandbox-admin", "30s", "")).await.unwrap();
        h.airlock.cancel(r.id(), &dave, None).await.unwrap();
    }
    h.escalator.deescalated.lock().unwrap().clear();
    h.escalator.holding.lock().unwrap().insert("prod-readonly".into(), vec![email("dave@example.com")]);
    let report = h.airlock.steps().reconcile().await.unwrap();
    assert_eq!(report.removed.len(), 1, "Airlock made this access: removed, not reported as foreign");
    assert!(report.reported.is_empty());
}

#[tokio::test]
async fn removals_that_keep_failing_never_starve_the_others() {
    let h = Harness::new();
    let mut stuck = Vec::new();
    for i in 0..105 {
        let who = format!("stuck{i}@example.com");
        h.escalator.stuck.lock().unwrap().push(email(&who));
        stuck.push(granted(&h, &who, "prod-admin", "15m").await);
    }
    h.clock.advance(Duration::from_secs(1));
    let fine = granted(&h, "carol@example.com", "prod-admin", "15m").await;
    h.clock.advance(Duration::from_secs(16 * 60));
    assert_eq!(h.airlock.steps().sweep().await.unwrap(), 1, "the one removable grant is removed");
    assert!(!h.airlock.get_request(&fine).await.unwrap().holds_access());
    let first = h.airlock.get_request(&stuck[0]).await.unwrap();
    assert!(first.holds_access(), "a failing removal stays on the record until it succeeds");
    assert_eq!(first.removal().unwrap().attempts, 1);
}

#[tokio::test]
async fn repeated_removal_failures_are_audit_events_and_stay_visible() {
    let h = Harness::new();
    h.escalator.stuck.lock().unwrap().push(email("carol@example.com"));
    let id = granted(&h, "carol@example.com", "prod-admin", "15m").await;
    h.clock.advance(Duration::from_secs(16 * 60));
    for _ in 0..5 {
        assert!(run(&h.airlock, StepName::Deescalate, &id).await.is_err());
        h.clock.advance(Duration::from_secs(20 * 60));
    }
    let request = h.airlock.get_request(&id).await.unwrap();
    assert!(request.holds_access() && request.access_removed_at().is_none());
    assert_eq!(request.removal().unwrap().attempts, 5);
    let failures = h.airlock.audit_trail(&id).await.unwrap().into_iter().filter(|e| e.action == "removal_failed");
    assert_eq!(failures.count(), 2, "attempts 4 and 5: past the first few, each failure is on the trail");

    h.escalator.stuck.lock().unwrap().clear();
    assert_eq!(h.airlock.steps().sweep().await.unwrap(), 1);
    let request = h.airlock.get_request(&id).await.unwrap();
    assert!(request.access_removed_at().is_some() && request.removal().is_none());
}

#[tokio::test]
async fn record_targets_of_the_same_name_in_two_flows_do_not_collide() {
    let yaml = EXAMPLE_CONFIG.replace("name: sandbox-admin", "name: prod-admin");
    let h = Harness::with_config(airlock_core::Config::from_yaml(&yaml).unwrap());
    let carol = h.airlock.identify("carol@example.com").await.unwrap();
    h.airlock.submit(&carol, form("aws-prod", "prod-admin", "1h", "Normal")).await.unwrap();
    let second = h.airlock.submit(&carol, form("sandbox", "prod-admin", "15m", "")).await;
    assert!(second.is_ok(), "a different flow's record target is different access: {second:?}");
}

#[tokio::test]
async fn a_failed_escalation_is_cleaned_up_as_if_it_had_been_granted() {
    let h = Harness::new();
    let carol = h.airlock.identify("carol@example.com").await.unwrap();
    let request = h.airlock.submit(&carol, form("aws-prod", "prod-admin", "1h", "Emergency")).await.unwrap();
    run(&h.airlock, StepName::Request, request.id()).await.unwrap();
    h.escalator.failures.lock().unwrap().push(EscalationError::Permanent("503 after applying it".into()));
    assert!(run(&h.airlock, StepName::Escalate, request.id()).await.is_err());
    h.escalator.removal_failures.lock().unwrap().push(EscalationError::Transient("still down".into()));
    run(&h.airlock, StepName::EscalationFailed, request.id()).await.unwrap();
    let failed = h.airlock.get_request(request.id()).await.unwrap();
    assert_eq!(failed.status(), Status::Failed);
    assert!(failed.holds_access(), "the target may have applied it: removal pending");
    assert!(failed.removal_due().is_some(), "so the sweeper owns it");

    h.clock.advance(Duration::from_secs(60));
    assert_eq!(h.airlock.steps().sweep().await.unwrap(), 1);
    assert_eq!(*h.escalator.deescalated.lock().unwrap(), vec![request.id().clone()]);
    assert!(!h.airlock.get_request(request.id()).await.unwrap().holds_access());
}

#[tokio::test]
async fn rate_limited_notifications_wait_for_retry_after_and_keep_their_order() {
    let h = Harness::new();
    let carol = h.airlock.identify("carol@example.com").await.unwrap();
    let request = h.airlock.submit(&carol, form("aws-prod", "prod-admin", "1h", "Emergency")).await.unwrap();
    run(&h.airlock, StepName::Request, request.id()).await.unwrap();
    h.notifier.fail_next(NotifyError::Retry { message: "ratelimited".into(), after: Some(Duration::from_secs(30)) });
    let first = h.deliver().await;
    assert_eq!((first.sent, first.deferred), (0, 1), "the rest of this request's messages wait behind it");
    assert_eq!(h.notifier.saw("dm "), 0, "'approved' is held back behind the rate-limited 'submitted'");
    h.clock.advance(Duration::from_secs(29));
    assert_eq!(h.deliver().await.sent, 0, "not before Retry-After");
    h.clock.advance(Duration::from_secs(1));
    h.deliver().await;
    let lines = h.notifier.lines();
    let dms: Vec<&String> = lines.iter().filter(|l| l.starts_with("dm ")).collect();
    assert_eq!(dms.len(), 2, "nothing lost: {lines:?}");
    assert!(dms[0].ends_with("Submitted") && dms[1].ends_with("Approved"), "in order: {dms:?}");
    assert!(h.store.outbox().is_empty());
}

#[tokio::test]
async fn a_permanently_undeliverable_notification_is_dropped_and_the_rest_go_on() {
    let h = Harness::new();
    let carol = h.airlock.identify("carol@example.com").await.unwrap();
    h.airlock.submit(&carol, form("aws-prod", "prod-admin", "1h", "Normal")).await.unwrap();
    h.notifier.fail_next(NotifyError::Permanent("channel_not_found".into()));
    let delivered = h.deliver().await;
    // The "submitted" DM is dropped; the App Home refresh and the audit line go out.
    assert_eq!((delivered.dropped, delivered.sent, delivered.deferred), (1, 2, 0));
    assert!(h.store.outbox().is_empty());
}

#[tokio::test]
async fn every_pending_request_is_reminded_not_only_the_newest() {
    let h = Harness::new();
    for i in 0..230 {
        let who = h.airlock.identify(&format!("p{i}@example.com")).await.unwrap();
        h.airlock.submit(&who, form("aws-prod", "prod-admin", "1h", "Normal")).await.unwrap();
    }
    h.clock.advance(Duration::from_secs(31 * 60));
    assert_eq!(h.airlock.steps().remind().await.unwrap().approvers, 230);
}

#[tokio::test]
async fn an_api_revoke_answers_before_the_target_system_is_called() {
    let h = Harness::new();
    let id = granted(&h, "carol@example.com", "prod-admin", "1h").await;
    let revoked = h.airlock.revoke_as_system(&id, "ci", true, Some("incident over".into())).await.unwrap();
    assert_eq!(revoked.status(), Status::Revoked);
    assert!(h.escalator.deescalated.lock().unwrap().is_empty(), "not on the caller's path");
    assert_eq!(h.workflow.removals(), vec![id.clone()]);
    run(&h.airlock, StepName::Deescalate, &id).await.unwrap();
    assert_eq!(*h.escalator.deescalated.lock().unwrap(), vec![id.clone()]);
    let actions: Vec<_> = h.airlock.audit_trail(&id).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["submitted", "auto_approved", "access_granted", "revoked", "access_removed"]);
}

#[tokio::test]
async fn already_held_on_a_retried_escalation_is_not_taken_for_standing_access() {
    let h = Harness::new();
    let carol = h.airlock.identify("carol@example.com").await.unwrap();
    let request = h.airlock.submit(&carol, form("aws-prod", "prod-admin", "15m", "Emergency")).await.unwrap();
    run(&h.airlock, StepName::Request, request.id()).await.unwrap();
    // The first attempt applies the access, then fails (e.g. its status polls run out).
    h.escalator.failures.lock().unwrap().push(EscalationError::Transient("status unknown".into()));
    assert!(run(&h.airlock, StepName::Escalate, request.id()).await.is_err());
    assert_eq!(h.airlock.get_request(request.id()).await.unwrap().status(), Status::Approved);
    // The retry finds the assignment the first attempt made.
    h.escalator.standing.lock().unwrap().push(email("carol@example.com"));
    run(&h.airlock, StepName::Escalate, request.id()).await.unwrap();
    let active = h.airlock.get_request(request.id()).await.unwrap();
    assert!(!active.preexisting_access(), "Airlock may have made it: it is removed at expiry");
    h.clock.advance(Duration::from_secs(16 * 60));
    run(&h.airlock, StepName::Deescalate, request.id()).await.unwrap();
    assert_eq!(*h.escalator.deescalated.lock().unwrap(), vec![request.id().clone()]);
}
