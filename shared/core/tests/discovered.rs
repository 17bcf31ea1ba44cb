//! Discovered `aws_sso` targets over a fake catalog: the config's shapes, the account search, and
//! submissions that name accounts and a permission set (never widening the target's scope).

use airlock_core::error::SubmitError;
use airlock_core::escalators::EscalatorSet;
use airlock_core::flow::{AccountScope, SsoScope, Target, TargetKind};
use airlock_core::ports::{Account, CatalogError, Listing, PermissionSet, TargetCatalog};
use airlock_core::services::{MAX_OPTIONS, SubmitInput};
use airlock_core::{Airlock, Config, Deps, RequestId, Status, StepCall, StepName, WorkflowState};
use airlock_testkit::harness::Harness;
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const INSTANCE: &str = "arn:aws:sso:::instance/ssoins-1111111111111111";

fn ps_arn(n: u32) -> String {
    format!("arn:aws:sso:::permissionSet/ssoins-1111111111111111/ps-{n:016}")
}

/// 150 accounts `acct-000`…`acct-149` (ids 100000000000 + n) and three permission sets; answers
/// `loading` to quick asks while `warming`, and fails every call while `failing`.
#[derive(Default)]
struct FakeCatalog {
    warming: AtomicBool,
    failing: AtomicBool,
}

#[async_trait]
impl TargetCatalog for FakeCatalog {
    async fn accounts(&self, _scope: &SsoScope, quick: bool) -> Result<Listing<Account>, CatalogError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(CatalogError("Organizations unreachable".into()));
        }
        if quick && self.warming.load(Ordering::SeqCst) {
            return Ok(Listing { items: Vec::new(), loading: true });
        }
        let items =
            (0..150).map(|n| Account { id: format!("{}", 100_000_000_000u64 + n), name: format!("Acct-{n:03}") });
        Ok(Listing { items: items.collect(), loading: false })
    }

    async fn permission_sets(&self, _scope: &SsoScope, _quick: bool) -> Result<Listing<PermissionSet>, CatalogError> {
        let names = ["AdministratorAccess", "ReadOnly", "Billing"];
        let items = names.iter().zip(1..).map(|(name, n)| PermissionSet { arn: ps_arn(n), name: name.to_string() });
        Ok(Listing { items: items.collect(), loading: false })
    }

    fn instance_arn(&self, scope: &SsoScope) -> Option<String> {
        scope.instance_arn.clone().or_else(|| Some(INSTANCE.into()))
    }
}

const CONFIG: &str = r#"
organization:
  primary_domain: example.com
  admins: [alice@example.com]
flows:
  - name: aws
    label: AWS
    approvers:
      users: [bob@example.com]
    durations: [1h]
    max_duration: 4h
    approval_timeout: 1h
    targets:
      - name: org
        label: Organization
        kind: aws_sso
        accounts: {ou: ou-abcd-12345678, recursive: true}
        permission_sets: [AdministratorAccess, "arn:aws:sso:::permissionSet/ssoins-1111111111111111/ps-0000000000000002"]
        exclude_accounts: ["100000000007", Acct-008]
        max_accounts: 3
      - name: sandbox
        kind: record
"#;

fn harness() -> (Harness, Arc<FakeCatalog>, Airlock) {
    let h = Harness::with_config(Config::from_yaml(CONFIG).unwrap());
    let catalog = Arc::new(FakeCatalog::default());
    let airlock = h.airlock.clone().with_catalog(catalog.clone());
    (h, catalog, airlock)
}

fn org(config: &Config) -> Target {
    config.flow("aws").unwrap().target("org").unwrap().clone()
}

fn asking(accounts: &[&str], permission_set: &str) -> SubmitInput {
    SubmitInput {
        flow: "aws".into(),
        target: Some("org".into()),
        accounts: accounts.iter().map(|a| a.to_string()).collect(),
        permission_set: Some(permission_set.into()),
        duration: Some("1h".into()),
        reason: "incident".into(),
        ..SubmitInput::default()
    }
}

