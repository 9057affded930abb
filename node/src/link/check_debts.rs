//! What each author's signatures owe a link's check budget, paid in turns.
//!
//! Every signature a link's ops carry may cost a check, paid from the link's budget
//! ([`super::checker::SIGNATURE_CHECKS_PER_SECOND`]). Paid in arrival order, one
//! author that signs every op would hold up every other author's ops on the link —
//! and on every link its ops crossed, up to the root. Here each author owes for its
//! own signatures and its ops wait (in [`super::runs::Runs`]) until it has paid.
//! Debtors are paid in turns, a [`QUANTUM`] at a time, in two levels: first by
//! branch of the grant tree (the grant by which the session's host admitted the
//! participant on the way to the author, marked with the invite it came in with: an
//! editor can mint as many authors as it likes, at any depth, all in its branch, and
//! a reusable invite's holder joining under new keys stays in one), then by author
//! within the branch. An author that owes a little is
//! paid within a turn of each other branch and of each author of its own branch,
//! however many authors another participant minted and however much they owe.
//! Plain data, time passed in.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::time::{Duration, Instant};

use canopy_canvas::NodeId;

use super::budget::Budget;

/// Checks paid to one author per turn.
pub const QUANTUM: f64 = 16.0;

/// An author's branch of the grant tree: the grant by which the session's host
/// admitted the participant on the way to it (`Authors::branch`).
pub type Branch = canopy_protocol::GrantId;

/// Authors that owe checks, by branch, and whose turn is next.
#[derive(Debug, Default)]
pub struct CheckDebts {
    owed: BTreeMap<Branch, BTreeMap<NodeId, f64>>,
    branch_of: HashMap<NodeId, Branch>,
    /// The branch paid last: the next turn goes to the one after it.
    last_branch: Option<Branch>,
    /// Within each branch, the author paid last.
    last_paid: HashMap<Branch, NodeId>,
}

impl CheckDebts {
    /// Nobody owes anything.
    pub fn new() -> Self {
        Self::default()
    }

    /// `author` (in `branch`) carried `checks` more signatures.
    pub fn owe(&mut self, branch: Branch, author: NodeId, checks: f64) {
        if checks <= 0.0 {
            return;
        }
        // While it owes, an author stays with the branch it first owed under.
        let branch = *self.branch_of.entry(author).or_insert(branch);
        *self
            .owed
            .entry(branch)
            .or_default()
            .entry(author)
            .or_insert(0.0) += checks;
    }

    /// True while `author` has checks to pay for: its ops wait.
    pub fn owes(&self, author: NodeId) -> bool {
        self.branch_of.contains_key(&author)
    }

    /// True if nobody owes anything.
    pub fn is_empty(&self) -> bool {
        self.owed.is_empty()
    }

    /// Pays debts from `budget` at `now`, a turn at a time, until the budget or the
    /// debts run out. A turn is paid whole (a quantum, or what is left of the debt),
    /// never in part: what comes back goes to each debtor in turn.
    pub fn settle(&mut self, budget: &mut Budget, now: Instant) {
        while let Some((branch, author, owed)) = self.next_turn() {
            let pay = owed.min(QUANTUM).min(budget.burst());
            if budget.available(now) < pay || !budget.take(pay, now) {
                return;
            }
            self.last_branch = Some(branch);
            self.last_paid.insert(branch, author);
            let Some(authors) = self.owed.get_mut(&branch) else {
                return;
            };
            if pay >= owed {
                authors.remove(&author);
                self.branch_of.remove(&author);
                if authors.is_empty() {
                    self.owed.remove(&branch);
                    self.last_paid.remove(&branch);
                }
            } else {
                authors.insert(author, owed - pay);
            }
        }
    }

    /// When the budget can pay the next turn (`None` if nobody owes anything).
    pub fn next_payment(&self, budget: &mut Budget, now: Instant) -> Option<Instant> {
        let (_, _, owed) = self.next_turn()?;
        let wait = budget
            .time_until(owed.min(QUANTUM).min(budget.burst()), now)
            .unwrap_or(Duration::from_millis(10));
        Some(now + wait)
    }

