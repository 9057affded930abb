//! Proof that an author split its log: two signed continuations of one head that
//! cannot both be its log. Anyone with the session id can check it, so it travels the
//! tree like a revocation, and every replica leaves the author out.

use canopy_canvas::{Limits, NodeId, Op, OpError, OpId, Shape, MAX_SEALED_OPS};
use serde::{Deserialize, Serialize};

use crate::authorship::{
    op_weight, AuthorKey, Head, Signature, CHECKPOINT, MAX_PAYLOAD, SIGNED_SPAN,
};
use crate::frame::FrameError;
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
    /// `(index in ops, number)` of each op numbered past the one after the op before
    /// it: a seal held in place of the ops it stands for, whose stroke starts right
    /// after the op before it. A holder that keeps seals in place of strokes' ops
    /// (every holder of pen strokes) can show its log only so.
    pub jumps: Vec<(u32, u64)>,
}

/// One step of a side: the op's number, the head after it and its shape.
type Step = (u64, Head, Shape);

impl Fork {
    /// A side from `head`, the head after op `before`: `ops` as `(number, lamport,
    /// payload)`, the last signed with `signature`. Numbers past the one after the
    /// op before are jumps (see [`Fork::jumps`]; checked where the side is).
    pub fn numbered(
        head: Head,
        before: u64,
        ops: Vec<(u64, u64, Vec<u8>)>,
        signature: Signature,
    ) -> Fork {
        let mut jumps = Vec::new();
        let mut at = before;
        for (index, (number, _, _)) in ops.iter().enumerate() {
            if Some(*number) != at.checked_add(1) {
                jumps.push((u32::try_from(index).unwrap_or(u32::MAX), *number));
            }
            at = *number;
        }
        Fork {
            head,
            ops: ops
                .into_iter()
                .map(|(_, lamport, payload)| (lamport, payload))
                .collect(),
            signature,
            jumps,
        }
    }

    /// No side: what the form of proof that needs one side ([`Evidence::refused`])
    /// carries as its other.
    pub fn none() -> Fork {
        Fork {
            head: Head([0; 32]),
            ops: Vec::new(),
            signature: Signature::from_bytes(&[0; 64]),
            jumps: Vec::new(),
        }
    }

    /// True if the author signed where this side leads from op `seq`. The ops are
    /// numbered on from `seq`; a seal among them hashes on from the head before its
    /// stroke's start, which must lie within this side (a seal of a stroke begun
    /// before `seq` proves nothing here).
    fn verify(&self, author: &AuthorKey, session: &SessionId, seq: u64) -> bool {
        self.walk(author, seq)
            .is_some_and(|walked| signed(&self.signature, author, session, seq, self.head, &walked))
    }

    /// Each of the ops from `seq` on, numbered, if the side is within bounds and
    /// every seal among them has its stroke's start within it (or right after the
    /// op before it, for a jump).
    fn walk(&self, author: &AuthorKey, seq: u64) -> Option<Vec<Step>> {
        if self.ops.len() > CHECKPOINT as usize || !within_fork_bytes(&self.ops) {
            return None;
        }
        walk(author.node_id(), self.head, seq, &self.ops, &self.jumps)
    }
}

/// Each op of `ops`, numbered on from `seq` (whose head is `head`), past the ops a seal
/// stands for at each of `jumps`: its number, the head after it and its shape. A seal
/// hashes on from the head before its stroke's start, which must lie within them; a
/// jump must be a seal of the stroke that starts right after the op before it. `None`
/// if one cannot be placed, or `jumps` are not in order within `ops`.
fn walk(
    node: NodeId,
    head: Head,
    seq: u64,
    ops: &[(u64, Vec<u8>)],
    jumps: &[(u32, u64)],
) -> Option<Vec<Step>> {
    // Heads by number, in order (a jump skips numbers).
    let mut heads = Vec::with_capacity(ops.len() + 1);
    heads.push((seq, head));
    let mut walked = Vec::with_capacity(ops.len());
    let mut jumps = jumps.iter().peekable();
    let (mut at, mut head) = (seq, head);
    for (index, (lamport, payload)) in ops.iter().enumerate() {
        let next = at.checked_add(1)?;
        let jump = jumps
            .next_if(|(at_index, _)| usize::try_from(*at_index).ok() == Some(index))
            .map(|(_, number)| *number);
        let number = jump.unwrap_or(next);
        // As a link's runs read it: from the payload's header alone.
        let shape =
            crate::payload::shape_of(OpId { node, seq: number }, payload).unwrap_or(Shape::Other);
        let from = match (jump, shape) {
            (Some(number), Shape::Seal(stroke))
                if stroke == next && number > next && number - next <= MAX_SEALED_OPS =>
            {
                head
            }
            (Some(_), _) => return None,
            (None, Shape::Seal(stroke)) => {
                let before = stroke.checked_sub(1)?;
                let place = heads
                    .binary_search_by_key(&before, |(number, _)| *number)
                    .ok()?;
                heads.get(place)?.1
            }
            (None, _) => head,
        };
        head = from.next(number, *lamport, payload);
        at = number;
        heads.push((at, head));
        walked.push((at, head, shape));
    }
    jumps.next().is_none().then_some(walked)
}

