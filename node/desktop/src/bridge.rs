//! The window's component on the node, and the messages between the two.
//!
//! egui runs on the main thread and the node on the async runtime; this component is
//! the seam. It subscribes to the ops the document applies, forwards the window's
//! edits to the document through an ordinary outbox, takes its first copy and any
//! catch-up from the sync server, and glances at the node's status a few times a
//! second for the connection bar, participants and cursors.

use std::sync::mpsc;
use std::time::Duration;

use canopy_axon::{link, Graph, Outbox};
use canopy_canvas::VersionVector;
use tokio::sync::{mpsc as async_mpsc, oneshot};

use canopy_node::session::{
    AppliedOps, DocumentInput, DoorInput, Edit, PresenceInput, SessionPorts, Status, StatusInput,
    SyncInput, APPLIED,
};

/// How often the window learns who is there and where their cursors are.
const GLANCE_INTERVAL: Duration = Duration::from_millis(100);

/// What the window is told.
pub enum UiEvent {
    /// A node is running for the window: its first status and where to send edits.
    Started {
        /// The node's status.
        status: Box<Status>,
        /// The window's way to the core.
        to_node: async_mpsc::UnboundedSender<ToNode>,
    },
    /// The whole document as the core holds it (once, at the start); ops applied
    /// after it follow as `Ops`.
    Document(Box<canopy_canvas::Document>),
    /// Ops the core applied (or a sync's answer).
    Ops(AppliedOps),
    /// The latest status (without digest).
    Status(Box<Status>),
    /// Something is under way (joining a session, …).
    Busy(String),
    /// Something failed: show it to the person.
    Failed(String),
    /// The node stopped for good (a signal, or the window is closing).
    Closed,
    /// The session lives on a relay: these are the invites to hand out.
    RelayInvites(std::collections::BTreeMap<String, String>),
    /// Something the person asked for is done: say so.
    Done(String),
}

/// What the window asks of the node.
#[derive(Debug)]
pub enum ToNode {
    /// A local edit.
    Edit(Edit),
    /// The window's copy lacks ops: send everything beyond `seen`.
    Sync(VersionVector),
    /// Mute, volumes.
    Audio(canopy_node::audio::AudioControl),
    /// Revoke this invite URL (the session's host only), removing everything its
    /// holders did if the flag says so.
    Revoke(String, bool),
}

/// The window's end of the event channel: sending also wakes the window up.
#[derive(Clone)]
pub struct UiSink {
    events: mpsc::Sender<UiEvent>,
    repaint: Option<eframe::egui::Context>,
}

impl UiSink {
    /// A sink into `events` that wakes `repaint` (when there is a window).
    pub fn new(events: mpsc::Sender<UiEvent>, repaint: Option<eframe::egui::Context>) -> Self {
        Self { events, repaint }
    }

    /// Sends an event; false once the window is gone.
    pub fn send(&self, event: UiEvent) -> bool {
        let delivered = self.events.send(event).is_ok();
        if let Some(ctx) = &self.repaint {
            ctx.request_repaint();
        }
        delivered
    }
}