    /// Whose turn is next: the branch after the last paid, and within it the author
    /// after its last paid, each wrapping round.
    fn next_turn(&self) -> Option<(Branch, NodeId, f64)> {
        let (branch, authors) = after(&self.owed, self.last_branch.as_ref())?;
        let (author, owed) = after(authors, self.last_paid.get(branch))?;
        Some((*branch, *author, *owed))
    }
}

/// The first entry of `map` after `last`, wrapping round to the first.
fn after<'a, K: Ord, V>(map: &'a BTreeMap<K, V>, last: Option<&K>) -> Option<(&'a K, &'a V)> {
    last.and_then(|last| map.range((Bound::Excluded(last), Bound::Unbounded)).next())
        .or_else(|| map.iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn branch(byte: u8) -> Branch {
        Branch {
            issuer: [byte; 32],
            nonce: 0,
        }
    }
    const HOST: Branch = branch(1);
    const MINTER: Branch = branch(2);
    const OTHER: Branch = branch(3);

    #[test]
    fn authors_of_one_branch_share_its_turns() {
        let start = Instant::now();
        let mut budget = Budget::new(100.0, 16.0, start);
        let mut debts = CheckDebts::new();
        // A minter's fifty authors each owe a turn's worth or less, then an honest
        // author owes one check.
        let minted: Vec<NodeId> = (100..150).map(NodeId).collect();
        for author in &minted {
            debts.owe(MINTER, *author, 10.0);
        }
        // Its id and its branch's both sort after the minter's: no head start.
        let honest = NodeId(1_000);
        debts.owe(OTHER, honest, 1.0);
        let mut at = start;
        let mut minted_paid_first = 0;
        while debts.owes(honest) {
            debts.settle(&mut budget, at);
            minted_paid_first = minted.iter().filter(|a| !debts.owes(**a)).count();
            at = debts.next_payment(&mut budget, at).expect("debts remain");
        }
        assert!(
            minted_paid_first <= 1,
            "{minted_paid_first} minted authors were paid before the honest one"
        );
    }

    #[test]
    fn an_author_that_owes_little_is_paid_within_a_turn_of_one_that_owes_much() {
        let start = Instant::now();
        let mut budget = Budget::new(100.0, 16.0, start);
        let mut debts = CheckDebts::new();
        let (flooder, honest) = (NodeId(1), NodeId(2));
        debts.owe(MINTER, flooder, 10_000.0);
        debts.settle(&mut budget, start);
        assert!(debts.owes(flooder), "a quantum paid, the budget spent");
        debts.owe(HOST, honest, 1.0);
        let at = debts
            .next_payment(&mut budget, start)
            .expect("debts remain");
        assert!(
            at <= start + Duration::from_millis(11),
            "the next check's worth is the honest author's turn: {:?}",
            at - start
        );
        debts.settle(&mut budget, at);
        assert!(!debts.owes(honest), "paid in its first turn");
        assert!(debts.owes(flooder));
    }

    #[test]
    fn debts_are_paid_at_the_budgets_rate_and_no_faster() {
        let start = Instant::now();
        let mut budget = Budget::new(100.0, 4.0, start);
        let mut debts = CheckDebts::new();
        debts.owe(HOST, NodeId(1), 8.0);
        debts.settle(&mut budget, start);
        assert!(
            debts.owes(NodeId(1)),
            "four of eight paid from the burst of four"
        );
        let at = debts.next_payment(&mut budget, start).unwrap();
        assert!(at >= start + Duration::from_millis(39), "{:?}", at - start);
        debts.settle(&mut budget, at);
        assert!(!debts.owes(NodeId(1)));
        assert!(debts.is_empty());
        assert_eq!(debts.next_payment(&mut budget, at), None);
    }
}
