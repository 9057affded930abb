//! Authors proven to have split their logs, waiting to be left out of the document.
//!
//! Leaving an author out rebuilds the document (and the sync server's replica): a
//! walk of every op held. An editor can mint many authors and have each sign two
//! logs, so one rebuild per proof would let it hold the document's task for as long
//! as it likes. Proofs are taken at once (nothing more of a proven author is taken
//! from then on); the rebuild that removes what was held of them comes at once for
//! the first, and after that at most one a pause ([`MIN_PAUSE`] by default) — longer if a rebuild
//! takes long, so rebuilds keep to a fifth of the document's time — for all the
//! authors proven meanwhile. Every replica ends in the same state, whenever it
//! rebuilds. Plain data and times passed in: no clock, no I/O.

use std::collections::BTreeSet;
use std::time::Duration;

use canopy_canvas::NodeId;
use tokio::time::Instant;

/// The shortest time between two rebuilds for proven authors, by default.
pub const MIN_PAUSE: Duration = Duration::from_secs(1);

/// A rebuild is followed by a pause at least this many times as long.
const PAUSE_PER_REBUILD: u32 = 4;

/// Proven authors not yet left out, and when the next rebuild may run.
#[derive(Debug)]
pub struct PendingCuts {
    authors: BTreeSet<NodeId>,
    /// The shortest time between two rebuilds.
    min_pause: Duration,
    /// No rebuild before this (set by the last one).
    not_before: Option<Instant>,
}

impl PendingCuts {
    /// Nothing pending; rebuilds at least `min_pause` apart.
    pub fn new(min_pause: Duration) -> Self {
        Self {
            authors: BTreeSet::new(),
            min_pause,
            not_before: None,
        }
    }

    /// `author` is proven to have split its log: its ops are to be left out.
    pub fn add(&mut self, author: NodeId) {
        self.authors.insert(author);
    }

    /// When the pending authors will be left out, if any are pending.
    pub fn deadline(&self, now: Instant) -> Option<Instant> {
        if self.authors.is_empty() {
            return None;
        }
        Some(self.not_before.map_or(now, |at| at.max(now)))
    }

    /// The authors to leave out now, if a rebuild is due; the caller rebuilds and
    /// then calls [`PendingCuts::rebuilt`].
    pub fn due(&mut self, now: Instant) -> Option<BTreeSet<NodeId>> {
        let deadline = self.deadline(now)?;
        (deadline <= now).then(|| std::mem::take(&mut self.authors))
    }

    /// A rebuild finished at `now`, having taken `took`: the next waits for the pause.
    pub fn rebuilt(&mut self, now: Instant, took: Duration) {
        let pause = took.saturating_mul(PAUSE_PER_REBUILD).max(self.min_pause);
        self.not_before = Some(now + pause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_proof_is_rebuilt_for_at_once_and_later_ones_together_after_the_pause() {
        let start = Instant::now();
        let mut cuts = PendingCuts::new(MIN_PAUSE);
        assert_eq!(cuts.deadline(start), None);
        assert_eq!(cuts.due(start), None);
        cuts.add(NodeId(1));
        assert_eq!(cuts.due(start), Some(BTreeSet::from([NodeId(1)])));
        cuts.rebuilt(start, Duration::from_millis(10));
        for author in 2..=100 {
            cuts.add(NodeId(author));
        }
        let soon = start + Duration::from_millis(500);
        assert_eq!(cuts.due(soon), None, "within the pause");
        assert_eq!(cuts.deadline(soon), Some(start + MIN_PAUSE));
        let all = cuts.due(start + MIN_PAUSE).expect("due after the pause");
        assert_eq!(
            all.len(),
            99,
            "every author proven meanwhile, in one rebuild"
        );
        assert_eq!(cuts.due(start + MIN_PAUSE), None, "nothing left");
    }

    #[test]
    fn a_long_rebuild_is_followed_by_a_longer_pause() {
        let start = Instant::now();
        let mut cuts = PendingCuts::new(MIN_PAUSE);
        cuts.rebuilt(start, Duration::from_secs(2));
        cuts.add(NodeId(7));
        assert_eq!(cuts.deadline(start), Some(start + Duration::from_secs(8)));
        assert_eq!(cuts.due(start + Duration::from_secs(7)), None);
        assert!(cuts.due(start + Duration::from_secs(8)).is_some());
    }
}
