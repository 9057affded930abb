//! `document`: the session's document, and nothing else. It applies ops that links'
//! checkers have already decoded and validated, replayed ones, and the local person's
//! edits; drops duplicates; and hands what is new to the store (first, so nothing is
//! forwarded that is not being saved), the sync server's replica, the router and the
//! `applied` backplane. Reads — status, sync, exports — are answered elsewhere from
//! the replica, so a big join or an export never holds up live strokes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use canopy_axon::{link, BoxError, Component, Context, Inbox, Outbox, Scope};
use canopy_canvas::{Applied, Document, NodeId, Op, OpError, OpId, Reauthor, Shape, StrokeRule};
use canopy_protocol::{
    Authority, Evidence, Fork, OpaqueReplica, Refusal, Revocation, Role, SignError, Signer,
    Verified, WireOp,
};
use ring::signature::Ed25519KeyPair;

use super::authors::{Authors, SharedAuthors};
use super::catch_up::CatchUp;
use super::cuts::PendingCuts;
use super::edit::{Edit, LiveStroke};
use super::presence::PresenceInput;
use super::router::RouterInput;
use super::sync::SyncInput;
use super::{AppliedOps, LinkId, APPLIED};
use crate::storage::{now_ms, KeptSignature, SignedHeads};
use crate::store::StoreInput;

/// An op a link's checker decoded and validated: the wire form to pass on, the op to
/// apply.
#[derive(Debug, Clone)]
pub struct Checked {
    /// As it travels.
    pub wire: WireOp,
    /// As documents apply it; `None` in a blind session (a relay that reads nothing
    /// of a payload past its header, `docs/BLIND-RELAYS.md`).
    pub op: Option<Op>,
    /// What it is to the stroke rule, read from the payload's header
    /// ([`canopy_protocol::shape_of`]): all that verifying its author's log reads of
    /// the payload besides its bytes.
    pub shape: Shape,
}

/// A run of one author's consecutive ops whose signed log a checker verified: the
/// document commits it in the author's order.
#[derive(Debug, Clone)]
pub struct Run {
    /// The author.
    pub author: NodeId,
    /// Its ops, in sequence order (signatures only where kept).
    pub ops: Vec<Checked>,
    /// What the author's log becomes with them.
    pub verified: Verified,
}

/// Ops made here, ready to publish, and the signed heads kept for them.
type Signed = (Vec<Checked>, SignedHeads);

impl Checked {
    /// An op made or read here, with the shape its header will say.
    fn read(wire: WireOp, op: Op) -> Checked {
        let shape = Shape::of(&op.action);
        Checked {
            wire,
            op: Some(op),
            shape,
        }
    }
}

/// Batches one link may have waiting at the document. The document's inbox is shared
/// by every link; with each link holding at most this many places in it, a link that
/// floods waits for its own batches to be applied (and its peer, through QUIC flow
/// control, for it), while a quiet link's stroke waits behind at most this many
/// batches of each other link, not behind a flood.
pub const LINK_CREDITS: usize = 2;

/// Local edits signed together at most. Edits queued behind one another (a script,
/// or a window that draws faster than the document applies) are signed as one batch:
/// one signature for every receiver to check, not one per edit.
pub const LOCAL_BATCH: usize = 256;

/// A link's place in the document's queue, given back when its batch is applied.
#[derive(Debug)]
pub struct Credit {
    /// Held, not read: dropping it frees the place.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Credit {
    /// A batch that holds no place (tests, and senders that are not links).
    pub fn free() -> Self {
        Credit { _permit: None }
    }
}

/// A link's [`LINK_CREDITS`] places.
#[derive(Debug, Clone)]
pub struct Credits(Arc<tokio::sync::Semaphore>);

impl Default for Credits {
    fn default() -> Self {
        Credits(Arc::new(tokio::sync::Semaphore::new(LINK_CREDITS)))
    }
}

impl Credits {
    /// Waits for a free place; `None` only if the places were closed.
    pub async fn take(&self) -> Option<Credit> {
        let permit = Arc::clone(&self.0).acquire_owned().await.ok()?;
        Some(Credit {
            _permit: Some(permit),
        })
    }
}

