//! Local edits that wait for this node's own earlier ops. A node whose session file is
//! gone but whose key remains (`DATA/node.key`) would start its log again at 1; its
//! parent may still hold the ops it made before, and ops signed again under the same
//! numbers are a second log (proof against itself: its whole authorship would be left
//! out everywhere). So when the parent's welcome says it holds more of this node's ops
//! than the node does, local edits wait until those come back — or, if the parent
//! never sends them, until a deadline, after which editing goes on from what is held.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::edit::Edit;

/// How long local edits wait, by default, for the node's own ops the parent says it
/// holds (a backlog of 100,000 strokes arrives in about a second).
pub const OWN_OPS_WAIT: Duration = Duration::from_secs(10);

/// Local edits that may wait at most (a person drawing for the whole deadline makes
/// far fewer; a script that floods is refused past this).
pub const MAX_WAITING_EDITS: usize = 4096;

/// The node's own ops some peer holds, and the edits waiting for them.
#[derive(Debug)]
pub struct CatchUp {
    /// How long edits wait at most.
    wait: Duration,
    /// Own ops the parent holds up to, and when to stop waiting for them.
    claim: Option<(u64, Instant)>,
    waiting: VecDeque<Edit>,
}

/// Why a local edit could not wait.
#[derive(Debug, thiserror::Error)]
#[error("{MAX_WAITING_EDITS} edits are already waiting for this node's earlier ops to come back")]
pub struct TooManyWaiting;

impl CatchUp {
    /// Nothing waiting; edits will wait at most `wait`.
    pub fn new(wait: Duration) -> Self {
        Self {
            wait,
            claim: None,
            waiting: VecDeque::new(),
        }
    }

    /// The parent holds this node's ops up to `seq` (the node holds up to `held`):
    /// edits wait for them from `now` until the deadline.
    pub fn claimed(&mut self, seq: u64, held: u64, now: Instant) {
        if seq > held {
            tracing::info!(
                held,
                parent_holds = seq,
                "waiting for this node's earlier ops to come back before editing"
            );
            self.claim = Some((seq, now + self.wait));
        }
    }

    /// True while local edits must wait (own ops held up to `held`).
    pub fn waiting_at(&self, held: u64, now: Instant) -> bool {
        self.claim
            .is_some_and(|(seq, deadline)| held < seq && now < deadline)
    }

    /// Puts an edit behind the others waiting.
    pub fn wait(&mut self, edit: Edit) -> Result<(), TooManyWaiting> {
        if self.waiting.len() >= MAX_WAITING_EDITS {
            return Err(TooManyWaiting);
        }
        self.waiting.push_back(edit);
        Ok(())
    }

    /// When the wait ends if nothing comes back.
    pub fn deadline(&self) -> Option<Instant> {
        self.claim.map(|(_, deadline)| deadline)
    }

    /// Ends the wait if it is over (own ops held up to `held`): the edits that
    /// waited, in order.
    pub fn release(&mut self, held: u64, now: Instant) -> Vec<Edit> {
        let Some((seq, _)) = self.claim else {
            return Vec::new();
        };
        if self.waiting_at(held, now) {
            return Vec::new();
        }
        if held < seq {
            tracing::warn!(
                held,
                parent_holds = seq,
                "the parent did not send this node's earlier ops back in time: editing \
                 goes on from what is held (if those ops exist, this node's log splits)"
            );
        }
        self.claim = None;
        self.waiting.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::edit::PageRef;

    fn edit() -> Edit {
        Edit::ClearPage(PageRef::Nth(0))
    }

    #[test]
    fn edits_wait_until_the_ops_are_held_or_the_deadline_passes() {
        let now = Instant::now();
        let mut catch_up = CatchUp::new(Duration::from_secs(10));
        catch_up.claimed(5, 5, now);
        assert!(!catch_up.waiting_at(5, now), "nothing to wait for");
        catch_up.claimed(5, 2, now);
        assert!(catch_up.waiting_at(4, now + Duration::from_secs(9)));
        assert!(!catch_up.waiting_at(5, now), "held");
        assert!(
            !catch_up.waiting_at(2, now + Duration::from_secs(10)),
            "too late"
        );
        catch_up.wait(edit()).unwrap();
        assert!(catch_up.release(3, now).is_empty(), "still waiting");
        assert_eq!(catch_up.release(5, now), vec![edit()]);
        assert_eq!(catch_up.deadline(), None);
    }

    #[test]
    fn edits_that_wait_are_bounded() {
        let mut catch_up = CatchUp::new(Duration::from_secs(10));
        catch_up.claimed(9, 0, Instant::now());
        for _ in 0..MAX_WAITING_EDITS {
            catch_up.wait(edit()).unwrap();
        }
        assert!(catch_up.wait(edit()).is_err());
    }
}
