//! `authors`: who may make ops in this session, and how far each one's signed log is
//! held here. Not a component but a table: every link's checker reads it (so runs
//! are verified on the links' own cores) and the document writes it (it commits each
//! author's runs in order, so every replica applies an author's ops in the same order).
//! Locks are held for lookups and inserts only, never across an `await`.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use canopy_canvas::{Document, NodeId, OpId, Shape, StrokeRule};
use canopy_protocol::{
    shape_of, AuthorKey, AuthorLog, Authority, Evidence, Fork, GrantId, Head, InviteError, Kept,
    OpaqueReplica, Revocation, Revocations, Role, SessionId, Signature, SignedHead, Tail, Verified,
    WireOp, CHECKPOINT, MAX_KEPT,
};

use crate::session::document::kept_of;
use crate::storage::SignedHeads;

/// Where the ops a judge hashes again come from: a replica that reads them (a
/// document, which encodes them again exactly as signed) or one that holds their
/// signed bytes unread (an opaque replica, on a relay that cannot read them).
pub trait HeldOps {
    /// `author`'s ops numbered `from..=to` as held (a seal in place of the ops it
    /// stands for), as their author signed them.
    fn signed_ops(&self, author: NodeId, from: u64, to: u64) -> Vec<WireOp>;
    /// Where `author`'s log as held stands towards the stroke rule.
    fn stroke_rule(&self, author: NodeId) -> StrokeRule;
}

impl HeldOps for Document {
    fn signed_ops(&self, author: NodeId, from: u64, to: u64) -> Vec<WireOp> {
        self.author_ops(author, from, to)
            .iter()
            .map(WireOp::from_op)
            .collect()
    }

    fn stroke_rule(&self, author: NodeId) -> StrokeRule {
        Document::stroke_rule(self, author)
    }
}

impl HeldOps for OpaqueReplica {
    fn signed_ops(&self, author: NodeId, from: u64, to: u64) -> Vec<WireOp> {
        self.author_ops(author, from, to)
    }

    fn stroke_rule(&self, author: NodeId) -> StrokeRule {
        OpaqueReplica::stroke_rule(self, author)
    }
}

/// What a held op is to the stroke rule, read from its header as when it was taken.
fn shape(op: &WireOp) -> Shape {
    shape_of(op.id, &op.payload).unwrap_or(Shape::Other)
}

/// One author: the authority that makes it one, and its log as held here.
#[derive(Debug, Clone)]
struct Author {
    authority: Authority,
    role: Role,
    log: AuthorLog,
}

/// Where an author's log stands here: what a checker verifies a run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    /// The author's key.
    pub key: AuthorKey,
    /// What its authority lets it do.
    pub role: Role,
    /// Where its log ends (its last op held, 0 for none, and the head there): what a
    /// run must continue.
    pub tail: Tail,
    /// Where it was proven to split its log, if it was.
    pub cut: Option<u64>,
    /// Where a revocation ended its log, if one did: nothing after is taken.
    pub stop: Option<Kept>,
}

/// The session's authors.
#[derive(Debug)]
pub struct Authors {
    session: SessionId,
    by_id: HashMap<NodeId, Author>,
    /// Proof against each author proven to have split its log (the first known).
    evidence: std::collections::BTreeMap<NodeId, Evidence>,
    /// Grants revoked with cut-offs: every author under one keeps what its cut-off
    /// says (nothing, if none names it).
    revoked: Revocations,
    /// The cut-offs revocations named, by author key (the earliest for each).
    kept: HashMap<[u8; 32], Kept>,
}

/// A seal a link could not place, or could not tell is the one held: one side of a
/// split its author may have hidden under it (see [`Evidence`]), for the sync server
/// to judge against the ops its replica holds from the seal's stroke's start on
/// ([`judge_seal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealToJudge {
    /// The seal's author.
    pub author: NodeId,
    /// The start of the stroke it seals.
    pub stroke: u64,
    /// Its number.
    pub seal_at: u64,
    /// `(lamport, payload)` of the seal and of the ops after it, up to a signed one.
    pub ops: Vec<(u64, Vec<u8>)>,
    /// Ops among them numbered past the one after the op before: seals the link was
    /// sent in place of their strokes' ops ([`Fork::jumps`]; never the first).
    pub jumps: Vec<(u32, u64)>,
    /// The author's signature there.
    pub signature: Signature,
}

