//! Slash commands: `/access`, `/access <flow> [target]`, `/access whoami`, `/access help`.

use super::{SlackApp, SlackReply, bad_request, guest_refusal};
use crate::payload::parse_command;
use crate::views;
use airlock_core::{Flow, Identity, Role};

impl SlackApp {
    pub(super) async fn command(&self, body: &[u8]) -> SlackReply {
        let command = match parse_command(body) {
            Ok(c) => c,
            Err(e) => return bad_request(e),
        };
        let words = command.words();
        let first = words.first().map(|w| w.to_ascii_lowercase());
        if first.as_deref() == Some("help") {
            return SlackReply::ephemeral(&views::help_text(&self.airlock.config().slack.command));
        }
        let who = match self.identify(&command.user_id).await {
            Ok(who) => who,
            Err(message) => return SlackReply::ephemeral(&message),
        };
        if first.as_deref() == Some("whoami") {
            return SlackReply::ephemeral(&self.whoami(&who).await);
        }
        if let Some(refusal) = guest_refusal(&who) {
            return SlackReply::ephemeral(&refusal);
        }
        let flows = self.airlock.flows_for(&who).await;
        let result = match first.as_deref() {
            Some(name) => match flows.iter().find(|f| f.name == name) {
                Some(flow) => self.open_form(&command.trigger_id, flow, words.get(1).copied()).await,
                None => self.open_picker(&command.trigger_id, &flows).await,
            },
            None => self.open_picker(&command.trigger_id, &flows).await,
        };
        match result {
            Ok(()) => SlackReply::ack(),
            Err(message) => SlackReply::ephemeral(&message),
        }
    }

    /// `/access whoami`, for anyone: their email, role and why they have it, and what they may request.
    async fn whoami(&self, who: &Identity) -> String {
        let flows = self.airlock.flows_for(who).await;
        let (role, why) = self.airlock.config().explain_role(&who.email);
        let article = if role == Role::Admin { "an" } else { "a" };
        let mut text =
            format!("{}\nYou are {article} *{role}*: {}.", views::whoami_text(who, &flows), views::escape(&why));
        if role == Role::Guest {
            text.push_str(" Guests cannot request or approve access through Airlock; ask an admin if you need it.");
        }
        views::truncate(&text, views::limits::SECTION_TEXT)
    }

    /// Opens the flow picker; `Err` is what to tell the user.
    pub(super) async fn open_picker(&self, trigger_id: &str, flows: &[&Flow]) -> Result<(), String> {
        if flows.is_empty() {
            return Err("There is nothing you can request through Airlock yet.".into());
        }
        self.api.open_view(trigger_id, views::flow_picker_modal(flows)).await.map(drop).map_err(|e| {
            tracing::warn!(error = %e, "could not open the flow picker");
            "Sorry, Airlock could not open the request form. Please try again.".to_string()
        })
    }

    async fn open_form(&self, trigger_id: &str, flow: &Flow, target: Option<&str>) -> Result<(), String> {
        self.api.open_view(trigger_id, views::request_form_modal(flow, target)).await.map(drop).map_err(|e| {
            tracing::warn!(flow = %flow.name, error = %e, "could not open the request form");
            "Sorry, Airlock could not open the request form. Please try again.".to_string()
        })
    }

    /// The flow picker for `who` (the App Home button); `Err` is what to tell them.
    pub(super) async fn open_picker_for(&self, who: &Identity, trigger_id: &str) -> Result<(), String> {
        if let Some(refusal) = guest_refusal(who) {
            return Err(refusal);
        }
        let flows = self.airlock.flows_for(who).await;
        self.open_picker(trigger_id, &flows).await
    }
}
