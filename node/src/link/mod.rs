//! One QUIC connection per tree edge, as a pipeline of small components per link, so
//! that the work that grows with links runs on every core:
//!
//! ```text
//!  stream → reader → deframer → guard → checker ─► session's document
//!  session's router ─► encoder → writer → stream
//!  datagrams → datagrams-in ─┬► presence-in ─► session's presence table
//!                            └► session's audio mixer
//!  session's presence table, audio mixer ─► datagrams-out → datagrams
//! ```
//!
//! A link's components are named `link[N]/…`; they start when its handshake
//! (`handshake.rs`) is done and end with the connection. A stage that finds a broken
//! rule tells the router (which sends the peer the reason and closes the link) and
//! drops whatever still arrives.

pub mod budget;
pub mod checker;
pub mod datagrams_in;
pub mod datagrams_out;
pub mod deframer;
pub mod encoder;
pub mod guard;
pub mod handshake;
pub mod presence_in;
pub mod reader;
pub mod refuser;
pub mod writer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Result;
use canopy_axon::{link, Graph, InboxRef};
use canopy_protocol::{FrameDecoder, Message, WireOp};
use quinn::{RecvStream, SendStream};
use tokio::sync::oneshot;

pub use encoder::WRITER_QUEUE;
pub use guard::Peer;
pub use handshake::{
    admit, answer_created, join_handshake, read_opening, refuse, request_session, Greeting,
    JoinRefused, Opening, HANDSHAKE_TIMEOUT,
};

use crate::session::{LinkId, RttProbe, SessionPorts};

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
}

/// A link's components, started: what the router needs to reach it.
pub struct LinkPorts {
    /// The encoder's inbox (messages to the peer).
    pub writer: InboxRef<Message>,
    /// The datagram sender's inbox.
    pub datagrams: InboxRef<Vec<u8>>,
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
    } = streams;
    let name = |part: &str| format!("link[{id}]/{part}");
    let (start, started) = oneshot::channel::<()>();

    let writer = graph.spawn(&name("writer"), |scope| {
        writer::Writer::new(scope, send, connection.clone())
    });
    let encoder = graph.spawn(&name("encoder"), encoder::Encoder::new);
    let checker = graph.spawn(&name("checker"), |scope| {
        checker::Checker::new(scope, id, session.op_limits.clone())
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
        presence_in::PresenceIn::new(scope, id)
    });
    let datagrams_out = graph.spawn(&name("datagrams-out"), |scope| {
        datagrams_out::DatagramsOut::new(scope, connection.clone())
    });

    link(
        &encoder.outbox::<encoder::Frame>("outbox")?,
        &writer.inbox("inbox")?,
    )?;
    link(&checker.outbox("outbox")?, &session.document)?;
    link(
        &guard.outbox::<Vec<WireOp>>("outbox")?,
        &checker.inbox("inbox")?,
    )?;
    link(
        &deframer.outbox::<Vec<WireOp>>("outbox")?,
        &guard.inbox("inbox")?,
    )?;
    for stage in [&checker, &guard, &deframer] {
        link(&stage.outbox("router")?, &session.router)?;
    }
    link(&presence_in.outbox("outbox")?, &session.presence)?;

    // The sources last, once everything they feed is wired.
    let datagrams_in = graph.spawn(&name("datagrams-in"), |scope| {
        datagrams_in::DatagramsIn::new(scope, id, connection.clone())
    });
    link(
        &datagrams_in.outbox::<Vec<u8>>("presence")?,
        &presence_in.inbox("inbox")?,
    )?;
    if let Some(audio) = &session.audio {
        link(&datagrams_in.outbox("audio")?, audio)?;
    }
    let reader = graph.spawn(&name("reader"), |scope| {
        reader::Reader::new(scope, id, recv, started)
    });
    link(
        &reader.outbox::<bytes::Bytes>("outbox")?,
        &deframer.inbox("inbox")?,
    )?;
    link(&reader.outbox("router")?, &session.router)?;

    let rtt_connection = connection;
    Ok(LinkPorts {
        writer: encoder.inbox("inbox")?,
        datagrams: datagrams_out.inbox("inbox")?,
        rtt: Arc::new(move || rtt_connection.rtt()),
        start,
    })
}
