//! [`SlackNotifier`]: core's `Notifier` over the Web API (cards, DMs, audit channel lines).

use crate::api::SlackApi;
use crate::views;
use airlock_core::ports::{DirectoryUser, Notifier, RequesterUpdate};
use airlock_core::{AccessRequest, AuditEvent, Config, Flow, MessageRef};
use async_trait::async_trait;
use slack_morphism::prelude::SlackMessageContent;
use std::sync::Arc;

/// Tells people what happened, in Slack.
pub struct SlackNotifier {
    api: Arc<SlackApi>,
    config: Arc<Config>,
}

impl SlackNotifier {
    pub fn new(api: Arc<SlackApi>, config: impl Into<Arc<Config>>) -> Self {
        Self { api, config: config.into() }
    }

    fn text(text: String) -> SlackMessageContent {
        SlackMessageContent::new().with_text(text)
    }

    /// The requester's Slack id, looked up by email when the request does not carry it.
    async fn requester_slack_id(&self, request: &AccessRequest) -> Result<String, String> {
        if let Some(id) = &request.requester.slack_id {
            return Ok(id.clone());
        }
        let email = request.requester.email.as_str();
        match self.api.user_by_email(email).await.map_err(|e| e.to_string())? {
            Some(user) => Ok(user.id.0),
            None => Err(format!("no Slack user with the requester's email {email}")),
        }
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    async fn post_approval_cards(
        &self,
        request: &AccessRequest,
        flow: &Flow,
        approvers: &[DirectoryUser],
    ) -> Result<Vec<MessageRef>, String> {
        let card = views::approval_card(request, flow);
        let destinations = flow.approvers.channel.iter().cloned().chain(approvers.iter().map(|a| a.slack_id.clone()));
        let mut posted = Vec::new();
        let mut errors = Vec::new();
        for destination in destinations {
            match self.api.post_message(&destination, card.clone()).await {
                Ok(message) => posted.push(MessageRef { channel: message.channel, ts: message.ts }),
                Err(e) => {
                    tracing::warn!(request_id = %request.id, destination, error = %e, "approval card not posted");
                    errors.push(format!("{destination}: {e}"));
                }
            }
        }
        if posted.is_empty() && !errors.is_empty() {
            return Err(errors.join("; "));
        }
        Ok(posted)
    }

    async fn update_approval_cards(&self, request: &AccessRequest, flow: &Flow) -> Result<(), String> {
        let card = views::approval_card(request, flow);
        let mut errors = Vec::new();
        for message in &request.cards {
            if let Err(e) = self.api.update_message(&message.channel, &message.ts, card.clone()).await {
                errors.push(format!("{}/{}: {e}", message.channel, message.ts));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }

    async fn tell_requester(
        &self,
        request: &AccessRequest,
        flow: &Flow,
        update: RequesterUpdate,
    ) -> Result<(), String> {
        let user = self.requester_slack_id(request).await?;
        let text = views::requester_update_text(request, flow, update);
        self.api.post_message(&user, Self::text(text)).await.map(drop).map_err(|e| e.to_string())
    }

    async fn remind_approvers(
        &self,
        request: &AccessRequest,
        flow: &Flow,
        approvers: &[DirectoryUser],
    ) -> Result<(), String> {
        let text = views::approver_reminder_text(request, flow);
        let mut failures = Vec::new();
        for approver in approvers {
            if let Err(e) = self.api.post_message(&approver.slack_id, Self::text(text.clone())).await {
                failures.push(format!("{}: {e}", approver.slack_id));
            }
        }
        if failures.is_empty() { Ok(()) } else { Err(failures.join("; ")) }
    }

    async fn tell_user(&self, slack_id: &str, text: &str) -> Result<(), String> {
        self.api.post_message(slack_id, Self::text(text.to_string())).await.map(drop).map_err(|e| e.to_string())
    }

    async fn post_audit(&self, channel: &str, request: &AccessRequest, event: &AuditEvent) -> Result<(), String> {
        let line = views::audit_line(request, event, self.config.flow(&request.flow));
        self.api.post_message(channel, Self::text(line)).await.map(drop).map_err(|e| e.to_string())
    }
}
