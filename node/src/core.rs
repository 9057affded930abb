//! The core component: owns the session's document and the node's place in the tree.
//!
//! Everything that changes the document or the set of links passes through its one
//! inbox, so there is no shared mutable state: links deliver ops, the core applies
//! them, drops duplicates, and forwards what is new to every link but the one it came
//! from (the router). It also judges joiners (invites, loops), and answers status,
//! export and local edits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use canopy_axon::{
    link, BoxError, Component, Context, Inbox, InboxRef, Outbox, Scope, TrySendError,
};
use canopy_canvas::{Applied, Color, Document, NodeId, Op, OpError, Point, Tool};
use canopy_protocol::{
    Ancestor, Authority, Fingerprint, Hello, JoinUrl, Message, Presence, Refusal, Role, SessionId,
    Welcome, WireOp, PROTOCOL_VERSION,
};
use ring::signature::Ed25519KeyPair;

use crate::audio::{AudioControl, AudioInput, SharedMeters, PRESENCE_TAG};
use crate::metrics::Metrics;
use crate::storage::now_ms;
use crate::store::StoreInput;
use serde::Serialize;
use tokio::sync::oneshot;

/// Number of ops per `Ops` message when syncing.
const SYNC_BATCH: usize = 2000;

/// Sustained ops per second a link may send; more closes it with a reason.
pub const OPS_PER_SECOND: f64 = 100_000.0;
/// Burst allowance (a reconnecting node sending its offline work, a big sync).
pub const OPS_BURST: f64 = 2_000_000.0;
/// Presence datagrams per second a link may send; more are dropped.
pub const PRESENCE_PER_SECOND: f64 = 200.0;
/// How often a node says it is here.
pub const PRESENCE_INTERVAL: Duration = Duration::from_secs(1);
/// Silence after which a participant is gone.
pub const PRESENCE_TIMEOUT: Duration = Duration::from_secs(10);
/// Participants remembered at most (each is a small record).
pub const MAX_PARTICIPANTS: usize = 10_000;

/// What one session may use: set by a relay's operator, defaults for a peer.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionLimits {
    /// Sustained ops per second a link may send.
    pub ops_per_second: f64,
    /// Burst allowance on top.
    pub ops_burst: f64,
    /// Direct children at most (`None`: no limit).
    pub max_children: Option<usize>,
    /// Op bytes the session may hold at most (`None`: no limit).
    pub max_bytes: Option<u64>,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            ops_per_second: OPS_PER_SECOND,
            ops_burst: OPS_BURST,
            max_children: None,
            max_bytes: None,
        }
    }
}

/// A token bucket: `rate` per second, at most `burst` saved up.
struct Budget {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl Budget {
    fn new(rate: f64, burst: f64) -> Self {
        Self {
            tokens: burst,
            rate,
            burst,
            last: Instant::now(),
        }
    }

