//! [`SlackNotifier`]: core's `Notifier` over the Web API (cards, DMs, audit channel lines, App
//! Homes). The outbox's deliverer calls it; Slack's rate limits and outages come back as
//! `NotifyError::Retry` (with Slack's `Retry-After`) so the notification is tried again later, never lost.

use crate::api::{PostedMessage, SlackApi, SlackApiError};
use crate::views;
use airlock_core::ports::{DirectoryUser, Notifier, NotifyError, RequesterUpdate};
use airlock_core::services::Home;
use airlock_core::{AccessRequest, AuditEvent, Config, Email, Flow, MessageRef};
use async_trait::async_trait;
use slack_morphism::prelude::SlackMessageContent;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Channels whose posting clients are kept; past this many the map starts afresh.
const MAX_CHANNEL_CLIENTS: usize = 10_000;

/// Tells people what happened, in Slack.
pub struct SlackNotifier {
    api: Arc<SlackApi>,
    config: Arc<Config>,
    /// One client per channel posted to (see [`SlackApi::for_channel`]).
    channels: Mutex<HashMap<String, Arc<SlackApi>>>,
}

impl SlackNotifier {
    pub fn new(api: Arc<SlackApi>, config: impl Into<Arc<Config>>) -> Self {
        Self { api, config: config.into(), channels: Mutex::default() }
    }

    fn channel_client(&self, channel: &str) -> Arc<SlackApi> {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if channels.len() >= MAX_CHANNEL_CLIENTS && !channels.contains_key(channel) {
            channels.clear();
        }
        channels.entry(channel.to_string()).or_insert_with(|| Arc::new(self.api.for_channel())).clone()
    }

    fn text(text: String) -> SlackMessageContent {
        SlackMessageContent::new().with_text(text)
    }

    /// The requester's Slack id, looked up by email when the request does not carry it.
    async fn requester_slack_id(&self, request: &AccessRequest) -> Result<String, NotifyError> {
        if let Some(id) = &request.requester().slack_id {
            return Ok(id.clone());
        }
        let email = request.requester().email.as_str();
        match self.api.user_by_email(email).await.map_err(notify_error)? {
            Some(user) => Ok(user.id.0),
            None => Err(NotifyError::Permanent(format!("no Slack user with the requester's email {email}"))),
        }
    }

    async fn post(&self, channel: &str, content: SlackMessageContent) -> Result<PostedMessage, NotifyError> {
        self.channel_client(channel).post_message(channel, content).await.map_err(notify_error)
    }
}

/// Rate limits, timeouts and Slack's own failures are worth another attempt; anything else
/// (`channel_not_found`, `not_in_channel`, `invalid_auth`, …) is not.
fn notify_error(e: SlackApiError) -> NotifyError {
    if e.is_transient() {
        NotifyError::Retry { message: e.to_string(), after: e.retry_after() }
    } else {
        NotifyError::Permanent(e.to_string())
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    async fn post_approval_card(
        &self,
        request: &AccessRequest,
        flow: &Flow,
        destination: &str,
    ) -> Result<MessageRef, NotifyError> {
        let card = views::approval_card(request, flow);
        let message = self.post(destination, card).await?;
        Ok(MessageRef { channel: message.channel, ts: message.ts })
    }

    async fn update_approval_cards(&self, request: &AccessRequest, flow: &Flow) -> Result<(), NotifyError> {
        let card = views::approval_card(request, flow);
        for message in request.cards() {
            // chat.update is idempotent: after a failure, every card is rewritten again.
            self.api.update_message(&message.channel, &message.ts, card.clone()).await.map_err(notify_error)?;
        }
        for extension in request.extensions() {
            let card = views::extension_card(request, extension, flow);
            for message in &extension.cards {
                self.api.update_message(&message.channel, &message.ts, card.clone()).await.map_err(notify_error)?;
            }
        }
        Ok(())
    }

    async fn post_extension_card(
        &self,
        request: &AccessRequest,
        flow: &Flow,
        destination: &str,
    ) -> Result<MessageRef, NotifyError> {
        let extension = request
            .pending_extension()
            .ok_or_else(|| NotifyError::Permanent(format!("request {} has no pending extension", request.id())))?;
        let message = self.post(destination, views::extension_card(request, extension, flow)).await?;
        Ok(MessageRef { channel: message.channel, ts: message.ts })
    }

    async fn tell_requester(
        &self,
        request: &AccessRequest,
        flow: &Flow,
        update: RequesterUpdate,
    ) -> Result<(), NotifyError> {
        let user = self.requester_slack_id(request).await?;
        self.post(&user, views::requester_update_message(request, flow, update)).await.map(drop)
    }

    async fn remind_approvers(
        &self,
        request: &AccessRequest,
        flow: &Flow,
        approvers: &[DirectoryUser],
    ) -> Result<(), NotifyError> {
        let text = views::approver_reminder_text(request, flow);
        let mut failures = Vec::new();
        for approver in approvers {
            if let Err(e) = self.post(&approver.slack_id, Self::text(text.clone())).await {
                failures.push(format!("{}: {e}", approver.slack_id));
            }
        }
        match failures.len() {
            0 => Ok(()),
            // Some were nudged: a second round would nudge them twice; report and move on.
            n if n < approvers.len() => {
                tracing::warn!(request_id = %request.id(), failures = %failures.join("; "), "some approvers not reminded");
                Ok(())
            }
            _ => Err(NotifyError::retry(failures.join("; "))),
        }
    }

    async fn tell_user(&self, user: &str, channel: Option<&str>, text: &str) -> Result<(), NotifyError> {
        match channel {
            Some(channel) if !channel.starts_with('D') => {
                self.api.post_ephemeral(channel, user, text).await.map_err(notify_error)
            }
            _ => self.post(user, Self::text(text.to_string())).await.map(drop),
        }
    }

    async fn post_audit(&self, channel: &str, request: &AccessRequest, event: &AuditEvent) -> Result<(), NotifyError> {
        let line = views::audit_line(request, event, self.config.flow_of(request));
        self.post(channel, Self::text(line)).await.map(drop)
    }

    async fn report_drift(&self, channel: &str, holder: &Email, target: &str) -> Result<(), NotifyError> {
        self.post(channel, Self::text(views::drift_report_text(holder, target))).await.map(drop)
    }

    async fn publish_home(&self, user: &str, home: &Home) -> Result<(), NotifyError> {
        self.api.publish_home(user, views::home_view(&self.config, home)).await.map_err(notify_error)
    }
}
