//! Slash commands: `application/x-www-form-urlencoded` bodies.

use super::PayloadError;
use serde::Deserialize;

/// A slash command invocation (`/access aws-prod prod-admin`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SlashCommand {
    pub command: String,
    #[serde(default)]
    pub text: String,
    pub user_id: String,
    #[serde(default)]
    pub user_name: String,
    #[serde(default)]
    pub team_id: String,
    #[serde(default)]
    pub channel_id: String,
    pub trigger_id: String,
    #[serde(default)]
    pub response_url: String,
}

impl SlashCommand {
    /// The words typed after the command.
    pub fn words(&self) -> Vec<&str> {
        self.text.split_whitespace().collect()
    }
}

/// Parses a slash command's form body.
pub fn parse_command(body: &[u8]) -> Result<SlashCommand, PayloadError> {
    serde_urlencoded::from_bytes(body).map_err(|e| PayloadError::Form(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_slacks_example_command() {
        let body = "token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&team_domain=example&enterprise_id=E0001\
            &enterprise_name=Globular%20Construct%20Inc&channel_id=C2147483705&channel_name=test\
            &user_id=U2147483697&user_name=Steve&command=%2Faccess&text=aws-prod%20%20prod-admin\
            &response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1234%2F5678\
            &trigger_id=13345224609.738474920.8088930838d88f008e0&api_app_id=A123456";
        let cmd = parse_command(body.as_bytes()).unwrap();
        assert_eq!(cmd.command, "/access");
        assert_eq!(cmd.user_id, "U2147483697");
        assert_eq!(cmd.user_name, "Steve");
        assert_eq!(cmd.team_id, "T0001");
        assert_eq!(cmd.channel_id, "C2147483705");
        assert_eq!(cmd.trigger_id, "13345224609.738474920.8088930838d88f008e0");
        assert_eq!(cmd.response_url, "https://hooks.slack.com/commands/1234/5678");
        assert_eq!(cmd.words(), vec!["aws-prod", "prod-admin"]);
    }

    #[test]
    fn empty_text_is_no_words() {
        let cmd = parse_command(b"command=%2Faccess&text=&user_id=U1&trigger_id=t").unwrap();
        assert!(cmd.words().is_empty());
    }

    #[test]
    fn missing_user_is_an_error() {
        assert!(matches!(parse_command(b"command=%2Faccess&trigger_id=t"), Err(PayloadError::Form(_))));
    }

    mod no_panic {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
                if let Ok(command) = parse_command(&body) {
                    let _ = command.words();
                }
            }

            #[test]
            fn any_text_in_every_field(text in any::<String>(), user in any::<String>(), trigger in any::<String>()) {
                let body = serde_urlencoded::to_string([
                    ("command", "/access"), ("text", &text), ("user_id", &user), ("trigger_id", &trigger),
                ]).unwrap();
                let command = parse_command(body.as_bytes()).unwrap();
                prop_assert_eq!(command.words().concat(), text.split_whitespace().collect::<String>());
            }
        }
    }
}
