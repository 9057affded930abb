//! One QUIC connection per tree edge, as a handful of components: a handshake, then a
//! reader (stream → frames → core) and a writer (core → frames → stream). They are
//! created when a connection is up and end with it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use canopy_axon::{link, Graph, Inbox, InboxRef, Outbox};
use canopy_protocol::{encode, FrameDecoder, Hello, Message, Refusal, Welcome, MAX_FRAME};
use quinn::{RecvStream, SendStream};

use crate::audio::{parse_packet, AudioInput, AUDIO_TAG, PRESENCE_TAG};
use crate::core::{CoreInput, LinkId, LinkUp};

/// Messages a link's writer may have queued before the link counts as too slow.
pub const WRITER_QUEUE: usize = 16_384;

/// How long a peer has to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

static NEXT_LINK: AtomicU64 = AtomicU64::new(1);

/// A new link id.
pub fn next_link_id() -> LinkId {
    NEXT_LINK.fetch_add(1, Ordering::Relaxed)
}

/// Reads one message from a stream (handshake only; the reader component takes over).
async fn read_message(recv: &mut RecvStream, decoder: &mut FrameDecoder) -> Result<Message> {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if let Some(message) = decoder.next_message()? {
            return Ok(message);
        }
        match recv.read(&mut buffer).await? {
            Some(n) => decoder.push(&buffer[..n]),
            None => bail!("the peer closed the link during the handshake"),
        }
    }
}

async fn write_message(send: &mut SendStream, message: &Message) -> Result<()> {
    send.write_all(&encode(message)?).await?;
    Ok(())
}

/// The first half of the server side of a handshake: the joiner's hello and its
/// streams (with any bytes read past the hello), before anyone judges it.
pub struct Greeting {
    /// The hello.
    pub hello: Box<Hello>,
    /// Stream to the joiner.
    pub send: SendStream,
    /// Stream from the joiner.
    pub recv: RecvStream,
    /// Bytes read past the hello.
    pub decoder: FrameDecoder,
}

/// How a connection opens: a joiner's hello, or a request to create a session.
pub enum Opening {
    /// A joiner.
    Join(Greeting),
    /// Someone holding a relay host token asks for a new session.
    Create {
        /// The token.
        token: String,
        /// The title asked for.
        title: String,
        /// Stream to the asker.
        send: SendStream,
    },
}

/// Reads the first message of a connection: a hello or a session request (anything
/// else is refused).
pub async fn read_opening(connection: &quinn::Connection) -> Result<Opening> {
    let (mut send, mut recv) = tokio::time::timeout(HANDSHAKE_TIMEOUT, connection.accept_bi())
        .await
        .context("no stream opened in time")??;
    let mut decoder = FrameDecoder::new();
    let hello = match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_message(&mut recv, &mut decoder))
        .await
        .context("no hello in time")??
    {
        Message::Hello(hello) => Box::new(hello),
        Message::CreateSession { token, title } => {
            return Ok(Opening::Create { token, title, send });
        }
        other => {
            let refusal =
                Refusal::Protocol(format!("expected a hello, got {}", message_kind(&other)));
            let _ = write_message(&mut send, &Message::Refused(refusal.clone())).await;
            bail!(refusal);
        }
    };
    Ok(Opening::Join(Greeting {
        hello,
        send,
        recv,
        decoder,
    }))
}

/// Answers a session request with the new session's invites.
pub async fn answer_created(send: &mut SendStream, editor: String, viewer: String) -> Result<()> {
    write_message(send, &Message::Created { editor, viewer }).await?;
    let _ = send.finish();
    Ok(())
}

/// Client side of a session request: asks, and returns (editor, viewer) invite URLs.
pub async fn request_session(
    connection: &quinn::Connection,
    token: &str,
    title: &str,
) -> Result<(String, String)> {
    let (mut send, mut recv) = connection.open_bi().await?;
    let request = Message::CreateSession {
        token: token.to_string(),
        title: title.to_string(),
    };
    write_message(&mut send, &request).await?;
    let mut decoder = FrameDecoder::new();
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_message(&mut recv, &mut decoder))
        .await
        .context("the relay did not answer in time")??
    {
        Message::Created { editor, viewer } => Ok((editor, viewer)),
        Message::Refused(refusal) => bail!("the relay refused: {refusal}"),
        other => bail!("the relay answered with {}", message_kind(&other)),
    }
}

