//! A thin Slack Web API client over slack-morphism's hyper client. The bot token never appears in
//! errors or logs. One client works in one of two modes, built from the same URL and token:
//!
//! * **interactive** ([`SlackApi::new`]), for what a Slack ack waits on
//!   (`users.info`, `views.open`, `views.update`, `chat.postEphemeral`): one attempt with a short
//!   timeout (Slack wants interactions acked within 3 s); a 429 fails at once with its `Retry-After`.
//! * **background** ([`SlackApi::background`], or any client [`SlackApi::with_retries`]), for
//!   notifications: slack-morphism's rate control paces calls (`chat.postMessage` at most one a
//!   second per client: the library's built-in limit) and retries each HTTP 429 after its
//!   `Retry-After`; HTTP 5xx, transport errors and Slack's transient error codes are retried with
//!   backoff. Retries are bounded in number and in total time ([`RetryPolicy`]); when they run out
//!   the error tells a caller whether and when to try again ([`SlackApiError::is_transient`],
//!   [`SlackApiError::retry_after`]).

use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::future::Future;
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// Slack's Web API base URL.
pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api/";

/// How long one interactive Web API call may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(2_500);

/// Slack error codes (`{"ok": false, "error": code}`) that mean "try again later", not "this
/// call can never work".
const TRANSIENT_CODES: &[&str] =
    &["ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"];