/// The table shared by a session's components.
pub type SharedAuthors = Arc<RwLock<Authors>>;

impl Authors {
    /// No author known yet.
    pub fn new(session: SessionId) -> Self {
        Self {
            session,
            by_id: HashMap::new(),
            evidence: std::collections::BTreeMap::new(),
            revoked: Revocations::new(),
            kept: HashMap::new(),
        }
    }

    /// A new table to share.
    pub fn shared(session: SessionId) -> SharedAuthors {
        Arc::new(RwLock::new(Self::new(session)))
    }

    /// Reads a shared table (a panic elsewhere leaves it as it was: still readable).
    pub fn read(shared: &SharedAuthors) -> RwLockReadGuard<'_, Authors> {
        shared.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes a shared table.
    pub fn write(shared: &SharedAuthors) -> RwLockWriteGuard<'_, Authors> {
        shared.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The session.
    pub fn session(&self) -> &SessionId {
        &self.session
    }

    /// Takes an author's authority once its chain verifies from the session key. True
    /// if that is news worth passing on: a new author, or one now known as an editor.
    pub fn learn(&mut self, authority: &Authority) -> Result<bool, InviteError> {
        let (key, role) = authority.author(&self.session)?;
        let key = AuthorKey(key);
        let id = key.node_id();
        match self.by_id.get_mut(&id) {
            Some(known) if known.log.key() == &key => {
                if role > known.role {
                    known.role = role;
                    known.authority = authority.clone();
                    return Ok(true);
                }
                Ok(false)
            }
            // Another key with the same 64-bit id: a second preimage, or a forgery.
            Some(_) => Err(InviteError::BrokenChain(authority.chain.len())),
            None => {
                let mut log = AuthorLog::new(&self.session, key);
                if let Some(kept) = self.cut_off_for(authority, &key) {
                    log.stop_at(&kept);
                }
                self.by_id.insert(
                    id,
                    Author {
                        authority: authority.clone(),
                        role,
                        log,
                    },
                );
                Ok(true)
            }
        }
    }

    /// True if `authority` names an author known here with the same key and at
    /// least its role: nothing to learn from it, so nothing to verify.
    pub fn knows(&self, authority: &Authority) -> bool {
        let Some((key, role)) = authority.claims() else {
            return false;
        };
        let key = AuthorKey(key);
        self.by_id
            .get(&key.node_id())
            .is_some_and(|known| known.log.key() == &key && known.role >= role)
    }

    /// Where `author`'s log stands, if the author is known.
    pub fn tip(&self, author: NodeId) -> Option<Tip> {
        self.by_id.get(&author).map(|a| Tip {
            key: *a.log.key(),
            role: a.role,
            tail: a.log.tail(),
            cut: a.log.cut_at(),
            stop: a.log.stop().copied(),
        })
    }

    /// `author`'s authority, if known.
    pub fn authority(&self, author: NodeId) -> Option<&Authority> {
        self.by_id.get(&author).map(|a| &a.authority)
    }

    /// The branch of the grant tree `author` is in ([`Authority::branch`]).
    pub fn branch(&self, author: NodeId) -> Option<GrantId> {
        self.by_id.get(&author)?.authority.branch(&self.session)
    }

    /// `author`'s log as held.
    pub fn log(&self, author: NodeId) -> Option<&AuthorLog> {
        self.by_id.get(&author).map(|a| &a.log)
    }

    /// Takes a verified run of `author`'s (it must continue what is held); returns
    /// what the file's signed heads gain and lose with it.
    pub fn commit(&mut self, author: NodeId, verified: Verified) -> SignedHeads {
        let Some(known) = self.by_id.get_mut(&author) else {
            return SignedHeads::default();
        };
        let kept = kept_of(author, &verified);
        let forgotten = known.log.accept(verified);
        SignedHeads {
            kept,
            forgotten: forgotten
                .into_iter()
                .map(|seq| OpId { node: author, seq })
                .collect(),
        }
    }

