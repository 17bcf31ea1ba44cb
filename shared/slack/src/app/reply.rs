//! What [`super::SlackApp`] answers: a status, a content type and a body, for any HTTP framework.

use serde_json::{Value, json};

/// Slack's four endpoints (docs/architecture.md#contracts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlackRoute {
    /// `POST /slack/commands`: slash commands.
    Commands,
    /// `POST /slack/interactions`: clicks, modal submissions.
    Interactions,
    /// `POST /slack/events`: the Events API.
    Events,
    /// `POST /slack/options`: external select options (`block_suggestion`).
    Options,
}

/// An HTTP answer to Slack. `200` with an empty body is an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackReply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl SlackReply {
    /// `200`, empty body: "received, nothing to show".
    pub fn ack() -> Self {
        Self::text(200, "")
    }

    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self { status, content_type: "text/plain; charset=utf-8".into(), body: body.into() }
    }

    pub fn json(value: &Value) -> Self {
        Self { status: 200, content_type: "application/json".into(), body: value.to_string() }
    }

    /// A slash command answer only the invoking user sees.
    pub fn ephemeral(text: &str) -> Self {
        Self::json(&json!({ "response_type": "ephemeral", "text": text }))
    }

    /// The body as JSON (tests and logs).
    pub fn json_body(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}
