//! A link's ops sorted into their authors' runs. An author's ops wait here until they
//! continue what the session holds and reach an op their author signed; then the run
//! is verified against the authors table (hashes and one signature) on the link's own
//! task. Plain data: the checker drives it. It reads each op's envelope, its payload
//! as bytes and the shape its payload's header gives (`Checked::shape`), never the
//! decoded action: what a relay that cannot read payloads would verify by
//! (`docs/BLIND-RELAYS.md`).
//!
//! Waiting is bounded in bytes: ops a sender's backlog and live stream deliver out of
//! order, or whose author's authority is still on its way, wait; a link that keeps
//! more than [`MAX_WAITING_BYTES`] waiting is closed.

use std::collections::{BTreeMap, HashMap};

use canopy_canvas::{NodeId, Shape, StrokeRuleError};
use canopy_protocol::{
    op_weight, verify_run, Entry, Evidence, Fork, Head, Refusal, Role, RunError, SessionId, Tail,
    WireOp, CHECKPOINT, MAX_FORK_BYTES, SIGNED_SPAN,
};

use crate::session::authors::{Authors, SealToJudge, SharedAuthors};
use crate::session::document::wire_bytes;
use crate::session::{Checked, Run};

/// Op bytes one link may have waiting for earlier ops or signatures.
pub const MAX_WAITING_BYTES: u64 = 32 * 1024 * 1024;

/// Authors whose ops a link may have in dispute at once ([`Runs::disputes`]); past
/// that, a run that is not what its author signed closes the link at once.
pub const MAX_DISPUTED: usize = 16;

/// Seals one link may hand to the sync server to judge ([`SealToJudge`]) of each
/// kind (that cannot be placed; numbered within the ops held): each costs it a few
/// thousand hashes at most. Past it, a seal that cannot be placed closes the
/// link, and one numbered within the ops held is dropped unjudged.
pub const MAX_SEALS_TO_JUDGE: usize = 16;

/// One link's waiting ops and how far it has verified each author.
pub struct Runs {
    authors: SharedAuthors,
    waiting: BTreeMap<NodeId, BTreeMap<u64, Checked>>,
    waiting_bytes: u64,
    /// Where runs this link passed on end (they may not be committed yet).
    verified: HashMap<NodeId, Tail>,
    /// Proof found in this link's ops that an author split its log.
    found: Vec<Evidence>,
    /// Seals this link's ops brought that may hide a split, for the sync server.
    to_judge: Vec<SealToJudge>,
    /// Authors whose ops from this link are dropped while it is told whether they
    /// split their logs ([`Runs::disputes`]).
    disputed: std::collections::HashSet<NodeId>,
    /// Disputes found since last asked.
    new_disputes: Vec<(NodeId, Refusal)>,
    /// Seals handed to the sync server so far that could not be placed, and that
    /// were numbered within the ops held (kept apart: honest backlogs and live
    /// streams may overlap, and those seals must not use up the others' bound).
    judged: [usize; 2],
}

impl Runs {
    /// Nothing waiting.
    pub fn new(authors: SharedAuthors) -> Self {
        Self {
            authors,
            waiting: BTreeMap::new(),
            waiting_bytes: 0,
            verified: HashMap::new(),
            found: Vec::new(),
            to_judge: Vec::new(),
            judged: [0; 2],
            disputed: std::collections::HashSet::new(),
            new_disputes: Vec::new(),
        }
    }

    /// Proof found since last asked that authors split their logs (their ops here
    /// were dropped: the author is to be cut off).
    pub fn found(&mut self) -> Vec<Evidence> {
        std::mem::take(&mut self.found)
    }

    /// Seals found since last asked that this link cannot place, or that are
    /// numbered within the ops held and not seen to be the ones held: the sync
    /// server judges whether their author split its log under them (their ops here
    /// were dropped).
    pub fn seals_to_judge(&mut self) -> Vec<SealToJudge> {
        std::mem::take(&mut self.to_judge)
    }

