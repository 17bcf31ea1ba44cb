//! Drift: access in a target system that no active grant backs. The sweeper compares who holds each
//! listable target with the store, over each holder's whole history of that access: access Airlock
//! created and no grant backs any more is removed; access granted outside Airlock (never granted by
//! Airlock, or standing access Airlock found already there when it granted) is reported to the audit
//! channel and left in place (Airlock does not remove what it did not create).
//!
//! A discovered target (`accounts:`) may span thousands of (account, permission set) pairs: the
//! check covers the pairs Airlock granted through it, found in the store's recent history.

use super::Steps;
use super::catalog::account_target_name;
use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::email::Email;
use crate::error::Result;
use crate::flow::{Flow, Target, TargetKind};
use crate::ids::RequestId;
use crate::outbox::{Notification, OutboxItem};
use crate::request::{AccessRequest, Status};
use std::collections::HashSet;
use std::time::Duration;

/// How often the same access made outside Airlock is reported to the audit channel.
const REPORT_EVERY: Duration = Duration::from_secs(24 * 3600);
/// How far back the drift check reads requests for the accounts granted through targets that list
/// accounts (their assignments are checked; the rest of their scope is not listed).
const SCOPE_HISTORY: chrono::Duration = chrono::Duration::days(30);
/// Requests read per page of that history.
const PAGE: usize = 100;

/// What one drift check found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriftReport {
    /// Airlock-made access with no grant behind it, removed: `(email, access key)`.
    pub removed: Vec<(Email, String)>,
    /// Access made outside Airlock, reported: `(email, access key)`.
    pub reported: Vec<(Email, String)>,
}

impl Steps {
    /// Checks every listable target once (targets shared by flows are checked once). A target that
    /// lists accounts is checked through the (account, permission set) pairs Airlock granted with it
    /// in the last [`SCOPE_HISTORY`], never by listing every pair of its scope.
    pub async fn reconcile(&self) -> Result<DriftReport> {
        let deps = &self.deps;
        let mut report = DriftReport::default();
        let mut seen = HashSet::new();
        let mut targets: Vec<(String, Target)> = Vec::new();
        let mut scopes: Vec<(&Flow, &Target)> = Vec::new();
        for flow in &deps.config.flows {
            for target in &flow.targets {
                match target.kind {
                    TargetKind::AwsSsoScope(_) => scopes.push((flow, target)),
                    _ => targets.push((target.access_key(&flow.name), target.clone())),
                }
            }
        }
        targets.extend(self.granted_through(&scopes).await?);
        for (key, target) in &targets {
            if !seen.insert(key.clone()) {
                continue;
            }
            let holders = match deps.escalator.holders(target).await {
                Ok(Some(holders)) => holders,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(target = %target.name, error = %e, "drift check could not list the target's holders");
                    continue;
                }
            };
            for email in holders {
                self.check_holder(target, key, email, &mut report).await?;
            }
        }
        Ok(report)
    }

    /// The concrete targets (with their access keys) that requests made in the last
    /// [`SCOPE_HISTORY`] granted, or tried to grant, through the discovered targets `scopes`.
    async fn granted_through(&self, scopes: &[(&Flow, &Target)]) -> Result<Vec<(String, Target)>> {
        let deps = &self.deps;
        let mut found: Vec<(String, Target)> = Vec::new();
        if scopes.is_empty() {
            return Ok(found);
        }
        let since = deps.clock.now() - SCOPE_HISTORY;
        for status in [Status::Approved, Status::Active, Status::Expired, Status::Revoked, Status::Failed] {
            let mut before: Option<RequestId> = None;
            loop {
                let page = deps.store.requests_with_status_before(status, before.as_ref(), PAGE).await?;
                for request in page.iter().filter(|r| r.created_at() >= since) {
                    let made = scopes
                        .iter()
                        .filter(|(flow, _)| request.flow() == flow.name && request.environment() == flow.environment);
                    for (flow, scope) in made {
                        for grant in request.targets() {
                            let Some(spec) = grant.spec() else { continue };
                            let TargetKind::AwsSso { account_id, .. } = &spec.kind else { continue };
                            let attempted = grant.granted_at().is_some() || grant.escalation_attempted();
                            if attempted && spec.name == account_target_name(&scope.name, account_id) {
                                let key = spec.access_key(&flow.name);
                                if !found.iter().any(|(k, _)| *k == key) {
                                    found.push((key, spec.clone()));
                                }
                            }
                        }
                    }
                }
                match page.last() {
                    Some(last) if page.len() == PAGE && last.created_at() >= since => before = Some(last.id().clone()),
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    async fn check_holder(&self, target: &Target, key: &str, email: Email, report: &mut DriftReport) -> Result<()> {
        let deps = &self.deps;
        let same: Vec<AccessRequest> = deps.store.requests_for_access(email.as_str(), key).await?;
        let grants = || same.iter().filter_map(|r| r.target_with_key(key).map(|t| (r, t)));
        // Still held, or being granted (the escalation is in flight and the grant not yet recorded).
        if grants().any(|(r, t)| r.target_holds_access(t) || r.pending_targets().iter().any(|p| p.name() == t.name())) {
            return Ok(());
        }
        // The newest grant decides: standing access Airlock found in place is not Airlock's to remove.
        let made_by_airlock = grants().find(|(_, t)| t.granted_at().is_some() || t.escalation_attempted());
        match made_by_airlock.filter(|(_, t)| !t.preexisting_access()) {
            Some((past, grant)) => {
                let grant_spec =
                    super::steps::grant_spec(past, target.clone(), past.expires_at().unwrap_or(past.updated_at()));
                if let Err(e) = deps.escalator.deescalate(&grant_spec).await {
                    tracing::error!(request_id = %past.id(), error = %e, "drift: could not remove access no grant backs");
                    return Ok(());
                }
                let detail = format!("{email} still held {} with no active grant; removed", target.label);
                let event = AuditEvent::of(
                    past,
                    Actor::system("sweeper"),
                    AuditAction::DriftRemoved,
                    Some(past.status()),
                    Some(detail),
                )
                .on_target(grant.name());
                if let Err(e) = deps.store.append_audit_event(&event).await {
                    tracing::warn!(request_id = %past.id(), error = %e, "drift removal not recorded in the store");
                }
                deps.emit(&event).await;
                report.removed.push((email, key.to_string()));
            }
            None => {
                tracing::warn!(user = %email, target = %target.name, "drift: access granted outside Airlock");
                // Reported to the channel once a day per person and access, not on every sweep.
                let first_today = deps
                    .store
                    .claim_idempotency_key(&format!("drift:{email}:{key}"), REPORT_EVERY)
                    .await
                    .unwrap_or(true);
                if first_today && let Some(channel) = &deps.config.slack.audit_channel {
                    let note = Notification::DriftReport {
                        channel: channel.clone(),
                        holder: email.clone(),
                        target: target.label.clone(),
                    };
                    let item = OutboxItem::new(None, note, deps.clock.now());
                    if let Err(e) = deps.store.enqueue_notifications(&[item]).await {
                        tracing::warn!(error = %e, "drift report not queued");
                    }
                }
                report.reported.push((email, key.to_string()));
            }
        }
        Ok(())
    }
}
