use super::*;
use crate::config::{Config, EXAMPLE_CONFIG};
use crate::email::Email;

use crate::request::{Requester, Verdict};
use chrono::Utc;
use proptest::prelude::*;

fn config() -> Config {
    Config::from_yaml(EXAMPLE_CONFIG).unwrap()
}

fn person(config: &Config, email: &str, slack_id: &str) -> Identity {
    let email: Email = email.parse().unwrap();
    Identity { role: config.role_of(&email), email, slack_id: Some(slack_id.into()), name: None }
}

fn pending_request(requester: &Identity, flow: &str) -> AccessRequest {
    pending(requester, flow).build()
}

fn pending(requester: &Identity, flow: &str) -> crate::request::RequestBuilder {
    AccessRequest::builder(requester.email.clone(), flow, "prod-admin")
        .access_key("record:prod-admin")
        .requester(Requester {
            email: requester.email.clone(),
            slack_id: requester.slack_id.clone(),
            role: requester.role,
        })
        .duration_secs(900)
        .reason("incident")
}

#[test]
fn guests_may_not_request_members_may() {
    let config = config();
    let flow = config.flow("aws-prod").unwrap();
    let guest = person(&config, "mallory@elsewhere.example", "U9");
    let carol = person(&config, "carol@example.com", "U3");
    assert_eq!(may_request(flow, &guest, &[]), Err(RequestRefusal::Guest));
    assert_eq!(may_request(flow, &carol, &[]), Ok(()));
}

#[test]
fn requester_lists_and_groups_are_honoured() {
    let mut config = config();
    let flow = &mut config.flows[0];
    flow.requesters = Some(crate::flow::Requesters {
        users: vec!["carol@example.com".parse().unwrap()],
        groups: vec!["S0SRE".into()],
    });
    let flow = config.flows[0].clone();
    let carol = person(&config, "carol@example.com", "U3");
    let dave = person(&config, "dave@example.com", "U4");
    let alice = person(&config, "alice@example.com", "U1");
    assert_eq!(may_request(&flow, &carol, &[]), Ok(()));
    assert_eq!(may_request(&flow, &dave, &[]), Err(RequestRefusal::NotARequester));
    assert_eq!(may_request(&flow, &dave, &["S0SRE".into()]), Ok(()));
    assert_eq!(may_request(&flow, &alice, &[]), Ok(()), "admins may always request");
}

#[test]
fn approvers_and_admins_decide_others_do_not() {
    let config = config();
    let flow = config.flow("aws-prod").unwrap();
    let carol = person(&config, "carol@example.com", "U3");
    let request = pending_request(&carol, "aws-prod");
    let bob = person(&config, "bob@example.com", "U2");
    let alice = person(&config, "alice@example.com", "U1");
    let dave = person(&config, "dave@example.com", "U4");
    assert_eq!(may_decide(flow, &request, &bob, &[], Verdict::Approve), Ok(()));
    assert_eq!(may_decide(flow, &request, &alice, &[], Verdict::Deny), Ok(()));
    assert_eq!(may_decide(flow, &request, &dave, &[], Verdict::Approve), Err(DecisionRefusal::NotAnApprover));
    assert_eq!(may_decide(flow, &request, &carol, &[], Verdict::Approve), Err(DecisionRefusal::SelfApproval));
}

#[test]
fn self_approval_only_where_allowed() {
    let config = config();
    let sandbox = config.flow("sandbox").unwrap();
    let bob = person(&config, "bob@example.com", "U2");
    let request = pending_request(&bob, "sandbox");
    assert_eq!(may_decide(sandbox, &request, &bob, &[], Verdict::Approve), Ok(()));
}

#[test]
fn decided_requests_and_repeat_approvals_are_refused() {
    let config = config();
    let flow = config.flow("aws-prod").unwrap();
    let carol = person(&config, "carol@example.com", "U3");
    let bob = person(&config, "bob@example.com", "U2");
    let bobs = crate::audit::Actor::User { email: bob.email.clone(), slack_id: bob.slack_id.clone() };
    let request = pending(&carol, "aws-prod").approval(bobs, Utc::now()).build();
    assert_eq!(may_decide(flow, &request, &bob, &[], Verdict::Approve), Err(DecisionRefusal::AlreadyApprovedByYou));
    let request = pending(&carol, "aws-prod").status(Status::Denied).build();
    assert_eq!(
        may_decide(flow, &request, &bob, &[], Verdict::Approve),
        Err(DecisionRefusal::AlreadyDecided(Status::Denied))
    );
}