/// What the document is given.
#[derive(Debug)]
pub enum DocumentInput {
    /// Verified runs of ops from a link.
    FromLink {
        /// Which link.
        link: LinkId,
        /// The runs, in arrival order.
        runs: Vec<Run>,
        /// The link's place in the queue, given back once the ops are applied.
        credit: Credit,
    },
    /// Recorded ops replayed into the session (`canopy play`): they become this
    /// node's own signed ops (their authors' signatures cannot come along).
    Replay(Vec<WireOp>),
    /// A local edit (drawing script or window).
    Local(Edit),
    /// This node's authority (the door says so when it joins or rejoins).
    Authority(Box<Authority>),
    /// The parent holds this node's own ops up to this number (its welcome says so):
    /// local edits wait until they are back here ([`super::catch_up`]).
    OwnOpsUpstream(u64),
    /// Proof that an author split its log, already in the authors table: its ops are
    /// left out and the proof passed on.
    Evidence {
        /// The link it came by or was found on (`None`: found here).
        origin: Option<LinkId>,
        /// The proof.
        evidence: Box<Evidence>,
    },
    /// A checked revocation (the door keeps it and passes it on): the logs of the
    /// authors under its grant end at its cut-offs, here as on every replica.
    Revoked(Box<Revocation>),
    /// Authorities new to this node, already in the authors table: kept in the file
    /// and passed on to every other link before any of their ops.
    Authors {
        /// The link they came by (`None`: learned here, e.g. a child admitted).
        origin: Option<LinkId>,
        /// The authorities.
        authorities: Vec<Authority>,
    },
}

/// How this node makes ops of its own.
pub struct OwnAuthorship {
    /// The node's key, which signs them.
    pub key: Arc<Ed25519KeyPair>,
    /// Ops taken over from files and recordings so far (old id → new).
    pub reauthor: Reauthor,
    /// How long local edits wait for the node's own earlier ops ([`CatchUp`]).
    pub own_ops_wait: std::time::Duration,
    /// How far the parent holds the node's own ops, as it joined.
    pub own_ops_upstream: u64,
    /// The shortest time between two rebuilds that leave out authors proven to have
    /// split their logs ([`PendingCuts`]).
    pub proof_rebuild_pause: std::time::Duration,
}

/// A verified run as far as a revoked author's cut-off lets it go (checked before the
/// revocation arrived, it may go further): its ops up to the cut-off, ending at the
/// head the revocation names with the author's signature it carries. `None` if
/// nothing of it is kept, or it is not the log the revoker kept.
fn up_to_cut_off(
    mut ops: Vec<Checked>,
    verified: Verified,
    first: u64,
    stop: Option<&canopy_protocol::Kept>,
) -> Option<(Vec<Checked>, Verified)> {
    let Some(stop) = stop.filter(|stop| verified.seq > stop.seq) else {
        return Some((ops, verified));
    };
    if first > stop.seq {
        return None;
    }
    // Nothing is taken after a revocation's cut-off: where the rule stands is moot.
    let mut kept = verified.up_to(stop.seq, StrokeRule::default(), None)?;
    if kept.head != stop.head {
        return None;
    }
    if let Some(signature) = stop.signature {
        if !kept.keep.iter().any(|(seq, _, _)| *seq == stop.seq) {
            kept.keep.push((stop.seq, stop.head, signature));
        }
    }
    ops.retain(|checked| checked.wire.id.seq <= stop.seq);
    Some((ops, kept))
}

