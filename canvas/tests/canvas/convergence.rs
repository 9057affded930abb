//! Any order, any duplication: the same document.

use canopy_canvas::{Color, Document, NodeId, Point, Tool, FIRST_PAGE};
use proptest::prelude::*;

use crate::util::{replay, scrambled, shuffle, step, sync_everyone, Simulation};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Ops from three peers that edit and sync at random, applied in a random order
    /// with random duplicates, give the digest of the in-order document; and every
    /// peer, once synced with everyone, shows that same document.
    #[test]
    fn permutations_and_duplicates_converge(
        steps in proptest::collection::vec(step(), 1..60),
        order in any::<u64>(),
        duplicates in proptest::collection::vec(any::<prop::sample::Index>(), 0..30),
    ) {
        let mut sim = Simulation::run(&steps);
        let reference = replay(sim.ops.clone());

        let shuffled = replay(scrambled(&sim.ops, &duplicates, order));
        prop_assert_eq!(shuffled.digest(), reference.digest());
        prop_assert_eq!(shuffled.version_vector(), reference.version_vector());
        prop_assert_eq!(shuffled.op_count(), reference.op_count());

        // Everyone syncs with everyone, both ways.
        sync_everyone(&mut sim.peers);
        for peer in &sim.peers {
            prop_assert_eq!(peer.digest(), reference.digest());
        }
    }

    /// Two documents that diverged (each edited offline) exchange what the other lacks,
    /// by version vector, and end equal; exactly the missing ops travel.
    #[test]
    fn sync_by_version_vectors_converges_both_ways(
        shared in proptest::collection::vec(step(), 0..20),
        left in proptest::collection::vec(step(), 0..25),
        right in proptest::collection::vec(step(), 0..25),
    ) {
        use crate::util::Step;
        // Peers 0 and 1 share a history, then go their own ways (no syncs between them).
        let offline = |steps: &[Step], who: usize| -> Vec<Step> {
            steps.iter().filter(|s| !matches!(s, Step::Sync { .. })).map(|s| retarget(s, who)).collect()
        };
        let mut history: Vec<Step> = shared.iter().map(|s| retarget(s, 0)).collect();
        history.push(Step::Sync { from: 0, to: 1 });
        history.extend(offline(&left, 0));
        history.extend(offline(&right, 1));
        let mut sim = Simulation::run(&history);
        let (a, b) = sim.peers.split_at_mut(1);
        let (a, b) = (&mut a[0], &mut b[0]);
        let for_b = a.ops_missing_from(&b.version_vector());
        let for_a = b.ops_missing_from(&a.version_vector());
        prop_assert_eq!(for_b.len(), a.count_missing_from(&b.version_vector()));
        for op in &for_b {
            prop_assert!(!b.contains(op.id), "sent an op the peer had");
        }
        for op in for_b {
            b.apply(op).unwrap();
        }
        for op in for_a {
            a.apply(op).unwrap();
        }
        prop_assert_eq!(a.digest(), b.digest());
        prop_assert_eq!(a.version_vector(), b.version_vector());
        prop_assert!(a.ops_missing_from(&b.version_vector()).is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A backlog taken a piece at a time, up to where the document stood when it
    /// was asked for, is the backlog taken at once — whatever the piece size, and
    /// however the document grows meanwhile.
    #[test]
    fn a_backlog_in_pieces_is_the_backlog_at_once(
        before in proptest::collection::vec(step(), 1..40),
        during in proptest::collection::vec(step(), 0..20),
        seen_steps in proptest::collection::vec(step(), 0..20),
        piece in 1usize..7,
    ) {
        let sim = Simulation::run(&before);
        let peer = Simulation::run(&seen_steps);
        let seen = peer.peers[0].version_vector();
        let mut holder = sim.peers[0].clone();
        let at_once = holder.ops_missing_from(&seen);
        let upto = holder.latest_seqs();
        // The document goes on growing while the pieces are taken.
        let more = Simulation::run(&during);
        let mut pieces = Vec::new();
        let mut after = None;
        let mut extra = more.ops.iter();
        loop {
            let got = holder.ops_missing_piece(&seen, &upto, after, piece);
            prop_assert!(got.len() <= piece);
            let Some(last) = got.last() else { break };
            after = Some(last.id);
            pieces.extend(got);
            if let Some(op) = extra.next() {
                let _ = holder.apply(op.clone());
            }
        }
        let ids = |ops: &[canopy_canvas::Op]| ops.iter().map(|o| o.id).collect::<Vec<_>>();
        prop_assert_eq!(ids(&pieces), ids(&at_once));
    }

    /// A replica that holds any subset of the ops, taken in any order (so with gaps
    /// in authors' logs), says exactly what it holds: its version vector is each
    /// author's run without a gap, its latest sequence numbers the highest held, and
    /// what it serves and counts past any version vector is every op held past it,
    /// in (author, sequence) order, whole or in pieces.
    #[test]
    fn a_replica_with_gaps_serves_exactly_what_it_holds(
        steps in proptest::collection::vec(step(), 1..60),
        keep in proptest::collection::vec(any::<bool>(), 0..200),
        order in any::<u64>(),
        seen_steps in proptest::collection::vec(step(), 0..30),
        piece in 1usize..9,
    ) {
        use std::collections::{BTreeMap, BTreeSet};
        let sim = Simulation::run(&steps);
        let mut held: Vec<canopy_canvas::Op> = sim
            .ops
            .iter()
            .enumerate()
            .filter(|(i, _)| keep.get(*i).copied().unwrap_or(true))
            .map(|(_, op)| op.clone())
            .collect();
        shuffle(&mut held, order);
        let mut holder = Document::new(NodeId(99));
        for op in &held {
            holder.apply(op.clone()).unwrap();
        }
        let ids: BTreeSet<(NodeId, u64)> = held.iter().map(|o| (o.id.node, o.id.seq)).collect();
        let mut contiguous: BTreeMap<NodeId, u64> = BTreeMap::new();
        let mut latest: BTreeMap<NodeId, u64> = BTreeMap::new();
        for (node, seq) in &ids {
            latest.insert(*node, *seq);
            let run = contiguous.entry(*node).or_insert(0);
            if *seq == *run + 1 {
                *run = *seq;
            }
        }
        for (node, seq) in &contiguous {
            prop_assert_eq!(holder.version_vector().get(*node), *seq);
        }
        for (node, seq) in &latest {
            prop_assert_eq!(holder.latest_seqs().get(*node), *seq);
        }
        let seen = Simulation::run(&seen_steps).peers[0].version_vector();
        let expected: Vec<(NodeId, u64)> = ids
            .iter()
            .filter(|(node, seq)| *seq > seen.get(*node))
            .copied()
            .collect();
        let served: Vec<(NodeId, u64)> = holder
            .ops_missing_from(&seen)
            .iter()
            .map(|o| (o.id.node, o.id.seq))
            .collect();
        prop_assert_eq!(&served, &expected);
        prop_assert_eq!(holder.count_missing_from(&seen), expected.len());
        let upto = holder.latest_seqs();
        let mut pieces = Vec::new();
        let mut after = None;
        loop {
            let got = holder.ops_missing_piece(&seen, &upto, after, piece);
            let Some(last) = got.last() else { break };
            after = Some(last.id);
            pieces.extend(got.iter().map(|o| (o.id.node, o.id.seq)));
        }
        prop_assert_eq!(pieces, expected);
    }
}

fn retarget(step: &crate::util::Step, who: usize) -> crate::util::Step {
    use crate::util::Step::*;
    match step.clone() {
        Draw {
            points,
            seed,
            highlighter,
            ..
        } => Draw {
            who,
            points,
            seed,
            highlighter,
        },
        Erase { pick, .. } => Erase { who, pick },
        Clear { .. } => Clear { who },
        NewPage { .. } => NewPage { who },
        DeletePage { pick, .. } => DeletePage { who, pick },
        MovePage { pick, to, .. } => MovePage { who, pick, to },
        Undo { .. } => Undo { who },
        Redo { .. } => Redo { who },
        Sync { from, to } => Sync { from, to },
    }
}

#[test]
fn clearing_a_page_keeps_strokes_the_clearer_had_not_seen() {
    let mut alice = Document::new(NodeId(1));
    let mut bob = Document::new(NodeId(2));
    let line = [Point::new(0.0, 0.0), Point::new(100.0, 100.0)];
    let seen_by_both = alice
        .draw_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(0, 0, 0), 2.0, &line)
        .unwrap();
    for op in seen_by_both.clone() {
        bob.apply(op).unwrap();
    }
    // Bob draws while Alice clears: concurrent.
    let bobs = bob
        .draw_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(0, 0, 255), 2.0, &line)
        .unwrap();
    let clear = alice.clear_page(FIRST_PAGE).unwrap();
    for op in bobs {
        alice.apply(op).unwrap();
    }
    bob.apply(clear).unwrap();
    for doc in [&alice, &bob] {
        let left: Vec<_> = doc.strokes(FIRST_PAGE).iter().map(|s| s.id()).collect();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].node, NodeId(2), "Bob's concurrent stroke stays");
    }
    assert_eq!(alice.digest(), bob.digest());
    // Undoing the clear brings Alice's stroke back everywhere.
    let undo = alice.undo().unwrap().unwrap();
    bob.apply(undo).unwrap();
    assert_eq!(bob.strokes(FIRST_PAGE).len(), 2);
    assert_eq!(alice.digest(), bob.digest());
}

