//! AWS adapters behind the core's ports: DynamoDB store, Step Functions workflow, IAM Identity
//! Center escalator, EventBridge audit sink and Lambda prefetch; [`settings`] reads the environment
//! once, [`bootstrap`] builds the adapters from its values, and [`assembly`] builds the core's
//! dependencies for `airlock serve` and the Lambdas; [`metrics`] publishes CloudWatch metrics
//! through the functions' logs.

pub mod assembly;
pub mod bootstrap;
pub mod catalog;
pub mod dynamo;
pub mod events;
pub mod lambda_options;
pub mod metrics;
pub mod settings;
pub mod sfn;
pub mod sso;

pub use catalog::OrganizationsCatalog;
pub use dynamo::DynamoStore;
pub use events::EventBridgeAuditSink;
pub use lambda_options::LambdaOptionsSource;
pub use sfn::StepFunctionsWorkflow;
pub use sso::SsoEscalator;
pub use sso::SsoGroupEscalator;