/// The document component.
pub struct DocumentComponent {
    inbox: Inbox<DocumentInput>,
    /// To the store: every new op, before it goes anywhere else.
    persist: Outbox<StoreInput>,
    /// To the sync server's replica.
    sync: Outbox<SyncInput>,
    /// To the router: new ops to forward, links that sent bad ones.
    router: Outbox<RouterInput>,
    /// To the presence table: the page shown, the cursor.
    presence: Outbox<PresenceInput>,
    applied: Outbox<AppliedOps>,
    /// What a reader holds: ops applied. In a blind session an empty document
    /// that only names this node (nothing is read, made or drawn here).
    document: Document,
    /// In a blind session, the ops held as their authors signed them, unread.
    blind: Option<OpaqueReplica>,
    role: Option<Role>,
    /// The stroke the local person is drawing.
    live_stroke: LiveStroke,
    /// Op bytes the session holds, read by every link's guard.
    held_bytes: Arc<AtomicU64>,
    /// Who may author, and each author's log: committed here, in each author's order.
    authors: SharedAuthors,
    /// This node's key, which signs its ops.
    key: Arc<Ed25519KeyPair>,
    /// This node's own log, once it may edit.
    signer: Option<Signer>,
    /// Replayed ops taken over so far (old id → new).
    reauthor: Reauthor,
    /// Authors whose ops are left out (proven to have split their logs).
    cut: std::collections::BTreeSet<NodeId>,
    /// Of those, the ones whose ops held here are still to be dropped.
    pending_cuts: PendingCuts,
    /// Local edits waiting for this node's earlier ops to come back.
    catch_up: CatchUp,
}

impl DocumentComponent {
    /// Makes the boxes; `held_bytes` starts at what the session's file holds;
    /// `authors` holds the logs as the file keeps them. A blind session (`blind`
    /// holds its ops) reads none: `document` then only names this node.
    pub fn new(
        scope: &Scope,
        document: Document,
        blind: Option<OpaqueReplica>,
        role: Option<Role>,
        held_bytes: Arc<AtomicU64>,
        authors: SharedAuthors,
        own: OwnAuthorship,
    ) -> Self {
        let OwnAuthorship {
            key,
            reauthor,
            own_ops_wait,
            own_ops_upstream,
            proof_rebuild_pause,
        } = own;
        let mut catch_up = CatchUp::new(own_ops_wait);
        let held = Authors::read(&authors)
            .tip(document.local_node())
            .map_or(0, |tip| tip.tail.seq);
        catch_up.claimed(own_ops_upstream, held, tokio::time::Instant::now());
        let signer = own_signer(&authors, document.local_node());
        let cut = Authors::read(&authors).cut_off().into_iter().collect();
        Self {
            inbox: scope.inbox_with_capacity("inbox", 1024),
            persist: scope.outbox("persist"),
            sync: scope.outbox("sync"),
            router: scope.outbox("router"),
            presence: scope.outbox("presence"),
            applied: scope.outbox("applied"),
            document,
            blind,
            role,
            live_stroke: LiveStroke::default(),
            held_bytes,
            authors,
            key,
            signer,
            reauthor,
            cut,
            pending_cuts: PendingCuts::new(proof_rebuild_pause),
            catch_up,
        }
    }

    /// Hands new ops on: store, replica, router, observers — in that order, so an op
    /// reaches the replica before the router can tell a new link about it (the sync
    /// server's backlog and the live stream then leave no gap between them).
    async fn publish(&mut self, origin: Option<LinkId>, fresh: Vec<Checked>, signed: SignedHeads) {
        if fresh.is_empty() && signed.is_empty() {
            return;
        }
        // What the session holds: the bytes on the wire, or more where an op takes
        // more memory than its bytes (budgets then bound memory, not only traffic).
        let bytes: u64 = fresh
            .iter()
            .map(|c| {
                let read = c.op.as_ref().map_or(0, |op| op.held_bytes() as u64);
                wire_bytes(&c.wire).max(read)
            })
            .sum();
        // Each op moves on once: the sync replica takes the op read (or, blind, a
        // copy of its bytes), the store and router its wire form.
        let blind = self.blind.is_some();
        let (mut read, mut unread) = (Vec::new(), Vec::new());
        let mut wire = Vec::with_capacity(fresh.len());
        for Checked { wire: w, op, shape } in fresh {
            match op {
                Some(op) if !blind => read.push(op),
                _ => unread.push((w.clone(), shape)),
            }
            wire.push(w);
        }
        let to_sync = if blind {
            SyncInput::Held(unread)
        } else {
            SyncInput::Applied(read)
        };
        self.held_bytes.fetch_add(bytes, Ordering::Relaxed);
        if self
            .persist
            .send(StoreInput::Ops(now_ms(), wire.clone(), signed))
            .await
            .is_err()
        {
            tracing::error!("the store has stopped: new ops are not being saved");
        }
        if wire.is_empty() {
            return;
        }
        let _ = self.sync.send(to_sync).await;
        let wire = Arc::new(wire);
        let _ = self.applied.try_send(Arc::clone(&wire));
        let _ = self
            .router
            .send(RouterInput::Forward { origin, ops: wire })
            .await;
    }