    /// The kept signature of an op, if there is one: backlogs carry it.
    pub fn signature(&self, op: OpId) -> Option<Signature> {
        self.by_id
            .get(&op.node)
            .and_then(|a| a.log.signature(op.seq).copied())
    }

    /// Every author's authority, for a new link (before any of their ops).
    pub fn authorities(&self) -> Vec<Authority> {
        let mut all: Vec<(&NodeId, &Author)> = self.by_id.iter().collect();
        all.sort_by_key(|(id, _)| **id);
        all.into_iter().map(|(_, a)| a.authority.clone()).collect()
    }

    /// Takes evidence that an author signed two different logs, if it verifies and
    /// names a known author: nothing more of that author is taken. True if that is
    /// news (the author was not cut off yet): then its ops are to be left out.
    pub fn cut(&mut self, evidence: &Evidence) -> bool {
        let author = evidence.author.node_id();
        if self.evidence.contains_key(&author) {
            return false;
        }
        let Some(known) = self.by_id.get_mut(&author) else {
            return false;
        };
        if !known.log.cut(&self.session, evidence) {
            return false;
        }
        self.evidence.insert(author, evidence.clone());
        true
    }

    /// Takes a checked revocation's cut-offs: every author under its grant, known now
    /// or later, keeps only what its cut-off says. Returns the authors of which ops
    /// held here are dropped, with their cut-off (the document drops the rest).
    pub fn revoke(&mut self, revocation: &Revocation) -> Vec<(NodeId, Kept)> {
        let Some(kept) = &revocation.kept else {
            return Vec::new();
        };
        self.revoked.insert(revocation.grant);
        for cut in kept {
            self.kept
                .entry(cut.author)
                .and_modify(|known| {
                    if cut.seq < known.seq {
                        *known = *cut;
                    }
                })
                .or_insert(*cut);
        }
        let mut dropped = Vec::new();
        let ids: Vec<NodeId> = self.by_id.keys().copied().collect();
        for id in ids {
            let Some(author) = self.by_id.get(&id) else {
                continue;
            };
            let Some(kept) = self.cut_off_for(&author.authority, author.log.key()) else {
                continue;
            };
            if let Some(author) = self.by_id.get_mut(&id) {
                if author.log.stop_at(&kept) {
                    dropped.push((id, kept));
                }
            }
        }
        dropped
    }

    /// Where a revocation ends the log of `key` (whose authority is `authority`), if
    /// one covers it.
    fn cut_off_for(&self, authority: &Authority, key: &AuthorKey) -> Option<Kept> {
        if self.revoked.is_empty() || !self.revoked.refuses(&authority.grant_ids(&self.session)) {
            return None;
        }
        Some(
            self.kept
                .get(&key.0)
                .copied()
                .unwrap_or_else(|| Kept::nothing(&self.session, key.0)),
        )
    }

    /// The cut-offs a revocation of `grant` would make now: for every author known
    /// under it of which ops are held, its log as held here, ending at its last signed
    /// op (authors not named keep nothing). At most [`MAX_KEPT`], those held most of
    /// first: a grant that minted more authors loses the rest of them.
    pub fn cut_offs(&self, grant: GrantId) -> Vec<Kept> {
        let revoked: Revocations = [grant].into_iter().collect();
        let mut kept: Vec<Kept> = self
            .by_id
            .values()
            .filter(|a| revoked.refuses(&a.authority.grant_ids(&self.session)))
            .filter_map(|a| {
                let log = &a.log;
                // Never at or past the start of a stroke that may still be sealed:
                // a replica that holds its ops and one that holds its seal then keep
                // the same of it. (A reader rebuilds a start from its seal, which
                // restates it; a holder that cannot read the seal could not, so the
                // start goes too.) Its log keeps the signed head before such a
                // stroke (`AuthorLog::accept`).
                let last = match log.strokes().open() {
                    Some(stroke) => stroke.checked_sub(1)?,
                    None => log.seq(),
                };
                let seq = log.signed_at_or_before(last)?;
                Some(Kept {
                    author: log.key().0,
                    seq,
                    head: log.signed_head(seq)?,
                    signature: Some(*log.signature(seq)?),
                })
            })
            .collect();
        kept.sort_by_key(|k| (std::cmp::Reverse(k.seq), k.author));
        kept.truncate(MAX_KEPT);
        kept.sort_by_key(|k| k.author);
        kept
    }

