//! `document`: the session's document, and nothing else. It applies ops that links'
//! checkers have already decoded and validated, replayed ones, and the local person's
//! edits; drops duplicates; and hands what is new to the store (first, so nothing is
//! forwarded that is not being saved), the sync server's replica, the router and the
//! `applied` backplane. Reads — status, sync, exports — are answered elsewhere from
//! the replica, so a big join or an export never holds up live strokes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use canopy_axon::{link, BoxError, Component, Context, Inbox, Outbox, Scope};
use canopy_canvas::{Applied, Document, Op, OpError, StrokeId};
use canopy_protocol::{Refusal, Role, WireOp};

use super::edit::Edit;
use super::presence::PresenceInput;
use super::router::RouterInput;
use super::sync::SyncInput;
use super::{AppliedOps, LinkId, APPLIED};
use crate::storage::now_ms;
use crate::store::StoreInput;

/// An op a link's checker decoded and validated: the wire form to pass on, the op to
/// apply.
#[derive(Debug, Clone)]
pub struct Checked {
    /// As it travels.
    pub wire: WireOp,
    /// As documents apply it.
    pub op: Op,
}

/// Batches one link may have waiting at the document. The document's inbox is shared
/// by every link; with each link holding at most this many places in it, a link that
/// floods waits for its own batches to be applied (and its peer, through QUIC flow
/// control, for it), while a quiet link's stroke waits behind at most this many
/// batches of each other link, not behind a flood.
pub const LINK_CREDITS: usize = 2;

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
    /// Checked ops from a link.
    FromLink {
        /// Which link.
        link: LinkId,
        /// The ops, in arrival order.
        ops: Vec<Checked>,
        /// The link's place in the queue, given back once the ops are applied.
        credit: Credit,
    },
    /// Recorded ops replayed into the session (`canopy play`), under their original ids.
    Replay(Vec<WireOp>),
    /// A local edit (drawing script or window).
    Local(Edit),
    /// What this node may do (the door says so when it joins).
    Role(Option<Role>),
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
    document: Document,
    role: Option<Role>,
    /// The stroke the local person is drawing.
    live_stroke: Option<StrokeId>,
    /// Op bytes the session holds, read by every link's guard.
    held_bytes: Arc<AtomicU64>,
}

impl DocumentComponent {
    /// Makes the boxes; `held_bytes` starts at what the session's file holds.
    pub fn new(
        scope: &Scope,
        document: Document,
        role: Option<Role>,
        held_bytes: Arc<AtomicU64>,
    ) -> Self {
        Self {
            inbox: scope.inbox_with_capacity("inbox", 1024),
            persist: scope.outbox("persist"),
            sync: scope.outbox("sync"),
            router: scope.outbox("router"),
            presence: scope.outbox("presence"),
            applied: scope.outbox("applied"),
            document,
            role,
            live_stroke: None,
            held_bytes,
        }
    }

    /// Hands new ops on: store, replica, router, observers — in that order, so an op
    /// reaches the replica before the router can tell a new link about it (the sync
    /// server's backlog and the live stream then leave no gap between them).
    async fn publish(&mut self, origin: Option<LinkId>, fresh: Vec<(WireOp, Op)>) {
        if fresh.is_empty() {
            return;
        }
        let (wire, ops): (Vec<WireOp>, Vec<Op>) = fresh.into_iter().unzip();
        // What the session holds: the bytes on the wire, or more where an op takes
        // more memory than its bytes (budgets then bound memory, not only traffic).
        let bytes: u64 = wire
            .iter()
            .zip(&ops)
            .map(|(w, op)| wire_bytes(w).max(op.held_bytes() as u64))
            .sum();
        self.held_bytes.fetch_add(bytes, Ordering::Relaxed);
        if self
            .persist
            .send(StoreInput::Ops(now_ms(), wire.clone()))
            .await
            .is_err()
        {
            tracing::error!("the store has stopped: new ops are not being saved");
        }
        let _ = self.sync.send(SyncInput::Applied(ops)).await;
        let wire = Arc::new(wire);
        let _ = self.applied.try_send(Arc::clone(&wire));
        let _ = self
            .router
            .send(RouterInput::Forward { origin, ops: wire })
            .await;
    }

    async fn apply_from_link(&mut self, link: LinkId, ops: Vec<Checked>) {
        let mut fresh = Vec::new();
        for Checked { wire, op } in ops {
            match self.document.apply(op.clone()) {
                Ok(Applied::New) => fresh.push((wire, op)),
                Ok(Applied::Duplicate) => {}
                Err(error) => {
                    self.publish(Some(link), fresh).await;
                    let refusal = refusal_for(&error);
                    let _ = self
                        .router
                        .send(RouterInput::Misbehaved { link, refusal })
                        .await;
                    return;
                }
            }
        }
        self.publish(Some(link), fresh).await;
    }

    async fn replay(&mut self, wire: Vec<WireOp>) {
        if self.role != Some(Role::Editor) {
            tracing::warn!("a viewer cannot replay a recording into the session");
            return;
        }
        let mut fresh = Vec::new();
        for w in wire {
            let applied = w.to_op().map_err(|e| e.to_string()).and_then(|op| {
                match self.document.apply(op.clone()) {
                    Ok(applied) => Ok((applied, op)),
                    Err(e) => Err(e.to_string()),
                }
            });
            match applied {
                Ok((Applied::New, op)) => fresh.push((w, op)),
                Ok((Applied::Duplicate, _)) => {}
                Err(error) => tracing::warn!(op = %w.id, %error, "recorded op skipped"),
            }
        }
        self.publish(None, fresh).await;
    }

    async fn local(&mut self, edit: Edit) -> Result<(), String> {
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
        if self.role != Some(Role::Editor) {
            return Err("this node is a viewer: it cannot edit".into());
        }
        let ops = edit.apply(&mut self.document, &mut self.live_stroke)?;
        let fresh = ops
            .into_iter()
            .map(|op| (WireOp::from_op(&op), op))
            .collect();
        self.publish(None, fresh).await;
        Ok(())
    }
}

impl Component for DocumentComponent {
    async fn run(mut self, ctx: Context) -> Result<(), BoxError> {
        let hub = ctx.graph().backplane::<AppliedOps>(APPLIED)?;
        link(&self.applied.handle(), hub.publish_inbox())?;
        while let Some(input) = self.inbox.recv().await {
            match input {
                DocumentInput::FromLink { link, ops, credit } => {
                    self.apply_from_link(link, ops).await;
                    drop(credit);
                }
                DocumentInput::Replay(ops) => self.replay(ops).await,
                DocumentInput::Local(edit) => {
                    if let Err(error) = self.local(edit).await {
                        tracing::warn!(%error, "local edit refused");
                    }
                }
                DocumentInput::Role(role) => self.role = role,
            }
        }
        Ok(())
    }
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