    /// Commits a link's verified runs, each author's in order: ops this node holds
    /// already are skipped once their log is seen to match, the rest applied. A run
    /// that contradicts the log held here, or an op the document refuses, closes the
    /// link (the author's log stops before that op on every replica alike).
    async fn apply_from_link(&mut self, link: LinkId, runs: Vec<Run>) {
        let mut fresh = Vec::new();
        let mut signed = SignedHeads::default();
        let mut refusal = None;
        let mut proofs = Vec::new();
        for run in runs {
            match self.commit_run(run, &mut fresh, &mut signed) {
                Ok(None) => {}
                Ok(Some(evidence)) => proofs.push(evidence),
                Err(reason) => {
                    refusal = Some(reason);
                    break;
                }
            }
        }
        self.publish(Some(link), fresh, signed).await;
        for evidence in proofs {
            if Authors::write(&self.authors).cut(&evidence) {
                self.cut_off(None, evidence).await;
            }
        }
        if let Some(refusal) = refusal {
            let _ = self
                .router
                .send(RouterInput::Misbehaved { link, refusal })
                .await;
        }
    }

    fn commit_run(
        &mut self,
        run: Run,
        fresh: &mut Vec<Checked>,
        signed: &mut SignedHeads,
    ) -> Result<Option<Evidence>, Refusal> {
        let Run {
            author,
            ops,
            verified,
        } = run;
        let Some(tip) = Authors::read(&self.authors).tip(author) else {
            return Ok(None);
        };
        let Some(first) = ops.first().map(|checked| checked.wire.id.seq) else {
            return Ok(None);
        };
        // A run may start with a seal that stands for ops from its stroke's start on.
        let reaches_from = match ops.first().map(|checked| checked.shape) {
            Some(Shape::Seal(stroke)) => stroke.min(first),
            _ => first,
        };
        if tip.tail.seq.saturating_add(1) < reaches_from || tip.cut.is_some() {
            // Continues ops this node never committed (the link is being closed for
            // them), or an author cut off: nothing to take.
            return Ok(None);
        }
        let Some((ops, verified)) = up_to_cut_off(ops, verified, first, tip.stop.as_ref()) else {
            return Ok(None);
        };
        if tip.tail.seq >= first {
            // Where both logs reach: the run must be the log held here.
            let at = tip.tail.seq.min(verified.seq);
            let theirs = verified.head_at(at);
            let (ours, our_signature, session) = {
                let table = Authors::read(&self.authors);
                let log = table.log(author);
                (
                    log.and_then(|log| log.signed_head(at)),
                    log.and_then(|log| log.signature(at).copied()),
                    *table.session(),
                )
            };
            if let (Some(theirs), Some(ours), Some(our_signature)) = (theirs, ours, our_signature) {
                if theirs != ours {
                    // The author signed both: proof (the other link only passed it on).
                    let their_end = verified.keep.iter().find(|(seq, _, _)| *seq >= at);
                    let proof = their_end.and_then(|(end, _, signature)| {
                        // A verified run may jump to a seal: the side says where.
                        let theirs = Fork::numbered(
                            theirs,
                            at,
                            ops.iter()
                                .filter(|c| (at + 1..=*end).contains(&c.wire.id.seq))
                                .map(|c| (c.wire.id.seq, c.wire.lamport, c.wire.payload.clone()))
                                .collect(),
                            *signature,
                        );
                        let ours = Fork {
                            head: ours,
                            ops: Vec::new(),
                            signature: our_signature,
                            jumps: Vec::new(),
                        };
                        Evidence::new(&session, tip.key, at, theirs, ours)
                    });
                    return match proof {
                        Some(evidence) => Ok(Some(evidence)),
                        None => Err(Refusal::Protocol(format!(
                            "op {author}:{at} is not what its author signed"
                        ))),
                    };
                }
            }
            if tip.tail.seq >= verified.seq {
                return Ok(None);
            }
        }
        let mut applied_to = tip.tail.seq;
        let (mut strokes, mut base, mut head) = (tip.tail.strokes, tip.tail.base, tip.tail.head);
        let mut refused = None;
        let held = tip.tail.seq;
        for checked in ops.into_iter().filter(|c| c.wire.id.seq > held) {
            let (seq, shape) = (checked.wire.id.seq, checked.shape);
            let taken = match (&mut self.blind, &checked.op) {
                (Some(held), _) => Ok(held.take(&checked.wire, shape)),
                (None, Some(op)) => self.document.apply(op.clone()).map_err(|e| refusal_for(&e)),
                (None, None) => Err(Refusal::Protocol(format!(
                    "op {} was not read",
                    checked.wire.id
                ))),
            };
            match taken {
                Ok(Applied::New) => fresh.push(checked),
                Ok(Applied::Duplicate) => {}
                Err(refusal) => {
                    refused = Some(refusal);
                    break;
                }
            }
            applied_to = seq;
            // Verified already: this only follows where the log stands (a seal taken
            // from before its stroke leaves it as one taken right after its end does).
            if strokes.step(seq, shape).is_err() {
                strokes = StrokeRule::default();
            }
            match shape {
                Shape::Start => base = Some(head),
                Shape::Points(..) | Shape::End(_) => {}
                Shape::Seal(_) | Shape::Other => base = None,
            }
            head = verified.head_at(seq).unwrap_or(head);
        }
        let verified = if applied_to == verified.seq {
            Some(verified)
        } else {
            verified.up_to(applied_to, strokes, base)
        };
        if let Some(verified) = verified {
            signed.extend(Authors::write(&self.authors).commit(author, verified));
        }
        match refused {
            Some(refusal) => Err(refusal),
            None => Ok(None),
        }
    }

