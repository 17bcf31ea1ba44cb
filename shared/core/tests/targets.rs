//! Several targets in one request: the request's own transitions and invariants (its status follows
//! its targets), requests stored in the single-target shape, and the services granting, failing,
//! removing and checking each target on its own over the testkit's fakes.

use airlock_core::config::EXAMPLE_CONFIG;
use airlock_core::ports::{EscalationError, RequesterUpdate};
use airlock_core::request::ExtensionLimits;
use airlock_core::services::{StepError, StepOutcome, SubmitInput};
use airlock_core::workflow::Hold;
use airlock_core::{
    AccessRequest, Actor, AuditAction, ChangeError, Config, GrantDuration, NewRequest, NewTarget, RequestId, Requester,
    Role, Status, StepCall, StepName, Target, TargetKind, Verdict, WorkflowState,
};
use airlock_testkit::harness::Harness;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::json;
use std::time::Duration;

// The request itself.

fn new_request(names: &[&str]) -> AccessRequest {
    let targets = names
        .iter()
        .map(|name| NewTarget {
            target: Target { name: (*name).into(), label: name.to_uppercase(), kind: TargetKind::Record },
            access_key: format!("record:aws-prod:{name}"),
        })
        .collect();
    let new = NewRequest {
        flow: "aws-prod".into(),
        environment: "prod".into(),
        targets,
        requester: Requester { email: "carol@example.com".parse().unwrap(), slack_id: None, role: Role::Member },
        duration: GrantDuration::from_secs(600),
        reason: "INC-1".into(),
        fields: Default::default(),
        approval_timeout: GrantDuration::from_secs(3600),
    };
    AccessRequest::submit(new, Actor::system("test"), Utc::now()).unwrap().0
}

fn approved(names: &[&str]) -> AccessRequest {
    let mut request = new_request(names);
    request.approve(Actor::system("test"), 1, None, None, Utc::now()).unwrap();
    request
}

fn bob() -> Actor {
    Actor::system("bob")
}

fn status_of(request: &AccessRequest, name: &str) -> Status {
    request.status_of(request.target_named(name).unwrap())
}

fn holds(request: &AccessRequest, name: &str) -> bool {
    request.target_holds_access(request.target_named(name).unwrap())
}

#[test]
fn two_targets_are_granted_and_expired_each_on_its_own() {
    let now = Utc::now();
    let mut request = approved(&["a", "b"]);
    assert_eq!((request.target(), request.access_key()), ("a", "record:aws-prod:a"), "`target` names the first");
    let first = request.activate("a", now, false, now).unwrap();
    assert_eq!((first.target.as_str(), first.from, first.to), ("a", Some(Status::Approved), Status::Active));
    assert_eq!(request.expires_at(), Some(now + chrono::Duration::seconds(600)));
    assert_eq!((status_of(&request, "a"), status_of(&request, "b")), (Status::Active, Status::Approved));
    let later = now + chrono::Duration::seconds(5);
    let second = request.activate("b", later, false, later).unwrap();
    assert_eq!((second.target.as_str(), second.from, second.to), ("b", Some(Status::Active), Status::Active));
    assert_eq!(request.expires_at(), Some(now + chrono::Duration::seconds(600)), "one expiry for every target");
    assert_eq!(request.activate("b", later, false, later).unwrap_err(), ChangeError::TargetSettled("b".into()));
    assert_eq!(request.granted_at(), Some(now));

    let end = now + chrono::Duration::seconds(600);
    assert_eq!(request.targets_to_remove(end - chrono::Duration::seconds(1), false).len(), 0, "not before expiry");
    assert_eq!(request.targets_to_remove(end, false).len(), 2);
    let a_gone = request.expire("a", bob(), None, end).unwrap();
    assert_eq!((a_gone.action, a_gone.target.as_str(), a_gone.to), (AuditAction::Expired, "a", Status::Active));
    assert_eq!((status_of(&request, "a"), status_of(&request, "b")), (Status::Expired, Status::Active));
    assert!(request.holds_access() && request.access_removed_at().is_none(), "b still holds access");
    let b_gone = request.expire("b", bob(), None, end).unwrap();
    assert_eq!((b_gone.target.as_str(), b_gone.from, b_gone.to), ("b", Some(Status::Active), Status::Expired));
    assert_eq!((request.status(), request.access_removed_at()), (Status::Expired, Some(end)));
    assert!(!request.holds_access());
}