/// True if `signature` is the author's over the last head `walked` from op `seq`
/// reached (with no ops, over `start`, the head at `seq`).
fn signed(
    signature: &Signature,
    author: &AuthorKey,
    session: &SessionId,
    seq: u64,
    start: Head,
    walked: &[Step],
) -> bool {
    let (last, head) = walked
        .last()
        .map_or((seq, start), |(number, head, _)| (*number, *head));
    signature.verify(author, session, last, &head)
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

/// Proof that an author signed two different logs. Three forms:
/// - **two heads**: at op `seq` the logs' heads differ, and the author signed where
///   each leads;
/// - **under a seal** (`seal_at`): from one head, before op `seq`, one log goes on
///   with a seal of the stroke started at `seq` and the other with ops that are not
///   that stroke (or that reach the seal's number with another head), each to a
///   signature. A seal stands for the ops from its stroke's start to itself, so a
///   node that holds the other ops and is sent the seal alone sees no two heads at
///   one number: this is the proof it can make;
/// - **two seals** (`first_seal_at` and `seal_at`): from one head, before op `seq`,
///   each log goes on with a seal of the stroke started at `seq`, under two
///   numbers, each to a signature. One log holds one seal of a stroke, right after
///   its end; a node that holds its own seal in place of the stroke's ops cannot
///   show them, so this is the proof it can make.
///
/// A fourth form proves an author signed content no node takes:
/// - **refused content** (`refused`): one side, signed, holds an op whose payload
///   does not decode or that breaks the rules every node applies
///   ([`read_op`]). A node that cannot read payloads (a relay) passes such ops
///   on, so the node that refuses one must blame its author, not the link that
///   brought it; this is how it shows every other node that the author is to
///   blame.
///
/// Anyone with the session id can check it, so it travels the tree like a
/// revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The author.
    pub author: AuthorKey,
    /// The op where the logs part (under a seal: its stroke's start).
    pub seq: u64,
    /// One log: the one with the smaller head at `seq`; under a seal, the ops from
    /// `seq` on that are not the sealed stroke, from the head before `seq`.
    pub first: Fork,
    /// The other; under a seal, the seal (numbered `seal_at`) and the ops after it,
    /// from the same head as `first`.
    pub second: Fork,
    /// Under a seal: the seal's number. `None`: two heads.
    pub seal_at: Option<u64>,
    /// Two seals: the number of the seal `first` begins with, below `seal_at`.
    /// `None`: the other forms.
    pub first_seal_at: Option<u64>,
    /// Refused content: the number of the op in `first` that no node takes;
    /// `second` is then [`Fork::none`]. `None`: the other forms.
    pub refused: Option<u64>,
}

