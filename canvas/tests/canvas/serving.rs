//! What a replica serves is what it took: every op it holds comes back from its
//! backlog exactly as applied, whatever its authors sent. Holders rebuild ops from
//! the document's state to serve them, and joiners check each against its author's
//! signature, so one op rebuilt differently would make every backlog that holds it
//! fail at every joiner.

use std::collections::BTreeMap;

use canopy_canvas::{
    Action, Applied, Color, Document, NodeId, Op, OpId, Point, Tool, VersionVector,
};
use proptest::prelude::*;

/// Ops of two authors over a small space of ids, so that they name each other's
/// strokes and pages, repeat ids with other content, end a stroke twice or append to
/// an ended one: anything `validate` lets through.
fn any_op() -> impl Strategy<Value = Op> {
    op_of(any_action())
}

/// [`any_op`], seals among them: seals of any stroke, with any points and style.
fn any_op_or_seal() -> impl Strategy<Value = Op> {
    let point = (-50i16..50, -50i16..50).prop_map(|(x, y)| Point::new(f32::from(x), f32::from(y)));
    let seal = (
        1u64..24,
        (0u64..3, 1u64..24),
        1u64..50,
        proptest::collection::vec(point, 0..4),
    )
        .prop_map(
            |(seq, (page_node, page_seq), start_lamport, points)| Action::StrokeSealed {
                stroke: OpId {
                    node: NodeId(0),
                    seq,
                },
                page: OpId {
                    node: NodeId(page_node),
                    seq: page_seq,
                },
                tool: Tool::Pen,
                color: Color::rgb(4, 5, 6),
                width: 3.0,
                start_lamport,
                points,
            },
        );
    op_of(prop_oneof![4 => any_action(), 1 => seal])
}

fn any_action() -> impl Strategy<Value = Action> {
    let target = (1u64..3, 1u64..24).prop_map(|(node, seq)| OpId {
        node: NodeId(node),
        seq,
    });
    let point = (-50i16..50, -50i16..50).prop_map(|(x, y)| Point::new(f32::from(x), f32::from(y)));
    let action = prop_oneof![
        4 => (target.clone(), 1.0f32..8.0, any::<bool>()).prop_map(|(page, width, pen)| Action::StrokeStart {
            page,
            tool: if pen { Tool::Pen } else { Tool::Highlighter },
            color: Color::rgb(1, 2, 3),
            width,
        }),
        6 => (1u64..24, 0u32..8, proptest::collection::vec(point, 0..4)).prop_map(|(seq, offset, points)| Action::StrokePoints {
            stroke: OpId { node: NodeId(0), seq },
            offset,
            points,
        }),
        3 => (1u64..24, 0u32..12).prop_map(|(seq, points)| Action::StrokeEnd {
            stroke: OpId { node: NodeId(0), seq },
            points,
        }),
        1 => proptest::collection::vec(target.clone(), 0..3).prop_map(|strokes| Action::Erase { strokes }),
        1 => target.clone().prop_map(|page| Action::ClearPage { page, seen: VersionVector::new() }),
        1 => (-4i8..4).prop_map(|p| Action::NewPage { position: f64::from(p) }),
        1 => target.clone().prop_map(|page| Action::DeletePage { page }),
        1 => (1u64..24).prop_map(|seq| Action::Undo { target: OpId { node: NodeId(0), seq } }),
    ];
    action
}

/// Ops with `action`s, made valid where validity is about who: only an author may
/// touch its own strokes and undo its own actions.
fn op_of(action: impl Strategy<Value = Action>) -> impl Strategy<Value = Op> {
    let id = (1u64..3, 1u64..24).prop_map(|(node, seq)| OpId {
        node: NodeId(node),
        seq,
    });
    (id, 1u64..50, action).prop_map(|(id, lamport, mut action)| {
        match &mut action {
            Action::StrokePoints { stroke, .. }
            | Action::StrokeEnd { stroke, .. }
            | Action::StrokeSealed { stroke, .. } => stroke.node = id.node,
            Action::Undo { target } => target.node = id.node,
            _ => {}
        }
        Op {
            id,
            lamport,
            action,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every op a replica took is served back as it was taken: the first op applied
    /// under each id (later ones with that id are duplicates), byte for byte.
    #[test]
    fn every_op_held_is_served_as_it_was_taken(
        ops in proptest::collection::vec(any_op(), 1..80),
    ) {
        let mut doc = Document::new(NodeId(9));
        let mut taken: BTreeMap<OpId, Op> = BTreeMap::new();
        for op in ops {
            if doc.apply(op.clone()).is_ok() {
                taken.entry(op.id).or_insert(op);
            }
        }
        let served: Vec<Op> = doc.ops_missing_from(&VersionVector::new());
        let expected: Vec<Op> = taken.into_values().collect();
        prop_assert_eq!(served, expected);
    }

    /// With seals among them, what is served is still exactly what was taken, less
    /// the ops a seal served stands for (from its stroke's start to itself).
    #[test]
    fn with_seals_every_op_served_is_one_taken(
        ops in proptest::collection::vec(any_op_or_seal(), 1..80),
    ) {
        let mut doc = Document::new(NodeId(9));
        let mut taken: BTreeMap<OpId, Op> = BTreeMap::new();
        for op in ops {
            if doc.apply(op.clone()) == Ok(Applied::New) {
                taken.insert(op.id, op);
            }
        }
        let served: Vec<Op> = doc.ops_missing_from(&VersionVector::new());
        let mut covered = Vec::new();
        for op in &served {
            prop_assert_eq!(Some(op), taken.get(&op.id));
            if let Action::StrokeSealed { stroke, .. } = op.action {
                covered.push((op.id.node, stroke.seq..op.id.seq));
            }
        }
        for id in taken.keys() {
            let held = served.iter().any(|op| op.id == *id)
                || covered.iter().any(|(node, range)| *node == id.node && range.contains(&id.seq));
            prop_assert!(held, "{} was taken and is neither served nor sealed", id);
        }
        prop_assert_eq!(doc.op_count(), served.len() as u64);
        // Each author's version is as far as its entries stand for every number. A
        // seal stands for its stroke unless another entry lies in its range (it
        // would have cut that entry's own range in two: it was taken as an op alone).
        let mut reach: BTreeMap<NodeId, u64> = BTreeMap::new();
        for op in &served {
            let from = match op.action {
                Action::StrokeSealed { stroke, .. }
                    if !served.iter().any(|other| {
                        other.id.node == op.id.node
                            && (stroke.seq..op.id.seq).contains(&other.id.seq)
                    }) =>
                {
                    stroke.seq
                }
                _ => op.id.seq,
            };
            let held = reach.entry(op.id.node).or_insert(0);
            if from <= *held + 1 && op.id.seq > *held {
                *held = op.id.seq;
            }
        }
        for node in [NodeId(1), NodeId(2)] {
            prop_assert_eq!(
                doc.version_vector().get(node),
                reach.get(&node).copied().unwrap_or(0)
            );
        }
    }
}
