//! The App Home service and its republication through the outbox, and approve with changes, over
//! the testkit's fakes (people of `FixedDirectory::default`: U1 alice admin, U2 bob approver of
//! aws-prod and sandbox, U3 carol, U4 dave approver of sandbox, U9 mallory a guest).

use airlock_core::error::DecideError;
use airlock_core::ports::NotifyError;
use airlock_core::services::{DecideOutcome, SubmitInput};
use airlock_core::{AccessRequest, GrantDuration, Identity, RequestId, Status, StepCall, StepName, Verdict};
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

async fn who(h: &Harness, slack_id: &str) -> Identity {
    h.airlock.identify_slack_user(slack_id).await.unwrap()
}

async fn submit(h: &Harness, slack_id: &str, input: SubmitInput) -> AccessRequest {
    h.airlock.submit(&who(h, slack_id).await, input).await.unwrap()
}

async fn run(h: &Harness, step: StepName, id: &RequestId, token: Option<&str>) {
    let state = h.workflow.started().into_iter().find(|s| &s.request_id == id).unwrap();
    let call = StepCall { step, state, task_token: token.map(String::from) };
    h.airlock.steps().run(call).await.unwrap();
}

fn ids(requests: &[AccessRequest]) -> Vec<RequestId> {
    requests.iter().map(|r| r.id().clone()).collect()
}

#[tokio::test]
async fn the_home_lists_mine_by_state_and_what_waits_for_me() {
    let h = Harness::new();
    let pending = submit(&h, "U3", form("aws-prod", "prod-admin", "1h", "Normal")).await;
    let active = submit(&h, "U3", form("aws-prod", "prod-readonly", "15m", "Emergency")).await;
    run(&h, StepName::Request, active.id(), None).await;
    run(&h, StepName::Escalate, active.id(), None).await;
    let cancelled = submit(&h, "U3", form("sandbox", "sandbox-admin", "15m", "")).await;
    h.airlock.cancel(cancelled.id(), &who(&h, "U3").await, None).await.unwrap();

    let carol = h.airlock.home(&who(&h, "U3").await).await.unwrap();
    assert_eq!(ids(&carol.pending), [pending.id().clone()]);
    assert_eq!(ids(&carol.active), [active.id().clone()]);
    assert_eq!(ids(&carol.ended), [cancelled.id().clone()]);
    assert!(carol.to_decide.is_empty() && !carol.is_approver, "carol approves nothing");

    let bob = h.airlock.home(&who(&h, "U2").await).await.unwrap();
    assert_eq!(ids(&bob.to_decide), [pending.id().clone()]);
    assert!(bob.pending.is_empty() && bob.active.is_empty() && bob.ended.is_empty());
    let alice = h.airlock.home(&who(&h, "U1").await).await.unwrap();
    assert_eq!(ids(&alice.to_decide), [pending.id().clone()], "admins decide every flow");
    let dave = h.airlock.home(&who(&h, "U4").await).await.unwrap();
    assert!(dave.to_decide.is_empty(), "dave approves sandbox only");
    let mallory = h.airlock.home(&who(&h, "U9").await).await.unwrap();
    assert!(mallory.to_decide.is_empty() && !mallory.is_approver, "guests decide nothing");
}

#[tokio::test]
async fn only_the_last_ten_ended_requests_are_kept() {
    let h = Harness::new();
    let carol = who(&h, "U3").await;
    let mut cancelled = Vec::new();
    for _ in 0..12 {
        let request = submit(&h, "U3", form("aws-prod", "prod-admin", "1h", "Normal")).await;
        h.clock.advance(Duration::from_secs(1));
        h.airlock.cancel(request.id(), &carol, None).await.unwrap();
        cancelled.push(request.id().clone());
    }
    let home = h.airlock.home(&carol).await.unwrap();
    cancelled.reverse();
    assert_eq!(ids(&home.ended), cancelled[..10], "the most recently ended first");
}

#[tokio::test]
async fn every_change_republishes_the_homes_of_the_people_concerned() {
    let h = Harness::new();
    let request = submit(&h, "U3", form("aws-prod", "prod-admin", "1h", "Normal")).await;
    h.deliver().await;
    let published: Vec<String> = h.notifier.homes().into_iter().map(|(user, _)| user).collect();
    assert_eq!(published, ["U3", "U2", "U1"], "requester, listed approver, admin");
    let bob = h.notifier.home_of("U2").unwrap();
    assert_eq!(ids(&bob.to_decide), [request.id().clone()]);

    // Alice decides: Bob's Home loses the request at once, Carol's shows it approved.
    h.airlock.decide(request.id(), &who(&h, "U1").await, Verdict::Approve, None).await.unwrap();
    h.deliver().await;
    assert!(h.notifier.home_of("U2").unwrap().to_decide.is_empty());
    let carol = h.notifier.home_of("U3").unwrap();
    assert_eq!(ids(&carol.active), [request.id().clone()]);
    assert_eq!(carol.active[0].status(), Status::Approved);
    assert!(h.store.outbox().is_empty());
}