    /// Runs found since last asked that do not continue their author's log as held
    /// here, with why the link would close for them. The sender may be forging, or
    /// the author may have given it another log: then proof is on its way (the
    /// nodes' signed heads were exchanged as the link came up), so the caller waits
    /// a moment for it before closing the link. Meanwhile that author's ops from
    /// this link are dropped.
    pub fn disputes(&mut self) -> Vec<(NodeId, Refusal)> {
        std::mem::take(&mut self.new_disputes)
    }

    /// Hands `seal` to the sync server if this link may still; false if not. `held`:
    /// numbered within the ops held.
    fn judge(&mut self, seal: SealToJudge, held: bool) -> bool {
        let judged = &mut self.judged[usize::from(held)];
        if *judged >= MAX_SEALS_TO_JUDGE {
            return false;
        }
        *judged += 1;
        self.to_judge.push(seal);
        true
    }

    /// Op bytes waiting.
    pub fn waiting_bytes(&self) -> u64 {
        self.waiting_bytes
    }

    /// Takes checked ops; returns the runs that can now be verified and passed on
    /// (not of authors `held_back` says still wait), and why the link must close, if
    /// it must (the runs before still go on).
    pub fn take(
        &mut self,
        ops: Vec<Checked>,
        held_back: impl Fn(NodeId) -> bool,
    ) -> (Vec<Run>, Option<Refusal>) {
        for checked in ops {
            let id = checked.wire.id;
            let queue = self.waiting.entry(id.node).or_default();
            if let Some(waiting) = queue.get(&id.seq) {
                // One sender, two different ops under one number: no honest node
                // does that (it passes on one version, or nothing).
                if waiting.wire.payload != checked.wire.payload
                    || waiting.wire.lamport != checked.wire.lamport
                    || (waiting.wire.signature.is_some()
                        && checked.wire.signature.is_some()
                        && waiting.wire.signature != checked.wire.signature)
                {
                    return (
                        Vec::new(),
                        Some(Refusal::Protocol(format!(
                            "two different ops numbered {id} on one link"
                        ))),
                    );
                }
                if waiting.wire.signature.is_none() && checked.wire.signature.is_some() {
                    queue.insert(id.seq, checked);
                }
                continue;
            }
            self.waiting_bytes = self.waiting_bytes.saturating_add(wire_bytes(&checked.wire));
            queue.insert(id.seq, checked);
        }
        let (runs, refusal) = self.retry(held_back);
        if refusal.is_some() {
            return (runs, refusal);
        }
        if self.waiting_bytes > MAX_WAITING_BYTES {
            return (
                runs,
                Some(Refusal::Limit(format!(
                    "{} bytes of ops wait for earlier ops or their author's signature (at most {MAX_WAITING_BYTES})",
                    self.waiting_bytes
                ))),
            );
        }
        (runs, None)
    }

    /// Tries every author with ops waiting but those `held_back` says still wait
    /// (another link's commits, an authority just learned, or checks paid for may
    /// have let them through).
    pub fn retry(&mut self, held_back: impl Fn(NodeId) -> bool) -> (Vec<Run>, Option<Refusal>) {
        let authors: Vec<NodeId> = self
            .waiting
            .keys()
            .copied()
            .filter(|author| !held_back(*author))
            .collect();
        let mut runs = Vec::new();
        for author in authors {
            match self.release(author) {
                Ok(Some(run)) => runs.push(run),
                Ok(None) => {}
                Err(refusal) => return (runs, Some(refusal)),
            }
        }
        (runs, None)
    }

