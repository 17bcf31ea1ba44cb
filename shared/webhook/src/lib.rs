//! HTTP adapters: the `webhook` escalator (signed POSTs, retried on 5xx) and the URL prefetch of
//! select options.

mod escalator;
mod http;
mod options;
mod signature;

pub use escalator::WebhookEscalator;
pub use options::HttpOptionsSource;
pub use signature::{sign, verify_signature};
