//! Where a cold start goes: with `RUST_LOG=airlock::startup=debug` every start-up phase logs the
//! microseconds since [`begin`] (the top of `main`), which `bench/coldstart` reads.

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

/// Marks the top of `main`; later [`mark`]s count from here.
pub fn begin() {
    START.get_or_init(Instant::now);
}

/// Logs that start-up reached `phase`.
pub fn mark(phase: &'static str) {
    let since = *START.get_or_init(Instant::now);
    tracing::debug!(target: "airlock::startup", phase, elapsed_us = since.elapsed().as_micros() as u64);
}
