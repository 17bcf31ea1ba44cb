//! `airlock targets list [FILE]`: what each target of a config grants; a target that lists its
//! accounts is resolved through AWS Organizations and IAM Identity Center (AWS credentials needed).

use airlock_core::Config;
use airlock_core::flow::TargetKind;
use airlock_core::ports::TargetCatalog;
use airlock_core::services::resolve_scope;
use anyhow::Context;
use std::io::Write;

/// Prints every flow's targets from `file` (or `AIRLOCK_CONFIG`), resolving discovered ones with
/// the stack's default instance `AIRLOCK_SSO_INSTANCE_ARN`.
pub async fn run(file: Option<&str>) -> anyhow::Result<()> {
    let file = match file {
        Some(f) => f.to_string(),
        None => std::env::var("AIRLOCK_CONFIG").context("give a config file or set AIRLOCK_CONFIG")?,
    };
    let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {file}"))?;
    let config = Config::from_yaml(&text).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    let catalog = crate::app::target_catalog(&config, &crate::settings::Environment::from_env()).await?;
    list(&config, catalog.as_deref(), &mut std::io::stdout().lock()).await
}

/// Writes each flow's targets to `out`, one line per target, then (for a discovered target) its
/// permission sets and accounts, indented.
pub async fn list(config: &Config, catalog: Option<&dyn TargetCatalog>, out: &mut dyn Write) -> anyhow::Result<()> {
    for flow in &config.flows {
        writeln!(out, "{} ({}):", flow.name, flow.environment)?;
        for target in &flow.targets {
            match &target.kind {
                TargetKind::AwsSso { account_id, permission_set_arn, .. } => {
                    writeln!(out, "  {}: aws_sso {account_id} {permission_set_arn}", target.name)?;
                }
                TargetKind::AwsSsoScope(scope) => {
                    let catalog = catalog.context("no catalog: discovered targets need AWS")?;
                    let resolved = resolve_scope(catalog, scope)
                        .await
                        .map_err(|e| anyhow::anyhow!("target {}: {e}", target.name))?;
                    writeln!(
                        out,
                        "  {}: aws_sso in {} ({} accounts, at most {} per request)",
                        target.name,
                        resolved.instance_arn.as_deref().unwrap_or("no instance (set AIRLOCK_SSO_INSTANCE_ARN)"),
                        resolved.accounts.len(),
                        scope.max_accounts
                    )?;
                    for set in &resolved.permission_sets {
                        writeln!(out, "    permission set {} {}", set.name, set.arn)?;
                    }
                    for missing in &resolved.missing_permission_sets {
                        writeln!(out, "    permission set {missing}: NOT FOUND in the instance")?;
                    }
                    for account in &resolved.accounts {
                        writeln!(out, "    account {} {}", account.id, account.name)?;
                    }
                }
                other => writeln!(out, "  {}: {}", target.name, other.name())?,
            }
        }
    }
    Ok(())
}
