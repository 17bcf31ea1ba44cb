//! `airlock config check FILE`.

use airlock_core::Config;
use anyhow::{Context, bail};

pub fn run(file: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
    match Config::from_yaml(&text) {
        Ok(config) => {
            let flows: Vec<_> = config.flows.iter().map(|f| f.name.as_str()).collect();
            println!("{file}: ok ({} flows: {})", flows.len(), flows.join(", "));
            Ok(())
        }
        Err(e) => bail!("{file}: {e}"),
    }
}
