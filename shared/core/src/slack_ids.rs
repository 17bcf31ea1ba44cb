//! Recognising Slack ids by their shape, where the config and the API name people and channels.

/// `U0123ABC` / `W0123ABC`: Slack user ids.
pub fn is_slack_user_id(s: &str) -> bool {
    s.len() >= 3
        && (s.starts_with('U') || s.starts_with('W'))
        && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// `C0123ABC` / `G0123ABC`: Slack channel ids.
pub fn is_slack_channel_id(s: &str) -> bool {
    s.len() >= 3
        && (s.starts_with('C') || s.starts_with('G'))
        && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}
