//! Discovered `aws_sso` targets: the accounts and permission sets a request may name, listed by
//! the [`TargetCatalog`] and narrowed to the target's scope here, and the concrete targets (one per
//! account) a request for them grants.

use super::Airlock;
use super::submit::SubmitInput;
use crate::error::{FieldError, SubmitError};
use crate::flow::{SsoScope, Target, TargetKind};
use crate::ports::{Account, PermissionSet, TargetCatalog};
use crate::request::MAX_TARGETS;
use std::sync::Arc;

/// The most options one answer holds (Slack's limit for a select).
pub const MAX_OPTIONS: usize = 100;

/// The accounts offered for a typed search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountOptions {
    /// At most [`MAX_OPTIONS`], by name.
    pub accounts: Vec<Account>,
    /// The listing is still loading: more accounts may match later.
    pub loading: bool,
}

fn scope_of(target: &Target) -> Result<&SsoScope, String> {
    match &target.kind {
        TargetKind::AwsSsoScope(scope) => Ok(scope),
        _ => Err(format!("target {} does not list accounts", target.name)),
    }
}

fn field_error(field: &str, message: impl Into<String>) -> Vec<FieldError> {
    vec![FieldError { field: field.into(), message: message.into() }]
}

impl Airlock {
    fn catalog(&self) -> Result<&Arc<dyn TargetCatalog>, String> {
        self.catalog.as_ref().ok_or_else(|| "accounts cannot be listed here (no AWS Organizations access)".to_string())
    }

    /// The target's accounts whose name or id contains `query` (case-insensitive), at most
    /// [`MAX_OPTIONS`], by name; answered from what is cached, so it never waits for AWS.
    pub async fn account_options(&self, target: &Target, query: &str) -> Result<AccountOptions, String> {
        let scope = scope_of(target)?;
        let listing = self.catalog()?.accounts(scope, true).await.map_err(|e| e.0)?;
        let query = query.trim().to_lowercase();
        let mut accounts: Vec<Account> = listing
            .items
            .into_iter()
            .filter(|a| scope.admits(&a.id, &a.name))
            .filter(|a| a.id.contains(&query) || a.name.to_lowercase().contains(&query))
            .collect();
        accounts.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then_with(|| a.id.cmp(&b.id)));
        accounts.truncate(MAX_OPTIONS);
        Ok(AccountOptions { accounts, loading: listing.loading })
    }

    /// The target's permission sets (those it lists that the instance has), by name; from the cache.
    pub async fn permission_set_options(&self, target: &Target) -> Result<Vec<PermissionSet>, String> {
        let scope = scope_of(target)?;
        let listing = self.catalog()?.permission_sets(scope, true).await.map_err(|e| e.0)?;
        let mut sets: Vec<PermissionSet> =
            listing.items.into_iter().filter(|p| scope.lists_permission_set(&p.arn, &p.name)).collect();
        sets.sort_by(|a, b| a.name.cmp(&b.name));
        sets.truncate(MAX_OPTIONS);
        Ok(sets)
    }

    /// The concrete targets of `target` for `accounts` (ids or names) in `permission_set` (name or
    /// ARN): one `aws_sso` target per account. Anything outside the target's scope is refused.
    pub async fn resolve_accounts(
        &self,
        target: &Target,
        accounts: &[String],
        permission_set: Option<&str>,
    ) -> Result<Vec<Target>, SubmitError> {
        let invalid = |field: &str, message: String| SubmitError::Invalid(field_error(field, message));
        let scope = scope_of(target).map_err(|e| invalid("accounts", e))?;
        let catalog = self.catalog().map_err(SubmitError::Unavailable)?;
        let wanted: Vec<&str> = accounts.iter().map(|a| a.trim()).filter(|a| !a.is_empty()).collect();
        if wanted.is_empty() {
            return Err(invalid("accounts", format!("choose an account of {}", target.label)));
        }
        if wanted.len() > scope.max_accounts {
            return Err(invalid("accounts", format!("at most {} accounts per request", scope.max_accounts)));
        }
        let Some(permission_set) = permission_set.map(str::trim).filter(|p| !p.is_empty()) else {
            return Err(invalid("permission_set", format!("choose a permission set of {}", target.label)));
        };
        let sets = catalog.permission_sets(scope, false).await.map_err(|e| SubmitError::Unavailable(e.0))?;
        let set = sets
            .items
            .into_iter()
            .find(|p| p.arn == permission_set || p.name.eq_ignore_ascii_case(permission_set))
            .filter(|p| scope.lists_permission_set(&p.arn, &p.name))
            .ok_or_else(|| {
                invalid("permission_set", format!("{permission_set} is not a permission set of {}", target.label))
            })?;
        let instance_arn = catalog.instance_arn(scope).ok_or_else(|| {
            SubmitError::Unavailable("no Identity Center instance is configured (AIRLOCK_SSO_INSTANCE_ARN)".into())
        })?;
        let listed = catalog.accounts(scope, false).await.map_err(|e| SubmitError::Unavailable(e.0))?;
        let mut found: Vec<Account> = Vec::new();
        for want in wanted {
            let matches: Vec<&Account> =
                listed.items.iter().filter(|a| a.id == want || a.name.eq_ignore_ascii_case(want)).collect();
            let account = match matches[..] {
                [one] if scope.admits(&one.id, &one.name) => one,
                [_, _, ..] => return Err(invalid("accounts", format!("{want} names several accounts: give its id"))),
                _ => return Err(invalid("accounts", format!("{want} is not an account of {}", target.label))),
            };
            if found.iter().any(|a| a.id == account.id) {
                return Err(invalid("accounts", format!("{want} is named twice")));
            }
            found.push(account.clone());
        }
        Ok(found
            .into_iter()
            .map(|a| crate::evaluation::account_target(target, &a.id, &a.name, &set.name, &set.arn, &instance_arn))
            .collect())
    }

    /// The form's targets with each discovered target replaced by its chosen accounts.
    pub(super) async fn expand_targets(
        &self,
        chosen: Vec<&Target>,
        input: &SubmitInput,
    ) -> Result<Vec<Target>, SubmitError> {
        let scoped = chosen.iter().filter(|t| matches!(t.kind, TargetKind::AwsSsoScope(_))).count();
        if scoped == 0 {
            if !input.accounts.is_empty() || input.permission_set.is_some() {
                let message = "accounts and permission_set apply only to a target that lists accounts";
                return Err(SubmitError::Invalid(field_error("accounts", message)));
            }
            return Ok(chosen.into_iter().cloned().collect());
        }
        if scoped > 1 {
            return Err(SubmitError::Invalid(field_error(
                "targets",
                "name one target that lists accounts per request",
            )));
        }
        let mut targets = Vec::new();
        for target in chosen {
            match target.kind {
                TargetKind::AwsSsoScope(_) => targets
                    .extend(self.resolve_accounts(target, &input.accounts, input.permission_set.as_deref()).await?),
                _ => targets.push(target.clone()),
            }
        }
        if targets.len() > MAX_TARGETS {
            return Err(SubmitError::Invalid(field_error(
                "accounts",
                format!("at most {MAX_TARGETS} targets per request"),
            )));
        }
        Ok(targets)
    }
}