    /// Signs ops this node just made and commits them to its own log: the last and
    /// any checkpoint carry the signature on the wire and in the file.
    fn sign_own(&mut self, ops: Vec<Op>) -> Result<Signed, String> {
        let me = self.document.local_node();
        let signer = self
            .signer
            .as_mut()
            .ok_or_else(|| "this node has no authority to edit yet".to_string())?;
        // Ops of its own that came back from the tree (made before its file was lost)
        // are in the table: the log goes on from them.
        {
            let table = Authors::read(&self.authors);
            if let Some(tip) = table.tip(me).filter(|tip| tip.tail.seq > signer.seq()) {
                *signer = Signer::from_tail(*table.session(), tip.key, tip.tail);
            }
        }
        let (wires, verified) = signer
            .sign_batch(&self.key, &ops)
            .map_err(|e: SignError| e.to_string())?;
        let signed = Authors::write(&self.authors).commit(me, verified);
        let made = wires
            .into_iter()
            .zip(ops)
            .map(|(wire, op)| Checked::read(wire, op))
            .collect();
        Ok((made, signed))
    }

    /// A recording's ops, made again as this node's own: ids and references follow.
    async fn replay(&mut self, wire: Vec<WireOp>) {
        if self.blind.is_some() {
            tracing::warn!("a blind session makes no ops: the recording is not replayed");
            return;
        }
        if self.role != Some(Role::Editor) {
            tracing::warn!("a viewer cannot replay a recording into the session");
            return;
        }
        // The replayed ops are this node's: a stroke it is drawing ends first.
        let signer = &self.signer;
        let can_seal = |stroke: OpId| signer.as_ref().is_some_and(|s| s.can_seal(stroke.seq));
        let mut made: Vec<Op> = self.live_stroke.interrupt(&mut self.document, &can_seal);
        for w in wire {
            let adopted = w.to_op().map_err(|e| e.to_string()).and_then(|op| {
                self.reauthor
                    .adopt(&mut self.document, &op)
                    .map_err(|e| e.to_string())
            });
            match adopted {
                Ok(ops) => made.extend(ops),
                Err(error) => tracing::warn!(op = %w.id, %error, "recorded op skipped"),
            }
        }
        match self.sign_own(made) {
            Ok((fresh, signed)) => self.publish(None, fresh, signed).await,
            Err(error) => tracing::error!(%error, "replayed ops cannot be signed"),
        }
    }

