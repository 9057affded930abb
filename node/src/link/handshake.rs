//! The handshake of a link: the opening message (a hello, or a relay session
//! request), the door's verdict and the welcome, on the joiner's side and on the
//! admitting side. Judging is `canopy_protocol::admit`, a pure function, behind the
//! session's `door`; this is only its I/O.

use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use canopy_axon::Outbox;
use canopy_protocol::{
    encode, ChannelBinding, FrameDecoder, Hello, KeyProof, Message, Refusal, Welcome,
    CHANNEL_BINDING_LABEL,
};
use quinn::{RecvStream, SendStream};
use ring::signature::Ed25519KeyPair;

use crate::session::{DoorInput, SyncInput};

/// How long a peer has to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// What both ends of `connection` derive alike from its TLS session and no other
/// connection shares: what a hello's [`KeyProof`] is made for.
pub fn channel_binding(connection: &quinn::Connection) -> Result<ChannelBinding> {
    let mut binding = [0u8; 32];
    connection
        .export_keying_material(&mut binding, CHANNEL_BINDING_LABEL, b"")
        .map_err(|_| anyhow!("the TLS session exports no channel binding"))?;
    Ok(binding)
}

/// The first half of the server side of a handshake: the joiner's hello and its
/// streams (with any bytes read past the hello), before anyone judges it.
pub struct Greeting {
    /// The hello.
    pub hello: Box<Hello>,
    /// The joiner's proof that it holds the key the hello names, for this connection.
    pub proof: KeyProof,
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
    let (hello, proof) =
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_message(&mut recv, &mut decoder))
            .await
            .context("no hello in time")??
        {
            Message::Hello(hello, proof) => (Box::new(hello), proof),
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
        proof,
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

/// The second half: let the door judge the hello, and answer the joiner with this
/// node's version vector (from the sync server) in the welcome.
pub async fn admit(
    connection: &quinn::Connection,
    greeting: &mut Greeting,
    door: &mut Outbox<DoorInput>,
    sync: &mut Outbox<SyncInput>,
) -> Result<Box<Welcome>> {
    let gone = || anyhow!("the node is shutting down");
    let (reply, answer) = tokio::sync::oneshot::channel();
    door.send(DoorInput::Admit {
        hello: greeting.hello.clone(),
        reply,
    })
    .await
    .map_err(|_| gone())?;
    match answer.await.map_err(|_| gone())? {
        Ok(mut welcome) => {
            let (reply, answer) = tokio::sync::oneshot::channel();
            sync.send(SyncInput::Seen(reply))
                .await
                .map_err(|_| gone())?;
            welcome.seen = answer.await.map_err(|_| gone())?;
            write_message(&mut greeting.send, &Message::Welcome((*welcome).clone())).await?;
            Ok(welcome)
        }
        Err(refusal) => {
            refuse(connection, &mut greeting.send, &refusal).await;
            bail!(refusal)
        }
    }
}

/// Client side of a handshake: send the hello with its proof (signed with `key`, the
/// key the hello names, for this connection), wait for welcome or refusal.
pub async fn join_handshake(
    connection: &quinn::Connection,
    hello: &Hello,
    key: &Ed25519KeyPair,
) -> Result<(Box<Welcome>, SendStream, RecvStream, FrameDecoder), JoinRefused> {
    let io = |e: anyhow::Error| JoinRefused::Io(e.to_string());
    let proof = KeyProof::sign(key, hello, &channel_binding(connection).map_err(io)?);
    let (mut send, mut recv) = connection.open_bi().await.map_err(|e| io(e.into()))?;
    write_message(&mut send, &Message::Hello(hello.clone(), proof))
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

pub(crate) fn message_kind(message: &Message) -> &'static str {
    match message {
        Message::Hello(..) => "a hello",
        Message::Welcome(_) => "a welcome",
        Message::Refused(_) => "a refusal",
        Message::Ops(_) => "ops",
        Message::CreateSession { .. } => "a session request",
        Message::Created { .. } => "a session answer",
        Message::Revoke(_) => "a revocation",
        Message::Authors(_) => "authors",
        Message::Evidence(_) => "evidence",
        Message::Heads(_) => "signed heads",
    }
}
