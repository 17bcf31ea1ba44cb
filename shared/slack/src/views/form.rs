//! The flow picker and the request form modals, and reading a submitted form back.
//!
//! Block ids are stable (`target`, `duration`, `reason`, `field:<name>`) and each input's action id
//! equals its block id, so core's field errors map onto blocks with `response_action: errors`.

use super::limits;
use super::text::{choice, escape, plain, section, truncate};
use crate::payload::View;
use airlock_core::flow::{DEFAULT_ENVIRONMENT, SsoScope, Target, TargetKind};
use airlock_core::ports::SelectOption;
use airlock_core::request::MAX_TARGETS;
use airlock_core::services::SubmitInput;
use airlock_core::{FieldSpec, FieldType, Flow, GrantDuration};
use serde_json::{Value, json};
use slack_morphism::prelude::*;

/// callback_id of the flow picker modal.
pub const FLOW_PICKER_CALLBACK: &str = "flow_picker";
/// block_id (and action_id) of the picker's flow select.
pub const FLOW_BLOCK: &str = "flow";
/// callback_id of a request form is this prefix and the flow name; private_metadata is the flow's
/// [`Flow::reference`] (its name, or `name@environment` outside the default environment).
pub const REQUEST_CALLBACK_PREFIX: &str = "request:";

const TARGET: &str = "target";
const DURATION: &str = "duration";
const REASON: &str = "reason";
const FIELD_PREFIX: &str = "field:";
/// block_id (and action_id) of the account select of a target that lists accounts.
pub const ACCOUNTS: &str = "accounts";
/// block_id (and action_id) of its permission-set select.
pub const PERMISSION_SET: &str = "permission_set";
/// Core accepts reasons up to this long.
const MAX_REASON_CHARS: u64 = 2_000;

/// The block id of a form input named as in core's `FieldError::field`.
pub fn block_id_of_field(field: &str) -> String {
    match field {
        TARGET | DURATION | REASON | ACCOUNTS | PERMISSION_SET => field.to_string(),
        // Several targets are chosen in the target input too.
        "targets" => TARGET.to_string(),
        custom => truncate(&format!("{FIELD_PREFIX}{custom}"), limits::ID),
    }
}

/// The custom field a block id belongs to.
pub fn field_of_block_id(block_id: &str) -> Option<&str> {
    block_id.strip_prefix(FIELD_PREFIX)
}

fn modal(title: &str, blocks: Vec<SlackBlock>) -> SlackModalView {
    let mut blocks = blocks;
    blocks.truncate(limits::VIEW_BLOCKS);
    SlackModalView::new(plain(title, limits::MODAL_TITLE), blocks).with_close(plain("Cancel", limits::MODAL_TITLE))
}

fn input(block_id: &str, label: &str, element: impl Into<SlackInputBlockElement>) -> SlackInputBlock {
    SlackInputBlock::new(plain(label, limits::INPUT_LABEL), element.into())
        .with_block_id(SlackBlockId(truncate(block_id, limits::ID)))
}

fn action_id(block_id: &str) -> SlackActionId {
    SlackActionId(truncate(block_id, limits::ID))
}

/// The modal listing the flows the user may request, as a static select. When any of them is
/// outside the default environment, each shows its environment: "Production admin (staging)".
pub fn flow_picker_modal(flows: &[&Flow]) -> SlackView {
    let show_environment = flows.iter().any(|f| f.environment != DEFAULT_ENVIRONMENT);
    let title = |f: &Flow| {
        if show_environment { format!("{} ({})", f.label, f.environment) } else { f.label.clone() }
    };
    let options: Vec<_> =
        flows.iter().filter_map(|f| choice(&title(f), &f.reference())).take(limits::OPTIONS_PER_SELECT).collect();
    let described: Vec<String> = flows
        .iter()
        .filter(|f| !f.description.trim().is_empty())
        .map(|f| format!("• *{}*: {}", escape(&title(f)), escape(f.description.trim())))
        .collect();
    let mut intro = "What do you need access to? You will fill in the details next.".to_string();
    for line in described {
        intro.push('\n');
        intro.push_str(&line);
    }
    let select = SlackBlockStaticSelectElement::new()
        .with_action_id(action_id(FLOW_BLOCK))
        .with_placeholder(plain("Choose access", limits::PLACEHOLDER))
        .with_options(options);
    let blocks = vec![section(&intro), input(FLOW_BLOCK, "Access", select).into()];
    SlackView::Modal(
        modal("Request access", blocks)
            .with_submit(plain("Next", limits::MODAL_TITLE))
            .with_callback_id(SlackCallbackId(FLOW_PICKER_CALLBACK.into())),
    )
}

