//! `sync`: the sync server. It keeps a replica of the document, fed by the document
//! component with every new op, and answers everything that reads the whole document
//! from it: a new link's backlog (the ops its version vector lacks), a window catching
//! up, copies for the window and exports, and the counts and digest status shows. So a
//! 100,000-stroke join is computed here, on another core, while the document goes on
//! applying live strokes.
//!
//! A backlog is sent a piece at a time ([`SYNC_BATCH`] ops), one piece between any
//! two other messages: the set is fixed when it is asked for (up to the replica's
//! latest ops then; later ones reach the link live through the router), so the
//! replica keeps taking the document's ops while a large join is served, and the
//! document never waits on a full inbox behind it.
//!
//! Seals and heads a link's checker could not judge alone are judged here against
//! the replica, once it holds what the authors table held when they were asked:
//! the document commits ops to the table before they reach the replica.

use std::collections::{BTreeMap, VecDeque};

use canopy_axon::{
    link, BoxError, Component, Context, Inbox, InboxRef, Outbox, Scope, TryRecvError, TrySendError,
};
use canopy_canvas::{Document, NodeId, Op, OpId, Shape, VersionVector};
use canopy_protocol::{
    Evidence, Message, OpaqueReplica, SignedHead, WireOp, MAX_HEADS_PER_MESSAGE,
};
use tokio::sync::oneshot;

use super::authors::{judge_head, judge_seal, Authors, HeldOps, SealToJudge, SharedAuthors};
use super::LinkId;
use crate::link::encoder::{queued_bytes, Queued};

/// Ops per `Ops` message in a backlog.
pub const SYNC_BATCH: usize = 512;

/// How long a backlog whose link's queue is full waits before trying again.
/// How long a glance without the digest may show a stroke count made earlier, while
/// ops keep coming (a 100,000-stroke count is some milliseconds).
pub const STROKE_COUNT_REUSE: std::time::Duration = std::time::Duration::from_millis(100);

const FULL_QUEUE_PAUSE: std::time::Duration = std::time::Duration::from_millis(2);

/// How long a seal or head to judge waits for the replica to hold the author's ops
/// the authors table held when it was asked. They are on their way from the
/// document (milliseconds); past this the judgement is made with what is held.
pub const JUDGE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// What the document looks like, for status.
#[derive(Debug, Clone)]
pub struct DocumentGlance {
    /// This node's document identity.
    pub node: NodeId,
    /// Ops held.
    pub ops: u64,
    /// Per author, ops seen without gaps.
    pub version_vector: VersionVector,
    /// Digest of what is visible (only when asked: a pass over everything).
    pub digest: Option<String>,
    /// Digest of what is drawn, without ids (only when asked, with the digest).
    pub picture: Option<String>,
    /// Visible pages.
    pub pages: usize,
    /// Visible strokes.
    pub strokes: usize,
    /// Authors left out (proven to have split their logs).
    pub left_out: usize,
    /// Times a revocation cut an author's log short in the replica.
    pub cut_short: usize,
}

/// What the sync server serves from: a document, on a node that reads the ops; or
/// the ops as their authors signed them, on a relay that does not
/// (`docs/BLIND-RELAYS.md`). Both serve the same ops for the same version vector.
#[derive(Debug, Clone)]
pub enum Replica {
    /// The ops read and applied.
    Reader(Box<Document>),
    /// The ops held unread.
    Blind(OpaqueReplica),
}

impl From<Document> for Replica {
    fn from(document: Document) -> Self {
        Replica::Reader(Box::new(document))
    }
}

impl Replica {
    /// Ops of `author` held without gaps.
    fn seen_of(&self, author: NodeId) -> u64 {
        match self {
            Replica::Reader(document) => document.seen_of(author),
            Replica::Blind(held) => held.seen_of(author),
        }
    }

    fn version_vector(&self) -> VersionVector {
        match self {
            Replica::Reader(document) => document.version_vector(),
            Replica::Blind(held) => held.version_vector(),
        }
    }

