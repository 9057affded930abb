//! How a link's stage closes the link: the first broken rule goes to the router (which
//! tells the peer why and closes the link), and from then on the stage drops whatever
//! still arrives, so nothing after a violation is ever applied.

use canopy_axon::{Outbox, Scope};
use canopy_protocol::Refusal;

use crate::session::{LinkId, RouterInput};

/// A stage's outbox to the router, and whether it has refused the link.
pub struct Refuser {
    router: Outbox<RouterInput>,
    link: LinkId,
    refused: bool,
}

impl Refuser {
    /// Makes the stage's `router` outbox.
    pub fn new(scope: &Scope, link: LinkId) -> Self {
        Self {
            router: scope.outbox("router"),
            link,
            refused: false,
        }
    }

    /// True once this stage has refused the link: drop what arrives.
    pub fn is_closing(&self) -> bool {
        self.refused
    }

    /// Asks the router to close the link with `refusal` (once).
    pub async fn refuse(&mut self, refusal: Refusal) {
        if self.refused {
            return;
        }
        self.refused = true;
        let _ = self
            .router
            .send(RouterInput::Misbehaved {
                link: self.link,
                refusal,
            })
            .await;
    }
}
