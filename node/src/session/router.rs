//! `router`: the session's links. It forwards every new op to every link but the one
//! it came from, never waiting on a link (one whose queue is full is too slow to keep
//! up: it is dropped and resyncs when it reconnects), and it brings links up and down:
//! a new link is handed to the sync server for its backlog and announced to presence
//! and audio; a link that broke a rule is told why and closed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use canopy_axon::{
    link, BoxError, Component, Context, Inbox, InboxRef, Outbox, Scope, TrySendError,
};
use canopy_canvas::VersionVector;
use canopy_protocol::{Authority, Message, Refusal, Role, WireOp};
use tokio::sync::oneshot;

use super::authors::{Authors, SharedAuthors};
use super::document::wire_bytes;
use super::door::DoorInput;
use super::presence::PresenceInput;
use super::sync::SyncInput;
use super::LinkId;
use crate::audio::AudioInput;
use crate::link::encoder::Queued;
use crate::metrics::Metrics;

/// Authorities per `Authors` message at most (a frame holds them whatever their chains).
pub const AUTHORS_PER_MESSAGE: usize = 64;

/// Round-trip time of a link's transport, read when someone asks for status.
pub type RttProbe = Arc<dyn Fn() -> Duration + Send + Sync>;

/// A link that passed its handshake.
pub struct LinkUp {
    /// Its id.
    pub link: LinkId,
    /// The link's encoder: messages to the peer.
    pub writer: InboxRef<Message>,
    /// Op bytes waiting for the encoder (added to here, taken off there).
    pub queued: Queued,
    /// The link's `presence-out`.
    pub presence: InboxRef<crate::link::presence_out::PresenceNews>,
    /// The link's `audio-out` and `audio-in`, when the session has audio.
    pub audio: Option<crate::link::LinkAudio>,
    /// What the peer has seen (it is sent what it lacks).
    pub seen: VersionVector,
    /// True for the link to this node's parent.
    pub is_parent: bool,
    /// The peer's role (for children: what they may do here).
    pub role: Role,
    /// The peer's name.
    pub name: String,
    /// The peer's address.
    pub address: String,
    /// Its round-trip time.
    pub rtt: RttProbe,
    /// The grants the peer came in with (its invite's chain and own grant; empty for
    /// the parent): a revocation of any of them closes the link.
    pub grants: Vec<canopy_protocol::GrantId>,
}

/// One link as the router knows it (for status).
#[derive(Debug, Clone)]
pub struct LinkInfo {
    /// Its id.
    pub link: LinkId,
    /// True for the parent.
    pub is_parent: bool,
    /// The peer's role.
    pub role: Role,
    /// The peer's name.
    pub name: String,
    /// The peer's address.
    pub address: String,
    /// Smoothed round-trip time.
    pub rtt: Duration,
}

/// What the router is told or asked.
pub enum RouterInput {
    /// New ops from the document, to every link but `origin`.
    Forward {
        /// The link they came from (`None`: made or replayed here).
        origin: Option<LinkId>,
        /// The ops.
        ops: Arc<Vec<WireOp>>,
    },
    /// A link passed its handshake.
    LinkUp(Box<LinkUp>),
    /// A link ended.
    LinkDown {
        /// Which.
        link: LinkId,
        /// Why, for the log.
        reason: String,
    },
    /// A link broke a rule: tell it why and close it.
    Misbehaved {
        /// Which.
        link: LinkId,
        /// The reason sent to the peer.
        refusal: Refusal,
    },
    /// The links, for status.
    Links(oneshot::Sender<Vec<LinkInfo>>),
    /// Revocations for one new link (from the door: all it knows).
    Revocations {
        /// The link.
        link: LinkId,
        /// Them.
        revocations: Vec<canopy_protocol::Revocation>,
    },
    /// Proof that an author split its log (from the document): to every link but
    /// `origin`.
    Evidence {
        /// The link it came by (`None`: found here).
        origin: Option<LinkId>,
        /// The proof.
        evidence: Arc<canopy_protocol::Evidence>,
    },
    /// Authorities new to this node (from the document): to every link but `origin`.
    Authors {
        /// The link they came by (`None`: learned here).
        origin: Option<LinkId>,
        /// Them.
        authorities: Arc<Vec<Authority>>,
    },
    /// A checked revocation (from the door): passed on to every link but `origin`;
    /// links whose grants it covers are closed.
    Revoke {
        /// The link it came on (`None`: made here).
        origin: Option<LinkId>,
        /// It.
        revocation: Box<canopy_protocol::Revocation>,
    },
}