/// Spawns the `window` component on a node's graph.
pub fn spawn(graph: &Graph, session: &SessionPorts, sink: UiSink) -> anyhow::Result<()> {
    let scope = graph.component("window");
    let mut applied = scope.inbox_with_capacity::<AppliedOps>("applied", 4096);
    let mut to_document: Outbox<DocumentInput> = scope.outbox("document");
    let mut to_sync: Outbox<SyncInput> = scope.outbox("sync");
    let mut to_status: Outbox<StatusInput> = scope.outbox("status");
    let mut to_presence: Outbox<PresenceInput> = scope.outbox("presence");
    let mut to_door: Outbox<DoorInput> = scope.outbox("door");
    link(&to_door.handle(), &session.door)?;
    link(&to_document.handle(), &session.document)?;
    link(&to_sync.handle(), &session.sync)?;
    link(&to_status.handle(), &session.status)?;
    link(&to_presence.handle(), &session.presence)?;
    graph
        .backplane::<AppliedOps>(APPLIED)?
        .subscribe(&applied.handle())?;
    scope.spawn_fn(move |ctx| async move {
        let (to_node, mut from_window) = async_mpsc::unbounded_channel::<ToNode>();
        let Some(status) = glance(&mut to_status).await else {
            return Ok(());
        };
        let imported = status.imported.clone();
        if !sink.send(UiEvent::Started {
            status: Box::new(status),
            to_node,
        }) {
            return Ok(());
        }
        // Another file's drawing became this node's own: its authors' signatures
        // could not come along, so the person is told whose it now is.
        for file in imported {
            sink.send(UiEvent::Done(format!(
                "Imported {file}: its drawing is now yours, signed with your key (its authors' signatures could not come along)."
            )));
        }
        // Subscribed first, then the snapshot: nothing falls between the two (an op in
        // both is merged once).
        let (reply, answer) = oneshot::channel();
        if to_sync.send(SyncInput::Snapshot(reply)).await.is_ok() {
            if let Ok(document) = answer.await {
                sink.send(UiEvent::Document(document));
            }
        }
        let mut ticker = tokio::time::interval(GLANCE_INTERVAL);
        // An author left out (proven to have split its log, or to have signed an op
        // no node takes) or a log cut short by a revocation takes ops away: the
        // window's copy then starts over from the core's.
        let mut taken_away = status_taken_away(&mut to_status).await;
        loop {
            tokio::select! {
                () = ctx.stopped() => break,
                ops = applied.recv() => match ops {
                    Some(ops) => if !sink.send(UiEvent::Ops(ops)) { break },
                    None => break,
                },
                request = from_window.recv() => match request {
                    Some(ToNode::Edit(edit)) => {
                        if to_document.send(DocumentInput::Local(edit)).await.is_err() {
                            break;
                        }
                    }
                    Some(ToNode::Audio(control)) => {
                        if to_presence.send(PresenceInput::Audio(control)).await.is_err() {
                            break;
                        }
                    }
                    Some(ToNode::Revoke(url, remove_edits)) => {
                        let (reply, answer) = oneshot::channel();
                        let revoke = DoorInput::Revoke {
                            named: url,
                            remove_edits,
                            reply,
                        };
                        if to_door.send(revoke).await.is_err() {
                            break;
                        }
                        sink.send(match answer.await {
                            Ok(Ok(_)) if remove_edits => UiEvent::Done(
                                "Invite revoked: whoever joined with it is cut off, everything they did is removed, and a new invite is ready to copy.".into(),
                            ),
                            Ok(Ok(_)) => UiEvent::Done(
                                "Invite revoked: whoever joined with it is cut off, and a new invite is ready to copy.".into(),
                            ),
                            Ok(Err(error)) => UiEvent::Failed(format!("Revoking failed: {error}")),
                            Err(_) => break,
                        });
                    }
                    Some(ToNode::Sync(seen)) => {
                        if let Some(ops) = sync(&mut to_sync, seen).await {
                            sink.send(UiEvent::Ops(ops));
                        }
                    }
                    None => break,
                },
                _ = ticker.tick() => match glance(&mut to_status).await {
                    Some(status) => {
                        if (status.left_out, status.cut_short) != taken_away {
                            taken_away = (status.left_out, status.cut_short);
                            let (reply, answer) = oneshot::channel();
                            if to_sync.send(SyncInput::Snapshot(reply)).await.is_err() {
                                break;
                            }
                            if let Ok(document) = answer.await {
                                sink.send(UiEvent::Document(document));
                            }
                        }
                        if !sink.send(UiEvent::Status(Box::new(status))) { break }
                    }
                    None => break,
                },
            }
        }
        Ok(())
    });
    Ok(())
}

/// How often ops were taken away from the core's document: authors left out, logs
/// cut short.
async fn status_taken_away(status: &mut Outbox<StatusInput>) -> (usize, usize) {
    glance(status)
        .await
        .map_or((0, 0), |s| (s.left_out, s.cut_short))
}

async fn glance(status: &mut Outbox<StatusInput>) -> Option<Status> {
    let (reply, answer) = oneshot::channel();
    status.send(StatusInput::Glance(reply)).await.ok()?;
    answer.await.ok()
}

async fn sync(to_sync: &mut Outbox<SyncInput>, seen: VersionVector) -> Option<AppliedOps> {
    let (reply, answer) = oneshot::channel();
    to_sync
        .send(SyncInput::Missing { seen, reply })
        .await
        .ok()?;
    let ops = answer.await.ok()?;
    (!ops.is_empty()).then(|| std::sync::Arc::new(ops))
}
