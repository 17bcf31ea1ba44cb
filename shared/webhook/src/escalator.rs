//! The `webhook` escalator: POSTs a signed JSON call to the target's URL to grant and to remove.

use crate::signature::sign;
use airlock_core::flow::TargetKind;
use airlock_core::ports::{Escalation, EscalationError, Escalator, GrantSpec};
use async_trait::async_trait;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Calls webhook targets. A 2xx is success, so receivers must treat repeats as no-ops.
#[derive(Clone)]
pub struct WebhookEscalator {
    backoff: Duration,
    /// Secrets by `secret_env` name.
    secrets: Arc<HashMap<String, String>>,
}

impl Default for WebhookEscalator {
    fn default() -> Self {
        Self::new()
    }
}

impl WebhookEscalator {
    pub fn new() -> Self {
        Self { backoff: FIRST_BACKOFF, secrets: Arc::default() }
    }

    /// The same escalator signing with `secrets`, keyed by `secret_env` (read at start from SSM, or
    /// from the variables of those names); a target whose secret is missing fails permanently.
    pub fn with_secrets(mut self, secrets: HashMap<String, String>) -> Self {
        self.secrets = Arc::new(secrets);
        self
    }

    /// The same escalator with a different first retry delay (tests).
    pub fn with_backoff(mut self, first: Duration) -> Self {
        self.backoff = first;
        self
    }

    /// Sends `action`; on a 2xx, what the receiver said about the access: a JSON body
    /// `{"already_had": true}` means the person held it before (Airlock will not remove it).
    async fn call(&self, action: &str, grant: &GrantSpec) -> Result<Escalation, EscalationError> {
        let TargetKind::Webhook { url, secret_env } = &grant.target.kind else {
            return Err(EscalationError::Permanent(format!("target {} is not a webhook", grant.target.name)));
        };
        let secret = self.secrets.get(secret_env).filter(|s| !s.is_empty()).ok_or_else(|| {
            EscalationError::Permanent(format!("the webhook secret variable {secret_env} is not set"))
        })?;
        let body = serde_json::to_vec(&json!({
            "action": action,
            "request_id": grant.request_id,
            "user": {"email": grant.user_email, "slack_id": grant.user_slack_id},
            "target": {"name": grant.target.name, "label": grant.target.label},
            "expires_at": grant.expires_at,
        }))
        .map_err(|e| EscalationError::Permanent(e.to_string()))?;

        let mut backoff = self.backoff;
        let mut last_error = String::new();
        for attempt in 1..=ATTEMPTS {
            let timestamp = chrono::Utc::now().timestamp();
            let sent = crate::http::client()
                .post(url)
                .timeout(CALL_TIMEOUT)
                .header("content-type", "application/json")
                .header("X-Airlock-Timestamp", timestamp.to_string())
                .header("X-Airlock-Signature", sign(secret.as_bytes(), timestamp, &body))
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    let answer: serde_json::Value = response.json().await.unwrap_or_default();
                    let already_had = answer.get("already_had").and_then(serde_json::Value::as_bool) == Some(true);
                    return Ok(if already_had { Escalation::AlreadyHeld } else { Escalation::Granted });
                }
                Ok(response) if response.status().is_server_error() || response.status().as_u16() == 429 => {
                    last_error = format!("{url} answered {}", response.status());
                }
                Ok(response) => {
                    return Err(EscalationError::Permanent(format!(
                        "{url} refused the {action}: {}",
                        response.status()
                    )));
                }
                Err(e) => last_error = format!("{url} unreachable: {e}"),
            }
            tracing::warn!(request_id = %grant.request_id, action, attempt, error = %last_error, "webhook call failed");
            if attempt < ATTEMPTS {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        Err(EscalationError::Transient(last_error))
    }
}

#[async_trait]
impl Escalator for WebhookEscalator {
    async fn escalate(&self, grant: &GrantSpec) -> Result<Escalation, EscalationError> {
        self.call("escalate", grant).await
    }

    async fn deescalate(&self, grant: &GrantSpec) -> Result<(), EscalationError> {
        self.call("deescalate", grant).await.map(drop)
    }
}
