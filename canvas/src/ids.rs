//! Identities of nodes and ops.
//!
//! Every op is named by its author and the author's sequence number, so every peer
//! names it the same way and duplicates are recognised wherever they arrive.

use serde::{Deserialize, Serialize};

/// A node (peer) of the collaboration tree: the author of ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId(pub u64);

/// The unique name of an op: `(author, n)` for the author's n-th op, from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OpId {
    /// Who made the op.
    pub node: NodeId,
    /// The author's running count, from 1, without gaps.
    pub seq: u64,
}

/// A stroke is named by the op that started it.
pub type StrokeId = OpId;

/// A page is named by the op that created it (or [`FIRST_PAGE`]).
pub type PageId = OpId;

/// The page every document starts with; it exists on every peer without an op.
pub const FIRST_PAGE: PageId = OpId {
    node: NodeId(0),
    seq: 0,
};

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::fmt::Display for OpId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.node, self.seq)
    }
}
