//! `airlock config check FILE`: the config must load, and every webhook target's secret variable
//! must be set in the environment the check runs in (run it where Airlock runs).

use crate::settings::Environment;
use airlock_core::Config;
use anyhow::{Context, bail};

pub fn run(file: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
    let config = Config::from_yaml(&text).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    let missing = Environment::from_env().missing_webhook_secrets(&config, &text);
    if !missing.is_empty() {
        let lines: Vec<String> = missing.iter().map(|e| format!("{file}: {e}")).collect();
        bail!("{}", lines.join("\n"));
    }
    let flows: Vec<_> = config.flows.iter().map(|f| f.name.as_str()).collect();
    println!("{file}: ok ({} flows: {})", flows.len(), flows.join(", "));
    Ok(())
}
