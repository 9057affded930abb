//! Sealed strokes: a log that serves one op a finished stroke shows what the
//! chunks it stands for show, in any order, and a seal wins over them.

use canopy_canvas::{
    Action, Color, Document, NodeId, Op, OpId, Point, Tool, VersionVector, FIRST_PAGE,
};
use proptest::prelude::*;

use crate::util::{replay, scrambled, step, sync_everyone, Simulation, PEERS};

fn is_seal(op: &Op) -> bool {
    matches!(op.action, Action::StrokeSealed { .. })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Strokes drawn a few points an op and sealed show what their chunks alone
    /// show; the ops in any order, with duplicates, give the in-order document;
    /// peers that sync converge on it; and its backlog is one op a stroke.
    #[test]
    fn sealed_strokes_show_their_chunks_in_any_order(
        steps in proptest::collection::vec(step(), 1..60),
        order in any::<u64>(),
        duplicates in proptest::collection::vec(any::<prop::sample::Index>(), 0..30),
    ) {
        let mut sim = Simulation::run_sealed(&steps);
        let reference = replay(sim.ops.clone());
        let chunks_only = replay(sim.ops.iter().filter(|op| !is_seal(op)).cloned());
        prop_assert_eq!(reference.digest(), chunks_only.digest());

        let shuffled = replay(scrambled(&sim.ops, &duplicates, order));
        prop_assert_eq!(shuffled.digest(), reference.digest());
        prop_assert_eq!(shuffled.version_vector(), reference.version_vector());
        prop_assert_eq!(shuffled.op_count(), reference.op_count());

        sync_everyone(&mut sim.peers);
        for peer in &sim.peers {
            prop_assert_eq!(peer.digest(), reference.digest());
        }

        let backlog = reference.ops_missing_from(&VersionVector::new());
        let strokes = sim.ops.iter().filter(|op| is_seal(op)).count();
        let chunked = backlog.iter().filter(|op| matches!(
            op.action,
            Action::StrokeStart { .. } | Action::StrokePoints { .. } | Action::StrokeEnd { .. }
        ));
        prop_assert_eq!(chunked.count(), 0);
        prop_assert_eq!(backlog.iter().filter(|op| is_seal(op)).count(), strokes);
        prop_assert_eq!(backlog.len() as u64, reference.op_count());
        let joiner = replay(backlog);
        prop_assert_eq!(joiner.digest(), reference.digest());
        prop_assert_eq!(joiner.version_vector(), reference.version_vector());
    }

    /// A replica that stands anywhere in an author's log, inside a stroke too (its
    /// chunks taken, not its seal), catches up by version vector from a sealed
    /// holder: the seal stands for the rest of the stroke.
    #[test]
    fn a_replica_inside_a_stroke_catches_up_from_its_seal(
        steps in proptest::collection::vec(step(), 1..40),
        cuts in proptest::collection::vec(0u64..200, PEERS),
    ) {
        let sim = Simulation::run_sealed(&steps);
        let reference = replay(sim.ops.clone());
        let mut partial = replay(sim.ops.iter().filter(|op| {
            op.id.seq <= cuts[(op.id.node.0 - 1) as usize]
        }).cloned());
        for op in reference.ops_missing_from(&partial.version_vector()) {
            partial.apply(op).unwrap();
        }
        prop_assert_eq!(partial.digest(), reference.digest());
        prop_assert_eq!(partial.version_vector(), reference.version_vector());
    }
}

/// A stroke drawn on the first page in red, in one-point chunks, and a seal that
/// says otherwise: another page, colour, width, points and place in the z-order.
struct Lying {
    page: Op,
    below: Vec<Op>,
    chunks: Vec<Op>,
    seal: Op,
}

fn lying() -> Lying {
    let mut other = Document::new(NodeId(2));
    let page = other.new_page().unwrap();
    // Another author's stroke on that page, which the seal puts ours below.
    let below = other
        .draw_stroke(
            page.id,
            Tool::Pen,
            Color::rgb(0, 0, 255),
            2.0,
            &[Point::new(5.0, 5.0)],
        )
        .unwrap();
    let mut author = Document::new(NodeId(1));
    author.apply(page.clone()).unwrap();
    for op in &below {
        author.apply(op.clone()).unwrap();
    }
    let start = author
        .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(255, 0, 0), 3.0)
        .unwrap();
    let stroke = start.id;
    let mut chunks = vec![start];
    for i in 0..5 {
        chunks.push(
            author
                .extend_stroke(stroke, vec![Point::new(i as f32, 0.0)])
                .unwrap(),
        );
    }
    chunks.push(author.end_stroke(stroke).unwrap());
    let end = chunks.last().unwrap();
    let seal = Op {
        id: OpId {
            node: NodeId(1),
            seq: end.id.seq + 1,
        },
        lamport: end.lamport + 1,
        action: Action::StrokeSealed {
            stroke,
            page: page.id,
            tool: Tool::Highlighter,
            color: Color::rgb(0, 255, 0),
            width: 9.0,
            start_lamport: 1,
            points: vec![Point::new(100.0, 100.0), Point::new(200.0, 150.0)],
        },
    };
    Lying {
        page,
        below,
        chunks,
        seal,
    }
}