    /// This node's authority: it may edit (and sign) if it is an editor's.
    async fn authority(&mut self, authority: Authority) {
        let role = authority.role();
        let learned = Authors::write(&self.authors).learn(&authority);
        match learned {
            Ok(news) => {
                if news {
                    self.authors_news(None, vec![authority]).await;
                }
            }
            Err(error) => {
                tracing::error!(%error, "this node's own authority does not verify");
                return;
            }
        }
        self.role = Some(role);
        if self.signer.is_none() {
            self.signer = own_signer(&self.authors, self.document.local_node());
        }
    }

    /// Leaves out every op of an author proven to have signed two logs (or an op no
    /// node takes) — in this document, the sync replica and the file's next load —
    /// and passes the proof on to every link but `origin` (the authors table has it
    /// already).
    async fn cut_off(&mut self, origin: Option<LinkId>, evidence: Evidence) {
        let author = evidence.author.node_id();
        if !self.cut.insert(author) {
            return;
        }
        tracing::warn!(%author, "an author {}: its ops are left out", evidence.what());
        let _ = self
            .persist
            .send(StoreInput::Evidence(author, evidence.to_bytes()))
            .await;
        let _ = self
            .router
            .send(RouterInput::Evidence {
                origin,
                evidence: Arc::new(evidence),
            })
            .await;
        // Nothing more of it is taken from now on; what is held goes in the next
        // rebuild (paced: see `cuts`).
        self.pending_cuts.add(author);
        self.leave_out_proven().await;
    }

    /// Drops the ops of authors proven to have split their logs, if a rebuild is due:
    /// all of them in one rebuild, here and in the sync server's replica.
    async fn leave_out_proven(&mut self) {
        let Some(authors) = self.pending_cuts.due(tokio::time::Instant::now()) else {
            return;
        };
        let began = tokio::time::Instant::now();
        let nothing_kept: BTreeMap<NodeId, u64> =
            authors.iter().map(|author| (*author, 0)).collect();
        self.without_ops_past(&nothing_kept);
        if self
            .live_stroke
            .stroke()
            .is_some_and(|stroke| authors.contains(&stroke.node))
        {
            self.live_stroke.forget();
        }
        let now = tokio::time::Instant::now();
        self.pending_cuts.rebuilt(now, now - began);
        let _ = self.sync.send(SyncInput::Cut(authors)).await;
    }

    /// Each author in `last_kept` holding its ops only up to the number given, in
    /// what this session holds (read or not).
    fn without_ops_past(&mut self, last_kept: &BTreeMap<NodeId, u64>) {
        match &mut self.blind {
            Some(held) => held.without_ops_past(last_kept),
            None => self.document = self.document.without_ops_past(last_kept),
        }
    }

