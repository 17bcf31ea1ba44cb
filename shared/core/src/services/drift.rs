//! Drift: access in a target system that no active grant backs. The sweeper compares who holds each
//! listable target with the store: access Airlock once granted is removed; access granted outside
//! Airlock is reported to the audit channel (Airlock does not remove what it did not create).

use super::Steps;
use crate::audit::{Actor, AuditEvent};
use crate::email::Email;
use crate::error::Result;
use crate::flow::Target;
use crate::ports::GrantSpec;
use crate::request::{AccessRequest, Status};
use std::collections::HashSet;

/// What one drift check found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriftReport {
    /// Airlock-made access with no grant behind it, removed: `(email, access key)`.
    pub removed: Vec<(Email, String)>,
    /// Access made outside Airlock, reported: `(email, access key)`.
    pub reported: Vec<(Email, String)>,
}

impl Steps {
    /// Checks every listable target once (targets shared by flows are checked once).
    pub async fn reconcile(&self) -> Result<DriftReport> {
        let deps = &self.deps;
        let mut report = DriftReport::default();
        let mut seen = HashSet::new();
        for target in deps.config.flows.iter().flat_map(|f| &f.targets) {
            if !seen.insert(target.access_key()) {
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
                self.check_holder(target, email, &mut report).await?;
            }
        }
        Ok(report)
    }

    async fn check_holder(&self, target: &Target, email: Email, report: &mut DriftReport) -> Result<()> {
        let deps = &self.deps;
        let key = target.access_key();
        let history = deps.store.requests_of_user(email.as_str(), None, 100).await?;
        let same: Vec<&AccessRequest> = history.iter().filter(|r| r.access_key == key).collect();
        // Approved: escalation is in flight and the grant not yet recorded.
        if same.iter().any(|r| r.holds_access() || r.status == Status::Approved) {
            return Ok(());
        }
        match same.iter().find(|r| r.granted_at.is_some()) {
            Some(past) => {
                let grant = GrantSpec {
                    request_id: past.id.clone(),
                    user_email: email.clone(),
                    user_slack_id: past.requester.slack_id.clone(),
                    target: target.clone(),
                    expires_at: past.expires_at.unwrap_or(past.updated_at),
                };
                if let Err(e) = deps.escalator.deescalate(&grant).await {
                    tracing::error!(request_id = %past.id, error = %e, "drift: could not remove access no grant backs");
                    return Ok(());
                }
                let detail = format!("{email} still held {} with no active grant; removed", target.label);
                let event =
                    AuditEvent::of(past, Actor::system("sweeper"), "drift_removed", Some(past.status), Some(detail));
                deps.emit(past, &event).await;
                report.removed.push((email, key));
            }
            None => {
                tracing::warn!(user = %email, target = %target.name, "drift: access granted outside Airlock");
                if let Some(channel) = &deps.config.slack.audit_channel {
                    let text = format!(
                        ":mag: Drift: {email} holds *{}* but Airlock never granted it. Airlock leaves it in place; \
                         please review who granted it.",
                        target.label
                    );
                    super::best_effort("drift report", deps.notifier.tell_user(channel, &text).await);
                }
                report.reported.push((email, key));
            }
        }
        Ok(())
    }
}
