//! `link[N]/deframer`: bytes into messages (length-prefixed bincode, each frame
//! bounded before anything is buffered). Op batches and authorities go on to the
//! guard, in order, revocations
//! to the door (which checks them); anything else after the handshake, or a bad
//! frame, closes the link with a typed reason.

use bytes::Bytes;
use canopy_axon::{BoxError, Component, Context, Inbox, Outbox, Scope};
use canopy_protocol::{FrameDecoder, FrameError, Message, Refusal, WireOp, MAX_FRAME};

use super::Inbound;

use super::handshake::message_kind;
use super::refuser::Refuser;
use crate::session::{DoorInput, LinkId};

/// Ops passed on in one batch at most when messages arrive together.
pub const COALESCE: usize = 512;

/// The deframer component.
pub struct Deframer {
    inbox: Inbox<Bytes>,
    /// To the guard.
    ops: Outbox<Inbound>,
    /// To the door: revocations passed on by the peer.
    door: Outbox<DoorInput>,
    /// To the router: misbehaviour.
    refuser: Refuser,
    link: LinkId,
    decoder: FrameDecoder,
}

impl Deframer {
    /// Makes the boxes; `decoder` holds whatever was read past the handshake.
    pub fn new(scope: &Scope, link: LinkId, decoder: FrameDecoder) -> Self {
        Self {
            inbox: scope.inbox("inbox"),
            ops: scope.outbox("outbox"),
            door: scope.outbox("door"),
            refuser: Refuser::new(scope, link),
            link,
            decoder,
        }
    }

    /// Passes on every whole message buffered, op batches that arrived together as
    /// one (up to [`COALESCE`] ops): a burst read in one chunk then crosses the
    /// link's stages and the document once instead of once per message. `Err` with
    /// the reason to close (the ops before the bad message still go on).
    async fn drain(&mut self) -> Result<(), Refusal> {
        let mut batch: Vec<WireOp> = Vec::new();
        let verdict = loop {
            match self.decoder.next_message() {
                Ok(Some(Message::Ops(ops))) => {
                    if batch.is_empty() {
                        batch = ops;
                    } else {
                        batch.extend(ops);
                    }
                    if batch.len() >= COALESCE && !self.flush(&mut batch).await {
                        return Ok(());
                    }
                }
                Ok(Some(Message::Authors(authorities))) => {
                    // In order: the ops before them first.
                    if !self.flush(&mut batch).await
                        || self.ops.send(Inbound::Authors(authorities)).await.is_err()
                    {
                        return Ok(());
                    }
                }
                Ok(Some(Message::Evidence(evidence))) => {
                    if !self.flush(&mut batch).await
                        || self.ops.send(Inbound::Evidence(evidence)).await.is_err()
                    {
                        return Ok(());
                    }
                }
                Ok(Some(Message::Heads(heads))) => {
                    if !self.flush(&mut batch).await
                        || self.ops.send(Inbound::Heads(heads)).await.is_err()
                    {
                        return Ok(());
                    }
                }
                Ok(Some(Message::Revoke(revocation))) => {
                    let revoked = DoorInput::Revoked {
                        revocation: Box::new(revocation),
                        from: self.link,
                    };
                    if self.door.send(revoked).await.is_err() {
                        return Ok(());
                    }
                }
                Ok(Some(Message::Refused(refusal))) => {
                    // The peer is closing; the reader sees the stream end.
                    tracing::info!(link = self.link, %refusal, "the peer closed the link");
                }
                Ok(Some(other)) => {
                    break Err(Refusal::Protocol(format!(
                        "unexpected {} after the handshake",
                        message_kind(&other)
                    )))
                }
                Ok(None) => break Ok(()),
                Err(FrameError::TooLarge(n)) => {
                    break Err(Refusal::Limit(format!(
                        "frame of {n} bytes (limit {MAX_FRAME})"
                    )))
                }
                Err(other) => break Err(Refusal::Protocol(other.to_string())),
            }
        };
        self.flush(&mut batch).await;
        verdict
    }

    /// Passes on the ops gathered so far, if any; false if the guard is gone.
    async fn flush(&mut self, batch: &mut Vec<WireOp>) -> bool {
        batch.is_empty()
            || self
                .ops
                .send(Inbound::Ops(std::mem::take(batch)))
                .await
                .is_ok()
    }
}

impl Component for Deframer {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        // Whole messages may have arrived with the handshake.
        if let Err(refusal) = self.drain().await {
            self.refuser.refuse(refusal).await;
        }
        while let Some(bytes) = self.inbox.recv().await {
            if self.refuser.is_closing() {
                continue;
            }
            self.decoder.push(&bytes);
            // Chunks that queued meanwhile are read with it, so their op batches go
            // on as one (bounded: a frame is at most MAX_FRAME anyway).
            let mut read = bytes.len();
            while read < MAX_FRAME {
                let Ok(more) = self.inbox.try_recv() else {
                    break;
                };
                read += more.len();
                self.decoder.push(&more);
            }
            if let Err(refusal) = self.drain().await {
                self.refuser.refuse(refusal).await;
            }
        }
        Ok(())
    }
}
