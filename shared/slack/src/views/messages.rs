//! Texts: the card's status line, direct messages to the requester, `/access whoami` and `help`,
//! and the audit channel's one-liners.

use super::card::{ACTION_CANCEL, ACTION_EXTEND, ACTION_REVOKE, button};
use super::extension::extension_refusal;
use super::form::humanize;
use super::limits;
use super::text::{actor_label, escape, section, truncate};
use airlock_core::ports::RequesterUpdate;
use airlock_core::{AccessRequest, AuditEvent, Email, FieldType, Flow, Identity, Status, TargetGrant};
use chrono::{DateTime, Utc};
use serde_json::Value;
use slack_morphism::prelude::*;

/// A date Slack renders in the reader's time zone (falling back to UTC text).
pub(crate) fn slack_date(at: DateTime<Utc>) -> String {
    format!("<!date^{}^{{date_short_pretty}} at {{time}}|{}>", at.timestamp(), at.format("%Y-%m-%d %H:%M UTC"))
}

/// A custom field's value as shown on cards.
pub(crate) fn field_value(kind: FieldType, value: &Value) -> String {
    match (kind, value) {
        (FieldType::User, Value::String(id)) if airlock_core::slack_ids::is_slack_user_id(id) => format!("<@{id}>"),
        (_, Value::Bool(true)) => "Yes".into(),
        (_, Value::Bool(false)) => "No".into(),
        (_, Value::String(s)) => escape(s),
        (_, other) => escape(&other.to_string()),
    }
}

fn decider(request: &AccessRequest) -> String {
    request.decided_by().map(actor_label).unwrap_or_else(|| "Airlock".into())
}

/// " with changes (1 hour instead of 4 hours)" when an approver shortened the grant.
fn changes(request: &AccessRequest) -> String {
    match request.requested_duration() {
        Some(asked) => format!(" with changes ({} instead of {})", humanize(request.duration()), humanize(asked)),
        None => String::new(),
    }
}

/// " by <who> at <when>" for a revoked grant.
fn revoker(request: &AccessRequest) -> String {
    let by = request.revoked_by().map(|a| format!(" by {}", actor_label(a))).unwrap_or_default();
    let at = request.expires_at().map(|t| format!(" at {}", slack_date(t))).unwrap_or_default();
    format!("{by}{at}")
}

fn note(request: &AccessRequest) -> String {
    match &request.decision_note() {
        Some(n) if !n.trim().is_empty() => format!(": {}", escape(n)),
        _ => String::new(),
    }
}

/// One line saying where the request stands and who decided.
pub(crate) fn status_line(request: &AccessRequest, flow: &Flow) -> String {
    let line = match request.status() {
        Status::Pending if flow.approvers.required > 1 => {
            let by: Vec<String> = request.approvals().iter().map(|a| actor_label(&a.by)).collect();
            let so_far = if by.is_empty() { String::new() } else { format!(" (approved by {})", by.join(", ")) };
            format!(
                ":hourglass_flowing_sand: Waiting for approval: {} of {} approvals{so_far}",
                request.approvals().len(),
                flow.approvers.required
            )
        }
        Status::Pending => ":hourglass_flowing_sand: Waiting for approval".into(),
        Status::Approved => {
            format!(
                ":white_check_mark: Approved by {}{}{}; granting access",
                decider(request),
                changes(request),
                note(request)
            )
        }
        Status::Active => {
            let until = request.expires_at().map(|t| format!(" until {}", slack_date(t))).unwrap_or_default();
            format!(
                ":white_check_mark: Approved by {}{}{}; access active{until}",
                decider(request),
                changes(request),
                note(request)
            )
        }
        Status::Denied => format!(":x: Denied by {}{}", decider(request), note(request)),
        Status::TimedOut => ":hourglass: Timed out: no decision in time".into(),
        Status::Cancelled => format!(":no_entry_sign: Cancelled by {}{}", decider(request), note(request)),
        Status::Failed => format!(
            ":warning: Approved by {}, but granting access failed: {}",
            decider(request),
            escape(request.failure().unwrap_or("unknown error"))
        ),
        Status::Revoked => {
            let approved = match request.decided_by() {
                Some(by) => format!("Approved by {}{}; ", actor_label(by), changes(request)),
                None => String::new(),
            };
            format!(":lock: {approved}access revoked early{}{}", revoker(request), note(request))
        }
        Status::Expired => format!(":lock: Approved by {}; access expired", decider(request)),
    };
    truncate(&line, limits::SECTION_TEXT)
}

/// A target's label as configured now, else as when requested.
fn label_of<'a>(flow: &'a Flow, target: &'a TargetGrant) -> &'a str {
    flow.target(target.name()).map_or(target.label(), |c| c.label.as_str())
}

