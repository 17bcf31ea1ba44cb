//! `airlock config explain EMAIL [--config FILE] [--role R] [--groups a,b]`: what a person may
//! request and approve in each flow, and why (`airlock_core::evaluation::explain`).

use crate::policy::{load_config, take_flag};
use airlock_core::evaluation::{Answer, explain};
use airlock_core::flow::is_user_group_id;
use airlock_core::{Email, Identity, Role};
use anyhow::{Context, bail};

const USAGE: &str =
    "usage: airlock config explain EMAIL [--config FILE] [--role admin|member|guest] [--groups S0A,S0B]";

/// `airlock config explain` with its arguments after `explain`.
pub fn run(args: &[&str]) -> anyhow::Result<()> {
    let (config_file, rest) = take_flag(args, "--config")?;
    let (role, rest) = take_flag(&rest, "--role")?;
    let (groups, rest) = take_flag(&rest, "--groups")?;
    let [email] = rest[..] else { bail!("{USAGE}") };
    let email: Email = email.parse().map_err(|e: String| anyhow::anyhow!(e)).context(USAGE)?;
    let groups: Vec<String> =
        groups.unwrap_or_default().split(',').map(str::trim).filter(|g| !g.is_empty()).map(String::from).collect();
    if let Some(group) = groups.iter().find(|g| !is_user_group_id(g)) {
        bail!("--groups: {group:?} is not a Slack user group id (S…)");
    }
    let (config, source) = load_config(config_file)?;
    let configured = airlock_core::roles::resolve(&config, &email, None, &[]);
    let (role, why) = match role {
        Some(role) => {
            let role: Role = role.parse().map_err(|e: String| anyhow::anyhow!("--role: {e}"))?;
            (role, format!("given with --role; the config makes them {}: {}", configured.role, configured.why()))
        }
        None => (configured.role, configured.why()),
    };
    println!("{email} is {} {role} ({why})", if role == Role::Admin { "an" } else { "a" });
    println!(
        "config: {source}; roles set with `airlock users set-role` or `airlock domains` win over it (try one with --role)"
    );
    match groups.as_slice() {
        [] => println!("Slack user groups: none given (--groups S0A,S0B; Slack alone knows who is in a group)"),
        groups => println!("Slack user groups: {}", groups.join(", ")),
    }
    let who = Identity { email, slack_id: None, name: None, role };
    for flow in explain(&config, &who, &groups) {
        println!("\n{} ({})", flow.flow, flow.label);
        println!("  request: {}", answer(&flow.request));
        println!("  approve: {}", answer(&flow.approve));
        for rule in &flow.rules {
            println!("  {}: {}", rule.rule, rule.source);
            if rule.always {
                println!("    holds for every request of theirs");
            } else if rule.when.is_empty() {
                println!("    never holds for them (each target and duration, with each listed field value)");
            } else {
                println!("    holds for: {}", rule.when.join("; "));
            }
            for error in &rule.errors {
                println!("    does not evaluate (counted as no match): {error}");
            }
        }
    }
    Ok(())
}

fn answer(answer: &Answer) -> String {
    format!("{}: {}", if answer.allowed { "yes" } else { "no" }, answer.why)
}
