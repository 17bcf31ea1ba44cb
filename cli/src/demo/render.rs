//! Renders Slack Web API calls as the text a person would read in Slack.

use serde_json::Value;

/// Who is who in the demo, to print names instead of ids.
pub struct Names<'a>(pub &'a [(&'a str, &'a str)]);

impl Names<'_> {
    fn of<'s>(&'s self, id: &'s str) -> &'s str {
        self.0.iter().find(|(i, _)| *i == id).map(|(_, n)| *n).unwrap_or(id)
    }

    /// Replaces `<@U123>` mentions and `<#C123>` channel links with names.
    fn text(&self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(start) = rest.find('<') {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('>') else { break };
            let inner = &rest[start + 1..start + end];
            match inner.strip_prefix('@').or_else(|| inner.strip_prefix('#')) {
                Some(id) => out.push_str(self.of(id.split('|').next().unwrap_or(id))),
                None => out.push_str(inner.split('|').next_back().unwrap_or(inner)),
            }
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        out.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&")
    }
}

/// One call as readable lines, or nothing for calls nobody sees (lookups).
pub fn call(names: &Names, method: &str, body: &Value) -> Option<String> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let (title, blocks) = match method {
        "chat.postMessage" => {
            let channel = s(&body["channel"]);
            (format!("💬 {}", channel_name(names, &channel)), body)
        }
        "chat.update" => {
            // Only the outcome line changes on a card: show that, not the whole card again.
            let place = channel_name(names, &s(&body["channel"]));
            let outcome =
                render_blocks(names, &body["blocks"]).into_iter().filter(|l| l.starts_with(':')).collect::<Vec<_>>();
            let mut lines = vec![format!("✏️  the card in {place} now says")];
            lines.extend(outcome.iter().map(|l| format!("   ┃ {}", emoji(l))));
            return Some(lines.join("\n"));
        }
        "chat.postEphemeral" => {
            (format!("👁  only {} sees, in #{}", names.of(&s(&body["user"])), names.of(&s(&body["channel"]))), body)
        }
        "views.open" | "views.update" | "views.push" => ("🪟 a form opens".to_string(), &body["view"]),
        "views.publish" => (format!("🏠 App Home of {}", names.of(&s(&body["user_id"]))), &body["view"]),
        _ => return None,
    };
    let mut lines = vec![title];
    if let Some(t) = blocks["title"]["text"].as_str() {
        lines.push(format!("   ┃ {}", t));
    }
    let rendered = render_blocks(names, &blocks["blocks"]);
    if let (true, Some(text)) = (rendered.is_empty(), blocks["text"].as_str()) {
        lines.push(format!("   ┃ {}", names.text(text)));
    }
    lines.extend(rendered.into_iter().map(|l| format!("   ┃ {l}")));
    Some(lines.iter().map(|l| emoji(l)).collect::<Vec<_>>().join("\n"))
}

fn channel_name(names: &Names, channel: &str) -> String {
    if channel.starts_with('C') { format!("#{}", names.of(channel)) } else { format!("DM to {}", names.of(channel)) }
}

/// Slack's emoji shortcodes as the characters Slack shows.
fn emoji(line: &str) -> String {
    const CODES: &[(&str, &str)] = &[
        (":white_check_mark:", "✅"),
        (":x:", "❌"),
        (":lock:", "🔒"),
        (":unlock:", "🔓"),
        (":inbox_tray:", "📥"),
        (":hourglass_flowing_sand:", "⏳"),
        (":hourglass:", "⌛"),
        (":warning:", "⚠️"),
        (":no_entry_sign:", "🚫"),
        (":stopwatch:", "⏱"),
    ];
    CODES.iter().fold(line.to_string(), |l, (code, glyph)| l.replace(code, glyph))
}

fn render_blocks(names: &Names, blocks: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    for block in blocks.as_array().into_iter().flatten() {
        let text = |v: &Value| names.text(v["text"].as_str().unwrap_or_default());
        match block["type"].as_str().unwrap_or_default() {
            "header" => lines.push(format!("** {} **", text(&block["text"]))),
            "section" => {
                if block["text"].is_object() {
                    lines.extend(text(&block["text"]).lines().map(String::from));
                }
                for field in block["fields"].as_array().into_iter().flatten() {
                    lines.push(text(field).replace('\n', " "));
                }
            }
            "context" => {
                let parts: Vec<_> = block["elements"].as_array().into_iter().flatten().map(text).collect();
                lines.push(parts.join("  "));
            }
            "actions" => {
                let buttons: Vec<_> = block["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| format!("[ {} ]", text(&e["text"])))
                    .collect();
                lines.push(buttons.join(" "));
            }
            "input" => {
                let label = text(&block["label"]);
                let kind = block["element"]["type"].as_str().unwrap_or_default().replace('_', " ");
                let options: Vec<_> =
                    block["element"]["options"].as_array().into_iter().flatten().map(|o| text(&o["text"])).collect();
                let choices = if options.is_empty() { String::new() } else { format!(": {}", options.join(" | ")) };
                lines.push(format!("▢ {label} ({kind}){choices}"));
            }
            "divider" => lines.push("─────".into()),
            _ => {}
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_a_card_with_names_and_buttons() {
        let names = Names(&[("U2", "Bob"), ("C0APPROVALS", "approvals")]);
        let body = json!({"channel": "C0APPROVALS", "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Access request"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "<@U2> wants *Sandbox*"}},
            {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Approve"}}]}
        ]});
        let out = call(&names, "chat.postMessage", &body).unwrap();
        assert!(out.contains("#approvals"));
        assert!(out.contains("Bob wants *Sandbox*"));
        assert!(out.contains("[ Approve ]"));
        assert!(call(&names, "users.info", &body).is_none());
    }
}
