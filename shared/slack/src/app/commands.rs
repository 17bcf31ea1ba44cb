//! Slash commands: `/access`, `/access <flow> [target]`, `/access whoami`, `/access help`.

use super::{SlackApp, SlackReply, bad_request, guest_refusal};
use crate::payload::parse_command;
use crate::views;
use airlock_core::{Flow, Identity, Role};

impl SlackApp {
    pub(super) async fn command(&self, body: &[u8]) -> SlackReply {
        let command = match parse_command(body) {
            Ok(c) => c,
            Err(e) => return bad_request(e),
        };
        let words = command.words();
        let first = words.first().map(|w| w.to_ascii_lowercase());
        if first.as_deref() == Some("help") {
            return SlackReply::ephemeral(&views::help_text(&self.airlock.config().slack.command));
        }
        let who = match self.identify(&command.user_id).await {
            Ok(who) => who,
            Err(message) => return SlackReply::ephemeral(&message),
        };
        if first.as_deref() == Some("whoami") {
            return SlackReply::ephemeral(&self.whoami(&who).await);
        }
        if let Some(refusal) = guest_refusal(&who) {
            return SlackReply::ephemeral(&refusal);
        }
        let flows = self.airlock.flows_for(&who).await;
        let result = match first.as_deref() {
            Some(name) if flows.iter().any(|f| f.name == name) => {
                let command_name = &self.airlock.config().slack.command;
                match choose_flow(&flows, name, words.get(1..).unwrap_or_default(), command_name) {
                    Ok((flow, target)) => self.open_form(&command.trigger_id, flow, target.as_deref()).await,
                    Err(message) => Err(message),
                }
            }
            _ => self.open_picker(&command.trigger_id, &flows).await,
        };
        match result {
            Ok(()) => SlackReply::ack(),
            Err(message) => SlackReply::ephemeral(&message),
        }
    }

    /// `/access whoami`, for anyone: their email, role and why they have it, and what they may request.
    async fn whoami(&self, who: &Identity) -> String {
        let flows = self.airlock.flows_for(who).await;
        let (role, why) = match self.airlock.explain_role(who).await {
            Ok(answer) => (answer.role, answer.why()),
            Err(e) => {
                tracing::warn!(error = %e, "could not explain a role");
                (who.role, "Airlock cannot tell why just now".into())
            }
        };
        let article = if role == Role::Admin { "an" } else { "a" };
        let mut text =
            format!("{}\nYou are {article} *{role}*: {}.", views::whoami_text(who, &flows), views::escape(&why));
        if role == Role::Guest {
            text.push_str(
                " Guests cannot request access through Airlock, and approve only in flows that let guests decide; \
                 ask an admin if you need more.",
            );
        }
        views::truncate(&text, views::limits::SECTION_TEXT)
    }

    /// Opens the flow picker; `Err` is what to tell the user.
    pub(super) async fn open_picker(&self, trigger_id: &str, flows: &[&Flow]) -> Result<(), String> {
        if flows.is_empty() {
            return Err("There is nothing you can request through Airlock yet.".into());
        }
        self.api.open_view(trigger_id, views::flow_picker_modal(flows)).await.map(drop).map_err(|e| {
            tracing::warn!(error = %e, "could not open the flow picker");
            "Sorry, Airlock could not open the request form. Please try again.".to_string()
        })
    }

    async fn open_form(&self, trigger_id: &str, flow: &Flow, target: Option<&str>) -> Result<(), String> {
        self.api.open_view(trigger_id, views::request_form_modal(flow, target)).await.map(drop).map_err(|e| {
            tracing::warn!(flow = %flow.name, error = %e, "could not open the request form");
            "Sorry, Airlock could not open the request form. Please try again.".to_string()
        })
    }

    /// The flow picker for `who` (the App Home button); `Err` is what to tell them.
    pub(super) async fn open_picker_for(&self, who: &Identity, trigger_id: &str) -> Result<(), String> {
        if let Some(refusal) = guest_refusal(who) {
            return Err(refusal);
        }
        let flows = self.airlock.flows_for(who).await;
        self.open_picker(trigger_id, &flows).await
    }
}

