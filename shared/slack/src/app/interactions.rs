//! Interactions: Approve / Approve with changes / Deny / Revoke now clicks on cards, Approve extension
//! / Deny extension on extension cards, Cancel request, Revoke now and Extend in DMs and the App
//! Home, the App Home's buttons, and modal submissions (flow picker, request form, deny reason,
//! approve with changes, extend).

use super::{SlackApp, SlackReply, bad_request};
use crate::payload::{BlockAction, BlockActions, Interaction, ViewSubmission, parse_interaction};
use crate::views::{self, limits};

use airlock_core::error::{ChangeRefusal, DecideError, GrantChangeError, SubmitError};
use airlock_core::services::DecideOutcome;
use airlock_core::{AccessRequest, Flow, GrantDuration, RequestId, Role, Verdict};
use serde_json::{Map, Value, json};

impl SlackApp {
    pub(super) async fn interaction(&self, body: &[u8]) -> SlackReply {
        match parse_interaction(body) {
            Err(e) => bad_request(e),
            Ok(Interaction::BlockActions(click)) => {
                for action in &click.actions {
                    self.block_action(&click, action).await;
                }
                SlackReply::ack()
            }
            Ok(Interaction::ViewSubmission(submission)) => self.view_submission(&submission).await,
            Ok(Interaction::BlockSuggestion(suggestion)) => self.suggest(&suggestion).await,
            Ok(Interaction::ViewClosed(_) | Interaction::Other) => SlackReply::ack(),
        }
    }

    /// Handles one clicked element; anything the clicker should know is sent to them.
    async fn block_action(&self, click: &BlockActions, action: &BlockAction) {
        let notice = match action.action_id.as_str() {
            views::ACTION_APPROVE => self.approve(click, action).await.unwrap_or_else(Some),
            views::ACTION_APPROVE_WITH_CHANGES => self.ask_changes(click, action).await.err(),
            views::ACTION_DENY => self.ask_deny_reason(click, action).await.err(),
            views::ACTION_CANCEL => self.cancel(click, action).await.err(),
            views::ACTION_REVOKE => self.revoke(click, action).await.err(),
            views::ACTION_OPEN_PICKER => self.open_picker_from_home(click).await.err(),
            views::ACTION_EXTEND => self.open_extension(click, action).await.err(),
            views::ACTION_APPROVE_EXTENSION => {
                self.decide_extension(click, action, Verdict::Approve).await.unwrap_or_else(Some)
            }
            views::ACTION_DENY_EXTENSION => {
                self.decide_extension(click, action, Verdict::Deny).await.unwrap_or_else(Some)
            }
            _ => None,
        };
        if let Some(message) = notice {
            self.explain(click, &message).await;
        }
    }

    async fn open_picker_from_home(&self, click: &BlockActions) -> Result<(), String> {
        let trigger =
            click.trigger_id.as_deref().ok_or("Slack sent no trigger to open the form with; please try again.")?;
        let who = self.identify(&click.user.id).await?;
        self.open_picker_for(&who, trigger).await
    }

    /// Tells the clicker what happened: ephemerally in the card's channel, or by DM when the card
    /// is a DM or not in a channel. Queued in the outbox, so the click is acked without waiting for
    /// Slack and the message survives a rate limit; not in the request's own ordered stream, so a
    /// storm of refused clicks never delays the requester's messages.
    async fn explain(&self, click: &BlockActions, message: &str) {
        let user = click.user.id.as_str();
        if let Err(e) = self.airlock.tell_user(None, user, click.channel_id(), message).await {
            tracing::warn!(error = %e, "could not queue the explanation of a click");
        }
    }

    /// Approves; `Ok` carries a note for the approver when more approvals are needed, `Err` why
    /// nothing changed.
    async fn approve(&self, click: &BlockActions, action: &BlockAction) -> Result<Option<String>, String> {
        let id = request_id(action)?;
        let who = self.identify(&click.user.id).await?;
        match self.airlock.decide(&id, &who, Verdict::Approve, None).await {
            Ok(DecideOutcome::Decided(_)) => Ok(None),
            Ok(DecideOutcome::ApprovalRecorded { approvals, required, .. }) => {
                Ok(Some(format!("Your approval is recorded ({approvals} of {required} needed).")))
            }
            Err(e) => Err(self.refusal(&id, &e).await),
        }
    }

