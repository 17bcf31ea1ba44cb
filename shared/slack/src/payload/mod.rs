//! Slack's inbound payloads, parsed into small typed structs: slash commands (form-encoded),
//! interactions (`payload=<json>`, also used for `block_suggestion` on the options URL) and the
//! Events API (JSON). Anything malformed is a [`PayloadError`] (the router answers 400).

mod command;
mod event;
mod interaction;

pub use command::{SlashCommand, parse_command};
pub use event::{EventCallback, EventPayload, InnerEvent, parse_event};
pub use interaction::{
    BlockAction, BlockActions, BlockSuggestion, ChannelRef, Container, Interaction, MessageTs, SelectedOption,
    StateValue, UserRef, View, ViewClosed, ViewState, ViewSubmission, parse_interaction,
};

/// A payload Slack would never send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("malformed form body: {0}")]
    Form(String),
    #[error("the form body has no `payload` field")]
    MissingPayload,
    #[error("malformed JSON payload: {0}")]
    Json(String),
}
