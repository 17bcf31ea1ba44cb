//! Extensions in Slack: the modal where the requester asks for more time, and the card that asks
//! the approvers to decide it (a new card naming the original request and the added time).

use super::card::button;
use super::form::humanize;
use super::limits;
use super::messages::slack_date;
use super::text::{actor_label, choice, context, escape, header, mrkdwn, plain, section, truncate};
use airlock_core::error::GrantChangeError;
use airlock_core::request::{Extension, ExtensionStatus};
use airlock_core::{AccessRequest, Flow, GrantDuration, Status};
use slack_morphism::prelude::*;

/// callback_id of the Extend modal (its private_metadata is the request id).
pub const EXTEND_CALLBACK: &str = "extend_request";
/// block_id and action_id of its duration select.
pub const EXTEND_DURATION_BLOCK: &str = "extend_duration";
/// block_id and action_id of its reason input.
pub const EXTEND_REASON_BLOCK: &str = "extend_reason";
/// action_id of the extension card's Approve button (its value is the request id).
pub const ACTION_APPROVE_EXTENSION: &str = "approve_extension";
/// action_id of the extension card's Deny button (its value is the request id).
pub const ACTION_DENY_EXTENSION: &str = "deny_extension";

const DECISION_BLOCK: &str = "extension_decision";

/// How much longer one extension of `flow` may add: the flow's durations up to its maximum,
/// shortest first (the maximum itself when none is within it).
pub fn extension_durations(flow: &Flow) -> Vec<GrantDuration> {
    let mut durations: Vec<GrantDuration> =
        flow.durations.iter().copied().filter(|d| *d <= flow.max_duration).collect();
    durations.sort();
    durations.dedup();
    durations.truncate(limits::OPTIONS_PER_SELECT);
    if durations.is_empty() {
        durations.push(flow.max_duration);
    }
    durations
}

/// Why `request` cannot be extended under `flow` now, as the service would refuse it: not active,
/// extensions off for the flow, one already waiting, or the flow's `extensions.max` reached (a
/// denied extension does not count). None when Extend may be offered.
pub fn extension_refusal(request: &AccessRequest, flow: &Flow) -> Option<GrantChangeError> {
    if request.status() != Status::Active {
        return Some(GrantChangeError::NotActive(request.status()));
    }
    if request.pending_extension().is_some() {
        return Some(GrantChangeError::ExtensionPending);
    }
    let counted = request
        .extensions()
        .iter()
        .filter(|e| matches!(e.status, ExtensionStatus::Approved | ExtensionStatus::Pending))
        .count();
    (counted >= flow.extensions.max as usize).then_some(GrantChangeError::ExtensionLimit(flow.extensions.max))
}

/// What a click on an extension card is told when its extension was already decided (or lapsed):
/// how, and by whom.
pub fn extension_unchanged_text(request: &AccessRequest, flow: &Flow) -> String {
    let how = match request.extensions().last() {
        Some(e) if e.status == ExtensionStatus::Approved => format!("approved by {}", decider(&e.decided_by)),
        Some(e) if e.status == ExtensionStatus::Denied => format!("denied by {}", decider(&e.decided_by)),
        // Lapsed or never asked: the request itself moved on.
        _ => return super::messages::unchanged_text(request, flow),
    };
    let ends = match (request.status(), request.expires_at()) {
        (Status::Active, Some(at)) => format!(" The access ends {}.", slack_date(at)),
        (status, _) => format!(" The request is {status}."),
    };
    truncate(&format!("Nothing changed: this extension was already {how}.{ends}"), limits::SECTION_TEXT)
}