    /// Authors proven to have split their logs.
    pub fn cut_off(&self) -> Vec<NodeId> {
        self.evidence.keys().copied().collect()
    }

    /// The proof against every author cut off, for a new link.
    pub fn evidence(&self) -> Vec<Evidence> {
        self.evidence.values().cloned().collect()
    }

    /// Number of authors known.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True if no author is known.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

impl Authors {
    /// What judging a claim about `author`'s log after op `before` takes of the
    /// log held here, read under the table's lock so the judging itself
    /// ([`judge_seal`], [`judge_head`]) runs without it: the last signed head kept
    /// at or before `before`, and the first kept past it (past a seal, since heads
    /// kept among the ops a seal stands for go when it is taken). `None` if there
    /// is nothing to judge: the author is unknown or cut off, or this node holds
    /// none of its ops past `before`.
    pub fn held_span(&self, author: NodeId, before: u64) -> Option<HeldSpan> {
        let log = self.log(author)?;
        if log.cut_at().is_some() || log.seq() <= before {
            return None;
        }
        let end = log.signed_at_or_after(before.checked_add(1)?)?;
        Some(HeldSpan {
            key: *log.key(),
            from: start_before(&self.session, log, before)?,
            end: (end, *log.signature(end)?),
        })
    }

    /// Tells each author's log where it stands towards the stroke rule, as `held`
    /// (the same ops, read or not) says: what a log restored from signed heads
    /// lacks. The head before an open stroke is hashed again from the ops held, so
    /// the stroke's seal is taken after a restart too.
    pub fn take_stroke_rules(&mut self, held: &dyn HeldOps) {
        let session = self.session;
        for (node, author) in &mut self.by_id {
            if author.log.seq() > 0 {
                let strokes = held.stroke_rule(*node);
                let base = strokes
                    .open()
                    .and_then(|stroke| base_before(&session, &author.log, held, stroke));
                author.log.set_strokes(strokes, base);
            }
        }
    }

    /// Takes what a session file keeps: its authors' authorities (each verified from
    /// the session key) and their signed heads. An authority that does not verify is
    /// left out, and so are its author's ops for serving.
    pub fn restore(&mut self, logs: &crate::storage::StoredLogs) {
        for bytes in &logs.authorities {
            let learned = Authority::from_bytes(bytes).and_then(|a| self.learn(&a));
            if let Err(error) = learned {
                tracing::warn!(%error, "an author kept in the file is not valid");
            }
        }
        let mut start = 0;
        while start < logs.signed.len() {
            let author = logs.signed[start].0.node;
            let end = logs.signed[start..]
                .iter()
                .position(|(op, _, _)| op.node != author)
                .map_or(logs.signed.len(), |n| start + n);
            let rows = &logs.signed[start..end];
            if let Some((last, head, _)) = rows.last() {
                self.commit(
                    author,
                    Verified {
                        seq: last.seq,
                        head: *head,
                        keep: rows.iter().map(|(op, h, s)| (op.seq, *h, *s)).collect(),
                        heads: Vec::new(),
                        sizes: Vec::new(),
                        strokes: StrokeRule::default(),
                        base: None,
                        sealed: Vec::new(),
                    },
                );
            }
            start = end;
        }
        for bytes in &logs.evidence {
            match Evidence::from_bytes(bytes) {
                Some(evidence) if self.cut(&evidence) => {}
                _ => tracing::warn!("evidence kept in the file does not verify"),
            }
        }
    }
}

/// What judging a claim about an author's log takes of the log held here
/// ([`Authors::held_span`]).
#[derive(Debug, Clone)]
pub struct HeldSpan {
    key: AuthorKey,
    /// The last signed head kept at or before the op judged from (or the genesis).
    from: (u64, Head),
    /// The first op past it whose signature is kept, and that signature.
    end: (u64, Signature),
}

impl HeldSpan {
    /// The head after op `before` (the span's) and this node's side from there: its
    /// ops up to the first signed head kept past it, from `held` (seals held in
    /// place of strokes' ops as jumps). `None` if they are not all held, or are
    /// more than a checkpoint of ops.
    fn side(&self, author: NodeId, held: &dyn HeldOps, before: u64) -> Option<Fork> {
        let head = hash_on(author, self.from, held, before)?;
        let ours = held.signed_ops(author, before.checked_add(1)?, self.end.0);
        held_side(head, &ours, before, self.end)
    }

