//! AWS adapters behind the core's ports: DynamoDB store, Step Functions workflow, IAM Identity
//! Center escalator, EventBridge audit sink and Lambda prefetch; [`settings`] reads the environment
//! once, `bootstrap` builds the adapters from its values, and [`assembly`] builds the core's
//! dependencies for `airlock serve` and the Lambdas. Without the `sdk` feature only [`settings`] and
//! [`assembly`] remain, and they refuse whatever needs AWS with [`NO_SDK`]. [`metrics`] publishes
//! CloudWatch metrics through the functions' logs.

pub mod assembly;
#[cfg(feature = "sdk")]
pub mod bootstrap;
#[cfg(feature = "sdk")]
pub mod catalog;
#[cfg(feature = "sdk")]
pub mod dynamo;
#[cfg(feature = "sdk")]
pub mod events;
#[cfg(feature = "sdk")]
pub mod lambda_options;
#[cfg(feature = "sdk")]
pub mod lazy;
pub mod metrics;
pub mod settings;
#[cfg(feature = "sdk")]
pub mod sfn;
#[cfg(feature = "sdk")]
pub mod sso;

#[cfg(feature = "sdk")]
pub use catalog::OrganizationsCatalog;
#[cfg(feature = "sdk")]
pub use dynamo::DynamoStore;
#[cfg(feature = "sdk")]
pub use events::EventBridgeAuditSink;
#[cfg(feature = "sdk")]
pub use lambda_options::LambdaOptionsSource;
#[cfg(feature = "sdk")]
pub use lazy::LazyClient;
#[cfg(feature = "sdk")]
pub use sfn::StepFunctionsWorkflow;
#[cfg(feature = "sdk")]
pub use sso::SsoEscalator;
#[cfg(feature = "sdk")]
pub use sso::SsoGroupEscalator;

/// Why a build without the `sdk` feature refuses something: what the user can do about it.
pub const NO_SDK: &str = "this airlock was built without AWS (cargo's --no-default-features); build it with the \
                          default features for AWS: cargo build --release -p airlock-cli";