/// The modal opened by Extend on an active grant.
pub fn extend_modal(request: &AccessRequest, flow: &Flow) -> SlackView {
    let options: Vec<_> =
        extension_durations(flow).into_iter().filter_map(|d| choice(&humanize(d), &d.to_string())).collect();
    let select = SlackBlockStaticSelectElement::new()
        .with_action_id(SlackActionId(EXTEND_DURATION_BLOCK.into()))
        .opt_initial_option(options.first().cloned())
        .with_options(options);
    let reason = SlackBlockPlainTextInputElement::new()
        .with_action_id(SlackActionId(EXTEND_REASON_BLOCK.into()))
        .with_multiline(true)
        .with_max_length(2_000)
        .with_placeholder(plain("Why do you need longer?", limits::PLACEHOLDER));
    let until = request.expires_at().map(|t| format!(" It ends {}.", slack_date(t))).unwrap_or_default();
    let blocks: Vec<SlackBlock> = vec![
        section(&format!("Ask for more time on *{}*.{until}", escape(&flow.label))),
        SlackInputBlock::new(plain("How much longer", limits::INPUT_LABEL), select.into())
            .with_block_id(SlackBlockId(EXTEND_DURATION_BLOCK.into()))
            .into(),
        SlackInputBlock::new(plain("Reason", limits::INPUT_LABEL), reason.into())
            .with_block_id(SlackBlockId(EXTEND_REASON_BLOCK.into()))
            .into(),
    ];
    SlackView::Modal(
        SlackModalView::new(plain("Extend access", limits::MODAL_TITLE), blocks)
            .with_submit(plain("Ask", limits::MODAL_TITLE))
            .with_close(plain("Cancel", limits::MODAL_TITLE))
            .with_callback_id(SlackCallbackId(EXTEND_CALLBACK.into()))
            .with_private_metadata(truncate(request.id().as_str(), limits::PRIVATE_METADATA)),
    )
}

/// The card asking approvers to decide `extension` of `request`, re-rendered as it is decided.
pub fn extension_card(request: &AccessRequest, extension: &Extension, flow: &Flow) -> SlackMessageContent {
    let target = flow.target(request.target()).map_or(request.target(), |t| t.label.as_str());
    let requester = match &request.requester().slack_id {
        Some(id) => format!("<@{id}> ({})", escape(request.requester().email.as_str())),
        None => escape(request.requester().email.as_str()),
    };
    let ends = match (extension.status, extension.previous_expiry, request.expires_at()) {
        (ExtensionStatus::Approved, Some(before), _) => slack_date(before),
        (_, _, Some(now)) => slack_date(now),
        _ => "-".into(),
    };
    let facts = [
        format!("*Requester*\n{requester}"),
        format!("*Access*\n{} / {}", escape(&flow.label), escape(target)),
        format!("*Adds*\n{}", humanize(extension.added())),
        format!("*Ends now*\n{ends}"),
    ];
    let status = match (extension.status, &extension.decided_by) {
        (ExtensionStatus::Pending, _) => ":hourglass: Waiting for a decision".to_string(),
        (ExtensionStatus::Approved, by) => {
            let until =
                request.expires_at().map(|t| format!(": access now ends {}", slack_date(t))).unwrap_or_default();
            format!(":white_check_mark: Extended by {}{until}{}", decider(by), comment(extension))
        }
        (ExtensionStatus::Denied, by) => format!(":x: Denied by {}{}", decider(by), comment(extension)),
        (ExtensionStatus::Lapsed, _) => ":lock: The grant ended before anyone decided".to_string(),
    };
    let mut blocks: Vec<SlackBlock> = vec![
        header(&format!("Extension #{}: {}", extension.number, flow.label)),
        SlackSectionBlock::new().with_fields(facts.iter().map(|f| mrkdwn(f, limits::SECTION_FIELD)).collect()).into(),
        section(&format!("*Reason*\n{}", escape(&extension.reason))),
        section(&status),
        context(&format!("Extends request `{}`", request.id())),
    ];
    if extension.status == ExtensionStatus::Pending {
        let buttons = vec![
            button(ACTION_APPROVE_EXTENSION, "Approve extension", request.id(), Some(SlackBlockButtonStyle::Primary)),
            button(ACTION_DENY_EXTENSION, "Deny extension", request.id(), Some(SlackBlockButtonStyle::Danger)),
        ];
        blocks.push(SlackActionsBlock::new(buttons).with_block_id(SlackBlockId(DECISION_BLOCK.into())).into());
    }
    blocks.truncate(limits::MESSAGE_BLOCKS);
    let text = truncate(
        &format!("Extension of {} for {}: +{}", request.requester().email, flow.label, humanize(extension.added())),
        limits::MESSAGE_TEXT,
    );
    SlackMessageContent::new().with_text(text).with_blocks(blocks)
}

fn decider(by: &Option<airlock_core::Actor>) -> String {
    by.as_ref().map(actor_label).unwrap_or_else(|| "Airlock".into())
}

fn comment(extension: &Extension) -> String {
    extension.note.as_deref().map(|n| format!(" — {}", escape(n))).unwrap_or_default()
}
