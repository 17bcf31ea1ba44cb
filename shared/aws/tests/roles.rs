//! DynamoStore's roles and member domains against moto with the real SDK client.

use airlock_aws::DynamoStore;
use airlock_core::Role;
use airlock_core::ports::{Store, StoreError};
use airlock_core::roles::RoleStore;
use airlock_testkit::roles::{check_role_store, sample_domain, sample_role};
use airlock_testkit::{fake_aws_env, moto_endpoint};

/// A store on a fresh table of its own, reading `page` items per query page.
async fn store(page: u16) -> DynamoStore {
    fake_aws_env();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(moto_endpoint()).load().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = format!("airlock-{}", airlock_core::RequestId::generate().as_str().to_ascii_lowercase());
    DynamoStore::create_table(&client, &table).await.unwrap();
    DynamoStore::new(client, &table).with_page_size(page)
}

#[tokio::test]
async fn roles_and_domains_are_conditional_writes_with_their_events() {
    let store = store(100).await;
    assert!(store.roles().is_some(), "the DynamoDB store keeps roles");
    check_role_store(&store).await;
}

#[tokio::test]
async fn listings_follow_every_page_and_a_lost_write_leaves_no_event() {
    let store = store(1).await;
    for (i, email) in ["dave@example.com", "bob@example.com", "carol@example.com"].into_iter().enumerate() {
        let (role, event) = sample_role(email, Role::Admin, 1);
        store.put_role(&role, &event).await.unwrap();
        let (domain, event) = sample_domain(&format!("d{i}.example"), true, 1);
        store.put_domain(&domain, &event).await.unwrap();
    }
    let emails: Vec<String> = store.stored_roles().await.unwrap().into_iter().map(|r| r.email.to_string()).collect();
    assert_eq!(emails, ["bob@example.com", "carol@example.com", "dave@example.com"]);
    assert_eq!(store.stored_domains().await.unwrap().len(), 3);
    assert_eq!(store.role_events(4).await.unwrap().len(), 4, "a limit across pages");

    let (stale, event) = sample_role("bob@example.com", Role::Guest, 1);
    assert_eq!(store.put_role(&stale, &event).await, Err(StoreError::Conflict));
    assert!(!store.role_events(100).await.unwrap().contains(&event), "the refused write's event is not kept");
    assert_eq!(store.stored_role(&stale.email).await.unwrap().unwrap().role, Role::Admin);
}
