//! [`SsoGroupEscalator`]: `aws_sso_group` targets as IAM Identity Center group memberships.
//!
//! The group is found by display name, then by group id; the user as [`SsoEscalator`] finds them
//! (user name, then email). Membership changes are synchronous in the identity store. Both
//! directions are idempotent: a membership that already exists is standing access
//! ([`Escalation::AlreadyHeld`]), one that is already gone is success; conflicts and throttling are
//! retried.

use super::{CALL_ATTEMPTS, SsoEscalator, Waits, failure};
use airlock_core::email::Email;
use airlock_core::flow::{Target, TargetKind};
use airlock_core::ports::{Escalation, EscalationError, Escalator, GrantSpec, NoProgress};
use async_trait::async_trait;
use aws_sdk_identitystore::types::{AlternateIdentifier, MemberId, UniqueAttribute};
use aws_sdk_ssoadmin::error::ProvideErrorMetadata;
use aws_smithy_types::Document;

/// Grants and removes Identity Center group memberships.
pub struct SsoGroupEscalator {
    sso: SsoEscalator,
}

/// The group and instance a target names.
fn group_of(target: &Target) -> Result<(&str, Option<&str>), EscalationError> {
    match &target.kind {
        TargetKind::AwsSsoGroup { group, instance_arn } => Ok((group, instance_arn.as_deref())),
        other => {
            Err(EscalationError::Permanent(format!("{} is a {} target, not aws_sso_group", target.name, other.name())))
        }
    }
}

impl SsoGroupEscalator {
    /// Uses `sso`'s clients, identity store settings and backoff.
    pub fn new(sso: SsoEscalator) -> Self {
        Self { sso }
    }

    /// The identity store of `instance_arn`, or without one the deployment's: the configured
    /// store, else that of the only instance.
    async fn store(&self, instance_arn: Option<&str>, waits: &Waits<'_>) -> Result<String, EscalationError> {
        if let Some(arn) = instance_arn {
            return self.sso.identity_store(arn, waits).await;
        }
        if let Some(id) = &self.sso.default_store {
            return Ok(id.clone());
        }
        {
            let stores = self.sso.stores.lock().unwrap_or_else(|e| e.into_inner());
            if let (1, Some(id)) = (stores.len(), stores.values().next()) {
                return Ok(id.clone());
            }
        }
        let instances =
            self.sso.sso.get().await.list_instances().send().await.map_err(|e| failure("ListInstances", e))?;
        match instances.instances() {
            [one] => {
                let (Some(arn), Some(id)) = (one.instance_arn(), one.identity_store_id()) else {
                    return Err(EscalationError::Permanent(
                        "the Identity Center instance has no identity store".into(),
                    ));
                };
                self.sso.stores.lock().unwrap_or_else(|e| e.into_inner()).insert(arn.into(), id.into());
                Ok(id.to_string())
            }
            [] => Err(EscalationError::Permanent("no Identity Center instance is visible to Airlock".into())),
            _ => Err(EscalationError::Permanent(
                "several Identity Center instances: give the target an instance_arn".into(),
            )),
        }
    }

    /// The group id of `group`, a display name or a group id. Grants (`cached`) reuse an id found
    /// within the lookup TTL; removals and the drift check look up afresh.
    async fn group_id(&self, store: &str, group: &str, cached: bool) -> Result<String, EscalationError> {
        let _turn = if cached {
            if let Some(id) = self.sso.groups.get(store, group) {
                return Ok(id);
            }
            let turn = self.sso.groups.turn(store, group).await;
            if let Some(id) = self.sso.groups.get(store, group) {
                return Ok(id);
            }
            Some(turn)
        } else {
            None
        };
        let id = self.look_up_group(store, group).await?;
        self.sso.groups.put(store, group, &id);
        Ok(id)
    }

