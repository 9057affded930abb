//! Signed authorship: an author is a key, and its ops form a hash chain it signs.
//!
//! Each op extends its author's chain: `head_n = SHA-256(head_{n-1}, n, lamport,
//! payload)`, from a genesis head bound to the session and the author's key. The
//! author signs `(session, n, head_n)` for every op it makes. A node that receives a
//! run of one author's consecutive ops recomputes the heads and checks one signature,
//! the last — one signature per author per batch, not one per op — plus the
//! signatures at every [`CHECKPOINT`]-th sequence number, which every holder keeps so
//! that it can later serve the log in pieces that each end at a signed op.
//!
//! What this gives (anchors: Hypercore's signed Merkle logs, Secure Scuttlebutt's
//! per-author feeds):
//! - nobody can make an op in another author's name: the author id is derived from
//!   the key ([`AuthorKey::node_id`]) and every accepted op is covered by its key's
//!   signature;
//! - sequence numbers are contiguous (a run must start right after what a node holds),
//!   so nobody can jump to the end of a number space;
//! - an op's Lamport clock is at most `seq ×` [`LAMPORT_PER_SEQ`], so pushing every
//!   clock near the end of `u64` costs about 2^32 ops, each within its budgets;
//! - two different signed heads for one `(author, seq)` are [`Evidence`] anyone can
//!   check, so an author that splits its log is cut off everywhere it is seen.
//!
//! Plain data in, plain data out: no clock, no I/O.

use std::collections::BTreeMap;

use canopy_canvas::{NodeId, Shape, StrokeRule, StrokeRuleError, MAX_SEALED_OPS};
use ring::signature::{Ed25519KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

use crate::evidence::{Evidence, Fork, MAX_FORK_BYTES};
use crate::ids::SessionId;
use crate::revocation::Kept;

/// How far an author's Lamport clock may run ahead of its sequence number: op `n`'s
/// clock is at most `n × LAMPORT_PER_SEQ`. An honest clock is at most the number of
/// ops in the session, far below this for every `n ≥ 1`.
pub const LAMPORT_PER_SEQ: u64 = 1 << 32;

/// Every `CHECKPOINT`-th op of an author carries its signature wherever it travels
/// and is kept wherever it is held, so any holder can serve the log in pieces. (The
/// span below bounds pieces too; this bounds them in ops where ops are tiny.)
pub const CHECKPOINT: u64 = 4096;

/// Most weight of ops ([`op_weight`]) between two signed ops of a run (or from a
/// run's start to its first signed op). Proof that an author split its log carries
/// each side's ops up to its next signed op, so this bounds a proof in bytes: two
/// sides of at most [`MAX_FORK_BYTES`] fit one frame.
pub const SIGNED_SPAN: u64 = 128 * 1024;

/// Largest action payload of one op, above any op the document takes (its largest,
/// an `Erase` of 16,384 strokes, is ~200 KiB).
pub const MAX_PAYLOAD: usize = 320 * 1024;

/// What an op weighs towards a span: its payload, and 16 bytes for its clock and
/// length as a proof carries them (at most 14), so a span of tiny ops is bounded in
/// ops as well as in bytes.
pub fn op_weight(payload_len: usize) -> u64 {
    (payload_len as u64).saturating_add(16)
}

/// An author: the Ed25519 public key that signs its ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AuthorKey(pub [u8; 32]);

impl AuthorKey {
    /// The document identity of this author: the first 8 bytes of a hash of the key
    /// (never 0, which names the page every document starts with). Finding another
    /// key with the same id is a 64-bit second preimage.
    pub fn node_id(&self) -> NodeId {
        let mut input = b"canopy-author-v1".to_vec();
        input.extend_from_slice(&self.0);
        let digest = ring::digest::digest(&ring::digest::SHA256, &input);
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest.as_ref()[..8]);
        NodeId(u64::from_be_bytes(first).max(1))
    }
}

impl std::fmt::Display for AuthorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

/// The hash of an author's log up to one op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Head(pub [u8; 32]);

impl Head {
    /// The head before an author's first op: bound to the session and the key, so a
    /// log cannot be replayed into another session or under another key.
    pub fn genesis(session: &SessionId, author: &AuthorKey) -> Head {
        let mut input = b"canopy-log-v1".to_vec();
        input.extend_from_slice(&session.0);
        input.extend_from_slice(&author.0);
        Head::of(&input)
    }

    /// The head after op `seq` with clock `lamport` and action bytes `payload`.
    pub fn next(&self, seq: u64, lamport: u64, payload: &[u8]) -> Head {
        const DOMAIN: &[u8; 12] = b"canopy-op-v1";
        const FIXED: usize = DOMAIN.len() + 32 + 8 + 8;
        // Most payloads are a few points: hashed from one buffer on the stack, in one
        // call, since this runs once for every op a node takes.
        let mut input = [0u8; 256];
        if let Some(rest) = input.get_mut(FIXED..FIXED + payload.len()) {
            rest.copy_from_slice(payload);
            input[..12].copy_from_slice(DOMAIN);
            input[12..44].copy_from_slice(&self.0);
            input[44..52].copy_from_slice(&seq.to_be_bytes());
            input[52..60].copy_from_slice(&lamport.to_be_bytes());
            return Head::of(&input[..FIXED + payload.len()]);
        }
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        context.update(DOMAIN);
        context.update(&self.0);
        context.update(&seq.to_be_bytes());
        context.update(&lamport.to_be_bytes());
        context.update(payload);
        Head::from_digest(context.finish())
    }

