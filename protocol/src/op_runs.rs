//! How a batch of ops is laid out on the wire: in runs of one author's consecutive
//! ops, the author and the first sequence number once per run, each op's clock as a
//! step from the one before (with whether a signature follows, in one number). A
//! backlog is a few long runs, so an op costs its payload and two bytes or so, not its
//! author's 8-byte id and its number again; a live batch of
//! scattered ops is a run per op, about as long as before. Any `Vec<WireOp>` codes
//! and decodes back exactly (steps wrap, so clocks need not grow).

use serde::de::{DeserializeSeed, Error as _, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, SerializeTuple};
use serde::{Deserializer, Serialize, Serializer};

use canopy_canvas::{NodeId, OpId};

use crate::authorship::Signature;
use crate::message::{WireOp, MAX_OPS_PER_MESSAGE};

/// Serializes `ops` as runs (for `#[serde(with = "op_runs")]`).
pub fn serialize<S: Serializer>(ops: &[WireOp], serializer: S) -> Result<S::Ok, S::Error> {
    let runs = runs(ops);
    let mut seq = serializer.serialize_seq(Some(runs.len()))?;
    for run in runs {
        seq.serialize_element(&Run(run))?;
    }
    seq.end()
}

/// Reads runs back into the ops they stand for, straight into one vector: a run
/// whose numbers would pass `u64::MAX`, or more than [`MAX_OPS_PER_MESSAGE`] ops in
/// all, is an error as soon as it is read (so a frame of tiny ops cannot make a
/// decoder hold many times its bytes).
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<WireOp>, D::Error> {
    deserializer.deserialize_seq(Runs)
}

/// The runs of a message.
struct Runs;

impl<'de> Visitor<'de> for Runs {
    type Value = Vec<WireOp>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("runs of ops")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut runs: A) -> Result<Vec<WireOp>, A::Error> {
        let mut ops = Vec::new();
        while runs.next_element_seed(RunOf(&mut ops))?.is_some() {}
        Ok(ops)
    }
}

/// One run, appended to the ops read so far.
struct RunOf<'a>(&'a mut Vec<WireOp>);

impl<'de> DeserializeSeed<'de> for RunOf<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_tuple(3, self)
    }
}

impl<'de> Visitor<'de> for RunOf<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a run: author, first number, ops")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut run: A) -> Result<(), A::Error> {
        let author: NodeId = run
            .next_element()?
            .ok_or_else(|| A::Error::invalid_length(0, &"a run of three parts"))?;
        let first: u64 = run
            .next_element()?
            .ok_or_else(|| A::Error::invalid_length(1, &"a run of three parts"))?;
        run.next_element_seed(RunOps {
            ops: self.0,
            author,
            first,
        })?
        .ok_or_else(|| A::Error::invalid_length(2, &"a run of three parts"))
    }
}

/// A run's ops, appended to the ops read so far.
struct RunOps<'a> {
    ops: &'a mut Vec<WireOp>,
    author: NodeId,
    first: u64,
}

impl<'de> DeserializeSeed<'de> for RunOps<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RunOps<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a run's ops")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        let mut lamport = 0u64;
        let mut next_seq = Some(self.first);
        while let Some(RunEntry {
            step,
            payload,
            signature,
        }) = entries.next_element::<RunEntry>()?
        {
            if self.ops.len() >= MAX_OPS_PER_MESSAGE {
                return Err(A::Error::custom(format!(
                    "more than {MAX_OPS_PER_MESSAGE} ops in one message"
                )));
            }
            let seq =
                next_seq.ok_or_else(|| A::Error::custom("a run of ops numbered past u64::MAX"))?;
            next_seq = seq.checked_add(1);
            lamport = lamport.wrapping_add(step);
            self.ops.push(WireOp {
                id: OpId {
                    node: self.author,
                    seq,
                },
                lamport,
                payload,
                signature,
            });
        }
        Ok(())
    }
}

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

/// A run's ops as written: `(head, payload bytes, signature if any)` each, where the
/// head is the clock step and whether a signature follows in one number (`step × 2 +
/// signed`): one byte for most ops, where a step and an option took two.
struct Entries<'a>(&'a [WireOp]);

impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        let mut lamport = 0u64;
        for op in self.0 {
            let step = op.lamport.wrapping_sub(lamport);
            lamport = op.lamport;
            seq.serialize_element(&EntryOut {
                step,
                payload: &op.payload,
                signature: op.signature.as_ref(),
            })?;
        }
        seq.end()
    }
}

/// One entry of a run as it is written.
struct EntryOut<'a> {
    step: u64,
    payload: &'a [u8],
    signature: Option<&'a Signature>,
}

/// An entry's head: its clock step and whether a signature follows.
fn head_of(step: u64, signed: bool) -> u128 {
    (u128::from(step) << 1) | u128::from(signed)
}

impl Serialize for EntryOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = if self.signature.is_some() { 3 } else { 2 };
        let mut tuple = serializer.serialize_tuple(len)?;
        tuple.serialize_element(&head_of(self.step, self.signature.is_some()))?;
        tuple.serialize_element(serde_bytes::Bytes::new(self.payload))?;
        if let Some(signature) = self.signature {
            tuple.serialize_element(signature)?;
        }
        tuple.end()
    }
}

/// One entry of a run as it is read.
struct RunEntry {
    step: u64,
    payload: Vec<u8>,
    signature: Option<Signature>,
}

impl<'de> serde::Deserialize<'de> for RunEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RunEntry, D::Error> {
        deserializer.deserialize_tuple(3, EntryVisitor)
    }
}

/// Reads an entry: the head, the payload, and the signature only if the head says.
struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = RunEntry;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an op of a run")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut entry: A) -> Result<RunEntry, A::Error> {
        let head: u128 = entry
            .next_element()?
            .ok_or_else(|| A::Error::invalid_length(0, &self))?;
        let step =
            u64::try_from(head >> 1).map_err(|_| A::Error::custom("a clock step past u64::MAX"))?;
        let payload: serde_bytes::ByteBuf = entry
            .next_element()?
            .ok_or_else(|| A::Error::invalid_length(1, &self))?;
        let signature = if head & 1 == 1 {
            Some(
                entry
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(2, &self))?,
            )
        } else {
            None
        };
        Ok(RunEntry {
            step,
            payload: payload.into_vec(),
            signature,
        })
    }
}