    /// Spends `n` tokens if there are that many.
    fn take(&mut self, n: f64) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

/// A stable colour for a name, so a participant looks the same everywhere.
fn color_for(name: &str) -> Color {
    const PALETTE: [Color; 8] = [
        Color::rgb(208, 48, 48),
        Color::rgb(32, 96, 208),
        Color::rgb(32, 160, 80),
        Color::rgb(224, 140, 0),
        Color::rgb(140, 60, 200),
        Color::rgb(0, 150, 160),
        Color::rgb(200, 60, 140),
        Color::rgb(100, 100, 100),
    ];
    let hash = name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    PALETTE[hash as usize % PALETTE.len()]
}

/// Identifies a link for the life of the process.
pub type LinkId = u64;

/// Ops the document just took in (new ones only), published on the graph's `applied`
/// backplane for observers (windows, benchmarks). An observer that falls behind misses
/// events, never the core's time: it catches up with [`CoreInput::Sync`].
pub type AppliedOps = Arc<Vec<WireOp>>;

/// Name of the backplane carrying [`AppliedOps`] events.
pub const APPLIED: &str = "applied";

/// What the core is told or asked.
pub enum CoreInput {
    /// A joiner's hello, to be judged.
    Admit {
        /// The hello.
        hello: Box<Hello>,
        /// The answer to send back.
        reply: oneshot::Sender<Result<Box<Welcome>, Refusal>>,
    },
    /// This node joined (or rejoined) a parent.
    Joined {
        /// What the parent said.
        welcome: Box<Welcome>,
        /// The parent's address and fingerprint.
        parent: Ancestor,
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
    /// A link misbehaved: refuse it with this reason and drop it.
    Misbehaved {
        /// Which.
        link: LinkId,
        /// The reason sent to the peer.
        refusal: Refusal,
    },
    /// A presence datagram arrived on a link.
    Presence {
        /// Which.
        link: LinkId,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// Ops arrived on a link.
    FromLink {
        /// Which.
        link: LinkId,
        /// The ops.
        ops: Vec<WireOp>,
    },
    /// Recorded ops replayed into the session (`canopy play`), under their original ids.
    Replay(Vec<WireOp>),
    /// A local edit (drawing script or GUI).
    Local(Edit),
    /// Status for `canopy status`.
    Status(oneshot::Sender<Status>),
    /// Status without the digest (a pass over the whole document), for a window that
    /// asks several times a second.
    Glance(oneshot::Sender<Status>),
    /// A new invite URL (`ttl`: how long it stays valid; `None`: until revoked).
    Invite {
        /// Editor or viewer.
        role: Role,
        /// Validity.
        ttl: Option<Duration>,
        /// The URL, or `None` if this node cannot invite with that role.
        reply: oneshot::Sender<Option<String>>,
    },
    /// Refuse joins presenting this invite token from now on.
    Revoke(String),
    /// Mute, volumes: passed to the audio component.
    Audio(AudioControl),
    /// Every op the document holds that `seen` lacks (a window's replica catching up).
    Sync {
        /// What the asker holds.
        seen: canopy_canvas::VersionVector,
        /// The ops it lacks.
        reply: oneshot::Sender<Vec<WireOp>>,
    },
    /// A copy of the whole document (a window starting up: far cheaper than every op
    /// encoded, sent and applied again).
    Snapshot(oneshot::Sender<Box<canopy_canvas::Document>>),
    /// A rendering for `canopy export`.
    Export {
        /// `png`, `svg` or `pdf`.
        format: String,
        /// Page index for PNG and SVG.
        page: usize,
        /// The bytes, or why not.
        reply: oneshot::Sender<Result<Vec<u8>, String>>,
    },
    /// A hello for rejoining after losing the parent (with an invite of this node's
    /// own and its current version vector), and the ancestors to try.
    Rejoin(oneshot::Sender<Option<(Box<Hello>, Vec<Ancestor>)>>),
}

impl std::fmt::Debug for CoreInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CoreInput::Admit { .. } => "Admit",
            CoreInput::Joined { .. } => "Joined",
            CoreInput::LinkUp(_) => "LinkUp",
            CoreInput::LinkDown { .. } => "LinkDown",
            CoreInput::Misbehaved { .. } => "Misbehaved",
            CoreInput::FromLink { .. } => "FromLink",
            CoreInput::Presence { .. } => "Presence",
            CoreInput::Local(_) => "Local",
            CoreInput::Replay(_) => "Replay",
            CoreInput::Status(_) => "Status",
            CoreInput::Glance(_) => "Glance",
            CoreInput::Invite { .. } => "Invite",
            CoreInput::Revoke(_) => "Revoke",
            CoreInput::Audio(_) => "Audio",
            CoreInput::Sync { .. } => "Sync",
            CoreInput::Snapshot(_) => "Snapshot",
            CoreInput::Export { .. } => "Export",
            CoreInput::Rejoin(_) => "Rejoin",
        })
    }
}

/// A link that passed its handshake.
pub struct LinkUp {
    /// Its id.
    pub link: LinkId,
    /// The writer's inbox.
    pub writer: InboxRef<Message>,
    /// What the peer has seen (to send it what it lacks).
    pub seen: canopy_canvas::VersionVector,
    /// True for the link to this node's parent.
    pub is_parent: bool,
    /// The peer's role (for children: what they may do here).
    pub role: Role,
    /// The peer's name.
    pub name: String,
    /// The peer's address.
    pub address: String,
    /// For round-trip times.
    pub connection: quinn::Connection,
}

/// A local edit, as a drawing script or the GUI asks for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// A whole stroke on page `page` (index in page order).
    Stroke {
        /// Page index.
        page: usize,
        /// Colour.
        color: Color,
        /// Width.
        width: f32,
        /// Points.
        points: Vec<Point>,
        /// Pen or highlighter.
        tool: Tool,
    },
    /// Starts a live stroke on page `page`: others see it while it is drawn.
    StrokeBegin {
        /// Page index.
        page: usize,
        /// Pen or highlighter.
        tool: Tool,
        /// Colour.
        color: Color,
        /// Width.
        width: f32,
    },
    /// Adds points to the live stroke.
    StrokeAppend(Vec<Point>),
    /// Ends the live stroke.
    StrokeEnd,
    /// Erases the strokes of page `page` that a stroke-eraser path touches.
    Erase {
        /// Page index.
        page: usize,
        /// The eraser's path.
        path: Vec<Point>,
        /// Its radius.
        radius: f32,
    },
    /// Adds a page at the end.
    NewPage,
    /// Deletes page `n`.
    DeletePage(usize),
    /// Shows page `n` (the presenter's page, for followers).
    GotoPage(usize),
    /// Moves this participant's cursor (`None`: off the page).
    Cursor(Option<Point>),
    /// Clears page `n`.
    ClearPage(usize),
    /// Undoes the local author's last action.
    Undo,
    /// Redoes it.
    Redo,
}

/// The answer to `canopy status`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Status {
    /// Session id.
    pub session: String,
    /// This node's document identity.
    pub node: String,
    /// Display name.
    pub name: String,
    /// Role in the session.
    pub role: Option<Role>,
    /// Certificate fingerprint.
    pub fingerprint: String,
    /// True for the root of the tree (the host): it has no parent to reconnect to.
    pub root: bool,
    /// The parent link, if joined.
    pub parent: Option<LinkStatus>,
    /// Child links.
    pub children: Vec<LinkStatus>,
    /// Ops in the document.
    pub ops: u64,
    /// Per author: ops seen without gaps.
    pub version_vector: BTreeMap<String, u64>,
    /// Digest of the visible document (`None` in a glance).
    pub digest: Option<String>,
    /// Visible pages.
    pub pages: usize,
    /// Visible strokes.
    pub strokes: usize,
    /// Page shown (presenter).
    pub current_page: usize,
    /// Live components in this node.
    pub components: usize,
    /// Invite URLs this node hands out.
    pub invites: BTreeMap<String, String>,
    /// Everyone present in the session as this node hears it (itself included).
    pub participants: Vec<ParticipantStatus>,
    /// Audio, when it runs: is this node speaking, and how loud.
    pub audio: Option<AudioStatus>,
    /// The session's `.canopy` file.
    pub file: Option<String>,
}