pub(super) use crate::evaluation::account_target_name;

/// What a discovered target resolves to now: its accounts and permission sets, narrowed to its
/// scope, and the permission sets it names that the instance does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedScope {
    pub instance_arn: Option<String>,
    /// By name.
    pub accounts: Vec<Account>,
    /// By name.
    pub permission_sets: Vec<PermissionSet>,
    /// Names or ARNs in the config that match no permission set of the instance.
    pub missing_permission_sets: Vec<String>,
}

/// Lists `scope` through `catalog` (waiting for the listings) and narrows it as requests are.
pub async fn resolve_scope(
    catalog: &dyn TargetCatalog,
    scope: &SsoScope,
) -> Result<ResolvedScope, crate::ports::CatalogError> {
    let mut accounts: Vec<Account> =
        catalog.accounts(scope, false).await?.items.into_iter().filter(|a| scope.admits(&a.id, &a.name)).collect();
    accounts.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then_with(|| a.id.cmp(&b.id)));
    let all = catalog.permission_sets(scope, false).await?.items;
    let missing_permission_sets = scope
        .permission_sets
        .iter()
        .filter(|p| !all.iter().any(|s| &s.arn == *p || s.name.eq_ignore_ascii_case(p)))
        .cloned()
        .collect();
    let mut permission_sets: Vec<PermissionSet> =
        all.into_iter().filter(|p| scope.lists_permission_set(&p.arn, &p.name)).collect();
    permission_sets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ResolvedScope { instance_arn: catalog.instance_arn(scope), accounts, permission_sets, missing_permission_sets })
}
