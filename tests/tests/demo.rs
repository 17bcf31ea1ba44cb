//! `airlock demo` (the README's first command) plays its whole tour and succeeds.

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_reaches_expiry() {
    airlock_cli::demo::run().await.expect("the demo completes");
}
