//! Sample records for store tests.

use airlock_core::request::Requester;
use airlock_core::{AccessRequest, Actor, AuditEvent, RequestId, Role, Status};
use chrono::Utc;

/// A new pending request of `email` for `access_key`.
pub fn sample_request(email: &str, access_key: &str) -> AccessRequest {
    let now = Utc::now();
    AccessRequest {
        id: RequestId::generate(),
        version: 1,
        status: Status::Pending,
        flow: "aws-prod".into(),
        target: "prod-admin".into(),
        access_key: access_key.into(),
        target_spec: None,
        requester: Requester {
            email: email.parse().expect("a valid email"),
            slack_id: Some("U3".into()),
            role: Role::Member,
        },
        duration_secs: 60,
        reason: "r".into(),
        fields: Default::default(),
        created_at: now,
        updated_at: now,
        decision_deadline: now,
        approvals: vec![],
        decided_by: None,
        decision_note: None,
        task_token: None,
        cards: vec![],
        granted_at: None,
        expires_at: None,
        access_removed_at: None,
        failure: None,
        reminders: Default::default(),
        preexisting_access: false,
        escalation_attempted: false,
        removal: None,
        cards_queued: false,
    }
}

/// An audit event of `request` by a test actor.
pub fn sample_event(request: &AccessRequest, action: &str) -> AuditEvent {
    AuditEvent::of(request, Actor::system("test"), action, None, None)
}
