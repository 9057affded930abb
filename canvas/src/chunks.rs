//! A stroke's points, chunk by chunk, in `(offset, seq)` order.
//!
//! Chunks almost always arrive in order (an author draws them so, and links keep an
//! author's order), so those sit in a vector: an append costs a push, and a point
//! held costs its chunk's 32 bytes, not a share of a tree's nodes (a million
//! one-point chunks held ~30 MB less). A chunk that arrives out of order (a hostile
//! author sends them backwards) goes to a tree instead, so nothing shifts a vector
//! and no order of arrival costs more than a tree insert. Reading merges the two.

use std::collections::BTreeMap;
use std::iter::Peekable;

use crate::op::Point;

/// Room for chunks worth giving back when a stroke ends (32 bytes each).
const SPARE_WORTH_GIVING_BACK: usize = 8;

/// Where a chunk sits in its stroke: its first point's index, then its op's number.
pub type ChunkKey = (u32, u64);

/// One chunk's points: one inline (most chunks drawn live are one point), more boxed.
#[derive(Debug, Clone)]
pub enum Chunk {
    /// A single point.
    One(Point),
    /// Several (or none).
    Many(Box<[Point]>),
}

impl Chunk {
    /// A chunk of `points`.
    pub fn new(points: Vec<Point>) -> Chunk {
        match points.as_slice() {
            [only] => Chunk::One(*only),
            _ => Chunk::Many(points.into_boxed_slice()),
        }
    }

    /// Its points.
    pub fn points(&self) -> &[Point] {
        match self {
            Chunk::One(point) => std::slice::from_ref(point),
            Chunk::Many(points) => points,
        }
    }
}

/// A stroke's chunks.
#[derive(Debug, Clone, Default)]
pub struct Chunks {
    /// Chunks that came after every chunk before them, in key order.
    in_order: Vec<(ChunkKey, Chunk)>,
    /// The rest.
    out_of_order: BTreeMap<ChunkKey, Chunk>,
}

impl Chunks {
    /// Holds `chunk` at `key` (keys are op numbers: each comes once).
    pub fn insert(&mut self, key: ChunkKey, chunk: Chunk) {
        match self.in_order.last() {
            Some((last, _)) if *last >= key => {
                self.out_of_order.insert(key, chunk);
            }
            _ => self.in_order.push((key, chunk)),
        }
    }

    /// The chunk at `key`.
    pub fn get(&self, key: &ChunkKey) -> Option<&Chunk> {
        match self.in_order.binary_search_by(|(at, _)| at.cmp(key)) {
            Ok(index) => self.in_order.get(index).map(|(_, chunk)| chunk),
            Err(_) => self.out_of_order.get(key),
        }
    }

    /// Drops every chunk.
    pub fn clear(&mut self) {
        self.in_order = Vec::new();
        self.out_of_order.clear();
    }

    /// Gives back the room kept for chunks to come (the stroke has ended), when it
    /// is worth a reallocation: at least [`SPARE_WORTH_GIVING_BACK`] chunks' worth
    /// (a one-point-an-op stroke of 100 points keeps room for 28 more; one of 13
    /// chunks, for 3).
    pub fn shrink_to_fit(&mut self) {
        let spare = self.in_order.capacity() - self.in_order.len();
        if spare >= SPARE_WORTH_GIVING_BACK {
            self.in_order.shrink_to_fit();
        }
    }

    /// Every chunk, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&ChunkKey, &Chunk)> + '_ {
        Merged {
            left: self
                .in_order
                .iter()
                .map(|(key, chunk)| (key, chunk))
                .peekable(),
            right: self.out_of_order.iter().peekable(),
        }
    }

    /// Every chunk's key, in order.
    pub fn keys(&self) -> impl Iterator<Item = &ChunkKey> + '_ {
        self.iter().map(|(key, _)| key)
    }

    /// Every chunk, in key order.
    pub fn values(&self) -> impl Iterator<Item = &Chunk> + '_ {
        self.iter().map(|(_, chunk)| chunk)
    }
}

/// Two iterators in key order, merged.
struct Merged<'a, L, R>
where
    L: Iterator<Item = (&'a ChunkKey, &'a Chunk)>,
    R: Iterator<Item = (&'a ChunkKey, &'a Chunk)>,
{
    left: Peekable<L>,
    right: Peekable<R>,
}

impl<'a, L, R> Iterator for Merged<'a, L, R>
where
    L: Iterator<Item = (&'a ChunkKey, &'a Chunk)>,
    R: Iterator<Item = (&'a ChunkKey, &'a Chunk)>,
{
    type Item = (&'a ChunkKey, &'a Chunk);

    fn next(&mut self) -> Option<Self::Item> {
        match (self.left.peek(), self.right.peek()) {
            (Some((left, _)), Some((right, _))) if right < left => self.right.next(),
            (Some(_), _) => self.left.next(),
            (None, _) => self.right.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever order chunks come in, they are read back in key order, each
        /// found by its key, as a tree would hold them.
        #[test]
        fn chunks_read_back_in_key_order_whatever_order_they_came(
            keys in proptest::collection::vec((0u32..50, 0u64..1000), 0..60),
        ) {
            let mut chunks = Chunks::default();
            let mut tree = BTreeMap::new();
            for (n, key) in keys.iter().enumerate() {
                if tree.contains_key(key) {
                    continue;
                }
                let point = Point::new(n as f32, 0.0);
                chunks.insert(*key, Chunk::One(point));
                tree.insert(*key, point);
            }
            let read: Vec<(ChunkKey, Point)> =
                chunks.iter().map(|(key, chunk)| (*key, chunk.points()[0])).collect();
            let expected: Vec<(ChunkKey, Point)> = tree.iter().map(|(k, p)| (*k, *p)).collect();
            prop_assert_eq!(read, expected);
            for (key, point) in &tree {
                prop_assert_eq!(chunks.get(key).map(|c| c.points()[0]), Some(*point));
            }
            prop_assert!(chunks.get(&(u32::MAX, u64::MAX)).is_none());
        }
    }
}