    fn latest_seqs(&self) -> VersionVector {
        match self {
            Replica::Reader(document) => document.latest_seqs(),
            Replica::Blind(held) => held.latest_seqs(),
        }
    }

    fn count_missing_from(&self, seen: &VersionVector) -> usize {
        match self {
            Replica::Reader(document) => document.count_missing_from(seen),
            Replica::Blind(held) => held.count_missing_from(seen),
        }
    }

    /// One piece of a backlog, as signed (signatures left to the caller).
    fn missing_piece(
        &self,
        seen: &VersionVector,
        upto: &VersionVector,
        after: Option<OpId>,
        limit: usize,
    ) -> Vec<WireOp> {
        match self {
            Replica::Reader(document) => document
                .ops_missing_piece(seen, upto, after, limit)
                .iter()
                .map(WireOp::from_op)
                .collect(),
            Replica::Blind(held) => held.missing_piece(seen, upto, after, limit),
        }
    }

    /// Each author in `last_kept` holding its ops only up to the number given.
    fn cut(&mut self, last_kept: &BTreeMap<NodeId, u64>) {
        match self {
            Replica::Reader(document) => **document = document.without_ops_past(last_kept),
            Replica::Blind(held) => held.without_ops_past(last_kept),
        }
    }

    /// Where judges read an author's held ops.
    fn held(&self) -> &dyn HeldOps {
        match self {
            Replica::Reader(document) => document.as_ref(),
            Replica::Blind(held) => held,
        }
    }
}

/// What the sync server is told or asked.
pub enum SyncInput {
    /// Ops the document just took in.
    Applied(Vec<Op>),
    /// Ops a blind session just took in, with their headers' shapes.
    Held(Vec<(WireOp, Shape)>),
    /// A new link: send it what `seen` lacks through `writer`.
    Backlog {
        /// Which link.
        link: LinkId,
        /// What the peer has.
        seen: VersionVector,
        /// The link's encoder.
        writer: InboxRef<Message>,
        /// Op bytes waiting for that encoder.
        queued: Queued,
    },
    /// Every op `seen` lacks (a window's replica catching up).
    Missing {
        /// What the asker holds.
        seen: VersionVector,
        /// The ops it lacks.
        reply: oneshot::Sender<Vec<WireOp>>,
    },
    /// A copy of the whole document.
    Snapshot(oneshot::Sender<Box<Document>>),
    /// Counts for status, with the digest if `digest`.
    Glance {
        /// Compute the digest too.
        digest: bool,
        /// The answer.
        reply: oneshot::Sender<DocumentGlance>,
    },
    /// The version vector (what a hello or a welcome says this node has seen).
    Seen(oneshot::Sender<VersionVector>),
    /// Authors proven to have split their logs: the replica leaves their ops out.
    Cut(std::collections::BTreeSet<NodeId>),
    /// Revoked authors' logs end at these ops: the replica leaves the rest out.
    Stop(BTreeMap<NodeId, u64>),
    /// A seal a link could not place: proof that its author split its log under it,
    /// if the replica's ops from its stroke's start on say so ([`judge_seal`]).
    /// Judged once the replica holds the author's ops the authors table holds now
    /// (at most [`JUDGE_WAIT`] later); so is a head.
    JudgeSeal {
        /// The seal and the ops after it to a signature.
        seal: Box<SealToJudge>,
        /// The proof, if there is one.
        reply: oneshot::Sender<Option<Evidence>>,
    },
    /// A head a peer says its author signed, where this node holds the log further
    /// and keeps no head there: proof of a split if the replica's ops hash to
    /// another ([`judge_head`]).
    JudgeHead {
        /// The peer's signed head.
        head: SignedHead,
        /// The proof, if there is one.
        reply: oneshot::Sender<Option<Evidence>>,
    },
}

