//! Sample records for store tests.

use airlock_core::{
    AccessRequest, AuditAction, AuditEvent, ChangeError, GrantDuration, RequestBuilder, Status, Verdict,
};
use airlock_core::{Actor, Role};
use chrono::Utc;

/// A new pending request of `email` for `access_key`.
pub fn sample_request(email: &str, access_key: &str) -> AccessRequest {
    sample_builder(email, access_key).build()
}

/// [`sample_request`] to be built further.
pub fn sample_builder(email: &str, access_key: &str) -> RequestBuilder {
    AccessRequest::builder(email.parse().expect("a valid email"), "aws-prod", "prod-admin")
        .access_key(access_key)
        .slack_id(Some("U3"))
        .role(Role::Member)
}

/// An audit event of `request` by a test actor.
pub fn sample_event(request: &AccessRequest, action: AuditAction) -> AuditEvent {
    AuditEvent::of(request, Actor::system("test"), action, None, None)
}

/// `request` moved on to `to` through the intent that leads there (approve with one approval,
/// deny, time out, cancel, grant now, fail, revoke, expire), with that change's audit event.
pub fn advanced(request: &AccessRequest, to: Status) -> Result<(AccessRequest, AuditEvent), ChangeError> {
    let mut next = request.clone();
    let now = Utc::now();
    let tester = Actor::system("test");
    let event = match to {
        Status::Approved => next.approve(tester, 1, None, None, now)?,
        Status::Denied => next.deny(tester, None, now)?,
        Status::TimedOut => next.time_out(now)?,
        Status::Cancelled => next.cancel(tester, None, now)?,
        Status::Active => next.activate(request.target(), now, false, now)?,
        Status::Failed => next.fail(request.target(), "test failure", now)?,
        Status::Revoked => next.revoke(tester, None, now)?,
        Status::Expired => next.expire(request.target(), tester, None, now)?,
        Status::Pending => next.decide_by_rule(Verdict::Approve, "test", None, now)?,
    };
    Ok((next, event))
}

/// `request` (approved) granted at `granted_at`: active until `granted_at` plus its duration.
pub fn granted(request: &AccessRequest, granted_at: chrono::DateTime<Utc>) -> Result<AccessRequest, ChangeError> {
    let mut next = request.clone();
    next.activate(request.target(), granted_at, false, Utc::now())?;
    Ok(next)
}

/// An active grant of `email` for `access_key`, granted `granted_secs_ago` seconds ago for
/// `duration` (so it may already be past its expiry).
pub fn active_request(email: &str, access_key: &str, granted_secs_ago: i64, duration: GrantDuration) -> AccessRequest {
    let now = Utc::now();
    let granted_at = now - chrono::Duration::seconds(granted_secs_ago);
    AccessRequest::builder(email.parse().expect("a valid email"), "aws-prod", "prod-admin")
        .access_key(access_key)
        .slack_id(Some("U3"))
        .status(Status::Active)
        .duration_secs(duration.as_secs())
        .decided_by(Actor::system("test"))
        .granted_at(granted_at)
        .expires_at(granted_at + duration.to_chrono())
        .build()
}
