//! `link[N]/checker`: decodes each op's payload and checks it against the rules every
//! peer applies alike (`Op::validate`), here on the link's own task so the work
//! spreads over every core. The document then only applies. An op that fails closes
//! the link; the ops before it in the batch still go on. Each batch takes one of the
//! link's places in the document's queue ([`crate::session::LINK_CREDITS`]): a link
//! that sends faster than the document applies waits here, not in front of others.

use canopy_axon::{BoxError, Component, Context, Inbox, Outbox, Scope};
use canopy_canvas::Limits;
use canopy_protocol::{Refusal, WireOp};

use super::refuser::Refuser;
use crate::session::document::refusal_for;
use crate::session::{Checked, Credits, DocumentInput, LinkId};

/// The checker component.
pub struct Checker {
    inbox: Inbox<Vec<WireOp>>,
    /// To the document.
    document: Outbox<DocumentInput>,
    /// To the router: a bad op.
    refuser: Refuser,
    link: LinkId,
    limits: Limits,
    credits: Credits,
}

/// Decodes and checks a batch: the good ops before the first bad one, and why that
/// one is bad.
pub fn check(ops: Vec<WireOp>, limits: &Limits) -> (Vec<Checked>, Option<Refusal>) {
    let mut checked = Vec::with_capacity(ops.len());
    for wire in ops {
        let op = match wire.to_op() {
            Ok(op) => op,
            Err(error) => return (checked, Some(Refusal::Protocol(error.to_string()))),
        };
        if let Err(error) = op.validate(limits) {
            return (checked, Some(refusal_for(&error)));
        }
        checked.push(Checked { wire, op });
    }
    (checked, None)
}

impl Checker {
    /// Makes the boxes.
    pub fn new(scope: &Scope, link: LinkId, limits: Limits) -> Self {
        Self {
            inbox: scope.inbox("inbox"),
            document: scope.outbox("outbox"),
            refuser: Refuser::new(scope, link),
            link,
            limits,
            credits: Credits::default(),
        }
    }
}

impl Component for Checker {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        while let Some(ops) = self.inbox.recv().await {
            if self.refuser.is_closing() {
                continue;
            }
            let (checked, refusal) = check(ops, &self.limits);
            if !checked.is_empty() {
                let Some(credit) = self.credits.take().await else {
                    break;
                };
                let _ = self
                    .document
                    .send(DocumentInput::FromLink {
                        link: self.link,
                        ops: checked,
                        credit,
                    })
                    .await;
            }
            if let Some(refusal) = refusal {
                self.refuser.refuse(refusal).await;
            }
        }
        Ok(())
    }
}