impl std::fmt::Debug for SyncInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncInput::Applied(ops) => write!(f, "Applied({})", ops.len()),
            SyncInput::Held(ops) => write!(f, "Held({})", ops.len()),
            SyncInput::Backlog { link, .. } => write!(f, "Backlog({link})"),
            SyncInput::Missing { .. } => f.write_str("Missing"),
            SyncInput::Snapshot(_) => f.write_str("Snapshot"),
            SyncInput::Glance { .. } => f.write_str("Glance"),
            SyncInput::Seen(_) => f.write_str("Seen"),
            SyncInput::Cut(authors) => write!(f, "Cut({})", authors.len()),
            SyncInput::Stop(last_kept) => write!(f, "Stop({})", last_kept.len()),
            SyncInput::JudgeSeal { seal, .. } => {
                write!(f, "JudgeSeal({}:{})", seal.author, seal.seal_at)
            }
            SyncInput::JudgeHead { head, .. } => {
                write!(f, "JudgeHead({}:{})", head.author, head.seq)
            }
        }
    }
}

/// A seal or head a link's checker asked to have judged ([`judge_seal`],
/// [`judge_head`]), and where to answer.
enum Judgement {
    Seal(Box<SealToJudge>, oneshot::Sender<Option<Evidence>>),
    Head(SignedHead, oneshot::Sender<Option<Evidence>>),
}

impl Judgement {
    fn author(&self) -> NodeId {
        match self {
            Judgement::Seal(seal, _) => seal.author,
            Judgement::Head(head, _) => head.author,
        }
    }
}

/// A judgement waiting for the replica to hold `author`'s ops up to `needed`.
struct Pending {
    author: NodeId,
    needed: u64,
    until: tokio::time::Instant,
    judgement: Judgement,
}

/// A backlog being sent: what the link has, where the backlog stops, how far it got.
struct Backlog {
    link: LinkId,
    outbox: Outbox<Message>,
    /// The link's encoder, to see it end while the backlog waits for room.
    writer: InboxRef<Message>,
    queued: Queued,
    seen: VersionVector,
    upto: VersionVector,
    after: Option<OpId>,
    /// Ops to take for the next piece: [`SYNC_BATCH`], or as many as fitted a frame
    /// last time (long chunks), so ops past the cut are not built for nothing.
    take: usize,
    /// A piece the link's queue had no room for yet.
    waiting: Option<Message>,
    /// Signed heads to send before the ops ([`SyncServer::heads_for`]).
    heads: VecDeque<Message>,
}

/// The sync server component.
pub struct SyncServer {
    inbox: Inbox<SyncInput>,
    replica: Replica,
    /// This node's document identity (status shows it).
    node: NodeId,
    /// Visible strokes at an op count, and when they were counted: counting walks
    /// every stroke, so glances reuse the count until the document changes — and,
    /// without the digest, for [`STROKE_COUNT_REUSE`] while it changes (a window
    /// glances ten times a second, on this task, while backlogs are served).
    stroke_count: (u64, usize, Option<tokio::time::Instant>),
    /// Backlogs under way, served in turn.
    backlogs: VecDeque<Backlog>,
    /// Op bytes a link's send queue may hold (a backlog fills half at most).
    max_queued: u64,
    /// Where the authors' kept signatures are: a backlog carries them, so each
    /// author's ops in it can be verified.
    authors: SharedAuthors,
    /// Authors the replica leaves out (a window's copy starts over when this grows).
    left_out: usize,
    /// Times a revocation cut an author's log short (a window's copy starts over then
    /// too).
    cut_short: usize,
    /// Judgements waiting for the replica, oldest first. Each link's checker waits
    /// for its answer, so there is at most one a link.
    pending: VecDeque<Pending>,
}

impl SyncServer {
    /// Makes the boxes; `replica` is a copy of the document as the node starts (or
    /// of the ops a blind session holds), `node` this node's document identity,
    /// `max_queued` the op bytes a link's send queue may hold.
    pub fn new(
        scope: &Scope,
        replica: impl Into<Replica>,
        node: NodeId,
        max_queued: u64,
        authors: SharedAuthors,
    ) -> Self {
        let left_out = Authors::read(&authors).cut_off().len();
        Self {
            left_out,
            cut_short: 0,
            authors,
            inbox: scope.inbox_with_capacity("inbox", 1024),
            replica: replica.into(),
            node,
            stroke_count: (u64::MAX, 0, None),
            backlogs: VecDeque::new(),
            max_queued,
            pending: VecDeque::new(),
        }
    }

