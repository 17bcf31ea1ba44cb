//! Slack's Block Kit limits (characters and counts) that Airlock's views stay within.

/// Modal title, submit and close texts.
pub const MODAL_TITLE: usize = 24;
/// Header block text.
pub const HEADER_TEXT: usize = 150;
/// Section block text.
pub const SECTION_TEXT: usize = 3_000;
/// Each of a section's fields.
pub const SECTION_FIELD: usize = 2_000;
/// Input block labels and hints.
pub const INPUT_LABEL: usize = 2_000;
/// Placeholders.
pub const PLACEHOLDER: usize = 150;
/// An option's text.
pub const OPTION_TEXT: usize = 75;
/// An option's value.
pub const OPTION_VALUE: usize = 150;
/// Options in one select.
pub const OPTIONS_PER_SELECT: usize = 100;
/// Blocks in a modal or the App Home.
pub const VIEW_BLOCKS: usize = 100;
/// Blocks in a message (Slack documents 50).
pub const MESSAGE_BLOCKS: usize = 50;
/// A view's private_metadata.
pub const PRIVATE_METADATA: usize = 3_000;
/// A button's text.
pub const BUTTON_TEXT: usize = 75;
/// A button's value.
pub const BUTTON_VALUE: usize = 2_000;
/// block_id, action_id and callback_id.
pub const ID: usize = 255;
/// Elements of a context block.
pub const CONTEXT_ELEMENTS: usize = 10;
/// A message's top-level text (Slack truncates longer ones).
pub const MESSAGE_TEXT: usize = 4_000;
/// A plain-text input's maximum length.
pub const INPUT_MAX_LENGTH: u64 = 3_000;