/// The request form of `flow`, with `target` (a target's name or label) preselected when given.
pub fn request_form_modal(flow: &Flow, target: Option<&str>) -> SlackView {
    let mut blocks: Vec<SlackBlock> = Vec::new();
    let header = format!("*{}* ({})", escape(&flow.label), escape(&flow.environment));
    let intro = match flow.description.trim() {
        "" => header,
        d => format!("{header}\n{}", escape(d)),
    };
    blocks.push(section(&intro));
    blocks.push(target_input(flow, target).into());
    if let Some(TargetKind::AwsSsoScope(scope)) = scoped_target(flow, None).map(|t| &t.kind) {
        blocks.extend(account_inputs(flow, scope).map(SlackBlock::from));
    }
    blocks.push(duration_input(flow).into());
    let reason = SlackBlockPlainTextInputElement::new()
        .with_action_id(action_id(REASON))
        .with_multiline(true)
        .with_max_length(MAX_REASON_CHARS)
        .with_placeholder(plain("Why do you need this access?", limits::PLACEHOLDER));
    blocks.push(input(REASON, "Reason", reason).into());
    for spec in flow.fields.iter().take(limits::VIEW_BLOCKS - blocks.len()) {
        blocks.push(field_input(spec).into());
    }
    let callback = truncate(&format!("{REQUEST_CALLBACK_PREFIX}{}", flow.name), limits::ID);
    SlackView::Modal(
        modal(&flow.label, blocks)
            .with_submit(plain("Submit", limits::MODAL_TITLE))
            .with_callback_id(SlackCallbackId(callback))
            .with_private_metadata(truncate(&flow.reference(), limits::PRIVATE_METADATA)),
    )
}

fn target_input(flow: &Flow, preselect: Option<&str>) -> SlackInputBlock {
    let options: Vec<_> =
        flow.targets.iter().filter_map(|t| choice(&t.label, &t.name)).take(limits::OPTIONS_PER_SELECT).collect();
    let chosen = match preselect {
        Some(word) => flow.find_target(word),
        None if flow.targets.len() == 1 => flow.targets.first(),
        None => None,
    };
    let initial = chosen.and_then(|t| options.iter().find(|o| o.value == t.name).cloned());
    if flow.multiple_targets {
        let select = SlackBlockMultiStaticSelectElement::new()
            .with_action_id(action_id(TARGET))
            .with_placeholder(plain("Choose one or more targets", limits::PLACEHOLDER))
            .with_max_selected_items(MAX_TARGETS as u64)
            .with_options(options)
            .opt_initial_options(initial.map(|o| vec![o]));
        return input(TARGET, "Targets", select);
    }
    let select = SlackBlockStaticSelectElement::new()
        .with_action_id(action_id(TARGET))
        .with_placeholder(plain("Choose a target", limits::PLACEHOLDER))
        .with_options(options)
        .opt_initial_option(initial);
    input(TARGET, "Target", select)
}

/// The target the account and permission-set selects serve: the one chosen in `view` when it lists
/// accounts, else the flow's first target that does.
pub fn scoped_target<'f>(flow: &'f Flow, view: Option<&View>) -> Option<&'f Target> {
    let scoped = |t: &&Target| matches!(t.kind, TargetKind::AwsSsoScope(_));
    let chosen = view.and_then(|v| v.value(TARGET, TARGET)).and_then(|v| {
        let mut names = v.selected_values();
        names.extend(v.single());
        names.into_iter().filter_map(|n| flow.target(n)).find(scoped)
    });
    chosen.or_else(|| flow.targets.iter().find(scoped))
}

/// The account select (several accounts when the target allows more than one) and the
/// permission-set select, both searched as the user types (`/slack/options`).
fn account_inputs(flow: &Flow, scope: &SsoScope) -> [SlackInputBlock; 2] {
    let placeholder = plain("Search by account name or id", limits::PLACEHOLDER);
    let accounts: SlackInputBlockElement = if scope.max_accounts > 1 {
        SlackBlockMultiExternalSelectElement::new()
            .with_action_id(action_id(ACCOUNTS))
            .with_min_query_length(0)
            .with_max_selected_items(scope.max_accounts as u64)
            .with_placeholder(placeholder)
            .into()
    } else {
        SlackBlockExternalSelectElement::new()
            .with_action_id(action_id(ACCOUNTS))
            .with_min_query_length(0)
            .with_placeholder(placeholder)
            .into()
    };
    let sets = SlackBlockExternalSelectElement::new()
        .with_action_id(action_id(PERMISSION_SET))
        .with_min_query_length(0)
        .with_placeholder(plain("Choose a permission set", limits::PLACEHOLDER));
    // With other targets in the flow, the accounts are needed only when this target is chosen.
    let optional = flow.targets.len() > 1;
    let label = if scope.max_accounts > 1 { "Accounts" } else { "Account" };
    [
        input(ACCOUNTS, label, accounts).with_optional(optional),
        input(PERMISSION_SET, "Permission set", sets).with_optional(optional),
    ]
}

fn duration_input(flow: &Flow) -> SlackInputBlock {
    let options: Vec<_> = flow
        .durations
        .iter()
        .filter_map(|d| choice(&humanize(*d), &d.to_string()))
        .take(limits::OPTIONS_PER_SELECT)
        .collect();
    let select = SlackBlockStaticSelectElement::new()
        .with_action_id(action_id(DURATION))
        .with_placeholder(plain("How long?", limits::PLACEHOLDER))
        .opt_initial_option(options.first().cloned())
        .with_options(options);
    input(DURATION, "Duration", select)
}

