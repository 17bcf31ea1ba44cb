//! The approval card posted to approvers, re-rendered in place as the request moves on, and the
//! modal asking a denier for a reason.

use super::limits;
use super::messages::{field_value, slack_date, status_line, target_labels, target_lines};
use super::text::{context, escape, header, mrkdwn, plain, section, truncate};
use airlock_core::{AccessRequest, FieldType, Flow, RequestId, Status};
use slack_morphism::prelude::*;

/// action_id of the Approve button (its value is the request id).
pub const ACTION_APPROVE: &str = "approve";
/// action_id of the Deny button (its value is the request id).
pub const ACTION_DENY: &str = "deny";
/// action_id of the Approve with changes button (its value is the request id).
pub const ACTION_APPROVE_WITH_CHANGES: &str = "approve_with_changes";
/// action_id of the Cancel request button (its value is the request id).
pub const ACTION_CANCEL: &str = "cancel_request";
/// action_id of the Revoke now button (its value is the request id).
pub const ACTION_REVOKE: &str = "revoke_request";
/// action_id of the Extend button (its value is the request id).
pub const ACTION_EXTEND: &str = "extend_request";
/// callback_id of the deny-reason modal (its private_metadata is the request id).
pub const DENY_CALLBACK: &str = "deny_reason";
/// block_id and action_id of the deny-reason input.
pub const DENY_REASON_BLOCK: &str = "deny_reason";

const DECISION_BLOCK: &str = "decision";

/// The approval card for `request`: who asks for what and why, its status, and Approve /
/// Approve with changes / Deny buttons while it is pending, Revoke now while it is active.
pub fn approval_card(request: &AccessRequest, flow: &Flow) -> SlackMessageContent {
    let target = target_labels(request, flow);
    let requester = match &request.requester().slack_id {
        Some(id) => format!("<@{id}> ({})", escape(request.requester().email.as_str())),
        None => escape(request.requester().email.as_str()),
    };
    let facts = [
        format!("*Requester*\n{requester}"),
        format!("*Access*\n{}", escape(&flow.label)),
        format!("*{}*\n{}", if request.targets().len() > 1 { "Targets" } else { "Target" }, escape(&target)),
        format!("*Duration*\n{}", duration_text(request)),
    ];
    let mut blocks: Vec<SlackBlock> = vec![
        header(&format!("Access request: {}", flow.label)),
        SlackSectionBlock::new().with_fields(facts.iter().map(|f| mrkdwn(f, limits::SECTION_FIELD)).collect()).into(),
        section(&format!("*Reason*\n{}", escape(request.reason()))),
    ];
    let custom: Vec<String> = request
        .fields()
        .iter()
        .map(|(name, value)| {
            let spec = flow.field(name);
            let label = spec.map_or(name.as_str(), |s| s.label.as_str());
            let kind = spec.map_or(FieldType::String, |s| s.field_type);
            format!("*{}:* {}", escape(label), field_value(kind, value))
        })
        .collect();
    if !custom.is_empty() {
        blocks.push(section(&custom.join("\n")));
    }
    blocks.push(section(&status_line(request, flow)));
    if let Some(lines) = target_lines(request, flow) {
        blocks.push(section(&lines));
    }
    let id_line = match request.status() {
        Status::Pending => {
            format!("Request `{}` · decide by {}", request.id(), slack_date(request.decision_deadline()))
        }
        _ => format!("Request `{}`", request.id()),
    };
    blocks.push(context(&id_line));
    let buttons = match request.status() {
        Status::Pending => decision_buttons(request.id()),
        Status::Active => vec![button(ACTION_REVOKE, "Revoke now", request.id(), Some(SlackBlockButtonStyle::Danger))],
        _ => Vec::new(),
    };
    if !buttons.is_empty() {
        blocks.push(SlackActionsBlock::new(buttons).with_block_id(SlackBlockId(DECISION_BLOCK.into())).into());
    }
    blocks.truncate(limits::MESSAGE_BLOCKS);
    let text = truncate(
        &format!("Access request from {}: {} / {}", request.requester().email, flow.label, target),
        limits::MESSAGE_TEXT,
    );
    SlackMessageContent::new().with_text(text).with_blocks(blocks)
}

/// A button whose value is the request id.
pub(crate) fn button(
    action: &str,
    text: &str,
    id: &RequestId,
    style: Option<SlackBlockButtonStyle>,
) -> SlackActionBlockElement {
    let mut button = SlackBlockButtonElement::new(plain(text, limits::BUTTON_TEXT))
        .with_action_id(SlackActionId(action.into()))
        .with_value(truncate(id.as_str(), limits::BUTTON_VALUE));
    button.style = style;
    button.into()
}

/// Approve, Approve with changes and Deny for a pending request.
pub(crate) fn decision_buttons(id: &RequestId) -> Vec<SlackActionBlockElement> {
    vec![
        button(ACTION_APPROVE, "Approve", id, Some(SlackBlockButtonStyle::Primary)),
        button(ACTION_APPROVE_WITH_CHANGES, "Approve with changes", id, None),
        button(ACTION_DENY, "Deny", id, Some(SlackBlockButtonStyle::Danger)),
    ]
}

/// The duration granted, and what was asked when an approver shortened it.
pub(crate) fn duration_text(request: &AccessRequest) -> String {
    let granted = super::form::humanize(request.duration());
    match request.requested_duration() {
        Some(asked) => format!("{granted} (asked: {})", super::form::humanize(asked)),
        None => granted,
    }
}

/// The modal a denier fills in (the reason is optional).
pub fn deny_reason_modal(request_id: &RequestId, flow: &Flow) -> SlackView {
    let reason = SlackBlockPlainTextInputElement::new()
        .with_action_id(SlackActionId(DENY_REASON_BLOCK.into()))
        .with_multiline(true)
        .with_max_length(2_000)
        .with_placeholder(plain("Tell the requester why (optional)", limits::PLACEHOLDER));
    let blocks: Vec<SlackBlock> = vec![
        section(&format!("Deny this request for *{}*?", escape(&flow.label))),
        SlackInputBlock::new(plain("Reason", limits::INPUT_LABEL), reason.into())
            .with_block_id(SlackBlockId(DENY_REASON_BLOCK.into()))
            .with_optional(true)
            .into(),
    ];
    SlackView::Modal(
        SlackModalView::new(plain("Deny request", limits::MODAL_TITLE), blocks)
            .with_submit(plain("Deny", limits::MODAL_TITLE))
            .with_close(plain("Cancel", limits::MODAL_TITLE))
            .with_callback_id(SlackCallbackId(DENY_CALLBACK.into()))
            .with_private_metadata(truncate(request_id.as_str(), limits::PRIVATE_METADATA)),
    )
}