    fn of(bytes: &[u8]) -> Head {
        Head::from_digest(ring::digest::digest(&ring::digest::SHA256, bytes))
    }

    fn from_digest(digest: ring::digest::Digest) -> Head {
        let mut head = [0u8; 32];
        head.copy_from_slice(digest.as_ref());
        Head(head)
    }
}

/// An Ed25519 signature by an author over `(session, seq, head)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature {
    /// The first half (R).
    pub r: [u8; 32],
    /// The second half (S).
    pub s: [u8; 32],
}

fn signed_bytes(session: &SessionId, seq: u64, head: &Head) -> [u8; 86] {
    let mut bytes = [0u8; 86];
    bytes[..14].copy_from_slice(b"canopy-head-v1");
    bytes[14..46].copy_from_slice(&session.0);
    bytes[46..54].copy_from_slice(&seq.to_be_bytes());
    bytes[54..].copy_from_slice(&head.0);
    bytes
}

impl Signature {
    /// Signs head `head` of op `seq` in `session`.
    pub fn sign(key: &Ed25519KeyPair, session: &SessionId, seq: u64, head: &Head) -> Signature {
        Signature::from_bytes(key.sign(&signed_bytes(session, seq, head)).as_ref())
    }

    /// True if `author` signed head `head` of op `seq` in `session`.
    pub fn verify(&self, author: &AuthorKey, session: &SessionId, seq: u64, head: &Head) -> bool {
        UnparsedPublicKey::new(&ED25519, author.0)
            .verify(&signed_bytes(session, seq, head), &self.to_bytes())
            .is_ok()
    }

    /// The signature from Ed25519's 64 bytes (R, then S); a shorter slice is padded
    /// with zeros (and then verifies nothing).
    pub fn from_bytes(bytes: &[u8]) -> Signature {
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        for (to, from) in r.iter_mut().chain(s.iter_mut()).zip(bytes) {
            *to = *from;
        }
        Signature { r, s }
    }

    /// The 64 bytes Ed25519 checks: R, then S.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&self.r);
        bytes[32..].copy_from_slice(&self.s);
        bytes
    }
}

/// One op of a run as a verifier sees it: its envelope, its action bytes, and the
/// author's signature if it carries one.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The author's sequence number.
    pub seq: u64,
    /// The op's Lamport clock.
    pub lamport: u64,
    /// The action's bytes, as the author signed them.
    pub payload: &'a [u8],
    /// The author's signature over this op's head, if it travels with one.
    pub signature: Option<&'a Signature>,
    /// What the op is to the stroke rule ([`Shape::of`] its decoded action).
    pub shape: Shape,
}

impl<'a> Entry<'a> {
    /// The entry for `wire`, whose action decoded as `action`.
    pub fn of(wire: &'a crate::WireOp, action: &canopy_canvas::Action) -> Entry<'a> {
        Entry {
            seq: wire.id.seq,
            lamport: wire.lamport,
            payload: &wire.payload,
            signature: wire.signature.as_ref(),
            shape: Shape::of(action),
        }
    }
}

/// Why a run of an author's ops was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The run is empty.
    #[error("an empty run of ops")]
    Empty,
    /// The run starts past the next op this node expects: the ops between are missing
    /// (they may still be on their way).
    #[error("author {author}'s ops skip from {expected} to {got}")]
    Gap {
        /// The author's id.
        author: NodeId,
        /// The next sequence number this node can take.
        expected: u64,
        /// Where the run starts.
        got: u64,
    },
    /// Two ops of the run are not consecutive.
    #[error("author {author}'s op {got} follows op {after}: sequence numbers must be consecutive")]
    NotConsecutive {
        /// The author's id.
        author: NodeId,
        /// The op before.
        after: u64,
        /// The op that should have been `after + 1`.
        got: u64,
    },
    /// An op's clock runs further ahead than its number allows.
    #[error("op {author}:{seq} has clock {lamport}, more than {LAMPORT_PER_SEQ} per op")]
    ClockJump {
        /// The author's id.
        author: NodeId,
        /// The op.
        seq: u64,
        /// Its clock.
        lamport: u64,
    },
    /// An op's payload is larger than any op may be.
    #[error("op {author}:{seq} has {bytes} bytes of payload (at most {MAX_PAYLOAD})")]
    TooLarge {
        /// The author's id.
        author: NodeId,
        /// The op.
        seq: u64,
        /// Its payload's length.
        bytes: usize,
    },
    /// More than [`SIGNED_SPAN`] bytes of ops ([`op_weight`]) pass without a signature.
    #[error(
        "op {author}:{seq} comes more than {SIGNED_SPAN} bytes of ops after the last signed op"
    )]
    SpanUnsigned {
        /// The author's id.
        author: NodeId,
        /// The first op past the span.
        seq: u64,
    },
    /// The run ends, or passes a checkpoint, without the author's signature.
    #[error("op {author}:{seq} needs its author's signature and has none")]
    Unsigned {
        /// The author's id.
        author: NodeId,
        /// The op.
        seq: u64,
    },
    /// A signature does not match the ops: they are not what the author signed.
    #[error("op {author}:{seq} is not what its author signed")]
    BadSignature {
        /// The author's id.
        author: NodeId,
        /// The op.
        seq: u64,
    },
    /// The author was proven to sign two different logs; nothing more of it is taken.
    #[error("author {author} signed two different logs at op {seq}: it is cut off")]
    CutOff {
        /// The author's id.
        author: NodeId,
        /// Where its logs split.
        seq: u64,
    },
    /// An op breaks the stroke rule ([`StrokeRule`]): a seal could then hide ops
    /// other than its stroke's.
    #[error("author {author}'s {error}")]
    StrokeRule {
        /// The author's id.
        author: NodeId,
        /// How.
        error: StrokeRuleError,
    },
    /// The author's grant was revoked; its log ends at op `seq`.
    #[error("author {author}'s grant was revoked: its log ends at op {seq}")]
    Revoked {
        /// The author's id.
        author: NodeId,
        /// Its last op kept.
        seq: u64,
    },
}