impl std::fmt::Debug for RouterInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouterInput::Forward { origin, ops } => write!(f, "Forward({origin:?}, {})", ops.len()),
            RouterInput::LinkUp(up) => write!(f, "LinkUp({})", up.link),
            RouterInput::LinkDown { link, .. } => write!(f, "LinkDown({link})"),
            RouterInput::Misbehaved { link, refusal } => write!(f, "Misbehaved({link}, {refusal})"),
            RouterInput::Links(_) => f.write_str("Links"),
            RouterInput::Authors { authorities, .. } => write!(f, "Authors({})", authorities.len()),
            RouterInput::Evidence { evidence, .. } => {
                write!(f, "Evidence({})", evidence.author.node_id())
            }
            RouterInput::Revoke { revocation, .. } => write!(f, "Revoke({})", revocation.grant),
            RouterInput::Revocations { link, revocations } => {
                write!(f, "Revocations({link}, {})", revocations.len())
            }
        }
    }
}

struct Route {
    outbox: Outbox<Message>,
    queued: Queued,
    info: LinkInfo,
    rtt: RttProbe,
    grants: Vec<canopy_protocol::GrantId>,
}

/// The router component.
pub struct Router {
    inbox: Inbox<RouterInput>,
    /// To the sync server: backlogs of new links.
    sync: Outbox<SyncInput>,
    /// To the presence table: links coming and going.
    presence: Outbox<PresenceInput>,
    /// To the audio mixer, when audio runs.
    audio: Outbox<AudioInput>,
    /// To the door: how many children are linked here.
    door: Outbox<DoorInput>,
    routes: BTreeMap<LinkId, Route>,
    /// Every author's authority goes to a new link before anything else.
    authors: SharedAuthors,
    metrics: Option<Arc<Metrics>>,
    /// Op bytes one link's send queue may hold.
    max_queued: u64,
    /// Set once stopping: the others may be gone, so nothing waits on them.
    stopping: bool,
}

impl Router {
    /// Makes the boxes.
    /// `max_queued`: op bytes one link's send queue may hold before it is dropped.
    pub fn new(
        scope: &Scope,
        authors: SharedAuthors,
        metrics: Option<Arc<Metrics>>,
        max_queued: u64,
    ) -> Self {
        Self {
            inbox: scope.inbox_with_capacity("inbox", 1024),
            sync: scope.outbox("sync"),
            presence: scope.outbox("presence"),
            audio: scope.outbox("audio"),
            door: scope.outbox("door"),
            routes: BTreeMap::new(),
            authors,
            max_queued,
            metrics,
            stopping: false,
        }
    }