    /// The run of `author`'s waiting ops that continues what is held and ends at its
    /// last signed op, verified; `None` while it cannot be verified yet.
    fn release(&mut self, author: NodeId) -> Result<Option<Run>, Refusal> {
        let (session, tip) = {
            let table = Authors::read(&self.authors);
            (*table.session(), table.tip(author))
        };
        // An author whose authority has not come yet: its ops wait for it.
        let Some(tip) = tip else {
            return Ok(None);
        };
        let Some(queue) = self.waiting.get_mut(&author) else {
            return Ok(None);
        };
        if tip.cut.is_some() || self.disputed.contains(&author) {
            // Proven to split its log, or in dispute: nothing more of it is taken
            // (from this link).
            self.drop_author(author);
            return Ok(None);
        }
        if let Some(stop) = tip.stop {
            // A revoked author: nothing past its cut-off is taken, whoever passes it
            // on. The op at the cut-off carries the author's signature from the
            // revocation, so the ops kept verify whichever way they come.
            let past = queue.split_off(&stop.seq.saturating_add(1));
            let dropped: u64 = past.values().map(|c| wire_bytes(&c.wire)).sum();
            self.waiting_bytes = self.waiting_bytes.saturating_sub(dropped);
            if let Some(at) = queue.get_mut(&stop.seq) {
                if at.wire.signature.is_none() {
                    at.wire.signature = stop.signature;
                }
            }
            if queue.is_empty() {
                self.waiting.remove(&author);
                return Ok(None);
            }
        }
        if tip.role != Role::Editor {
            let first = queue.keys().next().copied().unwrap_or(0);
            return Err(Refusal::ViewerEdit(format!(
                "{author}:{first} (its author is a viewer)"
            )));
        }
        let mut tail = tip.tail;
        if let Some(verified) = self.verified.get(&author) {
            if verified.seq > tail.seq {
                tail = *verified;
            }
        }
        let seq = tail.seq;
        // Ops held already are dropped (the document has them), once they are seen to
        // be the ones held, where that can be told.
        let under_seal = match judge_held(&self.authors, &session, author, queue, seq) {
            Judged::Same(seal) => seal,
            Judged::Forged(refusal) => return Err(refusal),
            Judged::Split(evidence) => {
                // The author signed another log: proof, not the sender's fault.
                self.drop_author(author);
                self.found.push(*evidence);
                return Ok(None);
            }
            Judged::Unsure => return Ok(None),
        };
        // Seals numbered within the ops held, of which the log keeps no signature
        // there to tell they are the ones held: the sync server tells (its replica
        // holds the ops; a seal alone, from a backlog, may hide a split). Past the ops held, a
        // seal is judged here first (`verify_run`).
        let under_seal = under_seal.filter(|seal| seal.seal_at > seq);
        for seal in seals_within(&self.authors, author, queue, seq) {
            self.judge(seal, true);
        }
        let Some(queue) = self.waiting.get_mut(&author) else {
            return Ok(None);
        };
        while let Some(entry) = queue.first_entry() {
            if *entry.key() > seq {
                break;
            }
            let dropped = entry.remove();
            self.waiting_bytes = self.waiting_bytes.saturating_sub(wire_bytes(&dropped.wire));
        }
        // The consecutive ops from the next one, up to the last signed among them. A
        // seal stands for its stroke's ops from the start on: the log may jump to it
        // from before or inside its stroke (`verify_run` judges where it stands).
        let mut end = None;
        let mut next = seq.saturating_add(1);
        for (op_seq, checked) in queue.range(next..) {
            let jump = matches!(checked.shape, Shape::Seal(stroke) if stroke <= next);
            if *op_seq != next && !jump {
                break;
            }
            if checked.wire.signature.is_some() {
                end = Some(*op_seq);
            }
            next = op_seq.saturating_add(1);
        }
        let Some(end) = end else {
            if queue.is_empty() {
                self.waiting.remove(&author);
            }
            return Ok(None);
        };
        let verified = {
            let entries: Vec<Entry<'_>> = queue
                .range(seq.saturating_add(1)..=end)
                .map(|(_, c)| Entry {
                    seq: c.wire.id.seq,
                    lamport: c.wire.lamport,
                    payload: &c.wire.payload,
                    signature: c.wire.signature.as_ref(),
                    shape: c.shape,
                })
                .collect();
            verify_run(&session, &tip.key, tail, &entries)
        };
        let verified = match verified {
            Ok(verified) => verified,
            Err(error) => {
                // A seal that does not fit the ops held from its stroke's start on
                // may hide a split (its author signed other ops from there): the
                // sync server judges it, and the author's ops here are dropped. Not
                // the sender's fault, up to a bound.
                let misplaced = match error {
                    RunError::StrokeRule {
                        error: StrokeRuleError::SealOutOfPlace { seq: at, stroke },
                        ..
                    } if stroke <= tail.seq => seal_side(author, queue, at, stroke),
                    _ => None,
                };
                let refusal = match error {
                    RunError::StrokeRule {
                        error: StrokeRuleError::TooManyPoints { .. },
                        ..
                    } => Refusal::Limit(error.to_string()),
                    _ => Refusal::Protocol(error.to_string()),
                };
                let Some(seal) = under_seal.or(misplaced) else {
                    if matches!(error, RunError::BadSignature { .. })
                        && self.disputed.len() < MAX_DISPUTED
                    {
                        self.disputed.insert(author);
                        self.new_disputes.push((author, refusal));
                        self.drop_author(author);
                        return Ok(None);
                    }
                    return Err(refusal);
                };
                if !self.judge(seal, false) {
                    return Err(refusal);
                }
                self.drop_author(author);
                return Ok(None);
            }
        };
        // By what is queued, not by number: a seal's number may lie far past the ops
        // before it.
        let taken: Vec<u64> = queue
            .range(seq.saturating_add(1)..=end)
            .map(|(op_seq, _)| *op_seq)
            .collect();
        let mut ops = Vec::with_capacity(taken.len());
        let mut kept = verified.keep.iter().map(|(seq, _, _)| *seq).peekable();
        for op_seq in taken {
            let Some(mut checked) = queue.remove(&op_seq) else {
                continue;
            };
            self.waiting_bytes = self.waiting_bytes.saturating_sub(wire_bytes(&checked.wire));
            // Only signatures that were checked travel on.
            if kept.peek() == Some(&op_seq) {
                kept.next();
            } else {
                checked.wire.signature = None;
            }
            ops.push(checked);
        }
        if queue.is_empty() {
            self.waiting.remove(&author);
        }
        self.verified.insert(author, verified.tail());
        Ok(Some(Run {
            author,
            ops,
            verified,
        }))
    }
}

