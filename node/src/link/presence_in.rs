//! `link[N]/presence-in`: presence datagrams from one link, at most
//! [`PRESENCE_PER_SECOND`] (more are dropped, like any datagram may be), decoded and
//! bounded; what is well formed goes to the presence table.

use std::time::Instant;

use canopy_axon::{BoxError, Component, Context, Inbox, Outbox, Scope};
use canopy_protocol::Datagram;

use super::budget::Budget;
use crate::session::{LinkId, PresenceInput, PRESENCE_PER_SECOND};

/// The presence-in component.
pub struct PresenceIn {
    inbox: Inbox<Vec<u8>>,
    /// To the presence table.
    table: Outbox<PresenceInput>,
    link: LinkId,
    budget: Budget,
}

impl PresenceIn {
    /// Makes the boxes.
    pub fn new(scope: &Scope, link: LinkId) -> Self {
        Self {
            inbox: scope.inbox("inbox"),
            table: scope.outbox("outbox"),
            link,
            budget: Budget::new(
                PRESENCE_PER_SECOND,
                PRESENCE_PER_SECOND * 2.0,
                Instant::now(),
            ),
        }
    }
}

impl Component for PresenceIn {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        while let Some(bytes) = self.inbox.recv().await {
            if !self.budget.take(1.0, Instant::now()) {
                continue; // over the rate
            }
            match Datagram::parse(&bytes) {
                Ok(Datagram::Presence(presence)) => {
                    let _ = self
                        .table
                        .send(PresenceInput::FromLink {
                            link: self.link,
                            presence,
                            bytes,
                        })
                        .await;
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(link = self.link, %error, "presence datagram dropped")
                }
            }
        }
        Ok(())
    }
}
