//! The `slack-ingress` Lambda: [`airlock_fn_slack_ingress::app`] behind API Gateway.

use airlock_fn_common::{build, init_logging, startup};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging();
    let router = airlock_fn_slack_ingress::app(build().await?).await?;
    startup::mark("ready");
    lambda_http::run(router).await.map_err(|e| anyhow::anyhow!("{e}"))
}