fn field_of(e: SubmitError) -> String {
    match e {
        SubmitError::Invalid(errors) => errors[0].field.clone(),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn the_config_takes_ids_an_ou_or_all_and_keeps_the_single_form() {
    let config = Config::from_yaml(CONFIG).unwrap();
    let TargetKind::AwsSsoScope(scope) = org(&config).kind else { panic!("expected a discovered target") };
    assert_eq!(scope.accounts, AccountScope::Ou { ou: "ou-abcd-12345678".into(), recursive: true });
    assert_eq!(scope.max_accounts, 3);
    assert_eq!(scope.instance_arn, None);
    // A target's copy in a request is stored and read back unchanged.
    let json = serde_json::to_string(&org(&config)).unwrap();
    assert_eq!(serde_json::from_str::<Target>(&json).unwrap(), org(&config));

    let target = |body: &str| {
        let yaml = format!("name: t\nkind: aws_sso\n{body}");
        serde_yaml_ng::from_str::<Target>(&yaml).map_err(|e| e.to_string())
    };
    let all = target("accounts: all\npermission_sets: [ReadOnly]").unwrap();
    let TargetKind::AwsSsoScope(scope) = all.kind else { panic!() };
    assert_eq!((scope.accounts, scope.max_accounts), (AccountScope::All, 10));
    let ids = target("accounts: [\"111111111111\", \"222222222222\"]\npermission_sets: [ReadOnly]").unwrap();
    assert!(
        matches!(ids.kind, TargetKind::AwsSsoScope(SsoScope { accounts: AccountScope::Ids(ref v), .. }) if v.len() == 2)
    );
    let single =
        target(&format!("account_id: \"111111111111\"\npermission_set_arn: {}\ninstance_arn: {INSTANCE}", ps_arn(1)))
            .unwrap();
    assert!(matches!(single.kind, TargetKind::AwsSso { .. }));

    for (body, says) in [
        ("accounts: some\npermission_sets: [ReadOnly]", "must be `all`"),
        ("accounts: [\"12\"]\npermission_sets: [ReadOnly]", "12 digits"),
        ("accounts: {ou: folder}\npermission_sets: [ReadOnly]", "organizational unit"),
        ("accounts: all", "permission_sets"),
        ("accounts: all\npermission_sets: [\"arn:aws:iam::1:role/x\"]", "permission set"),
        ("accounts: all\npermission_sets: [ReadOnly]\nmax_accounts: 0", "max_accounts"),
        ("accounts: all\npermission_sets: [ReadOnly]\naccount_id: \"111111111111\"", "account_id"),
        ("accounts: all\npermission_sets: [ReadOnly]\ninstance_arn: nope", "instance_arn"),
        ("account_id: \"111111111111\"\npermission_sets: [ReadOnly]", "permission_sets"),
    ] {
        let e = target(body).unwrap_err();
        assert!(e.contains(says), "{body}: {e}");
    }
}

#[tokio::test]
async fn the_account_search_matches_name_or_id_within_the_scope_and_at_most_100() {
    let (h, catalog, airlock) = harness();
    let target = org(h.airlock.config());
    let found = airlock.account_options(&target, "").await.unwrap();
    assert_eq!(found.accounts.len(), MAX_OPTIONS);
    let found = airlock.account_options(&target, "ACCT-00").await.unwrap();
    let names: Vec<_> = found.accounts.iter().map(|a| a.name.as_str()).collect();
    // 000-009 less the two excluded (one by id, one by name).
    assert_eq!(names, ["Acct-000", "Acct-001", "Acct-002", "Acct-003", "Acct-004", "Acct-005", "Acct-006", "Acct-009"]);
    let found = airlock.account_options(&target, "100000000149").await.unwrap();
    assert_eq!(found.accounts, [Account { id: "100000000149".into(), name: "Acct-149".into() }]);

    catalog.warming.store(true, Ordering::SeqCst);
    let found = airlock.account_options(&target, "acct").await.unwrap();
    assert!(found.loading && found.accounts.is_empty());
    catalog.failing.store(true, Ordering::SeqCst);
    assert!(airlock.account_options(&target, "acct").await.unwrap_err().contains("unreachable"));

    let sets: Vec<_> = airlock.permission_set_options(&target).await.unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(sets, ["AdministratorAccess", "ReadOnly"]);
}

#[tokio::test]
async fn a_request_for_three_accounts_is_one_target_per_account_in_the_permission_set() {
    let (h, _, airlock) = harness();
    let carol = airlock.identify_slack_user("U3").await.unwrap();
    let request = airlock
        .submit(&carol, asking(&["100000000001", "acct-002", "100000000140"], "administratoraccess"))
        .await
        .unwrap();
    let targets: Vec<_> = request.targets().iter().map(|t| t.spec().unwrap().clone()).collect();
    assert_eq!(targets.len(), 3);
    let accounts: Vec<_> = targets
        .iter()
        .map(|t| match &t.kind {
            TargetKind::AwsSso { account_id, permission_set_arn, instance_arn } => {
                assert_eq!((permission_set_arn.as_str(), instance_arn.as_str()), (ps_arn(1).as_str(), INSTANCE));
                account_id.as_str()
            }
            other => panic!("expected an assignment, got {other:?}"),
        })
        .collect();
    assert_eq!(accounts, ["100000000001", "100000000002", "100000000140"]);
    assert_eq!(targets[1].name, "org-100000000002");
    assert_eq!(targets[1].label, "AdministratorAccess on Acct-002 (100000000002)");
    assert_eq!(h.workflow.started().len(), 1);

    // The second permission set, named by ARN in the config, is asked for by name.
    let dave = airlock.identify_slack_user("U4").await.unwrap();
    let request = airlock.submit(&dave, asking(&["100000000003"], "ReadOnly")).await.unwrap();
    let spec = request.targets()[0].spec().unwrap();
    assert!(matches!(&spec.kind, TargetKind::AwsSso { permission_set_arn, .. } if *permission_set_arn == ps_arn(2)));
}

#[tokio::test]
async fn a_request_outside_the_scope_is_refused() {
    let (_, catalog, airlock) = harness();
    let carol = airlock.identify_slack_user("U3").await.unwrap();
    for (accounts, set, field) in [
        (vec!["999999999999"], "AdministratorAccess", "accounts"),
        (vec!["100000000007"], "AdministratorAccess", "accounts"),
        (vec!["Acct-008"], "AdministratorAccess", "accounts"),
        (vec!["100000000001"], "Billing", "permission_set"),
        (vec!["100000000001"], "", "permission_set"),
        (vec![], "AdministratorAccess", "accounts"),
        (vec!["100000000001", "100000000001"], "AdministratorAccess", "accounts"),
        (vec!["100000000001", "100000000002", "100000000003", "100000000004"], "AdministratorAccess", "accounts"),
    ] {
        let e = airlock.submit(&carol, asking(&accounts, set)).await.unwrap_err();
        assert_eq!(field_of(e), field, "{accounts:?} {set}");
    }
    let mut record = asking(&["100000000001"], "AdministratorAccess");
    record.target = Some("sandbox".into());
    assert_eq!(field_of(airlock.submit(&carol, record).await.unwrap_err()), "accounts");

    catalog.failing.store(true, Ordering::SeqCst);
    let e = airlock.submit(&carol, asking(&["100000000001"], "AdministratorAccess")).await.unwrap_err();
    assert!(matches!(e, SubmitError::Unavailable(_)), "{e:?}");
}

#[tokio::test]
async fn without_a_catalog_a_discovered_target_cannot_be_requested() {
    let h = Harness::with_config(Config::from_yaml(CONFIG).unwrap());
    let carol = h.airlock.identify_slack_user("U3").await.unwrap();
    let e = h.airlock.submit(&carol, asking(&["100000000001"], "AdministratorAccess")).await.unwrap_err();
    assert!(matches!(e, SubmitError::Unavailable(_)), "{e:?}");
}

/// An auto-approved request of `who` (a Slack id) for `accounts` in AdministratorAccess, granted.
async fn granted(airlock: &Airlock, who: &str, accounts: &[&str]) -> RequestId {
    let person = airlock.identify_slack_user(who).await.unwrap();
    let request = airlock.submit(&person, asking(accounts, "AdministratorAccess")).await.unwrap();
    for step in [StepName::Request, StepName::Escalate] {
        let state = WorkflowState::start(request.id().clone(), 3600);
        airlock.steps().run(StepCall { step, state, task_token: None }).await.unwrap();
    }
    assert_eq!(airlock.get_request(request.id()).await.unwrap().status(), Status::Active);
    request.id().clone()
}

#[tokio::test]
async fn the_drift_check_covers_the_accounts_granted_through_a_discovered_target() {
    let config = CONFIG.replace("    targets:\n", "    rules: {auto_approve: 'true'}\n    targets:\n");
    let h = Harness::with_config(Config::from_yaml(&config).unwrap());
    let escalators = EscalatorSet::new().with("aws_sso", h.escalator.clone());
    let deps = Deps { escalator: Arc::new(escalators), ..h.deps.clone() };
    let airlock = Airlock::new(deps, h.workflow.clone()).with_catalog(Arc::new(FakeCatalog::default()));
    let carol = granted(&airlock, "U3", &["100000000001", "100000000002"]).await;
    // Dave held account 3 before he asked for it: standing access.
    h.escalator.standing.lock().unwrap().push(email("dave@example.com"));
    let dave = granted(&airlock, "U4", &["100000000003"]).await;
    assert!(airlock.get_request(&dave).await.unwrap().targets()[0].preexisting_access());
    h.clock.advance(std::time::Duration::from_secs(2 * 3600));
    for id in [&carol, &dave] {
        let state = WorkflowState::start(id.clone(), 3600);
        airlock.steps().run(StepCall { step: StepName::Deescalate, state, task_token: None }).await.unwrap();
        assert_eq!(airlock.get_request(id).await.unwrap().status(), Status::Expired);
    }
    let removed = h.escalator.deescalated.lock().unwrap().clone();
    assert_eq!(removed, [carol.clone(), carol.clone()], "both of Carol's accounts; Dave's standing access stays");
    h.escalator.deescalated.lock().unwrap().clear();

    // Carol's removal in account 1 was lost; Mallory holds account 2 outside Airlock; Dave keeps
    // his standing access in account 3; account 4 (never granted) is not even looked at.
    h.escalator.holding.lock().unwrap().extend([
        ("org-100000000001".to_string(), vec![email("carol@example.com")]),
        ("org-100000000002".to_string(), vec![email("mallory@elsewhere.example")]),
        ("org-100000000003".to_string(), vec![email("dave@example.com")]),
        ("org-100000000004".to_string(), vec![email("erin@example.com")]),
    ]);
    let key = |account: &str| format!("aws_sso:{account}:{}", ps_arn(1));
    let report = airlock.steps().reconcile().await.unwrap();
    assert_eq!(report.removed, [(email("carol@example.com"), key("100000000001"))]);
    let mut reported = report.reported.clone();
    reported.sort();
    assert_eq!(
        reported,
        [(email("dave@example.com"), key("100000000003")), (email("mallory@elsewhere.example"), key("100000000002"))]
    );
    assert_eq!(
        *h.escalator.deescalated.lock().unwrap(),
        std::slice::from_ref(&carol),
        "only Carol's unbacked grant is removed"
    );

    // Grants older than the history the check reads are no longer looked at.
    h.escalator.deescalated.lock().unwrap().clear();
    h.clock.advance(std::time::Duration::from_secs(31 * 24 * 3600));
    let report = airlock.steps().reconcile().await.unwrap();
    assert!(report.removed.is_empty() && report.reported.is_empty(), "{report:?}");
}

fn email(e: &str) -> airlock_core::Email {
    e.parse().unwrap()
}
