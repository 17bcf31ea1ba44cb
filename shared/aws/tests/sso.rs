//! SsoEscalator against moto's sso-admin and identitystore with the real SDK clients.

use airlock_aws::SsoEscalator;
use airlock_core::flow::{Target, TargetKind};
use airlock_core::ports::{Escalation, EscalationError, Escalator, GrantSpec};
use airlock_core::{Email, RequestId};
use airlock_testkit::{fake_aws_env, moto_endpoint};
use aws_sdk_identitystore::types::Email as StoreEmail;
use std::time::Duration;

struct Sso {
    admin: aws_sdk_ssoadmin::Client,
    identity: aws_sdk_identitystore::Client,
    instance_arn: String,
    store_id: String,
}

async fn sso() -> Sso {
    fake_aws_env();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(moto_endpoint()).load().await;
    let admin = aws_sdk_ssoadmin::Client::new(&config);
    let instances = admin.list_instances().send().await.unwrap();
    let instance = &instances.instances()[0];
    Sso {
        identity: aws_sdk_identitystore::Client::new(&config),
        instance_arn: instance.instance_arn().unwrap().to_string(),
        store_id: instance.identity_store_id().unwrap().to_string(),
        admin,
    }
}

impl Sso {
    async fn user(&self, user_name: &str, email: &str) -> String {
        self.identity
            .create_user()
            .identity_store_id(&self.store_id)
            .user_name(user_name)
            .display_name(user_name)
            .name(aws_sdk_identitystore::types::Name::builder().given_name("Test").family_name(user_name).build())
            .emails(StoreEmail::builder().value(email).primary(true).r#type("work").build())
            .send()
            .await
            .unwrap()
            .user_id()
            .to_string()
    }

    async fn target(&self, account_id: &str) -> Target {
        let name = format!("ps-{}", RequestId::generate().as_str()[20..].to_ascii_lowercase());
        // moto echoes SessionDuration as given; without one it answers a number the SDK cannot read.
        let set = self
            .admin
            .create_permission_set()
            .instance_arn(&self.instance_arn)
            .name(&name)
            .session_duration("PT1H")
            .send()
            .await
            .unwrap();
        let arn = set.permission_set().unwrap().permission_set_arn().unwrap().to_string();
        Target {
            name: name.clone(),
            label: name,
            kind: TargetKind::AwsSso {
                account_id: account_id.into(),
                permission_set_arn: arn,
                instance_arn: self.instance_arn.clone(),
            },
        }
    }

    /// Assigns `target` to `user` directly (standing access, made outside Airlock).
    async fn assign(&self, target: &Target, user: &str) {
        let TargetKind::AwsSso { account_id, permission_set_arn, .. } = &target.kind else { unreachable!() };
        self.admin
            .create_account_assignment()
            .instance_arn(&self.instance_arn)
            .target_id(account_id)
            .target_type(aws_sdk_ssoadmin::types::TargetType::AwsAccount)
            .permission_set_arn(permission_set_arn)
            .principal_type(aws_sdk_ssoadmin::types::PrincipalType::User)
            .principal_id(user)
            .send()
            .await
            .unwrap();
    }

    /// Every principal assigned `target` (all pages).
    async fn assigned(&self, target: &Target) -> Vec<String> {
        let TargetKind::AwsSso { account_id, permission_set_arn, .. } = &target.kind else { unreachable!() };
        let mut principals = Vec::new();
        let mut next = None;
        loop {
            let out = self
                .admin
                .list_account_assignments()
                .instance_arn(&self.instance_arn)
                .account_id(account_id)
                .permission_set_arn(permission_set_arn)
                .set_next_token(next)
                .send()
                .await
                .unwrap();
            principals.extend(out.account_assignments().iter().filter_map(|a| a.principal_id().map(String::from)));
            match out.next_token() {
                Some(token) => next = Some(token.to_string()),
                None => return principals,
            }
        }
    }

    fn escalator(&self) -> SsoEscalator {
        SsoEscalator::new(self.admin.clone(), self.identity.clone()).with_backoff(Duration::from_millis(10))
    }
}

fn grant(email: &str, target: &Target) -> GrantSpec {
    GrantSpec {
        request_id: RequestId::generate(),
        user_email: email.parse().unwrap(),
        user_slack_id: None,
        target: target.clone(),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
    }
}

#[tokio::test]
async fn assignments_are_created_and_deleted_idempotently() {
    let sso = sso().await;
    let user = sso.user("frank@example.com", "frank@example.com").await;
    let target = sso.target("111111111111").await;
    let escalator = sso.escalator();
    let g = grant("frank@example.com", &target);

    assert_eq!(escalator.escalate(&g).await.unwrap(), Escalation::Granted);
    assert_eq!(sso.assigned(&target).await, std::slice::from_ref(&user));
    // A repeat cannot tell Airlock's own assignment from standing access (see `escalate`'s doc).
    assert_eq!(escalator.escalate(&g).await.unwrap(), Escalation::AlreadyHeld);
    assert_eq!(sso.assigned(&target).await, std::slice::from_ref(&user), "a repeated escalation adds nothing");

    let holders = escalator.holders(&target).await.unwrap().unwrap();
    assert_eq!(holders, ["frank@example.com".parse::<Email>().unwrap()]);

    escalator.deescalate(&g).await.unwrap();
    assert!(sso.assigned(&target).await.is_empty());
    escalator.deescalate(&g).await.unwrap();
    assert!(sso.assigned(&target).await.is_empty(), "a repeated deescalation is success");
}

#[tokio::test]
async fn standing_access_is_reported_and_left_alone() {
    let sso = sso().await;
    let target = sso.target("555555555555").await;
    // More assignments than one page of ListAccountAssignments (100) before the requester's own.
    for i in 0..100 {
        sso.assign(&target, &format!("{i:08}-0000-0000-0000-000000000000")).await;
    }
    let user = sso.user("hugo@example.com", "hugo@example.com").await;
    sso.assign(&target, &user).await;
    let escalator = sso.escalator();
    let g = grant("hugo@example.com", &target);
    assert_eq!(escalator.escalate(&g).await.unwrap(), Escalation::AlreadyHeld, "found on the second page");
    let assigned = sso.assigned(&target).await;
    assert_eq!(assigned.len(), 101, "nothing was created");
    assert_eq!(assigned.iter().filter(|p| **p == user).count(), 1);

    let other = sso.target("555555555555").await;
    assert_eq!(escalator.escalate(&grant("hugo@example.com", &other)).await.unwrap(), Escalation::Granted);
    assert_eq!(sso.assigned(&other).await, [user]);
}

#[tokio::test]
async fn users_are_found_by_email_when_the_user_name_differs() {
    let sso = sso().await;
    let user = sso.user("gwen", "gwen@example.com").await;
    let target = sso.target("222222222222").await;
    let escalator = SsoEscalator::new(sso.admin.clone(), sso.identity.clone())
        .with_default_identity_store(&sso.store_id)
        .with_backoff(Duration::from_millis(10));
    assert_eq!(escalator.escalate(&grant("gwen@example.com", &target)).await.unwrap(), Escalation::Granted);
    assert_eq!(sso.assigned(&target).await, [user]);
}

#[tokio::test]
async fn an_unreachable_service_is_a_transient_error() {
    fake_aws_env();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://{closed}"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let escalator =
        SsoEscalator::new(aws_sdk_ssoadmin::Client::new(&config), aws_sdk_identitystore::Client::new(&config))
            .with_identity_store("arn:aws:sso:::instance/ssoins-1111111111111111", "d-1111111111")
            .with_backoff(Duration::from_millis(1));
    let target = Target {
        name: "t".into(),
        label: "t".into(),
        kind: TargetKind::AwsSso {
            account_id: "111111111111".into(),
            permission_set_arn: "arn:aws:sso:::permissionSet/ssoins-1111111111111111/ps-1111111111111111".into(),
            instance_arn: "arn:aws:sso:::instance/ssoins-1111111111111111".into(),
        },
    };
    let err = escalator.escalate(&grant("a@example.com", &target)).await.unwrap_err();
    assert!(matches!(err, EscalationError::Transient(_)), "{err:?}");
    let err = escalator.deescalate(&grant("a@example.com", &target)).await.unwrap_err();
    assert!(matches!(err, EscalationError::Transient(_)), "{err:?}");
}

#[tokio::test]
async fn an_unknown_user_is_a_permanent_error_and_nothing_changes() {
    let sso = sso().await;
    let target = sso.target("333333333333").await;
    let escalator = sso.escalator().with_identity_store(&sso.instance_arn, &sso.store_id);
    let err = escalator.escalate(&grant("nobody@example.com", &target)).await.unwrap_err();
    assert!(matches!(err, EscalationError::Permanent(ref m) if m.contains("nobody@example.com")), "{err:?}");
    assert!(sso.assigned(&target).await.is_empty());
    escalator.deescalate(&grant("nobody@example.com", &target)).await.unwrap();
}

#[tokio::test]
async fn a_wrong_target_kind_or_instance_is_refused() {
    let sso = sso().await;
    let record = Target { name: "r".into(), label: "r".into(), kind: TargetKind::Record };
    assert!(matches!(
        sso.escalator().escalate(&grant("a@example.com", &record)).await,
        Err(EscalationError::Permanent(_))
    ));
    let mut target = sso.target("444444444444").await;
    if let TargetKind::AwsSso { instance_arn, .. } = &mut target.kind {
        *instance_arn = "arn:aws:sso:::instance/ssoins-0000000000000000".into();
    }
    let err = sso.escalator().escalate(&grant("a@example.com", &target)).await.unwrap_err();
    assert!(matches!(err, EscalationError::Permanent(ref m) if m.contains("no Identity Center instance")), "{err:?}");
}
