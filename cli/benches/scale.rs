//! Scale: the recurring reads of `airlock serve` with 1,000 and with 100,000 requests in the SQLite
//! store. The open requests (pending, active) and the measured people's own histories are the same
//! at every size; only other people's ended requests grow, so every figure should stay flat.
//!
//! Measured through the services over the real assembly (`LocalApp`, SQLite file): the sweeper's
//! pass (removals due, reminders, drift check), an approver's App Home, a requester's App Home and
//! a requester's request list (`airlock requests` / `GET /api/v1/requests?user=`).
//!
//! `cargo bench -p airlock-cli --bench scale` (`bash bench/scale/run.sh`; prints a Markdown table;
//! not run in CI). `SIZES=1000,100000` and `ROUNDS=n` (default 50) override the defaults.

mod support;

use airlock_cli::app::LocalApp;
use airlock_cli::settings::StoreKind;
use airlock_core::ports::Store;
use airlock_core::{AccessRequest, Actor, Airlock, AuditAction, AuditEvent, Config, Identity, Role, Status};
use airlock_local::SqliteStore;
use airlock_testkit::slack::{FakeSlack, FakeUser};
use chrono::{Duration as Span, Utc};
use std::future::Future;
use std::time::{Duration, Instant};

/// Requests waiting for Bob's decision, at every size.
const PENDING: usize = 50;
/// Active grants (not yet due), at every size.
const ACTIVE: usize = 200;
/// Carol's own ended requests, at every size.
const CAROL_HISTORY: usize = 30;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    airlock_cli::telemetry::init("error");
    let sizes: Vec<usize> = std::env::var("SIZES")
        .unwrap_or_else(|_| "1000,100000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(50);
    let slack = FakeSlack::start(
        vec![FakeUser::new("U0BOB", "bob@example.com", "Bob"), FakeUser::new("U0CAROL", "carol@example.com", "Carol")],
        vec![],
    )
    .await;
    let mut columns = vec![];
    for &size in &sizes {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("airlock.db");
        let seeding = Instant::now();
        seed(&SqliteStore::open(&path).expect("the store"), size).await;
        eprintln!("seeded {size} requests in {:.1} s", seeding.elapsed().as_secs_f64());
        let settings = support::local_settings(
            Config::from_yaml(airlock_core::config::EXAMPLE_CONFIG).expect("the example config"),
            StoreKind::Sqlite(path.clone()),
            slack.base_url(),
        );
        let app = LocalApp::build(settings).await.expect("the local app");
        columns.push((size, measure(&app.airlock, rounds).await));
    }
    let build = if cfg!(debug_assertions) { "debug" } else { "optimized" };
    println!("median of {rounds} rounds each; SQLite file, {build} build\n");
    print!("| operation |");
    for (size, _) in &columns {
        print!(" {size} requests |");
    }
    println!("{}", if columns.len() == 2 { " ratio |" } else { "" });
    println!("|---|{}{}", "---|".repeat(columns.len()), if columns.len() == 2 { "---|" } else { "" });
    for (i, (name, _)) in columns[0].1.iter().enumerate() {
        print!("| {name} |");
        for (_, figures) in &columns {
            print!(" {:.3} ms |", figures[i].1.as_secs_f64() * 1000.0);
        }
        if let [(_, small), (_, large)] = columns.as_slice() {
            print!(" {:.2}x |", large[i].1.as_secs_f64() / small[i].1.as_secs_f64());
        }
        println!();
    }
}

async fn measure(airlock: &Airlock, rounds: usize) -> Vec<(&'static str, Duration)> {
    let who = |email: &str, slack_id: &str| Identity {
        email: email.parse().expect("an email"),
        slack_id: Some(slack_id.into()),
        name: None,
        role: Role::Member,
    };
    let (bob, carol) = (who("bob@example.com", "U0BOB"), who("carol@example.com", "U0CAROL"));
    let steps = airlock.steps();
    let home = airlock.home(&bob).await.expect("Bob's Home");
    assert_eq!(home.to_decide.len(), PENDING + 1, "Bob decides every pending request (Carol's too)");
    let list = airlock.list_requests("carol@example.com", None, 50).await.expect("Carol's requests");
    assert_eq!(list.len(), CAROL_HISTORY + 1);
    vec![
        (
            "sweep (removals due)",
            median(rounds, || async { assert_eq!(steps.sweep().await.expect("a sweep"), 0) }).await,
        ),
        (
            "reminders pass",
            median(rounds, || async {
                steps.remind().await.expect("reminders");
            })
            .await,
        ),
        (
            "drift check",
            median(rounds, || async {
                steps.reconcile().await.expect("a drift check");
            })
            .await,
        ),
        (
            "App Home of an approver (51 to decide)",
            median(rounds, || async {
                airlock.home(&bob).await.expect("a Home");
            })
            .await,
        ),
        (
            "App Home of a requester",
            median(rounds, || async {
                airlock.home(&carol).await.expect("a Home");
            })
            .await,
        ),
        (
            "a requester's expired requests (`?status=expired`)",
            median(rounds, || async {
                airlock.list_requests("carol@example.com", Some(Status::Expired), 50).await.expect("a list");
            })
            .await,
        ),
        (
            "a requester's request list (50 newest)",
            median(rounds, || async {
                airlock.list_requests("carol@example.com", None, 50).await.expect("a list");
            })
            .await,
        ),
    ]
}

async fn median<F: Future<Output = ()>>(rounds: usize, mut run: impl FnMut() -> F) -> Duration {
    run().await;
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        run().await;
        times.push(started.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

/// `size` requests: Bob's [`PENDING`] requests to decide, [`ACTIVE`] grants, Carol's history and a
/// pending request of hers, and the rest ended requests of 1,000 other people.
async fn seed(store: &SqliteStore, size: usize) {
    let now = Utc::now();
    let system = Actor::system("bench");
    let mut requests: Vec<AccessRequest> = Vec::with_capacity(size);
    let builder = |email: String, target: &str| {
        AccessRequest::builder(email.parse().expect("an email"), "aws-prod", target)
            .access_key(&format!("aws-prod/{target}"))
            .role(Role::Member)
            .duration_secs(3600)
    };
    for i in 0..PENDING {
        requests.push(builder(format!("p{i}@example.com"), "prod-admin").cards_queued().build());
    }
    for i in 0..ACTIVE {
        let granted = now - Span::minutes(10);
        requests.push(
            builder(format!("a{i}@example.com"), "prod-admin")
                .status(Status::Active)
                .decided_by(system.clone())
                .granted_at(granted)
                .expires_at(granted + Span::hours(1))
                .build(),
        );
    }
    let ended = |email: String, i: usize| {
        let granted = now - Span::days(2) + Span::seconds(i as i64);
        builder(email, "prod-readonly")
            .status(Status::Expired)
            .decided_by(system.clone())
            .granted_at(granted)
            .expires_at(granted + Span::hours(1))
            .access_removed_at(granted + Span::hours(1))
            .build()
    };
    for i in 0..CAROL_HISTORY {
        requests.push(ended("carol@example.com".into(), i));
    }
    requests.push(builder("carol@example.com".into(), "prod-admin").build());
    let fixed = requests.len();
    for i in 0..size.saturating_sub(fixed) {
        requests.push(ended(format!("u{}@example.com", i % 1000), i));
    }
    for request in &requests {
        let event = AuditEvent::of(request, system.clone(), AuditAction::Submitted, None, None);
        store.insert_request_with(request, &event, &[]).await.expect("seeded");
    }
}
