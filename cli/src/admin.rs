//! Admin commands over the local store.

use crate::settings::{Environment, Settings, data_path};
use airlock_core::ports::Store;
use airlock_core::{RequestId, Status};
use airlock_local::SqliteStore;
use anyhow::Context;

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
