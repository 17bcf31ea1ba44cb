//! OrganizationsCatalog against moto's Organizations and sso-admin with the real SDK clients: an
//! organization with two OUs (one nested) and 150 accounts, three permission sets; the account
//! search through the services stays within 100 options, and answers within the quick wait while
//! the first listing is still loading.

use airlock_aws::OrganizationsCatalog;
use airlock_core::flow::{AccountScope, SsoScope, Target, TargetKind};
use airlock_core::ports::TargetCatalog;
use airlock_core::services::resolve_scope;
use airlock_core::{Config, RequestId};
use airlock_testkit::aws_faults::AwsFaultProxy;
use airlock_testkit::harness::Harness;
use airlock_testkit::{fake_aws_env, moto_endpoint};
use std::sync::Arc;
use std::time::Duration;

struct Org {
    config: aws_config::SdkConfig,
    instance_arn: String,
    /// 100 accounts: 60 directly, 40 in `nested`.
    team: String,
    nested: String,
    /// 50 accounts.
    other: String,
    suffix: String,
    permission_sets: Vec<(String, String)>,
}

/// Creates the organization (once per moto), two OUs under its root (the first with a child OU),
/// 150 accounts named `<suffix>-acct-NNN` and three permission sets `<suffix>-{Admin,ReadOnly,Billing}`.
async fn org() -> Org {
    fake_aws_env();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(moto_endpoint()).load().await;
    let orgs = aws_sdk_organizations::Client::new(&config);
    if orgs.describe_organization().send().await.is_err() {
        let all = aws_sdk_organizations::types::OrganizationFeatureSet::All;
        orgs.create_organization().feature_set(all).send().await.unwrap();
    }
    let root = orgs.list_roots().send().await.unwrap().roots()[0].id().unwrap().to_string();
    let suffix = RequestId::generate().as_str()[18..].to_ascii_lowercase();
    let ou = |parent: String, name: String| {
        let orgs = orgs.clone();
        async move {
            let out = orgs.create_organizational_unit().parent_id(parent).name(name).send().await.unwrap();
            out.organizational_unit().unwrap().id().unwrap().to_string()
        }
    };
    let team = ou(root.clone(), format!("team-{suffix}")).await;
    let nested = ou(team.clone(), format!("nested-{suffix}")).await;
    let other = ou(root.clone(), format!("other-{suffix}")).await;
    for n in 0..150 {
        let created = orgs
            .create_account()
            .account_name(format!("{suffix}-acct-{n:03}"))
            .email(format!("acct-{n}-{suffix}@example.com"))
            .send()
            .await
            .unwrap();
        let id = created.create_account_status().unwrap().account_id().unwrap().to_string();
        let into = match n {
            0..60 => &team,
            60..100 => &nested,
            _ => &other,
        };
        orgs.move_account().account_id(id).source_parent_id(&root).destination_parent_id(into).send().await.unwrap();
    }
    let admin = aws_sdk_ssoadmin::Client::new(&config);
    let instance_arn = admin.list_instances().send().await.unwrap().instances()[0].instance_arn().unwrap().to_string();
    let mut permission_sets = Vec::new();
    for name in ["Admin", "ReadOnly", "Billing"] {
        let name = format!("{suffix}-{name}");
        // moto echoes SessionDuration as given; without one it answers a number the SDK cannot read.
        let set = admin
            .create_permission_set()
            .instance_arn(&instance_arn)
            .name(&name)
            .session_duration("PT1H")
            .send()
            .await
            .unwrap();
        permission_sets.push((name, set.permission_set().unwrap().permission_set_arn().unwrap().to_string()));
    }
    Org { config, instance_arn, team, nested, other, suffix, permission_sets }
}

impl Org {
    fn catalog(&self) -> OrganizationsCatalog {
        OrganizationsCatalog::new(
            aws_sdk_organizations::Client::new(&self.config),
            aws_sdk_ssoadmin::Client::new(&self.config),
            Some(self.instance_arn.clone()),
        )
    }