    async fn link_up(&mut self, ctx: &Context, up: LinkUp) {
        let mut outbox = ctx.outbox::<Message>(&format!("to-link[{}]", up.link));
        if let Err(error) = link(&outbox.handle(), &up.writer) {
            tracing::warn!(link = up.link, %error, "link ended before it was up");
            return;
        }
        tracing::info!(link = up.link, peer = %up.name, "link up");
        // Who the session's authors are, before any of their ops (the link's queue
        // is fresh: these fit).
        let (authorities, evidence) = {
            let table = Authors::read(&self.authors);
            (table.authorities(), table.evidence())
        };
        for chunk in authorities.chunks(AUTHORS_PER_MESSAGE) {
            let _ = outbox.try_send(Message::Authors(chunk.to_vec()));
        }
        // And who among them is proven to have split its log.
        for proof in evidence.into_iter().filter(travels) {
            let _ = outbox.try_send(Message::Evidence(Box::new(proof)));
        }
        // Registered first, then the backlog asked for: every op the document
        // publishes reaches the sync server's replica before the router, so an op is
        // either in the backlog or forwarded live — never neither.
        self.routes.insert(
            up.link,
            Route {
                outbox,
                queued: up.queued.clone(),
                info: LinkInfo {
                    link: up.link,
                    is_parent: up.is_parent,
                    role: up.role,
                    name: up.name,
                    address: up.address,
                    rtt: Duration::ZERO,
                },
                rtt: up.rtt,
                grants: up.grants,
            },
        );
        let _ = self
            .sync
            .send(SyncInput::Backlog {
                link: up.link,
                seen: up.seen,
                writer: up.writer,
                queued: up.queued,
            })
            .await;
        let _ = self
            .presence
            .send(PresenceInput::LinkUp {
                link: up.link,
                presence_out: up.presence,
            })
            .await;
        if let Some(audio) = up.audio {
            let _ = self.audio.try_send(AudioInput::LinkUp {
                link: up.link,
                audio,
            });
        }
        self.count_children().await;
        let _ = self.door.try_send(DoorInput::LinkUp(up.link));
    }

    /// Tells the door how many children are linked, never waiting on it (the door
    /// sends here too): if its inbox is full the count goes with the next change.
    async fn count_children(&mut self) {
        let children = self.routes.values().filter(|r| !r.info.is_parent).count();
        let _ = self.door.try_send(DoorInput::Children(children));
    }

    /// Passes a revocation on and closes the links it covers. Covered links are told
    /// too, before their refusal: an honest node cut off this way closes, in turn,
    /// the links of those it let in.
    async fn revoke(&mut self, origin: Option<LinkId>, revocation: canopy_protocol::Revocation) {
        let mut covered = Vec::new();
        for (id, route) in self.routes.iter_mut() {
            if Some(*id) != origin {
                let _ = route.outbox.try_send(Message::Revoke(revocation.clone()));
            }
            if route.grants.iter().any(|g| revocation.grant.covers(g)) {
                covered.push(*id);
            }
        }
        for id in covered {
            self.drop_link(id, Some(Refusal::Revoked)).await;
        }
    }

    async fn drop_link(&mut self, link: LinkId, refusal: Option<Refusal>) {
        let Some(mut route) = self.routes.remove(&link) else {
            return;
        };
        let _ = self.audio.try_send(AudioInput::LinkDown { link });
        let message = PresenceInput::LinkDown { link };
        if self.stopping {
            let _ = self.presence.try_send(message);
        } else {
            let _ = self.presence.send(message).await;
        }
        if let Some(refusal) = refusal {
            if let Some(metrics) = &self.metrics {
                metrics.refused(refusal.kind());
            }
            tracing::warn!(link, peer = %route.info.name, %refusal, "closing link");
            let _ = route.outbox.try_send(Message::Refused(refusal));
        }
        route.outbox.close();
        self.count_children().await;
    }