impl Runs {
    /// Proof that the author of `bad`, an op no node takes
    /// ([`canopy_protocol::read_op`]), signed it: the author's log from where this
    /// link has verified it, through its ops waiting here and `bad`, to the next op
    /// it signed (waiting here or among `after`, the ops that came after `bad`).
    /// `None` if that signature has not come, the ops are not consecutive, or they
    /// are not what the author signed: then the sender, not the author, is to blame.
    pub fn prove_refused(&self, bad: &WireOp, after: &[WireOp]) -> Option<Evidence> {
        let author = bad.id.node;
        let (session, tip) = {
            let table = Authors::read(&self.authors);
            (*table.session(), table.tip(author)?)
        };
        let mut tail = tip.tail;
        if let Some(verified) = self.verified.get(&author) {
            if verified.seq > tail.seq {
                tail = *verified;
            }
        }
        if bad.id.seq <= tail.seq {
            return None;
        }
        // The author's ops past the tail: waiting here, then `bad` and those after.
        let mut ops: BTreeMap<u64, &WireOp> = self
            .waiting
            .get(&author)
            .map(|queue| {
                queue
                    .range(tail.seq.saturating_add(1)..)
                    .take(CHECKPOINT as usize + 1)
                    .map(|(seq, checked)| (*seq, &checked.wire))
                    .collect()
            })
            .unwrap_or_default();
        for wire in std::iter::once(bad).chain(after.iter().filter(|w| w.id.node == author)) {
            ops.entry(wire.id.seq).or_insert(wire);
        }
        // Consecutive from the tail (a seal may stand in place of its stroke's
        // ops, as a jump), to the first signature at or past `bad`.
        let mut side = Vec::new();
        let mut next = tail.seq.saturating_add(1);
        for (seq, wire) in ops.range(next..).take(CHECKPOINT as usize + 1) {
            let shape = canopy_protocol::shape_of(wire.id, &wire.payload).unwrap_or(Shape::Other);
            let jump = *seq > next && shape == Shape::Seal(next);
            if *seq != next && !jump {
                return None;
            }
            side.push((*seq, wire.lamport, wire.payload.clone()));
            if let (Some(signature), true) = (wire.signature, *seq >= bad.id.seq) {
                let side = Fork::numbered(tail.head, tail.seq, side, signature);
                return Evidence::refused(&session, tip.key, tail.seq, side);
            }
            next = seq.saturating_add(1);
        }
        None
    }