/// A run that verified: what the log becomes if it is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The last op of the run.
    pub seq: u64,
    /// Its head.
    pub head: Head,
    /// The signed heads to keep: the run's end, its checkpoints, and enough others
    /// that no more than [`SIGNED_SPAN`] bytes lie between two of them.
    pub keep: Vec<(u64, Head, Signature)>,
    /// The number and head after each op of the run, in order (a seal's number may
    /// jump past the ops it stands for).
    pub heads: Vec<(u64, Head)>,
    /// The payload length of each op of the run, in order (empty when the run is
    /// restored from signed heads alone: then every signed head given is kept).
    pub sizes: Vec<u32>,
    /// Where the log stands towards the stroke rule after the run.
    pub strokes: StrokeRule,
    /// The head before the open stroke's start, if one is open after the run and
    /// that head is known: a seal of the stroke hashes on from it.
    pub base: Option<Head>,
    /// `(start, seal)` of each stroke the run seals: the log no longer holds the
    /// ops from its start to its seal one by one.
    pub sealed: Vec<(u64, u64)>,
}

impl Verified {
    /// Where the log ends after the run.
    pub fn tail(&self) -> Tail {
        Tail {
            seq: self.seq,
            head: self.head,
            strokes: self.strokes,
            base: self.base,
        }
    }

    /// The head after op `seq`, if the run holds it.
    pub fn head_at(&self, seq: u64) -> Option<Head> {
        let index = self.heads.binary_search_by_key(&seq, |(at, _)| *at).ok()?;
        self.heads.get(index).map(|(_, head)| *head)
    }

    /// The run cut after op `seq` (what is kept of it, too), where the log then
    /// stands at `strokes` towards the stroke rule with `base` before its open
    /// stroke (the caller steps the rule over the ops it keeps); `None` if `seq` is
    /// not in the run.
    pub fn up_to(mut self, seq: u64, strokes: StrokeRule, base: Option<Head>) -> Option<Verified> {
        let index = self.heads.binary_search_by_key(&seq, |(at, _)| *at).ok()?;
        let head = self.heads.get(index)?.1;
        self.heads.truncate(index + 1);
        self.sizes.truncate(index + 1);
        self.keep.retain(|(kept, _, _)| *kept <= seq);
        self.sealed.retain(|(_, seal)| *seal <= seq);
        self.strokes = strokes;
        self.base = base;
        self.seq = seq;
        self.head = head;
        Some(self)
    }
}

/// Where an author's log as held ends: its last op and the head there, where it
/// stands towards the stroke rule, and the head before its open stroke's start (a
/// seal of that stroke hashes on from it, so a joiner that holds the log up to the
/// stroke's start verifies the seal without the chunks it stands for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tail {
    /// The last op held (0 for none).
    pub seq: u64,
    /// The head there.
    pub head: Head,
    /// Where the log stands towards the stroke rule.
    pub strokes: StrokeRule,
    /// The head before the open stroke's start, if a stroke is open and it is known.
    pub base: Option<Head>,
}

impl Tail {
    /// The tail of a log of which nothing is held.
    pub fn genesis(session: &SessionId, key: &AuthorKey) -> Tail {
        Tail {
            seq: 0,
            head: Head::genesis(session, key),
            strokes: StrokeRule::default(),
            base: None,
        }
    }

    /// The head a seal numbered `seal` of the stroke started at `stroke` hashes on
    /// from, if the log may take it here: standing just before the stroke's start
    /// (a joiner), or inside the stroke with its base known (a holder of some of its
    /// ops; right after its end on the live path). A seal stands for every op from
    /// its stroke's start to itself, so the log then stands at the seal. At most
    /// [`MAX_SEALED_OPS`] past its stroke's start: a seal's number bounds its clock.
    pub fn seal_base(&self, stroke: u64, seal: u64) -> Option<Head> {
        if seal <= self.seq || stroke >= seal || seal - stroke > MAX_SEALED_OPS {
            return None;
        }
        if self.seq.checked_add(1) == Some(stroke) {
            return Some(self.head);
        }
        if self.strokes.open() == Some(stroke) {
            return self.base;
        }
        None
    }

