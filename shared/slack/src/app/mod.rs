//! [`SlackApp`]: the Slack side of the HTTP ingress. It verifies each request first, then answers
//! slash commands, interactions, events and option requests by calling core's services, within
//! Slack's 3-second budget. It knows nothing of the HTTP framework: the router adapts it.

mod commands;
mod events;
mod interactions;
mod reply;

pub use reply::{SlackReply, SlackRoute};

use crate::api::SlackApi;
use crate::verify::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_request};
use airlock_core::{Airlock, Error, Identity, Role};
use std::sync::Arc;

/// Header Slack sets on redeliveries.
const RETRY_HEADER: &str = "x-slack-retry-num";

/// Answers Slack's requests.
pub struct SlackApp {
    airlock: Airlock,
    api: Arc<SlackApi>,
    signing_secret: String,
}

impl SlackApp {
    /// `signing_secret` is the Slack app's signing secret; an empty one rejects every request.
    /// Event deduplication uses the store's idempotency keys (through [`Airlock::claim_once`]).
    pub fn new(airlock: Airlock, api: Arc<SlackApi>, signing_secret: impl Into<String>) -> Self {
        Self { airlock, api, signing_secret: signing_secret.into() }
    }

    /// Verifies and answers one request to `route` with its raw `body`.
    pub async fn handle(&self, route: SlackRoute, headers: &http::HeaderMap, body: &[u8]) -> SlackReply {
        if let Err(reason) = self.verify(headers, body) {
            tracing::warn!(?route, reason, "rejected an unverified Slack request");
            return SlackReply::text(401, reason);
        }
        let retry = headers.contains_key(RETRY_HEADER);
        match route {
            SlackRoute::Events => self.event(body).await,
            _ if retry => SlackReply::ack(),
            SlackRoute::Commands => self.command(body).await,
            SlackRoute::Interactions => self.interaction(body).await,
            SlackRoute::Options => self.options(body).await,
        }
    }

    fn verify(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<(), String> {
        if self.signing_secret.is_empty() {
            return Err("Slack signing secret not configured".into());
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let now = self.airlock.now();
        verify_request(&self.signing_secret, header(SIGNATURE_HEADER), header(TIMESTAMP_HEADER), body, now)
            .map_err(|e| e.to_string())
    }

    /// The person behind a Slack user id, or what to tell them when they cannot be identified.
    async fn identify(&self, slack_id: &str) -> Result<Identity, String> {
        self.airlock.identify_slack_user(slack_id).await.map_err(|e: Error| {
            tracing::warn!(slack_id, error = %e, "could not identify a Slack user");
            format!("Sorry, Airlock could not tell who you are: {}", e.message)
        })
    }
}

/// What guests are told instead of getting a form.
fn guest_refusal(who: &Identity) -> Option<String> {
    (who.role == Role::Guest).then(|| {
        "Sorry, only members of this organization can request access through Airlock. \
         Ask an admin if you need access."
            .to_string()
    })
}

fn bad_request(error: impl std::fmt::Display) -> SlackReply {
    tracing::warn!(error = %error, "malformed Slack payload");
    SlackReply::text(400, error.to_string())
}
