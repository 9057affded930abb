//! What each author's signatures owe a link's check budget, paid in turns.
//!
//! Every signature a link's ops carry may cost a check, paid from the link's budget
//! ([`super::checker::SIGNATURE_CHECKS_PER_SECOND`]). Paid in arrival order, one
//! author that signs every op would hold up every other author's ops on the link —
//! and on every link its ops cross, up to the root. Here each author owes for its own
//! signatures and its ops wait (in [`super::runs::Runs`]) until it has paid; the
//! budget pays debtors in turns, a [`QUANTUM`] at a time, so an author that owes a
//! little is paid within one turn of each other debtor, however much they owe.
//! Plain data, time passed in.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::{Duration, Instant};

use canopy_canvas::NodeId;

use super::budget::Budget;

/// Checks paid to one author per turn.
pub const QUANTUM: f64 = 16.0;

/// Authors that owe checks, and whose turn is next.
#[derive(Debug, Default)]
pub struct CheckDebts {
    owed: BTreeMap<NodeId, f64>,
    /// The last author paid: the next turn is the one after it.
    last_paid: Option<NodeId>,
}

impl CheckDebts {
    /// Nobody owes anything.
    pub fn new() -> Self {
        Self::default()
    }

    /// `author`'s ops carried `checks` more signatures.
    pub fn owe(&mut self, author: NodeId, checks: f64) {
        if checks > 0.0 {
            *self.owed.entry(author).or_insert(0.0) += checks;
        }
    }

    /// True while `author` has checks to pay for: its ops wait.
    pub fn owes(&self, author: NodeId) -> bool {
        self.owed.contains_key(&author)
    }

    /// True if nobody owes anything.
    pub fn is_empty(&self) -> bool {
        self.owed.is_empty()
    }

    /// Pays debts from `budget` at `now`, each debtor in turn a quantum at a time,
    /// until the budget or the debts run out.
    pub fn settle(&mut self, budget: &mut Budget, now: Instant) {
        while !self.owed.is_empty() {
            let available = budget.available(now);
            let Some((author, owed)) = self.next_turn() else {
                return;
            };
            // A turn is paid whole (a quantum, or what is left of the debt), never in
            // part: what comes back goes to each debtor in turn.
            let pay = owed.min(QUANTUM).min(budget.burst());
            if available < pay || !budget.take(pay, now) {
                return;
            }
            self.last_paid = Some(author);
            if pay >= owed {
                self.owed.remove(&author);
            } else {
                self.owed.insert(author, owed - pay);
            }
        }
    }

    /// When the budget can pay the next turn (`None` if nobody owes anything).
    pub fn next_payment(&self, budget: &mut Budget, now: Instant) -> Option<Instant> {
        let (_, owed) = self.next_turn()?;
        let wait = budget
            .time_until(owed.min(QUANTUM).min(budget.burst()), now)
            .unwrap_or(Duration::from_millis(10));
        Some(now + wait)
    }

    /// The debtor whose turn is next: the first after the last paid, wrapping round.
    fn next_turn(&self) -> Option<(NodeId, f64)> {
        let after = match self.last_paid {
            Some(last) => self
                .owed
                .range((Bound::Excluded(last), Bound::Unbounded))
                .next(),
            None => None,
        };
        after
            .or_else(|| self.owed.iter().next())
            .map(|(author, owed)| (*author, *owed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_author_that_owes_little_is_paid_within_a_turn_of_one_that_owes_much() {
        let start = Instant::now();
        let mut budget = Budget::new(100.0, 16.0, start);
        let mut debts = CheckDebts::new();
        let (flooder, honest) = (NodeId(1), NodeId(2));
        debts.owe(flooder, 10_000.0);
        debts.settle(&mut budget, start);
        assert!(debts.owes(flooder), "a quantum paid, the budget spent");
        debts.owe(honest, 1.0);
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
        // Two that owe little: each is paid within one turn of the flooder's.
        let other = NodeId(3);
        debts.owe(honest, 1.0);
        debts.owe(other, 1.0);
        let later = at + Duration::from_millis(20);
        debts.settle(&mut budget, later);
        assert!(
            !debts.owes(other),
            "the next turn, paid from the next check's worth"
        );
        assert!(
            debts.owes(honest),
            "the flooder's turn, whole, comes before"
        );
        // The flooder's quantum, then the honest author's check.
        debts.settle(&mut budget, later + Duration::from_millis(160));
        assert!(debts.owes(honest));
        debts.settle(&mut budget, later + Duration::from_millis(170));
        assert!(
            !debts.owes(honest),
            "paid one quantum of the flooder's later"
        );
        assert!(debts.owes(flooder));
    }

    #[test]
    fn debts_are_paid_at_the_budgets_rate_and_no_faster() {
        let start = Instant::now();
        let mut budget = Budget::new(100.0, 4.0, start);
        let mut debts = CheckDebts::new();
        debts.owe(NodeId(1), 8.0);
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
