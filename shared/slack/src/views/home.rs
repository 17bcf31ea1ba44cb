//! The App Home tab: a "Request access" button and the user's open requests.

use super::limits;
use super::messages::status_line;
use super::text::{escape, header, plain, section};
use airlock_core::{AccessRequest, Config};
use slack_morphism::prelude::*;

/// action_id of the Home tab's "Request access" button.
pub const ACTION_OPEN_PICKER: &str = "open_picker";

/// The Home tab for someone with `open` requests (pending, approved or active).
pub fn home_view(config: &Config, open: &[AccessRequest]) -> SlackView {
    let button = SlackBlockButtonElement::new(plain("Request access", limits::BUTTON_TEXT))
        .with_action_id(SlackActionId(ACTION_OPEN_PICKER.into()))
        .with_style(SlackBlockButtonStyle::Primary);
    let mut blocks: Vec<SlackBlock> = vec![
        header("Airlock"),
        section(&format!(
            "Temporary access, approved in Slack. Use the button or type `{} help`.",
            escape(&config.slack.command)
        )),
        SlackActionsBlock::new(vec![button.into()]).into(),
        SlackDividerBlock::new().into(),
        section("*Your open requests*"),
    ];
    if open.is_empty() {
        blocks.push(section("You have no open requests."));
    }
    for request in open {
        if blocks.len() >= limits::VIEW_BLOCKS {
            break;
        }
        let (label, target) = match config.flow(request.flow()) {
            Some(flow) => {
                (flow.label.as_str(), flow.target(request.target()).map_or(request.target(), |t| t.label.as_str()))
            }
            None => (request.flow(), request.target()),
        };
        let status = config
            .flow(request.flow())
            .map(|f| status_line(request, f))
            .unwrap_or_else(|| request.status().to_string());
        blocks.push(section(&format!("*{}* / {} · `{}`\n{status}", escape(label), escape(target), request.id())));
    }
    SlackView::Home(SlackHomeView::new(blocks))
}
