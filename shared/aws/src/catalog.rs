//! [`OrganizationsCatalog`]: the accounts (AWS Organizations) and permission sets (IAM Identity
//! Center) of discovered `aws_sso` targets, cached.
//!
//! Each listing is kept for a while (`ttl`, minutes) and refreshed in the background once older;
//! a stale listing keeps serving meanwhile, and a failed refresh keeps the last good one. A quick
//! ask (the form's options, which Slack wants within 3 s) waits at most `quick_wait` for a first
//! listing and otherwise answers what it has, marked `loading`.

use crate::LazyClient;
use airlock_core::flow::{AccountScope, SsoScope};
use airlock_core::ports::{Account, CatalogError, Listing, PermissionSet, TargetCatalog};
use async_trait::async_trait;
use aws_sdk_organizations::types::ChildType;
use aws_sdk_ssoadmin::error::DisplayErrorContext;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// One cached listing.
struct Entry<T> {
    items: Option<Vec<T>>,
    fetched_at: Option<Instant>,
    /// The last refresh failed with this (cleared by a successful one).
    error: Option<String>,
    refreshing: bool,
    done: Arc<Notify>,
}

impl<T> Default for Entry<T> {
    fn default() -> Self {
        Self { items: None, fetched_at: None, error: None, refreshing: false, done: Arc::new(Notify::new()) }
    }
}

type Loader<T> = Pin<Box<dyn Future<Output = Result<Vec<T>, String>> + Send>>;

/// Listings by key, each refreshed by one task at a time.
struct Cache<T> {
    entries: Mutex<HashMap<String, Entry<T>>>,
}

impl<T: Clone + Send + 'static> Cache<T> {
    fn new() -> Arc<Self> {
        Arc::new(Self { entries: Mutex::default() })
    }

    /// The listing for `key`; `load` is started in the background when there is none or it is
    /// older than `ttl`. `wait`: how long to wait for a first listing (`None`: until it is there).
    async fn get(
        self: &Arc<Self>,
        key: &str,
        ttl: Duration,
        wait: Option<Duration>,
        load: impl FnOnce() -> Loader<T>,
    ) -> Result<Listing<T>, CatalogError> {
        let done = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            let entry = entries.entry(key.to_string()).or_default();
            let stale = entry.fetched_at.is_none_or(|at| at.elapsed() >= ttl);
            if stale && !entry.refreshing {
                entry.refreshing = true;
                let cache = Arc::clone(self);
                let key = key.to_string();
                let loading = load();
                tokio::spawn(async move { cache.store(&key, loading.await) });
            }
            if let Some(items) = &entry.items {
                return Ok(Listing { items: items.clone(), loading: false });
            }
            if !entry.refreshing {
                return Err(CatalogError(entry.error.clone().unwrap_or_else(|| "the listing failed".into())));
            }
            Arc::clone(&entry.done)
        };
        let waited = async {
            loop {
                let notified = done.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                {
                    let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
                    let entry = &entries[key];
                    if let Some(items) = &entry.items {
                        return Ok(Listing { items: items.clone(), loading: false });
                    }
                    if !entry.refreshing {
                        return Err(CatalogError(entry.error.clone().unwrap_or_else(|| "the listing failed".into())));
                    }
                }
                notified.await;
            }
        };
        match wait {
            None => waited.await,
            Some(limit) => {
                tokio::time::timeout(limit, waited).await.unwrap_or(Ok(Listing { items: Vec::new(), loading: true }))
            }
        }
    }

    fn store(&self, key: &str, loaded: Result<Vec<T>, String>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.entry(key.to_string()).or_default();
        entry.refreshing = false;
        match loaded {
            Ok(items) => {
                entry.items = Some(items);
                entry.fetched_at = Some(Instant::now());
                entry.error = None;
            }
            Err(e) => {
                tracing::warn!(listing = key, error = %e, "listing accounts or permission sets failed");
                entry.error = Some(e);
            }
        }
        entry.done.notify_waiters();
    }
}

