//! Extensions: more time on an active grant, asked for and decided like a request. The grant's
//! expiry moves only when an extension is approved; one may be pending at a time.

use super::{AccessRequest, Approval, ChangeError, MessageRef, Status, Verdict};
use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::duration::GrantDuration;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an extension stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtensionStatus {
    Pending,
    Approved,
    Denied,
    /// The grant ended before anyone decided.
    Lapsed,
}

impl ExtensionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExtensionStatus::Pending => "pending",
            ExtensionStatus::Approved => "approved",
            ExtensionStatus::Denied => "denied",
            ExtensionStatus::Lapsed => "lapsed",
        }
    }
}

/// One extension of a grant: how much time it adds, why, and its decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// 1 for the grant's first extension, and so on.
    pub number: u32,
    pub added_secs: u64,
    pub reason: String,
    pub requested_by: Actor,
    pub requested_at: DateTime<Utc>,
    pub status: ExtensionStatus,
    #[serde(default)]
    pub approvals: Vec<Approval>,
    pub decided_by: Option<Actor>,
    pub decided_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
    /// The expiry before this extension was approved.
    pub previous_expiry: Option<DateTime<Utc>>,
    /// The approval cards that show this extension.
    #[serde(default)]
    pub cards: Vec<MessageRef>,
}

impl Extension {
    pub fn added(&self) -> GrantDuration {
        GrantDuration::from_secs(self.added_secs)
    }
}

/// A flow's limits on extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionLimits {
    /// Extensions a grant may have (approved or pending); 0 turns extension off.
    pub max: u32,
    /// The most one extension may add.
    pub max_added: GrantDuration,
}

impl AccessRequest {
    /// Every extension asked for, oldest first.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// The extension waiting for a decision, if any.
    pub fn pending_extension(&self) -> Option<&Extension> {
        self.extensions.last().filter(|e| e.status == ExtensionStatus::Pending)
    }

    /// `by` asks for `added` more time on an active grant, within the flow's `limits`.
    pub fn ask_extension(
        &mut self,
        by: Actor,
        added: GrantDuration,
        reason: String,
        limits: ExtensionLimits,
        now: DateTime<Utc>,
    ) -> Result<AuditEvent, ChangeError> {
        self.expect(Status::Active)?;
        if self.pending_extension().is_some() {
            return Err(ChangeError::ExtensionPending);
        }
        let counted = self
            .extensions
            .iter()
            .filter(|e| matches!(e.status, ExtensionStatus::Approved | ExtensionStatus::Pending))
            .count();
        if counted >= limits.max as usize {
            return Err(ChangeError::ExtensionLimit(limits.max));
        }
        if added > limits.max_added || added.as_secs() == 0 {
            return Err(ChangeError::TooLong(limits.max_added));
        }
        self.extensions.push(Extension {
            number: self.extensions.len() as u32 + 1,
            added_secs: added.as_secs(),
            reason: reason.clone(),
            requested_by: by.clone(),
            requested_at: now,
            status: ExtensionStatus::Pending,
            approvals: Vec::new(),
            decided_by: None,
            decided_at: None,
            note: None,
            previous_expiry: None,
            cards: Vec::new(),
        });
        self.touch(now);
        let detail = Some(format!("+{added}: {reason}"));
        Ok(AuditEvent::of(self, by, AuditAction::ExtensionRequested, Some(Status::Active), detail))
    }

