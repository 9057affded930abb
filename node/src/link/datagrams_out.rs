//! `link[N]/datagrams-out`: datagrams for the peer (presence from the table, audio
//! from the mixer) onto the connection. Unreliable by design: one that cannot be sent
//! now is dropped, and the next replaces it.

use canopy_axon::{BoxError, Component, Context, Inbox, Scope};
use quinn::Connection;

/// The datagram sender component.
pub struct DatagramsOut {
    inbox: Inbox<Vec<u8>>,
    connection: Connection,
}

impl DatagramsOut {
    /// Makes the boxes.
    pub fn new(scope: &Scope, connection: Connection) -> Self {
        Self {
            inbox: scope.inbox("inbox"),
            connection,
        }
    }
}

impl Component for DatagramsOut {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        loop {
            tokio::select! {
                bytes = self.inbox.recv() => match bytes {
                    Some(bytes) => { let _ = self.connection.send_datagram(bytes.into()); }
                    None => return Ok(()),
                },
                _ = self.connection.closed() => return Ok(()),
            }
        }
    }
}