    async fn forward(&mut self, origin: Option<LinkId>, ops: Arc<Vec<WireOp>>) {
        let mut gone = Vec::new();
        let mut sent = 0u64;
        // A batch can hold more than one frame carries (a replay, a burst of long
        // strokes): it goes in pieces that each fit.
        let pieces: Vec<(&[WireOp], u64)> = canopy_protocol::message_pieces(&ops)
            .into_iter()
            .map(|piece| (piece, piece.iter().map(wire_bytes).sum()))
            .collect();
        let too_slow = || Some(Refusal::Limit("link too slow to keep up".into()));
        for (id, route) in self.routes.iter_mut() {
            if Some(*id) == origin {
                continue;
            }
            for (piece, bytes) in &pieces {
                // Bounded in bytes as well as messages: a peer that stops reading
                // pins at most `max_queued` here.
                if !route.queued.try_add(*bytes, self.max_queued) {
                    gone.push((*id, too_slow()));
                    break;
                }
                sent += piece.len() as u64;
                match route.outbox.try_send(Message::Ops(piece.to_vec())) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        gone.push((*id, too_slow()));
                        break;
                    }
                    Err(_) => {
                        gone.push((*id, None));
                        break;
                    }
                }
            }
        }
        if let Some(metrics) = &self.metrics {
            Metrics::add(&metrics.ops_out, sent);
        }
        for (id, refusal) in gone {
            self.drop_link(id, refusal).await;
        }
    }
}

impl Component for Router {
    async fn run(mut self, ctx: Context) -> Result<(), BoxError> {
        while let Some(input) = self.inbox.recv().await {
            match input {
                RouterInput::Forward { origin, ops } => self.forward(origin, ops).await,
                RouterInput::LinkUp(up) => self.link_up(&ctx, *up).await,
                RouterInput::LinkDown { link, reason } => {
                    if let Some(route) = self.routes.get(&link) {
                        tracing::info!(link, peer = %route.info.name, %reason, "link down");
                    }
                    self.drop_link(link, None).await;
                }
                RouterInput::Misbehaved { link, refusal } => {
                    self.drop_link(link, Some(refusal)).await
                }
                RouterInput::Revoke { origin, revocation } => {
                    self.revoke(origin, *revocation).await
                }
                RouterInput::Authors {
                    origin,
                    authorities,
                } => {
                    for (id, route) in self.routes.iter_mut() {
                        if Some(*id) == origin {
                            continue;
                        }
                        for chunk in authorities.chunks(AUTHORS_PER_MESSAGE) {
                            let _ = route.outbox.try_send(Message::Authors(chunk.to_vec()));
                        }
                    }
                }
                RouterInput::Evidence { origin, evidence } if travels(&evidence) => {
                    for (id, route) in self.routes.iter_mut() {
                        if Some(*id) != origin {
                            let proof = Box::new(evidence.as_ref().clone());
                            let _ = route.outbox.try_send(Message::Evidence(proof));
                        }
                    }
                }
                RouterInput::Evidence { .. } => {}
                RouterInput::Revocations { link, revocations } => {
                    if let Some(route) = self.routes.get_mut(&link) {
                        for revocation in revocations {
                            let _ = route.outbox.try_send(Message::Revoke(revocation));
                        }
                    }
                }
                RouterInput::Links(reply) => {
                    let links = self
                        .routes
                        .values()
                        .map(|r| LinkInfo {
                            rtt: (r.rtt)(),
                            ..r.info.clone()
                        })
                        .collect();
                    let _ = reply.send(links);
                }
            }
        }
        // Stopping: tell every peer why before the links close.
        self.stopping = true;
        for link in self.routes.keys().copied().collect::<Vec<_>>() {
            self.drop_link(link, Some(Refusal::ShuttingDown)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(())
    }
}

/// True if a proof fits a frame. One of long ops (forks of chunks thousands of
/// points long, up to the author's next signature) may not: sending it would fail
/// the link's encoder, and every link would be lost, on every reconnect too. It
/// still holds here (the author's ops are left out); others learn it only from
/// logs they see themselves.
fn travels(evidence: &canopy_protocol::Evidence) -> bool {
    let fits = canopy_protocol::encode(&Message::Evidence(Box::new(evidence.clone()))).is_ok();
    if !fits {
        tracing::warn!(
            author = %evidence.author.node_id(),
            "the proof against an author fits no frame: it is not passed on"
        );
    }
    fits
}
