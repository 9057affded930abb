//! A signed import: another log's ops made again as one author's own show the same
//! document.

use canopy_canvas::{Action, Document, NodeId, Reauthor};
use proptest::prelude::*;

use crate::util::{keep_the_stroke_rule, replay, step, Simulation, Step, PEERS};

/// Every step seen by every peer before the next one: a history without concurrency,
/// which an import (in clock order) keeps exactly.
fn sequential(steps: Vec<Step>) -> Vec<Step> {
    let mut out = Vec::new();
    for step in steps {
        if matches!(step, Step::Sync { .. }) {
            continue;
        }
        out.push(step);
        for from in 0..PEERS {
            for to in 0..PEERS {
                if from != to {
                    out.push(Step::Sync { from, to });
                }
            }
        }
    }
    out
}

/// A stroke as drawn: tool, colour, width bits, point bits.
type Drawn = (u8, [u8; 4], u32, Vec<(u32, u32)>);

/// What is visible, without ids (the digest names strokes by id; an import renames).
fn picture(document: &Document) -> Vec<Vec<Drawn>> {
    document
        .pages()
        .into_iter()
        .map(|page| {
            document
                .strokes(page)
                .iter()
                .map(|stroke| {
                    let c = stroke.color();
                    (
                        stroke.tool() as u8,
                        [c.r, c.g, c.b, c.a],
                        stroke.width().to_bits(),
                        stroke
                            .points()
                            .map(|p| (p.x.to_bits(), p.y.to_bits()))
                            .collect(),
                    )
                })
                .collect()
        })
        .collect()
}

proptest! {
    #[test]
    fn an_import_shows_the_same_document_as_the_importers_own_ops(
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let sim = Simulation::run(&sequential(steps));
        let original = replay(sim.ops.clone());
        let mut ops = sim.ops.clone();
        ops.sort_by_key(|op| (op.lamport, op.id));
        let mut imported = Document::new(NodeId(9));
        let mut reauthor = Reauthor::new();
        let mut made = Vec::new();
        for op in &ops {
            made.extend(reauthor.adopt(&mut imported, op).unwrap());
        }
        // Pages at the very same place are ordered by id: the import puts them back.
        made.extend(reauthor.follow_page_order(&mut imported, &original.pages()).unwrap());
        prop_assert_eq!(picture(&imported), picture(&original));
        prop_assert_eq!(imported.picture(), original.picture());
        // All of it is the importer's, numbered without gaps, and replays alike.
        prop_assert!(made.iter().all(|op| op.id.node == NodeId(9)));
        for (index, op) in made.iter().enumerate() {
            prop_assert_eq!(op.id.seq, index as u64 + 1);
        }
        prop_assert_eq!(replay(made).digest(), imported.digest());
        // Taking an op over twice makes nothing more.
        if let Some(first) = ops.first() {
            prop_assert!(reauthor.adopt(&mut imported, first).unwrap().is_empty());
        }
    }
}

proptest! {
    /// A sealed log (what a joiner holds: one op a finished stroke) imported shows
    /// the same document, each seal made again as a whole stroke of the importer's,
    /// sealed; a log of chunks and seals imports to the same picture.
    #[test]
    fn an_import_of_seals_makes_whole_strokes_again(
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let sim = Simulation::run_sealed(&sequential(steps));
        let original = replay(sim.ops.clone());
        let sealed_log = original.ops_missing_from(&canopy_canvas::VersionVector::new());
        for ops in [sealed_log, sim.ops.clone()] {
            let mut ops = ops;
            ops.sort_by_key(|op| (op.lamport, op.id));
            let mut imported = Document::new(NodeId(9));
            let mut reauthor = Reauthor::new();
            let mut made = Vec::new();
            for op in &ops {
                made.extend(reauthor.adopt(&mut imported, op).unwrap());
            }
            made.extend(reauthor.follow_page_order(&mut imported, &original.pages()).unwrap());
            prop_assert_eq!(picture(&imported), picture(&original));
            for (index, op) in made.iter().enumerate() {
                prop_assert_eq!(op.id, canopy_canvas::OpId { node: NodeId(9), seq: index as u64 + 1 });
            }
            let seals = |ops: &[canopy_canvas::Op]| {
                ops.iter().filter(|op| matches!(op.action, Action::StrokeSealed { .. })).count()
            };
            prop_assert_eq!(seals(&made), seals(&sim.ops));
            prop_assert_eq!(replay(made).digest(), imported.digest());
        }
    }
}