/// Why no node takes an op, whoever brings it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ContentError {
    /// Its payload does not decode.
    #[error(transparent)]
    Undecodable(#[from] FrameError),
    /// It breaks the rules every node applies to an op on its own.
    #[error(transparent)]
    Invalid(#[from] OpError),
}

/// The op that `id`, `lamport` and `payload` make, if every node takes it: the
/// payload decodes and the op keeps the rules every node applies to an op on its
/// own ([`Limits::DEFAULT`], whatever limits the node runs with itself). Proof of
/// refused content ([`Evidence::refused`]) is judged by this alone, so every node
/// judges it alike.
pub fn read_op(id: OpId, lamport: u64, payload: &[u8]) -> Result<Op, ContentError> {
    let action = crate::payload::decode_action(id, payload)?;
    let op = Op {
        id,
        lamport,
        action,
    };
    op.validate(&Limits::DEFAULT)?;
    Ok(op)
}

/// [`Fork`] as encoded before jumps (protocol 9 and earlier).
#[derive(Deserialize)]
struct ForkBeforeJumps {
    head: Head,
    ops: Vec<(u64, Vec<u8>)>,
    signature: Signature,
}

impl From<ForkBeforeJumps> for Fork {
    fn from(old: ForkBeforeJumps) -> Fork {
        Fork {
            head: old.head,
            ops: old.ops,
            signature: old.signature,
            jumps: Vec::new(),
        }
    }
}

/// [`Evidence`] as encoded before jumps (protocol 9); protocols 8 and earlier
/// encoded it without the last `None`, or the last two.
#[derive(Deserialize)]
struct EvidenceBeforeJumps {
    author: AuthorKey,
    seq: u64,
    first: ForkBeforeJumps,
    second: ForkBeforeJumps,
    seal_at: Option<u64>,
    first_seal_at: Option<u64>,
}

impl From<EvidenceBeforeJumps> for Evidence {
    fn from(old: EvidenceBeforeJumps) -> Evidence {
        Evidence {
            author: old.author,
            seq: old.seq,
            first: old.first.into(),
            second: old.second.into(),
            seal_at: old.seal_at,
            first_seal_at: old.first_seal_at,
            refused: None,
        }
    }
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
            seal_at: None,
            first_seal_at: None,
            refused: None,
        };
        evidence.verify(session).then_some(evidence)
    }

    /// Evidence of a split under a seal: `other` goes on from the head before op
    /// `stroke` with ops that are not the stroke started there, and `seal` from the
    /// same head with that stroke's seal, numbered `seal_at`, and the ops after it.
    /// `None` unless both are signed and the ops do break the seal.
    pub fn under_seal(
        session: &SessionId,
        author: AuthorKey,
        stroke: u64,
        seal_at: u64,
        seal: Fork,
        other: Fork,
    ) -> Option<Evidence> {
        let evidence = Evidence {
            author,
            seq: stroke,
            first: other,
            second: seal,
            seal_at: Some(seal_at),
            first_seal_at: None,
            refused: None,
        };
        evidence.verify(session).then_some(evidence)
    }

    /// Evidence of two seals of the stroke started at op `stroke`: each side is
    /// `(number, side)`, a seal under that number and the ops after it, from the
    /// head before the stroke. `None` unless the numbers differ and both are signed
    /// (two seals under one number are two heads: [`Evidence::new`]).
    pub fn two_seals(
        session: &SessionId,
        author: AuthorKey,
        stroke: u64,
        one: (u64, Fork),
        other: (u64, Fork),
    ) -> Option<Evidence> {
        let ((first_at, first), (second_at, second)) = if one.0 <= other.0 {
            (one, other)
        } else {
            (other, one)
        };
        let evidence = Evidence {
            author,
            seq: stroke,
            first,
            second,
            seal_at: Some(second_at),
            first_seal_at: Some(first_at),
            refused: None,
        };
        evidence.verify(session).then_some(evidence)
    }

    /// Evidence that the author signed content no node takes: `side` goes on from
    /// the head after op `seq` to a signature, and one of its ops (the first such
    /// is named) does not decode or breaks the rules every node applies
    /// ([`read_op`]). `None` unless the side is signed and such an op is in it.
    pub fn refused(
        session: &SessionId,
        author: AuthorKey,
        seq: u64,
        side: Fork,
    ) -> Option<Evidence> {
        let walked = side.walk(&author, seq)?;
        let node = author.node_id();
        let refused = walked
            .iter()
            .zip(&side.ops)
            .find(|((number, _, _), (lamport, payload))| {
                read_op(OpId { node, seq: *number }, *lamport, payload).is_err()
            })
            .map(|((number, _, _), _)| *number)?;
        let evidence = Evidence {
            author,
            seq,
            first: side,
            second: Fork::none(),
            seal_at: None,
            first_seal_at: None,
            refused: Some(refused),
        };
        evidence.verify(session).then_some(evidence)
    }

    /// What the author is proven to have done, for logs and status.
    pub fn what(&self) -> &'static str {
        if self.refused.is_some() {
            "signed an op no node takes"
        } else {
            "signed two different logs"
        }
    }

    /// The evidence as files keep it (bincode).
    pub fn to_bytes(&self) -> Vec<u8> {
        bincode::serde::encode_to_vec(self, bincode::config::standard()).unwrap_or_default()
    }

    /// Reads kept evidence (not verified: see [`Evidence::verify`]), in this
    /// encoding or an earlier one (files keep proofs): before sides had jumps, and
    /// before that without the trailing `None`s of proofs of two seals and proofs
    /// under a seal.
    pub fn from_bytes(bytes: &[u8]) -> Option<Evidence> {
        let config = bincode::config::standard().with_limit::<{ crate::frame::MAX_FRAME }>();
        // As encoded now, then before refused content was proof (protocols 10 and
        // 11: without the last `None`).
        let mut padded = bytes.to_vec();
        for _ in 0..2 {
            if let Ok((evidence, used)) =
                bincode::serde::decode_from_slice::<Evidence, _>(&padded, config)
            {
                if used == padded.len() {
                    return Some(evidence);
                }
            }
            padded.push(0);
        }
        let mut padded = bytes.to_vec();
        for _ in 0..3 {
            if let Ok((old, used)) =
                bincode::serde::decode_from_slice::<EvidenceBeforeJumps, _>(&padded, config)
            {
                if used == padded.len() {
                    return Some(old.into());
                }
            }
            padded.push(0);
        }
        None
    }

    /// True if the author signed both sides and they cannot both be its log (or,
    /// for refused content, signed the side that holds the op no node takes).
    pub fn verify(&self, session: &SessionId) -> bool {
        if let Some(refused) = self.refused {
            return self.verify_refused(session, refused);
        }
        match (self.first_seal_at, self.seal_at) {
            (None, None) => {
                self.first.head != self.second.head
                    && self.first.verify(&self.author, session, self.seq)
                    && self.second.verify(&self.author, session, self.seq)
            }
            (None, Some(seal_at)) => self.verify_under_seal(session, seal_at),
            (Some(first_at), Some(seal_at)) => {
                first_at < seal_at
                    && self.first.head == self.second.head
                    && sealed_side(&self.first, &self.author, session, self.seq, first_at).is_some()
                    && sealed_side(&self.second, &self.author, session, self.seq, seal_at).is_some()
            }
            (Some(_), None) => false,
        }
    }

    /// [`Evidence::verify`] for a node that reads no payload past its header (a
    /// blind relay): `None` for proof of refused content whose op's header reads
    /// and whose side its author signed — the readers' to judge, not this node's;
    /// otherwise whether it holds. A header that does not read is refused by every
    /// node alike, so that proof holds here too; a side its author did not sign
    /// holds nowhere.
    pub fn verify_blind(&self, session: &SessionId) -> Option<bool> {
        let Some(refused) = self.refused else {
            return Some(self.verify(session));
        };
        let Some((walked, _, payload)) = self.refused_op(refused) else {
            return Some(false);
        };
        let node = self.author.node_id();
        let header_reads = crate::shape_of(OpId { node, seq: refused }, payload).is_ok();
        match (self.side_signed(session, &walked), header_reads) {
            (false, _) => Some(false),
            (true, true) => None,
            (true, false) => Some(true),
        }
    }

    /// The form of refused content: one side, signed, whose op numbered `refused`
    /// no node takes.
    fn verify_refused(&self, session: &SessionId, refused: u64) -> bool {
        let Some((walked, lamport, payload)) = self.refused_op(refused) else {
            return false;
        };
        let node = self.author.node_id();
        read_op(OpId { node, seq: refused }, lamport, payload).is_err()
            && self.side_signed(session, &walked)
    }

    /// A proof of refused content's one side, walked, and the `(lamport, payload)`
    /// of its op numbered `refused`: `None` if the proof has another form, its side
    /// does not walk, or holds no such op. Its signature is not checked here.
    fn refused_op(&self, refused: u64) -> Option<(Vec<Step>, u64, &[u8])> {
        if self.seal_at.is_some() || self.first_seal_at.is_some() || self.second != Fork::none() {
            return None;
        }
        let walked = self.first.walk(&self.author, self.seq)?;
        let (lamport, payload) = walked
            .iter()
            .zip(&self.first.ops)
            .find(|((number, _, _), _)| *number == refused)
            .map(|(_, (lamport, payload))| (*lamport, payload.as_slice()))?;
        Some((walked, lamport, payload))
    }

    /// True if the author signed the first side, as `walked`.
    fn side_signed(&self, session: &SessionId, walked: &[Step]) -> bool {
        signed(
            &self.first.signature,
            &self.author,
            session,
            self.seq,
            self.first.head,
            walked,
        )
    }

    /// The form under a seal: both sides from one head before the stroke's start,
    /// both signed, and the first side's ops break what the seal says of them.
    fn verify_under_seal(&self, session: &SessionId, seal_at: u64) -> bool {
        let stroke = self.seq;
        let Some(before) = stroke.checked_sub(1) else {
            return false;
        };
        if self.first.head != self.second.head {
            return false;
        }
        let Some(sealed) = sealed_side(&self.second, &self.author, session, stroke, seal_at) else {
            return false;
        };
        // The other side, and where it breaks the seal.
        let Some(walked) = self.first.walk(&self.author, before) else {
            return false;
        };
        signed(
            &self.first.signature,
            &self.author,
            session,
            before,
            self.first.head,
            &walked,
        ) && breaks_seal(stroke, seal_at, sealed, &walked)
    }
}

