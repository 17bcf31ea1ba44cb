//! `airlock`: the local server, a self-contained demo, config validation and admin commands.

use airlock_cli::{admin, check, demo, explain, policy, serve, targets};
use std::process::ExitCode;

const USAGE: &str = "\
airlock: just-in-time access, approved in Slack

USAGE:
    airlock serve                 Run the HTTP server (Slack endpoints + /api/v1) on AIRLOCK_ADDR
    airlock demo                  Play a request -> approval -> grant -> expiry tour on a fake Slack
    airlock config check FILE     Validate a config file (errors name the line)
    airlock config explain EMAIL [--config FILE] [--role R] [--groups S0A,S0B]
                                  What a person may request and approve, and why
    airlock policy test CASES.yaml [--config FILE]
                                  Check the policy's decisions against a file of cases, offline
    airlock targets list [FILE]   What each target grants; lists discovered accounts and permission
                                  sets from AWS (credentials; AIRLOCK_SSO_INSTANCE_ARN)
    airlock requests USER [STATUS]  List a user's requests from the local store (AIRLOCK_DATA)
    airlock audit REQUEST_ID      Show a request's audit trail from the local store
    airlock sweep                 Remove every grant past its expiry now (local store)
    airlock users list            Admins and people whose role was set, one line each (AIRLOCK_STORE)
    airlock users set-role EMAIL admin|member|guest [--by EMAIL]
    airlock domains list|add|remove [DOMAIN] [--by EMAIL]
                                  Member domains; changes hold for a running server at once

ENVIRONMENT (serve):
    AIRLOCK_CONFIG          config file (default: the built-in example)
    AIRLOCK_ADDR            listen address (default 127.0.0.1:3000)
    AIRLOCK_DATA            SQLite file (default airlock.db)
    AIRLOCK_API_TOKENS      comma-separated bearer tokens for /api/v1
    SLACK_SIGNING_SECRET    verifies every Slack request
    SLACK_BOT_TOKEN         Slack Web API token
    SLACK_API_URL           Slack Web API base (default https://slack.com/api/)
    AIRLOCK_STORE=dynamodb  use DynamoDB (AIRLOCK_TABLE, AIRLOCK_EVENT_BUS, AWS_ENDPOINT_URL) instead of SQLite
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("airlock: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match args.as_slice() {
        ["serve"] => runtime.block_on(serve::run()),
        ["demo"] => runtime.block_on(demo::run()),
        ["config", "check", file] => check::run(file),
        ["config", "explain", rest @ ..] => explain::run(rest),
        ["policy", "test", rest @ ..] => policy::run(rest),
        ["targets", "list"] => runtime.block_on(targets::run(None)),
        ["targets", "list", file] => runtime.block_on(targets::run(Some(file))),
        ["requests", user] => runtime.block_on(admin::requests(user, None)),
        ["requests", user, status] => runtime.block_on(admin::requests(user, Some(status))),
        ["audit", id] => runtime.block_on(admin::audit(id)),
        ["sweep"] => runtime.block_on(admin::sweep()),
        ["users" | "domains", ..] => runtime.block_on(admin::people(&args)),
        ["help" | "--help" | "-h"] | [] => {
            print!("{USAGE}");
            Ok(())
        }
        _ => {
            eprint!("airlock: unknown command\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("airlock: {e:#}");
            ExitCode::FAILURE
        }
    }
}