/// A sealed stroke is what its seal says, on every replica, whatever it held of the
/// stroke before: chunks first, the seal alone, or the seal first.
#[test]
fn a_seal_wins_over_the_chunks_it_stands_for() {
    let Lying {
        page,
        below,
        chunks,
        seal,
    } = lying();
    let stroke = chunks[0].id;
    let mut base = vec![page.clone()];
    base.extend(below.clone());
    let chunks_then_seal = replay(base.iter().chain(&chunks).chain([&seal]).cloned());
    let seal_alone = replay(base.iter().chain([&seal]).cloned());
    let seal_first = replay(base.iter().chain([&seal]).chain(&chunks).cloned());
    for doc in [&chunks_then_seal, &seal_alone, &seal_first] {
        assert_eq!(doc.digest(), seal_alone.digest());
        assert!(
            doc.strokes(FIRST_PAGE).is_empty(),
            "the stroke left the first page"
        );
        let on_page: Vec<OpId> = doc.strokes(page.id).iter().map(|s| s.id()).collect();
        assert_eq!(
            on_page,
            vec![stroke, below[0].id],
            "below the other stroke (clock 1)"
        );
        let sealed = doc.stroke(stroke).unwrap();
        assert!(sealed.is_sealed());
        assert_eq!(sealed.color(), Color::rgb(0, 255, 0));
        assert_eq!(sealed.tool(), Tool::Highlighter);
        assert_eq!(sealed.width(), 9.0);
        let points: Vec<Point> = sealed.points().collect();
        assert_eq!(
            points,
            vec![Point::new(100.0, 100.0), Point::new(200.0, 150.0)]
        );
        assert_eq!(doc.version_vector().get(NodeId(1)), seal.id.seq);
        // Chunks after the seal are taken as covered, and serve nothing.
        let served = doc.ops_missing_from(&VersionVector::new());
        assert!(served
            .iter()
            .all(|op| op.id.node != NodeId(1) || op == &seal));
    }
}

/// Undo of a sealed stroke takes back the whole stroke, on a replica that holds
/// its chunks and on one that holds only its seal.
#[test]
fn a_sealed_stroke_is_undone_whole() {
    let mut author = Document::new(NodeId(1));
    let ops = {
        let start = author
            .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(1, 2, 3), 2.0)
            .unwrap();
        let stroke = start.id;
        let mut ops = vec![start];
        ops.push(
            author
                .extend_stroke(stroke, vec![Point::new(1.0, 1.0)])
                .unwrap(),
        );
        ops.push(author.end_stroke(stroke).unwrap());
        ops.push(author.seal_stroke(stroke).unwrap());
        ops
    };
    assert_eq!(author.undo_redo_targets(NodeId(1)).0, Some(ops[0].id));
    let undo = author.undo().unwrap().unwrap();
    let joiner = replay([ops[3].clone(), undo.clone()]);
    assert_eq!(author.stroke_count(), 0);
    assert_eq!(joiner.stroke_count(), 0);
    assert_eq!(joiner.digest(), author.digest());
    assert_eq!(
        joiner.undo_redo_targets(NodeId(1)),
        author.undo_redo_targets(NodeId(1))
    );
}

/// Only a stroke whose end was the last op made can be sealed, once.
#[test]
fn a_stroke_is_sealed_right_after_its_end_and_once() {
    let mut author = Document::new(NodeId(1));
    let start = author
        .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(1, 2, 3), 2.0)
        .unwrap();
    let stroke = start.id;
    assert!(author.seal_stroke(stroke).is_err(), "not ended");
    author.end_stroke(stroke).unwrap();
    let mut twin = author.clone();
    twin.new_page().unwrap();
    assert!(
        twin.seal_stroke(stroke).is_err(),
        "another op came after its end"
    );
    let seal = author.seal_stroke(stroke).unwrap();
    assert_eq!(seal.id.seq, 3);
    assert!(author.seal_stroke(stroke).is_err(), "sealed already");
}

