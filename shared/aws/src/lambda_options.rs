//! [`LambdaOptionsSource`]: select options from a Lambda function (`prefetch: {lambda: <arn>}`).
//!
//! The function gets `{"flow", "environment", "field", "query"}` and answers a JSON list of strings or of
//! `{value, label}`. Fields with `prefetch: {url: ...}` go to the inner source, or, when a URL
//! function is set (the stack's prefetch function, which may reach internal URLs), to that function.

use crate::LazyClient;
use airlock_core::flow::{FieldSpec, Flow, Prefetch};
use airlock_core::ports::{OptionsError, OptionsSource, SelectOption};
use async_trait::async_trait;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use aws_smithy_types::timeout::TimeoutConfig;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Slack shows at most 100 options.
const MAX_OPTIONS: usize = 100;
/// Slack waits 3 s for options; the invocation must end well before.
const INVOKE_TIMEOUT: Duration = Duration::from_millis(2500);

/// Options from Lambda functions (`prefetch: {lambda}`), URL options from an inner source.
pub struct LambdaOptionsSource {
    client: LazyClient<Client>,
    urls: Arc<dyn OptionsSource>,
    url_function: Option<String>,
}

impl LambdaOptionsSource {
    /// `urls` answers the fields whose options come from a URL.
    pub fn new(client: impl Into<LazyClient<Client>>, urls: Arc<dyn OptionsSource>) -> Self {
        Self { client: client.into(), urls, url_function: None }
    }

    /// Fetches URL options through `function` instead of calling the URLs from here.
    pub fn with_url_function(mut self, function: impl Into<String>) -> Self {
        self.url_function = Some(function.into());
        self
    }

    async fn invoke(
        &self,
        function: &str,
        flow: &Flow,
        field: &FieldSpec,
        query: &str,
    ) -> Result<Vec<SelectOption>, OptionsError> {
        let payload = json!({"flow": flow.name, "environment": flow.environment, "field": field.name, "query": query})
            .to_string();
        let out = self
            .client
            .get()
            .await
            .invoke()
            .function_name(function)
            .payload(Blob::new(payload))
            .customize()
            .config_override(
                aws_sdk_lambda::config::Builder::default()
                    .timeout_config(TimeoutConfig::builder().operation_timeout(INVOKE_TIMEOUT).build()),
            )
            .send()
            .await
            .map_err(|e| OptionsError::Unavailable(format!("invoking {function}: {}", DisplayErrorContext(e))))?;
        if let Some(error) = out.function_error() {
            return Err(OptionsError::Unavailable(format!("{function} failed: {error}")));
        }
        parse_answer(out.payload().map(Blob::as_ref).unwrap_or(b"[]"))
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Answer {
    Plain(String),
    Labelled { value: String, label: Option<String> },
}

/// Parses a function's answer into options (at most 100).
pub fn parse_answer(payload: &[u8]) -> Result<Vec<SelectOption>, OptionsError> {
    let answers: Vec<Answer> = serde_json::from_slice(payload)
        .map_err(|e| OptionsError::Invalid(format!("the prefetch function answered no option list: {e}")))?;
    Ok(answers
        .into_iter()
        .map(|a| match a {
            Answer::Plain(v) => SelectOption { label: v.clone(), value: v },
            Answer::Labelled { value, label } => SelectOption { label: label.unwrap_or_else(|| value.clone()), value },
        })
        .take(MAX_OPTIONS)
        .collect())
}

#[async_trait]
impl OptionsSource for LambdaOptionsSource {
    async fn options(&self, flow: &Flow, field: &FieldSpec, query: &str) -> Result<Vec<SelectOption>, OptionsError> {
        match (&field.prefetch, &self.url_function) {
            (Some(Prefetch::Lambda(function)), _) => self.invoke(function, flow, field, query).await,
            (Some(Prefetch::Url(_)), Some(function)) => self.invoke(function, flow, field, query).await,
            _ => self.urls.options(flow, field, query).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_strings_or_labelled_values() {
        let options = parse_answer(br#"["a", {"value": "b", "label": "Bee"}, {"value": "c"}]"#).unwrap();
        let pairs: Vec<_> = options.iter().map(|o| (o.value.as_str(), o.label.as_str())).collect();
        assert_eq!(pairs, [("a", "a"), ("b", "Bee"), ("c", "c")]);
        assert!(parse_answer(b"{}").is_err());
    }
}
