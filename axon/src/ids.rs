//! Process-unique identities for components and boxes.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Identifies one inbox or outbox for the lifetime of the process; links are named
/// by the outbox that feeds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct BoxId(pub(crate) u64);

/// Identifies one spawned component for the lifetime of the process, even when two
/// components share a display name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ComponentId(pub(crate) u64);

pub(crate) fn next_box_id() -> BoxId {
    BoxId(NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

pub(crate) fn next_component_id() -> ComponentId {
    ComponentId(NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

impl std::fmt::Display for BoxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "box#{}", self.0)
    }
}

impl std::fmt::Display for ComponentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "component#{}", self.0)
    }
}
