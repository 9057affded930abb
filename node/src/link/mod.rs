//! One QUIC connection per tree edge, as a pipeline of small components per link, so
//! that the work that grows with links runs on every core:
//!
//! ```text
//!  stream → reader → deframer → guard → checker ─► session's document
//!  session's router ─► encoder → writer → stream
//!  datagrams → datagrams-in ─┬► presence-in ─► session's presence table
//!                            └► audio-in (jitter buffer, decoder) ◄─► session's mixer
//!  session's audio mixer ─► audio-out (encodes this link's mix-minus) ─┐
//!  session's presence table ─► presence-out (latest per participant) ─┴► datagrams-out
//! ```
//!
//! A link's components are named `link[N]/…`; they start when its handshake
//! (`handshake.rs`) is done and end with the connection. A stage that finds a broken
//! rule tells the router (which sends the peer the reason and closes the link) and
//! drops whatever still arrives.

pub mod audio_in;
pub mod audio_out;
pub mod budget;
pub mod check_debts;
pub mod checker;
pub mod datagrams_in;
pub mod datagrams_out;
pub mod deframer;
pub mod encoder;
pub mod guard;
pub mod handshake;
pub mod presence_in;
pub mod presence_out;
pub mod reader;
pub mod refuser;
pub mod runs;
pub mod slots;
pub mod writer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Result;
use canopy_axon::{link, Graph, InboxRef};
use canopy_canvas::NodeId;
use canopy_protocol::{Authority, FrameDecoder, Message, Role, WireOp};
use quinn::{RecvStream, SendStream};
use tokio::sync::oneshot;

pub use encoder::WRITER_QUEUE;
pub use guard::Peer;
pub use handshake::{
    admit, answer_created, channel_binding, join_handshake, read_opening, refuse, request_session,
    Greeting, JoinRefused, Opening, HANDSHAKE_TIMEOUT,
};

use crate::session::{LinkId, RttProbe, SessionPorts};

/// What a link's reading stages pass along, in the order it came: op batches, and
/// authors' authorities (which the checker must know before those authors' ops).
#[derive(Debug, Clone)]
pub enum Inbound {
    /// Ops.
    Ops(Vec<WireOp>),
    /// Authorities.
    Authors(Vec<Authority>),
    /// Proof that an author split its log.
    Evidence(Box<canopy_protocol::Evidence>),
    /// Where the peer's logs of authors stand, signed (as the link comes up).
    Heads(Vec<canopy_protocol::SignedHead>),
}

static NEXT_LINK: AtomicU64 = AtomicU64::new(1);

/// A new link id.
pub fn next_link_id() -> LinkId {
    NEXT_LINK.fetch_add(1, Ordering::Relaxed)
}

/// What the link components need to start.
pub struct Streams {
    /// The link id.
    pub link: LinkId,
    /// The connection.
    pub connection: quinn::Connection,
    /// Its stream's send half.
    pub send: SendStream,
    /// Its stream's receive half.
    pub recv: RecvStream,
    /// Bytes read past the handshake.
    pub decoder: FrameDecoder,
    /// The peer's node, as the author of its own ops, if known: a link closes for
    /// content its peer signed, not for content it only passes on.
    pub peer: Option<NodeId>,
}

/// A link's audio components, for the mixer.
#[derive(Clone)]
pub struct LinkAudio {
    /// `audio-out`: what the peer is to hear.
    pub out: InboxRef<audio_out::AudioOut>,
    /// `audio-in`: the mixer's ticks.
    pub input: InboxRef<audio_in::AudioIn>,
}

/// A link's components, started: what the router needs to reach it.
pub struct LinkPorts {
    /// The encoder's inbox (messages to the peer).
    pub writer: InboxRef<Message>,
    /// Op bytes waiting in it.
    pub queued: encoder::Queued,
    /// The link's `presence-out` (presence news for the peer).
    pub presence: InboxRef<presence_out::PresenceNews>,
    /// The link's `audio-out` and `audio-in`, when the session has audio.
    pub audio: Option<LinkAudio>,
    /// The transport's round-trip time.
    pub rtt: RttProbe,
    /// Send once the router has the link's `LinkUp`: the reader waits for it.
    pub start: oneshot::Sender<()>,
}