#[test]
fn points_of_a_stroke_that_was_not_imported_are_left_out() {
    let mut author = Document::new(NodeId(1));
    let ops = author
        .draw_stroke(
            canopy_canvas::FIRST_PAGE,
            canopy_canvas::Tool::Pen,
            canopy_canvas::Color::rgb(1, 2, 3),
            2.0,
            &crate::util::wiggle(1, 30),
        )
        .unwrap();
    assert!(matches!(ops[0].action, Action::StrokeStart { .. }));
    let mut imported = Document::new(NodeId(9));
    let mut reauthor = Reauthor::new();
    for op in &ops[1..] {
        assert_eq!(reauthor.adopt(&mut imported, op).unwrap(), Vec::new());
    }
    assert!(reauthor.is_empty());
    assert_eq!(imported.op_count(), 0);
}

proptest! {
    /// Leaving an author out gives the document of everyone else's ops, whatever
    /// the author did to theirs (erased, cleared, undone).
    #[test]
    fn a_document_without_an_author_is_everyone_elses(
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let sim = Simulation::run(&steps);
        let whole = replay(sim.ops.clone());
        let author = NodeId(1);
        let others = replay(sim.ops.iter().filter(|op| op.id.node != author).cloned());
        let without = whole.without_author(author);
        prop_assert_eq!(without.digest(), others.digest());
        prop_assert_eq!(without.version_vector(), others.version_vector());
        prop_assert_eq!(without.local_node(), whole.local_node());
    }

    /// Cutting several authors' logs short at once (a revocation's cut-offs) gives
    /// the document of everyone else's ops and those authors' ops up to their cut-offs.
    #[test]
    fn cutting_logs_short_keeps_each_authors_prefix(
        steps in proptest::collection::vec(step(), 1..40),
        first in 0u64..6,
        second in 0u64..6,
    ) {
        let sim = Simulation::run(&steps);
        let whole = replay(sim.ops.clone());
        let last_kept = std::collections::BTreeMap::from([(NodeId(1), first), (NodeId(2), second)]);
        let kept = replay(sim.ops.iter().filter(|op| {
            last_kept.get(&op.id.node).is_none_or(|last| op.id.seq <= *last)
        }).cloned());
        let cut = whole.without_ops_past(&last_kept);
        prop_assert_eq!(cut.digest(), kept.digest());
        prop_assert_eq!(cut.version_vector(), kept.version_vector());
    }
}

/// Steps of people drawing at once, and nothing else.
fn drawing_only() -> impl Strategy<Value = crate::util::Step> {
    step().prop_filter("drawing and syncing only", |step| {
        matches!(step, Step::Draw { .. } | Step::Sync { .. })
    })
}

/// Takes `ops` over in clock order (as an import does), and finishes.
fn import(ops: &[canopy_canvas::Op]) -> (Document, Vec<canopy_canvas::Op>) {
    let mut ops = ops.to_vec();
    ops.sort_by_key(|op| (op.lamport, op.id));
    let mut imported = Document::new(NodeId(9));
    let mut reauthor = Reauthor::new();
    let mut made = Vec::new();
    for op in &ops {
        made.extend(reauthor.adopt(&mut imported, op).unwrap());
    }
    made.extend(reauthor.finish(&mut imported).unwrap());
    (imported, made)
}

proptest! {
    /// Strokes drawn at once by several people overlap in clock order; made again as
    /// one author's they come one after another (the rule), each whole.
    #[test]
    fn an_import_of_overlapping_strokes_makes_each_whole_one_after_another(
        steps in proptest::collection::vec(drawing_only(), 1..40),
    ) {
        let sim = Simulation::run(&steps);
        let original = replay(sim.ops.clone());
        let (imported, made) = import(&sim.ops);
        prop_assert_eq!(keep_the_stroke_rule(&made), Ok(()));
        let sorted = |document: &Document| {
            let mut pages = picture(document);
            for page in &mut pages {
                page.sort();
            }
            pages
        };
        prop_assert_eq!(sorted(&imported), sorted(&original));
        prop_assert_eq!(replay(made).digest(), imported.digest());
    }

    /// Whatever was done at once (erases, clears, undos, pages between strokes'
    /// points), the importer's log keeps the rule and ends with no stroke open.
    #[test]
    fn an_import_of_anything_done_at_once_keeps_the_stroke_rule(
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let sim = Simulation::run_sealed(&steps);
        let (imported, made) = import(&sim.ops);
        prop_assert_eq!(keep_the_stroke_rule(&made), Ok(()));
        prop_assert_eq!(imported.open_stroke(NodeId(9)), None);
        prop_assert_eq!(replay(made).digest(), imported.digest());
    }
}

