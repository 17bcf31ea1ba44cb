//! Routing grants to the escalator for their target's kind, and the `record` escalator.

use crate::email::Email;
use crate::flow::Target;
use crate::ports::{Escalation, EscalationError, Escalator, GrantSpec, ProgressSink};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;

/// The escalators by target kind (`aws_sso`, `aws_sso_group`, `webhook`, `record`); itself an [`Escalator`].
#[derive(Clone, Default)]
pub struct EscalatorSet {
    by_kind: HashMap<&'static str, Arc<dyn Escalator>>,
}

impl EscalatorSet {
    /// A set that already handles `record` targets.
    pub fn new() -> Self {
        Self::default().with("record", Arc::new(RecordEscalator))
    }

    pub fn with(mut self, kind: &'static str, escalator: Arc<dyn Escalator>) -> Self {
        self.by_kind.insert(kind, escalator);
        self
    }

    fn for_grant(&self, grant: &GrantSpec) -> Result<&Arc<dyn Escalator>, EscalationError> {
        self.for_target(&grant.target)
    }

    fn for_target(&self, target: &Target) -> Result<&Arc<dyn Escalator>, EscalationError> {
        let kind = target.kind.name();
        self.by_kind
            .get(kind)
            .ok_or_else(|| EscalationError::Permanent(format!("no escalator for {kind} targets is configured here")))
    }
}

#[async_trait]
impl Escalator for EscalatorSet {
    async fn escalate(&self, grant: &GrantSpec) -> Result<Escalation, EscalationError> {
        self.for_grant(grant)?.escalate(grant).await
    }

    async fn escalate_reporting(
        &self,
        grant: &GrantSpec,
        progress: &dyn ProgressSink,
    ) -> Result<Escalation, EscalationError> {
        self.for_grant(grant)?.escalate_reporting(grant, progress).await
    }

    async fn deescalate(&self, grant: &GrantSpec) -> Result<(), EscalationError> {
        self.for_grant(grant)?.deescalate(grant).await
    }

    async fn holders(&self, target: &Target) -> Result<Option<Vec<Email>>, EscalationError> {
        match self.for_target(target) {
            Ok(escalator) => escalator.holders(target).await,
            Err(_) => Ok(None),
        }
    }
}

/// `record` targets: the grant exists only as Airlock's record; nothing else changes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordEscalator;

#[async_trait]
impl Escalator for RecordEscalator {
    async fn escalate(&self, _grant: &GrantSpec) -> Result<Escalation, EscalationError> {
        Ok(Escalation::Granted)
    }

    async fn deescalate(&self, _grant: &GrantSpec) -> Result<(), EscalationError> {
        Ok(())
    }
}