    /// Drops every op of `author` waiting here.
    fn drop_author(&mut self, author: NodeId) {
        if let Some(queue) = self.waiting.remove(&author) {
            let dropped: u64 = queue.values().map(|c| wire_bytes(&c.wire)).sum();
            self.waiting_bytes = self.waiting_bytes.saturating_sub(dropped);
        }
    }
}

/// The seal numbered `at` of the stroke started at `stroke` waiting in `queue`, and
/// the ops after it up to the first signed one (seals sent in place of their
/// strokes' ops as jumps), for the sync server to judge; `None` until one of them is
/// signed, or if they pass what a side of a proof may carry.
fn seal_side(
    author: NodeId,
    queue: &BTreeMap<u64, Checked>,
    at: u64,
    stroke: u64,
) -> Option<SealToJudge> {
    let mut ops = Vec::new();
    let mut jumps = Vec::new();
    let mut bytes = 0u64;
    let mut expected = at;
    for (seq, checked) in queue.range(at..).take(CHECKPOINT as usize) {
        if *seq != expected {
            // A seal sent in place of its stroke's ops, the stroke starting here.
            let jump =
                *seq > expected && matches!(checked.shape, Shape::Seal(start) if start == expected);
            if !jump {
                return None;
            }
            jumps.push((u32::try_from(ops.len()).ok()?, *seq));
        }
        bytes = bytes.saturating_add(op_weight(checked.wire.payload.len()));
        if bytes > MAX_FORK_BYTES {
            return None;
        }
        ops.push((checked.wire.lamport, checked.wire.payload.clone()));
        if let Some(signature) = checked.wire.signature {
            return Some(SealToJudge {
                author,
                stroke,
                seal_at: at,
                ops,
                jumps,
                signature,
            });
        }
        expected = seq.checked_add(1)?;
    }
    None
}

/// The seals waiting in `queue` numbered up to `held` (ops this node holds) that the
/// log does not show to be the ones held (it keeps their signature), each with the
/// ops after it to a signature.
fn seals_within(
    authors: &SharedAuthors,
    author: NodeId,
    queue: &BTreeMap<u64, Checked>,
    held: u64,
) -> Vec<SealToJudge> {
    let seals: Vec<(u64, u64, Option<&canopy_protocol::Signature>)> = queue
        .range(..=held)
        .filter_map(|(seq, checked)| match checked.shape {
            Shape::Seal(stroke) => Some((*seq, stroke, checked.wire.signature.as_ref())),
            _ => None,
        })
        .collect();
    if seals.is_empty() {
        // The usual case (nothing held again, or no seal among it): no lock.
        return Vec::new();
    }
    let table = Authors::read(authors);
    let log = table.log(author);
    seals
        .into_iter()
        .filter(|(seq, _, signature)| {
            let kept = log.and_then(|log| log.signature(*seq));
            kept.is_none() || kept != *signature
        })
        .filter_map(|(seq, stroke, _)| seal_side(author, queue, seq, stroke))
        .collect()
}

/// What the ops of an author a node holds already turned out to be.
enum Judged {
    /// The ones held (or nothing tells otherwise). Unless a seal they lead to (of a
    /// stroke begun before they part from the ones held) fits the ops held: if not,
    /// that seal, for the sync server to judge.
    Same(Option<SealToJudge>),
    /// Not what the author signed.
    Forged(Refusal),
    /// Another log the author also signed: proof.
    Split(Box<Evidence>),
    /// Another log, not signed as far as it has come: wait for its signature.
    Unsure,
}

