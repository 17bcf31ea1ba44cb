//! The Lambda side of Airlock: [`build`] assembles the core over the AWS adapters once per cold
//! start; [`step_handler`] serves the state machine's task states.

mod assembly;
mod steps;

pub use assembly::{AwsApp, build, config_text};
pub use steps::{StepFunction, run_step_function, step_handler};

/// JSON log lines for CloudWatch (`RUST_LOG`, default `info`); never logs secrets.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .try_init();
}