/// Starts `link[N]/…` for a connection that passed its handshake, wired to the
/// session's ports.
pub fn spawn_link(
    graph: &Graph,
    session: &SessionPorts,
    streams: Streams,
    peer: Peer,
) -> Result<LinkPorts> {
    let Streams {
        link: id,
        connection,
        send,
        recv,
        decoder,
        peer: peer_node,
    } = streams;
    let name = |part: &str| format!("link[{id}]/{part}");
    let (start, started) = oneshot::channel::<()>();

    let writer = graph.spawn(&name("writer"), |scope| {
        writer::Writer::new(scope, send, connection.clone())
    });
    let queued = encoder::Queued::default();
    let encoder = graph.spawn(&name("encoder"), |scope| {
        encoder::Encoder::new(scope, queued.clone())
    });
    let checker = graph.spawn(&name("checker"), |scope| {
        checker::Checker::new(
            scope,
            id,
            session.op_limits.clone(),
            Arc::clone(&session.authors),
        )
        .with_peer(peer_node)
        .blind(session.blind)
    });
    let guard = graph.spawn(&name("guard"), |scope| {
        guard::Guard::new(
            scope,
            id,
            peer,
            session.limits.clone(),
            Arc::clone(&session.held_bytes),
            session.metrics.clone(),
        )
    });
    let deframer = graph.spawn(&name("deframer"), |scope| {
        deframer::Deframer::new(scope, id, decoder)
    });
    let presence_in = graph.spawn(&name("presence-in"), |scope| {
        presence_in::PresenceIn::new(scope, id, Arc::clone(&session.authors))
    });
    let datagrams_out = graph.spawn(&name("datagrams-out"), |scope| {
        datagrams_out::DatagramsOut::new(scope, connection.clone())
    });
    let presence_out = graph.spawn(&name("presence-out"), presence_out::PresenceOut::new);
    link(
        &presence_out.outbox::<Vec<u8>>("outbox")?,
        &datagrams_out.inbox("inbox")?,
    )?;

    link(
        &encoder.outbox::<encoder::Frame>("outbox")?,
        &writer.inbox("inbox")?,
    )?;
    link(&checker.outbox("outbox")?, &session.document)?;
    link(&checker.outbox("sync")?, &session.sync)?;
    link(
        &guard.outbox::<Inbound>("outbox")?,
        &checker.inbox("inbox")?,
    )?;
    link(
        &deframer.outbox::<Inbound>("outbox")?,
        &guard.inbox("inbox")?,
    )?;
    for stage in [&checker, &guard, &deframer] {
        link(&stage.outbox("router")?, &session.router)?;
    }
    link(&deframer.outbox("door")?, &session.door)?;
    link(&presence_in.outbox("outbox")?, &session.presence)?;

    // The sources last, once everything they feed is wired.
    let datagrams_in = graph.spawn(&name("datagrams-in"), |scope| {
        datagrams_in::DatagramsIn::new(scope, connection.clone())
    });
    link(
        &datagrams_in.outbox::<Vec<u8>>("presence")?,
        &presence_in.inbox("inbox")?,
    )?;
    let reader = graph.spawn(&name("reader"), |scope| {
        reader::Reader::new(scope, id, recv, started)
    });
    link(
        &reader.outbox::<bytes::Bytes>("outbox")?,
        &deframer.inbox("inbox")?,
    )?;
    link(&reader.outbox("router")?, &session.router)?;

    let audio = match &session.audio {
        Some(mixer) => {
            let audio_out = graph.spawn(&name("audio-out"), |scope| {
                audio_out::AudioOutComponent::new(scope, id)
            });
            link(
                &audio_out.outbox::<Vec<u8>>("outbox")?,
                &datagrams_out.inbox("inbox")?,
            )?;
            let audio_in = graph.spawn(&name("audio-in"), |scope| {
                audio_in::AudioInComponent::new(scope, id)
            });
            link(
                &audio_in.outbox::<audio_in::HeardFrame>("outbox")?,
                &mixer.heard,
            )?;
            // A viewer child may listen, not speak: its packets go nowhere (datagrams-in
            // drops audio it has no one to give to). A parent sends its subtree's mix.
            if peer.is_parent || peer.role != Role::Viewer {
                link(
                    &datagrams_in.outbox::<audio_in::AudioIn>("audio")?,
                    &audio_in.inbox("inbox")?,
                )?;
            }
            Some(LinkAudio {
                out: audio_out.inbox("inbox")?,
                input: audio_in.inbox("inbox")?,
            })
        }
        None => None,
    };
    let rtt_connection = connection;
    Ok(LinkPorts {
        writer: encoder.inbox("inbox")?,
        queued,
        presence: presence_out.inbox("inbox")?,
        audio,
        rtt: Arc::new(move || rtt_connection.rtt()),
        start,
    })
}
