//! A replica that holds ops as their authors signed them, bytes and all, reading
//! nothing of a payload past its header ([`crate::shape_of`]): what a relay that
//! cannot read content keeps and serves (`docs/BLIND-RELAYS.md`, step 3). Each
//! author's log is held as the document holds it ([`HeldLog`]): duplicates are
//! known, and a seal stands in place of its stroke's ops from the start on. So for
//! the same ops taken, it serves what the document serves for any version vector
//! (property test `an_opaque_replica_serves_what_the_document_serves`), without
//! rebuilding or encoding anything: the bytes served are the bytes taken.
//!
//! Plain data: no clocks, no I/O.

use std::collections::BTreeMap;
use std::sync::Arc;

use canopy_canvas::{
    missing_spans, Applied, HeldLog, LogEntry, NodeId, OpId, Shape, StrokeRule, VersionVector,
};

use crate::message::WireOp;

/// An op as the replica holds it: its payload, and for a seal the stroke it
/// stands for.
#[derive(Debug, Clone)]
struct Held {
    payload: Arc<[u8]>,
    /// For a seal held in place of its stroke's ops, the stroke's start.
    seal_of: Option<u64>,
}

impl LogEntry for Held {
    fn covers_from(&self, seq: u64) -> u64 {
        self.seal_of.map_or(seq, |stroke| stroke.min(seq))
    }

    fn is_seal(&self) -> bool {
        self.seal_of.is_some()
    }
}

/// Ops of every author, as signed bytes, with seals in place of their strokes.
#[derive(Debug, Clone, Default)]
pub struct OpaqueReplica {
    logs: BTreeMap<NodeId, HeldLog<Held>>,
    /// Payload bytes held, for budgets and status.
    bytes: u64,
}

impl OpaqueReplica {
    /// Holds nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes an op whose run was verified, of shape `shape` (its header's): new, or a
    /// duplicate of one held or stood for by a seal held. A seal that would cut
    /// another seal's ops in two is held as a plain op, as the document holds it
    /// (only an author that broke the stroke rule can make one).
    pub fn take(&mut self, wire: &WireOp, shape: Shape) -> Applied {
        let id = wire.id;
        let log = self.logs.entry(id.node).or_default();
        if log.contains(id.seq) {
            return Applied::Duplicate;
        }
        let seal_of = match shape {
            Shape::Seal(stroke) if stroke < id.seq && !log.straddles(stroke, id.seq) => {
                Some(stroke)
            }
            _ => None,
        };
        // A seal takes the place of every op logged from its stroke's start.
        let dropped: u64 = seal_of.map_or(0, |stroke| {
            log.range(stroke, id.seq - 1)
                .map(|(_, _, held)| held.payload.len() as u64)
                .sum()
        });
        let held = Held {
            payload: Arc::from(wire.payload.as_slice()),
            seal_of,
        };
        log.insert(id.seq, wire.lamport, held);
        self.bytes = self
            .bytes
            .saturating_sub(dropped)
            .saturating_add(wire.payload.len() as u64);
        Applied::New
    }

    /// True if op `id` is held, or stood for by a seal held.
    pub fn contains(&self, id: OpId) -> bool {
        self.logs
            .get(&id.node)
            .is_some_and(|log| log.contains(id.seq))
    }

    /// Per author, the ops held without gaps (a seal standing for the ones before).
    pub fn version_vector(&self) -> VersionVector {
        let mut vector = VersionVector::new();
        for (node, log) in &self.logs {
            if log.contiguous() > 0 {
                vector.0.insert(*node, log.contiguous());
            }
        }
        vector
    }

    /// Ops of `author` held without gaps (its entry in the version vector).
    pub fn seen_of(&self, author: NodeId) -> u64 {
        self.logs.get(&author).map_or(0, HeldLog::contiguous)
    }

    /// Where `author`'s log as held stands towards the stroke rule, as
    /// [`canopy_canvas::Document::stroke_rule`] says for the same ops: what a log
    /// restored from signed heads lacks. Read from the headers of its last op and
    /// of the open stroke's points.
    pub fn stroke_rule(&self, author: NodeId) -> StrokeRule {
        let Some(log) = self.logs.get(&author) else {
            return StrokeRule::default();
        };
        let Some(last) = log.last_seq() else {
            return StrokeRule::default();
        };
        let shape_at = |seq: u64, held: &Held| {
            let id = OpId { node: author, seq };
            crate::shape_of(id, &held.payload).unwrap_or(Shape::Other)
        };
        let shape = log
            .get(last)
            .map_or(Shape::Other, |(_, held)| shape_at(last, held));
        let points = |stroke: u64| -> u32 {
            log.range(stroke, last)
                .map(|(seq, _, held)| match shape_at(seq, held) {
                    Shape::Points(of, count) if of == stroke => count,
                    _ => 0,
                })
                .fold(0u32, u32::saturating_add)
        };
        StrokeRule::after(last, shape, points)
    }

    /// Ops held, a seal counting as one (as a document counts them).
    pub fn op_count(&self) -> u64 {
        self.count_missing_from(&VersionVector::new()) as u64
    }

