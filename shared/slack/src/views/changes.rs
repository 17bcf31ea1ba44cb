//! The modal of Approve with changes: a shorter duration (never longer than asked) and a comment.

use super::form::humanize;
use super::limits;
use super::text::{choice, escape, plain, section, truncate};
use airlock_core::{AccessRequest, Flow, GrantDuration};
use slack_morphism::prelude::*;

/// callback_id of the Approve with changes modal (its private_metadata is the request id).
pub const CHANGES_CALLBACK: &str = "approve_with_changes";
/// block_id and action_id of its duration select.
pub const CHANGES_DURATION_BLOCK: &str = "changes_duration";
/// block_id and action_id of its comment input.
pub const CHANGES_COMMENT_BLOCK: &str = "changes_comment";

/// The durations an approver may grant: the one asked for, then the flow's shorter choices,
/// longest first.
pub fn shorter_durations(request: &AccessRequest, flow: &Flow) -> Vec<GrantDuration> {
    let asked = request.duration();
    let mut shorter: Vec<GrantDuration> = flow.durations.iter().copied().filter(|d| *d < asked).collect();
    shorter.sort_by(|a, b| b.cmp(a));
    shorter.dedup();
    shorter.truncate(limits::OPTIONS_PER_SELECT - 1);
    std::iter::once(asked).chain(shorter).collect()
}

/// The modal opened by Approve with changes on `request`'s card.
pub fn approve_with_changes_modal(request: &AccessRequest, flow: &Flow) -> SlackView {
    let asked = request.duration();
    let options: Vec<_> = shorter_durations(request, flow)
        .into_iter()
        .filter_map(|d| {
            let label = match (d == asked, request.requested_duration()) {
                (true, None) => format!("{} (as asked)", humanize(d)),
                (true, Some(_)) => format!("{} (as approved so far)", humanize(d)),
                (false, _) => humanize(d),
            };
            choice(&label, &d.to_string())
        })
        .collect();
    let select = SlackBlockStaticSelectElement::new()
        .with_action_id(SlackActionId(CHANGES_DURATION_BLOCK.into()))
        .opt_initial_option(options.first().cloned())
        .with_options(options);
    let comment = SlackBlockPlainTextInputElement::new()
        .with_action_id(SlackActionId(CHANGES_COMMENT_BLOCK.into()))
        .with_multiline(true)
        .with_max_length(2_000)
        .with_placeholder(plain("Tell the requester what you changed and why", limits::PLACEHOLDER));
    let blocks: Vec<SlackBlock> = vec![
        section(&format!(
            "Approve *{}* for {} with changes. You may shorten the duration, never lengthen it.",
            escape(&flow.label),
            escape(request.requester().email.as_str())
        )),
        SlackInputBlock::new(plain("Duration", limits::INPUT_LABEL), select.into())
            .with_block_id(SlackBlockId(CHANGES_DURATION_BLOCK.into()))
            .into(),
        SlackInputBlock::new(plain("Comment", limits::INPUT_LABEL), comment.into())
            .with_block_id(SlackBlockId(CHANGES_COMMENT_BLOCK.into()))
            .with_optional(true)
            .into(),
    ];
    SlackView::Modal(
        SlackModalView::new(plain("Approve with changes", limits::MODAL_TITLE), blocks)
            .with_submit(plain("Approve", limits::MODAL_TITLE))
            .with_close(plain("Cancel", limits::MODAL_TITLE))
            .with_callback_id(SlackCallbackId(CHANGES_CALLBACK.into()))
            .with_private_metadata(truncate(request.id().as_str(), limits::PRIVATE_METADATA)),
    )
}
