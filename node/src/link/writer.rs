//! `link[N]/writer`: frames onto the link's stream. After a refusal it gives the peer
//! a moment to read it, then closes the connection with the reason; when its input
//! ends it finishes the stream and closes the connection.

use std::time::Duration;

use canopy_axon::{BoxError, Component, Context, Inbox, Scope};
use quinn::{Connection, SendStream};

use super::encoder::Frame;

/// The writer component.
pub struct Writer {
    inbox: Inbox<Frame>,
    send: SendStream,
    connection: Connection,
}

impl Writer {
    /// Makes the boxes.
    pub fn new(scope: &Scope, send: SendStream, connection: Connection) -> Self {
        Self {
            inbox: scope.inbox("inbox"),
            send,
            connection,
        }
    }
}

impl Component for Writer {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        while let Some(frame) = self.inbox.recv().await {
            if self.send.write_all(&frame.bytes).await.is_err() {
                break;
            }
            if let Some(reason) = frame.closing {
                let _ = self.send.finish();
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), self.connection.closed()).await;
                self.connection.close(1u32.into(), reason.as_bytes());
                return Ok(());
            }
        }
        let _ = self.send.finish();
        let _ = tokio::time::timeout(Duration::from_millis(500), self.send.stopped()).await;
        self.connection.close(0u32.into(), b"link closed");
        Ok(())
    }
}