    /// A SHA-256 over every op held — author, number, clock and signed bytes, in
    /// (author, number) order: what two holders that cannot read the ops compare to
    /// tell they hold the same. A pass over everything held.
    pub fn digest(&self) -> [u8; 32] {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        for (node, log) in &self.logs {
            for (seq, lamport, held) in log.range(1, u64::MAX) {
                context.update(&node.0.to_be_bytes());
                context.update(&seq.to_be_bytes());
                context.update(&lamport.to_be_bytes());
                context.update(&(held.payload.len() as u64).to_be_bytes());
                context.update(&held.payload);
            }
        }
        let mut digest = [0u8; 32];
        digest.copy_from_slice(context.finish().as_ref());
        digest
    }

    /// Per author, the highest number held, gaps or not: where a backlog served in
    /// pieces stops.
    pub fn latest_seqs(&self) -> VersionVector {
        let mut latest = VersionVector::new();
        for (node, log) in &self.logs {
            if let Some(seq) = log.last_seq() {
                latest.0.insert(*node, seq);
            }
        }
        latest
    }

    /// One piece of a backlog, as [`canopy_canvas::Document::ops_missing_piece`]
    /// serves it: up to `limit` ops that `seen` lacks, none past `upto`, in
    /// (author, number) order after `after`.
    pub fn missing_piece(
        &self,
        seen: &VersionVector,
        upto: &VersionVector,
        after: Option<OpId>,
        limit: usize,
    ) -> Vec<WireOp> {
        let mut ops = Vec::new();
        for (node, log, from, to) in missing_spans(&self.logs, seen, upto, after) {
            for (seq, lamport, held) in log.range(from, to) {
                if ops.len() >= limit {
                    return ops;
                }
                ops.push(wire_of(node, seq, lamport, held));
            }
        }
        ops
    }

    /// Every op held that `seen` lacks.
    pub fn missing_from(&self, seen: &VersionVector) -> Vec<WireOp> {
        self.missing_piece(seen, &self.latest_seqs(), None, usize::MAX)
    }

    /// How many ops [`OpaqueReplica::missing_from`] would serve, none built.
    pub fn count_missing_from(&self, seen: &VersionVector) -> usize {
        self.logs
            .iter()
            .map(|(node, log)| log.count_past(seen.get(*node)))
            .sum()
    }

    /// `author`'s ops numbered `from..=to` as held (a seal in place of the ops it
    /// stands for): what a holder hashes again to judge a head or a seal.
    pub fn author_ops(&self, author: NodeId, from: u64, to: u64) -> Vec<WireOp> {
        self.logs.get(&author).map_or_else(Vec::new, |log| {
            log.range(from, to)
                .map(|(seq, lamport, held)| wire_of(author, seq, lamport, held))
                .collect()
        })
    }

    /// Drops every op of `author` (proven to split its log, or its edits removed).
    pub fn without_author(&mut self, author: NodeId) {
        if let Some(log) = self.logs.remove(&author) {
            self.bytes = self.bytes.saturating_sub(log_bytes(&log));
        }
    }

    /// Each author in `last_kept` holding its ops only up to the number given: what
    /// every replica holds once those authors' grant is revoked with these cut-offs
    /// ([`canopy_canvas::Document::without_ops_past`]). A seal numbered past its
    /// author's cut-off goes, and with it the ops it stands for. Where the cut-off
    /// is its stroke's start, the document keeps the start, rebuilt from what the
    /// seal restates; a replica that cannot read the seal keeps nothing of the
    /// stroke, so honest revokers never cut there (they cut before a stroke that
    /// may still be sealed). Costs the kept ops of the authors named.
    pub fn without_ops_past(&mut self, last_kept: &BTreeMap<NodeId, u64>) {
        for (author, last) in last_kept {
            let Some(log) = self.logs.remove(author) else {
                continue;
            };
            let mut kept = HeldLog::default();
            let mut kept_bytes = 0u64;
            for (seq, lamport, held) in log.range(1, *last) {
                kept_bytes = kept_bytes.saturating_add(held.payload.len() as u64);
                kept.insert(seq, lamport, held.clone());
            }
            self.bytes = self
                .bytes
                .saturating_sub(log_bytes(&log))
                .saturating_add(kept_bytes);
            if kept.last_seq().is_some() {
                self.logs.insert(*author, kept);
            }
        }
    }

    /// Payload bytes held (seals in place of the ops they stand for).
    pub fn payload_bytes(&self) -> u64 {
        self.bytes
    }
}

/// Payload bytes one author's log holds.
fn log_bytes(log: &HeldLog<Held>) -> u64 {
    log.range(1, u64::MAX)
        .map(|(_, _, held)| held.payload.len() as u64)
        .sum()
}

fn wire_of(node: NodeId, seq: u64, lamport: u64, held: &Held) -> WireOp {
    WireOp {
        id: OpId { node, seq },
        lamport,
        payload: held.payload.to_vec(),
        signature: None,
    }
}