/// Lists and caches accounts and permission sets for discovered `aws_sso` targets.
#[derive(Clone)]
pub struct OrganizationsCatalog {
    orgs: LazyClient<aws_sdk_organizations::Client>,
    sso: LazyClient<aws_sdk_ssoadmin::Client>,
    default_instance: Option<String>,
    ttl: Duration,
    quick_wait: Duration,
    accounts: Arc<Cache<Account>>,
    sets: Arc<Cache<PermissionSet>>,
}

impl OrganizationsCatalog {
    /// A catalog whose targets without `instance_arn` use `default_instance` (the stack's
    /// `AIRLOCK_SSO_INSTANCE_ARN`); listings live 5 minutes, quick asks wait at most 2 s.
    pub fn new(
        orgs: impl Into<LazyClient<aws_sdk_organizations::Client>>,
        sso: impl Into<LazyClient<aws_sdk_ssoadmin::Client>>,
        default_instance: Option<String>,
    ) -> Self {
        Self {
            orgs: orgs.into(),
            sso: sso.into(),
            default_instance,
            ttl: Duration::from_secs(300),
            quick_wait: Duration::from_secs(2),
            accounts: Cache::new(),
            sets: Cache::new(),
        }
    }

    /// How long a listing serves before it is refreshed in the background.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long a quick ask waits for a first listing.
    pub fn with_quick_wait(mut self, wait: Duration) -> Self {
        self.quick_wait = wait;
        self
    }

    fn wait(&self, quick: bool) -> Option<Duration> {
        quick.then_some(self.quick_wait)
    }
}

fn aws_error<E: std::error::Error + Send + Sync + 'static, R: std::fmt::Debug>(
    what: &str,
    e: aws_sdk_organizations::error::SdkError<E, R>,
) -> String {
    format!("{what}: {}", DisplayErrorContext(e))
}

fn account_of(a: &aws_sdk_organizations::types::Account) -> Option<Account> {
    let id = a.id()?.to_string();
    Some(Account { name: a.name().unwrap_or(&id).to_string(), id })
}

async fn all_accounts(orgs: LazyClient<aws_sdk_organizations::Client>) -> Result<Vec<Account>, String> {
    let orgs = orgs.get().await;
    let mut accounts = Vec::new();
    let mut next = None;
    loop {
        let page = orgs.list_accounts().set_next_token(next).send().await.map_err(|e| aws_error("ListAccounts", e))?;
        accounts.extend(page.accounts().iter().filter_map(account_of));
        match page.next_token() {
            Some(token) => next = Some(token.to_string()),
            None => return Ok(accounts),
        }
    }
}

async fn accounts_under(
    orgs: LazyClient<aws_sdk_organizations::Client>,
    ou: String,
    recursive: bool,
) -> Result<Vec<Account>, String> {
    let orgs = orgs.get().await;
    let mut accounts = Vec::new();
    let mut parents = vec![ou];
    while let Some(parent) = parents.pop() {
        let mut next = None;
        loop {
            let page = orgs
                .list_accounts_for_parent()
                .parent_id(&parent)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| aws_error("ListAccountsForParent", e))?;
            accounts.extend(page.accounts().iter().filter_map(account_of));
            match page.next_token() {
                Some(token) => next = Some(token.to_string()),
                None => break,
            }
        }
        if !recursive {
            continue;
        }
        let mut next = None;
        loop {
            let page = orgs
                .list_children()
                .parent_id(&parent)
                .child_type(ChildType::OrganizationalUnit)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| aws_error("ListChildren", e))?;
            parents.extend(page.children().iter().filter_map(|c| c.id().map(String::from)));
            match page.next_token() {
                Some(token) => next = Some(token.to_string()),
                None => break,
            }
        }
    }
    Ok(accounts)
}

async fn permission_sets(
    sso: LazyClient<aws_sdk_ssoadmin::Client>,
    instance: String,
) -> Result<Vec<PermissionSet>, String> {
    let sso = sso.get().await;
    let mut arns = Vec::new();
    let mut next = None;
    loop {
        let page = sso
            .list_permission_sets()
            .instance_arn(&instance)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| format!("ListPermissionSets: {}", DisplayErrorContext(e)))?;
        arns.extend(page.permission_sets().iter().cloned());
        match page.next_token() {
            Some(token) => next = Some(token.to_string()),
            None => break,
        }
    }
    let mut sets = Vec::with_capacity(arns.len());
    for arn in arns {
        let described = sso
            .describe_permission_set()
            .instance_arn(&instance)
            .permission_set_arn(&arn)
            .send()
            .await
            .map_err(|e| format!("DescribePermissionSet: {}", DisplayErrorContext(e)))?;
        let name = described.permission_set().and_then(|p| p.name()).unwrap_or(&arn).to_string();
        sets.push(PermissionSet { arn, name });
    }
    Ok(sets)
}

