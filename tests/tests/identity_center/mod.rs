//! Identity Center users in moto's identity store for the AWS end-to-end tests. The test binaries
//! share one moto server (`MOTO_ENDPOINT`), so a user one of them made may already be there.

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
