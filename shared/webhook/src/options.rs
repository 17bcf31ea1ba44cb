//! Prefetch of select options from a URL: `GET <url>?q=<query>` answering a JSON array of strings or
//! of `{value, label}`.

use airlock_core::flow::{FieldSpec, Flow, Prefetch};
use airlock_core::ports::{OptionsError, OptionsSource, SelectOption};
use async_trait::async_trait;
use serde::Deserialize;
use std::time::Duration;

/// Slack allows 100 options per select.
const MAX_OPTIONS: usize = 100;

/// How long one fetch may take: Slack waits 3 s for a select's options.
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

/// Fetches options for fields with `prefetch: {url: ...}`, within Slack's 3-second budget, with
/// the process's shared HTTP client.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpOptionsSource;

impl HttpOptionsSource {
    pub fn new() -> Self {
        Self
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OptionItem {
    Plain(String),
    Labelled { value: String, label: Option<String> },
}

/// Parses the endpoint's answer, keeps those matching `query` (case-insensitive), at most 100.
pub(crate) fn parse_options(body: &[u8], query: &str) -> Result<Vec<SelectOption>, OptionsError> {
    let items: Vec<OptionItem> =
        serde_json::from_slice(body).map_err(|e| OptionsError::Invalid(format!("options are not a JSON list: {e}")))?;
    let query = query.trim().to_lowercase();
    Ok(items
        .into_iter()
        .map(|item| match item {
            OptionItem::Plain(v) => SelectOption { label: v.clone(), value: v },
            OptionItem::Labelled { value, label } => {
                SelectOption { label: label.unwrap_or_else(|| value.clone()), value }
            }
        })
        .filter(|o| {
            query.is_empty() || o.label.to_lowercase().contains(&query) || o.value.to_lowercase().contains(&query)
        })
        .take(MAX_OPTIONS)
        .collect())
}

#[async_trait]
impl OptionsSource for HttpOptionsSource {
    async fn options(&self, _flow: &Flow, field: &FieldSpec, query: &str) -> Result<Vec<SelectOption>, OptionsError> {
        let Some(prefetch) = &field.prefetch else {
            return Ok(field
                .allowed_values
                .iter()
                .map(|v| SelectOption { value: v.clone(), label: v.clone() })
                .collect());
        };
        match prefetch {
            Prefetch::Url(url) => {
                let response = crate::http::client()
                    .get(url)
                    .timeout(FETCH_TIMEOUT)
                    .query(&[("q", query)])
                    .send()
                    .await
                    .map_err(|e| OptionsError::Unavailable(format!("prefetch from {url} failed: {e}")))?;
                let status = response.status();
                if !status.is_success() {
                    let message = format!("prefetch from {url} answered {status}");
                    return Err(if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
                        OptionsError::Unavailable(message)
                    } else {
                        OptionsError::Invalid(message)
                    });
                }
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| OptionsError::Unavailable(format!("prefetch from {url} failed: {e}")))?;
                parse_options(&body, query)
            }
            Prefetch::Lambda(arn) => Err(OptionsError::Unsupported(format!(
                "field {}: Lambda prefetch ({arn}) needs the AWS adapters",
                field.name
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_strings_and_labelled_values_and_filters() {
        let body = br#"["INC-1", {"value": "INC-2", "label": "INC-2 db down"}, {"value": "CHG-3"}]"#;
        let all = parse_options(body, "").unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].label, "INC-2 db down");
        let some = parse_options(body, "db").unwrap();
        assert_eq!(some, vec![SelectOption { value: "INC-2".into(), label: "INC-2 db down".into() }]);
        assert!(parse_options(b"{}", "").is_err());
        let many: Vec<String> = (0..500).map(|i| format!("o{i}")).collect();
        assert_eq!(parse_options(serde_json::to_string(&many).unwrap().as_bytes(), "").unwrap().len(), 100);
    }
}
