//! A group target on the local server over the AWS adapters against moto: `airlock serve`'s
//! assembly with an `aws_sso_group` target. The approved request adds the requester to the Identity
//! Center group and expiry removes them; a member who was there before keeps their membership through
//! expiry and the drift check. (Its own test binary: it sets process-wide environment variables.)

mod identity_center;

use airlock_core::Status;
use airlock_e2e::*;
use airlock_testkit::moto_endpoint;
use aws_sdk_identitystore::types::MemberId;
use std::time::Duration;

struct Identity {
    client: aws_sdk_identitystore::Client,
    store_id: String,
}

impl Identity {
    async fn new() -> Identity {
        let aws = identity_center::Aws::new().await;
        Identity { client: aws_sdk_identitystore::Client::new(&aws.config), store_id: aws.store_id }
    }

    /// The user with `email` (other test binaries may have made them on the same moto), else a new one.
    async fn user(&self, email: &str) -> String {
        identity_center::user(&self.client, &self.store_id, email).await
    }

    async fn group(&self, name: &str) -> String {
        let out = self.client.create_group().identity_store_id(&self.store_id).display_name(name).send().await.unwrap();
        out.group_id().to_string()
    }

    async fn add(&self, group_id: &str, user: &str) {
        self.client
            .create_group_membership()
            .identity_store_id(&self.store_id)
            .group_id(group_id)
            .member_id(MemberId::UserId(user.into()))
            .send()
            .await
            .unwrap();
    }

    async fn members(&self, group_id: &str) -> Vec<String> {
        let out = self
            .client
            .list_group_memberships()
            .identity_store_id(&self.store_id)
            .group_id(group_id)
            .send()
            .await
            .unwrap();
        let mut members: Vec<String> =
            out.group_memberships().iter().filter_map(|m| m.member_id()?.as_user_id().ok().cloned()).collect();
        members.sort();
        members
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_target_adds_the_membership_and_expiry_removes_it() {
    let aws = Identity::new().await;
    let group = format!("Platform Admins {}", airlock_core::RequestId::generate().as_str()[18..].to_ascii_lowercase());
    let group_id = aws.group(&group).await;
    let carol = aws.user("carol@example.com").await;
    let dave = aws.user("dave@example.com").await;
    aws.add(&group_id, &dave).await;
    // SAFETY: this test binary has this one test; nothing else reads the environment meanwhile.
    unsafe { std::env::set_var("AWS_ENDPOINT_URL", moto_endpoint()) };
    let config = move |_: &airlock_e2e::hooks::HookReceiver| {
        format!(
            r#"
organization: {{ primary_domain: example.com }}
flows:
  - name: prod
    label: Production
    approvers: {{ users: [bob@example.com] }}
    durations: [2s, 1h]
    max_duration: 1h
    targets:
      - name: admins
        label: Platform admins
        kind: aws_sso_group
        group: {group}
"#
        )
    };
    let t = TestApp::spawn_with(config, None).await;

    let answer = t
        .submit_form(
            CAROL,
            "prod",
            &[
                ("target", Input::Select("admins".into())),
                ("duration", Input::Select("2s".into())),
                ("reason", Input::Text("on call".into())),
            ],
        )
        .await;
    assert_eq!(answer["response_action"], "clear", "{answer}");
    let id = t.app.list_requests("carol@example.com", None, 10).await.unwrap()[0].id().clone();
    t.click(BOB, "approve", &id).await;
    t.wait_status(&id, Status::Active, SOON).await;
    let mut both = vec![carol.clone(), dave.clone()];
    both.sort();
    assert_eq!(aws.members(&group_id).await, both, "Carol was added to the group");

    t.wait_status(&id, Status::Expired, Duration::from_secs(10)).await;
    assert_eq!(
        aws.members(&group_id).await,
        std::slice::from_ref(&dave),
        "Carol is removed at expiry; Dave's membership stays"
    );

    let report = t.app.steps().reconcile().await.unwrap();
    assert!(report.removed.is_empty(), "the drift check removes no standing membership: {report:?}");
    assert_eq!(aws.members(&group_id).await, [dave], "Dave is still a member after the drift check");
}