/// Checks the waiting ops of `author` numbered up to `held` (ops this node holds)
/// against the author's log as kept here: from a head known here (the log's start,
/// or a kept signed head) their heads are recomputed and compared wherever this node
/// keeps its own. A difference means the sender passes on another log under the same
/// numbers: one its author also signed (the author split its log: [`Evidence`], with
/// the sender's ops up to their next signature), or a forgery.
fn judge_held(
    authors: &SharedAuthors,
    session: &SessionId,
    author: NodeId,
    queue: &BTreeMap<u64, Checked>,
    held: u64,
) -> Judged {
    let Some(first) = queue.keys().next().copied().filter(|f| *f <= held) else {
        return Judged::Same(None);
    };
    let table = Authors::read(authors);
    let Some(log) = table.log(author) else {
        return Judged::Same(None);
    };
    let start = if first == 1 {
        Some(Head::genesis(session, log.key()))
    } else {
        log.signed_head(first - 1)
    };
    let Some(mut head) = start else {
        return Judged::Same(None);
    };
    let mut at = first - 1;
    // The head after each of their ops from `first - 1` on, by number: a seal hashes on
    // from the head before its stroke's start (ops held up to a seal of a stroke begun
    // before `first` are judged where seals are taken, not here), and a seal sent in
    // place of its stroke's ops jumps to its number from the op before the stroke.
    let mut heads = vec![(at, head)];
    for (seq, checked) in queue.range(first..=held) {
        let next = at.saturating_add(1);
        let from = match checked.shape {
            Shape::Seal(stroke) if *seq > next && stroke == next => head,
            _ if *seq != next => break,
            Shape::Seal(stroke) => {
                let base = stroke.checked_sub(1).and_then(|before| {
                    heads
                        .binary_search_by_key(&before, |(number, _)| *number)
                        .ok()
                });
                match base.and_then(|place| heads.get(place)) {
                    Some((_, base)) => *base,
                    None => break,
                }
            }
            _ => head,
        };
        at = *seq;
        head = from.next(at, checked.wire.lamport, &checked.wire.payload);
        heads.push((at, head));
        let (Some(ours), Some(our_signature)) = (log.signed_head(at), log.signature(at)) else {
            continue;
        };
        if ours == head {
            continue;
        }
        // Theirs from here to their next signed op (within a checkpoint of ops, and a
        // span of bytes and one op: an honest log is signed that often), seals sent
        // in place of their strokes' ops as jumps.
        let mut ops = Vec::new();
        let mut bytes = 0u64;
        let mut their_end = None;
        let mut previous = at;
        for (seq, checked) in queue.range(at..).take(CHECKPOINT as usize + 1) {
            if *seq > at {
                let next = previous.saturating_add(1);
                let shape = checked.shape;
                let jump = *seq > next && matches!(shape, Shape::Seal(start) if start == next);
                if *seq != next && !jump {
                    break;
                }
                if let Shape::Seal(stroke) = shape {
                    if stroke <= at {
                        // A seal of a stroke begun before the logs part stands for
                        // both: every replica that takes it shows the same, and it
                        // is taken where seals are — if the ops held from its
                        // stroke's start on are that stroke; if not, the author
                        // may have split its log under it.
                        return Judged::Same(seal_side(author, queue, *seq, stroke));
                    }
                }
                bytes = bytes.saturating_add(op_weight(checked.wire.payload.len()));
                if bytes > MAX_FORK_BYTES {
                    return Judged::Forged(Refusal::Protocol(format!(
                        "ops of {author} after {at} pass {SIGNED_SPAN} bytes without a signature"
                    )));
                }
                ops.push((*seq, checked.wire.lamport, checked.wire.payload.clone()));
            }
            previous = *seq;
            if let Some(signature) = checked.wire.signature {
                their_end = Some(signature);
                break;
            }
        }
        let Some(signature) = their_end else {
            return Judged::Unsure;
        };
        let theirs = Fork::numbered(head, at, ops, signature);
        let ours = Fork {
            head: ours,
            ops: Vec::new(),
            signature: *our_signature,
            jumps: Vec::new(),
        };
        return match Evidence::new(session, *log.key(), at, theirs, ours) {
            Some(evidence) => Judged::Split(Box::new(evidence)),
            None => Judged::Forged(Refusal::Protocol(format!(
                "op {author}:{at} is not what its author signed"
            ))),
        };
    }
    Judged::Same(None)
}