/// Clears by two authors who had seen different strokes: a stroke is gone while any
/// clear that saw it stands, and back when every such clear is undone.
#[test]
fn a_stroke_stays_cleared_while_any_clear_that_saw_it_stands() {
    let mut alice = Document::new(NodeId(1));
    let mut bob = Document::new(NodeId(2));
    let line = [Point::new(0.0, 0.0), Point::new(100.0, 100.0)];
    let first = alice
        .draw_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(0, 0, 0), 2.0, &line)
        .unwrap();
    for op in first.clone() {
        bob.apply(op).unwrap();
    }
    let second = alice
        .draw_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(0, 0, 0), 2.0, &line)
        .unwrap();
    // Bob saw only the first stroke; Alice saw both.
    let bobs_clear = bob.clear_page(FIRST_PAGE).unwrap();
    let alices_clear = alice.clear_page(FIRST_PAGE).unwrap();
    for op in second {
        bob.apply(op).unwrap();
    }
    bob.apply(alices_clear).unwrap();
    alice.apply(bobs_clear).unwrap();
    for doc in [&alice, &bob] {
        assert_eq!(doc.strokes(FIRST_PAGE).len(), 0);
        assert!(doc.stroke(first[0].id).is_none());
    }
    // Alice undoes hers: Bob's still covers the first stroke, nothing covers the second.
    let undo = alice.undo().unwrap().unwrap();
    bob.apply(undo).unwrap();
    for doc in [&alice, &bob] {
        let left: Vec<_> = doc.strokes(FIRST_PAGE).iter().map(|s| s.id()).collect();
        assert_eq!(left.len(), 1, "only the stroke Bob had not seen");
        assert_ne!(left[0], first[0].id);
        assert!(doc.stroke(first[0].id).is_none());
        assert!(doc.stroke(left[0]).is_some());
    }
    // Bob undoes his: both back.
    let undo = bob.undo().unwrap().unwrap();
    alice.apply(undo).unwrap();
    for doc in [&alice, &bob] {
        assert_eq!(doc.strokes(FIRST_PAGE).len(), 2);
    }
    assert_eq!(alice.digest(), bob.digest());
}

