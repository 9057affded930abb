//! How a batch of ops is laid out on the wire: in runs of one author's consecutive
//! ops, the author and the first sequence number once per run, each op's clock as a
//! step from the one before. A backlog is a few long runs, so an op costs its payload
//! and a few bytes, not its author's 8-byte id and its number again; a live batch of
//! scattered ops is a run per op, about as long as before. Any `Vec<WireOp>` codes
//! and decodes back exactly (steps wrap, so clocks need not grow).

use serde::de::Error as _;
use serde::ser::{SerializeSeq, SerializeTuple};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use canopy_canvas::{NodeId, OpId};

use crate::authorship::Signature;
use crate::message::WireOp;

/// Serializes `ops` as runs (for `#[serde(with = "op_runs")]`).
pub fn serialize<S: Serializer>(ops: &[WireOp], serializer: S) -> Result<S::Ok, S::Error> {
    let runs = runs(ops);
    let mut seq = serializer.serialize_seq(Some(runs.len()))?;
    for run in runs {
        seq.serialize_element(&Run(run))?;
    }
    seq.end()
}

/// Reads runs back into the ops they stand for; a run whose numbers would pass
/// `u64::MAX` is an error.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<WireOp>, D::Error> {
    let runs: Vec<OwnedRun> = Vec::deserialize(deserializer)?;
    let mut ops = Vec::with_capacity(runs.iter().map(|run| run.2.len()).sum());
    for (author, first, entries) in runs {
        let mut lamport = 0u64;
        for (index, (step, payload, signature)) in entries.into_iter().enumerate() {
            let seq = u64::try_from(index)
                .ok()
                .and_then(|index| first.checked_add(index))
                .ok_or_else(|| D::Error::custom("a run of ops numbered past u64::MAX"))?;
            lamport = lamport.wrapping_add(step);
            ops.push(WireOp {
                id: OpId { node: author, seq },
                lamport,
                payload: payload.into_vec(),
                signature,
            });
        }
    }
    Ok(ops)
}

/// One run as it is read: author, first number, and per op (clock step, payload,
/// signature).
type OwnedRun = (
    NodeId,
    u64,
    Vec<(u64, serde_bytes::ByteBuf, Option<Signature>)>,
);

/// `ops` cut where the author changes or the numbers stop following on.
fn runs(ops: &[WireOp]) -> Vec<&[WireOp]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for index in 1..=ops.len() {
        let continues = ops.get(index).is_some_and(|op| {
            let before = &ops[index - 1];
            op.id.node == before.id.node && Some(op.id.seq) == before.id.seq.checked_add(1)
        });
        if !continues {
            runs.push(&ops[start..index]);
            start = index;
        }
    }
    runs
}

/// A run as it is written: `(author, first number, entries)`.
struct Run<'a>(&'a [WireOp]);

impl Serialize for Run<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let first = self.0.first().map(|op| op.id);
        let first = first.ok_or_else(|| serde::ser::Error::custom("an empty run of ops"))?;
        let mut tuple = serializer.serialize_tuple(3)?;
        tuple.serialize_element(&first.node)?;
        tuple.serialize_element(&first.seq)?;
        tuple.serialize_element(&Entries(self.0))?;
        tuple.end()
    }
}

/// A run's ops as written: `(clock step, payload bytes, signature)` each.
struct Entries<'a>(&'a [WireOp]);

impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        let mut lamport = 0u64;
        for op in self.0 {
            let step = op.lamport.wrapping_sub(lamport);
            lamport = op.lamport;
            seq.serialize_element(&(step, serde_bytes::Bytes::new(&op.payload), &op.signature))?;
        }
        seq.end()
    }
}
