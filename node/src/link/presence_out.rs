//! `link[N]/presence-out`: presence for one link's peer. A cursor moving at 60 Hz, or
//! hundreds of participants behind this node, must not cost a link more than its
//! share: news goes out at once while the link's budget allows, and beyond that only
//! the latest news of each participant is kept and sent as the budget refills. Old
//! presence is worthless (only the latest matters), so nothing of value is lost.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use canopy_axon::{BoxError, Component, Context, Inbox, Outbox, Scope};
use canopy_canvas::NodeId;

use super::budget::Budget;
use crate::session::presence::MAX_PARTICIPANTS;

/// Presence datagrams a link is sent per second at most (bursts of twice that).
pub const PRESENCE_OUT_PER_SECOND: f64 = 100.0;
/// How often held-back news is looked at.
const FLUSH: Duration = Duration::from_millis(20);

/// One participant's news, as a datagram.
#[derive(Debug, Clone)]
pub struct PresenceNews {
    /// Whose.
    pub node: NodeId,
    /// The presence datagram.
    pub bytes: Vec<u8>,
}

/// The presence-out component.
pub struct PresenceOut {
    inbox: Inbox<PresenceNews>,
    /// To the link's `datagrams-out`.
    datagrams: Outbox<Vec<u8>>,
    budget: Budget,
    /// The latest held-back news per participant.
    held: BTreeMap<NodeId, Vec<u8>>,
}

impl PresenceOut {
    /// Makes the boxes.
    pub fn new(scope: &Scope) -> Self {
        Self {
            inbox: scope.inbox("inbox"),
            datagrams: scope.outbox("outbox"),
            budget: Budget::new(
                PRESENCE_OUT_PER_SECOND,
                PRESENCE_OUT_PER_SECOND * 2.0,
                Instant::now(),
            ),
            held: BTreeMap::new(),
        }
    }

    fn offer(&mut self, news: PresenceNews, now: Instant) {
        if self.held.is_empty() && self.budget.take(1.0, now) {
            let _ = self.datagrams.try_send(news.bytes);
        } else if self.held.len() < MAX_PARTICIPANTS || self.held.contains_key(&news.node) {
            self.held.insert(news.node, news.bytes);
        }
    }

    fn flush(&mut self, now: Instant) {
        while !self.held.is_empty() && self.budget.take(1.0, now) {
            if let Some((_, bytes)) = self.held.pop_first() {
                let _ = self.datagrams.try_send(bytes);
            }
        }
    }
}

impl Component for PresenceOut {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        let mut ticker = tokio::time::interval(FLUSH);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                news = self.inbox.recv() => match news {
                    Some(news) => self.offer(news, Instant::now()),
                    None => return Ok(()),
                },
                _ = ticker.tick(), if !self.held.is_empty() => self.flush(Instant::now()),
            }
        }
    }
}
