//! The App Home tab: a "Request access" button, the person's pending requests (Cancel request),
//! grants (Revoke now, Extend, time left) and last ended requests, and for approvers the requests
//! waiting for their decision (Approve, Approve with changes, Deny). Long lists show their count
//! and the most recent entries, so the view stays within Slack's 100 blocks.

use super::card::{ACTION_CANCEL, ACTION_EXTEND, ACTION_REVOKE, button, decision_buttons, duration_text};
use super::extension::extension_refusal;
use super::form::humanize;
use super::limits;
use super::messages::{slack_date, status_line};
use super::text::{context, escape, header, plain, section, truncate};
use airlock_core::services::Home;
use airlock_core::{AccessRequest, Config, Status};
use chrono::{DateTime, Utc};
use slack_morphism::prelude::*;

/// action_id of the Home tab's "Request access" button.
pub const ACTION_OPEN_PICKER: &str = "open_picker";

/// Requests waiting for the approver shown (two blocks each).
const DECIDE_SHOWN: usize = 15;
/// Own pending requests shown (two blocks each).
const PENDING_SHOWN: usize = 10;
/// Own grants shown (two blocks each).
const ACTIVE_SHOWN: usize = 15;

/// The App Home of `home.who`.
pub fn home_view(config: &Config, home: &Home) -> SlackView {
    let request_access = SlackBlockButtonElement::new(plain("Request access", limits::BUTTON_TEXT))
        .with_action_id(SlackActionId(ACTION_OPEN_PICKER.into()))
        .with_style(SlackBlockButtonStyle::Primary);
    let mut blocks: Vec<SlackBlock> = vec![
        header("Airlock"),
        section(&format!(
            "Temporary access, approved in Slack. Use the button or type `{} help`.",
            escape(&config.slack.command)
        )),
        SlackActionsBlock::new(vec![request_access.into()]).into(),
    ];

    if home.is_approver {
        blocks.push(SlackDividerBlock::new().into());
        blocks.push(section(&title("Waiting for your decision", home.to_decide.len())));
        if home.to_decide.is_empty() {
            blocks.push(context("Nothing is waiting for you."));
        }
        for request in home.to_decide.iter().take(DECIDE_SHOWN) {
            let requester = match &request.requester().slack_id {
                Some(id) => format!("<@{id}>"),
                None => escape(request.requester().email.as_str()),
            };
            blocks.push(section(&format!(
                "{requester} asks for {}\n>{}\n`{}` · decide by {}",
                subject(config, request),
                escape(&truncate(request.reason(), 500)),
                request.id(),
                slack_date(request.decision_deadline())
            )));
            blocks.push(SlackActionsBlock::new(decision_buttons(request.id())).into());
        }
        more(&mut blocks, home.to_decide.len(), DECIDE_SHOWN);
    }

    blocks.push(SlackDividerBlock::new().into());
    blocks.push(section(&title("Your pending requests", home.pending.len())));
    if home.pending.is_empty() {
        blocks.push(context("You have no pending requests."));
    }
    for request in home.pending.iter().take(PENDING_SHOWN) {
        blocks.push(section(&format!(
            "{}\n{} · `{}`",
            subject(config, request),
            status(config, request),
            request.id()
        )));
        blocks.push(SlackActionsBlock::new(vec![button(ACTION_CANCEL, "Cancel request", request.id(), None)]).into());
    }
    more(&mut blocks, home.pending.len(), PENDING_SHOWN);

    blocks.push(SlackDividerBlock::new().into());
    blocks.push(section(&title("Your access", home.active.len())));
    if home.active.is_empty() {
        blocks.push(context("You hold no access through Airlock now."));
    }
    for request in home.active.iter().take(ACTIVE_SHOWN) {
        let left = match (request.status(), request.expires_at()) {
            (Status::Active, Some(expires)) => {
                format!("{} left (until {})", time_left(expires, home.at), slack_date(expires))
            }
            _ => "being granted".to_string(),
        };
        let asked = request
            .pending_extension()
            .map(|e| format!(" · extension of {} waiting for a decision", humanize(e.added())))
            .unwrap_or_default();
        blocks.push(section(&format!("{}\n:unlock: {left}{asked} · `{}`", subject(config, request), request.id())));
        if request.status() == Status::Active {
            let mut buttons =
                vec![button(ACTION_REVOKE, "Revoke now", request.id(), Some(SlackBlockButtonStyle::Danger))];
            if config.flow_of(request).is_some_and(|flow| extension_refusal(request, flow).is_none()) {
                buttons.push(button(ACTION_EXTEND, "Extend", request.id(), None));
            }
            blocks.push(SlackActionsBlock::new(buttons).into());
        }
    }
    more(&mut blocks, home.active.len(), ACTIVE_SHOWN);

    blocks.push(SlackDividerBlock::new().into());
    blocks.push(section("*Recently ended*"));
    if home.ended.is_empty() {
        blocks.push(context("Nothing yet."));
    } else {
        let lines: Vec<String> = home
            .ended
            .iter()
            .map(|r| format!("• {} · `{}`\n    {}", subject(config, r), r.id(), status(config, r)))
            .collect();
        blocks.push(section(&lines.join("\n")));
    }
    blocks.truncate(limits::VIEW_BLOCKS);
    SlackView::Home(SlackHomeView::new(blocks))
}

fn title(text: &str, count: usize) -> String {
    if count == 0 { format!("*{text}*") } else { format!("*{text}* ({count})") }
}

/// "…and N more" under a list cut at `shown`.
fn more(blocks: &mut Vec<SlackBlock>, total: usize, shown: usize) {
    if total > shown {
        blocks.push(context(&format!("…and {} more, older ones. The most recent {shown} are shown.", total - shown)));
    }
}

/// "*Flow* / Target, Target (duration)".
fn subject(config: &Config, request: &AccessRequest) -> String {
    let (flow, target) = match config.flow_of(request) {
        Some(flow) => (flow.label.clone(), super::messages::target_labels(request, flow)),
        None => {
            let names: Vec<&str> = request.targets().iter().map(|t| t.label()).collect();
            (request.flow().to_string(), names.join(", "))
        }
    };
    format!("*{}* / {} ({})", escape(&flow), escape(&target), duration_text(request))
}

fn status(config: &Config, request: &AccessRequest) -> String {
    config.flow_of(request).map(|f| status_line(request, f)).unwrap_or_else(|| request.status().to_string())
}

/// How long until `until`, from `now`, in words ("2 h 5 min", "3 min", "under a minute").
pub(crate) fn time_left(until: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (until - now).num_seconds().max(0);
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (days, hours, minutes) {
        (0, 0, 0) => "under a minute".into(),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}
