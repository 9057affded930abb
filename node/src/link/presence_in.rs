//! `link[N]/presence-in`: presence datagrams from one link, at most
//! [`PRESENCE_PER_SECOND`] (more are dropped, like any datagram may be), decoded and
//! bounded, and checked: each must be signed by its participant's key, an author the
//! session knows (else it is dropped: the participant's authority travels on the
//! link's stream and its next presence gets through), and the role it shows is the
//! one the participant's authority gives, whatever it claims. What passes goes to the
//! presence table. Checks run here, on the link's own task.

use std::time::Instant;

use canopy_axon::{BoxError, Component, Context, Inbox, Outbox, Scope};
use canopy_protocol::{Datagram, Presence, SignedPresence};

use super::budget::Budget;
use crate::session::{Authors, LinkId, PresenceInput, SharedAuthors, PRESENCE_PER_SECOND};

/// The presence-in component.
pub struct PresenceIn {
    inbox: Inbox<Vec<u8>>,
    /// To the presence table.
    table: Outbox<PresenceInput>,
    link: LinkId,
    budget: Budget,
    /// Who the participants are: their keys and roles.
    authors: SharedAuthors,
}

impl PresenceIn {
    /// Makes the boxes.
    pub fn new(scope: &Scope, link: LinkId, authors: SharedAuthors) -> Self {
        Self {
            authors,
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

impl PresenceIn {
    /// The presence, if its participant signed it, with the role its authority gives.
    fn checked(&self, signed: SignedPresence) -> Option<Presence> {
        // The table is read, then let go before the signature is checked: its lock is
        // for lookups only (the document writes it for every run it commits).
        let (tip, session) = {
            let table = Authors::read(&self.authors);
            (table.tip(signed.presence.node), *table.session())
        };
        let Some(tip) = tip else {
            tracing::debug!(link = self.link, node = %signed.presence.node, "presence of an author not known yet dropped");
            return None;
        };
        if !signed.verify(&tip.key, &session) {
            tracing::debug!(link = self.link, node = %signed.presence.node, "presence its participant did not sign dropped");
            return None;
        }
        let mut presence = signed.presence;
        presence.role = Some(tip.role);
        Some(presence)
    }
}

impl Component for PresenceIn {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        while let Some(bytes) = self.inbox.recv().await {
            if !self.budget.take(1.0, Instant::now()) {
                continue; // over the rate
            }
            match Datagram::parse(&bytes) {
                Ok(Datagram::Presence(signed)) => {
                    let Some(presence) = self.checked(signed) else {
                        continue;
                    };
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