    /// Judges at once if the replica holds the author's ops as far as the authors
    /// table does (the document commits to the table before the ops reach the
    /// replica), else once it does, or after [`JUDGE_WAIT`].
    fn judge(&mut self, judgement: Judgement) {
        let author = judgement.author();
        let needed = Authors::read(&self.authors)
            .log(author)
            .filter(|log| log.cut_at().is_none())
            .map_or(0, |log| log.seq());
        if self.replica.seen_of(author) >= needed {
            self.decide(judgement);
        } else {
            self.pending.push_back(Pending {
                author,
                needed,
                until: tokio::time::Instant::now() + JUDGE_WAIT,
                judgement,
            });
        }
    }

    /// Judges what waited and may be judged now: the replica caught up, or the wait
    /// is over.
    fn judge_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let now = tokio::time::Instant::now();
        let (ready, waiting): (VecDeque<Pending>, VecDeque<Pending>) =
            std::mem::take(&mut self.pending)
                .into_iter()
                .partition(|p| p.until <= now || self.replica.seen_of(p.author) >= p.needed);
        self.pending = waiting;
        for pending in ready {
            self.decide(pending.judgement);
        }
    }

    /// Judges against the replica as it is, and answers.
    fn decide(&self, judgement: Judgement) {
        let table = Authors::read(&self.authors);
        let session = *table.session();
        match judgement {
            Judgement::Seal(seal, reply) => {
                let span = table.held_span(seal.author, seal.stroke.saturating_sub(1));
                // Read under the table's lock, judged after it.
                drop(table);
                let held = self.replica.held();
                let proof = span.and_then(|span| judge_seal(&session, &span, held, &seal));
                let _ = reply.send(proof);
            }
            Judgement::Head(head, reply) => {
                let span = table.held_span(head.author, head.seq);
                drop(table);
                let held = self.replica.held();
                let proof = span.and_then(|span| judge_head(&session, &span, held, &head));
                let _ = reply.send(proof);
            }
        }
    }

    /// Starts the backlog of a new link: fixes what it holds, sends it in pieces.
    fn start_backlog(
        &mut self,
        ctx: &Context,
        link_id: LinkId,
        seen: VersionVector,
        writer: &InboxRef<Message>,
        queued: Queued,
    ) {
        let sending = self.replica.count_missing_from(&seen);
        let heads = self.heads_for(&seen);
        tracing::info!(link = link_id, sending, "backlog");
        if sending == 0 && heads.is_empty() {
            return;
        }
        let outbox = ctx.outbox::<Message>(&format!("backlog[{link_id}]"));
        if link(&outbox.handle(), writer).is_err() {
            return;
        }
        self.backlogs.push_back(Backlog {
            link: link_id,
            outbox,
            writer: writer.clone(),
            queued,
            upto: self.replica.latest_seqs(),
            seen,
            after: None,
            take: SYNC_BATCH,
            waiting: None,
            heads,
        });
    }

    /// Where this node's logs stand as far as the peer's (`seen`) reach: for each
    /// author the peer holds ops of, the signed head kept at the end of the shorter
    /// of the two logs (none where none is kept), in messages of at most
    /// [`MAX_HEADS_PER_MESSAGE`]. The peer compares them with its own: two logs as
    /// long as each other pass nothing else between the two nodes.
    fn heads_for(&self, seen: &VersionVector) -> VecDeque<Message> {
        let table = Authors::read(&self.authors);
        let heads: Vec<SignedHead> = seen
            .0
            .iter()
            .filter_map(|(author, theirs)| {
                let log = table.log(*author)?;
                let seq = (*theirs).min(log.seq());
                if log.cut_at().is_some() || seq == 0 {
                    return None;
                }
                Some(SignedHead {
                    author: *author,
                    seq,
                    head: log.signed_head(seq)?,
                    signature: *log.signature(seq)?,
                })
            })
            .collect();
        heads
            .chunks(MAX_HEADS_PER_MESSAGE)
            .map(|piece| Message::Heads(piece.to_vec()))
            .collect()
    }

    /// Sends the next piece of the oldest backlog, then puts it last (or drops it
    /// when done, or when its link is gone). False when the link had no room.
    fn backlog_piece(&mut self) -> bool {
        let Some(mut backlog) = self.backlogs.pop_front() else {
            return true;
        };
        let piece = match backlog.waiting.take().or_else(|| backlog.heads.pop_front()) {
            Some(piece) => piece,
            None => {
                let mut wires = self.replica.missing_piece(
                    &backlog.seen,
                    &backlog.upto,
                    backlog.after,
                    backlog.take,
                );
                if wires.is_empty() {
                    tracing::debug!(link = backlog.link, "backlog sent");
                    backlog.outbox.close();
                    return true;
                }
                let table = Authors::read(&self.authors);
                for wire in &mut wires {
                    wire.signature = table.signature(wire.id);
                }
                // Long ops (chunks of thousands of points) may not all fit one frame:
                // this piece ends where a frame would, the next goes on from there.
                let fits = canopy_protocol::message_pieces(&wires)
                    .first()
                    .map_or(wires.len(), |piece| piece.len());
                backlog.take = if fits < wires.len() {
                    fits.max(1)
                } else {
                    backlog.take.saturating_mul(2).min(SYNC_BATCH)
                };
                wires.truncate(fits);
                backlog.after = wires.last().map(|wire| wire.id);
                Message::Ops(wires)
            }
        };
        // A backlog fills at most half the link's byte allowance, leaving the rest
        // to live ops (which the router would otherwise find no room for).
        let bytes = queued_bytes(&piece);
        if !backlog.queued.try_add(bytes, self.max_queued / 2) {
            if backlog.writer.is_closed() {
                // The link is gone (its queue will never drain): so is its backlog.
                backlog.outbox.close();
                return true;
            }
            backlog.waiting = Some(piece);
            self.backlogs.push_back(backlog);
            return false;
        }
        match backlog.outbox.try_send(piece) {
            Ok(()) => self.backlogs.push_back(backlog),
            // The link's queue is full: try again in turn (the router drops a link
            // that stays that far behind, and the backlog with it).
            Err(TrySendError::Full(piece)) => {
                backlog.queued.take(bytes);
                backlog.waiting = Some(piece);
                self.backlogs.push_back(backlog);
                return false;
            }
            Err(_) => {
                backlog.queued.take(bytes);
                backlog.outbox.close();
            }
        }
        true
    }

    fn handle(&mut self, ctx: &Context, input: SyncInput) {
        match input {
            SyncInput::Applied(ops) => match &mut self.replica {
                Replica::Reader(replica) => {
                    for op in ops {
                        // The document accepted it, so the replica does too.
                        if let Err(error) = replica.apply(op) {
                            tracing::error!(%error, "the sync replica refused an applied op");
                        }
                    }
                }
                Replica::Blind(_) => tracing::error!("a blind session's replica was sent ops read"),
            },
            SyncInput::Held(ops) => match &mut self.replica {
                Replica::Blind(replica) => {
                    for (wire, shape) in ops {
                        replica.take(&wire, shape);
                    }
                }
                Replica::Reader(_) => tracing::error!("a reader's replica was sent ops unread"),
            },
            SyncInput::Backlog {
                link,
                seen,
                writer,
                queued,
            } => self.start_backlog(ctx, link, seen, &writer, queued),
            SyncInput::Missing { seen, reply } => {
                let upto = self.replica.latest_seqs();
                let _ = reply.send(self.replica.missing_piece(&seen, &upto, None, usize::MAX));
            }
            SyncInput::Snapshot(reply) => match &self.replica {
                Replica::Reader(replica) => {
                    // A copy of a 100k-stroke document takes tens of milliseconds: the
                    // runtime moves this worker's other tasks elsewhere meanwhile.
                    let copy = blocking(|| replica.clone());
                    let _ = reply.send(copy);
                }
                // No document to copy: the asker finds its answer dropped.
                Replica::Blind(_) => drop(reply),
            },
            SyncInput::Glance { digest, reply } => {
                let _ = reply.send(self.glance(digest));
            }
            SyncInput::Seen(reply) => {
                let _ = reply.send(self.replica.version_vector());
            }
            SyncInput::Cut(authors) => {
                let nothing_kept = authors.iter().map(|author| (*author, 0)).collect();
                self.replica.cut(&nothing_kept);
                self.stroke_count = (u64::MAX, 0, None);
                self.left_out += authors.len();
            }
            SyncInput::Stop(last_kept) => {
                self.replica.cut(&last_kept);
                self.stroke_count = (u64::MAX, 0, None);
                self.cut_short += 1;
            }
            SyncInput::JudgeSeal { seal, reply } => self.judge(Judgement::Seal(seal, reply)),
            SyncInput::JudgeHead { head, reply } => self.judge(Judgement::Head(head, reply)),
        }
    }

    fn glance(&mut self, digest: bool) -> DocumentGlance {
        let doc = match &self.replica {
            Replica::Reader(document) => document,
            Replica::Blind(held) => {
                return DocumentGlance {
                    node: self.node,
                    ops: held.op_count(),
                    version_vector: held.version_vector(),
                    digest: digest.then(|| blind_digest(held)),
                    picture: None,
                    pages: 0,
                    strokes: 0,
                    left_out: self.left_out,
                    cut_short: self.cut_short,
                }
            }
        };
        let now = tokio::time::Instant::now();
        let (counted_ops, _, counted_at) = self.stroke_count;
        let recent = counted_at.is_some_and(|at| now.duration_since(at) < STROKE_COUNT_REUSE);
        if counted_ops != doc.op_count() && (digest || !recent) {
            self.stroke_count = (doc.op_count(), doc.stroke_count(), Some(now));
        }
        DocumentGlance {
            node: doc.local_node(),
            ops: doc.op_count(),
            version_vector: doc.version_vector(),
            digest: digest.then(|| doc.digest().to_string()),
            picture: digest.then(|| doc.picture().to_string()),
            pages: doc.page_count(),
            strokes: self.stroke_count.1,
            left_out: self.left_out,
            cut_short: self.cut_short,
        }
    }
}

