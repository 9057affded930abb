//! The ops of one author as a replica holds them: a vector up to the first gap,
//! a tree past it, and seals standing for ranges of numbers. Generic over what an
//! entry keeps, so the document (which rebuilds ops from its state) and a replica
//! that keeps ops as bytes (a relay that cannot read them) hold logs alike.

use std::collections::BTreeMap;

use crate::ids::{NodeId, OpId};
use crate::version::VersionVector;

/// What a log needs to know of an entry.
pub trait LogEntry {
    /// The first of the author's sequence numbers this entry, logged at `seq`,
    /// stands for: its own, or for a seal its stroke's start.
    fn covers_from(&self, seq: u64) -> u64;
    /// True for a seal (it is numbered apart from the entries before it).
    fn is_seal(&self) -> bool;
}

/// An op as the log holds it: its Lamport clock and what the holder keeps of it.
type Entry<E> = (u64, E);

/// Ops of one author. An author's ops mostly arrive in order, so those up to the
/// first gap sit in a vector in sequence order (an append costs a push, a lookup an
/// index, and nothing a search of a tree of a million entries); only ops past a gap
/// wait in a tree until it fills. A seal replaces the entries of the stroke it
/// stands for with one, so an entry's number is its place in the vector counted on
/// from the last seal before it: only seals record their numbers, and a log without
/// seals costs nothing more than its entries.
#[derive(Debug, Clone)]
pub struct HeldLog<E> {
    /// Entries standing for ops `1..=contiguous()`, none missing.
    held: Vec<Entry<E>>,
    /// `(place in held, sequence number)` of each seal in `held`, in order.
    seals: Vec<(usize, u64)>,
    /// Ops past the first gap, by sequence number.
    ahead: BTreeMap<u64, Entry<E>>,
}

impl<E> Default for HeldLog<E> {
    fn default() -> Self {
        Self {
            held: Vec::new(),
            seals: Vec::new(),
            ahead: BTreeMap::new(),
        }
    }
}

impl<E: LogEntry> HeldLog<E> {
    /// The sequence number of the entry at `place` in `held`.
    fn seq_at(&self, place: usize) -> u64 {
        match self.seals.partition_point(|(at, _)| *at <= place) {
            0 => place as u64 + 1,
            k => {
                let (at, seq) = self.seals[k - 1];
                seq + (place - at) as u64
            }
        }
    }

    /// Every op up to here is known (or stood for by a seal).
    pub fn contiguous(&self) -> u64 {
        // Counted on from the last seal, which comes before the last entry.
        match self.seals.last() {
            None => self.held.len() as u64,
            Some((place, seq)) => seq + (self.held.len() - 1 - place) as u64,
        }
    }

    /// The place in `held` of the first entry numbered `seq` or more.
    fn held_from(&self, seq: u64) -> usize {
        let k = self.seals.partition_point(|(_, at)| *at < seq);
        // Where `seq` would be, counting on from the last seal before it.
        let counted = match k {
            0 => seq.saturating_sub(1),
            k => {
                let (place, at) = self.seals[k - 1];
                (place as u64).saturating_add(seq - at)
            }
        };
        // No further than the next seal (which stands for `seq` if it is past it).
        let bound = self
            .seals
            .get(k)
            .map_or(self.held.len(), |(place, _)| *place);
        usize::try_from(counted).map_or(bound, |counted| counted.min(bound))
    }

    /// The entry logged at exactly `seq`.
    pub fn get(&self, seq: u64) -> Option<(u64, &E)> {
        if seq <= self.contiguous() {
            let place = self.held_from(seq);
            let (lamport, logged) = self.held.get(place)?;
            return (self.seq_at(place) == seq).then_some((*lamport, logged));
        }
        self.ahead
            .get(&seq)
            .map(|(lamport, logged)| (*lamport, logged))
    }

    /// True if op `seq` is held, or stood for by a seal held.
    pub fn contains(&self, seq: u64) -> bool {
        if seq <= self.contiguous() {
            return true;
        }
        self.ahead
            .range(seq..)
            .next()
            .is_some_and(|(at, (_, logged))| logged.covers_from(*at) <= seq)
    }

    /// True if an entry logged in `first..last` stands for numbers before `first`
    /// too, so a seal of `first..=last` would leave some of them standing for
    /// nothing. Entries' numbers never overlap (an op inside another's is a
    /// duplicate), so only the first entry from `first` on can.
    pub fn straddles(&self, first: u64, last: u64) -> bool {
        let place = self.held_from(first);
        let held = self
            .held
            .get(place)
            .map(|(_, logged)| (self.seq_at(place), logged));
        let ahead = self
            .ahead
            .range(first..)
            .next()
            .map(|(seq, (_, logged))| (*seq, logged));
        held.or(ahead)
            .is_some_and(|(seq, logged)| seq < last && logged.covers_from(seq) < first)
    }