/// `15 minutes`, `1 hour`, `2 days`.
pub(crate) fn humanize(d: GrantDuration) -> String {
    let s = d.as_secs();
    let (n, unit) = match s {
        _ if s.is_multiple_of(86_400) => (s / 86_400, "day"),
        _ if s.is_multiple_of(3_600) => (s / 3_600, "hour"),
        _ if s.is_multiple_of(60) => (s / 60, "minute"),
        _ => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn field_input(spec: &FieldSpec) -> SlackInputBlock {
    let id = block_id_of_field(&spec.name);
    let static_options = || -> Vec<_> {
        spec.allowed_values.iter().filter_map(|v| choice(v, v)).take(limits::OPTIONS_PER_SELECT).collect()
    };
    let text_input = |multiline: bool, max: u64| {
        SlackBlockPlainTextInputElement::new()
            .with_action_id(action_id(&id))
            .with_multiline(multiline)
            .with_max_length(max)
    };
    let element: SlackInputBlockElement = match spec.field_type {
        FieldType::Select if spec.prefetch.is_some() => SlackBlockExternalSelectElement::new()
            .with_action_id(action_id(&id))
            .with_min_query_length(0)
            .with_placeholder(plain("Search", limits::PLACEHOLDER))
            .into(),
        FieldType::String | FieldType::Text | FieldType::Select if !spec.allowed_values.is_empty() => {
            SlackBlockStaticSelectElement::new().with_action_id(action_id(&id)).with_options(static_options()).into()
        }
        FieldType::String | FieldType::Select => text_input(false, 150).into(),
        FieldType::Text => text_input(true, limits::INPUT_MAX_LENGTH).into(),
        FieldType::Int => SlackBlockNumberInputElement::new(false).with_action_id(action_id(&id)).into(),
        FieldType::Bool => SlackBlockCheckboxesElement::new(vec![SlackBlockChoiceItem::new(
            SlackBlockText::from(SlackBlockPlainText::from("Yes")),
            "true".to_string(),
        )])
        .with_action_id(action_id(&id))
        .into(),
        FieldType::Date => SlackBlockDatePickerElement::new().with_action_id(action_id(&id)).into(),
        FieldType::User => SlackBlockUsersSelectElement::new().with_action_id(action_id(&id)).into(),
    };
    // An unticked checkbox is a value (false), so a bool input is never required by Slack.
    let optional = !spec.required || spec.field_type == FieldType::Bool;
    input(&id, &spec.label, element).with_optional(optional)
}

/// The submitted form as core's input: strings for text, select, date and user inputs, number
/// inputs as their text, checkboxes as booleans, the targets of a multi-select as `targets`;
/// inputs left empty are absent.
pub fn form_input(flow: &Flow, view: &View) -> SubmitInput {
    let single = |block: &str| view.value(block, block).and_then(|v| v.single()).map(str::to_string);
    let targets: Vec<String> = view
        .value(TARGET, TARGET)
        .filter(|v| v.kind == "multi_static_select")
        .map(|v| v.selected_values().into_iter().map(str::to_string).collect())
        .unwrap_or_default();
    let mut input = SubmitInput {
        flow: flow.name.clone(),
        environment: Some(flow.environment.clone()),
        target: single(TARGET),
        targets,
        duration: single(DURATION),
        reason: single(REASON).unwrap_or_default(),
        ..SubmitInput::default()
    };
    if let Some(state) = view.value(ACCOUNTS, ACCOUNTS) {
        input.accounts = state.selected_values().into_iter().chain(state.single()).map(str::to_string).collect();
        input.permission_set = single(PERMISSION_SET);
    }
    for spec in &flow.fields {
        let id = block_id_of_field(&spec.name);
        let Some(state) = view.value(&id, &id) else { continue };
        let value = if state.kind == "checkboxes" {
            Some(Value::Bool(state.any_selected()))
        } else {
            state.single().map(Value::from)
        };
        if let Some(value) = value {
            input.fields.insert(spec.name.clone(), value);
        }
    }
    input
}

/// A small modal telling the user why their request could not be submitted.
pub fn error_modal(title: &str, message: &str) -> SlackView {
    SlackView::Modal(modal(title, vec![section(&escape(message))]).with_close(plain("Close", limits::MODAL_TITLE)))
}

/// The answer to a `block_suggestion`: `{"options": [...]}` within Slack's limits.
pub fn suggestion_options(options: &[SelectOption]) -> Value {
    let options: Vec<Value> = options
        .iter()
        .filter(|o| !o.value.is_empty() && o.value.chars().count() <= limits::OPTION_VALUE)
        .take(limits::OPTIONS_PER_SELECT)
        .map(|o| {
            let label = if o.label.trim().is_empty() { &o.value } else { &o.label };
            json!({"text": {"type": "plain_text", "text": truncate(label, limits::OPTION_TEXT)}, "value": o.value})
        })
        .collect();
    json!({ "options": options })
}