impl Component for SyncServer {
    async fn run(mut self, ctx: Context) -> Result<(), BoxError> {
        loop {
            self.judge_pending();
            if self.backlogs.is_empty() {
                // Judgements wait in the order they came, each as long as the others.
                let Some(until) = self.pending.front().map(|pending| pending.until) else {
                    let Some(input) = self.inbox.recv().await else {
                        break;
                    };
                    self.handle(&ctx, input);
                    continue;
                };
                tokio::select! {
                    input = self.inbox.recv() => match input {
                        Some(input) => self.handle(&ctx, input),
                        None => break,
                    },
                    () = tokio::time::sleep_until(until) => {}
                }
                continue;
            }
            // With backlogs under way: one waiting message, then one piece, in turn.
            match self.inbox.try_recv() {
                Ok(input) => self.handle(&ctx, input),
                Err(TryRecvError::Ended) => break,
                Err(TryRecvError::Empty) => {}
            }
            if self.backlog_piece() {
                tokio::task::yield_now().await;
                continue;
            }
            // A link with a full queue: wait for news or a moment, not in a spin.
            tokio::select! {
                input = self.inbox.recv() => match input {
                    Some(input) => self.handle(&ctx, input),
                    None => break,
                },
                () = tokio::time::sleep(FULL_QUEUE_PAUSE) => {}
            }
        }
        Ok(())
    }
}

/// How a blind replica's digest is shown: marked, so it is never taken for a
/// document's (which hashes what is visible, not what is held).
pub fn blind_digest(held: &OpaqueReplica) -> String {
    let hex: String = held.digest().iter().map(|b| format!("{b:02x}")).collect();
    format!("held:{hex}")
}

/// Runs `work`, which holds its thread for a while, telling a multi-threaded runtime
/// so (its worker's other tasks move to another) — on a single-threaded one (tests)
/// it just runs.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}