#[test]
fn approver_group_members_decide_and_revoke() {
    let mut config = config();
    config.flows[0].approvers.groups = vec!["S0SRE".into()];
    let flow = config.flows[0].clone();
    let carol = person(&config, "carol@example.com", "U3");
    let dave = person(&config, "dave@example.com", "U4");
    let request = pending_request(&carol, &flow.name);
    let sre = ["S0SRE".to_string()];
    assert_eq!(may_decide(&flow, &request, &dave, &sre, Verdict::Approve), Ok(()));
    assert_eq!(
        may_decide(&flow, &request, &dave, &["S0OTHER".into()], Verdict::Approve),
        Err(DecisionRefusal::NotAnApprover)
    );
    assert_eq!(may_decide(&flow, &request, &carol, &sre, Verdict::Approve), Err(DecisionRefusal::SelfApproval));
    let active = pending(&carol, &flow.name).status(Status::Active).build();
    assert!(may_revoke(&flow, &active, &dave, &sre));
    assert!(!may_revoke(&flow, &active, &dave, &[]));
    assert!(may_revoke(&flow, &active, &carol, &[]), "the requester gives access back");
}

#[test]
fn guests_decide_only_where_the_flow_allows_them_and_names_them() {
    let mut config = config();
    let gina = person(&config, "gina@outside.org", "U0GINA");
    assert_eq!(gina.role, Role::Guest);
    config.flows[0].approvers.users.push("gina@outside.org".parse().unwrap());
    let carol = person(&config, "carol@example.com", "U3");
    let request = pending_request(&carol, &config.flows[0].name);
    let flow = config.flows[0].clone();
    assert_eq!(may_decide(&flow, &request, &gina, &[], Verdict::Approve), Err(DecisionRefusal::Guest));
    assert!(!may_revoke(&flow, &request, &gina, &[]));

    config.flows[0].approvers.allow_guests = true;
    let flow = config.flows[0].clone();
    assert_eq!(may_decide(&flow, &request, &gina, &[], Verdict::Deny), Ok(()));
    assert!(may_revoke(&flow, &request, &gina, &[]));
    let other_guest = person(&config, "mallory@outside.org", "U0MAL");
    assert_eq!(may_decide(&flow, &request, &other_guest, &[], Verdict::Approve), Err(DecisionRefusal::NotAnApprover));
    config.flows[0].approvers.groups = vec!["S0SRE".into()];
    let flow = config.flows[0].clone();
    assert_eq!(may_decide(&flow, &request, &other_guest, &["S0SRE".into()], Verdict::Approve), Ok(()));
}

#[test]
fn durations_over_the_maximum_are_refused() {
    let config = config();
    let flow = config.flow("aws-prod").unwrap();
    assert!(check_duration(flow, "4h".parse().unwrap()).is_ok());
    assert!(check_duration(flow, "5h".parse().unwrap()).unwrap_err().contains("maximum of 4h"));
}

fn verdict(approve: bool) -> Verdict {
    if approve { Verdict::Approve } else { Verdict::Deny }
}

fn local_part() -> impl Strategy<Value = String> {
    "[a-z]{1,8}"
}

proptest! {
    /// Whoever they are, a guest never requests and never decides.
    #[test]
    fn guests_never_request_or_decide(name in local_part(), approve in any::<bool>(), flow_ix in 0usize..2) {
        let config = config();
        let flow = &config.flows[flow_ix];
        let guest = person(&config, &format!("{name}@outside.example"), "U77");
        prop_assert_eq!(guest.role, Role::Guest);
        prop_assert!(may_request(flow, &guest, &["S0SRE".to_string()]).is_err());
        let requester = person(&config, "carol@example.com", "U3");
        let request = pending_request(&requester, &flow.name);
        prop_assert!(may_decide(flow, &request, &guest, &[], verdict(approve)).is_err());
    }

    /// Without allow_self_approval, nobody (admins included) decides their own request.
    #[test]
    fn no_self_decision_unless_allowed(name in local_part(), admin in any::<bool>(), approve in any::<bool>()) {
        let config = config();
        let flow = config.flow("aws-prod").unwrap();
        let email = if admin { "alice@example.com".to_string() } else { format!("{name}@example.com") };
        let who = person(&config, &email, "U5");
        let request = pending_request(&who, "aws-prod");
        prop_assert_eq!(may_decide(flow, &request, &who, &[], verdict(approve)), Err(DecisionRefusal::SelfApproval));
    }
}
