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

    /// Total ops covered, summed over authors (saturating: a peer's vector can hold
    /// any numbers).
    pub fn total(&self) -> u64 {
        self.0
            .values()
            .fold(0u64, |sum, seq| sum.saturating_add(*seq))
    }

    /// Raises every author's entry to at least `other`'s: afterwards this vector
    /// covers every op either covered.
    pub fn merge(&mut self, other: &VersionVector) {
        for (node, seq) in &other.0 {
            let entry = self.0.entry(*node).or_insert(0);
            *entry = (*entry).max(*seq);
        }
    }

    pub(crate) fn set(&mut self, node: NodeId, seq: u64) {
        self.0.insert(node, seq);
    }
}
