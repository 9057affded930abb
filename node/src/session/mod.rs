//! A session on a node: the per-node components every peer and every relay session
//! runs, and their wiring. Each component owns one job and one piece of state:
//!
//! ```text
//!  link[N]/checker ─► document ─► store            (new ops, saved first)
//!                        │  └───► sync (replica) ─► backlogs, window copies, status counts
//!                        └──────► router ─► link[N]/encoder (every link but the origin)
//!  link[N]/presence-in ─► presence ─► link[N]/datagrams-out
//!  handshakes ─► door (admission, invites)     status ◄─► door, router, sync, presence
//!  exporter ◄─ sync (a copy, drawn on a low-priority thread)
//! ```
//!
//! Work that grows with the number of links — reading, deframing, budgets, decoding
//! and checking ops, encoding and writing — happens in each link's own components
//! (`crate::link`), on every core; what is left here is cheap per op.

pub mod authors;
pub mod catch_up;
pub mod cuts;
pub mod document;
pub mod door;
pub mod edit;
pub mod exporter;
pub mod presence;
pub mod router;
pub mod status;
pub mod sync;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use canopy_axon::{link, ComponentHandle, Graph, InboxRef};
use canopy_canvas::{Document, NodeId};
use canopy_protocol::{Ancestor, Authority, Fingerprint, SessionId, WireOp};
use ring::signature::Ed25519KeyPair;

use crate::audio::{AudioPorts, SharedMeters};
use crate::metrics::Metrics;
use crate::store::StoreInput;

pub use authors::{Authors, SealToJudge, SharedAuthors, Tip};
pub use document::{Checked, Credit, Credits, DocumentInput, Run, LINK_CREDITS};
pub use door::DoorInput;
pub use edit::{Edit, LiveStroke, PageRef};
pub use exporter::{render, ExportRequest};
pub use presence::PresenceInput;
pub use router::{LinkUp, RouterInput, RttProbe};
pub use status::{AudioStatus, LinkStatus, ParticipantStatus, Status, StatusInput};
pub use sync::SyncInput;

/// Identifies a link for the life of the process.
pub type LinkId = u64;

/// Ops the document just took in (new ones only), published on the graph's `applied`
/// backplane for observers (windows, benchmarks). An observer that falls behind misses
/// events, never the document's time: it catches up with [`SyncInput::Missing`].
pub type AppliedOps = Arc<Vec<WireOp>>;

/// Name of the backplane carrying [`AppliedOps`] events.
pub const APPLIED: &str = "applied";

/// Sustained ops per second a link may send; more closes it with a reason.
pub const OPS_PER_SECOND: f64 = 100_000.0;
/// Burst allowance (a reconnecting node sending its offline work, a big sync).
pub const OPS_BURST: f64 = 2_000_000.0;
/// Presence datagrams per second a link may send; more are dropped.
pub const PRESENCE_PER_SECOND: f64 = 200.0;

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
    /// Op bytes that may wait in one link's send queue: a peer that reads slower is
    /// dropped (and resyncs when it comes back).
    pub max_queued_bytes: u64,
    /// How long local edits wait for this node's own earlier ops when its parent says
    /// it holds more of them than the node does ([`catch_up`]).
    pub own_ops_wait: Duration,
    /// The shortest time between two rebuilds that leave out authors proven to have
    /// split their logs: proofs arriving meanwhile wait and go in one ([`cuts`]).
    pub proof_rebuild_pause: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            ops_per_second: OPS_PER_SECOND,
            ops_burst: OPS_BURST,
            max_children: None,
            max_bytes: None,
            max_queued_bytes: crate::link::encoder::MAX_QUEUED_BYTES,
            own_ops_wait: catch_up::OWN_OPS_WAIT,
            proof_rebuild_pause: cuts::MIN_PAUSE,
        }
    }
}