/// The head after the seal `side` begins with, if that seal is numbered `seal_at`,
/// seals the stroke started at op `stroke` (hashing on from `side.head`, the head
/// before it), and the author signed where the side leads; `None` if not, or if the
/// side passes the bounds of one.
fn sealed_side(
    side: &Fork,
    author: &AuthorKey,
    session: &SessionId,
    stroke: u64,
    seal_at: u64,
) -> Option<Head> {
    if stroke >= seal_at
        || seal_at - stroke > MAX_SEALED_OPS
        || side.ops.len() > CHECKPOINT as usize
        || !within_fork_bytes(&side.ops)
    {
        return None;
    }
    let node = author.node_id();
    let ((lamport, payload), after) = side.ops.split_first()?;
    let seals = crate::payload::shape_of(OpId { node, seq: seal_at }, payload)
        .is_ok_and(|shape| shape == Shape::Seal(stroke));
    if !seals {
        return None;
    }
    // The seal's own number is `seal_at` (said again as a jump, or not); jumps after
    // it are the ops after it.
    let mut jumps = side.jumps.as_slice();
    if let Some(((0, number), rest)) = jumps.split_first() {
        if *number != seal_at {
            return None;
        }
        jumps = rest;
    }
    let after_jumps = jumps
        .iter()
        .map(|(index, number)| Some((index.checked_sub(1)?, *number)))
        .collect::<Option<Vec<_>>>()?;
    let sealed = side.head.next(seal_at, *lamport, payload);
    let walked = walk(node, sealed, seal_at, after, &after_jumps)?;
    signed(&side.signature, author, session, seal_at, sealed, &walked).then_some(sealed)
}

/// True if ops numbered on from `stroke` (`walked`: the number, head and shape of
/// each) cannot be the log a seal numbered `seal_at` of the stroke started at
/// `stroke` stands for: that log is the stroke's start, its points and ends, an end
/// right before the seal, then the seal, whose head is `sealed`.
fn breaks_seal(stroke: u64, seal_at: u64, sealed: Head, walked: &[Step]) -> bool {
    for (at, head, shape) in walked {
        if *at == seal_at {
            return *head != sealed;
        }
        if *at > seal_at {
            // Past the seal's number by a jump: another seal stands there.
            return true;
        }
        let fits = match shape {
            Shape::Start => *at == stroke,
            Shape::Points(of, _) => {
                *of == stroke && *at != stroke && Some(*at) != seal_at.checked_sub(1)
            }
            Shape::End(of) => *of == stroke && *at != stroke,
            Shape::Seal(_) | Shape::Other => false,
        };
        if !fits {
            return true;
        }
    }
    false
}
