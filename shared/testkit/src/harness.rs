//! The services over the in-memory fakes ([`crate::fakes`]), with a handle on each fake: what core's
//! service tests drive.

use crate::fakes::{
    FixedDirectory, FixedOptions, ManualClock, MemoryStore, RecordingNotifier, RecordingWorkflow, ScriptedEscalator,
};
use airlock_core::config::EXAMPLE_CONFIG;
use airlock_core::escalators::EscalatorSet;
use airlock_core::ports::LogAuditSink;
use airlock_core::services::Delivered;
use airlock_core::{Airlock, Config, Deps};
use std::sync::Arc;

/// [`Airlock`] over the fakes: the people of [`FixedDirectory::default`], no select options, and
/// one escalator, [`ScriptedEscalator`], for every target of kind `record`.
pub struct Harness {
    pub airlock: Airlock,
    pub deps: Deps,
    pub store: Arc<MemoryStore>,
    pub workflow: Arc<RecordingWorkflow>,
    pub notifier: Arc<RecordingNotifier>,
    pub escalator: Arc<ScriptedEscalator>,
    pub clock: Arc<ManualClock>,
}

impl Harness {
    /// The services under the example config.
    pub fn new() -> Self {
        Self::with_config(Config::from_yaml(EXAMPLE_CONFIG).expect("the example config parses"))
    }

    /// The services under `config`.
    pub fn with_config(config: Config) -> Self {
        let store = Arc::new(MemoryStore::default());
        let workflow = Arc::new(RecordingWorkflow::default());
        let notifier = Arc::new(RecordingNotifier::default());
        let escalator = Arc::new(ScriptedEscalator::default());
        let clock = Arc::new(ManualClock::default());
        let deps = Deps {
            config: Arc::new(config),
            store: store.clone(),
            notifier: notifier.clone(),
            escalator: Arc::new(EscalatorSet::new().with("record", escalator.clone())),
            audit: Arc::new(LogAuditSink),
            directory: Arc::new(FixedDirectory::default()),
            options: Arc::new(FixedOptions::default()),
            clock: clock.clone(),
        };
        Self {
            airlock: Airlock::new(deps.clone(), workflow.clone()),
            deps,
            store,
            workflow,
            notifier,
            escalator,
            clock,
        }
    }

    /// The same ports and store under another config (a config change between two releases).
    pub fn reconfigured(&self, config: Config) -> Airlock {
        let deps = Deps { config: Arc::new(config), ..self.deps.clone() };
        Airlock::new(deps, self.workflow.clone())
    }

    /// Delivers every queued notification (what the runner's deliverer does in the background).
    pub async fn deliver(&self) -> Delivered {
        self.airlock.steps().deliver_notifications().await.expect("the in-memory store delivers")
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}
