//! Identity Center in moto for the AWS end-to-end tests: the instance, its users, permission sets
//! and assignments. The test binaries share one moto server (`MOTO_ENDPOINT`), so a user one of
//! them made may already be there.
// Shared by several test binaries; each uses part of it.
#![allow(dead_code)]

use airlock_testkit::{fake_aws_env, moto_endpoint};
use aws_sdk_identitystore::Client;
use aws_sdk_identitystore::types::{AlternateIdentifier, Email, Name, UniqueAttribute};

/// The id of the user with `email` (user name and primary email), made if no earlier test made it.
pub async fn user(client: &Client, store_id: &str, email: &str) -> String {
    let by = UniqueAttribute::builder()
        .attribute_path("emails.value")
        .attribute_value(aws_smithy_types::Document::String(email.into()))
        .build()
        .expect("a unique attribute");
    let found =
        client.get_user_id().identity_store_id(store_id).alternate_identifier(AlternateIdentifier::UniqueAttribute(by));
    if let Ok(found) = found.send().await {
        return found.user_id().to_string();
    }
    client
        .create_user()
        .identity_store_id(store_id)
        .user_name(email)
        .display_name(email)
        .name(Name::builder().given_name("Test").family_name("Example").build())
        .emails(Email::builder().value(email).primary(true).build())
        .send()
        .await
        .expect("moto creates the user")
        .user_id()
        .to_string()
}

/// moto's Identity Center instance and an SDK config pointing at moto.
pub struct Aws {
    pub config: aws_config::SdkConfig,
    pub instance_arn: String,
    pub store_id: String,
}

impl Aws {
    pub async fn new() -> Aws {
        fake_aws_env();
        let config =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(moto_endpoint()).load().await;
        let instances = aws_sdk_ssoadmin::Client::new(&config).list_instances().send().await.unwrap();
        let instance = &instances.instances()[0];
        Aws {
            instance_arn: instance.instance_arn().unwrap().to_string(),
            store_id: instance.identity_store_id().unwrap().to_string(),
            config,
        }
    }

    pub async fn user(&self, email: &str) -> String {
        user(&Client::new(&self.config), &self.store_id, email).await
    }

    pub async fn permission_set(&self, name: &str) -> String {
        let created = aws_sdk_ssoadmin::Client::new(&self.config)
            .create_permission_set()
            .instance_arn(&self.instance_arn)
            .name(name)
            .session_duration("PT1H")
            .send()
            .await
            .unwrap();
        created.permission_set().unwrap().permission_set_arn().unwrap().to_string()
    }

    pub async fn assigned(&self, account: &str, permission_set: &str) -> Vec<String> {
        let out = aws_sdk_ssoadmin::Client::new(&self.config)
            .list_account_assignments()
            .instance_arn(&self.instance_arn)
            .account_id(account)
            .permission_set_arn(permission_set)
            .send()
            .await
            .unwrap();
        out.account_assignments().iter().filter_map(|a| a.principal_id().map(String::from)).collect()
    }

    /// An OU named `name` under the organization's root holding `n` new accounts; the OU's id and
    /// the accounts' ids. A further account stays at the root (outside the OU).
    pub async fn ou_with_accounts(&self, name: &str, n: usize) -> (String, Vec<String>, String) {
        let orgs = aws_sdk_organizations::Client::new(&self.config);
        if orgs.describe_organization().send().await.is_err() {
            let all = aws_sdk_organizations::types::OrganizationFeatureSet::All;
            orgs.create_organization().feature_set(all).send().await.unwrap();
        }
        let root = orgs.list_roots().send().await.unwrap().roots()[0].id().unwrap().to_string();
        let ou = orgs.create_organizational_unit().parent_id(&root).name(name).send().await.unwrap();
        let ou = ou.organizational_unit().unwrap().id().unwrap().to_string();
        let mut ids = Vec::new();
        for i in 0..=n {
            let created = orgs
                .create_account()
                .account_name(format!("{name}-{i}"))
                .email(format!("{name}-{i}@example.com"))
                .send()
                .await
                .unwrap();
            ids.push(created.create_account_status().unwrap().account_id().unwrap().to_string());
        }
        let outside = ids.pop().unwrap();
        for id in &ids {
            orgs.move_account().account_id(id).source_parent_id(&root).destination_parent_id(&ou).send().await.unwrap();
        }
        (ou, ids, outside)
    }
}
