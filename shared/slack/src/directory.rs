//! [`SlackDirectory`]: core's `Directory` over users.info, users.lookupByEmail and
//! usergroups.users.list, with a small in-memory cache.

use crate::api::{SlackApi, SlackApiError};
use airlock_core::Email;
use airlock_core::ports::{Directory, DirectoryError, DirectoryUser};
use async_trait::async_trait;
use slack_morphism::prelude::SlackUser;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a lookup is reused by default.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);

/// A map whose entries expire.
struct TtlCache<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> TtlCache<V> {
    fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    fn put(&self, key: &str, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        entries.insert(key.to_string(), (Instant::now(), value));
    }
}

/// Slack's users and user groups, cached for a few minutes.
pub struct SlackDirectory {
    api: Arc<SlackApi>,
    by_id: TtlCache<Option<DirectoryUser>>,
    by_email: TtlCache<Option<DirectoryUser>>,
    groups: TtlCache<Vec<String>>,
}

impl SlackDirectory {
    pub fn new(api: Arc<SlackApi>) -> Self {
        Self::with_ttl(api, DEFAULT_CACHE_TTL)
    }

    /// A directory whose lookups are reused for `ttl` (zero disables the cache).
    pub fn with_ttl(api: Arc<SlackApi>, ttl: Duration) -> Self {
        Self { api, by_id: TtlCache::new(ttl), by_email: TtlCache::new(ttl), groups: TtlCache::new(ttl) }
    }
}

/// A failed Web API call as the directory port's error: transient failures are `Unavailable`.
fn directory_error(e: SlackApiError) -> DirectoryError {
    if e.is_transient() { DirectoryError::Unavailable(e.to_string()) } else { DirectoryError::Rejected(e.to_string()) }
}

/// A Slack user as the directory port sees them (the email from the profile, the real name).
fn directory_user(user: SlackUser) -> DirectoryUser {
    let profile = user.profile.as_ref();
    let email = profile.and_then(|p| p.email.as_ref()).and_then(|e| e.0.parse::<Email>().ok());
    let name = user
        .real_name
        .clone()
        .or_else(|| profile.and_then(|p| p.real_name.clone()))
        .or_else(|| user.name.clone())
        .filter(|n| !n.is_empty());
    DirectoryUser { slack_id: user.id.0, email, name }
}

#[async_trait]
impl Directory for SlackDirectory {
    async fn user_by_slack_id(&self, slack_id: &str) -> Result<Option<DirectoryUser>, DirectoryError> {
        if let Some(hit) = self.by_id.get(slack_id) {
            return Ok(hit);
        }
        let user = self.api.user_info(slack_id).await.map_err(directory_error)?.map(directory_user);
        self.by_id.put(slack_id, user.clone());
        Ok(user)
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<DirectoryUser>, DirectoryError> {
        if let Some(hit) = self.by_email.get(email.as_str()) {
            return Ok(hit);
        }
        let user = self.api.user_by_email(email.as_str()).await.map_err(directory_error)?.map(directory_user);
        self.by_email.put(email.as_str(), user.clone());
        Ok(user)
    }

    async fn group_members(&self, group_id: &str) -> Result<Vec<String>, DirectoryError> {
        if let Some(hit) = self.groups.get(group_id) {
            return Ok(hit);
        }
        let members = self.api.usergroup_members(group_id).await.map_err(directory_error)?;
        self.groups.put(group_id, members.clone());
        Ok(members)
    }
}