/// This node's own audio in `Status`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AudioStatus {
    /// The local voice is speaking.
    pub speaking: bool,
    /// RMS level of the local voice.
    pub level: f32,
    /// Streams encoded for the last frame.
    pub streams: usize,
    /// The local voice is muted.
    pub muted: bool,
    /// Master playback volume.
    pub master: f32,
    /// Opus complexity in use (lowered under load).
    pub complexity: i32,
    /// The microphone in use, if any.
    #[serde(default)]
    pub input_device: Option<String>,
    /// The speaker in use, if any.
    #[serde(default)]
    pub output_device: Option<String>,
}

/// One participant in `Status`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ParticipantStatus {
    /// Document identity.
    pub node: String,
    /// Display name.
    pub name: String,
    /// Colour, `#rrggbb`.
    pub color: String,
    /// Page shown.
    pub page: u32,
    /// Cursor, if over the page.
    pub cursor: Option<(f32, f32)>,
    /// Role, as the participant says.
    pub role: Option<Role>,
    /// Microphone muted (as the participant says).
    pub muted: bool,
    /// Milliseconds since last heard (0 for this node).
    pub last_seen_ms: u64,
}

/// One link in `Status`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct LinkStatus {
    /// Link id (as in `link[N]/…` components).
    pub link: LinkId,
    /// Peer name.
    pub name: String,
    /// Peer address.
    pub address: String,
    /// Peer role.
    pub role: Role,
    /// Smoothed round-trip time.
    pub rtt_ms: f64,
    /// Someone is speaking on this link (its incoming audio).
    pub speaking: bool,
    /// RMS level of its incoming audio.
    pub audio_level: f32,
    /// Playback volume of what arrives on this link.
    pub volume: f32,
}

struct LinkState {
    outbox: Outbox<Message>,
    /// Ops this link may still send now (refilled at [`OPS_PER_SECOND`]).
    op_budget: Budget,
    /// Presence datagrams likewise.
    presence_budget: Budget,
    is_parent: bool,
    role: Role,
    name: String,
    address: String,
    connection: quinn::Connection,
}

/// Who this node is, fixed at start.
pub struct NodeSetup {
    /// Print invite lines on stdout when they become available.
    pub print_invites: bool,
    /// How long the invites this node hands out stay valid (`None`: until revoked
    /// by closing the session).
    pub invite_ttl: Option<Duration>,
    /// Display name.
    pub name: String,
    /// The node key.
    pub key: Arc<Ed25519KeyPair>,
    /// Certificate fingerprint.
    pub fingerprint: Fingerprint,
    /// `host:port` that invites carry.
    pub public_address: String,
    /// The session.
    pub session: SessionId,
    /// This node's authority (a host's own; a joiner's from its parent's welcome).
    pub authority: Option<Authority>,
    /// Nodes above this one, nearest first (empty for the root).
    pub ancestors: Vec<Ancestor>,
    /// The audio component's meters, when audio runs.
    pub meters: Option<SharedMeters>,
    /// The document to start from.
    pub document: Document,
    /// What the session may use.
    pub limits: SessionLimits,
    /// Op bytes already stored (counted against `limits.max_bytes`).
    pub stored_bytes: u64,
    /// Operator counters, when someone reads them.
    pub metrics: Option<Arc<Metrics>>,
    /// Invite tokens refused at the door.
    pub revoked: std::collections::BTreeSet<String>,
    /// The session's `.canopy` file.
    pub file: Option<std::path::PathBuf>,
}

/// The core component.
pub struct Core {
    inbox: Inbox<CoreInput>,
    applied: Outbox<AppliedOps>,
    /// To the `store`: every new op, before it is forwarded.
    persist: Outbox<StoreInput>,
    /// To the `audio` component: links coming and going.
    audio: Outbox<AudioInput>,
    setup: NodeSetup,
    ancestors: Vec<Ancestor>,
    links: BTreeMap<LinkId, LinkState>,
    current_page: usize,
    invites_printed: bool,
    nonce: u64,
    /// This node's own presence.
    presence: Presence,
    /// Others' presence, by document identity.
    participants: BTreeMap<NodeId, (Presence, Instant)>,
    /// The stroke the local user is drawing.
    live_stroke: Option<canopy_canvas::StrokeId>,
    /// Visible strokes at an op count: counting walks every stroke, so glances
    /// reuse the count until the document changes.
    stroke_count: (u64, usize),
    /// Op bytes the session holds (stored plus applied since).
    bytes: u64,
}

