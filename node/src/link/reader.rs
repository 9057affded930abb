//! `link[N]/reader`: bytes from the link's stream, as they come, to the deframer.
//! It starts only once the router has the link (the caller's start signal) and says
//! why the link ended when it does.

use bytes::Bytes;
use canopy_axon::{BoxError, Component, Context, Outbox, Scope};
use quinn::RecvStream;
use tokio::sync::oneshot;

use crate::session::{LinkId, RouterInput};

/// Largest chunk taken from the stream at once.
const CHUNK: usize = 64 * 1024;

/// The reader component.
pub struct Reader {
    /// To the deframer.
    bytes: Outbox<Bytes>,
    /// To the router: the link ended.
    router: Outbox<RouterInput>,
    link: LinkId,
    recv: RecvStream,
    started: oneshot::Receiver<()>,
}

impl Reader {
    /// Makes the boxes.
    pub fn new(
        scope: &Scope,
        link: LinkId,
        recv: RecvStream,
        started: oneshot::Receiver<()>,
    ) -> Self {
        Self {
            bytes: scope.outbox("outbox"),
            router: scope.outbox("router"),
            link,
            recv,
            started,
        }
    }
}

impl Component for Reader {
    async fn run(mut self, ctx: Context) -> Result<(), BoxError> {
        tokio::select! {
            began = &mut self.started => if began.is_err() {
                return Ok(()); // the link never came up
            },
            () = ctx.stopped() => return Ok(()),
        }
        // Chunks are quinn's own buffers: an idle link holds no read buffer of its own.
        let reason = loop {
            tokio::select! {
                read = self.recv.read_chunk(CHUNK, true) => match read {
                    Ok(Some(chunk)) => {
                        if self.bytes.send(chunk.bytes).await.is_err() {
                            break "stopping".to_string();
                        }
                    }
                    Ok(None) => break "the peer ended the stream".to_string(),
                    Err(error) => break error.to_string(),
                },
                () = ctx.stopped() => break "stopping".to_string(),
            }
        };
        let _ = self
            .router
            .send(RouterInput::LinkDown {
                link: self.link,
                reason,
            })
            .await;
        Ok(())
    }
}
