//! Admin commands over the local store, and roles and member domains over the configured one.

use crate::settings::{Environment, Settings, data_path};
use airlock_core::ports::{Store, SystemClock};
use airlock_core::roles::{ChangeVia, RoleAnswer, RoleSource};
use airlock_core::services::People;
use airlock_core::{Actor, Config, Email, RequestId, Role, Status};
use airlock_local::SqliteStore;
use anyhow::{Context, bail};
use std::io::Write;
use std::sync::Arc;

fn open_store() -> anyhow::Result<SqliteStore> {
    let path = data_path(&Environment::from_env());
    SqliteStore::open(&path).with_context(|| format!("cannot open the store {}", path.display()))
}

/// `airlock requests USER [STATUS]`.
pub async fn requests(user: &str, status: Option<&str>) -> anyhow::Result<()> {
    let status = status.map(str::parse::<Status>).transpose().map_err(anyhow::Error::msg)?;
    let requests = open_store()?.requests_of_user(&user.to_ascii_lowercase(), status, 100).await?;
    for r in requests {
        let expiry = r.expires_at().map(|e| format!(" until {}", e.to_rfc3339())).unwrap_or_default();
        println!("{}  {:<9}  {}/{}  {}{}", r.id(), r.status(), r.flow(), r.target(), r.duration(), expiry);
    }
    Ok(())
}

/// `airlock audit REQUEST_ID`.
pub async fn audit(id: &str) -> anyhow::Result<()> {
    let id: RequestId = id.parse().map_err(anyhow::Error::msg)?;
    for e in open_store()?.audit_events(&id).await? {
        let from = e.from.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
        println!("{}  {:<16} {:>9} -> {:<9} by {}", e.at.to_rfc3339(), e.action, from, e.to, e.actor);
    }
    Ok(())
}

/// `airlock sweep`: remove grants past their expiry now (what the server's sweeper does every minute).
pub async fn sweep() -> anyhow::Result<()> {
    let env = Environment::from_env();
    let app = crate::app::LocalApp::build_with(Settings::load(&env)?, &env).await?;
    let removed = app.airlock.steps().sweep().await?;
    println!("removed {removed} grant(s) past their expiry");
    Ok(())
}

/// What `airlock users` and `airlock domains` accept.
pub const PEOPLE_USAGE: &str = "\
    airlock users list                        Every admin and every person whose role was set, with their role
    airlock users set-role EMAIL admin|member|guest [--by EMAIL]
                                              Set a person's role (over the config's default)
    airlock domains list                      The member domains (config and store)
    airlock domains add|remove DOMAIN [--by EMAIL]
                                              Make a domain's people members, or no longer";

/// `airlock users …` and `airlock domains …` on the store `AIRLOCK_STORE` names (SQLite at
/// `AIRLOCK_DATA`, or DynamoDB) under the config `AIRLOCK_CONFIG`; a running server sees each
/// change at once. Changes are recorded as made by `--by EMAIL`, or else by `cli:$USER`.
pub async fn people(args: &[&str]) -> anyhow::Result<()> {
    let env = Environment::from_env();
    let (args, by) = split_by(args)?;
    let by = match by {
        Some(email) => Actor::User { email, slack_id: None },
        None => {
            let user =
                std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "unknown".into());
            Actor::system(&format!("cli:{user}"))
        }
    };
    let people = people_service(&env).await?;
    run_people(&people, by, &args, &mut std::io::stdout().lock()).await
}

/// Takes `--by EMAIL` out of `args`.
fn split_by<'a>(args: &[&'a str]) -> anyhow::Result<(Vec<&'a str>, Option<Email>)> {
    let mut rest = Vec::new();
    let mut by = None;
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if *word == "--by" {
            let Some(email) = words.next() else { bail!("--by needs the email of the person making the change") };
            by = Some(email.parse::<Email>().map_err(anyhow::Error::msg)?);
        } else {
            rest.push(*word);
        }
    }
    Ok((rest, by))
}

/// The roles service over the configured store and config.
async fn people_service(env: &Environment) -> anyhow::Result<People> {
    let text = env.config_file_text()?;
    let config = match (&text, &env.config_file) {
        (Some(text), Some(path)) => Config::from_yaml(text).map_err(|e| anyhow::anyhow!("{path}: {e}"))?,
        _ => Config::from_yaml(airlock_core::config::EXAMPLE_CONFIG).map_err(anyhow::Error::msg)?,
    };
    let store: Arc<dyn Store> = match env.store.as_deref() {
        None | Some("sqlite") => Arc::new(open_store()?),
        Some("dynamodb") => env.dynamo_store().await?,
        Some(other) => bail!("AIRLOCK_STORE={other}: expected sqlite or dynamodb"),
    };
    Ok(People::new(Arc::new(config), store, Arc::new(SystemClock)))
}

/// Runs one `users` or `domains` command as `by`, printing to `out`.
pub async fn run_people(people: &People, by: Actor, args: &[&str], out: &mut dyn Write) -> anyhow::Result<()> {
    match args {
        ["users", "list"] => {
            for answer in people.users().await? {
                writeln!(out, "{}  {}  {}", answer.email, answer.role, source_of(&answer))?;
            }
        }
        ["users", "set-role", email, role] => {
            let email: Email = email.parse().map_err(anyhow::Error::msg)?;
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            let update = people.set_role(&email, role, by, ChangeVia::Cli).await?;
            let what = if update.changed { "is now" } else { "was already" };
            writeln!(out, "{email} {what} {}", update.answer.role)?;
        }
        ["domains", "list"] => {
            for domain in people.domains().await? {
                writeln!(out, "{domain}")?;
            }
        }
        ["domains", verb @ ("add" | "remove"), domain] => {
            let member = *verb == "add";
            let update = people.set_domain(domain, member, by, ChangeVia::Cli).await?;
            let said = match (update.changed, member) {
                (true, true) => "is now a member domain",
                (true, false) => "is no longer a member domain",
                (false, true) => "was already a member domain",
                (false, false) => "was already not a member domain",
            };
            writeln!(out, "{} {said}", update.answer.domain)?;
        }
        _ => bail!("unknown users or domains command; use one of:\n{PEOPLE_USAGE}"),
    }
    Ok(())
}

/// Where a listed person's role comes from, in a few words.
fn source_of(answer: &RoleAnswer) -> String {
    match &answer.source {
        RoleSource::Set { by, via, at } => format!("set by {by} ({}) at {}", via.as_str(), at.to_rfc3339()),
        RoleSource::ListedAdmin => "organization.admins".into(),
        _ => answer.why(),
    }
}