    /// Takes `entry`, the log's next op (or a seal it may jump to), and returns its
    /// head, and whether it is a seal of ops the log holds (a seal taken from inside
    /// its stroke must be signed: holders keep that signature in place of the ones
    /// among the ops it stands for). The tail is unchanged if it is refused.
    fn take(&mut self, author: NodeId, entry: &Entry<'_>) -> Result<(Head, bool), RunError> {
        // In place, once checked: this runs for every op a node takes.
        let (head, over_held) = match entry.shape {
            Shape::Seal(stroke) => {
                let base = self
                    .seal_base(stroke, entry.seq)
                    .ok_or(RunError::StrokeRule {
                        author,
                        error: StrokeRuleError::SealOutOfPlace {
                            seq: entry.seq,
                            stroke,
                        },
                    })?;
                let over_held = self.seq >= stroke;
                self.strokes = StrokeRule::default();
                self.base = None;
                (
                    base.next(entry.seq, entry.lamport, entry.payload),
                    over_held,
                )
            }
            shape => {
                if Some(entry.seq) != self.seq.checked_add(1) {
                    return Err(RunError::NotConsecutive {
                        author,
                        after: self.seq,
                        got: entry.seq,
                    });
                }
                // Unchanged if refused.
                self.strokes
                    .step(entry.seq, shape)
                    .map_err(|error| RunError::StrokeRule { author, error })?;
                match shape {
                    Shape::Start => self.base = Some(self.head),
                    Shape::Points(..) | Shape::End(_) => {}
                    Shape::Seal(_) | Shape::Other => self.base = None,
                }
                (
                    self.head.next(entry.seq, entry.lamport, entry.payload),
                    false,
                )
            }
        };
        self.seq = entry.seq;
        self.head = head;
        Ok((head, over_held))
    }
}

/// What a node holds of one author's log: how far it is verified, its head there,
/// and the signed heads kept for serving it on (checkpoints and ends of runs).
#[derive(Debug, Clone)]
pub struct AuthorLog {
    key: AuthorKey,
    author: NodeId,
    tail: Tail,
    signed: BTreeMap<u64, (Head, Signature)>,
    spans: Spans,
    cut_at: Option<u64>,
    stop: Option<Kept>,
    /// A signed head kept only because it lies just before the open stroke's start
    /// (not counted among those kept for good): dropped once that stroke is not open.
    pinned: Option<u64>,
}

/// Which of the signed heads an [`AuthorLog`] holds it must keep: the last one kept
/// for good, the latest signed after it (kept while it may still be needed), and the
/// payload bytes since each. The latest is kept for good when the next signed op
/// comes more than [`SIGNED_SPAN`] bytes after the last kept, and dropped otherwise,
/// so the heads kept are never further apart than a run's signatures may be.
#[derive(Debug, Clone, Copy, Default)]
struct Spans {
    latest: Option<u64>,
    since_kept: u64,
    since_latest: u64,
}