#[test]
fn a_failed_target_leaves_the_granted_one_active_and_is_removed_on_its_own() {
    let now = Utc::now();
    let mut request = approved(&["a", "b"]);
    request.escalation_started("b", now).unwrap();
    request.activate("a", now, false, now).unwrap();
    let failed = request.fail("b", "403 from the target", now).unwrap();
    assert_eq!((failed.target.as_str(), failed.to), ("b", Status::Active));
    assert_eq!(failed.detail.as_deref(), Some("403 from the target"));
    assert_eq!((request.status(), status_of(&request, "b")), (Status::Active, Status::Failed));
    assert_eq!(request.failure(), None, "the request did not fail");
    assert!(holds(&request, "b"), "the target may have applied it before refusing");
    assert_eq!(request.removal_due(), Some(request.updated_at()), "its removal is due at once");
    let names: Vec<&str> = request.targets_to_remove(now, false).iter().map(|t| t.name()).collect();
    assert_eq!(names, ["b"], "not the granted one before its expiry");
    assert!(request.record_removal("a", bob(), None, now).is_err(), "a granted target of an active grant expires");
    let removed = request.record_removal("b", bob(), None, now).unwrap();
    assert_eq!((removed.action, removed.target.as_str()), (AuditAction::AccessRemoved, "b"));
    assert_eq!(request.status(), Status::Active);
    assert_eq!(request.removal_due(), request.expires_at());
}

#[test]
fn the_request_fails_only_when_no_target_could_be_granted() {
    let now = Utc::now();
    let mut request = approved(&["a", "b"]);
    let first = request.fail("a", "refused", now).unwrap();
    assert_eq!((first.from, first.to), (Some(Status::Approved), Status::Approved), "b may still be granted");
    let last = request.fail("b", "timed out", now).unwrap();
    assert_eq!((last.from, last.to), (Some(Status::Approved), Status::Failed));
    assert_eq!(request.failure(), Some("a: refused; b: timed out"));
    assert!(request.holds_access(), "both may have been applied: removed as if granted");

    let mut single = approved(&["a"]);
    single.fail("a", "refused", now).unwrap();
    assert_eq!((single.status(), single.failure()), (Status::Failed, Some("refused")));
}