    /// Ends the logs of the authors under a revoked grant where the revocation says:
    /// ops held past their cut-offs leave this document and the sync replica (the
    /// checkers take none past them from now on). A node whose own log ends stops
    /// signing: nothing it made would be taken.
    async fn revoked(&mut self, revocation: &Revocation) {
        let cuts = Authors::write(&self.authors).revoke(revocation);
        let dropped: BTreeMap<NodeId, u64> =
            cuts.iter().map(|(node, kept)| (*node, kept.seq)).collect();
        if !dropped.is_empty() {
            tracing::warn!(
                authors = dropped.len(),
                "revoked authors' ops after their cut-offs are left out"
            );
            // One rebuild for them all, however many authors the grant minted.
            self.without_ops_past(&dropped);
            if self
                .live_stroke
                .stroke()
                .is_some_and(|stroke| dropped.contains_key(&stroke.node))
            {
                self.live_stroke.forget();
            }
            let _ = self.sync.send(SyncInput::Stop(dropped)).await;
            // The file drops them too, so an export, a copy or a replay of it shows
            // what every replica shows.
            let file_cuts = cuts
                .into_iter()
                .map(|(node, kept)| (node, kept.seq, kept.signature.map(|s| (kept.head, s))))
                .collect();
            let _ = self.persist.send(StoreInput::Cut(file_cuts)).await;
        }
        let me = self.document.local_node();
        if Authors::read(&self.authors)
            .tip(me)
            .is_some_and(|tip| tip.stop.is_some())
        {
            self.signer = None;
        }
    }

    /// Keeps authorities new here and passes them on to every link but `origin`.
    async fn authors_news(&mut self, origin: Option<LinkId>, authorities: Vec<Authority>) {
        let session = *Authors::read(&self.authors).session();
        for authority in &authorities {
            if let Ok((key, _)) = authority.author(&session) {
                let node = canopy_protocol::AuthorKey(key).node_id();
                let _ = self
                    .persist
                    .send(StoreInput::Author(node, authority.to_bytes()))
                    .await;
            }
        }
        let _ = self
            .router
            .send(RouterInput::Authors {
                origin,
                authorities: Arc::new(authorities),
            })
            .await;
    }

    /// Local edits, taken together: their ops are signed as one batch.
    async fn local(&mut self, edits: Vec<Edit>) {
        let mut ops = Vec::new();
        for edit in edits {
            if let Err(error) = self.local_one(edit, &mut ops).await {
                tracing::warn!(%error, "local edit refused");
            }
        }
        self.sign_and_publish(ops).await;
    }

    /// One local edit: applied (its ops added to `ops`), or waiting, or refused.
    async fn local_one(&mut self, edit: Edit, ops: &mut Vec<Op>) -> Result<(), String> {
        match edit {
            Edit::GotoPage(page) => {
                let _ = self.presence.send(PresenceInput::Page(page)).await;
                return Ok(());
            }
            Edit::Cursor(cursor) => {
                let _ = self.presence.send(PresenceInput::Cursor(cursor)).await;
                return Ok(());
            }
            _ => {}
        }
        if self.blind.is_some() {
            return Err("this session is blind here: it holds ops unread and makes none".into());
        }
        if self.role != Some(Role::Editor) {
            return Err("this node is a viewer: it cannot edit".into());
        }
        if self.signer.is_none() {
            return Err("this node has no authority to edit yet".into());
        }
        if self
            .catch_up
            .waiting_at(self.own_held(), tokio::time::Instant::now())
        {
            return self.catch_up.wait(edit).map_err(|e| e.to_string());
        }
        let signer = &self.signer;
        let pending: &[Op] = ops;
        let can_seal = |stroke: OpId| {
            pending.iter().any(|op| op.id == stroke)
                || signer.as_ref().is_some_and(|s| s.can_seal(stroke.seq))
        };
        let made = edit.apply(&mut self.document, &mut self.live_stroke, &can_seal)?;
        ops.extend(made);
        Ok(())
    }

    /// This node's own ops held here, up to.
    fn own_held(&self) -> u64 {
        Authors::read(&self.authors)
            .tip(self.document.local_node())
            .map_or(0, |tip| tip.tail.seq)
    }

    /// Makes the edits that waited for this node's own ops, once the wait is over.
    async fn release_waiting(&mut self) {
        let edits = self
            .catch_up
            .release(self.own_held(), tokio::time::Instant::now());
        if !edits.is_empty() {
            self.local(edits).await;
        }
    }

    /// Signs ops made here (one signature for the batch) and hands them on.
    async fn sign_and_publish(&mut self, ops: Vec<Op>) {
        if ops.is_empty() {
            return;
        }
        match self.sign_own(ops) {
            Ok((fresh, signed)) => self.publish(None, fresh, signed).await,
            Err(error) => tracing::error!(%error, "local ops cannot be signed"),
        }
    }

