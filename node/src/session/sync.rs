//! `sync`: the sync server. It keeps a replica of the document, fed by the document
//! component with every new op, and answers everything that reads the whole document
//! from it: a new link's backlog (the ops its version vector lacks), a window catching
//! up, copies for the window and exports, and the counts and digest status shows. So a
//! 100,000-stroke join is computed here, on another core, while the document goes on
//! applying live strokes.

use std::time::Duration;

use canopy_axon::{link, BoxError, Component, Context, Inbox, InboxRef, Scope};
use canopy_canvas::{Document, NodeId, Op, VersionVector};
use canopy_protocol::{Message, WireOp};
use tokio::sync::oneshot;

use super::LinkId;

/// Ops per `Ops` message in a backlog.
pub const SYNC_BATCH: usize = 2000;

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
    /// Visible pages.
    pub pages: usize,
    /// Visible strokes.
    pub strokes: usize,
}

/// What the sync server is told or asked.
pub enum SyncInput {
    /// Ops the document just took in.
    Applied(Vec<Op>),
    /// A new link: send it what `seen` lacks through `writer`.
    Backlog {
        /// Which link.
        link: LinkId,
        /// What the peer has.
        seen: VersionVector,
        /// The link's encoder.
        writer: InboxRef<Message>,
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
}

impl std::fmt::Debug for SyncInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncInput::Applied(ops) => write!(f, "Applied({})", ops.len()),
            SyncInput::Backlog { link, .. } => write!(f, "Backlog({link})"),
            SyncInput::Missing { .. } => f.write_str("Missing"),
            SyncInput::Snapshot(_) => f.write_str("Snapshot"),
            SyncInput::Glance { .. } => f.write_str("Glance"),
            SyncInput::Seen(_) => f.write_str("Seen"),
        }
    }
}

/// The sync server component.
pub struct SyncServer {
    inbox: Inbox<SyncInput>,
    replica: Document,
    /// Visible strokes at an op count: counting walks every stroke, so glances reuse
    /// the count until the document changes.
    stroke_count: (u64, usize),
}

impl SyncServer {
    /// Makes the boxes; `replica` is a copy of the document as the node starts.
    pub fn new(scope: &Scope, replica: Document) -> Self {
        Self {
            inbox: scope.inbox_with_capacity("inbox", 1024),
            replica,
            stroke_count: (u64::MAX, 0),
        }
    }

    async fn backlog(
        &self,
        ctx: &Context,
        link_id: LinkId,
        seen: &VersionVector,
        writer: &InboxRef<Message>,
    ) {
        let missing = self.replica.ops_missing_from(seen);
        tracing::info!(link = link_id, sending = missing.len(), "backlog");
        if missing.is_empty() {
            return;
        }
        let mut outbox = ctx.outbox::<Message>(&format!("backlog[{link_id}]"));
        if link(&outbox.handle(), writer).is_err() {
            return;
        }
        for batch in missing.chunks(SYNC_BATCH) {
            let wire = batch.iter().map(WireOp::from_op).collect();
            // The link's queue has room for far more than a backlog's batches; a link
            // that closes meanwhile simply ends the backlog.
            match tokio::time::timeout(Duration::from_secs(10), outbox.send(Message::Ops(wire)))
                .await
            {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
        outbox.close();
    }

    fn glance(&mut self, digest: bool) -> DocumentGlance {
        let doc = &self.replica;
        if self.stroke_count.0 != doc.op_count() {
            self.stroke_count = (doc.op_count(), doc.stroke_count());
        }
        DocumentGlance {
            node: doc.local_node(),
            ops: doc.op_count(),
            version_vector: doc.version_vector(),
            digest: digest.then(|| doc.digest().to_string()),
            pages: doc.page_count(),
            strokes: self.stroke_count.1,
        }
    }
}

impl Component for SyncServer {
    async fn run(mut self, ctx: Context) -> Result<(), BoxError> {
        while let Some(input) = self.inbox.recv().await {
            match input {
                SyncInput::Applied(ops) => {
                    for op in ops {
                        // The document accepted it, so the replica does too.
                        if let Err(error) = self.replica.apply(op) {
                            tracing::error!(%error, "the sync replica refused an applied op");
                        }
                    }
                }
                SyncInput::Backlog { link, seen, writer } => {
                    self.backlog(&ctx, link, &seen, &writer).await
                }
                SyncInput::Missing { seen, reply } => {
                    let missing = self.replica.ops_missing_from(&seen);
                    let _ = reply.send(missing.iter().map(WireOp::from_op).collect());
                }
                SyncInput::Snapshot(reply) => {
                    let _ = reply.send(Box::new(self.replica.clone()));
                }
                SyncInput::Glance { digest, reply } => {
                    let _ = reply.send(self.glance(digest));
                }
                SyncInput::Seen(reply) => {
                    let _ = reply.send(self.replica.version_vector());
                }
            }
        }
        Ok(())
    }
}
