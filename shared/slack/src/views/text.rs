//! Small text helpers shared by the views.

use airlock_core::Actor;
use slack_morphism::prelude::*;

/// `s` cut to at most `max` characters, ending with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Escapes `&`, `<` and `>` so user text cannot form mentions or links in mrkdwn.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// How a message names who did something: a mention for Slack users, else the email or rule.
pub fn actor_label(actor: &Actor) -> String {
    match actor {
        Actor::User { slack_id: Some(id), .. } => format!("<@{id}>"),
        Actor::User { email, .. } => escape(email.as_str()),
        Actor::Rule { name } => format!("rule `{}`", escape(name)),
        Actor::System { name } => format!("Airlock ({})", escape(name)),
    }
}

pub(crate) fn plain(s: &str, max: usize) -> SlackBlockPlainTextOnly {
    SlackBlockPlainTextOnly::from(truncate(s, max))
}

pub(crate) fn mrkdwn(s: &str, max: usize) -> SlackBlockText {
    SlackBlockMarkDownText::new(truncate(s, max)).into()
}

pub(crate) fn section(s: &str) -> SlackBlock {
    SlackSectionBlock::new().with_text(mrkdwn(s, super::limits::SECTION_TEXT)).into()
}

pub(crate) fn header(s: &str) -> SlackBlock {
    SlackHeaderBlock::new(plain(s, super::limits::HEADER_TEXT)).into()
}

pub(crate) fn context(s: &str) -> SlackBlock {
    SlackContextBlock::new(vec![SlackBlockMarkDownText::new(truncate(s, super::limits::SECTION_TEXT)).into()]).into()
}

/// An option of a static select, within the text and value limits (None when the value is too long).
pub(crate) fn choice(text: &str, value: &str) -> Option<SlackBlockChoiceItem<SlackBlockPlainTextOnly>> {
    (value.chars().count() <= super::limits::OPTION_VALUE && !value.is_empty())
        .then(|| SlackBlockChoiceItem::new(plain(text, super::limits::OPTION_TEXT), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_by_characters_with_an_ellipsis() {
        assert_eq!(truncate("short", 24), "short");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("ééééé", 3).chars().count(), 3);
    }

    #[test]
    fn escapes_mrkdwn_control_characters() {
        assert_eq!(escape("<!channel> & <@U1>"), "&lt;!channel&gt; &amp; &lt;@U1&gt;");
    }
}
