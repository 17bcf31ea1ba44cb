//! SsoGroupEscalator against moto's identitystore with the real SDK clients.

use airlock_aws::{SsoEscalator, SsoGroupEscalator};
use airlock_core::flow::{Target, TargetKind};
use airlock_core::ports::{Escalation, EscalationError, Escalator, GrantSpec};
use airlock_core::{Email, RequestId};
use airlock_testkit::{fake_aws_env, moto_endpoint};
use aws_sdk_identitystore::types::{Email as StoreEmail, MemberId};
use std::time::Duration;

struct Store {
    admin: aws_sdk_ssoadmin::Client,
    identity: aws_sdk_identitystore::Client,
    instance_arn: String,
    store_id: String,
}

async fn store() -> Store {
    fake_aws_env();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(moto_endpoint()).load().await;
    let admin = aws_sdk_ssoadmin::Client::new(&config);
    let instances = admin.list_instances().send().await.unwrap();
    let instance = &instances.instances()[0];
    Store {
        identity: aws_sdk_identitystore::Client::new(&config),
        instance_arn: instance.instance_arn().unwrap().to_string(),
        store_id: instance.identity_store_id().unwrap().to_string(),
        admin,
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", RequestId::generate().as_str()[18..].to_ascii_lowercase())
}

impl Store {
    /// A new user (a unique user name, which is not their email); their id and email.
    async fn user(&self, name: &str) -> (String, String) {
        let user_name = unique(name);
        let email = format!("{user_name}@example.com");
        let id = self
            .identity
            .create_user()
            .identity_store_id(&self.store_id)
            .user_name(&user_name)
            .display_name(&user_name)
            .name(aws_sdk_identitystore::types::Name::builder().given_name("Test").family_name(&user_name).build())
            .emails(StoreEmail::builder().value(&email).primary(true).r#type("work").build())
            .send()
            .await
            .unwrap()
            .user_id()
            .to_string();
        (id, email)
    }

    /// A new group; its display name and id.
    async fn group(&self) -> (String, String) {
        let name = unique("Platform Admins");
        let out =
            self.identity.create_group().identity_store_id(&self.store_id).display_name(&name).send().await.unwrap();
        (name, out.group_id().to_string())
    }

    /// Adds `user` to `group_id` directly (standing access, made outside Airlock).
    async fn add(&self, group_id: &str, user: &str) {
        self.identity
            .create_group_membership()
            .identity_store_id(&self.store_id)
            .group_id(group_id)
            .member_id(MemberId::UserId(user.into()))
            .send()
            .await
            .unwrap();
    }

    /// The user ids of `group_id`'s members.
    async fn members(&self, group_id: &str) -> Vec<String> {
        let out = self
            .identity
            .list_group_memberships()
            .identity_store_id(&self.store_id)
            .group_id(group_id)
            .send()
            .await
            .unwrap();
        out.group_memberships().iter().filter_map(|m| m.member_id()?.as_user_id().ok().cloned()).collect()
    }

    fn escalator(&self) -> SsoGroupEscalator {
        SsoGroupEscalator::new(
            SsoEscalator::new(self.admin.clone(), self.identity.clone()).with_backoff(Duration::from_millis(10)),
        )
    }

    fn target(&self, group: &str, instance: bool) -> Target {
        Target {
            name: "admins".into(),
            label: "Admins".into(),
            kind: TargetKind::AwsSsoGroup {
                group: group.into(),
                instance_arn: instance.then(|| self.instance_arn.clone()),
            },
        }
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
async fn memberships_are_added_and_removed_idempotently_by_display_name() {
    let s = store().await;
    let (user, email) = s.user("ivy").await;
    let (name, group_id) = s.group().await;
    let target = s.target(&name, true);
    let escalator = s.escalator();
    let g = grant(&email, &target);

    assert_eq!(escalator.escalate(&g).await.unwrap(), Escalation::Granted);
    assert_eq!(s.members(&group_id).await, std::slice::from_ref(&user));
    assert_eq!(escalator.escalate(&g).await.unwrap(), Escalation::AlreadyHeld, "a repeat adds nothing");
    assert_eq!(s.members(&group_id).await, std::slice::from_ref(&user));

    let holders = escalator.holders(&target).await.unwrap().unwrap();
    assert_eq!(holders, [email.parse::<Email>().unwrap()]);

    escalator.deescalate(&g).await.unwrap();
    assert!(s.members(&group_id).await.is_empty());
    escalator.deescalate(&g).await.unwrap();
    assert!(s.members(&group_id).await.is_empty(), "a repeated deescalation is success");
}

#[tokio::test]
async fn groups_are_found_by_id_and_the_store_without_an_instance() {
    let s = store().await;
    let (user, email) = s.user("jules").await;
    let (_, group_id) = s.group().await;
    let target = s.target(&group_id, false);
    let g = grant(&email, &target);

    // The only instance's store (ListInstances), then a configured default store.
    assert_eq!(s.escalator().escalate(&g).await.unwrap(), Escalation::Granted);
    assert_eq!(s.members(&group_id).await, std::slice::from_ref(&user));
    let configured = SsoGroupEscalator::new(
        SsoEscalator::new(s.admin.clone(), s.identity.clone()).with_default_identity_store(&s.store_id),
    );
    configured.deescalate(&g).await.unwrap();
    assert!(s.members(&group_id).await.is_empty());
}

#[tokio::test]
async fn standing_membership_is_reported_and_left_alone() {
    let s = store().await;
    let (user, email) = s.user("kim").await;
    let (other, other_email) = s.user("lou").await;
    let (name, group_id) = s.group().await;
    s.add(&group_id, &user).await;
    s.add(&group_id, &other).await;
    let target = s.target(&name, true);
    let escalator = s.escalator();

    assert_eq!(escalator.escalate(&grant(&email, &target)).await.unwrap(), Escalation::AlreadyHeld);
    let mut members = s.members(&group_id).await;
    members.sort();
    let mut expected = vec![user, other];
    expected.sort();
    assert_eq!(members, expected, "nothing was added");
    let mut holders = escalator.holders(&target).await.unwrap().unwrap();
    holders.sort();
    let mut expected: Vec<Email> = vec![email.parse().unwrap(), other_email.parse().unwrap()];
    expected.sort();
    assert_eq!(holders, expected);
}

#[tokio::test]
async fn an_unknown_group_or_user_is_a_permanent_error_and_nothing_changes() {
    let s = store().await;
    let (_, email) = s.user("max").await;
    let (name, group_id) = s.group().await;
    let escalator = s.escalator();

    let missing = s.target("No Such Group", true);
    let err = escalator.escalate(&grant(&email, &missing)).await.unwrap_err();
    assert!(matches!(err, EscalationError::Permanent(ref m) if m.contains("no group \"No Such Group\"")), "{err:?}");
    let err = escalator.holders(&missing).await.unwrap_err();
    assert!(matches!(err, EscalationError::Permanent(_)), "{err:?}");

    let target = s.target(&name, true);
    let err = escalator.escalate(&grant("nobody@example.com", &target)).await.unwrap_err();
    assert!(matches!(err, EscalationError::Permanent(ref m) if m.contains("nobody@example.com")), "{err:?}");
    assert!(s.members(&group_id).await.is_empty());
    escalator.deescalate(&grant("nobody@example.com", &target)).await.unwrap();
}

#[tokio::test]
async fn a_wrong_target_kind_is_refused_and_an_unreachable_service_is_transient() {
    let s = store().await;
    let record = Target { name: "r".into(), label: "r".into(), kind: TargetKind::Record };
    let err = s.escalator().escalate(&grant("a@example.com", &record)).await.unwrap_err();
    assert!(matches!(err, EscalationError::Permanent(ref m) if m.contains("not aws_sso_group")), "{err:?}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://{closed}"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let escalator = SsoGroupEscalator::new(
        SsoEscalator::new(aws_sdk_ssoadmin::Client::new(&config), aws_sdk_identitystore::Client::new(&config))
            .with_default_identity_store("d-1111111111")
            .with_backoff(Duration::from_millis(1)),
    );
    let target = s.target("Admins", false);
    let err = escalator.escalate(&grant("a@example.com", &target)).await.unwrap_err();
    assert!(matches!(err, EscalationError::Transient(_)), "{err:?}");
    let err = escalator.deescalate(&grant("a@example.com", &target)).await.unwrap_err();
    assert!(matches!(err, EscalationError::Transient(_)), "{err:?}");
}