    /// Takes op `seq` (not held or stood for yet); a seal drops the entries it
    /// stands for. Returns how many entries were dropped.
    pub fn insert(&mut self, seq: u64, lamport: u64, logged: E) -> usize {
        let first = logged.covers_from(seq);
        if first == seq && self.ahead.is_empty() {
            // Most ops: the next one, or the first past a gap.
            if seq == self.contiguous() + 1 {
                self.held.push((lamport, logged));
            } else {
                self.ahead.insert(seq, (lamport, logged));
            }
            return 0;
        }
        let mut dropped = 0;
        if first < seq {
            let inside: Vec<u64> = self.ahead.range(first..seq).map(|(at, _)| *at).collect();
            for at in &inside {
                self.ahead.remove(at);
            }
            dropped += inside.len();
        }
        let contiguous = self.contiguous();
        if first > contiguous.saturating_add(1) {
            self.ahead.insert(seq, (lamport, logged));
            return dropped;
        }
        if first <= contiguous {
            // A seal of entries held: they make way for it.
            let (from, to) = (self.held_from(first), self.held_from(seq));
            dropped += to - from;
            self.held.splice(from..to, [(lamport, logged)]);
            let shift = |place: usize| place + 1 - (to - from);
            self.seals.retain(|(place, _)| !(from..to).contains(place));
            let later = self.seals.partition_point(|(place, _)| *place < from);
            for record in &mut self.seals[later..] {
                record.0 = shift(record.0);
            }
            self.seals.insert(later, (from, seq));
        } else {
            self.push(seq, lamport, logged);
        }
        loop {
            let reach = self.contiguous().saturating_add(1);
            let Some(entry) = self.ahead.first_entry() else {
                break;
            };
            let next = *entry.key();
            if entry.get().1.covers_from(next) > reach {
                break;
            }
            let (lamport, logged) = entry.remove();
            self.push(next, lamport, logged);
        }
        dropped
    }

    /// Appends op `seq`, the next after the last held (or a seal standing for it).
    fn push(&mut self, seq: u64, lamport: u64, logged: E) {
        if logged.is_seal() || seq != self.contiguous() + 1 {
            self.seals.push((self.held.len(), seq));
        }
        self.held.push((lamport, logged));
    }

    /// The highest sequence number held, gaps or not.
    pub fn last_seq(&self) -> Option<u64> {
        match self.ahead.last_key_value() {
            Some((seq, _)) => Some(*seq),
            None => Some(self.contiguous()).filter(|n| *n > 0),
        }
    }

    /// Entries logged at `from..=to`, in sequence order (a seal logged there may
    /// stand for numbers before `from` too).
    pub fn range(&self, from: u64, to: u64) -> impl Iterator<Item = (u64, u64, &E)> + '_ {
        let start = self.held_from(from);
        let end = self.held_from(to.saturating_add(1)).max(start);
        let mut next_seal = self.seals.partition_point(|(place, _)| *place < start);
        let mut seq = self.seq_at(start).wrapping_sub(1);
        let held =
            self.held[start..end]
                .iter()
                .zip(start..)
                .map(move |((lamport, logged), place)| {
                    seq = match self.seals.get(next_seal) {
                        Some((at, sealed)) if *at == place => {
                            next_seal += 1;
                            *sealed
                        }
                        _ => seq.wrapping_add(1),
                    };
                    (seq, *lamport, logged)
                });
        let ahead_from = from.max(self.contiguous().saturating_add(1));
        let ahead = (ahead_from <= to)
            .then(|| {
                self.ahead
                    .range(ahead_from..=to)
                    .map(|(seq, (lamport, logged))| (*seq, *lamport, logged))
            })
            .into_iter()
            .flatten();
        held.chain(ahead)
    }

    /// How many entries are logged past `seen`.
    pub fn count_past(&self, seen: u64) -> usize {
        let held = self.held.len() - self.held_from(seen.saturating_add(1));
        let ahead_from = seen
            .saturating_add(1)
            .max(self.contiguous().saturating_add(1));
        held + self.ahead.range(ahead_from..).count()
    }

    /// Puts `logged` in place of the entry at exactly `seq` (not a seal), if held.
    pub fn replace(&mut self, seq: u64, logged: E) {
        if seq <= self.contiguous() {
            let place = self.held_from(seq);
            if self.seq_at(place) == seq {
                if let Some(entry) = self.held.get_mut(place) {
                    entry.1 = logged;
                }
            }
        } else if let Some(entry) = self.ahead.get_mut(&seq) {
            entry.1 = logged;
        }
    }
}

/// Per author in `logs`, the numbers one piece of a backlog takes from its log:
/// those `seen` lacks and none past `upto`, from `after`'s author on and past
/// `after` — as `(author, log, from, to)`, authors with nothing to take left out.
/// What every holder of logs serves a backlog by, whatever its entries keep.
pub fn missing_spans<'a, E>(
    logs: &'a BTreeMap<NodeId, HeldLog<E>>,
    seen: &'a VersionVector,
    upto: &'a VersionVector,
    after: Option<OpId>,
) -> impl Iterator<Item = (NodeId, &'a HeldLog<E>, u64, u64)> + 'a {
    let authors = match after {
        Some(after) => logs.range(after.node..),
        None => logs.range(..),
    };
    authors.filter_map(move |(node, log)| {
        let mut from = seen.get(*node).saturating_add(1);
        if let Some(after) = after.filter(|a| a.node == *node) {
            from = from.max(after.seq.saturating_add(1));
        }
        let to = upto.get(*node);
        (from <= to).then_some((*node, log, from, to))
    })
}
