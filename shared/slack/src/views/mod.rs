//! Block Kit views built with slack-morphism's models, always within Slack's limits: the flow
//! picker and request form modals, the approval card, the deny-reason and approve-with-changes
//! modals, the App Home, and the texts of direct messages, `/access whoami|help` and the audit channel.

mod card;
mod changes;
mod extension;
mod form;
mod home;
pub mod limits;
mod messages;
mod text;

pub use card::{
    ACTION_APPROVE, ACTION_APPROVE_WITH_CHANGES, ACTION_CANCEL, ACTION_DENY, ACTION_EXTEND, ACTION_REVOKE,
    DENY_CALLBACK, DENY_REASON_BLOCK, approval_card, deny_reason_modal,
};
pub use changes::{
    CHANGES_CALLBACK, CHANGES_COMMENT_BLOCK, CHANGES_DURATION_BLOCK, approve_with_changes_modal, shorter_durations,
};
pub use extension::{
    ACTION_APPROVE_EXTENSION, ACTION_DENY_EXTENSION, EXTEND_CALLBACK, EXTEND_DURATION_BLOCK, EXTEND_REASON_BLOCK,
    extend_modal, extension_card, extension_durations, extension_refusal, extension_unchanged_text,
};
pub use form::{
    ACCOUNTS, FLOW_BLOCK, FLOW_PICKER_CALLBACK, PERMISSION_SET, REQUEST_CALLBACK_PREFIX, block_id_of_field,
    error_modal, field_of_block_id, flow_picker_modal, form_input, request_form_modal, scoped_target,
    suggestion_options,
};
pub use home::{ACTION_OPEN_PICKER, home_view};
pub use messages::{
    approver_reminder_text, audit_line, drift_report_text, help_text, requester_update_message, requester_update_text,
    unchanged_text, whoami_text,
};
pub use text::{actor_label, escape, truncate};

#[cfg(test)]
mod tests;
