//! `link[N]/encoder`: messages for the peer into frames (length-prefixed bincode), on
//! the link's own task. Its inbox is the link's send queue: the router never waits on
//! it, and drops a link whose queue is full.
//!
//! Messages already queued when it wakes are encoded together (up to
//! [`COALESCE_BYTES`]) and written at once: an idle link sends each message as it
//! comes, a busy one sends fewer, larger writes, and the peer reads them as one chunk
//! (its deframer then hands on one batch). Nothing waits for company.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use canopy_axon::{BoxError, Component, Context, Inbox, Outbox, Scope};
use canopy_protocol::{encode, Message};

/// Messages a link may have queued before it counts as too slow.
pub const WRITER_QUEUE: usize = 16_384;

/// Op bytes a link may have queued before it counts as too slow: a peer that stops
/// reading pins at most this much here, however large the batches sent to it.
pub const MAX_QUEUED_BYTES: u64 = 32 << 20;

/// The op bytes a message holds, as the send queue counts them (what a session's byte
/// budget counts: payload plus envelope).
pub fn queued_bytes(message: &Message) -> u64 {
    match message {
        Message::Ops(ops) => ops.iter().map(crate::session::document::wire_bytes).sum(),
        _ => 0,
    }
}

/// The op bytes waiting in a link's send queue: whoever queues adds
/// ([`queued_bytes`]), the encoder takes them off as it encodes.
#[derive(Debug, Clone, Default)]
pub struct Queued(Arc<AtomicU64>);

impl Queued {
    /// Bytes waiting now.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Counts `bytes` more, unless that would pass `limit`: false then, and nothing
    /// is counted.
    pub fn try_add(&self, bytes: u64, limit: u64) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                now.checked_add(bytes).filter(|total| *total <= limit)
            })
            .is_ok()
    }

    /// Counts `bytes` less (never below zero).
    pub fn take(&self, bytes: u64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                Some(now.saturating_sub(bytes))
            });
    }
}

/// Bytes of frames encoded together at most, before they go to the writer.
pub const COALESCE_BYTES: usize = 64 * 1024;

/// Frames to write together, and whether they close the link (a refusal, with its
/// reason: always the last frame).
#[derive(Debug)]
pub struct Frame {
    /// The encoded messages, one after the other.
    pub bytes: Vec<u8>,
    /// The reason, when this frame is a refusal: the link closes after it.
    pub closing: Option<String>,
}

/// The encoder component.
pub struct Encoder {
    inbox: Inbox<Message>,
    queued: Queued,
    /// To the writer.
    frames: Outbox<Frame>,
}

impl Encoder {
    /// Makes the boxes; `queued` is the link's count of op bytes waiting.
    pub fn new(scope: &Scope, queued: Queued) -> Self {
        Self {
            inbox: scope.inbox_with_capacity("inbox", WRITER_QUEUE),
            queued,
            frames: scope.outbox("outbox"),
        }
    }
}

impl Component for Encoder {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        while let Some(first) = self.inbox.recv().await {
            let mut bytes = Vec::new();
            let mut closing = None;
            let mut next = Some(first);
            while let Some(message) = next.take() {
                if let Message::Refused(refusal) = &message {
                    closing = Some(refusal.to_string());
                }
                self.queued.take(queued_bytes(&message));
                bytes.extend_from_slice(&encode(&message)?);
                if closing.is_none() && bytes.len() < COALESCE_BYTES {
                    next = self.inbox.try_recv().ok();
                }
            }
            let last = closing.is_some();
            if self.frames.send(Frame { bytes, closing }).await.is_err() || last {
                break;
            }
        }
        Ok(())
    }
}
