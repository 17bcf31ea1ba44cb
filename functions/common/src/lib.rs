//! The Lambda side of Airlock: [`build`] assembles the core over the AWS adapters once per cold
//! start; [`step_handler`] serves the state machine's task states; [`notify_handler`] delivers the
//! outbox.

mod assembly;
mod failure;
mod notify;
pub mod startup;
mod steps;

pub use assembly::{
    AwsApp, SlackMode, WEBHOOK_SECRETS_PATH, build, build_from, build_with, config_text, fetch_settings, settings,
    webhook_secrets,
};
pub use failure::Failure;
pub use notify::{notify_handler, run_notify_function};
pub use steps::{StepFunction, run_step_function, step_handler};

/// JSON log lines for CloudWatch (`RUST_LOG`, default `info`); never logs secrets.
pub fn init_logging() {
    startup::begin();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .try_init();
    startup::mark("logging ready");
}