/// Which of the flows named `name` `/access <name> [environment] [target words]` opens, and the
/// target (name or label, several words allowed) to preselect. The environment may be left out
/// when `name` is in one environment only. `Err` is what to tell the person: the valid
/// environments (and the flow's targets, when there is a single flow).
fn choose_flow<'f>(
    flows: &[&'f Flow],
    name: &str,
    args: &[&str],
    command: &str,
) -> Result<(&'f Flow, Option<String>), String> {
    let named: Vec<&'f Flow> = flows.iter().copied().filter(|f| f.name == name).collect();
    let quoted = |items: Vec<&str>| items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ");
    let environments = quoted(named.iter().map(|f| f.environment.as_str()).collect());
    let words = |w: &[&str]| Some(w.join(" ")).filter(|w| !w.is_empty());
    if let Some((first, rest)) = args.split_first()
        && let Some(flow) = named.iter().find(|f| f.environment.eq_ignore_ascii_case(first))
    {
        return Ok((flow, words(rest)));
    }
    match (named.as_slice(), words(args)) {
        ([flow], None) => Ok((flow, None)),
        ([flow], Some(target)) if flow.find_target(&target).is_some() => Ok((flow, Some(target))),
        ([flow], Some(unknown)) => Err(views::truncate(
            &format!(
                "`{name}` has no environment or target `{}`. Its environment: {environments}; its targets: {}.",
                views::escape(&unknown),
                quoted(flow.targets.iter().map(|t| t.name.as_str()).collect())
            ),
            views::limits::SECTION_TEXT,
        )),
        (_, given) => {
            let told = match given {
                Some(word) => format!("`{name}` has no environment `{}`. ", views::escape(&word)),
                None => String::new(),
            };
            Err(views::truncate(
                &format!(
                    "{told}`{name}` is in several environments: {environments}. Say which: `{command} {name} <environment> [target]`."
                ),
                views::limits::SECTION_TEXT,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::choose_flow;
    use airlock_core::{Config, Flow};

    const CONFIG: &str = "organization: {primary_domain: example.com}
flows:
  - name: db
    label: Database
    approvers: {users: [bob@example.com]}
    max_duration: 1h
    targets:
      - {name: prod-admin, label: Prod admin, kind: record}
      - {name: reader, kind: record}
  - name: db
    environment: staging
    label: Database
    approvers: {users: [bob@example.com]}
    max_duration: 1h
    targets:
      - {name: prod-admin, label: Prod admin, kind: record}
  - name: vpn
    environment: corp
    approvers: {users: [bob@example.com]}
    max_duration: 1h
    targets:
      - {name: office, label: Office network, kind: record}
";

    fn choose<'c>(config: &'c Config, text: &str) -> Result<(&'c Flow, Option<String>), String> {
        let flows: Vec<&Flow> = config.flows.iter().collect();
        let words: Vec<&str> = text.split_whitespace().collect();
        choose_flow(&flows, words[0], &words[1..], "/access")
    }

    fn chosen(config: &Config, text: &str) -> (String, Option<String>) {
        let (flow, target) = choose(config, text).unwrap_or_else(|e| panic!("{text}: {e}"));
        (flow.reference(), target)
    }

    #[test]
    fn the_environment_word_picks_the_flow_and_the_rest_preselects_a_target() {
        let config = Config::from_yaml(CONFIG).unwrap();
        assert_eq!(chosen(&config, "db staging"), ("db@staging".into(), None));
        assert_eq!(chosen(&config, "db PROD"), ("db".into(), None));
        assert_eq!(chosen(&config, "db staging Prod admin"), ("db@staging".into(), Some("Prod admin".into())));
    }

    #[test]
    fn one_environment_needs_no_environment_word() {
        let config = Config::from_yaml(CONFIG).unwrap();
        assert_eq!(chosen(&config, "vpn"), ("vpn@corp".into(), None));
        assert_eq!(chosen(&config, "vpn corp office"), ("vpn@corp".into(), Some("office".into())));
        assert_eq!(
            chosen(&config, "vpn office network"),
            ("vpn@corp".into(), Some("office network".into())),
            "a target's label, several words, without the environment"
        );
    }

    #[test]
    fn unknown_or_missing_environments_are_answered_with_the_valid_ones() {
        let config = Config::from_yaml(CONFIG).unwrap();
        let missing = choose(&config, "db").unwrap_err();
        assert!(missing.contains("several environments: `prod`, `staging`"), "{missing}");
        assert!(missing.contains("/access db <environment>"), "{missing}");
        let unknown = choose(&config, "db dev").unwrap_err();
        assert!(unknown.contains("no environment `dev`") && unknown.contains("`prod`, `staging`"), "{unknown}");
        let unknown = choose(&config, "db reader").unwrap_err();
        assert!(unknown.contains("`prod`, `staging`"), "a target alone does not pick among environments: {unknown}");
        let neither = choose(&config, "vpn home").unwrap_err();
        assert!(neither.contains("no environment or target `home`"), "{neither}");
        assert!(neither.contains("environment: `corp`") && neither.contains("`office`"), "{neither}");
    }
}
