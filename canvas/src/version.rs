//! Version vectors: what a peer has seen, for sync in both directions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{NodeId, OpId};

/// For each author, the highest `seq` up to which every op of that author is known
/// (without gaps). Two peers exchange these and send each other what lies beyond.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionVector(pub BTreeMap<NodeId, u64>);

impl VersionVector {
    /// The empty vector: has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ops of `node` known without gaps.
    pub fn get(&self, node: NodeId) -> u64 {
        self.0.get(&node).copied().unwrap_or(0)
    }

    /// True when the op is within what this vector has seen.
    pub fn covers(&self, op: OpId) -> bool {
        op.seq <= self.get(op.node)
    }

    /// Number of authors mentioned.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing has been seen.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Total ops covered, summed over authors.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub(crate) fn set(&mut self, node: NodeId, seq: u64) {
        self.0.insert(node, seq);
    }
}
