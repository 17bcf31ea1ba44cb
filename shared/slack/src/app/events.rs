//! The Events API (URL verification, App Home) and external select options.

use super::{SlackApp, SlackReply, bad_request};
use crate::payload::{BlockSuggestion, EventPayload, Interaction, parse_event, parse_interaction};
use crate::views;
use airlock_core::ports::SelectOption;
use serde_json::json;
use std::time::Duration;

/// How long an event id is remembered to drop Slack's redeliveries.
const EVENT_DEDUP_TTL: Duration = Duration::from_secs(60 * 60);
/// What the options source may take (Slack gives 3 s in all).
const OPTIONS_TIMEOUT: Duration = Duration::from_millis(2_500);

impl SlackApp {
    pub(super) async fn event(&self, body: &[u8]) -> SlackReply {
        let callback = match parse_event(body) {
            Err(e) => return bad_request(e),
            Ok(EventPayload::UrlVerification { challenge }) => {
                return SlackReply::json(&json!({ "challenge": challenge }));
            }
            Ok(EventPayload::Other) => return SlackReply::ack(),
            Ok(EventPayload::EventCallback(callback)) => callback,
        };
        let key = format!("slack-event:{}", callback.event_id);
        match self.airlock.claim_once(&key, EVENT_DEDUP_TTL).await {
            Ok(false) => return SlackReply::ack(),
            Ok(true) => {}
            // Handling an event twice (a Home tab republished) beats dropping it.
            Err(e) => tracing::warn!(error = %e, "event deduplication unavailable"),
        }
        if let Some(user) = callback.event.home_opened_by() {
            self.publish_home(user).await;
        }
        SlackReply::ack()
    }

    /// Publishes the person's App Home (their requests, and what waits for their decision).
    async fn publish_home(&self, user: &str) {
        let who = match self.airlock.identify_slack_user(user).await {
            Ok(who) => who,
            Err(e) => {
                tracing::warn!(user, error = %e, "cannot tell who opened the Home tab");
                return;
            }
        };
        let home = match self.airlock.home(&who).await {
            Ok(home) => home,
            Err(e) => {
                tracing::warn!(user, error = %e, "could not read the Home tab's requests");
                return;
            }
        };
        if let Err(e) = self.api.publish_home(user, views::home_view(self.airlock.config(), &home)).await {
            tracing::warn!(error = %e, "could not publish the Home tab");
        }
    }

    pub(super) async fn options(&self, body: &[u8]) -> SlackReply {
        match parse_interaction(body) {
            Err(e) => bad_request(e),
            Ok(Interaction::BlockSuggestion(suggestion)) => self.suggest(&suggestion).await,
            Ok(_) => SlackReply::json(&views::suggestion_options(&[])),
        }
    }

    /// Options of an external select: the field's prefetch source, filtered by what was typed.
    pub(super) async fn suggest(&self, suggestion: &BlockSuggestion) -> SlackReply {
        let config = self.airlock.config();
        let flow = suggestion.view.as_ref().and_then(|v| config.flow(&v.private_metadata));
        let field =
            views::field_of_block_id(&suggestion.block_id).or_else(|| views::field_of_block_id(&suggestion.action_id));
        if let Some(flow) = flow
            && [views::ACCOUNTS, views::PERMISSION_SET].contains(&suggestion.block_id.as_str())
        {
            return self.suggest_scoped(flow, suggestion).await;
        }
        let (Some(flow), Some(field)) = (flow, field.and_then(|name| flow?.field(name))) else {
            return SlackReply::json(&views::suggestion_options(&[]));
        };
        let lookup = self.airlock.field_options(flow, field, &suggestion.value);
        let options = match tokio::time::timeout(OPTIONS_TIMEOUT, lookup).await {
            Ok(Ok(options)) => options,
            Ok(Err(e)) => {
                tracing::warn!(flow = %flow.name, field = %field.name, error = %e, "options source failed");
                Vec::new()
            }
            Err(_) => {
                tracing::warn!(flow = %flow.name, field = %field.name, "options source timed out");
                Vec::new()
            }
        };
        SlackReply::json(&views::suggestion_options(&options))
    }

    /// Options of a target that lists accounts: its accounts matching what was typed (name or id),
    /// or its permission sets; from the catalog's cache, so within Slack's 3 s even while it warms.
    async fn suggest_scoped(&self, flow: &airlock_core::Flow, suggestion: &BlockSuggestion) -> SlackReply {
        let Some(target) = views::scoped_target(flow, suggestion.view.as_ref()) else {
            return SlackReply::json(&views::suggestion_options(&[]));
        };
        let query = suggestion.value.trim().to_lowercase();
        let options = if suggestion.block_id == views::ACCOUNTS {
            match tokio::time::timeout(OPTIONS_TIMEOUT, self.airlock.account_options(target, &query)).await {
                Ok(Ok(found)) if found.loading && found.accounts.is_empty() => vec![SelectOption {
                    value: "loading".into(),
                    label: "Loading accounts… type again in a moment".into(),
                }],
                Ok(Ok(found)) => found
                    .accounts
                    .into_iter()
                    .map(|a| SelectOption { label: format!("{} ({})", a.name, a.id), value: a.id })
                    .collect(),
                Ok(Err(e)) => {
                    tracing::warn!(flow = %flow.name, target = %target.name, error = %e, "accounts could not be listed");
                    Vec::new()
                }
                Err(_) => Vec::new(),
            }
        } else {
            match tokio::time::timeout(OPTIONS_TIMEOUT, self.airlock.permission_set_options(target)).await {
                Ok(Ok(sets)) => sets
                    .into_iter()
                    .filter(|p| p.name.to_lowercase().contains(&query))
                    .map(|p| SelectOption { label: p.name.clone(), value: p.name })
                    .collect(),
                Ok(Err(e)) => {
                    tracing::warn!(flow = %flow.name, target = %target.name, error = %e, "permission sets could not be listed");
                    Vec::new()
                }
                Err(_) => Vec::new(),
            }
        };
        SlackReply::json(&views::suggestion_options(&options))
    }
}
