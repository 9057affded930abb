//! Counters a node keeps for operators (the relay's `/metrics`): plain atomics the
//! components bump as they work, read when Prometheus scrapes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Counters shared by the components of a node (or of every session of a relay).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Ops received from links.
    pub ops_in: AtomicU64,
    /// Ops sent to links (one per op per link).
    pub ops_out: AtomicU64,
    /// Op payload bytes received from links.
    pub bytes_in: AtomicU64,
    /// Links that passed their handshake.
    pub links_opened: AtomicU64,
    /// Links or joins refused, by [`canopy_protocol::Refusal::kind`].
    refusals: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Counts a refusal of this kind.
    pub fn refused(&self, kind: &'static str) {
        let mut refusals = self
            .refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *refusals.entry(kind).or_default() += 1;
    }

    /// Refusals so far, by kind.
    pub fn refusals(&self) -> BTreeMap<&'static str, u64> {
        self.refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}
