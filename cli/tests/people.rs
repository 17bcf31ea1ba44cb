//! `airlock users …` and `airlock domains …` as an operator runs them, against a store a running
//! server has open.

use airlock_core::config::EXAMPLE_CONFIG;
use airlock_core::ports::{Store, SystemClock};
use airlock_core::services::People;
use airlock_core::{Config, Role};
use airlock_local::SqliteStore;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

fn airlock(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .env("AIRLOCK_DATA", data)
        .env("USER", "jdoe")
        .env_remove("AIRLOCK_STORE")
        .env_remove("AIRLOCK_CONFIG")
        .output()
        .expect("run airlock")
}

/// Runs `args`, expects success and returns stdout.
fn ok(data: &Path, args: &[&str]) -> String {
    let out = airlock(data, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `args`, expects failure and returns stderr.
fn fails(data: &Path, args: &[&str]) -> String {
    let out = airlock(data, args);
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

#[tokio::test]
async fn roles_and_domains_set_on_the_command_line_hold_for_a_running_server_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("airlock.db");
    // What `airlock serve` would hold open on the same file.
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data).unwrap());
    let server = People::new(Arc::new(Config::from_yaml(EXAMPLE_CONFIG).unwrap()), store, Arc::new(SystemClock));
    let carol = "carol@example.com".parse().unwrap();
    assert_eq!(server.role_of(&carol).await.unwrap().role, Role::Member);

    assert_eq!(ok(&data, &["users", "list"]), "alice@example.com  admin  organization.admins\n");
    let set = ok(&data, &["users", "set-role", "Carol@Example.com", "admin", "--by", "ops@example.com"]);
    assert_eq!(set, "carol@example.com is now admin\n");
    assert_eq!(server.role_of(&carol).await.unwrap().role, Role::Admin, "no restart needed");
    assert_eq!(
        ok(&data, &["users", "set-role", "carol@example.com", "admin"]),
        "carol@example.com was already admin\n"
    );
    let listed = ok(&data, &["users", "list"]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(lines[1].starts_with("carol@example.com  admin  set by ops@example.com (cli) at "), "{listed}");

    let gina = "gina@outside.org".parse().unwrap();
    assert_eq!(server.role_of(&gina).await.unwrap().role, Role::Guest);
    assert_eq!(ok(&data, &["domains", "add", "outside.org"]), "outside.org is now a member domain\n");
    assert_eq!(server.role_of(&gina).await.unwrap().role, Role::Member);
    let domains = ok(&data, &["domains", "list"]);
    assert!(domains.contains("example.com  member  organization.primary_domain"), "{domains}");
    assert!(domains.contains("contractor.example  member  organization.member_domains"), "{domains}");
    assert!(domains.contains("outside.org  member  set by airlock:cli:jdoe (cli)"), "the OS user acts: {domains}");
    assert_eq!(ok(&data, &["domains", "remove", "outside.org"]), "outside.org is no longer a member domain\n");
    assert_eq!(server.role_of(&gina).await.unwrap().role, Role::Guest);

    let changes = server.changes(10).await.unwrap();
    let actions: Vec<&str> = changes.iter().map(|e| e.action()).collect();
    assert_eq!(actions, ["domain_removed", "domain_added", "role_set"], "each change audited, newest first");
}

#[test]
fn mistakes_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("airlock.db");
    assert!(fails(&data, &["users", "set-role", "carol@example.com", "owner"]).contains("unknown role \"owner\""));
    assert!(fails(&data, &["users", "set-role", "carol", "admin"]).contains("invalid email"));
    assert!(fails(&data, &["domains", "remove", "example.com"]).contains("primary domain"));
    assert!(fails(&data, &["domains", "add", "not a domain"]).contains("is not a domain name"));
    assert!(fails(&data, &["users", "set-role", "carol@example.com", "admin", "--by"]).contains("--by needs"));
    assert!(fails(&data, &["users", "promote"]).contains("airlock users set-role EMAIL"));
    assert_eq!(ok(&data, &["users", "list"]), "alice@example.com  admin  organization.admins\n", "nothing changed");
}