/// Who this node is and what it starts from.
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
    /// The document to start from (in a blind session, an empty one naming this
    /// node).
    pub document: Document,
    /// In a blind session (a relay that reads nothing of a payload past its
    /// header, `docs/BLIND-RELAYS.md`), the ops held to start from, unread.
    pub blind: Option<canopy_protocol::OpaqueReplica>,
    /// What the session may use.
    pub limits: SessionLimits,
    /// Op bytes already stored (counted against `limits.max_bytes`).
    pub stored_bytes: u64,
    /// Operator counters, when someone reads them.
    pub metrics: Option<Arc<Metrics>>,
    /// Grants refused at the door, and where they are kept.
    pub revoked: door::Revoked,
    /// The session key, on the node that holds it (it signs revocations).
    pub session_key: Option<Arc<Ed25519KeyPair>>,
    /// The session's `.canopy` file.
    pub file: Option<std::path::PathBuf>,
    /// How far the parent's welcome says it holds this node's own ops (0 for a
    /// host): local edits wait for those from the start ([`catch_up`]).
    pub own_ops_upstream: u64,
    /// The session's authors and their logs, as the file keeps them.
    pub authors: SharedAuthors,
    /// Ops imported at the start, by old id: a replay that goes on from there follows.
    pub reauthor: canopy_canvas::Reauthor,
    /// Files imported as this node's own signed ops at the start (status says so).
    pub imported: Vec<String>,
}

/// Where a session's components take input: what links, tools and windows are wired
/// to. Cheap to clone.
#[derive(Clone)]
pub struct SessionPorts {
    /// Applies ops and local edits.
    pub document: InboxRef<DocumentInput>,
    /// Links up and down, misbehaviour.
    pub router: InboxRef<RouterInput>,
    /// Reads of the whole document.
    pub sync: InboxRef<SyncInput>,
    /// Who is here.
    pub presence: InboxRef<PresenceInput>,
    /// Admission and invites.
    pub door: InboxRef<DoorInput>,
    /// `canopy status`.
    pub status: InboxRef<StatusInput>,
    /// `canopy export`.
    pub exporter: InboxRef<ExportRequest>,
    /// The audio mixer, when audio runs.
    pub audio: Option<AudioPorts>,
    /// What links of this session may send.
    pub limits: SessionLimits,
    /// Op bytes the session holds (each link's guard reads it).
    pub held_bytes: Arc<AtomicU64>,
    /// What any op must satisfy (each link's checker).
    pub op_limits: canopy_canvas::Limits,
    /// The session is blind: links read each op's header alone.
    pub blind: bool,
    /// Who may author and how far each author's log is held (each link's checker
    /// verifies runs against it).
    pub authors: SharedAuthors,
    /// Operator counters.
    pub metrics: Option<Arc<Metrics>>,
}

/// A session's running components.
pub struct Session {
    /// Where to send things.
    pub ports: SessionPorts,
    /// The document component (its end means the session has stopped).
    pub document: ComponentHandle,
    /// Every per-node component of the session.
    pub components: Vec<ComponentHandle>,
}

impl Session {
    /// Stops the session's components and waits for them (the store flushes once
    /// the document's end reaches it).
    pub async fn stop(&self) {
        for component in &self.components {
            component.stop();
        }
        for component in &self.components {
            component.join().await;
        }
    }
}