/// A failed Web API call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackApiError {
    /// No answer in time (interactive: the per-call timeout; background: the retry budget).
    #[error("Slack {method} timed out")]
    Timeout { method: &'static str },
    /// Slack answered `{"ok": false, "error": code}`.
    #[error("Slack {method} failed: {code}")]
    Api { method: &'static str, code: String },
    /// Slack answered HTTP 429 (after the background client's retries, the last one); `retry_after`
    /// is its `Retry-After`, when it sent one.
    #[error("Slack {method} rate limited{}", retry_after.map(|d| format!(", retry after {} s", d.as_secs())).unwrap_or_default())]
    RateLimited { method: &'static str, retry_after: Option<Duration> },
    /// Slack answered with another HTTP error status (5xx: Slack is having trouble).
    #[error("Slack {method} answered HTTP {status}")]
    Http { method: &'static str, status: u16 },
    /// The call did not reach Slack or its answer did not arrive (connection refused, reset, …).
    #[error("Slack {method} failed: {message}")]
    Transport { method: &'static str, message: String },
    /// Slack answered something that is not the expected JSON.
    #[error("Slack {method} answered unreadably: {message}")]
    BadResponse { method: &'static str, message: String },
    #[error("Slack client set-up failed: {0}")]
    Setup(String),
}

/// Told of every failed call attempt (a retried one included), e.g. to count them; never sees the token.
pub type FailureHook = Arc<dyn Fn(&SlackApiError) + Send + Sync>;

impl SlackApiError {
    /// The Web API method that failed (none for a client that could not be set up).
    pub fn method(&self) -> Option<&'static str> {
        match self {
            SlackApiError::Timeout { method }
            | SlackApiError::Api { method, .. }
            | SlackApiError::RateLimited { method, .. }
            | SlackApiError::Http { method, .. }
            | SlackApiError::Transport { method, .. }
            | SlackApiError::BadResponse { method, .. } => Some(method),
            SlackApiError::Setup(_) => None,
        }
    }

    /// The Slack error code, for `{"ok": false}` answers.
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackApiError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// How long Slack asked to wait before the next call, for rate-limited calls.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SlackApiError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// True when the same call may succeed later: rate limits, timeouts, transport errors, HTTP
    /// 5xx and Slack's transient codes (`internal_error`, …). False for answers that will not change
    /// on retry, e.g. `channel_not_found`, `not_in_channel`, `user_not_found`, `invalid_auth`.
    pub fn is_transient(&self) -> bool {
        match self {
            SlackApiError::Timeout { .. } | SlackApiError::RateLimited { .. } | SlackApiError::Transport { .. } => true,
            SlackApiError::Http { status, .. } => *status >= 500 || *status == 408,
            SlackApiError::Api { code, .. } => TRANSIENT_CODES.contains(&code.as_str()),
            SlackApiError::BadResponse { .. } | SlackApiError::Setup(_) => false,
        }
    }

    fn from_client(method: &'static str, error: SlackClientError) -> Self {
        match error {
            SlackClientError::ApiError(e) => SlackApiError::Api { method, code: e.code },
            SlackClientError::RateLimitError(e) => SlackApiError::RateLimited { method, retry_after: e.retry_after },
            SlackClientError::HttpError(e) => SlackApiError::Http { method, status: e.status_code.as_u16() },
            SlackClientError::ProtocolError(e) => SlackApiError::BadResponse { method, message: e.to_string() },
            e => SlackApiError::Transport { method, message: e.to_string() },
        }
    }
}

/// A message Slack stored: its channel and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMessage {
    pub channel: String,
    pub ts: String,
}

/// How a background client retries one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after HTTP 429 (each after its `Retry-After`, by slack-morphism), and as many again
    /// after HTTP 5xx, transport errors and transient Slack codes.
    pub max_retries: usize,
    /// The longest one call may take, waits and retries included; past it the call fails with
    /// [`SlackApiError::Timeout`] (also when a `Retry-After` is longer than what is left).
    pub max_total: Duration,
    /// The wait before the first retry of a 5xx or transport error; doubled for each next one.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    /// 3 retries within 20 s (inside a 30 s Lambda), 500 ms first backoff.
    fn default() -> Self {
        Self { max_retries: 3, max_total: Duration::from_secs(20), backoff: Duration::from_millis(500) }
    }
}

/// The Slack Web API as Airlock uses it, authenticated with the bot token. Nothing is built before
/// the first call (a cold start that answers without Slack builds no HTTP client); clones share the
/// connection pool (and, for background clients, the rate controller).
#[derive(Clone)]
pub struct SlackApi {
    base_url: Arc<str>,
    /// The connector without rate control, made on the first call of this client or any derived
    /// from it (shared by [`Self::with_retries`] and [`Self::for_channel`]).
    connector: Arc<OnceLock<SlackClientHyperHttpsConnector>>,
    /// The client over it, with this client's rate controller when it retries.
    client: Arc<OnceLock<SlackClient<SlackClientHyperHttpsConnector>>>,
    token: SlackApiToken,
    timeout: Duration,
    retries: Option<RetryPolicy>,
    on_failure: Option<FailureHook>,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackApi")
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("on_failure", &self.on_failure.is_some())
            .finish_non_exhaustive()
    }
}

impl SlackApi {
    /// An interactive client for the Web API at `base_url` (e.g. `https://slack.com/api/`, or a
    /// fake's URL; `http://` is allowed for local fakes) with `bot_token`; fails when `base_url` is
    /// not an absolute http(s) URL. Its HTTP client is made on the first call.
    pub fn new(base_url: &str, bot_token: &str) -> Result<Self, SlackApiError> {
        match url::Url::parse(base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => return Err(SlackApiError::Setup(format!("the Slack API URL {base_url:?} is not an http(s) URL"))),
        }
        Ok(Self {
            base_url: base_url.trim_end_matches('/').into(),
            connector: Arc::default(),
            client: Arc::default(),
            token: SlackApiToken::new(SlackApiTokenValue(bot_token.to_string())),
            timeout: DEFAULT_TIMEOUT,
            retries: None,
            on_failure: None,
        })
    }

    /// A background client with the default [`RetryPolicy`]: `new(base_url, bot_token)` then
    /// [`Self::with_retries`].
    pub fn background(base_url: &str, bot_token: &str) -> Result<Self, SlackApiError> {
        Ok(Self::new(base_url, bot_token)?.with_retries(RetryPolicy::default()))
    }

    /// The same client with another per-call timeout (interactive clients; a background client's
    /// calls are bounded by [`RetryPolicy::max_total`] instead).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same URL and token as a background client retrying as `policy` says, with its own rate
    /// controller (clone the result to share it).
    pub fn with_retries(mut self, policy: RetryPolicy) -> Self {
        self.client = Arc::default();
        self.retries = Some(policy);
        self
    }

    /// The same client telling `hook` of each failed call attempt (clones and [`Self::for_channel`] keep it).
    pub fn on_failure(mut self, hook: FailureHook) -> Self {
        self.on_failure = Some(hook);
        self
    }

    fn failed(&self, error: SlackApiError) -> SlackApiError {
        if let Some(hook) = &self.on_failure {
            hook(&error);
        }
        error
    }

    /// A client for posting to one channel: a background client gets its own rate controller, so
    /// slack-morphism's one-message-per-second limit on `chat.postMessage` (kept per client) applies
    /// per channel, as Slack's does, rather than to the whole workspace. Interactive clients are shared.
    pub fn for_channel(&self) -> SlackApi {
        match self.retries {
            Some(policy) => self.clone().with_retries(policy),
            None => self.clone(),
        }
    }

    /// Runs one Web API call: `request` makes a fresh attempt each time it is called.
    async fn call<T, F, Fut>(&self, method: &'static str, request: F) -> Result<T, SlackApiError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SlackClientError>>,
    {
        let Some(policy) = self.retries else {
            return match tokio::time::timeout(self.timeout, request()).await {
                Err(_) => Err(self.failed(SlackApiError::Timeout { method })),
                Ok(result) => result.map_err(|e| self.failed(SlackApiError::from_client(method, e))),
            };
        };
        // slack-morphism's rate control retries HTTP 429 only (after each Retry-After) and gives up
        // with the last 429; HTTP 5xx and transport errors come straight back, so those few retries
        // are done here.
        let deadline = Instant::now() + policy.max_total;
        let mut backoff = policy.backoff;
        let mut retried = 0;
        loop {
            let error = match tokio::time::timeout_at(deadline, request()).await {
                Err(_) => return Err(self.failed(SlackApiError::Timeout { method })),
                Ok(Ok(response)) => return Ok(response),
                Ok(Err(e)) => self.failed(SlackApiError::from_client(method, e)),
            };
            let retry = error.is_transient()
                && !matches!(error, SlackApiError::RateLimited { .. })
                && retried < policy.max_retries
                && Instant::now() + backoff < deadline;
            if !retry {
                return Err(error);
            }
            tracing::debug!(method, error = %error, retry = retried + 1, "retrying Slack call");
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
            retried += 1;
        }
    }

    /// A session of this client's HTTP client, made now if this is its first call.
    fn session(&self) -> Result<SlackClientSession<'_, SlackClientHyperHttpsConnector>, SlackApiError> {
        let client = match self.client.get() {
            Some(client) => client,
            None => {
                let tls = TLS.as_ref().map_err(|e| SlackApiError::Setup(e.clone()))?;
                let connector = self.connector.get_or_init(|| {
                    let https = hyper_rustls::HttpsConnectorBuilder::new()
                        .with_tls_config(tls.clone())
                        .https_or_http()
                        .enable_http1()
                        .enable_http2()
                        .build();
                    SlackClientHyperConnector::with_connector(https).with_slack_api_url(&self.base_url)
                });
                let connector = match self.retries {
                    Some(policy) => connector
                        .clone()
                        .with_rate_control(SlackApiRateControlConfig::new().with_max_retries(policy.max_retries)),
                    None => connector.clone(),
                };
                self.client.get_or_init(|| SlackClient::new(connector))
            }
        };
        Ok(client.open_session(&self.token))
    }

    /// chat.postMessage; `channel` may be a user id to DM them.
    pub async fn post_message(
        &self,
        channel: &str,
        content: SlackMessageContent,
    ) -> Result<PostedMessage, SlackApiError> {
        let request = SlackApiChatPostMessageRequest::new(SlackChannelId(channel.into()), content);
        let session = self.session()?;
        let posted = self.call("chat.postMessage", || session.chat_post_message(&request)).await?;
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
        let session = self.session()?;
        self.call("chat.update", || session.chat_update(&request)).await.map(drop)
    }

    /// chat.postEphemeral: `text` shown only to `user` in `channel`.
    pub async fn post_ephemeral(&self, channel: &str, user: &str, text: &str) -> Result<(), SlackApiError> {
        let request = SlackApiChatPostEphemeralRequest::new(
            SlackChannelId(channel.into()),
            SlackUserId(user.into()),
            SlackMessageContent::new().with_text(text.into()),
        );
        let session = self.session()?;
        self.call("chat.postEphemeral", || session.chat_post_ephemeral(&request)).await.map(drop)
    }

    /// conversations.open with one user: the id of the DM channel.
    pub async fn open_dm(&self, user: &str) -> Result<String, SlackApiError> {
        let request = SlackApiConversationsOpenRequest::new().with_users(vec![SlackUserId(user.into())]);
        let session = self.session()?;
        let opened = self.call("conversations.open", || session.conversations_open(&request)).await?;
        Ok(opened.channel.id.0)
    }

    /// views.open with a trigger id (valid for 3 s); returns the view id.
    pub async fn open_view(&self, trigger_id: &str, view: SlackView) -> Result<String, SlackApiError> {
        let request = SlackApiViewsOpenRequest::new(SlackTriggerId(trigger_id.into()), view);
        let session = self.session()?;
        let opened = self.call("views.open", || session.views_open(&request)).await?;
        Ok(opened.view.state_params.id.0)
    }

    /// views.update of an open view.
    pub async fn update_view(&self, view_id: &str, view: SlackView) -> Result<(), SlackApiError> {
        let request = SlackApiViewsUpdateRequest::new(view).with_view_id(SlackViewId(view_id.into()));
        let session = self.session()?;
        self.call("views.update", || session.views_update(&request)).await.map(drop)
    }

    /// views.publish of a user's Home tab.
    pub async fn publish_home(&self, user: &str, view: SlackView) -> Result<(), SlackApiError> {
        let request = SlackApiViewsPublishRequest::new(SlackUserId(user.into()), view);
        let session = self.session()?;
        self.call("views.publish", || session.views_publish(&request)).await.map(drop)
    }

    /// users.info; None when Slack knows no such user.
    pub async fn user_info(&self, user: &str) -> Result<Option<SlackUser>, SlackApiError> {
        let request = SlackApiUsersInfoRequest::new(SlackUserId(user.into()));
        let session = self.session()?;
        not_found_is_none(self.call("users.info", || session.users_info(&request)).await.map(|r| r.user))
    }

    /// users.lookupByEmail; None when nobody in the workspace has that email.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<SlackUser>, SlackApiError> {
        let request = SlackApiUsersLookupByEmailRequest::new(EmailAddress(email.into()));
        let session = self.session()?;
        not_found_is_none(
            self.call("users.lookupByEmail", || session.users_lookup_by_email(&request)).await.map(|r| r.user),
        )
    }

    /// usergroups.users.list: the user ids in a user group.
    pub async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, SlackApiError> {
        let request = SlackApiUserGroupsUsersListRequest::new(SlackUserGroupId(group.into()));
        let session = self.session()?;
        let listed = self.call("usergroups.users.list", || session.usergroups_users_list(&request)).await?;
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

/// The TLS configuration of every Slack client in the process, made on the first call: the
/// ring provider (so it works whatever else links rustls) and the Mozilla roots compiled in
/// (webpki-roots: no certificate files read at start; Slack's certificates chain to a public root).
static TLS: LazyLock<Result<rustls::ClientConfig, String>> = LazyLock::new(|| {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
});