    async fn look_up_group(&self, store: &str, group: &str) -> Result<String, EscalationError> {
        let by = UniqueAttribute::builder()
            .attribute_path("displayName")
            .attribute_value(Document::String(group.to_string()))
            .build()
            .map_err(|e| EscalationError::Permanent(e.to_string()))?;
        let found = self
            .sso
            .identity
            .get()
            .await
            .get_group_id()
            .identity_store_id(store)
            .alternate_identifier(AlternateIdentifier::UniqueAttribute(by))
            .send()
            .await;
        match found {
            Ok(out) => return Ok(out.group_id().to_string()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => {}
            Err(e) => return Err(failure("GetGroupId", e)),
        }
        match self.sso.identity.get().await.describe_group().identity_store_id(store).group_id(group).send().await {
            Ok(out) => Ok(out.group_id().to_string()),
            Err(e) if matches!(e.code(), Some("ResourceNotFoundException" | "ValidationException")) => {
                Err(EscalationError::Permanent(format!(
                    "no group {group:?} in the identity store {store} (by display name or group id)"
                )))
            }
            Err(e) => Err(failure("DescribeGroup", e)),
        }
    }

    /// The membership id of `user` in `group_id`, if a member.
    async fn membership(&self, store: &str, group_id: &str, user: &str) -> Result<Option<String>, EscalationError> {
        let found = self
            .sso
            .identity
            .get()
            .await
            .get_group_membership_id()
            .identity_store_id(store)
            .group_id(group_id)
            .member_id(MemberId::UserId(user.into()))
            .send()
            .await;
        match found {
            Ok(out) => Ok(Some(out.membership_id().to_string())),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(failure("GetGroupMembershipId", e)),
        }
    }

    /// The primary email (else the user name) of a user, `None` when it is not an address.
    async fn email_of(&self, store: &str, user_id: &str) -> Result<Option<Email>, EscalationError> {
        let user = self
            .sso
            .identity
            .get()
            .await
            .describe_user()
            .identity_store_id(store)
            .user_id(user_id)
            .send()
            .await
            .map_err(|e| failure("DescribeUser", e))?;
        let primary = user.emails().iter().find(|e| e.primary()).or_else(|| user.emails().first());
        let address = primary.and_then(|e| e.value()).or(user.user_name());
        Ok(address.and_then(|a| a.parse().ok()))
    }

    async fn retry_wait(&self, grant: &GrantSpec, attempt: u32, error: &str) {
        tracing::warn!(request_id = %grant.request_id, error, attempt, "group membership call retried");
        self.sso.sleep(attempt, true).await;
    }
}

#[async_trait]
impl Escalator for SsoGroupEscalator {
    /// Checks the membership first: an existing one is [`Escalation::AlreadyHeld`] and nothing is
    /// created. A repeat after a creation whose answer was lost also answers `AlreadyHeld` (the
    /// identity store does not record who added a member), as for account assignments.
    async fn escalate(&self, grant: &GrantSpec) -> Result<Escalation, EscalationError> {
        let (group, instance) = group_of(&grant.target)?;
        // Paced with the assignment calls (Identity Center's request rate is per instance).
        let waits = Waits::new(&NoProgress);
        let store = self.store(instance, &waits).await?;
        let group_id = self.group_id(&store, group, true).await?;
        let Some(user) = self.sso.user_id(&store, &grant.user_email, true, &waits).await? else {
            return Err(EscalationError::Permanent(format!(
                "{} is not a user in the identity store {store}",
                grant.user_email
            )));
        };
        if self.membership(&store, &group_id, &user).await?.is_some() {
            return Ok(Escalation::AlreadyHeld);
        }
        let mut attempt = 0;
        loop {
            // A conflict may be a membership added meanwhile (by a previous attempt, or someone
            // else): taken as Airlock's own.
            if attempt > 0 && self.membership(&store, &group_id, &user).await?.is_some() {
                return Ok(Escalation::Granted);
            }
            self.sso.pace(&waits).await;
            let sent = self
                .sso
                .identity
                .get()
                .await
                .create_group_membership()
                .identity_store_id(&store)
                .group_id(&group_id)
                .member_id(MemberId::UserId(user.clone()))
                .send()
                .await
                .map_err(|e| failure("CreateGroupMembership", e));
            match sent {
                Ok(_) => return Ok(Escalation::Granted),
                Err(EscalationError::Transient(e)) if attempt + 1 < CALL_ATTEMPTS => {
                    self.retry_wait(grant, attempt, &e).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Removes the membership; one already gone (or a user gone from the identity store) is success.
    async fn deescalate(&self, grant: &GrantSpec) -> Result<(), EscalationError> {
        let (group, instance) = group_of(&grant.target)?;
        // Paced with the assignment calls (Identity Center's request rate is per instance).
        let waits = Waits::new(&NoProgress);
        let store = self.store(instance, &waits).await?;
        let group_id = self.group_id(&store, group, false).await?;
        let Some(user) = self.sso.user_id(&store, &grant.user_email, false, &waits).await? else {
            return Ok(());
        };
        let mut attempt = 0;
        loop {
            let Some(membership) = self.membership(&store, &group_id, &user).await? else {
                return Ok(());
            };
            self.sso.pace(&waits).await;
            let sent = self
                .sso
                .identity
                .get()
                .await
                .delete_group_membership()
                .identity_store_id(&store)
                .membership_id(membership)
                .send()
                .await;
            let error = match sent {
                Ok(_) => return Ok(()),
                Err(e) if e.code() == Some("ResourceNotFoundException") => return Ok(()),
                Err(e) => failure("DeleteGroupMembership", e),
            };
            match error {
                EscalationError::Transient(e) if attempt + 1 < CALL_ATTEMPTS => {
                    self.retry_wait(grant, attempt, &e).await;
                    attempt += 1;
                }
                e => return Err(e),
            }
        }
    }

    /// The emails of the group's members (every page); members without a usable email are skipped.
    async fn holders(&self, target: &Target) -> Result<Option<Vec<Email>>, EscalationError> {
        let (group, instance) = group_of(target)?;
        // Paced with the assignment calls (Identity Center's request rate is per instance).
        let waits = Waits::new(&NoProgress);
        let store = self.store(instance, &waits).await?;
        let group_id = self.group_id(&store, group, false).await?;
        let mut emails = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .sso
                .identity
                .get()
                .await
                .list_group_memberships()
                .identity_store_id(&store)
                .group_id(&group_id)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| failure("ListGroupMemberships", e))?;
            for user_id in page.group_memberships().iter().filter_map(|m| m.member_id()?.as_user_id().ok()) {
                match self.email_of(&store, user_id).await? {
                    Some(email) => emails.push(email),
                    None => tracing::warn!(user_id, "a group member has no usable email; drift check skips them"),
                }
            }
            match page.next_token() {
                Some(token) => next = Some(token.to_string()),
                None => return Ok(Some(emails)),
            }
        }
    }
}
