//! A thin Slack Web API client over slack-morphism's hyper client. Every call has a timeout
//! (Slack wants interactions acked within 3 s); the bot token never appears in errors or logs.

use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Slack's Web API base URL.
pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api/";

/// How long one Web API call may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(2_500);

/// A failed Web API call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackApiError {
    #[error("Slack {method} timed out")]
    Timeout { method: &'static str },
    /// Slack answered `{"ok": false, "error": code}`.
    #[error("Slack {method} failed: {code}")]
    Api { method: &'static str, code: String },
    #[error("Slack {method} failed: {message}")]
    Transport { method: &'static str, message: String },
    #[error("Slack client set-up failed: {0}")]
    Setup(String),
}

impl SlackApiError {
    /// The Slack error code, for `{"ok": false}` answers.
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackApiError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A message Slack stored: its channel and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMessage {
    pub channel: String,
    pub ts: String,
}

/// The Slack Web API as Airlock uses it, authenticated with the bot token.
pub struct SlackApi {
    client: SlackClient<SlackClientHyperHttpsConnector>,
    token: SlackApiToken,
    timeout: Duration,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackApi").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl SlackApi {
    /// A client for the Web API at `base_url` (e.g. `https://slack.com/api/`, or a fake's URL;
    /// `http://` is allowed for local fakes) with `bot_token`.
    pub fn new(base_url: &str, bot_token: &str) -> Result<Self, SlackApiError> {
        let connector = SlackClientHyperConnector::with_connector(https_connector()?)
            .with_slack_api_url(base_url.trim_end_matches('/'));
        Ok(Self {
            client: SlackClient::new(connector),
            token: SlackApiToken::new(SlackApiTokenValue(bot_token.to_string())),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// A client from `SLACK_API_URL` (default [`DEFAULT_SLACK_API_URL`]) and `SLACK_BOT_TOKEN`.
    pub fn from_env() -> Result<Self, SlackApiError> {
        let url = std::env::var("SLACK_API_URL").ok().filter(|u| !u.is_empty());
        let token = std::env::var("SLACK_BOT_TOKEN").unwrap_or_default();
        Self::new(url.as_deref().unwrap_or(DEFAULT_SLACK_API_URL), &token)
    }

    /// The same client with another per-call timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn call<T>(
        &self,
        method: &'static str,
        request: impl Future<Output = Result<T, SlackClientError>>,
    ) -> Result<T, SlackApiError> {
        match tokio::time::timeout(self.timeout, request).await {
            Err(_) => Err(SlackApiError::Timeout { method }),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(SlackClientError::ApiError(e))) => Err(SlackApiError::Api { method, code: e.code }),
            Ok(Err(e)) => Err(SlackApiError::Transport { method, message: e.to_string() }),
        }
    }

    fn session(&self) -> SlackClientSession<'_, SlackClientHyperHttpsConnector> {
        self.client.open_session(&self.token)
    }

    /// chat.postMessage; `channel` may be a user id to DM them.
    pub async fn post_message(
        &self,
        channel: &str,
        content: SlackMessageContent,
    ) -> Result<PostedMessage, SlackApiError> {
        let request = SlackApiChatPostMessageRequest::new(SlackChannelId(channel.into()), content);
        let session = self.session();
        let posted = self.call("chat.postMessage", session.chat_post_message(&request)).await?;
        Ok(PostedMessage { channel: posted.channel.0, ts: posted.ts.0 })
    }

    /// chat.update of the message at `channel`/`ts`.
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        content: SlackMessageContent,
    ) -> Result<(), SlackApiError> {
        let request = SlackApiChatUpdateRequest::new(SlackChannelId(channel.into()), content, SlackTs(ts.into()));
        let session = self.session();
        self.call("chat.update", session.chat_update(&request)).await.map(drop)
    }

    /// chat.postEphemeral: `text` shown only to `user` in `channel`.
    pub async fn post_ephemeral(&self, channel: &str, user: &str, text: &str) -> Result<(), SlackApiError> {
        let request = SlackApiChatPostEphemeralRequest::new(
            SlackChannelId(channel.into()),
            SlackUserId(user.into()),
            SlackMessageContent::new().with_text(text.into()),
        );
        let session = self.session();
        self.call("chat.postEphemeral", session.chat_post_ephemeral(&request)).await.map(drop)
    }

    /// conversations.open with one user: the id of the DM channel.
    pub async fn open_dm(&self, user: &str) -> Result<String, SlackApiError> {
        let request = SlackApiConversationsOpenRequest::new().with_users(vec![SlackUserId(user.into())]);
        let session = self.session();
        let opened = self.call("conversations.open", session.conversations_open(&request)).await?;
        Ok(opened.channel.id.0)
    }

    /// views.open with a trigger id (valid for 3 s); returns the view id.
    pub async fn open_view(&self, trigger_id: &str, view: SlackView) -> Result<String, SlackApiError> {
        let request = SlackApiViewsOpenRequest::new(SlackTriggerId(trigger_id.into()), view);
        let session = self.session();
        let opened = self.call("views.open", session.views_open(&request)).await?;
        Ok(opened.view.state_params.id.0)
    }

    /// views.update of an open view.
    pub async fn update_view(&self, view_id: &str, view: SlackView) -> Result<(), SlackApiError> {
        let request = SlackApiViewsUpdateRequest::new(view).with_view_id(SlackViewId(view_id.into()));
        let session = self.session();
        self.call("views.update", session.views_update(&request)).await.map(drop)
    }

    /// views.publish of a user's Home tab.
    pub async fn publish_home(&self, user: &str, view: SlackView) -> Result<(), SlackApiError> {
        let request = SlackApiViewsPublishRequest::new(SlackUserId(user.into()), view);
        let session = self.session();
        self.call("views.publish", session.views_publish(&request)).await.map(drop)
    }

    /// users.info; None when Slack knows no such user.
    pub async fn user_info(&self, user: &str) -> Result<Option<SlackUser>, SlackApiError> {
        let request = SlackApiUsersInfoRequest::new(SlackUserId(user.into()));
        let session = self.session();
        not_found_is_none(self.call("users.info", session.users_info(&request)).await.map(|r| r.user))
    }

    /// users.lookupByEmail; None when nobody in the workspace has that email.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<SlackUser>, SlackApiError> {
        let request = SlackApiUsersLookupByEmailRequest::new(EmailAddress(email.into()));
        let session = self.session();
        not_found_is_none(
            self.call("users.lookupByEmail", session.users_lookup_by_email(&request)).await.map(|r| r.user),
        )
    }

    /// usergroups.users.list: the user ids in a user group.
    pub async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, SlackApiError> {
        let request = SlackApiUserGroupsUsersListRequest::new(SlackUserGroupId(group.into()));
        let session = self.session();
        let listed = self.call("usergroups.users.list", session.usergroups_users_list(&request)).await?;
        Ok(listed.users.into_iter().map(|u| u.0).collect())
    }
}

fn not_found_is_none(result: Result<SlackUser, SlackApiError>) -> Result<Option<SlackUser>, SlackApiError> {
    match result {
        Ok(user) => Ok(Some(user)),
        Err(e) if matches!(e.code(), Some("user_not_found" | "users_not_found")) => Ok(None),
        Err(e) => Err(e),
    }
}

/// HTTPS with the system's roots (ring provider, so it works whatever else links rustls), plus
/// plain HTTP for local fakes and emulators.
fn https_connector()
-> Result<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, SlackApiError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = match hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider.clone()) {
        Ok(builder) => builder,
        Err(e) => {
            tracing::warn!(error = %e, "no system CA certificates: HTTPS calls to Slack will fail");
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| SlackApiError::Setup(e.to_string()))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
        }
    };
    Ok(builder.https_or_http().enable_http1().enable_http2().build())
}
