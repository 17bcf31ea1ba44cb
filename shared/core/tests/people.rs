//! Roles and member domains kept in the store, approver groups and guests, through the services
//! over the testkit's fakes.

use airlock_core::error::{DecideError, ErrorCode, SubmitError};
use airlock_core::outbox::Notification;
use airlock_core::policy::{DecisionRefusal, RequestRefusal};
use airlock_core::roles::{ChangeVia, RoleChange, RoleSource};
use airlock_core::services::{DecideOutcome, SubmitInput};
use airlock_core::{Actor, Airlock, Config, Deps, Role, Status, StepCall, StepName, Verdict};
use airlock_testkit::fakes::FixedDirectory;
use airlock_testkit::harness::Harness;
use serde_json::json;
use std::sync::Arc;

fn ops() -> Actor {
    Actor::User { email: "ops@example.com".parse().unwrap(), slack_id: None }
}

fn form() -> SubmitInput {
    SubmitInput {
        flow: "aws-prod".into(),
        target: Some("prod-admin".into()),
        duration: Some("1h".into()),
        reason: "deploy hotfix".into(),
        fields: [("urgency".to_string(), json!("Normal"))].into(),
        ..SubmitInput::default()
    }
}

/// The example config with `edit` applied to its first flow (aws-prod).
fn config_with(edit: impl FnOnce(&mut airlock_core::Flow)) -> Config {
    let mut config = Config::from_yaml(airlock_core::config::EXAMPLE_CONFIG).unwrap();
    edit(&mut config.flows[0]);
    config
}

/// The services of `h` with `members` in every user group.
fn with_group(h: &Harness, members: &[&str]) -> Airlock {
    let directory = Arc::new(FixedDirectory::default().with_group_members(members));
    Airlock::new(Deps { directory, ..h.deps.clone() }, h.workflow.clone())
}

/// Carol's request for aws-prod, parked in AwaitDecision with its cards queued.
async fn awaiting(h: &Harness, airlock: &Airlock) -> airlock_core::AccessRequest {
    let carol = airlock.identify_slack_user("U3").await.unwrap();
    let request = airlock.submit(&carol, form()).await.unwrap();
    let state = h.workflow.started().last().cloned().unwrap();
    let call = |step, state, token: Option<&str>| StepCall { step, state, task_token: token.map(String::from) };
    let routed = match airlock.steps().run(call(StepName::Request, state, None)).await.unwrap() {
        airlock_core::services::StepOutcome::Next(state) => state,
        other => panic!("the Request step went nowhere: {other:?}"),
    };
    airlock.steps().run(call(StepName::AwaitDecision, routed, Some("tok"))).await.unwrap();
    request
}

#[tokio::test]
async fn a_role_set_in_the_store_overrides_the_config_at_once_and_is_audited() {
    let h = Harness::new();
    let people = h.airlock.people();
    let carol: airlock_core::Email = "carol@example.com".parse().unwrap();
    assert_eq!(h.airlock.identify_slack_user("U3").await.unwrap().role, Role::Member);

    let update = people.set_role(&carol, Role::Guest, ops(), ChangeVia::Cli).await.unwrap();
    assert!(update.changed);
    assert_eq!(update.answer.why(), "set by ops@example.com with `airlock users set-role`");
    let guest = h.airlock.identify_slack_user("U3").await.unwrap();
    assert_eq!(guest.role, Role::Guest, "the next lookup sees the change, without a restart");
    assert!(h.airlock.flows_for(&guest).await.is_empty(), "a guest is offered nothing");
    assert_eq!(h.airlock.submit(&guest, form()).await.unwrap_err(), SubmitError::NotAllowed(RequestRefusal::Guest));

    let again = people.set_role(&carol, Role::Guest, ops(), ChangeVia::Cli).await.unwrap();
    assert!(!again.changed, "setting the same role again writes nothing");
    people.set_role(&carol, Role::Admin, Actor::system("api:ops"), ChangeVia::Api).await.unwrap();
    let admin = h.airlock.identify("carol@example.com").await.unwrap();
    assert_eq!(admin.role, Role::Admin);
    assert_eq!(h.airlock.explain_role(&admin).await.unwrap().why(), "set by airlock:api:ops through the API");

    let changes = people.changes(10).await.unwrap();
    let seen: Vec<_> = changes.iter().map(|e| (e.change.clone(), e.actor.to_string())).collect();
    assert_eq!(
        seen,
        [
            (
                RoleChange::RoleSet { email: carol.clone(), role: Role::Admin, previous: Role::Guest },
                "airlock:api:ops".to_string()
            ),
            (RoleChange::RoleSet { email: carol, role: Role::Guest, previous: Role::Member }, ops().to_string()),
        ],
        "one event per change, newest first"
    );

    let listed: Vec<(String, Role)> =
        people.users().await.unwrap().into_iter().map(|a| (a.email.to_string(), a.role)).collect();
    assert_eq!(listed, [("alice@example.com".into(), Role::Admin), ("carol@example.com".into(), Role::Admin)]);
}

