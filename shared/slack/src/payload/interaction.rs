//! Interactions: the `payload` field of a form body, holding JSON tagged by `type`.

use super::PayloadError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// One interaction payload.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Interaction {
    BlockActions(BlockActions),
    ViewSubmission(ViewSubmission),
    ViewClosed(ViewClosed),
    BlockSuggestion(BlockSuggestion),
    /// Shortcuts and other kinds Airlock does not use.
    #[serde(other)]
    Other,
}

/// The person who interacted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserRef {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChannelRef {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MessageTs {
    pub ts: String,
}

/// Where the clicked element lives (a message or a view).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Container {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub message_ts: Option<String>,
    #[serde(default)]
    pub channel_id: Option<String>,
    #[serde(default)]
    pub view_id: Option<String>,
    #[serde(default)]
    pub is_ephemeral: Option<bool>,
}

/// Buttons clicked or selects changed in a message, a modal or the App Home.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BlockActions {
    pub user: UserRef,
    #[serde(default)]
    pub trigger_id: Option<String>,
    #[serde(default)]
    pub actions: Vec<BlockAction>,
    #[serde(default)]
    pub container: Option<Container>,
    #[serde(default)]
    pub channel: Option<ChannelRef>,
    #[serde(default)]
    pub message: Option<MessageTs>,
    #[serde(default)]
    pub view: Option<View>,
}

impl BlockActions {
    /// The channel of the message that was clicked, when the click came from a message.
    pub fn channel_id(&self) -> Option<&str> {
        self.channel
            .as_ref()
            .map(|c| c.id.as_str())
            .or_else(|| self.container.as_ref().and_then(|c| c.channel_id.as_deref()))
    }

    /// The timestamp of the message that was clicked.
    pub fn message_ts(&self) -> Option<&str> {
        self.message
            .as_ref()
            .map(|m| m.ts.as_str())
            .or_else(|| self.container.as_ref().and_then(|c| c.message_ts.as_deref()))
    }
}

/// One element's action.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BlockAction {
    pub action_id: String,
    #[serde(default)]
    pub block_id: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub selected_option: Option<SelectedOption>,
}

/// A modal or home view as Slack echoes it back.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct View {
    pub id: String,
    #[serde(default)]
    pub callback_id: String,
    #[serde(default)]
    pub private_metadata: String,
    #[serde(default)]
    pub state: Option<ViewState>,
}

impl View {
    /// The state value of `action_id` in `block_id`.
    pub fn value(&self, block_id: &str, action_id: &str) -> Option<&StateValue> {
        self.state.as_ref()?.values.get(block_id)?.get(action_id)
    }
}

/// The inputs' values: block_id -> action_id -> value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ViewState {
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, StateValue>>,
}

/// One input's value; which member is set depends on the element `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StateValue {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub selected_option: Option<SelectedOption>,
    #[serde(default)]
    pub selected_options: Option<Vec<SelectedOption>>,
    #[serde(default)]
    pub selected_date: Option<String>,
    #[serde(default)]
    pub selected_time: Option<String>,
    #[serde(default)]
    pub selected_user: Option<String>,
    #[serde(default)]
    pub selected_users: Option<Vec<String>>,
    #[serde(default)]
    pub selected_channel: Option<String>,
    #[serde(default)]
    pub selected_conversation: Option<String>,
}

impl StateValue {
    /// The single value entered or chosen, whatever the element (None when left empty).
    pub fn single(&self) -> Option<&str> {
        self.value
            .as_deref()
            .or(self.selected_option.as_ref().map(|o| o.value.as_str()))
            .or(self.selected_date.as_deref())
            .or(self.selected_time.as_deref())
            .or(self.selected_user.as_deref())
            .or(self.selected_channel.as_deref())
            .or(self.selected_conversation.as_deref())
    }

    /// The values chosen in a multi-select (or the checkboxes ticked), in order.
    pub fn selected_values(&self) -> Vec<&str> {
        self.selected_options.iter().flatten().map(|o| o.value.as_str()).collect()
    }

    /// True when a checkbox is ticked.
    pub fn any_selected(&self) -> bool {
        self.selected_options.as_ref().is_some_and(|o| !o.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectedOption {
    pub value: String,
}

/// A modal submitted.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ViewSubmission {
    pub user: UserRef,
    pub view: View,
    #[serde(default)]
    pub trigger_id: Option<String>,
}

impl ViewSubmission {
    /// Identifies this very submission: the same for a replay of its bytes, different when the
    /// person submits the view again (a new trigger), with other values or about another request
    /// (its private_metadata). `slack-submit:<view id>:<hash>`.
    pub fn replay_key(&self) -> String {
        let mut hash = Sha256::new();
        let parts =
            [self.user.id.as_str(), self.trigger_id.as_deref().unwrap_or_default(), &self.view.private_metadata];
        for part in parts {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        hash.update(serde_json::to_vec(&self.view.state).unwrap_or_default());
        format!("slack-submit:{}:{}", self.view.id, hex::encode(hash.finalize()))
    }
}

/// A modal closed (sent when `notify_on_close` is set).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ViewClosed {
    pub user: UserRef,
    pub view: View,
}

/// An external select asking for its options.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BlockSuggestion {
    pub user: UserRef,
    pub action_id: String,
    pub block_id: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub view: Option<View>,
}

#[derive(Deserialize)]
struct Form {
    payload: Option<String>,
}

/// Parses an interaction's form body (`payload=<json>`).
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, PayloadError> {
    let form: Form = serde_urlencoded::from_bytes(body).map_err(|e| PayloadError::Form(e.to_string()))?;
    let json = form.payload.ok_or(PayloadError::MissingPayload)?;
    serde_json::from_str(&json).map_err(|e| PayloadError::Json(e.to_string()))
}

#[cfg(test)]
mod tests;