/// A cut-off at a sealed stroke's start (a revocation that ends its author's log
/// there) keeps the start on a replica that holds only the seal, as it does on one
/// that took the stroke op by op: both show the same.
#[test]
fn a_cut_at_a_sealed_strokes_start_keeps_the_start_from_the_seal() {
    let author = NodeId(5);
    let mut drawn = Document::new(author);
    let page = drawn.new_page().unwrap();
    let start = drawn
        .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(9, 8, 7), 3.0)
        .unwrap();
    let chunk = drawn
        .extend_stroke(start.id, vec![Point::new(1.0, 2.0), Point::new(3.0, 4.0)])
        .unwrap();
    let end = drawn.end_stroke(start.id).unwrap();
    let seal = drawn.seal_stroke(start.id).unwrap();

    let mut by_ops = Document::new(NodeId(1));
    for op in [&page, &start, &chunk, &end] {
        by_ops.apply(op.clone()).unwrap();
    }
    let mut by_seal = Document::new(NodeId(2));
    for op in [&page, &seal] {
        by_seal.apply(op.clone()).unwrap();
    }
    let cut = std::collections::BTreeMap::from([(author, start.id.seq)]);
    let (by_ops, by_seal) = (
        by_ops.without_ops_past(&cut),
        by_seal.without_ops_past(&cut),
    );
    assert_eq!(by_seal.digest(), by_ops.digest());
    assert_eq!(by_seal.version_vector(), by_ops.version_vector());
    assert_eq!(
        by_seal.ops_missing_from(&VersionVector::new()),
        by_ops.ops_missing_from(&VersionVector::new()),
        "the start is served as its author signed it"
    );
    // A cut anywhere else in the stroke drops the seal.
    let inside = std::collections::BTreeMap::from([(author, chunk.id.seq)]);
    let mut only_page = Document::new(NodeId(2));
    only_page.apply(page.clone()).unwrap();
    let mut sealed = Document::new(NodeId(2));
    sealed.apply(page).unwrap();
    sealed.apply(seal).unwrap();
    assert_eq!(
        sealed.without_ops_past(&inside).digest(),
        only_page.digest()
    );
}

/// A seal far past its stroke's start is refused by every checker (its number would
/// let its clock run ahead), and a stroke spanning more ops than that is not sealed.
#[test]
fn a_seal_stands_for_at_most_max_sealed_ops() {
    use canopy_canvas::{Limits, OpError, MAX_SEALED_OPS};
    let author = NodeId(5);
    let stroke = OpId {
        node: author,
        seq: 1,
    };
    let seal = |seq: u64| Op {
        id: OpId { node: author, seq },
        lamport: seq,
        action: Action::StrokeSealed {
            stroke,
            page: FIRST_PAGE,
            tool: Tool::Pen,
            color: Color::rgb(1, 2, 3),
            width: 2.0,
            start_lamport: 1,
            points: vec![Point::new(1.0, 1.0)],
        },
    };
    let limits = Limits::default();
    assert_eq!(seal(1 + MAX_SEALED_OPS).validate(&limits), Ok(()));
    assert!(matches!(
        seal(2 + MAX_SEALED_OPS).validate(&limits),
        Err(OpError::BadSeal(_))
    ));
    assert!(matches!(
        seal(u64::MAX - 1).validate(&limits),
        Err(OpError::BadSeal(_))
    ));

    // A stroke drawn in more ops than a seal may stand for stays unsealed, even
    // where an op may hold all its points.
    let wide = Limits {
        max_points_per_op: 2 * MAX_SEALED_OPS as usize,
        max_points_per_stroke: 2 * MAX_SEALED_OPS as u32,
        ..Limits::default()
    };
    let mut drawn = Document::with_limits(author, wide);
    let start = drawn
        .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(1, 2, 3), 2.0)
        .unwrap();
    for _ in 0..MAX_SEALED_OPS {
        drawn
            .extend_stroke(start.id, vec![Point::new(0.0, 0.0)])
            .unwrap();
    }
    drawn.end_stroke(start.id).unwrap();
    assert!(matches!(
        drawn.seal_stroke(start.id),
        Err(OpError::NotSealable { why, .. }) if why.contains("spans more ops")
    ));
}