    /// Opens the Approve with changes modal once the clicker is known to be allowed to approve.
    async fn ask_changes(&self, click: &BlockActions, action: &BlockAction) -> Result<(), String> {
        let id = request_id(action)?;
        let who = self.identify(&click.user.id).await?;
        let request = match self.airlock.may_approve(&id, &who).await {
            Ok(request) => request,
            Err(e) => return Err(self.refusal(&id, &e).await),
        };
        let flow = self.flow(request.flow())?;
        let trigger = click.trigger_id.as_deref().ok_or("Slack sent no trigger to open the dialog with.")?;
        self.api.open_view(trigger, views::approve_with_changes_modal(&request, flow)).await.map(drop).map_err(|e| {
            tracing::warn!(request_id = %id, error = %e, "could not open the approve-with-changes dialog");
            "Sorry, Airlock could not open the dialog. Please try again.".to_string()
        })
    }

    /// Cancel request (the requester's DM or App Home): the request is withdrawn.
    async fn cancel(&self, click: &BlockActions, action: &BlockAction) -> Result<(), String> {
        let id = request_id(action)?;
        let who = self.identify(&click.user.id).await?;
        match self.airlock.cancel(&id, &who, None).await {
            Ok(_) => Ok(()),
            Err(GrantChangeError::NotPending(_) | GrantChangeError::DecidedMeanwhile) => Err(self.moved_on(&id).await),
            Err(e) => Err(change_refusal(&e)),
        }
    }

    /// Revoke now (the requester's DM or App Home, or a card): the grant ends at once.
    async fn revoke(&self, click: &BlockActions, action: &BlockAction) -> Result<(), String> {
        let id = request_id(action)?;
        let who = self.identify(&click.user.id).await?;
        match self.airlock.revoke(&id, &who, None).await {
            Ok(_) => Ok(()),
            Err(GrantChangeError::NotActive(_) | GrantChangeError::Changed) => Err(self.moved_on(&id).await),
            Err(e) => Err(change_refusal(&e)),
        }
    }

    /// Extend (the requester's DM or App Home): opens the Extend modal when the clicker may ask
    /// (the requester or an admin) and the grant can be extended now; otherwise says why not.
    async fn open_extension(&self, click: &BlockActions, action: &BlockAction) -> Result<(), String> {
        let id = request_id(action)?;
        let who = self.identify(&click.user.id).await?;
        let request = self.load(&id).await?;
        let is_requester = who.email == request.requester().email;
        if who.role == Role::Guest || !(is_requester || who.role == Role::Admin) {
            return Err(change_refusal(&GrantChangeError::NotAllowed(ChangeRefusal::Extend)));
        }
        let flow = self.flow_of(&request)?;
        match views::extension_refusal(&request, flow) {
            None => {}
            Some(GrantChangeError::NotActive(status)) if status.is_terminal() => return Err(self.moved_on(&id).await),
            Some(e) => return Err(change_refusal(&e)),
        }
        let trigger = click.trigger_id.as_deref().ok_or("Slack sent no trigger to open the dialog with.")?;
        self.api.open_view(trigger, views::extend_modal(&request, flow)).await.map(drop).map_err(|e| {
            tracing::warn!(request_id = %id, error = %e, "could not open the extend dialog");
            "Sorry, Airlock could not open the dialog. Please try again.".to_string()
        })
    }

    /// Approve extension / Deny extension on an extension card; `Ok` carries a note for the approver
    /// when more approvals are needed, `Err` why nothing changed.
    async fn decide_extension(
        &self,
        click: &BlockActions,
        action: &BlockAction,
        verdict: Verdict,
    ) -> Result<Option<String>, String> {
        let id = request_id(action)?;
        let who = self.identify(&click.user.id).await?;
        match self.airlock.decide_extension(&id, &who, verdict, None).await {
            Ok(request) => match (request.pending_extension(), self.airlock.config().flow_of(&request)) {
                (Some(waiting), Some(flow)) => Ok(Some(format!(
                    "Your approval of the extension is recorded ({} of {} needed).",
                    waiting.approvals.len(),
                    flow.approvers.required
                ))),
                _ => Ok(None),
            },
            Err(DecideError::AlreadyDecided(_)) => match self.load(&id).await {
                Ok(request) => Err(match self.airlock.config().flow_of(&request) {
                    Some(flow) => views::extension_unchanged_text(&request, flow),
                    None => format!("Nothing changed: this request is {}.", request.status()),
                }),
                Err(message) => Err(message),
            },
            Err(e) => Err(refusal(&e)),
        }
    }