/// Checks a run of `key`'s ops that continues its log after `tail`: what
/// [`AuthorLog::verify`] does, for a caller that holds only where the log stands.
pub fn verify_run(
    session: &SessionId,
    key: &AuthorKey,
    tail: Tail,
    run: &[Entry<'_>],
) -> Result<Verified, RunError> {
    let author = key.node_id();
    let first = run.first().ok_or(RunError::Empty)?;
    let expected = tail.seq.saturating_add(1);
    if first.seq != expected && !matches!(first.shape, Shape::Seal(_)) {
        return Err(RunError::Gap {
            author,
            expected,
            got: first.seq,
        });
    }
    let mut tail = tail;
    let mut keep = Vec::new();
    let mut heads = Vec::with_capacity(run.len());
    let mut sizes = Vec::with_capacity(run.len());
    let mut sealed = Vec::new();
    let check = |seq: u64, head: &Head, signature: &Signature| {
        if signature.verify(key, session, seq, head) {
            Ok((seq, *head, *signature))
        } else {
            Err(RunError::BadSignature { author, seq })
        }
    };
    // Signatures are checked where they must be (the end, checkpoints) and where the
    // bytes since the last one checked would pass the span: then the latest signed
    // op before is checked and kept. So a run signed on every op costs no more checks
    // than one signed where it must be.
    let mut latest: Option<(u64, Head, &Signature)> = None;
    let mut since_kept = 0u64;
    let mut since_latest = 0u64;
    let last = run.len() - 1;
    for (index, entry) in run.iter().enumerate() {
        let seq = entry.seq;
        if entry.lamport > seq.saturating_mul(LAMPORT_PER_SEQ) {
            return Err(RunError::ClockJump {
                author,
                seq,
                lamport: entry.lamport,
            });
        }
        let size = entry.payload.len();
        if size > MAX_PAYLOAD {
            return Err(RunError::TooLarge {
                author,
                seq,
                bytes: size,
            });
        }
        let (head, over_held) = tail.take(author, entry)?;
        if let Shape::Seal(stroke) = entry.shape {
            sealed.push((stroke, seq));
        }
        heads.push((seq, head));
        sizes.push(size as u32);
        let required = index == last || seq.is_multiple_of(CHECKPOINT) || over_held;
        let weight = op_weight(size);
        if !required && entry.signature.is_none() {
            since_kept = since_kept.saturating_add(weight);
            since_latest = since_latest.saturating_add(weight);
            continue;
        }
        if since_kept > SIGNED_SPAN {
            let (at, at_head, signature) = latest
                .take()
                .ok_or(RunError::SpanUnsigned { author, seq })?;
            keep.push(check(at, &at_head, signature)?);
            since_kept = since_latest;
            if since_kept > SIGNED_SPAN {
                return Err(RunError::SpanUnsigned { author, seq });
            }
        }
        if required {
            let signature = entry.signature.ok_or(RunError::Unsigned { author, seq })?;
            keep.push(check(seq, &head, signature)?);
            latest = None;
            since_kept = 0;
            since_latest = 0;
        } else if let Some(signature) = entry.signature {
            latest = Some((seq, head, signature));
            since_kept = since_kept.saturating_add(weight);
            since_latest = 0;
        }
    }
    Ok(Verified {
        seq: tail.seq,
        head: tail.head,
        keep,
        heads,
        sizes,
        strokes: tail.strokes,
        base: tail.base,
        sealed,
    })
}

/// The side of a split that starts at `entries[0]` (whose head is `head`) and runs to
/// the first entry `signature_of` gives a signature for, within [`CHECKPOINT`] ops.
fn fork_from(
    head: Head,
    entries: &[Entry<'_>],
    signature_of: impl Fn(&Entry<'_>) -> Option<Signature>,
) -> Option<Fork> {
    let reach = entries.len().min(CHECKPOINT as usize + 1);
    let signed = entries[..reach]
        .iter()
        .position(|entry| signature_of(entry).is_some())?;
    // A seal's head does not follow from the ops before it: a split before a seal is
    // not provable through it (and needs no proof: every replica shows the seal).
    if entries[1..=signed]
        .iter()
        .any(|entry| matches!(entry.shape, Shape::Seal(_)))
    {
        return None;
    }
    let weight: u64 = entries[1..=signed]
        .iter()
        .map(|entry| op_weight(entry.payload.len()))
        .sum();
    if weight > MAX_FORK_BYTES {
        return None;
    }
    let signature = signature_of(&entries[signed])?;
    let ops = entries[1..=signed]
        .iter()
        .map(|entry| (entry.lamport, entry.payload.to_vec()))
        .collect();
    Some(Fork {
        head,
        ops,
        signature,
        jumps: Vec::new(),
    })
}

impl AuthorLog {
    /// An author of whom nothing is held yet.
    pub fn new(session: &SessionId, key: AuthorKey) -> AuthorLog {
        AuthorLog {
            author: key.node_id(),
            tail: Tail::genesis(session, &key),
            key,
            signed: BTreeMap::new(),
            spans: Spans::default(),
            cut_at: None,
            stop: None,
            pinned: None,
        }
    }

    /// Where the log stands towards the stroke rule.
    pub fn strokes(&self) -> StrokeRule {
        self.tail.strokes
    }

    /// Where the log ends: what a run must continue.
    pub fn tail(&self) -> Tail {
        self.tail
    }

    /// Sets where the log stands towards the stroke rule, for a log restored from
    /// signed heads alone (its document knows: [`canopy_canvas::Document::stroke_rule`]),
    /// and the head before its open stroke's start if that is known.
    pub fn set_strokes(&mut self, strokes: StrokeRule, base: Option<Head>) {
        self.tail.strokes = strokes;
        self.tail.base = base.filter(|_| strokes.open().is_some());
    }

    /// The author's key.
    pub fn key(&self) -> &AuthorKey {
        &self.key
    }

    /// The author's document identity.
    pub fn author(&self) -> NodeId {
        self.author
    }

    /// The last op held (0 for none).
    pub fn seq(&self) -> u64 {
        self.tail.seq
    }

    /// The head at [`AuthorLog::seq`].
    pub fn head(&self) -> Head {
        self.tail.head
    }

    /// Where the author was proven to have split its log, if it was.
    pub fn cut_at(&self) -> Option<u64> {
        self.cut_at
    }

    /// Where a revocation ended the author's log, if one did: nothing after is taken.
    pub fn stop(&self) -> Option<&Kept> {
        self.stop.as_ref()
    }

    /// Ends the log at `kept` (a revocation's cut-off for this author): ops held after
    /// it are dropped, and none after it is taken from now on. The earliest cut-off
    /// wins, so replicas that learn several agree. True if ops held were dropped (the
    /// caller drops them from its document too).
    pub fn stop_at(&mut self, kept: &Kept) -> bool {
        if kept.author != self.key.0 || self.stop.is_some_and(|stop| stop.seq <= kept.seq) {
            return false;
        }
        self.stop = Some(*kept);
        if self.tail.seq <= kept.seq {
            return false;
        }
        self.tail.seq = kept.seq;
        self.tail.head = kept.head;
        self.spans = Spans::default();
        self.tail.strokes = StrokeRule::default();
        self.tail.base = None;
        let _dropped = self.signed.split_off(&kept.seq.saturating_add(1));
        if let Some(signature) = kept.signature {
            self.signed.insert(kept.seq, (kept.head, signature));
        }
        true
    }

    /// The head of op `seq`, if its signed head is kept (or it is the last held).
    pub fn signed_head(&self, seq: u64) -> Option<Head> {
        if seq == self.tail.seq {
            return Some(self.tail.head);
        }
        self.signed.get(&seq).map(|(head, _)| *head)
    }

    /// The kept signature of op `seq`, if one is kept.
    pub fn signature(&self, seq: u64) -> Option<&Signature> {
        self.signed.get(&seq).map(|(_, signature)| signature)
    }

    /// The last op at or before `seq` whose signature is kept: where a piece of a
    /// backlog that must not pass `seq` can end.
    pub fn signed_at_or_before(&self, seq: u64) -> Option<u64> {
        self.signed.range(..=seq).next_back().map(|(seq, _)| *seq)
    }

    /// The first op at or after `seq` whose signed head is kept, if any.
    pub fn signed_at_or_after(&self, seq: u64) -> Option<u64> {
        self.signed.range(seq..).next().map(|(seq, _)| *seq)
    }

    /// Checks a run that continues the log: consecutive numbers from the next op,
    /// bounded clocks, heads that hash to what the author signed at the run's end and
    /// at each checkpoint. Costs one hash per op and one signature check per
    /// checkpoint and per run; changes nothing (see [`AuthorLog::accept`]).
    pub fn verify(&self, session: &SessionId, run: &[Entry<'_>]) -> Result<Verified, RunError> {
        if let Some(seq) = self.cut_at {
            return Err(RunError::CutOff {
                author: self.author,
                seq,
            });
        }
        if let (Some(stop), Some(last)) = (&self.stop, run.last()) {
            if last.seq > stop.seq {
                return Err(RunError::Revoked {
                    author: self.author,
                    seq: stop.seq,
                });
            }
        }
        verify_run(session, &self.key, self.tail(), run)
    }

    /// Takes a run [`AuthorLog::verify`] passed (against this log, unchanged since).
    /// Of the signed heads, the checkpoints, the latest end, and those that keep the
    /// rest within [`SIGNED_SPAN`] bytes of each other are kept: a holder can serve
    /// the log in pieces that verify, and proof from any of it fits a frame. Returns
    /// the signed heads held before that are no longer kept (a file drops them too).
    pub fn accept(&mut self, verified: Verified) -> Vec<u64> {
        let mut forgotten = Vec::new();
        if verified.seq <= self.tail.seq {
            return forgotten;
        }
        self.tail = verified.tail();
        if verified.sizes.is_empty() || verified.sizes.len() != verified.heads.len() {
            // Signed heads alone (a file's): every one given is kept.
            for (seq, head, signature) in verified.keep {
                self.signed.insert(seq, (head, signature));
            }
            self.spans = Spans::default();
            return forgotten;
        }
        // The signed head just before a stroke still open is kept while it is open: a
        // revocation then cuts the log there, before a stroke some replicas may hold
        // as one seal and others as its ops.
        let before_open = verified
            .strokes
            .open()
            .and_then(|stroke| stroke.checked_sub(1));
        if let Some(pinned) = self.pinned.take() {
            if Some(pinned) == before_open {
                self.pinned = Some(pinned);
            } else if self.signed.remove(&pinned).is_some() {
                forgotten.push(pinned);
            }
        }
        let mut keep = verified.keep.into_iter().peekable();
        let seqs = verified.heads.iter().map(|(seq, _)| *seq);
        for (seq, size) in seqs.zip(verified.sizes) {
            let size = op_weight(size as usize);
            // A seal of ops held: heads signed among them are served no more. If one
            // was kept for good, the seal's own signature (a seal over ops held is
            // always signed) is kept for good in its place: the ops served before
            // the stroke are no more than those before it, so within a span of the
            // kept head before. The latest head (not yet kept for good) just goes.
            let mut anchored = false;
            if let Ok(index) = verified
                .sealed
                .binary_search_by_key(&seq, |(_, seal)| *seal)
            {
                let stroke = verified.sealed[index].0;
                let inside: Vec<u64> = self.signed.range(stroke..seq).map(|(at, _)| *at).collect();
                for at in inside {
                    self.signed.remove(&at);
                    forgotten.push(at);
                    if self.spans.latest == Some(at) {
                        self.spans.latest = None;
                    } else {
                        anchored = true;
                    }
                }
            }
            let Some((_, head, signature)) = keep.next_if(|(at, _, _)| *at == seq) else {
                self.spans.since_kept = self.spans.since_kept.saturating_add(size);
                self.spans.since_latest = self.spans.since_latest.saturating_add(size);
                continue;
            };
            if anchored {
                self.signed.insert(seq, (head, signature));
                self.spans = Spans::default();
                continue;
            }
            if let Some(latest) = self.spans.latest.take() {
                if self.spans.since_kept > SIGNED_SPAN {
                    self.spans.since_kept = self.spans.since_latest;
                } else if Some(latest) == before_open {
                    self.pinned = Some(latest);
                } else if self.signed.remove(&latest).is_some() {
                    forgotten.push(latest);
                }
            }
            self.signed.insert(seq, (head, signature));
            if seq.is_multiple_of(CHECKPOINT) {
                self.spans = Spans::default();
            } else {
                self.spans.latest = Some(seq);
                self.spans.since_kept = self.spans.since_kept.saturating_add(size);
                self.spans.since_latest = 0;
            }
        }
        for (seq, head, signature) in keep {
            self.signed.insert(seq, (head, signature));
        }
        forgotten
    }

    /// The ops of its own this node needs to judge a run `first..=last` of ops it
    /// already holds: from just after the last kept head before `first` to the first
    /// kept signature at or after `last` (or its last op). At most
    /// [`CHECKPOINT`] ops more than the run.
    pub fn needed_to_judge(&self, first: u64, last: u64) -> (u64, u64) {
        let from = self
            .signed
            .range(..first)
            .next_back()
            .map_or(1, |(seq, _)| seq.saturating_add(1));
        let to = self
            .signed
            .range(last..)
            .next()
            .map_or(self.tail.seq, |(seq, _)| *seq);
        (from, to.min(self.tail.seq))
    }

    /// Judges a run of this author's ops (`theirs`) against the ops this node holds
    /// (`ours`, as [`AuthorLog::needed_to_judge`] names them). Where the two logs part,
    /// and both sides are signed within [`CHECKPOINT`] ops after, that is
    /// [`Evidence`]. `None` if they agree wherever both reach, or nothing proves they
    /// do not (then the run is judged as new ops by [`AuthorLog::verify`]).
    pub fn conflict(
        &self,
        session: &SessionId,
        theirs: &[Entry<'_>],
        ours: &[Entry<'_>],
    ) -> Option<Evidence> {
        // Heads are recomputed one op after another: a seal (hashed on from its
        // stroke's start) is judged where seals are taken, not here.
        if theirs
            .iter()
            .chain(ours)
            .any(|entry| matches!(entry.shape, Shape::Seal(_)))
        {
            return None;
        }
        let ours_from = ours.first()?.seq;
        let before = ours_from.checked_sub(1)?;
        let start = if before == 0 {
            Head::genesis(session, &self.key)
        } else {
            self.signed.get(&before)?.0
        };
        let mut our_heads = Vec::with_capacity(ours.len());
        let mut head = start;
        for (index, entry) in ours.iter().enumerate() {
            if entry.seq != ours_from.checked_add(index as u64)? {
                return None;
            }
            head = head.next(entry.seq, entry.lamport, entry.payload);
            our_heads.push(head);
        }
        let our_head = |seq: u64| -> Option<Head> {
            if seq == before {
                return Some(start);
            }
            let index = usize::try_from(seq.checked_sub(ours_from)?).ok()?;
            our_heads.get(index).copied()
        };
        let their_from = theirs.first()?.seq;
        let mut their_head = our_head(their_from.checked_sub(1)?)?;
        for (index, entry) in theirs.iter().enumerate() {
            if entry.seq != their_from.checked_add(index as u64)? {
                return None;
            }
            their_head = their_head.next(entry.seq, entry.lamport, entry.payload);
            let ours_here = our_head(entry.seq)?;
            if ours_here == their_head {
                continue;
            }
            let seq = entry.seq;
            let their_fork = fork_from(their_head, &theirs[index..], |entry| {
                entry.signature.copied()
            })?;
            let our_index = usize::try_from(seq.checked_sub(ours_from)?).ok()?;
            let our_fork = fork_from(ours_here, &ours[our_index..], |entry| {
                self.signed.get(&entry.seq).map(|(_, signature)| *signature)
            })?;
            return Evidence::new(session, self.key, seq, their_fork, our_fork);
        }
        None
    }

    /// Takes evidence against this author if it verifies: nothing from `evidence.seq`
    /// on is taken any more. The earliest evidence wins, so every node that learns of
    /// the same evidence ends at the same point. False if it does not verify or names
    /// another author.
    pub fn cut(&mut self, session: &SessionId, evidence: &Evidence) -> bool {
        if evidence.author != self.key || !evidence.verify(session) {
            return false;
        }
        self.cut_at = Some(self.cut_at.map_or(evidence.seq, |at| at.min(evidence.seq)));
        true
    }
}

/// An author's own side: extends its chain and signs each op it makes.
#[derive(Debug, Clone)]
pub struct Signer {
    session: SessionId,
    key: AuthorKey,
    seq: u64,
    head: Head,
    strokes: StrokeRule,
    base: Option<Head>,
}

/// Why an op could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The op is not the next of the author's log.
    #[error("op {got} is not the next of this author's log (that is {expected})")]
    OutOfTurn {
        /// The next number.
        expected: u64,
        /// The number given.
        got: u64,
    },
    /// The clock runs further ahead than the op's number allows.
    #[error("op {seq}'s clock {lamport} runs more than {LAMPORT_PER_SEQ} per op ahead")]
    ClockJump {
        /// The op.
        seq: u64,
        /// Its clock.
        lamport: u64,
    },
    /// The op's payload is larger than any op may be.
    #[error("op {seq} has {bytes} bytes of payload (at most {MAX_PAYLOAD})")]
    TooLarge {
        /// The op.
        seq: u64,
        /// Its payload's length.
        bytes: usize,
    },
    /// The op breaks the stroke rule: every checker would refuse it.
    #[error("{0}")]
    StrokeRule(StrokeRuleError),
    /// A seal of a stroke whose base head this signer does not know (the stroke was
    /// open when the signer was made): the stroke stays unsealed.
    #[error("op {seq} seals a stroke begun before this signer was made")]
    NoBase {
        /// The seal.
        seq: u64,
    },
}

impl Signer {
    /// An author's log that continues after op `seq` with head `head` (`0` and
    /// [`Head::genesis`] for a new one).
    pub fn new(session: SessionId, key: AuthorKey, seq: u64, head: Head) -> Signer {
        Signer {
            session,
            key,
            seq,
            head,
            strokes: StrokeRule::default(),
            base: None,
        }
    }

    /// This signer, its log standing at `strokes` towards the stroke rule (a log
    /// that ends inside a stroke, or right after one's end), with `base` the head
    /// before that stroke's start if it is known (else the stroke cannot be sealed).
    pub fn with_strokes(mut self, strokes: StrokeRule, base: Option<Head>) -> Signer {
        self.strokes = strokes;
        self.base = base.filter(|_| strokes.open().is_some());
        self
    }

    /// An author's log that continues after `tail`.
    pub fn from_tail(session: SessionId, key: AuthorKey, tail: Tail) -> Signer {
        Signer::new(session, key, tail.seq, tail.head).with_strokes(tail.strokes, tail.base)
    }

    /// A new author's log.
    pub fn fresh(session: SessionId, key: AuthorKey) -> Signer {
        let head = Head::genesis(&session, &key);
        Signer::new(session, key, 0, head)
    }

    /// The last op signed.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// True if this signer can seal the stroke started at op `stroke` once its end is
    /// signed: it signed that start, or was made knowing the head before it.
    pub fn can_seal(&self, stroke: u64) -> bool {
        self.base.is_some() && self.strokes.open() == Some(stroke)
    }

    /// The head after the last op signed.
    pub fn head(&self) -> Head {
        self.head
    }

    /// Extends the log with op `seq` and signs its head.
    pub fn sign(
        &mut self,
        key: &Ed25519KeyPair,
        seq: u64,
        lamport: u64,
        payload: &[u8],
    ) -> Result<(Head, Signature), SignError> {
        let head = self.extend(seq, lamport, payload)?;
        Ok((head, self.sign_head(key)))
    }

    /// Extends the log with op `seq` without signing it (a batch needs a signature at
    /// its end and at checkpoints only: [`Signer::sign_head`]).
    pub fn extend(&mut self, seq: u64, lamport: u64, payload: &[u8]) -> Result<Head, SignError> {
        self.extend_on(self.head, seq, lamport, payload)
    }

    /// Extends the log with op `seq`, hashed on from `from` (the last head, or for a
    /// seal the head before its stroke's start).
    fn extend_on(
        &mut self,
        from: Head,
        seq: u64,
        lamport: u64,
        payload: &[u8],
    ) -> Result<Head, SignError> {
        let expected = self.seq.saturating_add(1);
        if seq != expected {
            return Err(SignError::OutOfTurn { expected, got: seq });
        }
        if lamport > seq.saturating_mul(LAMPORT_PER_SEQ) {
            return Err(SignError::ClockJump { seq, lamport });
        }
        if payload.len() > MAX_PAYLOAD {
            return Err(SignError::TooLarge {
                seq,
                bytes: payload.len(),
            });
        }
        self.head = from.next(seq, lamport, payload);
        self.seq = seq;
        Ok(self.head)
    }

    /// Extends the log with `ops` (the author's next, in order) and signs what a run
    /// needs: the last, every checkpoint, and an op wherever the bytes since the last
    /// signed one would pass [`SIGNED_SPAN`]. Returns them as they travel, and what the
    /// author's log becomes (to commit to its own [`AuthorLog`]).
    pub fn sign_batch(
        &mut self,
        key: &Ed25519KeyPair,
        ops: &[canopy_canvas::Op],
    ) -> Result<(Vec<crate::WireOp>, Verified), SignError> {
        let mut wires = Vec::with_capacity(ops.len());
        let mut keep = Vec::new();
        let mut heads = Vec::with_capacity(ops.len());
        let mut sizes = Vec::with_capacity(ops.len());
        let mut unsigned = 0u64;
        let mut strokes = self.strokes;
        let mut base_known = self.base.is_some();
        for op in ops {
            let shape = Shape::of(&op.action);
            strokes
                .step(op.id.seq, shape)
                .map_err(SignError::StrokeRule)?;
            match shape {
                Shape::Start => base_known = true,
                Shape::Seal(_) if !base_known => return Err(SignError::NoBase { seq: op.id.seq }),
                Shape::Points(..) | Shape::End(_) => {}
                Shape::Seal(_) | Shape::Other => base_known = false,
            }
        }
        let mut sealed = Vec::new();
        let last = ops.len().saturating_sub(1);
        for (index, op) in ops.iter().enumerate() {
            let mut wire = crate::WireOp::from_op(op);
            let before = self.head;
            let shape = Shape::of(&op.action);
            let from = match shape {
                Shape::Seal(stroke) => {
                    sealed.push((stroke, op.id.seq));
                    self.base.ok_or(SignError::NoBase { seq: op.id.seq })?
                }
                _ => before,
            };
            let head = self.extend_on(from, op.id.seq, op.lamport, &wire.payload)?;
            match shape {
                Shape::Start => self.base = Some(before),
                Shape::Points(..) | Shape::End(_) => {}
                Shape::Seal(_) | Shape::Other => self.base = None,
            }
            heads.push((op.id.seq, head));
            sizes.push(wire.payload.len() as u32);
            let size = op_weight(wire.payload.len());
            // A seal is always signed: a holder of the ops it stands for keeps its
            // signature in their place.
            let required = index == last
                || op.id.seq.is_multiple_of(CHECKPOINT)
                || matches!(shape, Shape::Seal(_));
            if required || unsigned + size > SIGNED_SPAN {
                let signature = self.sign_head(key);
                wire.signature = Some(signature);
                keep.push((op.id.seq, head, signature));
                unsigned = 0;
            } else {
                unsigned += size;
            }
            wires.push(wire);
        }
        self.strokes = strokes;
        let verified = Verified {
            seq: self.seq,
            head: self.head,
            keep,
            heads,
            sizes,
            strokes,
            base: self.base,
            sealed,
        };
        Ok((wires, verified))
    }

    /// Signs the head after the last op.
    pub fn sign_head(&self, key: &Ed25519KeyPair) -> Signature {
        Signature::sign(key, &self.session, self.seq, &self.head)
    }

    /// The author's key.
    pub fn key(&self) -> &AuthorKey {
        &self.key
    }
}