    fn scope(&self, accounts: AccountScope) -> SsoScope {
        SsoScope {
            accounts,
            permission_sets: vec![format!("{}-Admin", self.suffix), self.permission_sets[1].1.clone()],
            exclude_accounts: vec![format!("{}-acct-005", self.suffix)],
            max_accounts: 3,
            instance_arn: None,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_organization_of_150_accounts_is_listed_by_ou_and_searched_within_100_options() {
    let org = org().await;
    let catalog = org.catalog();

    let recursive = org.scope(AccountScope::Ou { ou: org.team.clone(), recursive: true });
    let resolved = resolve_scope(&catalog, &recursive).await.unwrap();
    // 60 + 40 nested, less the excluded one.
    assert_eq!(resolved.accounts.len(), 99);
    assert!(resolved.accounts.iter().all(|a| a.name != format!("{}-acct-005", org.suffix)));
    let names: Vec<_> = resolved.permission_sets.iter().map(|p| p.name.clone()).collect();
    assert_eq!(names, [format!("{}-Admin", org.suffix), format!("{}-ReadOnly", org.suffix)]);
    assert!(resolved.missing_permission_sets.is_empty());
    assert_eq!(resolved.instance_arn.as_deref(), Some(org.instance_arn.as_str()));

    let direct = org.scope(AccountScope::Ou { ou: org.team.clone(), recursive: false });
    assert_eq!(catalog.accounts(&direct, false).await.unwrap().items.len(), 60);
    let nested = org.scope(AccountScope::Ou { ou: org.nested.clone(), recursive: false });
    assert_eq!(catalog.accounts(&nested, false).await.unwrap().items.len(), 40);
    let other = org.scope(AccountScope::Ou { ou: org.other.clone(), recursive: true });
    assert_eq!(catalog.accounts(&other, false).await.unwrap().items.len(), 50);
    let all = catalog.accounts(&org.scope(AccountScope::All), false).await.unwrap().items;
    assert!(all.iter().filter(|a| a.name.starts_with(&org.suffix)).count() == 150);

    // The form's search, through the services: 150 accounts in scope, at most 100 options.
    let config = Config::from_yaml(&format!(
        r#"
organization: {{ primary_domain: example.com }}
flows:
  - name: aws
    label: AWS
    approvers: {{ users: [bob@example.com] }}
    durations: [1h]
    max_duration: 4h
    targets:
      - name: everything
        kind: aws_sso
        accounts: all
        permission_sets: [{suffix}-Admin]
"#,
        suffix = org.suffix
    ))
    .unwrap();
    let h = Harness::with_config(config);
    let airlock = h.airlock.clone().with_catalog(Arc::new(catalog));
    let target: Target = h.airlock.config().flow("aws").unwrap().target("everything").unwrap().clone();
    assert!(matches!(target.kind, TargetKind::AwsSsoScope(_)));
    let found = airlock.account_options(&target, &org.suffix.to_uppercase()).await.unwrap();
    assert_eq!(found.accounts.len(), 100);
    assert!(!found.loading);
    let found = airlock.account_options(&target, &format!("{}-ACCT-14", org.suffix)).await.unwrap();
    let names: Vec<_> = found.accounts.iter().map(|a| a.name.clone()).collect();
    assert_eq!(names, (140..150).map(|n| format!("{}-acct-{n}", org.suffix)).collect::<Vec<_>>());
    let id = found.accounts[0].id.clone();
    let by_id = airlock.account_options(&target, &id).await.unwrap();
    assert_eq!(by_id.accounts.len(), 1);
    let sets = airlock.permission_set_options(&target).await.unwrap();
    assert_eq!(sets.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quick_ask_answers_loading_while_the_first_listing_runs_and_a_failed_listing_is_an_error() {
    fake_aws_env();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(moto_endpoint()).load().await;
    // Nothing listens on port 9: every call fails (connection refused) or hangs until the quick ask gives up.
    let nowhere =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url("http://127.0.0.1:9").load().await;
    let scope = SsoScope {
        accounts: AccountScope::All,
        permission_sets: vec!["ReadOnly".into()],
        exclude_accounts: Vec::new(),
        max_accounts: 1,
        instance_arn: None,
    };
    let broken = OrganizationsCatalog::new(
        aws_sdk_organizations::Client::new(&nowhere),
        aws_sdk_ssoadmin::Client::new(&config),
        None,
    )
    .with_quick_wait(Duration::ZERO);
    let quick = broken.accounts(&scope, true).await.unwrap();
    assert!(quick.loading && quick.items.is_empty());
    assert!(broken.accounts(&scope, false).await.is_err(), "a listing that cannot reach AWS fails");
    // No instance configured anywhere: permission sets cannot be listed.
    assert!(broken.permission_sets(&scope, false).await.unwrap_err().0.contains("AIRLOCK_SSO_INSTANCE_ARN"));
}

#[tokio::test]
async fn the_options_answer_comes_within_the_quick_wait_while_a_slow_first_listing_loads() {
    fake_aws_env();
    let direct = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(moto_endpoint()).load().await;
    let orgs = aws_sdk_organizations::Client::new(&direct);
    if orgs.describe_organization().send().await.is_err() {
        let all = aws_sdk_organizations::types::OrganizationFeatureSet::All;
        orgs.create_organization().feature_set(all).send().await.unwrap();
    }
    let proxy = AwsFaultProxy::start(moto_endpoint()).await;
    let config =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(proxy.endpoint()).load().await;
    // What Slack allows for an options answer.
    let slack_budget = Duration::from_secs(3);
    let catalog = Arc::new(OrganizationsCatalog::new(
        aws_sdk_organizations::Client::new(&config),
        aws_sdk_ssoadmin::Client::new(&config),
        None,
    ));
    let airlock = Harness::with_config(
        Config::from_yaml(
            r#"
organization: { primary_domain: example.com }
flows:
  - name: aws
    label: AWS
    approvers: { users: [bob@example.com] }
    durations: [1h]
    max_duration: 4h
    targets:
      - { name: everything, kind: aws_sso, accounts: all, permission_sets: [ReadOnly] }
"#,
        )
        .unwrap(),
    )
    .airlock
    .with_catalog(catalog.clone());
    let target: Target = airlock.config().flow("aws").unwrap().target("everything").unwrap().clone();
    let held = proxy.hold_next("ListAccounts");

    // The clock is paused: the quick wait (2 s by default) passes as soon as nothing else can run,
    // whatever the machine's speed, while the listing stays held in the proxy.
    tokio::time::pause();
    let asked = tokio::time::Instant::now();
    let first = airlock.account_options(&target, "acct").await.unwrap();
    let waited = asked.elapsed();
    tokio::time::resume();
    assert!(first.loading && first.accounts.is_empty(), "{first:?}");
    assert!(waited < slack_budget, "answered after {waited:?} of the clock");
    // The listing is held in the proxy (never answered so far): a second ask is answered too.
    held.arrived(Duration::from_secs(20)).await;
    tokio::time::pause();
    assert!(airlock.account_options(&target, "").await.unwrap().loading, "still loading");
    tokio::time::resume();
    assert_eq!(proxy.requests("ListAccounts"), 1, "one listing at a time");

    held.release();
    let TargetKind::AwsSsoScope(scope) = &target.kind else { panic!("a discovered target") };
    assert!(!catalog.accounts(scope, false).await.unwrap().loading, "a full ask waits for the listing");
    let listed = airlock.account_options(&target, "").await.unwrap();
    assert!(!listed.loading && !listed.accounts.is_empty(), "{listed:?}");
    let pages = proxy.requests("ListAccounts");
    assert_eq!(airlock.account_options(&target, "").await.unwrap(), listed, "served from the cache");
    assert_eq!(proxy.requests("ListAccounts"), pages, "a fresh listing is not listed again");
}
