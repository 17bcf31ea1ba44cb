//! The Events API: JSON bodies.

use super::PayloadError;
use serde::Deserialize;

/// An Events API request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventPayload {
    /// Slack checking the endpoint when the URL is configured; answer the challenge.
    UrlVerification {
        challenge: String,
    },
    EventCallback(EventCallback),
    /// Rate-limit notices and other kinds Airlock ignores.
    #[serde(other)]
    Other,
}

/// One event delivery.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EventCallback {
    /// Unique per event; the same on Slack's retries.
    pub event_id: String,
    pub event: InnerEvent,
}

/// The event itself (Airlock uses `app_home_opened`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InnerEvent {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub tab: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
}

impl InnerEvent {
    /// The user who opened Airlock's Home tab, for an `app_home_opened` event on the home tab.
    pub fn home_opened_by(&self) -> Option<&str> {
        (self.kind == "app_home_opened" && self.tab.as_deref().is_none_or(|t| t == "home"))
            .then_some(self.user.as_deref())
            .flatten()
    }
}

/// Parses an Events API body.
pub fn parse_event(body: &[u8]) -> Result<EventPayload, PayloadError> {
    serde_json::from_slice(body).map_err(|e| PayloadError::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_url_verification() {
        let body = br#"{"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"}"#;
        assert_eq!(
            parse_event(body).unwrap(),
            EventPayload::UrlVerification { challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".into() }
        );
    }

    #[test]
    fn parses_app_home_opened() {
        let body = br#"{"token": "t", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
            "event": {"type": "app_home_opened", "user": "U061F7AUR", "channel": "D0LAN2Q65", "event_ts": "1515449522000016",
                      "tab": "home", "view": {"id": "VPASKP233", "type": "home"}},
            "event_id": "Ev0PV52K21", "event_time": 1515449522}"#;
        let EventPayload::EventCallback(cb) = parse_event(body).unwrap() else { panic!() };
        assert_eq!(cb.event_id, "Ev0PV52K21");
        assert_eq!(cb.event.home_opened_by(), Some("U061F7AUR"));
    }

    #[test]
    fn the_messages_tab_is_not_home() {
        let event = InnerEvent {
            kind: "app_home_opened".into(),
            user: Some("U1".into()),
            tab: Some("messages".into()),
            channel: None,
        };
        assert_eq!(event.home_opened_by(), None);
    }

    #[test]
    fn other_types_and_garbage() {
        assert_eq!(
            parse_event(br#"{"type": "app_rate_limited", "minute_rate_limited": 1}"#).unwrap(),
            EventPayload::Other
        );
        assert!(parse_event(b"not json").is_err());
        assert!(parse_event(br#"{"type": "event_callback"}"#).is_err());
    }

    mod no_panic {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
                if let Ok(EventPayload::EventCallback(callback)) = parse_event(&body) {
                    let _ = callback.event.home_opened_by();
                }
            }

            #[test]
            fn any_values_in_an_event(kind in any::<String>(), user in any::<Option<String>>(), tab in any::<Option<String>>(), id in any::<String>()) {
                let body = serde_json::json!({"type": "event_callback", "event_id": id,
                    "event": {"type": kind, "user": user, "tab": tab}});
                let EventPayload::EventCallback(callback) = parse_event(body.to_string().as_bytes()).unwrap() else {
                    return Err(TestCaseError::fail("not an event callback"));
                };
                let _ = callback.event.home_opened_by();
            }
        }
    }
}
