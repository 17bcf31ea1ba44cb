//! `airlock targets list` over a fake catalog: fixed targets as configured, a target that lists
//! accounts resolved and narrowed to its scope, a permission set the instance lacks flagged.

use airlock_cli::targets::list;
use airlock_core::Config;
use airlock_core::flow::SsoScope;
use airlock_core::ports::{Account, CatalogError, Listing, PermissionSet, TargetCatalog};

struct Catalog;

#[async_trait::async_trait]
impl TargetCatalog for Catalog {
    async fn accounts(&self, _: &SsoScope, _: bool) -> Result<Listing<Account>, CatalogError> {
        let account = |id: &str, name: &str| Account { id: id.into(), name: name.into() };
        Ok(Listing {
            items: vec![
                account("222222222222", "Prod"),
                account("111111111111", "Dev"),
                account("333333333333", "Security"),
            ],
            loading: false,
        })
    }

    async fn permission_sets(&self, _: &SsoScope, _: bool) -> Result<Listing<PermissionSet>, CatalogError> {
        let arn = "arn:aws:sso:::permissionSet/ssoins-1111111111111111/ps-1111111111111111".to_string();
        Ok(Listing { items: vec![PermissionSet { arn, name: "ReadOnly".into() }], loading: false })
    }

    fn instance_arn(&self, _: &SsoScope) -> Option<String> {
        Some("arn:aws:sso:::instance/ssoins-1111111111111111".into())
    }
}

#[tokio::test]
async fn targets_list_resolves_discovered_targets() {
    let config = Config::from_yaml(
        r#"
organization: { primary_domain: example.com }
flows:
  - name: aws
    label: AWS
    approvers: { users: [bob@example.com] }
    durations: [1h]
    max_duration: 4h
    targets:
      - name: team
        kind: aws_sso
        accounts: all
        permission_sets: [ReadOnly, Missing]
        exclude_accounts: [security]
      - name: sandbox
        kind: record
"#,
    )
    .unwrap();
    let mut out = Vec::new();
    list(&config, Some(&Catalog), &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let expected = "\
aws (prod):
  team: aws_sso in arn:aws:sso:::instance/ssoins-1111111111111111 (2 accounts, at most 10 per request)
    permission set ReadOnly arn:aws:sso:::permissionSet/ssoins-1111111111111111/ps-1111111111111111
    permission set Missing: NOT FOUND in the instance
    account 111111111111 Dev
    account 222222222222 Prod
  sandbox: record
";
    assert_eq!(text, expected);
    assert!(list(&config, None, &mut Vec::new()).await.is_err(), "discovered targets need a catalog");
}