#[tokio::test]
async fn domains_added_and_removed_in_the_store_change_who_is_a_member() {
    let h = Harness::new();
    let people = h.airlock.people();
    let mallory = h.airlock.identify_slack_user("U9").await.unwrap();
    assert_eq!(mallory.role, Role::Guest);
    assert_eq!(
        h.airlock.explain_role(&mallory).await.unwrap().why(),
        "your email domain elsewhere.example is not a member domain"
    );

    let added = people.set_domain("Elsewhere.Example", true, ops(), ChangeVia::Cli).await.unwrap();
    assert!(added.changed && added.answer.member);
    let mallory = h.airlock.identify_slack_user("U9").await.unwrap();
    assert_eq!(mallory.role, Role::Member);
    assert!(!h.airlock.flows_for(&mallory).await.is_empty());
    assert!(!people.set_domain("elsewhere.example", true, ops(), ChangeVia::Cli).await.unwrap().changed);

    people.set_domain("contractor.example", false, ops(), ChangeVia::Cli).await.unwrap();
    let eve = h.airlock.identify("eve@contractor.example").await.unwrap();
    assert_eq!(eve.role, Role::Guest, "a member domain of the config, taken away in the store");
    let why = h.airlock.explain_role(&eve).await.unwrap();
    assert!(matches!(why.source, RoleSource::DomainRemoved { .. }), "{why:?}");

    let primary = people.set_domain("example.com", false, ops(), ChangeVia::Cli).await.unwrap_err();
    assert_eq!(primary.code, ErrorCode::Invalid);
    assert!(primary.message.contains("primary domain"));
    let unknown = people.set_domain("never.example", false, ops(), ChangeVia::Cli).await.unwrap_err();
    assert_eq!(unknown.code, ErrorCode::NotFound);
    assert_eq!(
        people.set_domain("not a domain", true, ops(), ChangeVia::Cli).await.unwrap_err().code,
        ErrorCode::Invalid
    );

    let domains: Vec<(String, bool)> =
        people.domains().await.unwrap().into_iter().map(|d| (d.domain, d.member)).collect();
    assert_eq!(
        domains,
        [("example.com".into(), true), ("contractor.example".into(), false), ("elsewhere.example".into(), true)]
    );
    assert_eq!(people.changes(10).await.unwrap().len(), 2, "the refused and unchanged ones left no event");
}