    /// The seal of the stroke started at op `stroke` that `held` holds in place
    /// of its ops, if any: its number, and the side from the head before the
    /// stroke (the seal, and the ops after it up to the span's end). `None` if
    /// those are not all held, or are more than a checkpoint of ops.
    fn sealed_side(&self, author: NodeId, held: &dyn HeldOps, stroke: u64) -> Option<(u64, Fork)> {
        let ours = held.signed_ops(author, stroke, self.end.0);
        let at = ours
            .first()
            .filter(|op| shape(op) == Shape::Seal(stroke))?
            .id
            .seq;
        let before = stroke.checked_sub(1)?;
        let head = hash_on(author, self.from, held, before)?;
        Some((at, held_side(head, &ours, before, self.end)?))
    }
}

/// A side of a proof from `head`, the head after op `before`: `ops` held here, up to
/// the kept signature's op (none if that is `before`), each the op after the one
/// before it or a seal held in place of the ops from there (a jump:
/// [`Fork::jumps`]). `None` if not, or if they are more than a checkpoint of ops.
fn held_side(
    head: Head,
    ops: &[WireOp],
    before: u64,
    (end, signature): (u64, Signature),
) -> Option<Fork> {
    if ops.len() > CHECKPOINT as usize || ops.last().map_or(before, |op| op.id.seq) != end {
        return None;
    }
    let mut at = before;
    for op in ops {
        let next = at.checked_add(1)?;
        let seal_from_next = matches!(shape(op), Shape::Seal(start) if start == next);
        if op.id.seq != next && !(op.id.seq > next && seal_from_next) {
            return None;
        }
        at = op.id.seq;
    }
    let numbered = ops
        .iter()
        .map(|op| (op.id.seq, op.lamport, op.payload.clone()))
        .collect();
    Some(Fork::numbered(head, before, numbered, signature))
}

/// Judges a seal against the ops `held` of its author from its stroke's
/// start to the first signed head kept at or after it (`span`, from the op before
/// the stroke): proof that the author split its log under the seal if those ops
/// cannot be the stroke it stands for, or are another seal of it (under one
/// number: two heads; under two: two seals). `None` if they can, if the seal is the op
/// held under its number, or if what it takes to tell is not held here. Costs at
/// most a few thousand hashes: kept heads lie within a checkpoint of each other.
pub fn judge_seal(
    session: &SessionId,
    span: &HeldSpan,
    held: &dyn HeldOps,
    seal: &SealToJudge,
) -> Option<Evidence> {
    let author = seal.author;
    let (lamport, payload) = seal.ops.first()?;
    let at_seal = held.signed_ops(author, seal.seal_at, seal.seal_at);
    if let Some(op) = at_seal.first().filter(|op| op.id.seq == seal.seal_at) {
        if op.lamport == *lamport && op.payload == *payload {
            return None;
        }
        if shape(op) == Shape::Seal(seal.stroke) {
            return two_seals(session, span, held, seal, op);
        }
    }
    if let Some((ours_at, ours)) = span.sealed_side(author, held, seal.stroke) {
        // A seal of the stroke held here under another number, in place of its ops.
        let theirs = Fork {
            head: ours.head,
            ops: seal.ops.clone(),
            signature: seal.signature,
            jumps: seal.jumps.clone(),
        };
        return Evidence::two_seals(
            session,
            span.key,
            seal.stroke,
            (ours_at, ours),
            (seal.seal_at, theirs),
        );
    }
    let other = span.side(author, held, seal.stroke.checked_sub(1)?)?;
    let sealed = Fork {
        head: other.head,
        ops: seal.ops.clone(),
        signature: seal.signature,
        jumps: seal.jumps.clone(),
    };
    Evidence::under_seal(session, span.key, seal.stroke, seal.seal_at, sealed, other)
}

/// Two seals of one stroke under one number (`ours`, held here, and `seal`): both
/// hash on from the head before the stroke, so their heads there differ, and each
/// side runs to a signature (ours to the first kept at or after it): two signed
/// heads at one op. `None` if what it takes is not held.
fn two_seals(
    session: &SessionId,
    span: &HeldSpan,
    held: &dyn HeldOps,
    seal: &SealToJudge,
    ours: &WireOp,
) -> Option<Evidence> {
    let author = seal.author;
    let base = hash_on(author, span.from, held, seal.stroke.checked_sub(1)?)?;
    let (lamport, payload) = seal.ops.first()?;
    let theirs = Fork {
        head: base.next(seal.seal_at, *lamport, payload),
        ops: seal.ops.get(1..)?.to_vec(),
        signature: seal.signature,
        // Numbered on from the seal: the first of these is index 0.
        jumps: seal
            .jumps
            .iter()
            .map(|(index, number)| Some((index.checked_sub(1)?, *number)))
            .collect::<Option<_>>()?,
    };
    let first = seal.seal_at.checked_add(1)?;
    let after = held.signed_ops(author, first, span.end.0);
    let head = base.next(seal.seal_at, ours.lamport, &ours.payload);
    let ours = held_side(head, &after, seal.seal_at, span.end)?;
    Evidence::new(session, span.key, seal.seal_at, theirs, ours)
}

/// Judges a head a peer says its author signed after op `theirs.seq`, where this
/// node holds the author's log further but keeps no signed head there: the head is
/// hashed again from the last kept before it over the ops `held` (`span`,
/// from that op). If it differs, the author signed both: proof (two signed heads at
/// one op, this node's side running to its next kept signature). `None` if they
/// agree, if the peer's signature does not verify, or if what it takes is not held.
/// Costs at most a few thousand hashes.
pub fn judge_head(
    session: &SessionId,
    span: &HeldSpan,
    held: &dyn HeldOps,
    theirs: &SignedHead,
) -> Option<Evidence> {
    let ours = span.side(theirs.author, held, theirs.seq)?;
    if ours.head == theirs.head {
        return None;
    }
    let claimed = Fork {
        head: theirs.head,
        ops: Vec::new(),
        signature: theirs.signature,
        jumps: Vec::new(),
    };
    Evidence::new(session, span.key, theirs.seq, claimed, ours)
}

/// The head before op `stroke` of `log`'s author: hashed on from the last signed head
/// kept before it over the ops `held` (a seal hashes on from before its own stroke,
/// which is the entry before it in a held log). What a log restored
/// from a file lacks to take the seal of a stroke open when the node stopped. `None`
/// if those ops are not all held. Kept heads lie within a checkpoint of each other,
/// so this hashes at most a few thousand ops.
fn base_before(
    session: &SessionId,
    log: &AuthorLog,
    held: &dyn HeldOps,
    stroke: u64,
) -> Option<Head> {
    let before = stroke.checked_sub(1)?;
    hash_on(
        log.author(),
        start_before(session, log, before)?,
        held,
        before,
    )
}

/// The last signed head `log` keeps at or before op `before` (the genesis if none).
fn start_before(session: &SessionId, log: &AuthorLog, before: u64) -> Option<(u64, Head)> {
    Some(match log.signed_at_or_before(before) {
        Some(seq) => (seq, log.signed_head(seq)?),
        None => (0, Head::genesis(session, log.key())),
    })
}

/// The head after op `before` of `author`'s log, hashed on from `(at, head)` over
/// the ops `held`; `None` if they are not all held.
fn hash_on(
    author: NodeId,
    (mut at, mut head): (u64, Head),
    held: &dyn HeldOps,
    before: u64,
) -> Option<Head> {
    for op in held.signed_ops(author, at.saturating_add(1), before) {
        let next = at.checked_add(1)?;
        let follows =
            op.id.seq == next || matches!(shape(&op), Shape::Seal(start) if start == next);
        if op.id.node != author || !follows {
            return None;
        }
        head = head.next(op.id.seq, op.lamport, &op.payload);
        at = op.id.seq;
    }
    (at == before).then_some(head)
}
