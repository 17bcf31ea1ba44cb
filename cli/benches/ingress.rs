//! Slack ingress latency, in-process through the full axum router (`airlock serve`'s and the
//! slack-ingress Lambda's): signature verification, payload parsing, routing and the reply.
//!
//! `cargo bench -p airlock-cli --bench ingress`

mod support;
use support::SECRET;

use airlock_cli::app::LocalApp;
use airlock_cli::settings::StoreKind;
use airlock_core::Config;
use airlock_testkit::slack::{FORM, FakeSlack, FakeUser, SlackSigner, block_actions_body, slash_command_body};
use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tower::ServiceExt;

fn signed(path: &str, body: &str) -> Request<Body> {
    let mut request = Request::post(path).body(Body::from(body.to_string())).unwrap();
    *request.headers_mut() = SlackSigner::new(SECRET).header_map(body.as_bytes(), FORM);
    request
}

fn ingress(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (router, _slack) = rt.block_on(async {
        let slack = FakeSlack::start(vec![FakeUser::new("U0CAROL", "carol@example.com", "Carol")], vec![]).await;
        let settings = support::local_settings(
            Config::from_yaml(airlock_core::config::EXAMPLE_CONFIG).unwrap(),
            StoreKind::Memory,
            slack.base_url(),
        );
        (LocalApp::build(settings).await.unwrap().router, slack)
    });
    let send = |request: Request<Body>| {
        let response = rt.block_on(router.clone().oneshot(request)).unwrap();
        assert_eq!(response.status(), 200);
        response
    };

    let help = slash_command_body("/access", "help", "U0CAROL", "trigger-1");
    c.bench_function("slash command: /access help", |b| b.iter(|| send(black_box(signed("/slack/commands", &help)))));

    // The first call looks Carol up in Slack; every later one finds her in the directory cache.
    let whoami = slash_command_body("/access", "whoami", "U0CAROL", "trigger-2");
    send(signed("/slack/commands", &whoami));
    c.bench_function("slash command: /access whoami", |b| {
        b.iter(|| send(black_box(signed("/slack/commands", &whoami))))
    });

    // A click on a card element that needs no service call (Slack posts these for link buttons).
    let click = block_actions_body("U0CAROL", "open_runbook", "req_01JD0000000000000000000000", "C0APPROVALS", "1.1");
    c.bench_function("button click", |b| b.iter(|| send(black_box(signed("/slack/interactions", &click)))));
}

criterion_group!(benches, ingress);
criterion_main!(benches);