/// The labels of the request's targets, joined.
pub(crate) fn target_labels(request: &AccessRequest, flow: &Flow) -> String {
    let labels: Vec<&str> = request.targets().iter().map(|t| label_of(flow, t)).collect();
    labels.join(", ")
}

/// With several targets, one line per target with where it stands (and why it failed).
pub(crate) fn target_lines(request: &AccessRequest, flow: &Flow) -> Option<String> {
    if request.targets().len() < 2 {
        return None;
    }
    let lines: Vec<String> = request
        .targets()
        .iter()
        .map(|t| {
            let label = label_of(flow, t);
            let why = t.failure().map(|f| format!(": {}", escape(f))).unwrap_or_default();
            format!("• {}: {}{why}", escape(label), request.status_of(t).as_str().replace('_', " "))
        })
        .collect();
    Some(truncate(&lines.join("\n"), limits::SECTION_TEXT))
}

fn subject(request: &AccessRequest, flow: &Flow) -> String {
    let targets = target_labels(request, flow);
    format!("*{}* / {} ({})", escape(&flow.label), escape(&targets), humanize(request.duration()))
}

/// The nudge DMed to approvers while a request waits for them.
pub fn approver_reminder_text(request: &AccessRequest, flow: &Flow) -> String {
    let who = match &request.requester().slack_id {
        Some(id) => format!("<@{id}>"),
        None => escape(request.requester().email.as_str()),
    };
    let text = format!(
        ":alarm_clock: Reminder: {who} is still waiting for a decision on {} (`{}`): {}. Decide on the card by {}, \
         or it times out.",
        subject(request, flow),
        request.id(),
        escape(request.reason()),
        slack_date(request.decision_deadline())
    );
    truncate(&text, limits::SECTION_TEXT)
}

/// The direct message telling the requester about `update`.
pub fn requester_update_text(request: &AccessRequest, flow: &Flow, update: RequesterUpdate) -> String {
    let what = subject(request, flow);
    let id = format!("`{}`", request.id());
    let until = request.expires_at().map(|t| format!(" until {}", slack_date(t))).unwrap_or_default();
    let text = match update {
        RequesterUpdate::Submitted => {
            format!(":inbox_tray: Your request for {what} was submitted ({id}). You will hear here when it is decided.")
        }
        RequesterUpdate::Approved => {
            format!(
                ":white_check_mark: Your request for {what} was approved by {}{}{}. Granting access now.",
                decider(request),
                changes(request),
                note(request)
            )
        }
        RequesterUpdate::Denied => {
            format!(":x: Your request for {what} was denied by {}{}.", decider(request), note(request))
        }
        RequesterUpdate::TimedOut => {
            format!(":hourglass: Your request for {what} timed out: nobody decided in time ({id}).")
        }
        RequesterUpdate::Cancelled => {
            format!(
                ":no_entry_sign: Your request for {what} was cancelled by {}{} ({id}).",
                decider(request),
                note(request)
            )
        }
        RequesterUpdate::Active => {
            let failed: Vec<String> = request
                .targets()
                .iter()
                .filter_map(|t| t.failure().map(|f| format!("{} ({})", escape(label_of(flow, t)), escape(f))))
                .collect();
            let not_granted =
                if failed.is_empty() { String::new() } else { format!(" Not granted: {}.", failed.join(", ")) };
            format!(":unlock: Your access to {what} is active{until}.{not_granted}")
        }
        RequesterUpdate::Failed => format!(
            ":warning: Your access to {what} could not be granted: {} ({id}).",
            escape(request.failure().unwrap_or("unknown error"))
        ),
        RequesterUpdate::ExtensionRequested => {
            let added = request.pending_extension().map(|e| format!(" by {}", e.added())).unwrap_or_default();
            format!(":stopwatch: You asked to extend your access to {what}{added}; the approvers were asked ({id}).")
        }
        RequesterUpdate::Extended => {
            let by = request.extensions().last().map(extension_decider).unwrap_or_default();
            format!(":stopwatch: Your access to {what} was extended{until}{by}.")
        }
        RequesterUpdate::ExtensionDenied => {
            let by = request.extensions().last().map(extension_decider).unwrap_or_default();
            let at = request.expires_at().map(|t| format!(" at {}", slack_date(t))).unwrap_or_default();
            format!(":x: Your extension of {what} was denied{by}; it still ends{at}.")
        }
        RequesterUpdate::ExpiringSoon => {
            let at = request.expires_at().map(|t| format!(", at {}", slack_date(t))).unwrap_or_default();
            let next = if extension_refusal(request, flow).is_none() {
                "Click Extend to ask for more time."
            } else {
                "Request it again if you need longer."
            };
            format!(":hourglass_flowing_sand: Your access to {what} expires soon{at}. {next}")
        }
        RequesterUpdate::Expired => format!(":lock: Your access to {what} has expired and was removed."),
        RequesterUpdate::Revoked => {
            format!(":lock: Your access to {what} was revoked{}{}.", revoker(request), note(request))
        }
    };
    truncate(&text, limits::SECTION_TEXT)
}