/// Refuses a joiner and gives the refusal time to arrive before the connection goes.
pub async fn refuse(connection: &quinn::Connection, send: &mut SendStream, refusal: &Refusal) {
    let _ = write_message(send, &Message::Refused(refusal.clone())).await;
    let _ = send.finish();
    let _ = tokio::time::timeout(Duration::from_secs(2), connection.closed()).await;
}

/// The second half: let the core judge the hello, and answer the joiner.
pub async fn admit(
    connection: &quinn::Connection,
    greeting: &mut Greeting,
    core: &mut Outbox<CoreInput>,
) -> Result<Box<Welcome>> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    core.send(CoreInput::Admit {
        hello: greeting.hello.clone(),
        reply,
    })
    .await
    .map_err(|_| anyhow!("the node is shutting down"))?;
    match answer
        .await
        .map_err(|_| anyhow!("the node is shutting down"))?
    {
        Ok(welcome) => {
            write_message(&mut greeting.send, &Message::Welcome((*welcome).clone())).await?;
            Ok(welcome)
        }
        Err(refusal) => {
            refuse(connection, &mut greeting.send, &refusal).await;
            bail!(refusal)
        }
    }
}

/// Client side of a handshake: send the hello, wait for welcome or refusal.
pub async fn join_handshake(
    connection: &quinn::Connection,
    hello: &Hello,
) -> Result<(Box<Welcome>, SendStream, RecvStream, FrameDecoder), JoinRefused> {
    let io = |e: anyhow::Error| JoinRefused::Io(e.to_string());
    let (mut send, mut recv) = connection.open_bi().await.map_err(|e| io(e.into()))?;
    write_message(&mut send, &Message::Hello(hello.clone()))
        .await
        .map_err(io)?;
    let mut decoder = FrameDecoder::new();
    let message = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_message(&mut recv, &mut decoder))
        .await
        .map_err(|_| JoinRefused::Io("no answer to the hello in time".into()))?
        .map_err(io)?;
    match message {
        Message::Welcome(welcome) => Ok((Box::new(welcome), send, recv, decoder)),
        Message::Refused(refusal) => Err(JoinRefused::Refused(refusal)),
        other => Err(JoinRefused::Io(format!(
            "expected a welcome, got {}",
            message_kind(&other)
        ))),
    }
}

/// Why joining did not work.
#[derive(Debug, thiserror::Error)]
pub enum JoinRefused {
    /// The other node said no, with its reason.
    #[error("{0}")]
    Refused(Refusal),
    /// The link broke.
    #[error("{0}")]
    Io(String),
}

fn message_kind(message: &Message) -> &'static str {
    match message {
        Message::Hello(_) => "a hello",
        Message::Welcome(_) => "a welcome",
        Message::Refused(_) => "a refusal",
        Message::Ops(_) => "ops",
        Message::CreateSession { .. } => "a session request",
        Message::Created { .. } => "a session answer",
    }
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