    /// `by` approves the pending extension; once `required` distinct people have, the expiry moves
    /// by the time it adds (`extended`; before that `approval_recorded`).
    pub fn approve_extension(
        &mut self,
        by: Actor,
        required: u32,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<AuditEvent, ChangeError> {
        self.expect(Status::Active)?;
        let pending = self.pending_extension().ok_or(ChangeError::NoExtensionPending)?;
        if pending.approvals.iter().any(|a| a.by.same_person(&by)) {
            return Err(ChangeError::AlreadyApproved);
        }
        let enough = pending.approvals.len() + 1 >= required as usize;
        let mut next = self.clone();
        let expiry = next.expires_at;
        let Some(extension) = next.extensions.last_mut() else { return Err(ChangeError::NoExtensionPending) };
        extension.approvals.push(Approval { by: by.clone(), at: now });
        if !enough {
            next.touch(now);
            let detail = Some(format!("extension {}", extension_label(&next)));
            let event = AuditEvent::of(&next, by, AuditAction::ApprovalRecorded, Some(Status::Active), detail);
            *self = next;
            return Ok(event);
        }
        let added = extension.added().to_chrono();
        extension.status = ExtensionStatus::Approved;
        extension.decided_by = Some(by.clone());
        extension.decided_at = Some(now);
        extension.note = note;
        extension.previous_expiry = expiry;
        let until = expiry.map(|e| e + added);
        next.expires_at = until;
        next.reminders.expiry = false;
        next.touch(now);
        let detail = until.map(|u| format!("{} until {}", extension_label(&next), u.to_rfc3339()));
        let event = AuditEvent::of(&next, by, AuditAction::Extended, Some(Status::Active), detail);
        *self = next;
        Ok(event)
    }

    /// `by` denies the pending extension; the grant keeps its expiry.
    pub fn deny_extension(
        &mut self,
        by: Actor,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<AuditEvent, ChangeError> {
        self.expect(Status::Active)?;
        if self.pending_extension().is_none() {
            return Err(ChangeError::NoExtensionPending);
        }
        let label = extension_label(self);
        if let Some(extension) = self.extensions.last_mut() {
            extension.status = ExtensionStatus::Denied;
            extension.decided_by = Some(by.clone());
            extension.decided_at = Some(now);
            extension.note = note.clone();
        }
        self.touch(now);
        let detail = Some(match note {
            Some(note) => format!("{label}: {note}"),
            None => label,
        });
        Ok(AuditEvent::of(self, by, AuditAction::ExtensionDenied, Some(Status::Active), detail))
    }

    /// One of the flow's rules (or the flow's `extensions.self_approve`) decides the pending extension.
    pub fn decide_extension_by_rule(
        &mut self,
        verdict: Verdict,
        rule: &str,
        now: DateTime<Utc>,
    ) -> Result<AuditEvent, ChangeError> {
        let by = Actor::Rule { name: rule.into() };
        match verdict {
            Verdict::Approve => self.approve_extension(by, 1, None, now),
            Verdict::Deny => self.deny_extension(by, None, now),
        }
    }

    /// [`ask_extension`](Self::ask_extension) decided at once by `rule` (see
    /// [`decide_extension_by_rule`](Self::decide_extension_by_rule)), as one change (one version):
    /// the asking's event and the decision's.
    #[allow(clippy::too_many_arguments)]
    pub fn ask_extension_decided_by_rule(
        &mut self,
        by: Actor,
        added: GrantDuration,
        reason: String,
        limits: ExtensionLimits,
        verdict: Verdict,
        rule: &str,
        now: DateTime<Utc>,
    ) -> Result<(AuditEvent, AuditEvent), ChangeError> {
        let mut next = self.clone();
        let asked = next.ask_extension(by, added, reason, limits, now)?;
        let decided = next.decide_extension_by_rule(verdict, rule, now)?;
        next.version = self.version + 1;
        *self = next;
        Ok((asked, decided))
    }

    /// Adds a posted card of the pending extension; false when there is none or it was already there.
    pub fn record_extension_card(&mut self, card: MessageRef, now: DateTime<Utc>) -> bool {
        let Some(extension) = self.extensions.last_mut() else { return false };
        if extension.cards.contains(&card) {
            return false;
        }
        extension.cards.push(card);
        self.touch(now);
        true
    }

    /// A pending extension lapses when the grant ends before anyone decides.
    pub(super) fn lapse_pending_extension(&mut self, now: DateTime<Utc>) {
        if let Some(extension) = self.extensions.last_mut().filter(|e| e.status == ExtensionStatus::Pending) {
            extension.status = ExtensionStatus::Lapsed;
            extension.decided_at = Some(now);
        }
    }
}

/// "#2 (+1h)" for the latest extension.
fn extension_label(request: &AccessRequest) -> String {
    request.extensions.last().map(|e| format!("#{} (+{})", e.number, e.added())).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::Email;
    use chrono::Duration;

    const LIMITS: ExtensionLimits = ExtensionLimits { max: 1, max_added: GrantDuration::from_secs(3600) };

    fn person(email: &str) -> Actor {
        Actor::User { email: email.parse::<Email>().unwrap(), slack_id: None }
    }

    fn active(now: DateTime<Utc>) -> AccessRequest {
        AccessRequest::builder("carol@example.com".parse().unwrap(), "prod", "db")
            .status(Status::Active)
            .granted_at(now)
            .expires_at(now + Duration::minutes(30))
            .build()
    }

    #[test]
    fn an_approved_extension_moves_the_expiry_by_what_it_adds() {
        let now = Utc::now();
        let mut request = active(now);
        let asked = request
            .ask_extension(person("carol@example.com"), GrantDuration::from_secs(1800), "more".into(), LIMITS, now)
            .unwrap();
        assert_eq!(asked.action, AuditAction::ExtensionRequested);
        assert_eq!(request.expires_at(), Some(now + Duration::minutes(30)));
        let event = request.approve_extension(person("bob@example.com"), 1, Some("ok".into()), now).unwrap();
        assert_eq!(event.action, AuditAction::Extended);
        assert_eq!(request.expires_at(), Some(now + Duration::minutes(60)));
        let ext = &request.extensions()[0];
        assert_eq!((ext.status, ext.previous_expiry), (ExtensionStatus::Approved, Some(now + Duration::minutes(30))));
        assert!(request.pending_extension().is_none());
    }

    #[test]
    fn limits_hold_one_pending_at_a_time_max_count_and_max_added() {
        let now = Utc::now();
        let mut request = active(now);
        let carol = person("carol@example.com");
        let too_long = GrantDuration::from_secs(3601);
        assert_eq!(
            request.ask_extension(carol.clone(), too_long, "r".into(), LIMITS, now),
            Err(ChangeError::TooLong(LIMITS.max_added))
        );
        let hour = GrantDuration::from_secs(3600);
        request.ask_extension(carol.clone(), hour, "r".into(), LIMITS, now).unwrap();
        assert_eq!(
            request.ask_extension(carol.clone(), hour, "r".into(), LIMITS, now),
            Err(ChangeError::ExtensionPending)
        );
        request.deny_extension(person("bob@example.com"), Some("no".into()), now).unwrap();
        assert_eq!(request.expires_at(), Some(now + Duration::minutes(30)), "a denial keeps the expiry");
        // A denied extension does not count toward the limit; an approved one does.
        request.ask_extension(carol.clone(), hour, "r".into(), LIMITS, now).unwrap();
        request.approve_extension(person("bob@example.com"), 1, None, now).unwrap();
        assert_eq!(
            request.ask_extension(carol.clone(), hour, "r".into(), LIMITS, now),
            Err(ChangeError::ExtensionLimit(1))
        );
        let off = ExtensionLimits { max: 0, ..LIMITS };
        assert_eq!(active(now).ask_extension(carol, hour, "r".into(), off, now), Err(ChangeError::ExtensionLimit(0)));
    }

    #[test]
    fn two_required_approvals_count_distinct_people() {
        let now = Utc::now();
        let mut request = active(now);
        request
            .ask_extension(person("carol@example.com"), GrantDuration::from_secs(600), "r".into(), LIMITS, now)
            .unwrap();
        let first = request.approve_extension(person("bob@example.com"), 2, None, now).unwrap();
        assert_eq!(first.action, AuditAction::ApprovalRecorded);
        assert_eq!(
            request.approve_extension(person("bob@example.com"), 2, None, now),
            Err(ChangeError::AlreadyApproved)
        );
        let second = request.approve_extension(person("alice@example.com"), 2, None, now).unwrap();
        assert_eq!(second.action, AuditAction::Extended);
        assert_eq!(request.expires_at(), Some(now + Duration::minutes(40)));
    }

    #[test]
    fn only_an_active_grant_is_extended_and_a_pending_extension_lapses_when_it_ends() {
        let now = Utc::now();
        let mut pending = AccessRequest::builder("carol@example.com".parse().unwrap(), "prod", "db").build();
        let hour = GrantDuration::from_secs(3600);
        assert!(matches!(
            pending.ask_extension(person("carol@example.com"), hour, "r".into(), LIMITS, now),
            Err(ChangeError::NotIn { .. })
        ));
        let mut request = active(now);
        request.ask_extension(person("carol@example.com"), hour, "r".into(), LIMITS, now).unwrap();
        request.revoke(person("bob@example.com"), None, now).unwrap();
        assert_eq!(request.extensions()[0].status, ExtensionStatus::Lapsed);
        assert!(request.approve_extension(person("bob@example.com"), 1, None, now).is_err());
    }
}