    /// Takes `first` and the local edits queued right behind it (at most
    /// [`LOCAL_BATCH`]); the first other input met is kept for next.
    fn local_edits(&mut self, first: Edit) -> (Vec<Edit>, Option<DocumentInput>) {
        let mut edits = vec![first];
        while edits.len() < LOCAL_BATCH {
            match self.inbox.try_recv() {
                Ok(DocumentInput::Local(edit)) => edits.push(edit),
                Ok(other) => return (edits, Some(other)),
                Err(_) => break,
            }
        }
        (edits, None)
    }
}

impl Component for DocumentComponent {
    async fn run(mut self, ctx: Context) -> Result<(), BoxError> {
        let hub = ctx.graph().backplane::<AppliedOps>(APPLIED)?;
        link(&self.applied.handle(), hub.publish_inbox())?;
        let mut next: Option<DocumentInput> = None;
        loop {
            let input = match next.take() {
                Some(input) => Some(input),
                None => {
                    let deadline = self.catch_up.deadline();
                    let cuts = self.pending_cuts.deadline(tokio::time::Instant::now());
                    tokio::select! {
                        input = self.inbox.recv() => input,
                        () = sleep_until_some(deadline) => {
                            self.release_waiting().await;
                            continue;
                        }
                        () = sleep_until_some(cuts) => {
                            self.leave_out_proven().await;
                            continue;
                        }
                    }
                }
            };
            let Some(input) = input else { break };
            match input {
                DocumentInput::FromLink { link, runs, credit } => {
                    self.apply_from_link(link, runs).await;
                    drop(credit);
                    self.release_waiting().await;
                }
                DocumentInput::OwnOpsUpstream(seq) => {
                    let held = self.own_held();
                    self.catch_up
                        .claimed(seq, held, tokio::time::Instant::now());
                }
                DocumentInput::Replay(ops) => self.replay(ops).await,
                DocumentInput::Local(edit) => {
                    let (edits, after) = self.local_edits(edit);
                    next = after;
                    self.local(edits).await;
                }
                DocumentInput::Authority(authority) => self.authority(*authority).await,
                DocumentInput::Authors {
                    origin,
                    authorities,
                } => self.authors_news(origin, authorities).await,
                DocumentInput::Revoked(revocation) => self.revoked(&revocation).await,
                DocumentInput::Evidence { origin, evidence } => {
                    self.cut_off(origin, *evidence).await
                }
            }
        }
        Ok(())
    }
}

/// Waits until `deadline`, or for ever if there is none.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The signed heads a run keeps, as the file keeps them.
pub fn kept_of(author: NodeId, verified: &Verified) -> Vec<KeptSignature> {
    verified
        .keep
        .iter()
        .map(|(seq, head, signature)| {
            (
                OpId {
                    node: author,
                    seq: *seq,
                },
                *head,
                *signature,
            )
        })
        .collect()
}

/// This node's own log, if the authors table knows this node's authority: it goes on
/// from the last op of its own the table holds.
fn own_signer(authors: &SharedAuthors, me: NodeId) -> Option<Signer> {
    let table = Authors::read(authors);
    let tip = table.tip(me)?;
    (tip.role == Role::Editor).then(|| Signer::from_tail(*table.session(), tip.key, tip.tail))
}

/// What an op counts against a session's byte budget: its payload and envelope.
pub fn wire_bytes(wire: &WireOp) -> u64 {
    wire.payload.len() as u64 + 32
}

/// The reason a link is closed for an op its document refused.
pub fn refusal_for(error: &OpError) -> Refusal {
    match error {
        OpError::PageFull { .. }
        | OpError::TooManyPages(_)
        | OpError::TooManyPoints { .. }
        | OpError::TooManyItems { .. }
        | OpError::TooLarge { .. } => Refusal::Limit(error.to_string()),
        _ => Refusal::Protocol(format!("invalid op: {error}")),
    }
}