#[async_trait]
impl TargetCatalog for OrganizationsCatalog {
    async fn accounts(&self, scope: &SsoScope, quick: bool) -> Result<Listing<Account>, CatalogError> {
        let orgs = self.orgs.clone();
        let wait = self.wait(quick);
        match &scope.accounts {
            // An id list is the organization's listing narrowed (the services narrow it).
            AccountScope::All | AccountScope::Ids(_) => {
                self.accounts.get("all", self.ttl, wait, || Box::pin(all_accounts(orgs))).await
            }
            AccountScope::Ou { ou, recursive } => {
                let key = format!("{ou}:{recursive}");
                let (ou, recursive) = (ou.clone(), *recursive);
                self.accounts.get(&key, self.ttl, wait, || Box::pin(accounts_under(orgs, ou, recursive))).await
            }
        }
    }

    async fn permission_sets(&self, scope: &SsoScope, quick: bool) -> Result<Listing<PermissionSet>, CatalogError> {
        let instance = self.instance_arn(scope).ok_or_else(|| {
            CatalogError("no Identity Center instance is configured (AIRLOCK_SSO_INSTANCE_ARN)".into())
        })?;
        let sso = self.sso.clone();
        let key = instance.clone();
        self.sets.get(&key, self.ttl, self.wait(quick), || Box::pin(permission_sets(sso, instance))).await
    }

    fn instance_arn(&self, scope: &SsoScope) -> Option<String> {
        scope.instance_arn.clone().or_else(|| self.default_instance.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A loader answering `Ok([n])` for its n-th call (from 1), or an error while `failing`.
    fn loader(calls: &Arc<AtomicUsize>, failing: bool) -> impl FnOnce() -> Loader<usize> {
        let calls = Arc::clone(calls);
        move || {
            Box::pin(async move {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                if failing { Err(format!("listing {n} failed")) } else { Ok(vec![n]) }
            })
        }
    }

    /// Long enough not to expire during a test; zero: every ask finds the listing stale.
    const TTL: Duration = Duration::from_secs(300);
    const STALE: Duration = Duration::ZERO;

    async fn refreshed(cache: &Cache<usize>) {
        while cache.entries.lock().unwrap()["k"].refreshing {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_stale_listing_serves_while_it_is_refreshed_and_after_a_failed_refresh() {
        let cache = Cache::<usize>::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let first = cache.get("k", TTL, None, loader(&calls, false)).await.unwrap();
        assert_eq!((first.items, first.loading), (vec![1], false));
        // Fresh: no new listing.
        assert_eq!(cache.get("k", TTL, None, loader(&calls, false)).await.unwrap().items, [1]);
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // Stale: answered at once from the cache, a refresh starts in the background.
        assert_eq!(cache.get("k", STALE, Some(Duration::ZERO), loader(&calls, false)).await.unwrap().items, [1]);
        refreshed(&cache).await;
        assert_eq!(cache.get("k", TTL, None, loader(&calls, false)).await.unwrap().items, [2]);

        assert_eq!(cache.get("k", STALE, None, loader(&calls, true)).await.unwrap().items, [2]);
        refreshed(&cache).await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // The refresh failed: the last good listing still serves.
        assert_eq!(cache.get("k", TTL, None, loader(&calls, false)).await.unwrap().items, [2]);
    }

    #[tokio::test]
    async fn a_first_listing_that_fails_is_an_error_and_the_next_ask_tries_again() {
        let cache = Cache::<usize>::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let e = cache.get("k", TTL, None, loader(&calls, true)).await.unwrap_err();
        assert_eq!(e.0, "listing 1 failed");
        assert_eq!(cache.get("k", TTL, None, loader(&calls, false)).await.unwrap().items, [2]);
    }
}