impl Core {
    /// Makes the core's boxes.
    pub fn new(scope: &Scope, setup: NodeSetup) -> Self {
        let stored_bytes = setup.stored_bytes;
        let presence = Presence {
            node: setup.document.local_node(),
            seq: 0,
            name: setup.name.clone(),
            color: color_for(&setup.name),
            page: 0,
            cursor: None,
            role: setup.authority.as_ref().map(Authority::role),
            muted: false,
        };
        Self {
            inbox: scope.inbox_with_capacity("inbox", 1024),
            applied: scope.outbox("applied"),
            persist: scope.outbox("persist"),
            audio: scope.outbox("audio"),
            ancestors: setup.ancestors.clone(),
            setup,
            links: BTreeMap::new(),
            current_page: 0,
            invites_printed: false,
            nonce: 0,
            presence,
            participants: BTreeMap::new(),
            live_stroke: None,
            stroke_count: (u64::MAX, 0),
            bytes: stored_bytes,
        }
    }

    fn node_key(&self) -> [u8; 32] {
        canopy_protocol::public_key(&self.setup.key)
    }

    fn next_nonce(&mut self) -> u64 {
        self.nonce += 1;
        now_seconds()
            .wrapping_mul(1_000_003)
            .wrapping_add(self.nonce)
    }

    /// This node as an ancestor of its children.
    fn as_ancestor(&self) -> Ancestor {
        Ancestor {
            node_key: self.node_key(),
            address: self.setup.public_address.clone(),
            fingerprint: self.setup.fingerprint,
        }
    }

    fn invite_url(&mut self, role: Role) -> Option<String> {
        self.invite_url_for(role, self.setup.invite_ttl)
    }

    fn invite_url_for(&mut self, role: Role, ttl: Option<Duration>) -> Option<String> {
        let nonce = self.next_nonce();
        let authority = self.setup.authority.as_ref()?;
        if role > authority.role() {
            return None;
        }
        let expires = ttl.map(|ttl| now_seconds() + ttl.as_secs().max(1));
        let invite = authority.invite(&self.setup.session, &self.setup.key, role, expires, nonce);
        let (host, port) = split_address(&self.setup.public_address)?;
        Some(
            JoinUrl {
                host,
                port,
                session: self.setup.session,
                fingerprint: Some(self.setup.fingerprint),
                invite,
            }
            .to_string(),
        )
    }

    fn print_invites(&mut self) {
        if !self.setup.print_invites || self.invites_printed || self.setup.authority.is_none() {
            return;
        }
        self.invites_printed = true;
        let mut lines = String::new();
        for role in [Role::Editor, Role::Viewer] {
            if role
                > self
                    .setup
                    .authority
                    .as_ref()
                    .map_or(Role::Viewer, Authority::role)
            {
                continue;
            }
            if let Some(url) = self.invite_url(role) {
                lines.push_str(&format!("invite {role} {url}\n"));
            }
        }
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(lines.as_bytes());
        let _ = stdout.flush();
    }

    fn admit(&mut self, hello: &Hello) -> Result<Box<Welcome>, Refusal> {
        if hello.protocol != PROTOCOL_VERSION {
            return Err(Refusal::VersionMismatch {
                ours: PROTOCOL_VERSION,
                theirs: hello.protocol,
            });
        }
        if hello.session != self.setup.session {
            return Err(Refusal::WrongSession {
                hosted: self.setup.session.to_string(),
                asked: hello.session.to_string(),
            });
        }
        let Some(authority) = self.setup.authority.clone() else {
            return Err(Refusal::Protocol(
                "this node has not joined its session yet".into(),
            ));
        };
        let (role, expires) = hello
            .invite
            .verify(&self.setup.session, now_seconds())
            .map_err(|e| Refusal::BadInvite(e.to_string()))?;
        if !self.setup.revoked.is_empty() && self.setup.revoked.contains(&hello.invite.to_token()) {
            return Err(Refusal::Revoked);
        }
        if let Some(max) = self.setup.limits.max_children {
            let children = self.links.values().filter(|l| !l.is_parent).count();
            if children >= max {
                return Err(Refusal::Limit(format!(
                    "this session is full ({max} peers connected here); try again later"
                )));
            }
        }
        if hello.node_key == self.node_key()
            || self.ancestors.iter().any(|a| a.node_key == hello.node_key)
        {
            return Err(Refusal::Loop(
                data_encoding::HEXLOWER.encode(&hello.node_key[..8]),
            ));
        }
        let nonce = self.next_nonce();
        let delegated = authority.delegate(
            &self.setup.session,
            &self.setup.key,
            hello.node_key,
            role,
            expires,
            nonce,
        );
        let mut ancestors = vec![self.as_ancestor()];
        ancestors.extend(self.ancestors.iter().cloned());
        Ok(Box::new(Welcome {
            session: self.setup.session,
            node: self.setup.document.local_node(),
            name: self.setup.name.clone(),
            role: delegated.role(),
            authority: delegated,
            ancestors,
            seen: self.setup.document.version_vector(),
        }))
    }

