//! `link[N]/guard`: what this link may send. A viewer child may not edit; every link
//! has an op budget (a token bucket); the session has a byte budget; a message names
//! at most [`AUTHORS_PER_MESSAGE`] authors; a link says where at most
//! [`MAX_AUTHORS`] authors' logs stand, [`MAX_HEADS_PER_MESSAGE`] a message. Over
//! any of them the link is closed with a typed reason and nothing more from it
//! passes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use canopy_axon::{BoxError, Component, Context, Inbox, Outbox, Scope};
use canopy_protocol::{Refusal, Role, WireOp, MAX_HEADS_PER_MESSAGE};

use super::checker::MAX_AUTHORS;

use super::budget::Budget;
use super::refuser::Refuser;
use super::Inbound;
use crate::metrics::Metrics;
use crate::session::document::wire_bytes;
use crate::session::router::AUTHORS_PER_MESSAGE;
use crate::session::{LinkId, SessionLimits};

/// Who is on the other end, as the handshake established.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// True for this node's parent (whose ops are the tree's, not its own).
    pub is_parent: bool,
    /// The role its invite carried.
    pub role: Role,
}

/// The guard component.
pub struct Guard {
    inbox: Inbox<Inbound>,
    /// To the checker.
    ops: Outbox<Inbound>,
    /// To the router: over a limit.
    refuser: Refuser,
    peer: Peer,
    limits: SessionLimits,
    budget: Budget,
    held_bytes: Arc<AtomicU64>,
    metrics: Option<Arc<Metrics>>,
    /// Signed heads the peer sent so far (`Heads`).
    heads: usize,
}

impl Guard {
    /// Makes the boxes.
    pub fn new(
        scope: &Scope,
        link: LinkId,
        peer: Peer,
        limits: SessionLimits,
        held_bytes: Arc<AtomicU64>,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        Self {
            inbox: scope.inbox("inbox"),
            ops: scope.outbox("outbox"),
            refuser: Refuser::new(scope, link),
            peer,
            budget: Budget::new(limits.ops_per_second, limits.ops_burst, Instant::now()),
            limits,
            held_bytes,
            metrics,
            heads: 0,
        }
    }

    /// Why signed heads (`count` more) may not pass, if they may not: a link says
    /// where each author's log stands once, as it comes up.
    fn judge_heads(&mut self, count: usize) -> Option<Refusal> {
        self.heads = self.heads.saturating_add(count);
        if count > MAX_HEADS_PER_MESSAGE || self.heads > MAX_AUTHORS {
            return Some(Refusal::Limit(format!(
                "{count} signed heads in one message, {} on the link (at most {MAX_HEADS_PER_MESSAGE} and {MAX_AUTHORS})",
                self.heads
            )));
        }
        None
    }

    /// Why `ops` may not pass, if they may not.
    fn judge(&mut self, ops: &[WireOp], now: Instant) -> Option<Refusal> {
        let bytes: u64 = ops.iter().map(wire_bytes).sum();
        if let Some(metrics) = &self.metrics {
            Metrics::add(&metrics.ops_in, ops.len() as u64);
            Metrics::add(
                &metrics.bytes_in,
                ops.iter().map(|w| w.payload.len() as u64).sum(),
            );
        }
        if !self.budget.take(ops.len() as f64, now) {
            return Some(Refusal::Limit(format!(
                "more than {} ops per second (bursts up to {})",
                self.limits.ops_per_second, self.limits.ops_burst
            )));
        }
        if let Some(max) = self.limits.max_bytes {
            if self
                .held_bytes
                .load(Ordering::Relaxed)
                .saturating_add(bytes)
                > max
            {
                return Some(Refusal::Limit(format!(
                    "this session is full: it may hold {max} bytes of drawing"
                )));
            }
        }
        if !self.peer.is_parent && self.peer.role == Role::Viewer {
            let first = ops.first().map(|w| w.id.to_string()).unwrap_or_default();
            return Some(Refusal::ViewerEdit(first));
        }
        None
    }
}

impl Component for Guard {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        while let Some(inbound) = self.inbox.recv().await {
            if self.refuser.is_closing() {
                continue;
            }
            let verdict = match &inbound {
                Inbound::Ops(ops) => self.judge(ops, Instant::now()),
                Inbound::Authors(authorities) if authorities.len() > AUTHORS_PER_MESSAGE => {
                    Some(Refusal::Limit(format!(
                        "{} authors in one message (at most {AUTHORS_PER_MESSAGE})",
                        authorities.len()
                    )))
                }
                Inbound::Heads(heads) => self.judge_heads(heads.len()),
                Inbound::Authors(_) | Inbound::Evidence(_) => None,
            };
            match verdict {
                None => {
                    let _ = self.ops.send(inbound).await;
                }
                Some(refusal) => self.refuser.refuse(refusal).await,
            }
        }
        Ok(())
    }
}