#[tokio::test]
async fn approver_group_members_get_the_card_and_count_as_distinct_approvers() {
    let h = Harness::with_config(config_with(|flow| {
        flow.approvers.groups = vec!["S0SRE".into()];
        flow.approvers.required = 2;
    }));
    // Dave (U4) is in the group; so are Bob (listed already), Carol (the requester) and Mallory (a guest).
    let airlock = with_group(&h, &["U4", "U2", "U3", "U9"]);
    let request = awaiting(&h, &airlock).await;
    airlock.steps().deliver_notifications().await.unwrap();
    airlock.steps().deliver_notifications().await.unwrap();
    let id = request.id();
    for to in ["C0APPROVALS", "U2", "U4"] {
        assert_eq!(h.notifier.saw(&format!("card {id} to {to}")), 1, "one card to {to}: {:?}", h.notifier.lines());
    }
    assert_eq!(h.notifier.saw(&format!("card {id} to ")), 3, "none to the requester or the guest");
    assert_eq!(airlock.get_request(id).await.unwrap().cards().len(), 3);

    let dave = airlock.identify_slack_user("U4").await.unwrap();
    let outcome = airlock.decide(id, &dave, Verdict::Approve, None).await.unwrap();
    assert!(matches!(outcome, DecideOutcome::ApprovalRecorded { approvals: 1, required: 2, .. }), "{outcome:?}");
    let again = airlock.decide(id, &dave, Verdict::Approve, None).await.unwrap_err();
    assert_eq!(again, DecideError::NotAllowed(DecisionRefusal::AlreadyApprovedByYou), "one person counts once");
    let bob = airlock.identify_slack_user("U2").await.unwrap();
    let outcome = airlock.decide(id, &bob, Verdict::Approve, None).await.unwrap();
    assert!(matches!(outcome, DecideOutcome::Decided(ref r) if r.status() == Status::Approved));

    // Outside the group, Dave is no approver of this flow.
    let h = Harness::with_config(config_with(|flow| flow.approvers.groups = vec!["S0SRE".into()]));
    let airlock = with_group(&h, &["U2"]);
    let request = awaiting(&h, &airlock).await;
    let dave = airlock.identify_slack_user("U4").await.unwrap();
    let refused = airlock.decide(request.id(), &dave, Verdict::Approve, None).await.unwrap_err();
    assert_eq!(refused, DecideError::NotAllowed(DecisionRefusal::NotAnApprover));
}

#[tokio::test]
async fn a_guest_click_changes_nothing_and_the_guest_is_told_by_dm() {
    let h = Harness::with_config(config_with(|flow| {
        flow.approvers.users.push("mallory@elsewhere.example".parse().unwrap())
    }));
    let request = awaiting(&h, &h.airlock).await;
    h.deliver().await;
    let mallory = h.airlock.identify_slack_user("U9").await.unwrap();
    for verdict in [Verdict::Approve, Verdict::Deny] {
        let refused = h.airlock.decide(request.id(), &mallory, verdict, None).await.unwrap_err();
        assert_eq!(refused, DecideError::NotAllowed(DecisionRefusal::Guest));
    }
    let refused = h.airlock.may_deny(request.id(), &mallory).await.unwrap_err();
    assert_eq!(refused, DecideError::NotAllowed(DecisionRefusal::Guest));
    let stored = h.airlock.get_request(request.id()).await.unwrap();
    assert_eq!((stored.status(), stored.approvals().len()), (Status::Pending, 0));
    let dms: Vec<_> = h
        .store
        .outbox()
        .into_iter()
        .filter_map(|item| match item.notification {
            Notification::Text { user, channel: None, text } if user == "U9" => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(dms.len(), 3, "a DM for every click");
    assert!(dms[0].contains("you are a *guest*") && dms[0].contains("elsewhere.example is not a member domain"));
    h.deliver().await;
    assert_eq!(h.notifier.saw("tell U9 Your click on the approval card"), 3);

    // A flow that lets guests decide counts a listed guest's approval.
    let h = Harness::with_config(config_with(|flow| {
        flow.approvers.users.push("mallory@elsewhere.example".parse().unwrap());
        flow.approvers.allow_guests = true;
    }));
    let request = awaiting(&h, &h.airlock).await;
    let mallory = h.airlock.identify_slack_user("U9").await.unwrap();
    let outcome = h.airlock.decide(request.id(), &mallory, Verdict::Approve, None).await.unwrap();
    assert!(matches!(outcome, DecideOutcome::Decided(ref r) if r.status() == Status::Approved));
}