/// Spawns a session's components on `graph`, named `PREFIX/document` and so on (no
/// prefix on a peer, `session[ID]` on a relay), wired to the session's `store` and,
/// when audio runs, its mixer.
pub fn spawn(
    graph: &Graph,
    prefix: &str,
    setup: NodeSetup,
    store: &InboxRef<StoreInput>,
    audio: Option<&AudioPorts>,
) -> Result<Session> {
    let name = |part: &str| {
        if prefix.is_empty() {
            part.to_string()
        } else {
            format!("{prefix}/{part}")
        }
    };
    let node = setup.document.local_node();
    let role = setup.authority.as_ref().map(Authority::role);
    let held_bytes = Arc::new(AtomicU64::new(setup.stored_bytes));
    let op_limits = setup.document.limits().clone();

    let authors = setup.authors;
    if let Some(authority) = &setup.authority {
        if let Err(error) = Authors::write(&authors).learn(authority) {
            anyhow::bail!("this node's authority does not verify: {error}");
        }
    }
    let document = graph.spawn(&name("document"), |scope| {
        document::DocumentComponent::new(
            scope,
            setup.document.clone(),
            setup.blind.clone(),
            role,
            Arc::clone(&held_bytes),
            Arc::clone(&authors),
            document::OwnAuthorship {
                key: Arc::clone(&setup.key),
                reauthor: setup.reauthor,
                own_ops_wait: setup.limits.own_ops_wait,
                own_ops_upstream: setup.own_ops_upstream,
                proof_rebuild_pause: setup.limits.proof_rebuild_pause,
            },
        )
    });
    let blind = setup.blind.is_some();
    let replica = match setup.blind {
        Some(held) => sync::Replica::Blind(held),
        None => setup.document.into(),
    };
    let sync = graph.spawn(&name("sync"), |scope| {
        sync::SyncServer::new(
            scope,
            replica,
            node,
            setup.limits.max_queued_bytes,
            Arc::clone(&authors),
        )
    });
    let router = graph.spawn(&name("router"), |scope| {
        router::Router::new(
            scope,
            Arc::clone(&authors),
            setup.metrics.clone(),
            setup.limits.max_queued_bytes,
        )
    });
    let presence = graph.spawn(&name("presence"), |scope| {
        presence::PresenceTable::new(
            scope,
            presence::Participant {
                key: Arc::clone(&setup.key),
                session: setup.session,
                name: setup.name.clone(),
                role,
            },
            setup.meters.clone(),
        )
    });
    let status_facts = status::StatusFacts {
        session: setup.session.to_string(),
        name: setup.name.clone(),
        fingerprint: setup.fingerprint.to_string(),
        file: setup.file.as_ref().map(|f| f.display().to_string()),
        imported: setup.imported.clone(),
        meters: setup.meters,
    };
    let door = graph.spawn(&name("door"), |scope| {
        door::DoorComponent::new(
            scope,
            door::Identity {
                key: setup.key,
                node,
                name: setup.name,
                fingerprint: setup.fingerprint,
                public_address: setup.public_address,
                session: setup.session,
                authority: setup.authority,
                ancestors: setup.ancestors,
                invite_ttl: setup.invite_ttl,
                print_invites: setup.print_invites,
                max_children: setup.limits.max_children,
                revoked: setup.revoked,
                session_key: setup.session_key,
                authors: Arc::clone(&authors),
            },
        )
    });
    let status = graph.spawn(&name("status"), |scope| {
        status::StatusComponent::new(scope, status_facts)
    });
    let exporter = graph.spawn(&name("exporter"), exporter::Exporter::new);

    let ports = SessionPorts {
        document: document.inbox("inbox")?,
        router: router.inbox("inbox")?,
        sync: sync.inbox("inbox")?,
        presence: presence.inbox("inbox")?,
        door: door.inbox("inbox")?,
        status: status.inbox("inbox")?,
        exporter: exporter.inbox("inbox")?,
        audio: audio.cloned(),
        limits: setup.limits,
        held_bytes,
        op_limits,
        blind,
        authors,
        metrics: setup.metrics,
    };
    link(&document.outbox("persist")?, store)?;
    link(&document.outbox("sync")?, &ports.sync)?;
    link(&document.outbox("router")?, &ports.router)?;
    link(&document.outbox("presence")?, &ports.presence)?;
    link(&router.outbox("sync")?, &ports.sync)?;
    link(&router.outbox("presence")?, &ports.presence)?;
    link(&router.outbox("door")?, &ports.door)?;
    link(&door.outbox("document")?, &ports.document)?;
    link(&door.outbox("presence")?, &ports.presence)?;
    link(&door.outbox("router")?, &ports.router)?;
    link(&status.outbox("door")?, &ports.door)?;
    link(&status.outbox("router")?, &ports.router)?;
    link(&status.outbox("sync")?, &ports.sync)?;
    link(&status.outbox("presence")?, &ports.presence)?;
    link(&exporter.outbox("sync")?, &ports.sync)?;
    if let Some(audio) = audio {
        link(&router.outbox("audio")?, &audio.control)?;
        link(&presence.outbox("audio")?, &audio.control)?;
    }
    Ok(Session {
        ports,
        document: document.clone(),
        components: vec![document, sync, router, presence, door, status, exporter],
    })
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

/// The document identity of the node with `key`: its ops are named after its key,
/// so nobody else can make them.
pub fn author_id(key: &Ed25519KeyPair) -> NodeId {
    canopy_protocol::AuthorKey(canopy_protocol::public_key(key)).node_id()
}