    async fn link_up(&mut self, ctx: &Context, up: LinkUp) {
        let mut outbox = ctx.outbox::<Message>(&format!("to-link[{}]", up.link));
        if let Err(error) = link(&outbox.handle(), &up.writer) {
            tracing::warn!(link = up.link, %error, "link ended before it was up");
            return;
        }
        // Send the peer what it lacks, in batches; then it gets every new op live.
        let missing = self.setup.document.ops_missing_from(&up.seen);
        tracing::info!(link = up.link, peer = %up.name, sending = missing.len(), "link up");
        for batch in missing.chunks(SYNC_BATCH) {
            let wire = batch.iter().map(WireOp::from_op).collect();
            if outbox.send(Message::Ops(wire)).await.is_err() {
                return;
            }
        }
        let _ = self.audio.try_send(AudioInput::LinkUp {
            link: up.link,
            connection: up.connection.clone(),
        });
        self.links.insert(
            up.link,
            LinkState {
                outbox,
                op_budget: Budget::new(
                    self.setup.limits.ops_per_second,
                    self.setup.limits.ops_burst,
                ),
                presence_budget: Budget::new(PRESENCE_PER_SECOND, PRESENCE_PER_SECOND * 2.0),
                is_parent: up.is_parent,
                role: up.role,
                name: up.name,
                address: up.address,
                connection: up.connection,
            },
        );
    }

    fn drop_link(&mut self, link: LinkId, refusal: Option<Refusal>) {
        if let Some(mut state) = self.links.remove(&link) {
            let _ = self.audio.try_send(AudioInput::LinkDown { link });
            if let Some(refusal) = refusal {
                if let Some(metrics) = &self.setup.metrics {
                    metrics.refused(refusal.kind());
                }
                tracing::warn!(link, peer = %state.name, %refusal, "closing link");
                let _ = state.outbox.try_send(Message::Refused(refusal));
            }
            state.outbox.close();
        }
    }

    /// Hands new ops to the store (waiting if the disk is behind).
    async fn persist(&mut self, wire: &[WireOp]) {
        if wire.is_empty() {
            return;
        }
        self.bytes += wire
            .iter()
            .map(|w| w.payload.len() as u64 + 32)
            .sum::<u64>();
        if self
            .persist
            .send(StoreInput::Ops(now_ms(), wire.to_vec()))
            .await
            .is_err()
        {
            tracing::error!("the store has stopped: new ops are not being saved");
        }
    }

    async fn ops_from_link(&mut self, link: LinkId, wire: Vec<WireOp>) {
        let Some(state) = self.links.get_mut(&link) else {
            return;
        };
        if let Some(metrics) = &self.setup.metrics {
            Metrics::add(&metrics.ops_in, wire.len() as u64);
            Metrics::add(
                &metrics.bytes_in,
                wire.iter().map(|w| w.payload.len() as u64).sum(),
            );
        }
        if !state.op_budget.take(wire.len() as f64) {
            let limits = &self.setup.limits;
            let refusal = Refusal::Limit(format!(
                "more than {} ops per second (bursts up to {})",
                limits.ops_per_second, limits.ops_burst
            ));
            self.drop_link(link, Some(refusal));
            return;
        }
        if let Some(max) = self.setup.limits.max_bytes {
            let incoming: u64 = wire.iter().map(|w| w.payload.len() as u64 + 32).sum();
            if self.bytes + incoming > max {
                let refusal = Refusal::Limit(format!(
                    "this session is full: it may hold {max} bytes of drawing"
                ));
                self.drop_link(link, Some(refusal));
                return;
            }
        }
        if !state.is_parent && state.role == Role::Viewer {
            let first = wire.first().map(|w| w.id.to_string()).unwrap_or_default();
            self.drop_link(link, Some(Refusal::ViewerEdit(first)));
            return;
        }
        let mut fresh = Vec::new();
        for w in wire {
            let op = match w.to_op() {
                Ok(op) => op,
                Err(error) => {
                    self.drop_link(link, Some(Refusal::Protocol(error.to_string())));
                    return;
                }
            };
            match self.setup.document.apply(op) {
                Ok(Applied::New) => fresh.push(w),
                Ok(Applied::Duplicate) => {}
                Err(error) => {
                    self.drop_link(link, Some(refusal_for(&error)));
                    return;
                }
            }
        }
        self.persist(&fresh).await;
        self.forward(Some(link), fresh);
    }

    /// Applies recorded ops as if they had just arrived, and passes the new ones on.
    async fn replay(&mut self, wire: Vec<WireOp>) {
        if self.setup.authority.as_ref().map(Authority::role) != Some(Role::Editor) {
            tracing::warn!("a viewer cannot replay a recording into the session");
            return;
        }
        let mut fresh = Vec::new();
        for w in wire {
            match w
                .to_op()
                .map_err(|e| e.to_string())
                .and_then(|op| self.setup.document.apply(op).map_err(|e| e.to_string()))
            {
                Ok(Applied::New) => fresh.push(w),
                Ok(Applied::Duplicate) => {}
                Err(error) => tracing::warn!(op = %w.id, %error, "recorded op skipped"),
            }
        }
        self.persist(&fresh).await;
        self.forward(None, fresh);
    }

