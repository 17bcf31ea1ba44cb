//! The handler tests' assembly: the example config's services over the ports a test chooses, with
//! the testkit's fakes for the rest (a directory that knows nobody, no select options).

use airlock_core::config::EXAMPLE_CONFIG;
use airlock_core::escalators::EscalatorSet;
use airlock_core::ports::{Clock, LogAuditSink, Notifier, Store};
use airlock_core::{Config, Deps};
use airlock_testkit::fakes::{FixedDirectory, FixedOptions};
use std::sync::Arc;

/// The example config's services over `store` and `notifier`, at `clock`'s time.
pub fn deps(store: Arc<dyn Store>, notifier: Arc<dyn Notifier>, clock: Arc<dyn Clock>) -> Deps {
    Deps {
        config: Arc::new(Config::from_yaml(EXAMPLE_CONFIG).unwrap()),
        store,
        notifier,
        escalator: Arc::new(EscalatorSet::new()),
        audit: Arc::new(LogAuditSink),
        directory: Arc::new(FixedDirectory::new(&[])),
        options: Arc::new(FixedOptions::default()),
        clock,
    }
}
