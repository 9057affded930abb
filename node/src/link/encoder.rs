//! `link[N]/encoder`: messages for the peer into frames (length-prefixed bincode), on
//! the link's own task. Its inbox is the link's send queue: the router never waits on
//! it, and drops a link whose queue is full.

use canopy_axon::{BoxError, Component, Context, Inbox, Outbox, Scope};
use canopy_protocol::{encode, Message};

/// Messages a link may have queued before it counts as too slow.
pub const WRITER_QUEUE: usize = 16_384;

/// A frame to write, and whether it closes the link (a refusal, with its reason).
#[derive(Debug)]
pub struct Frame {
    /// The encoded message.
    pub bytes: Vec<u8>,
    /// The reason, when this frame is a refusal: the link closes after it.
    pub closing: Option<String>,
}

/// The encoder component.
pub struct Encoder {
    inbox: Inbox<Message>,
    /// To the writer.
    frames: Outbox<Frame>,
}

impl Encoder {
    /// Makes the boxes.
    pub fn new(scope: &Scope) -> Self {
        Self {
            inbox: scope.inbox_with_capacity("inbox", WRITER_QUEUE),
            frames: scope.outbox("outbox"),
        }
    }
}

impl Component for Encoder {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        while let Some(message) = self.inbox.recv().await {
            let closing = match &message {
                Message::Refused(refusal) => Some(refusal.to_string()),
                _ => None,
            };
            let frame = Frame {
                bytes: encode(&message)?,
                closing,
            };
            let last = frame.closing.is_some();
            if self.frames.send(frame).await.is_err() || last {
                break;
            }
        }
        Ok(())
    }
}