    /// Sends ops to every link but `origin`. A link whose queue is full is too slow to
    /// keep up: it is dropped (it resyncs when it reconnects) rather than stall all.
    fn forward(&mut self, origin: Option<LinkId>, wire: Vec<WireOp>) {
        if wire.is_empty() {
            return;
        }
        let _ = self.applied.try_send(Arc::new(wire.clone()));
        let mut gone = Vec::new();
        let mut sent = 0u64;
        for (id, state) in self.links.iter_mut() {
            if Some(*id) == origin {
                continue;
            }
            sent += wire.len() as u64;
            match state.outbox.try_send(Message::Ops(wire.clone())) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    gone.push((*id, Some(Refusal::Limit("link too slow to keep up".into()))))
                }
                Err(_) => gone.push((*id, None)),
            }
        }
        if let Some(metrics) = &self.setup.metrics {
            Metrics::add(&metrics.ops_out, sent);
        }
        for (id, refusal) in gone {
            self.drop_link(id, refusal);
        }
    }

    async fn local(&mut self, edit: Edit) -> Result<(), String> {
        let role = self.setup.authority.as_ref().map(Authority::role);
        match edit {
            Edit::GotoPage(page) => {
                self.current_page = page;
                self.presence.page = u32::try_from(page).unwrap_or(u32::MAX);
                self.announce_presence();
                return Ok(());
            }
            Edit::Cursor(cursor) => {
                self.presence.cursor = cursor;
                self.announce_presence();
                return Ok(());
            }
            _ => {}
        }
        if role != Some(Role::Editor) {
            return Err("this node is a viewer: it cannot edit".into());
        }
        let doc = &mut self.setup.document;
        let page_at = |doc: &Document, index: usize| {
            doc.pages().get(index).copied().ok_or_else(|| {
                format!(
                    "there is no page {index} (the document has {})",
                    doc.page_count()
                )
            })
        };
        let ops: Vec<Op> = match edit {
            Edit::Stroke {
                page,
                color,
                width,
                points,
                tool,
            } => {
                let page = page_at(doc, page)?;
                doc.draw_stroke(page, tool, color, width, &points)
                    .map_err(|e| e.to_string())?
            }
            Edit::StrokeBegin {
                page,
                tool,
                color,
                width,
            } => {
                if let Some(stroke) = self.live_stroke.take() {
                    // A begin without an end (a lost pointer release): finish the old one.
                    let _ = doc.end_stroke(stroke);
                }
                let page = page_at(doc, page)?;
                let op = doc
                    .begin_stroke(page, tool, color, width)
                    .map_err(|e| e.to_string())?;
                self.live_stroke = Some(op.id);
                vec![op]
            }
            Edit::StrokeAppend(points) => {
                let stroke = self.live_stroke.ok_or("no stroke is being drawn")?;
                let chunk = doc.limits().max_points_per_op.max(1);
                let mut ops = Vec::new();
                for part in points.chunks(chunk) {
                    ops.push(
                        doc.extend_stroke(stroke, part.to_vec())
                            .map_err(|e| e.to_string())?,
                    );
                }
                ops
            }
            Edit::StrokeEnd => {
                let stroke = self.live_stroke.take().ok_or("no stroke is being drawn")?;
                vec![doc.end_stroke(stroke).map_err(|e| e.to_string())?]
            }
            Edit::Erase { page, path, radius } => {
                let page = page_at(doc, page)?;
                let touched = doc.strokes_touching(page, &path, radius);
                if touched.is_empty() {
                    Vec::new()
                } else {
                    vec![doc.erase(touched).map_err(|e| e.to_string())?]
                }
            }
            Edit::NewPage => vec![doc.new_page().map_err(|e| e.to_string())?],
            Edit::DeletePage(index) => {
                let page = page_at(doc, index)?;
                vec![doc.delete_page(page).map_err(|e| e.to_string())?]
            }
            Edit::ClearPage(index) => {
                let page = page_at(doc, index)?;
                vec![doc.clear_page(page).map_err(|e| e.to_string())?]
            }
            Edit::Undo => doc.undo().map_err(|e| e.to_string())?.into_iter().collect(),
            Edit::Redo => doc.redo().map_err(|e| e.to_string())?.into_iter().collect(),
            Edit::GotoPage(_) | Edit::Cursor(_) => Vec::new(),
        };
        let wire: Vec<WireOp> = ops.iter().map(WireOp::from_op).collect();
        self.persist(&wire).await;
        self.forward(None, wire);
        Ok(())
    }

    /// Sends this node's presence to every link (a new `seq` each time).
    fn announce_presence(&mut self) {
        self.presence.seq += 1;
        let mut bytes = vec![PRESENCE_TAG];
        bytes.extend_from_slice(&self.presence.encode());
        for state in self.links.values() {
            // Unreliable by design: a lost datagram is replaced by the next one.
            let _ = state.connection.send_datagram(bytes.clone().into());
        }
    }

    /// Takes in a presence datagram and passes news on to every other link.
    fn presence_from_link(&mut self, link: LinkId, bytes: Vec<u8>) {
        let Some(state) = self.links.get_mut(&link) else {
            return;
        };
        if !state.presence_budget.take(1.0) {
            return; // over the rate: dropped, like any datagram may be
        }
        let Ok(presence) = Presence::decode(bytes.get(1..).unwrap_or_default()) else {
            tracing::debug!(link, "malformed presence datagram dropped");
            return;
        };
        if presence.node == self.presence.node {
            return;
        }
        if let Some((known, _)) = self.participants.get(&presence.node) {
            if known.seq >= presence.seq {
                return;
            }
        }
        if self.participants.len() >= MAX_PARTICIPANTS
            && !self.participants.contains_key(&presence.node)
        {
            return;
        }
        self.participants
            .insert(presence.node, (presence, Instant::now()));
        for (id, state) in &self.links {
            if *id != link {
                let _ = state.connection.send_datagram(bytes.clone().into());
            }
        }
    }

    /// Once a second: say we are here, forget who has gone quiet.
    fn tick(&mut self) {
        if let Some(meters) = &self.setup.meters {
            self.presence.muted = meters
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .muted;
        }
        self.announce_presence();
        self.participants
            .retain(|_, (_, seen)| seen.elapsed() < PRESENCE_TIMEOUT);
    }

    fn status(&mut self, ctx: &Context, with_digest: bool) -> Status {
        let doc = &self.setup.document;
        if self.stroke_count.0 != doc.op_count() {
            self.stroke_count = (doc.op_count(), doc.stroke_count());
        }
        let meters = self.setup.meters.as_ref().map(|m| {
            m.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        });
        let meter_of = |link: LinkId| {
            meters
                .as_ref()
                .and_then(|m| m.links.get(&link).copied())
                .unwrap_or_default()
        };
        let link_status = |(id, state): (&LinkId, &LinkState)| LinkStatus {
            link: *id,
            speaking: meter_of(*id).speaking,
            audio_level: meter_of(*id).level,
            volume: meters
                .as_ref()
                .and_then(|m| m.volumes.get(id).copied())
                .unwrap_or(1.0),
            name: state.name.clone(),
            address: state.address.clone(),
            role: state.role,
            rtt_ms: state.connection.rtt().as_secs_f64() * 1000.0,
        };
        let parent = self
            .links
            .iter()
            .find(|(_, l)| l.is_parent)
            .map(link_status);
        let children = self
            .links
            .iter()
            .filter(|(_, l)| !l.is_parent)
            .map(link_status)
            .collect();
        let version_vector = doc
            .version_vector()
            .0
            .iter()
            .map(|(node, seq)| (node.to_string(), *seq))
            .collect();
        let mut status = Status {
            session: self.setup.session.to_string(),
            node: doc.local_node().to_string(),
            name: self.setup.name.clone(),
            role: self.setup.authority.as_ref().map(Authority::role),
            fingerprint: self.setup.fingerprint.to_string(),
            root: self.ancestors.is_empty(),
            parent,
            children,
            ops: doc.op_count(),
            version_vector,
            digest: with_digest.then(|| doc.digest().to_string()),
            pages: doc.page_count(),
            strokes: self.stroke_count.1,
            current_page: self.current_page,
            components: ctx.graph().len(),
            invites: BTreeMap::new(),
            participants: std::iter::once((&self.presence, Duration::ZERO))
                .chain(self.participants.values().map(|(p, at)| (p, at.elapsed())))
                .map(|(p, age)| ParticipantStatus {
                    node: p.node.to_string(),
                    name: p.name.clone(),
                    color: p.color.to_hex_rgb(),
                    page: p.page,
                    cursor: p.cursor.map(|c| (c.x, c.y)),
                    role: p.role,
                    muted: p.muted,
                    last_seen_ms: age.as_millis() as u64,
                })
                .collect(),
            audio: meters.as_ref().map(|m| AudioStatus {
                speaking: m.local.speaking,
                level: m.local.level,
                streams: m.streams,
                muted: m.muted,
                master: m.master,
                complexity: m.complexity,
                input_device: m.input_device.clone(),
                output_device: m.output_device.clone(),
            }),
            file: self.setup.file.as_ref().map(|f| f.display().to_string()),
        };
        let my_role = status.role;
        for role in [Role::Editor, Role::Viewer] {
            if Some(role) <= my_role {
                if let Some(url) = self.invite_url(role) {
                    status.invites.insert(role.to_string(), url);
                }
            }
        }
        status
    }

    fn export(&self, format: &str, page: usize) -> Result<Vec<u8>, String> {
        render(&self.setup.document, format, page)
    }
}