    async fn load(&self, id: &RequestId) -> Result<AccessRequest, String> {
        self.airlock.get_request(id).await.map_err(|e| format!("Sorry, something went wrong: {e}. Please try again."))
    }

    fn flow_of(&self, request: &AccessRequest) -> Result<&Flow, String> {
        self.airlock
            .config()
            .flow_of(request)
            .ok_or_else(|| format!("The flow `{}` is no longer configured.", request.flow()))
    }

    /// Why a decision changed nothing; for a request that moved on, where it stands and who moved it.
    async fn refusal(&self, id: &RequestId, e: &DecideError) -> String {
        match e {
            DecideError::AlreadyDecided(_) => self.moved_on(id).await,
            e => refusal(e),
        }
    }

    /// What a click on a request that moved on is told: its status and who moved it.
    async fn moved_on(&self, id: &RequestId) -> String {
        match self.airlock.get_request(id).await {
            Ok(request) => match self.airlock.config().flow(request.flow()) {
                Some(flow) => views::unchanged_text(&request, flow),
                None => format!("Nothing changed: this request is {}.", request.status()),
            },
            Err(e) => format!("Sorry, something went wrong: {e}. Please try again."),
        }
    }

    /// Opens the deny-reason modal once the clicker is known to be allowed to deny.
    async fn ask_deny_reason(&self, click: &BlockActions, action: &BlockAction) -> Result<(), String> {
        let id = request_id(action)?;
        let who = self.identify(&click.user.id).await?;
        let request = match self.airlock.may_deny(&id, &who).await {
            Ok(request) => request,
            Err(e) => return Err(self.refusal(&id, &e).await),
        };
        let flow = self
            .airlock
            .config()
            .flow_of(&request)
            .ok_or_else(|| format!("The flow `{}` is no longer configured.", request.flow()))?;
        let trigger = click.trigger_id.as_deref().ok_or("Slack sent no trigger to open the dialog with.")?;
        self.api.open_view(trigger, views::deny_reason_modal(&id, flow)).await.map(drop).map_err(|e| {
            tracing::warn!(request_id = %id, error = %e, "could not open the deny dialog");
            "Sorry, Airlock could not open the deny dialog. Please try again.".to_string()
        })
    }

    fn flow(&self, name: &str) -> Result<&Flow, String> {
        self.airlock.config().flow(name).ok_or_else(|| format!("The flow `{name}` is no longer configured."))
    }

    async fn view_submission(&self, submission: &ViewSubmission) -> SlackReply {
        let view = &submission.view;
        let callback = view.callback_id.as_str();
        if callback == views::FLOW_PICKER_CALLBACK {
            let picked = view.value(views::FLOW_BLOCK, views::FLOW_BLOCK).and_then(|v| v.single());
            return match picked.and_then(|name| self.airlock.config().flow(name)) {
                Some(flow) => update(views::request_form_modal(flow, None)),
                None => errors([(views::FLOW_BLOCK.to_string(), "Choose what you need access to.".to_string())]),
            };
        }
        if let Some(from_callback) = callback.strip_prefix(views::REQUEST_CALLBACK_PREFIX) {
            let name = if view.private_metadata.is_empty() { from_callback } else { view.private_metadata.as_str() };
            return self.submit_form(submission, name).await;
        }
        if callback == views::DENY_CALLBACK {
            return self.deny_with_reason(submission).await;
        }
        if callback == views::CHANGES_CALLBACK {
            return self.approve_with_changes(submission).await;
        }
        if callback == views::EXTEND_CALLBACK {
            return self.extend(submission).await;
        }
        SlackReply::ack()
    }

