//! [`LazyClient`]: an AWS SDK client made on its first use, so that a cold start builds no client
//! (and loads no SDK configuration) that its first event does not need.

use crate::bootstrap::aws_config;
use aws_config::SdkConfig;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// An SDK client type made from the shared [`SdkConfig`] by default.
pub trait SdkClient: Sized {
    fn from_sdk_config(config: &SdkConfig) -> Self;
}

macro_rules! sdk_clients {
    ($($client:ty),* $(,)?) => {$(
        impl SdkClient for $client {
            fn from_sdk_config(config: &SdkConfig) -> Self {
                <$client>::new(config)
            }
        }
    )*};
}

sdk_clients!(
    aws_sdk_dynamodb::Client,
    aws_sdk_sfn::Client,
    aws_sdk_ssoadmin::Client,
    aws_sdk_identitystore::Client,
    aws_sdk_organizations::Client,
    aws_sdk_eventbridge::Client,
    aws_sdk_lambda::Client,
    aws_sdk_ssm::Client,
);

/// A client made by `make` from the process's one SDK configuration ([`aws_config`], itself loaded
/// on the first use of any lazy client) when [`Self::get`] is first awaited; clones share it.
/// `From<C>` wraps a client made already (tests, the table-creating store).
pub struct LazyClient<C> {
    cell: Arc<OnceCell<C>>,
    make: fn(&SdkConfig) -> C,
}

impl<C> Clone for LazyClient<C> {
    fn clone(&self) -> Self {
        Self { cell: self.cell.clone(), make: self.make }
    }
}

impl<C> LazyClient<C> {
    /// A client that `make` builds on first use.
    pub fn with(make: fn(&SdkConfig) -> C) -> Self {
        Self { cell: Arc::new(OnceCell::new()), make }
    }

    /// The client, made now if this is its first use.
    pub async fn get(&self) -> &C {
        self.cell.get_or_init(|| async { (self.make)(aws_config().await) }).await
    }
}

impl<C: SdkClient> Default for LazyClient<C> {
    /// The client of the shared configuration, made on first use.
    fn default() -> Self {
        Self::with(C::from_sdk_config)
    }
}

impl<C: SdkClient> From<C> for LazyClient<C> {
    fn from(client: C) -> Self {
        Self { cell: Arc::new(OnceCell::new_with(Some(client))), make: C::from_sdk_config }
    }
}