/// Renders a document as `png` or `svg` (page `page`) or `pdf` (every page).
pub fn render(doc: &Document, format: &str, page: usize) -> Result<Vec<u8>, String> {
    let page_id = || {
        doc.pages().get(page).copied().ok_or_else(|| {
            format!(
                "there is no page {page} (the document has {})",
                doc.page_count()
            )
        })
    };
    match format {
        "png" => crate::pages::export_png(doc, page_id()?, 1.0).map_err(|e| e.to_string()),
        "svg" => canopy_canvas::export_svg(doc, page_id()?)
            .map(String::into_bytes)
            .map_err(|e| e.to_string()),
        "pdf" => Ok(canopy_canvas::export_pdf(doc)),
        other => Err(format!(
            "unknown export format {other:?}; use .png, .svg or .pdf"
        )),
    }
}

impl Component for Core {
    async fn run(mut self, ctx: Context) -> Result<(), BoxError> {
        let hub = ctx.graph().backplane::<AppliedOps>(APPLIED)?;
        link(&self.applied.handle(), hub.publish_inbox())?;
        self.print_invites();
        let mut ticker = tokio::time::interval(PRESENCE_INTERVAL);
        loop {
            let input = tokio::select! {
                input = self.inbox.recv() => match input {
                    Some(input) => input,
                    None => break,
                },
                _ = ticker.tick() => {
                    self.tick();
                    continue;
                }
            };
            match input {
                CoreInput::Presence { link, bytes } => self.presence_from_link(link, bytes),
                CoreInput::Admit { hello, reply } => {
                    let _ = reply.send(self.admit(&hello));
                }
                CoreInput::Joined { welcome, parent } => {
                    if welcome.session != self.setup.session {
                        tracing::error!("parent answered for another session");
                        continue;
                    }
                    self.setup.authority = Some(welcome.authority.clone());
                    self.presence.role = Some(welcome.authority.role());
                    self.ancestors = welcome.ancestors.clone();
                    if self.ancestors.first().map(|a| a.node_key) != Some(parent.node_key) {
                        self.ancestors.insert(0, parent);
                    }
                    self.print_invites();
                }
                CoreInput::LinkUp(up) => self.link_up(&ctx, *up).await,
                CoreInput::LinkDown { link, reason } => {
                    if let Some(state) = self.links.get(&link) {
                        tracing::info!(link, peer = %state.name, %reason, "link down");
                    }
                    self.drop_link(link, None);
                }
                CoreInput::Misbehaved { link, refusal } => self.drop_link(link, Some(refusal)),
                CoreInput::FromLink { link, ops } => self.ops_from_link(link, ops).await,
                CoreInput::Replay(ops) => self.replay(ops).await,
                CoreInput::Local(edit) => {
                    if let Err(error) = self.local(edit).await {
                        tracing::warn!(%error, "local edit refused");
                    }
                }
                CoreInput::Status(reply) => {
                    let _ = reply.send(self.status(&ctx, true));
                }
                CoreInput::Glance(reply) => {
                    let _ = reply.send(self.status(&ctx, false));
                }
                CoreInput::Invite { role, ttl, reply } => {
                    let _ = reply.send(self.invite_url_for(role, ttl));
                }
                CoreInput::Revoke(token) => {
                    self.setup.revoked.insert(token);
                }
                CoreInput::Audio(control) => {
                    if let AudioControl::Mute(on) = control {
                        self.presence.muted = on;
                        self.announce_presence();
                    }
                    if self.audio.try_send(AudioInput::Control(control)).is_err() {
                        tracing::info!("audio is off on this node: {control:?} ignored");
                    }
                }
                CoreInput::Sync { seen, reply } => {
                    let missing = self.setup.document.ops_missing_from(&seen);
                    let _ = reply.send(missing.iter().map(WireOp::from_op).collect());
                }
                CoreInput::Snapshot(reply) => {
                    let _ = reply.send(Box::new(self.setup.document.clone()));
                }
                CoreInput::Export {
                    format,
                    page,
                    reply,
                } => {
                    let _ = reply.send(self.export(&format, page));
                }
                CoreInput::Rejoin(reply) => {
                    let nonce = self.next_nonce();
                    let answer = self.setup.authority.as_ref().map(|authority| {
                        let hello = Hello {
                            protocol: PROTOCOL_VERSION,
                            session: self.setup.session,
                            node: self.setup.document.local_node(),
                            node_key: self.node_key(),
                            name: self.setup.name.clone(),
                            invite: authority.invite(
                                &self.setup.session,
                                &self.setup.key,
                                authority.role(),
                                None,
                                nonce,
                            ),
                            seen: self.setup.document.version_vector(),
                        };
                        (Box::new(hello), self.ancestors.clone())
                    });
                    let _ = reply.send(answer);
                }
            }
        }
        // Stopping: tell every peer why before the links close.
        for link in self.links.keys().copied().collect::<Vec<_>>() {
            self.drop_link(link, Some(Refusal::ShuttingDown));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(())
    }
}

fn refusal_for(error: &OpError) -> Refusal {
    match error {
        OpError::PageFull { .. }
        | OpError::TooManyPages(_)
        | OpError::TooManyPoints { .. }
        | OpError::TooManyItems { .. }
        | OpError::TooLarge { .. } => Refusal::Limit(error.to_string()),
        _ => Refusal::Protocol(format!("invalid op: {error}")),
    }
}

/// Seconds since the Unix epoch (for invite expiry).
pub fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Splits `host:port` (IPv6 in brackets or bare).
pub fn split_address(address: &str) -> Option<(String, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

/// A random document identity for this run (documents are not kept across restarts
/// yet, so reusing an identity could reuse op ids).
pub fn fresh_node_id() -> NodeId {
    let mut bytes = [0u8; 8];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    NodeId(u64::from_le_bytes(bytes) | 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_allows_bursts_then_the_rate() {
        let mut budget = Budget::new(1000.0, 50.0);
        assert!(budget.take(50.0), "a full burst at once");
        assert!(!budget.take(10.0), "then nothing until it refills");
        std::thread::sleep(Duration::from_millis(20));
        assert!(budget.take(10.0), "about 20 tokens came back in 20 ms");
        assert!(!budget.take(45.0), "never more than the burst");
    }

    #[test]
    fn colours_are_stable_per_name() {
        assert_eq!(color_for("alice"), color_for("alice"));
    }
}