    async fn submit_form(&self, submission: &ViewSubmission, flow_name: &str) -> SlackReply {
        let flow = match self.flow(flow_name) {
            Ok(flow) => flow,
            Err(message) => return update(views::error_modal("Not submitted", &message)),
        };
        let who = match self.identify(&submission.user.id).await {
            Ok(who) => who,
            Err(message) => return update(views::error_modal("Not submitted", &message)),
        };
        // A replay of the same signed bytes (accepted for 5 minutes either way) creates nothing.
        let replay_window = std::time::Duration::from_secs(15 * 60);
        match self.airlock.claim_once(&submission.replay_key(), replay_window).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(view_id = %submission.view.id, flow = %flow.name, "ignored a replayed form submission");
                return SlackReply::json(&json!({ "response_action": "clear" }));
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not record the form submission");
                return update(views::error_modal("Not submitted", "Airlock is unavailable; please try again."));
            }
        }
        let input = views::form_input(flow, &submission.view);
        match self.airlock.submit(&who, input).await {
            Ok(request) => {
                tracing::info!(request_id = %request.id(), flow = %flow.name, "request submitted from Slack");
                SlackReply::json(&json!({ "response_action": "clear" }))
            }
            Err(SubmitError::Invalid(fields)) if !fields.is_empty() => {
                errors(fields.into_iter().map(|f| (views::block_id_of_field(&f.field), f.message)))
            }
            Err(e @ SubmitError::Duplicate(_)) => errors([("target".to_string(), e.to_string())]),
            Err(e) => update(views::error_modal("Not submitted", &e.to_string())),
        }
    }

    async fn deny_with_reason(&self, submission: &ViewSubmission) -> SlackReply {
        let view = &submission.view;
        let Ok(id) = view.private_metadata.parse::<RequestId>() else {
            return update(views::error_modal("Not denied", "This dialog does not name a request."));
        };
        let who = match self.identify(&submission.user.id).await {
            Ok(who) => who,
            Err(message) => return update(views::error_modal("Not denied", &message)),
        };
        let reason = view.value(views::DENY_REASON_BLOCK, views::DENY_REASON_BLOCK).and_then(|v| v.single());
        match self.airlock.decide(&id, &who, Verdict::Deny, reason.map(str::to_string)).await {
            Ok(_) => SlackReply::json(&json!({ "response_action": "clear" })),
            Err(e) => update(views::error_modal("Not denied", &self.refusal(&id, &e).await)),
        }
    }

    /// The Approve with changes modal submitted: approve with the chosen duration and comment.
    async fn approve_with_changes(&self, submission: &ViewSubmission) -> SlackReply {
        let view = &submission.view;
        let Ok(id) = view.private_metadata.parse::<RequestId>() else {
            return update(views::error_modal("Not approved", "This dialog does not name a request."));
        };
        let chosen = view.value(views::CHANGES_DURATION_BLOCK, views::CHANGES_DURATION_BLOCK).and_then(|v| v.single());
        let duration = match chosen.map(GrantDuration::parse_or_seconds).transpose() {
            Ok(duration) => duration,
            Err(message) => return errors([(views::CHANGES_DURATION_BLOCK.to_string(), message)]),
        };
        let comment = view.value(views::CHANGES_COMMENT_BLOCK, views::CHANGES_COMMENT_BLOCK).and_then(|v| v.single());
        let who = match self.identify(&submission.user.id).await {
            Ok(who) => who,
            Err(message) => return update(views::error_modal("Not approved", &message)),
        };
        match self.airlock.approve_with_changes(&id, &who, duration, comment.map(str::to_string)).await {
            Ok(DecideOutcome::Decided(_)) => SlackReply::json(&json!({ "response_action": "clear" })),
            Ok(DecideOutcome::ApprovalRecorded { approvals, required, .. }) => {
                let text = format!("Your approval is recorded ({approvals} of {required} needed).");
                if let Err(e) = self.airlock.tell_user(None, &submission.user.id, None, &text).await {
                    tracing::warn!(error = %e, "could not queue the note of a recorded approval");
                }
                SlackReply::json(&json!({ "response_action": "clear" }))
            }
            Err(e @ DecideError::LongerThanAsked(_)) => {
                errors([(views::CHANGES_DURATION_BLOCK.to_string(), e.to_string())])
            }
            Err(e) => update(views::error_modal("Not approved", &self.refusal(&id, &e).await)),
        }
    }
}