#[tokio::test]
async fn a_home_that_cannot_be_published_now_is_published_later() {
    let h = Harness::new();
    let request = submit(&h, "U3", form("aws-prod", "prod-admin", "1h", "Normal")).await;
    for _ in 0..3 {
        h.notifier.fail_next(NotifyError::Retry { message: "ratelimited".into(), after: None });
    }
    let first = h.deliver().await;
    assert_eq!((first.sent, first.deferred), (0, 1), "{first:?}");
    for _ in 0..10 {
        if h.store.outbox().is_empty() {
            break;
        }
        h.clock.advance(Duration::from_secs(16 * 60));
        h.deliver().await;
    }
    assert!(h.store.outbox().is_empty(), "delivered in the end");
    let bob = h.notifier.home_of("U2").unwrap();
    assert_eq!(ids(&bob.to_decide), [request.id().clone()]);
}

#[tokio::test]
async fn approve_with_changes_shortens_the_grant_and_keeps_the_comment() {
    let h = Harness::new();
    let request = submit(&h, "U3", form("aws-prod", "prod-admin", "4h", "Normal")).await;
    let bob = who(&h, "U2").await;
    let longer = h.airlock.approve_with_changes(request.id(), &bob, Some("1d".parse().unwrap()), None).await;
    assert_eq!(longer.unwrap_err(), DecideError::LongerThanAsked(GrantDuration::from_secs(4 * 3_600)));
    assert!(
        DecideError::LongerThanAsked(GrantDuration::from_secs(14_400)).to_string().contains("not lengthen it"),
        "a clear error"
    );
    assert_eq!(h.airlock.get_request(request.id()).await.unwrap().status(), Status::Pending, "refused: unchanged");

    let outcome = h
        .airlock
        .approve_with_changes(request.id(), &bob, Some("1h".parse().unwrap()), Some("  one hour is enough ".into()))
        .await
        .unwrap();
    let DecideOutcome::Decided(approved) = outcome else { panic!("one approval is enough") };
    assert_eq!(approved.duration(), GrantDuration::from_secs(3_600));
    assert_eq!(approved.requested_duration(), Some(GrantDuration::from_secs(4 * 3_600)));
    assert_eq!(approved.decision_note(), Some("one hour is enough"));
    let trail = h.airlock.audit_trail(request.id()).await.unwrap();
    let detail = trail.last().unwrap().detail.clone().unwrap();
    assert_eq!(detail, "duration shortened to 1h (asked: 4h): one hour is enough");

    run(&h, StepName::Escalate, request.id(), None).await;
    let active = h.airlock.get_request(request.id()).await.unwrap();
    assert_eq!(active.expires_at().unwrap() - active.granted_at().unwrap(), chrono::Duration::hours(1));
}

#[tokio::test]
async fn with_two_approvals_the_shortest_duration_asked_is_granted() {
    let mut config = airlock_core::Config::from_yaml(airlock_core::config::EXAMPLE_CONFIG).unwrap();
    config.flows[0].approvers.required = 2;
    let h = Harness::with_config(config);
    let request = submit(&h, "U3", form("aws-prod", "prod-admin", "4h", "Normal")).await;
    let first = h
        .airlock
        .approve_with_changes(request.id(), &who(&h, "U2").await, Some("15m".parse().unwrap()), Some("short".into()))
        .await
        .unwrap();
    assert!(matches!(first, DecideOutcome::ApprovalRecorded { approvals: 1, required: 2, .. }));
    // The second approver asks for more than the first allowed but less than asked: the shorter holds.
    let second = h
        .airlock
        .approve_with_changes(request.id(), &who(&h, "U1").await, Some("1h".parse().unwrap()), None)
        .await
        .unwrap();
    let DecideOutcome::Decided(approved) = second else { panic!("two approvals are enough") };
    assert_eq!(approved.duration(), GrantDuration::from_secs(900));
    assert_eq!(approved.requested_duration(), Some(GrantDuration::from_secs(4 * 3_600)));
    assert_eq!(approved.status(), Status::Approved);
}
