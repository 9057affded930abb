//! Proof that an author split its log: two signed continuations of one head that
//! cannot both be its log. Anyone with the session id can check it, so it travels the
//! tree like a revocation, and every replica leaves the author out.

use canopy_canvas::{OpId, Shape};
use serde::{Deserialize, Serialize};

use crate::authorship::{
    op_weight, AuthorKey, Head, Signature, CHECKPOINT, MAX_PAYLOAD, SIGNED_SPAN,
};
use crate::ids::SessionId;

/// One side of a split log: the author's head at the op where the logs part, and the
/// ops after it up to the nearest op the author signed (at most [`CHECKPOINT`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fork {
    /// The head at the op where the logs part.
    pub head: Head,
    /// `(lamport, payload)` of the ops after it, up to the signed one.
    pub ops: Vec<(u64, Vec<u8>)>,
    /// The author's signature over the head after the last of `ops`.
    pub signature: Signature,
}

impl Fork {
    /// True if the author signed where this side leads from op `seq`. The ops are
    /// numbered on from `seq`; a seal among them hashes on from the head before its
    /// stroke's start, which must lie within this side (a seal of a stroke begun
    /// before `seq` proves nothing here).
    fn verify(&self, author: &AuthorKey, session: &SessionId, seq: u64) -> bool {
        if self.ops.len() > CHECKPOINT as usize || !within_fork_bytes(&self.ops) {
            return false;
        }
        let node = author.node_id();
        // The head after each op from `seq` on (the first is `self.head`).
        let mut heads = Vec::with_capacity(self.ops.len() + 1);
        heads.push(self.head);
        let mut head = self.head;
        let mut at = seq;
        for (lamport, payload) in &self.ops {
            let Some(next) = at.checked_add(1) else {
                return false;
            };
            at = next;
            let shape = crate::payload::decode_action(OpId { node, seq: at }, payload)
                .map_or(Shape::Other, |action| Shape::of(&action));
            let from = match shape {
                Shape::Seal(stroke) => {
                    let before = stroke
                        .checked_sub(1)
                        .and_then(|before| before.checked_sub(seq))
                        .and_then(|index| usize::try_from(index).ok())
                        .and_then(|index| heads.get(index));
                    match before {
                        Some(base) => *base,
                        None => return false,
                    }
                }
                _ => head,
            };
            head = from.next(at, *lamport, payload);
            heads.push(head);
        }
        self.signature.verify(author, session, at, &head)
    }
}

/// Most weight one side of a split carries: the ops before the next signed op (at
/// most [`SIGNED_SPAN`]) and that op (at most [`MAX_PAYLOAD`] and its 16).
pub const MAX_FORK_BYTES: u64 = SIGNED_SPAN + MAX_PAYLOAD as u64 + 16;

fn within_fork_bytes(ops: &[(u64, Vec<u8>)]) -> bool {
    let weight: u64 = ops
        .iter()
        .map(|(_, payload)| op_weight(payload.len()))
        .sum();
    weight <= MAX_FORK_BYTES
}

/// Proof that an author signed two different logs: at op `seq` their heads differ, and
/// the author signed where each leads. Anyone with the session id can check it, so it
/// travels the tree like a revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The author.
    pub author: AuthorKey,
    /// The op where the logs part.
    pub seq: u64,
    /// One log (the one with the smaller head at `seq`).
    pub first: Fork,
    /// The other.
    pub second: Fork,
}

impl Evidence {
    /// Evidence from two sides, in canonical order; `None` unless their heads differ
    /// and both verify.
    pub fn new(
        session: &SessionId,
        author: AuthorKey,
        seq: u64,
        one: Fork,
        other: Fork,
    ) -> Option<Evidence> {
        let (first, second) = if one.head <= other.head {
            (one, other)
        } else {
            (other, one)
        };
        let evidence = Evidence {
            author,
            seq,
            first,
            second,
        };
        evidence.verify(session).then_some(evidence)
    }

    /// The evidence as files keep it (bincode).
    pub fn to_bytes(&self) -> Vec<u8> {
        bincode::serde::encode_to_vec(self, bincode::config::standard()).unwrap_or_default()
    }

    /// Reads kept evidence (not verified: see [`Evidence::verify`]).
    pub fn from_bytes(bytes: &[u8]) -> Option<Evidence> {
        let config = bincode::config::standard().with_limit::<{ crate::frame::MAX_FRAME }>();
        let (evidence, used): (Evidence, usize) =
            bincode::serde::decode_from_slice(bytes, config).ok()?;
        (used == bytes.len()).then_some(evidence)
    }

    /// True if the heads at `seq` differ and the author signed where each leads.
    pub fn verify(&self, session: &SessionId) -> bool {
        self.first.head != self.second.head
            && self.first.verify(&self.author, session, self.seq)
            && self.second.verify(&self.author, session, self.seq)
    }
}