impl SlackApp {
    /// The Extend modal submitted: ask for the chosen extra time with the reason given.
    async fn extend(&self, submission: &ViewSubmission) -> SlackReply {
        let view = &submission.view;
        let Ok(id) = view.private_metadata.parse::<RequestId>() else {
            return update(views::error_modal("Not extended", "This dialog does not name a request."));
        };
        let chosen = view.value(views::EXTEND_DURATION_BLOCK, views::EXTEND_DURATION_BLOCK).and_then(|v| v.single());
        let added = match chosen.map(GrantDuration::parse_or_seconds) {
            Some(Ok(added)) => added,
            Some(Err(message)) => return errors([(views::EXTEND_DURATION_BLOCK.to_string(), message)]),
            None => return errors([(views::EXTEND_DURATION_BLOCK.to_string(), "Choose how much longer.".to_string())]),
        };
        let reason = view.value(views::EXTEND_REASON_BLOCK, views::EXTEND_REASON_BLOCK).and_then(|v| v.single());
        let Some(reason) = reason.map(str::trim).filter(|r| !r.is_empty()) else {
            return errors([(views::EXTEND_REASON_BLOCK.to_string(), "Say why you need longer.".to_string())]);
        };
        let who = match self.identify(&submission.user.id).await {
            Ok(who) => who,
            Err(message) => return update(views::error_modal("Not extended", &message)),
        };
        // A replay of the same signed bytes asks nothing twice (a self-approved flow would extend twice).
        let replay_window = std::time::Duration::from_secs(15 * 60);
        match self.airlock.claim_once(&submission.replay_key(), replay_window).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(request_id = %id, "ignored a replayed extend submission");
                return SlackReply::json(&json!({ "response_action": "clear" }));
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not record the extend submission");
                return update(views::error_modal("Not extended", "Airlock is unavailable; please try again."));
            }
        }
        match self.airlock.ask_extension(&id, &who, added, reason).await {
            Ok(request) => {
                let waiting = request.pending_extension().is_some();
                tracing::info!(request_id = %id, added = %added, waiting, "extension asked from Slack");
                SlackReply::json(&json!({ "response_action": "clear" }))
            }
            Err(e @ GrantChangeError::TooLong(_)) => errors([(views::EXTEND_DURATION_BLOCK.to_string(), sentence(&e))]),
            Err(GrantChangeError::NotActive(status)) if status.is_terminal() => {
                update(views::error_modal("Not extended", &self.moved_on(&id).await))
            }
            Err(e) => update(views::error_modal("Not extended", &change_refusal(&e))),
        }
    }
}

/// An error's text as a sentence: capitalized, with a full stop.
fn sentence(e: &impl std::fmt::Display) -> String {
    let text = e.to_string();
    let mut chars = text.trim_end_matches('.').chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

fn request_id(action: &BlockAction) -> Result<RequestId, String> {
    action
        .value
        .as_deref()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "This button does not name a request.".to_string())
}

/// Why a cancel or revoke changed nothing, for the person who clicked.
fn change_refusal(e: &GrantChangeError) -> String {
    match e {
        GrantChangeError::Unavailable(_) | GrantChangeError::Internal(_) => {
            format!("Sorry, something went wrong: {e}. Please try again.")
        }
        _ => format!("Nothing changed: {}.", e.to_string().trim_end_matches('.')),
    }
}

/// Why a decision changed nothing, for the person who clicked.
fn refusal(e: &DecideError) -> String {
    match e {
        DecideError::Unavailable(_) | DecideError::Internal(_) => {
            format!("Sorry, something went wrong: {e}. Please try again.")
        }
        _ => format!("Nothing changed: {}.", e.to_string().trim_end_matches('.')),
    }
}

fn update(view: slack_morphism::prelude::SlackView) -> SlackReply {
    SlackReply::json(&json!({ "response_action": "update", "view": view }))
}

/// `response_action: errors`, one message per block (messages for the same block joined).
fn errors(items: impl IntoIterator<Item = (String, String)>) -> SlackReply {
    let mut by_block = Map::new();
    for (block, message) in items {
        let joined = match by_block.get(&block).and_then(Value::as_str) {
            Some(earlier) => format!("{earlier}; {message}"),
            None => message,
        };
        by_block.insert(block, Value::from(views::truncate(&joined, limits::SECTION_FIELD)));
    }
    SlackReply::json(&json!({ "response_action": "errors", "errors": by_block }))
}
