//! A signed import: another log's ops made again as one author's own show the same
//! document.

use canopy_canvas::{Action, Document, NodeId, Reauthor};
use proptest::prelude::*;

use crate::util::{replay, step, Simulation, Step, PEERS};

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