/// Starts `link[N]/reader` and `link[N]/writer`; returns the writer's inbox.
pub fn spawn_link(
    graph: &Graph,
    core: &InboxRef<CoreInput>,
    audio: Option<&InboxRef<AudioInput>>,
    streams: Streams,
) -> Result<(InboxRef<Message>, tokio::sync::oneshot::Sender<()>)> {
    // The reader waits for this until the core has the link's `LinkUp` queued: ops it
    // passed on before that would reach a core that does not know the link yet.
    let (start, started) = tokio::sync::oneshot::channel::<()>();
    let Streams {
        link: id,
        connection,
        mut send,
        mut recv,
        mut decoder,
    } = streams;

    let scope = graph.component(&format!("link[{id}]/writer"));
    // Room for bursts: the core never waits on a link, and drops one that is this far
    // behind (it resyncs when it reconnects).
    let mut inbox: Inbox<Message> = scope.inbox_with_capacity("inbox", WRITER_QUEUE);
    let writer_inbox = inbox.handle();
    let writer_connection = connection.clone();
    scope.spawn_fn(move |_ctx| async move {
        while let Some(message) = inbox.recv().await {
            let refusal = match &message {
                Message::Refused(refusal) => Some(refusal.to_string()),
                _ => None,
            };
            let frame = encode(&message)?;
            if send.write_all(&frame).await.is_err() {
                break;
            }
            if let Some(reason) = refusal {
                let _ = send.finish();
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), writer_connection.closed()).await;
                writer_connection.close(1u32.into(), reason.as_bytes());
                return Ok(());
            }
        }
        let _ = send.finish();
        let _ = tokio::time::timeout(Duration::from_millis(500), send.stopped()).await;
        writer_connection.close(0u32.into(), b"link closed");
        Ok(())
    });

    let scope = graph.component(&format!("link[{id}]/reader"));
    let mut to_core: Outbox<CoreInput> = scope.outbox("outbox");
    link(&to_core.handle(), core)?;
    let mut to_audio: Outbox<AudioInput> = scope.outbox("audio");
    if let Some(audio) = audio {
        link(&to_audio.handle(), audio)?;
    }
    scope.spawn_fn(move |ctx| async move {
        tokio::select! {
            began = started => if began.is_err() {
                return Ok(()); // the link never came up
            },
            () = ctx.stopped() => return Ok(()),
        }
        // Chunks are quinn's own buffers: an idle link holds no read buffer of its own.
        let reason = loop {
            // Drain whole messages first (some may have arrived with the handshake).
            match decoder.next_message() {
                Ok(Some(Message::Ops(ops))) => {
                    to_core.send(CoreInput::FromLink { link: id, ops }).await?;
                    continue;
                }
                Ok(Some(Message::Refused(refusal))) => {
                    break format!("the peer closed the link: {refusal}")
                }
                Ok(Some(other)) => {
                    let refusal = Refusal::Protocol(format!(
                        "unexpected {} after the handshake",
                        message_kind(&other)
                    ));
                    to_core
                        .send(CoreInput::Misbehaved { link: id, refusal })
                        .await?;
                    return Ok(());
                }
                Ok(None) => {}
                Err(error) => {
                    let refusal = match error {
                        canopy_protocol::FrameError::TooLarge(n) => {
                            Refusal::Limit(format!("frame of {n} bytes (limit {MAX_FRAME})"))
                        }
                        other => Refusal::Protocol(other.to_string()),
                    };
                    to_core
                        .send(CoreInput::Misbehaved { link: id, refusal })
                        .await?;
                    return Ok(());
                }
            }
            tokio::select! {
                read = recv.read_chunk(64 * 1024, true) => match read {
                    Ok(Some(chunk)) => decoder.push(&chunk.bytes),
                    Ok(None) => break "the peer ended the stream".to_string(),
                    Err(error) => break error.to_string(),
                },
                datagram = connection.read_datagram() => {
                    let Ok(bytes) = datagram else { continue };
                    match bytes.first() {
                        Some(&PRESENCE_TAG) => to_core.send(CoreInput::Presence { link: id, bytes: bytes.to_vec() }).await?,
                        Some(&AUDIO_TAG) => {
                            if let Some((seq, packet)) = parse_packet(&bytes[1..]) {
                                // Real time: a full queue means this packet is too late anyway.
                                let _ = to_audio.try_send(AudioInput::Packet { link: id, seq, packet, arrival_ms: crate::audio::clock_ms() });
                            }
                        }
                        _ => {} // unknown kinds are ignored, like any lost datagram
                    }
                }
                () = ctx.stopped() => break "stopping".to_string(),
            }
        };
        to_core
            .send(CoreInput::LinkDown { link: id, reason })
            .await?;
        Ok(())
    });
    Ok((writer_inbox, start))
}

/// Milliseconds on a monotonic clock, for jitter measurement.
/// Tells the core a link is up (after spawning its components).
pub async fn announce(core: &mut Outbox<CoreInput>, up: LinkUp) -> Result<()> {
    core.send(CoreInput::LinkUp(Box::new(up)))
        .await
        .map_err(|_| anyhow!("the node is shutting down"))
}