#[test]
fn a_revoke_cuts_short_a_target_still_being_granted_and_ends_every_claim() {
    let now = Utc::now();
    let mut request = approved(&["a", "b", "c"]);
    request.activate("a", now, false, now).unwrap();
    request.escalation_started("b", now).unwrap();
    assert_eq!(request.pending_targets().len(), 2);
    request.revoke(bob(), None, now).unwrap();
    assert!(request.pending_targets().is_empty(), "nothing is granted after a revoke");
    assert!(holds(&request, "b"), "b was asked for: removed as if granted");
    assert!(!holds(&request, "c"), "c was never asked for");
    assert_eq!(status_of(&request, "b"), Status::Revoked);
    assert!(request.targets().iter().all(|t| t.closed_in() == Some(request.version())));
    assert!(request.activate("b", now, false, now).is_err());
    let names: Vec<&str> = request.targets_to_remove(now, false).iter().map(|t| t.name()).collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn a_claim_ends_with_its_target_in_the_write_that_ends_it() {
    let now = Utc::now();
    let mut request = approved(&["a", "b"]);
    request.activate("a", now, false, now).unwrap();
    request.fail("b", "refused", now).unwrap();
    let b = request.target_named("b").unwrap();
    assert_eq!(b.closed_in(), Some(request.version()), "b's lock goes with this write");
    assert!(!request.target_is_open(b) && request.target_is_open(request.target_named("a").unwrap()));
}

#[test]
fn a_request_names_one_to_twenty_targets_each_access_once() {
    let target = |name: &str, key: &str| NewTarget {
        target: Target { name: name.into(), label: name.into(), kind: TargetKind::Record },
        access_key: key.into(),
    };
    let new = |targets| NewRequest {
        flow: "f".into(),
        environment: "prod".into(),
        targets,
        requester: Requester { email: "carol@example.com".parse().unwrap(), slack_id: None, role: Role::Member },
        duration: GrantDuration::from_secs(60),
        reason: "r".into(),
        fields: Default::default(),
        approval_timeout: GrantDuration::from_secs(60),
    };
    let submit = |targets| AccessRequest::submit(new(targets), Actor::system("t"), Utc::now()).map(|(r, _)| r);
    assert_eq!(submit(vec![]).unwrap_err(), ChangeError::Targets);
    assert_eq!(submit(vec![target("a", "k"), target("b", "k")]).unwrap_err(), ChangeError::Targets);
    let many = (0..21).map(|i| target(&format!("t{i}"), &format!("k{i}"))).collect();
    assert_eq!(submit(many).unwrap_err(), ChangeError::Targets);
    let (request, event) =
        AccessRequest::submit(new(vec![target("a", "ka"), target("b", "kb")]), Actor::system("t"), Utc::now()).unwrap();
    assert_eq!(event.target, "a,b", "a change of the whole request names every target");
    assert_eq!(request.targets().iter().map(|t| t.label()).collect::<Vec<_>>(), ["a", "b"]);
}

/// A request stored as the previous release wrote it (one target, its grant on the request).
fn stored_single_target(status: &str, failure: Option<&str>) -> serde_json::Value {
    json!({
        "id": RequestId::generate(), "version": 4, "status": status, "flow": "aws-prod",
        "target": "prod-admin", "access_key": "record:aws-prod:prod-admin",
        "target_spec": {"name": "prod-admin", "label": "Prod admin", "kind": "record"},
        "requester": {"email": "carol@example.com", "slack_id": "U3", "role": "member"},
        "duration_secs": 600, "reason": "INC-1", "fields": {},
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:05Z",
        "decision_deadline": "2026-01-01T01:00:00Z", "approvals": [],
        "decided_by": {"type": "system", "name": "test"}, "decision_note": null, "task_token": "tok",
        "cards": [], "granted_at": "2026-01-01T00:00:01Z", "expires_at": "2026-01-01T00:10:01Z",
        "access_removed_at": null, "failure": failure, "reminders": {"approvers": false, "expiry": false},
        "preexisting_access": false, "escalation_attempted": true,
        "removal": {"attempts": 2, "last_error": "503", "next_attempt_at": "2026-01-01T00:11:00Z"},
        "cards_queued": true
    })
}

#[test]
fn requests_stored_with_one_target_load_with_their_grant_on_that_target() {
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    let request: AccessRequest = serde_json::from_value(stored_single_target("active", None)).unwrap();
    assert_eq!(request.targets().len(), 1);
    let target = &request.targets()[0];
    assert_eq!(
        (target.name(), target.access_key(), target.label()),
        ("prod-admin", request.access_key(), "Prod admin")
    );
    assert_eq!(target.granted_at(), Some(at("2026-01-01T00:00:01Z")));
    assert_eq!(target.removal().map(|r| r.attempts), Some(2));
    assert!(target.escalation_attempted() && request.holds_access());
    assert_eq!(request.removal_due(), Some(at("2026-01-01T00:11:00Z")), "its backoff still holds");
    assert_eq!(request.target_spec().map(|t| t.label.as_str()), Some("Prod admin"));
    // Written back in the new shape and read again, it is the same request.
    let written = serde_json::to_value(&request).unwrap();
    assert_eq!(written["targets"][0]["name"], "prod-admin");
    assert_eq!(written["target"], "prod-admin", "older readers still find the first target");
    assert_eq!(serde_json::from_value::<AccessRequest>(written).unwrap(), request);
    // And it still ends as it would have.
    let mut expiring = request.clone();
    expiring.expire("prod-admin", bob(), None, at("2026-01-01T00:12:00Z")).unwrap();
    assert_eq!(expiring.status(), Status::Expired);

    let mut failed_body = stored_single_target("failed", Some("403"));
    failed_body["granted_at"] = serde_json::Value::Null;
    failed_body["removal"] = serde_json::Value::Null;
    let failed: AccessRequest = serde_json::from_value(failed_body).unwrap();
    assert_eq!((failed.targets()[0].failure(), failed.failure()), (Some("403"), Some("403")));
    assert!(failed.holds_access(), "a failed escalation is still removed as if granted");
    assert_eq!(status_of(&failed, "prod-admin"), Status::Failed);
}

/// One thing that can happen to a request of three targets.
#[derive(Debug, Clone)]
enum Op {
    Approve,
    Deny,
    Cancel,
    TimeOut,
    Start(usize),
    Grant(usize),
    Fail(usize),
    Revoke,
    Expire(usize),
    Remove(usize),
    RemovalFailed(usize),
    Extend,
}

fn op() -> impl Strategy<Value = Op> {
    let target = 0usize..3;
    prop_oneof![
        Just(Op::Approve),
        Just(Op::Deny),
        Just(Op::Cancel),
        Just(Op::TimeOut),
        target.clone().prop_map(Op::Start),
        target.clone().prop_map(Op::Grant),
        target.clone().prop_map(Op::Fail),
        Just(Op::Revoke),
        target.clone().prop_map(Op::Expire),
        target.clone().prop_map(Op::Remove),
        target.prop_map(Op::RemovalFailed),
        Just(Op::Extend),
    ]
}

const NAMES: [&str; 3] = ["a", "b", "c"];

fn apply(request: &mut AccessRequest, op: &Op, now: DateTime<Utc>) -> Result<(), ChangeError> {
    let by = bob();
    match op {
        Op::Approve => request.approve(by, 1, None, None, now).map(drop),
        Op::Deny => request.deny(by, None, now).map(drop),
        Op::Cancel => request.cancel(by, None, now).map(drop),
        Op::TimeOut => request.time_out(now).map(drop),
        Op::Start(i) => request.escalation_started(NAMES[*i], now),
        Op::Grant(i) => request.activate(NAMES[*i], now, false, now).map(drop),
        Op::Fail(i) => request.fail(NAMES[*i], "refused", now).map(drop),
        Op::Revoke => request.revoke(by, None, now).map(drop),
        Op::Expire(i) => request.expire(NAMES[*i], by, None, now).map(drop),
        Op::Remove(i) => request.record_removal(NAMES[*i], by, None, now).map(drop),
        Op::RemovalFailed(i) => request.record_removal_failure(NAMES[*i], by, "503", now).map(drop),
        Op::Extend => {
            let limits = ExtensionLimits { max: 100, max_added: GrantDuration::from_secs(86_400) };
            let minute = GrantDuration::from_secs(60);
            let approve = airlock_core::Verdict::Approve;
            request.ask_extension_decided_by_rule(by, minute, "more".into(), limits, approve, "rule", now).map(drop)
        }
    }
}

/// The status the targets imply once a request was approved (`revoked`: a revoke happened).
fn implied_status(request: &AccessRequest, revoked: bool) -> Status {
    let targets = request.targets();
    if revoked {
        Status::Revoked
    } else if targets.iter().any(|t| t.granted_at().is_some() && t.access_removed_at().is_none()) {
        Status::Active
    } else if targets.iter().any(|t| t.granted_at().is_some()) {
        Status::Expired
    } else if targets.iter().all(|t| t.failure().is_some()) {
        Status::Failed
    } else {
        Status::Approved
    }
}

proptest! {
    #[test]
    fn the_status_follows_the_targets_whatever_happens(
        approve_first in any::<bool>(),
        mut ops in proptest::collection::vec(op(), 0..40),
    ) {
        if approve_first {
            ops.insert(0, Op::Approve);
        }
        let mut request = new_request(&NAMES);
        let mut now = Utc::now();
        let (mut approved, mut revoked) = (false, false);
        for op in ops {
            now += chrono::Duration::seconds(7);
            let before = request.clone();
            match apply(&mut request, &op, now) {
                Err(_) => prop_assert_eq!(&request, &before, "a refused change changes nothing"),
                Ok(()) => {
                    prop_assert_eq!(request.version(), before.version() + 1, "one write per change");
                    approved |= matches!(op, Op::Approve);
                    revoked |= matches!(op, Op::Revoke);
                }
            }
            let status = request.status();
            if approved {
                prop_assert_eq!(status, implied_status(&request, revoked), "{:?}", request.targets());
            } else {
                prop_assert!(request.targets().iter().all(|t| t.is_pending() && !t.escalation_attempted()));
            }
            prop_assert!(status != Status::Active || request.expires_at().is_some());
            for target in request.targets() {
                prop_assert!(target.granted_at().is_none() || target.failure().is_none(), "granted or failed");
                prop_assert!(target.closed_in().is_none_or(|v| v <= request.version()));
                prop_assert_eq!(
                    request.target_is_open(target),
                    !status.is_terminal() && target.failure().is_none() && target.access_removed_at().is_none()
                );
                let target_status = request.status_of(target);
                prop_assert!(target_status != Status::Active || status == Status::Active);
            }
            prop_assert!(!status.is_terminal() || request.pending_targets().is_empty());
            prop_assert_eq!(request.holds_access(), request.targets().iter().any(|t| request.target_holds_access(t)));
            prop_assert_eq!(request.removal_due().is_some(), request.holds_access());
            prop_assert_eq!(request.failure().is_some(), status == Status::Failed);
        }
    }
}

// The services.

/// The example config with several targets allowed in aws-prod (both of its targets are `record`).
fn config() -> Config {
    let yaml = EXAMPLE_CONFIG.replace(
        "    allow_self_approval: false\n    durations: [15m, 1h, 4h]",
        "    allow_self_approval: false\n    multiple_targets: true\n    durations: [15m, 1h, 4h]",
    );
    Config::from_yaml(&yaml).unwrap()
}

fn form(targets: &[&str], urgency: &str) -> SubmitInput {
    SubmitInput {
        flow: "aws-prod".into(),
        targets: targets.iter().map(|t| t.to_string()).collect(),
        duration: Some("15m".into()),
        reason: "incident".into(),
        fields: [("urgency".to_string(), json!(urgency))].into(),
        ..Default::default()
    }
}

async fn run(h: &Harness, step: StepName, id: &RequestId) -> Result<StepOutcome, StepError> {
    run_state(h, step, WorkflowState::start(id.clone(), 3600)).await
}

async fn run_state(h: &Harness, step: StepName, state: WorkflowState) -> Result<StepOutcome, StepError> {
    h.airlock.steps().run(StepCall { step, state, task_token: None }).await
}

/// Carol's request for `targets`, auto-approved (Emergency).
async fn submitted(h: &Harness, targets: &[&str]) -> RequestId {
    let carol = h.airlock.identify("carol@example.com").await.unwrap();
    let request = h.airlock.submit(&carol, form(targets, "Emergency")).await.unwrap();
    run(h, StepName::Request, request.id()).await.unwrap();
    request.id().clone()
}

async fn trail(h: &Harness, id: &RequestId) -> Vec<(String, String)> {
    let events = h.airlock.audit_trail(id).await.unwrap();
    events.into_iter().map(|e| (e.action.to_string(), e.target)).collect()
}

fn pair(action: &str, target: &str) -> (String, String) {
    (action.to_string(), target.to_string())
}

#[tokio::test]
async fn two_targets_are_granted_once_each_and_expire_each_on_their_own() {
    let h = Harness::with_config(config());
    let id = submitted(&h, &["prod-admin", "prod-readonly"]).await;
    let StepOutcome::Next(state) = run(&h, StepName::Escalate, &id).await.unwrap() else { panic!("waiting") };
    run(&h, StepName::Escalate, &id).await.unwrap();
    assert_eq!(h.escalator.targets("escalate", &id), ["prod-admin", "prod-readonly"], "a replay grants nothing twice");
    let request = h.airlock.get_request(&id).await.unwrap();
    assert_eq!(request.status(), Status::Active);
    assert_eq!(state.expires_at, request.expires_at());
    h.deliver().await;
    assert_eq!(h.notifier.told(), [RequesterUpdate::Submitted, RequesterUpdate::Approved, RequesterUpdate::Active]);

    h.clock.advance(Duration::from_secs(15 * 60));
    run(&h, StepName::Deescalate, &id).await.unwrap();
    assert_eq!(h.escalator.targets("deescalate", &id), ["prod-admin", "prod-readonly"]);
    assert_eq!(h.airlock.get_request(&id).await.unwrap().status(), Status::Expired);
    assert_eq!(
        trail(&h, &id).await,
        [
            pair("submitted", "prod-admin,prod-readonly"),
            pair("auto_approved", "prod-admin,prod-readonly"),
            pair("access_granted", "prod-admin"),
            pair("access_granted", "prod-readonly"),
            pair("expired", "prod-admin"),
            pair("expired", "prod-readonly"),
        ]
    );
    h.deliver().await;
    assert_eq!(h.notifier.told().last(), Some(&RequesterUpdate::Expired));
    assert_eq!(h.notifier.told().iter().filter(|u| **u == RequesterUpdate::Expired).count(), 1, "told once");
}

#[tokio::test]
async fn a_refusing_target_fails_alone_and_what_it_applied_is_removed() {
    let h = Harness::with_config(config());
    h.escalator.refusing.lock().unwrap().insert("prod-admin".into(), EscalationError::Permanent("403".into()));
    let id = submitted(&h, &["prod-admin", "prod-readonly"]).await;
    run(&h, StepName::Escalate, &id).await.unwrap();
    let request = h.airlock.get_request(&id).await.unwrap();
    assert_eq!(request.status(), Status::Active, "the other target was granted");
    assert_eq!(request.target_named("prod-admin").unwrap().failure(), Some("403"));
    assert_eq!(h.escalator.targets("escalate", &id), ["prod-readonly"]);
    assert_eq!(h.escalator.targets("deescalate", &id), ["prod-admin"], "the refused one is cleaned up at once");
    assert!(!request.target_holds_access(request.target_named("prod-admin").unwrap()));
    let actions = trail(&h, &id).await;
    assert!(actions.contains(&pair("escalation_failed", "prod-admin")), "{actions:?}");
    assert!(actions.contains(&pair("access_removed", "prod-admin")), "{actions:?}");
    h.deliver().await;
    assert_eq!(h.notifier.told().last(), Some(&RequesterUpdate::Active), "told once, when it settled");

    // The refused access is free to be asked for again while the other is held.
    let carol = h.airlock.identify("carol@example.com").await.unwrap();
    let again = h.airlock.submit(&carol, form(&["prod-admin"], "Normal")).await.unwrap();
    assert_eq!(again.targets().len(), 1);
    let duplicate = h.airlock.submit(&carol, form(&["prod-readonly"], "Normal")).await.unwrap_err();
    assert_eq!(duplicate, airlock_core::error::SubmitError::Duplicate(id.clone()), "one open request per access");
}

#[tokio::test]
async fn a_target_down_for_a_while_is_retried_alone_then_given_up_keeping_the_other() {
    let h = Harness::with_config(config());
    h.escalator.refusing.lock().unwrap().insert("prod-admin".into(), EscalationError::Transient("503".into()));
    let id = submitted(&h, &["prod-admin", "prod-readonly"]).await;
    for _ in 0..3 {
        let error = run(&h, StepName::Escalate, &id).await.unwrap_err();
        assert!(matches!(error, StepError::Transient(ref m) if m.contains("prod-admin")), "{error:?}");
    }
    assert_eq!(h.escalator.targets("escalate", &id), ["prod-readonly"], "the granted one is not granted again");
    assert_eq!(h.airlock.get_request(&id).await.unwrap().status(), Status::Active, "active while retrying");

    // The retries ran out.
    let StepOutcome::Next(state) = run(&h, StepName::EscalationFailed, &id).await.unwrap() else { panic!() };
    let request = h.airlock.get_request(&id).await.unwrap();
    assert_eq!((state.hold, state.expires_at), (Some(Hold::Wait), request.expires_at()), "held until expiry");
    assert_eq!(request.status(), Status::Active);
    assert_eq!(request.status_of(request.target_named("prod-admin").unwrap()), Status::Failed);
    assert_eq!(h.escalator.targets("deescalate", &id), ["prod-admin"], "what the attempts applied is removed");
}

#[tokio::test]
async fn when_no_target_is_granted_the_request_fails() {
    let h = Harness::with_config(config());
    for target in ["prod-admin", "prod-readonly"] {
        h.escalator.refusing.lock().unwrap().insert(target.into(), EscalationError::Permanent("403".into()));
    }
    let id = submitted(&h, &["prod-admin", "prod-readonly"]).await;
    assert!(matches!(run(&h, StepName::Escalate, &id).await, Err(StepError::Permanent(_))));
    let StepOutcome::Next(state) = run(&h, StepName::EscalationFailed, &id).await.unwrap() else { panic!() };
    assert_eq!(state.hold, Some(Hold::Done));
    let request = h.airlock.get_request(&id).await.unwrap();
    assert_eq!((request.status(), request.failure()), (Status::Failed, Some("prod-admin: 403; prod-readonly: 403")));
    assert_eq!(h.escalator.targets("deescalate", &id), ["prod-admin", "prod-readonly"]);
    h.deliver().await;
    assert_eq!(h.notifier.told().last(), Some(&RequesterUpdate::Failed));
}

#[tokio::test]
async fn one_failing_removal_holds_up_neither_the_other_target_nor_the_sweeper() {
    let h = Harness::with_config(config());
    let stuck = EscalationError::Transient("the target system keeps failing".into());
    h.escalator.refusing_removal.lock().unwrap().insert("prod-admin".into(), stuck);
    let id = submitted(&h, &["prod-admin", "prod-readonly"]).await;
    run(&h, StepName::Escalate, &id).await.unwrap();
    h.clock.advance(Duration::from_secs(15 * 60));
    assert!(run(&h, StepName::Deescalate, &id).await.is_err(), "the workflow retries the failing one");
    assert_eq!(h.escalator.targets("deescalate", &id), ["prod-readonly"]);
    let request = h.airlock.get_request(&id).await.unwrap();
    assert_eq!(request.status(), Status::Active, "active while a target holds access");
    let stuck_target = request.target_named("prod-admin").unwrap();
    assert_eq!(stuck_target.removal().map(|r| r.attempts), Some(1));
    assert_eq!(request.status_of(request.target_named("prod-readonly").unwrap()), Status::Expired);

    // The sweeper keeps to the failing target's backoff, then removes it once it works again.
    assert_eq!(h.airlock.steps().sweep().await.unwrap(), 0, "not before its next attempt");
    h.clock.advance(Duration::from_secs(6));
    h.escalator.refusing_removal.lock().unwrap().clear();
    assert_eq!(h.airlock.steps().sweep().await.unwrap(), 1);
    let request = h.airlock.get_request(&id).await.unwrap();
    assert_eq!(request.status(), Status::Expired);
    assert_eq!(h.escalator.targets("deescalate", &id), ["prod-readonly", "prod-admin"]);
}

#[tokio::test]
async fn removal_keeps_each_access_another_grant_still_holds() {
    let h = Harness::with_config(config());
    let first = submitted(&h, &["prod-admin", "prod-readonly"]).await;
    run(&h, StepName::Escalate, &first).await.unwrap();
    let carol = h.airlock.identify("carol@example.com").await.unwrap();
    // Revoked, but its removal has not run yet when Carol is granted one of the same accesses again.
    h.airlock.revoke(&first, &carol, None).await.unwrap();
    let second = submitted(&h, &["prod-readonly"]).await;
    run(&h, StepName::Escalate, &second).await.unwrap();
    run(&h, StepName::Deescalate, &first).await.unwrap();
    assert_eq!(h.escalator.targets("deescalate", &first), ["prod-admin"], "prod-readonly is still granted");
    let events = h.airlock.audit_trail(&first).await.unwrap();
    let kept = events.iter().find(|e| e.action == AuditAction::AccessRemoved && e.target == "prod-readonly").unwrap();
    assert!(kept.detail.as_deref().unwrap().contains(second.as_str()), "{kept:?}");
    assert!(!h.airlock.get_request(&first).await.unwrap().holds_access());
}

#[tokio::test]
async fn the_drift_check_judges_each_access_by_its_own_history() {
    let h = Harness::with_config(config());
    let id = submitted(&h, &["prod-admin", "prod-readonly"]).await;
    run(&h, StepName::Escalate, &id).await.unwrap();
    h.clock.advance(Duration::from_secs(15 * 60));
    run(&h, StepName::Deescalate, &id).await.unwrap();
    let carol: airlock_core::Email = "carol@example.com".parse().unwrap();
    // prod-readonly is still there although its grant ended: Airlock made it, so it goes.
    h.escalator.holding.lock().unwrap().insert("prod-readonly".into(), vec![carol.clone()]);
    let report = h.airlock.steps().reconcile().await.unwrap();
    assert_eq!(report.removed, [(carol, "record:aws-prod:prod-readonly".to_string())]);
    let events = h.airlock.audit_trail(&id).await.unwrap();
    assert!(events.iter().any(|e| e.action == AuditAction::DriftRemoved && e.target == "prod-readonly"));
}

#[tokio::test]
async fn rules_approve_a_request_only_when_they_hold_for_every_target() {
    let mut config = config();
    config.flows[0].rules.auto_approve =
        Some(airlock_core::rules::Rule::compile(r#"target.name == "prod-readonly""#).unwrap());
    config.flows[0].rules.auto_deny = None;
    let h = Harness::with_config(config);
    let both = submitted(&h, &["prod-readonly", "prod-admin"]).await;
    assert_eq!(h.airlock.get_request(&both).await.unwrap().status(), Status::Pending, "prod-admin needs a person");
    let dave = h.airlock.identify("dave@example.com").await.unwrap();
    let alone = h.airlock.submit(&dave, form(&["prod-readonly"], "Normal")).await.unwrap().id().clone();
    run(&h, StepName::Request, &alone).await.unwrap();
    assert_eq!(h.airlock.get_request(&alone).await.unwrap().status(), Status::Approved);
    let bob = h.airlock.identify("bob@example.com").await.unwrap();
    h.airlock.decide(&both, &bob, Verdict::Approve, None).await.unwrap();
    assert_eq!(h.airlock.get_request(&both).await.unwrap().status(), Status::Approved, "one decision covers both");
}

#[tokio::test]
async fn several_targets_only_where_the_flow_allows_them_each_once() {
    let h = Harness::with_config(config());
    let carol = h.airlock.identify("carol@example.com").await.unwrap();
    let invalid = |e: airlock_core::error::SubmitError| match e {
        airlock_core::error::SubmitError::Invalid(fields) => fields,
        other => panic!("not a validation error: {other:?}"),
    };
    let twice = h.airlock.submit(&carol, form(&["prod-admin", "Prod admin"], "Normal")).await.unwrap_err();
    assert_eq!(invalid(twice)[0].field, "targets");
    let unknown = h.airlock.submit(&carol, form(&["prod-admin", "nope"], "Normal")).await.unwrap_err();
    assert!(invalid(unknown)[0].message.contains("unknown nope"));
    let both = SubmitInput { target: Some("prod-admin".into()), ..form(&["prod-readonly"], "Normal") };
    assert!(invalid(h.airlock.submit(&carol, both).await.unwrap_err())[0].message.contains("not both"));

    let single = Harness::new();
    let carol = single.airlock.identify("carol@example.com").await.unwrap();
    let refused = single.airlock.submit(&carol, form(&["prod-admin", "prod-readonly"], "Normal")).await.unwrap_err();
    assert!(invalid(refused)[0].message.contains("one target per request"));
}