#[test]
fn a_stroke_interrupted_by_another_op_goes_on_from_where_it_stopped() {
    use canopy_canvas::{Color, Point, Tool, FIRST_PAGE};
    let mut alice = Document::new(NodeId(1));
    let mut bob = Document::new(NodeId(2));
    let start = alice
        .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(9, 8, 7), 4.0)
        .unwrap();
    let first = alice
        .extend_stroke(start.id, vec![Point::new(1.0, 1.0), Point::new(2.0, 2.0)])
        .unwrap();
    // Bob adds a page while Alice draws; then Alice goes on.
    let page = bob.new_page().unwrap();
    let second = alice
        .extend_stroke(start.id, vec![Point::new(3.0, 3.0)])
        .unwrap();
    let end = alice.end_stroke(start.id).unwrap();
    let mut imported = Document::new(NodeId(9));
    let mut reauthor = Reauthor::new();
    let mut made = Vec::new();
    for op in [&start, &first, &page, &second, &end] {
        made.extend(reauthor.adopt(&mut imported, op).unwrap());
    }
    made.extend(reauthor.finish(&mut imported).unwrap());
    assert_eq!(keep_the_stroke_rule(&made), Ok(()));
    let strokes = imported.strokes(FIRST_PAGE);
    let points: Vec<Vec<Point>> = strokes.iter().map(|s| s.points().collect()).collect();
    assert_eq!(
        points,
        vec![
            vec![Point::new(1.0, 1.0), Point::new(2.0, 2.0)],
            vec![Point::new(2.0, 2.0), Point::new(3.0, 3.0)],
        ],
        "the rest goes on from the last point, in the same style"
    );
    assert!(strokes.iter().all(|s| s.width() == 4.0 && !s.is_live()));
    assert_eq!(imported.page_count(), 2);
}

#[test]
fn a_stroke_started_while_another_is_drawn_waits_and_comes_whole() {
    use canopy_canvas::{Color, Point, Tool, FIRST_PAGE};
    let mut alice = Document::new(NodeId(1));
    let mut bob = Document::new(NodeId(2));
    let a0 = alice
        .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(1, 1, 1), 2.0)
        .unwrap();
    let b0 = bob
        .begin_stroke(FIRST_PAGE, Tool::Highlighter, Color::rgb(2, 2, 2), 9.0)
        .unwrap();
    let a1 = alice
        .extend_stroke(a0.id, vec![Point::new(1.0, 0.0)])
        .unwrap();
    let b1 = bob
        .extend_stroke(b0.id, vec![Point::new(5.0, 0.0)])
        .unwrap();
    let b2 = bob.end_stroke(b0.id).unwrap();
    let a2 = alice
        .extend_stroke(a0.id, vec![Point::new(2.0, 0.0)])
        .unwrap();
    let a3 = alice.end_stroke(a0.id).unwrap();
    let mut imported = Document::new(NodeId(9));
    let mut reauthor = Reauthor::new();
    let mut made = Vec::new();
    for op in [&a0, &b0, &a1, &b1, &b2] {
        made.extend(reauthor.adopt(&mut imported, op).unwrap());
    }
    assert_eq!(made.len(), 2, "Bob's stroke waits while Alice's is drawn");
    for op in [&a2, &a3] {
        made.extend(reauthor.adopt(&mut imported, op).unwrap());
    }
    assert_eq!(keep_the_stroke_rule(&made), Ok(()));
    assert_eq!(
        made.len(),
        8,
        "then Bob's comes whole (Alice's, drawn in two ops of points, is sealed)"
    );
    let seals = made
        .iter()
        .filter(|op| matches!(op.action, canopy_canvas::Action::StrokeSealed { .. }))
        .count();
    assert_eq!(seals, 1);
    let points: Vec<Vec<Point>> = imported
        .strokes(FIRST_PAGE)
        .iter()
        .map(|s| s.points().collect())
        .collect();
    assert_eq!(
        points,
        vec![
            vec![Point::new(1.0, 0.0), Point::new(2.0, 0.0)],
            vec![Point::new(5.0, 0.0)]
        ]
    );
    assert_eq!(imported.open_stroke(NodeId(9)), None);
}