#[test]
fn live_strokes_are_visible_before_they_end_and_points_may_arrive_first() {
    let mut alice = Document::new(NodeId(1));
    let mut bob = Document::new(NodeId(2));
    let start = alice
        .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(1, 2, 3), 4.0)
        .unwrap();
    let first = alice
        .extend_stroke(start.id, vec![Point::new(1.0, 1.0), Point::new(2.0, 2.0)])
        .unwrap();
    let second = alice
        .extend_stroke(start.id, vec![Point::new(3.0, 3.0)])
        .unwrap();
    // Bob gets the later points first, then the start.
    bob.apply(second).unwrap();
    assert_eq!(
        bob.strokes(FIRST_PAGE).len(),
        0,
        "no start yet: nothing to show"
    );
    bob.apply(start.clone()).unwrap();
    bob.apply(first).unwrap();
    let live = bob.stroke(start.id).unwrap();
    assert!(live.is_live());
    assert_eq!(
        live.points().map(|p| p.x).collect::<Vec<_>>(),
        vec![1.0, 2.0, 3.0]
    );
    let end = alice.end_stroke(start.id).unwrap();
    bob.apply(end).unwrap();
    assert!(!bob.stroke(start.id).unwrap().is_live());
    assert_eq!(alice.digest(), bob.digest());
}

#[test]
fn pages_are_created_deleted_and_reordered_the_same_everywhere() {
    let mut alice = Document::new(NodeId(1));
    let mut bob = Document::new(NodeId(2));
    assert_eq!(alice.page_count(), 1, "a document starts with one page");
    let second = alice.new_page().unwrap();
    let third = alice.new_page().unwrap();
    let moved = alice.move_page(third.id, 0).unwrap();
    assert_eq!(alice.pages(), vec![third.id, FIRST_PAGE, second.id]);
    let deleted = alice.delete_page(FIRST_PAGE).unwrap();
    assert_eq!(alice.pages(), vec![third.id, second.id]);
    for op in [deleted, moved, third, second] {
        bob.apply(op).unwrap();
    }
    assert_eq!(bob.pages(), alice.pages());
    assert_eq!(bob.digest(), alice.digest());
}