/// " by <who>: <note>" for a decided extension.
fn extension_decider(extension: &airlock_core::request::Extension) -> String {
    let note = extension.note.as_deref().map(|n| format!(": {}", escape(n))).unwrap_or_default();
    match &extension.decided_by {
        Some(by) => format!(" by {}{note}", actor_label(by)),
        None => note,
    }
}

/// The direct message about `update`: its text, with Cancel request while the request is still
/// pending (on "submitted"), Revoke now while the grant is active (on "active"), and Extend while
/// the flow allows another extension (on "active", "expires soon" and "extended").
pub fn requester_update_message(request: &AccessRequest, flow: &Flow, update: RequesterUpdate) -> SlackMessageContent {
    let text = requester_update_text(request, flow, update);
    let id = request.id();
    let extend = || extension_refusal(request, flow).is_none().then(|| button(ACTION_EXTEND, "Extend", id, None));
    let buttons: Vec<SlackActionBlockElement> = match (update, request.status()) {
        (RequesterUpdate::Submitted, Status::Pending) => vec![button(ACTION_CANCEL, "Cancel request", id, None)],
        (RequesterUpdate::Active, Status::Active) => {
            std::iter::once(button(ACTION_REVOKE, "Revoke now", id, Some(SlackBlockButtonStyle::Danger)))
                .chain(extend())
                .collect()
        }
        (RequesterUpdate::ExpiringSoon | RequesterUpdate::Extended, Status::Active) => extend().into_iter().collect(),
        _ => Vec::new(),
    };
    let mut blocks = vec![section(&text)];
    if !buttons.is_empty() {
        blocks.push(SlackActionsBlock::new(buttons).into());
    }
    SlackMessageContent::new().with_text(truncate(&text, limits::MESSAGE_TEXT)).with_blocks(blocks)
}

/// What a click on a card or message of a request that moved on is told: where it stands and who
/// moved it (e.g. "cancelled by …").
pub fn unchanged_text(request: &AccessRequest, flow: &Flow) -> String {
    truncate(
        &format!("Nothing changed: this request is already {}. {}", request.status(), status_line(request, flow)),
        limits::SECTION_TEXT,
    )
}

/// The answer to `/access whoami`.
pub fn whoami_text(who: &Identity, flows: &[&Flow]) -> String {
    let names: Vec<String> = flows.iter().map(|f| format!("`{}`", f.name)).collect();
    let can = if names.is_empty() { "no flows".to_string() } else { names.join(", ") };
    truncate(
        &format!("You are {} with role *{}*. You can request: {can}.", escape(who.email.as_str()), who.role),
        limits::SECTION_TEXT,
    )
}

/// The answer to `/access help`.
pub fn help_text(command: &str) -> String {
    format!(
        "*Airlock: temporary access, approved in Slack*\n\
         • `{command}`: choose what to request\n\
         • `{command} <flow> [target]`: open the request form of a flow\n\
         • `{command} whoami`: your email and role\n\
         • `{command} help`: this help\n\
         Approvers decide with the Approve and Deny buttons on the request card."
    )
}

/// One line for the audit channel about `event`.
pub fn audit_line(request: &AccessRequest, event: &AuditEvent, flow: Option<&Flow>) -> String {
    let access = match flow {
        Some(flow) => subject(request, flow),
        None => format!("*{}* / {}", escape(request.flow()), escape(request.target())),
    };
    let change = match event.from {
        Some(from) if from != event.to => format!(" ({from} → {})", event.to),
        _ => format!(" ({})", event.to),
    };
    let detail = event.detail.as_deref().map(|d| format!(": {}", escape(d))).unwrap_or_default();
    let actor = match &event.actor {
        airlock_core::Actor::User { email, .. } => escape(email.as_str()),
        other => actor_label(other),
    };
    truncate(
        &format!(
            "*{}* `{}` {access} for {} by {actor}{change}{detail}",
            event.title(),
            request.id(),
            escape(request.requester().email.as_str())
        ),
        limits::SECTION_TEXT,
    )
}

/// The audit channel's report of access `holder` has to `target` (its label) that Airlock did not grant.
pub fn drift_report_text(holder: &Email, target: &str) -> String {
    format!(
        ":mag: Drift: {} holds *{}* but Airlock did not grant it. Airlock leaves it in place; \
         please review who granted it.",
        escape(holder.as_str()),
        escape(target)
    )
}
