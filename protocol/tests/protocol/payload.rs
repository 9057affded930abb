//! The one encoding of an action: references to the author's own ops coded as how
//! far back they are, everything else in full, and only that encoding taken.

use canopy_canvas::{Action, Color, NodeId, OpId, Point, Tool, VersionVector, FIRST_PAGE};
use canopy_protocol::*;
use proptest::prelude::*;

/// An op id, and references from it: its own earlier ops, its own later ones (not
/// valid, but coded), another author's, the first page.
fn id_and_reference() -> impl Strategy<Value = (OpId, OpId)> {
    (
        1u64..4,
        prop_oneof![1u64..300, (u64::MAX - 300)..=u64::MAX],
        0u8..4,
        any::<u64>(),
    )
        .prop_map(|(node, seq, kind, other)| {
            let id = OpId {
                node: NodeId(node),
                seq,
            };
            let reference = match kind {
                0 => OpId {
                    node: id.node,
                    seq: 1 + other % seq,
                },
                1 => OpId {
                    node: id.node,
                    seq: seq.saturating_add(other % 5),
                },
                2 => OpId {
                    node: NodeId(node + 1),
                    seq: other,
                },
                _ => FIRST_PAGE,
            };
            (id, reference)
        })
}

fn any_action(reference: OpId, more: Vec<OpId>) -> impl Strategy<Value = Action> {
    let points =
        proptest::collection::vec((-1e5f32..1e5, -1e5f32..1e5), 0..20).prop_map(|points| {
            points
                .into_iter()
                .map(|(x, y)| Point::new(x, y))
                .collect::<Vec<_>>()
        });
    let seen = proptest::collection::btree_map((1u64..9).prop_map(NodeId), any::<u64>(), 0..4)
        .prop_map(VersionVector);
    (
        0u8..11,
        points,
        seen,
        any::<u32>(),
        any::<u64>(),
        -1e9f64..1e9,
    )
        .prop_map(
            move |(kind, points, seen, count, clock, position)| match kind {
                0 => Action::StrokeStart {
                    page: reference,
                    tool: Tool::Pen,
                    color: Color::rgb(1, 2, 3),
                    width: 2.5,
                },
                1 => Action::StrokePoints {
                    stroke: reference,
                    offset: count,
                    points,
                },
                2 => Action::StrokeEnd {
                    stroke: reference,
                    points: count,
                },
                3 => Action::Erase {
                    strokes: more.clone(),
                },
                4 => Action::ClearPage {
                    page: reference,
                    seen,
                },
                5 => Action::NewPage { position },
                6 => Action::DeletePage { page: reference },
                7 => Action::MovePage {
                    page: reference,
                    position,
                },
                8 => Action::Undo { target: reference },
                9 => Action::Redo { target: reference },
                _ => Action::StrokeSealed {
                    stroke: reference,
                    page: more.first().copied().unwrap_or(FIRST_PAGE),
                    tool: Tool::Highlighter,
                    color: Color::rgb(9, 8, 7),
                    width: 1.0,
                    start_lamport: clock,
                    points,
                },
            },
        )
}

fn op_with_any_action() -> impl Strategy<Value = (OpId, Action)> {
    (
        id_and_reference(),
        proptest::collection::vec(id_and_reference(), 0..6),
    )
        .prop_flat_map(|((id, reference), others)| {
            // Erased strokes: references as the same op would make them.
            let more: Vec<OpId> = others
                .into_iter()
                .map(|(other, to)| {
                    if to.node == other.node {
                        OpId {
                            node: id.node,
                            seq: to.seq.min(id.seq),
                        }
                    } else {
                        to
                    }
                })
                .collect();
            (Just(id), any_action(reference, more))
        })
}

proptest! {
    /// Every action, whatever it names, comes back from its encoding as it was, and
    /// its bytes are the one encoding of what they decode to.
    #[test]
    fn every_action_comes_back_from_its_one_encoding((id, action) in op_with_any_action()) {
        let payload = encode_action(id, &action);
        prop_assert!(!payload.is_empty());
        let back = decode_action(id, &payload).unwrap();
        prop_assert_eq!(&back, &action);
        prop_assert_eq!(encode_action(id, &back), payload);
    }

    /// Whatever bytes a payload holds, if they decode they are exactly the encoding
    /// of what they decode to.
    #[test]
    fn any_bytes_that_decode_are_the_one_encoding(
        (id, action) in op_with_any_action(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3),
    ) {
        let mut payload = encode_action(id, &action);
        for (at, byte) in edits {
            let at = at % payload.len();
            payload[at] = byte;
        }
        if let Ok(back) = decode_action(id, &payload) {
            prop_assert_eq!(encode_action(id, &back), payload);
        }
    }

    /// An op's shape to the stroke rule is read from its payload's first bytes: the
    /// shape of the action they encode, whatever follows those bytes (so a holder
    /// can verify a log without reading what was drawn).
    #[test]
    fn the_shape_is_read_from_the_header_alone(
        (id, action) in op_with_any_action(),
        tail in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let payload = encode_action(id, &action);
        prop_assert_eq!(shape_of(id, &payload).unwrap(), canopy_canvas::Shape::of(&action));
        let header = (1..=payload.len())
            .find(|end| shape_of(id, &payload[..*end]).is_ok())
            .unwrap();
        prop_assert!(header <= 1 + 1 + 10 + 10, "a header of {} bytes", header);
        let mut other = payload[..header].to_vec();
        other.extend(tail);
        prop_assert_eq!(shape_of(id, &other).unwrap(), canopy_canvas::Shape::of(&action));
    }

    /// Whatever bytes a payload holds, reading its shape never panics, and where they
    /// decode, it is the shape of what they decode to.
    #[test]
    fn any_bytes_give_a_shape_or_an_error(
        (id, action) in op_with_any_action(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        noise in proptest::collection::vec(any::<u8>(), 0..20),
    ) {
        let mut payload = encode_action(id, &action);
        for (at, byte) in edits {
            let at = at % payload.len();
            payload[at] = byte;
        }
        for bytes in [payload, noise] {
            let shape = shape_of(id, &bytes);
            if let Ok(back) = decode_action(id, &bytes) {
                prop_assert_eq!(shape.unwrap(), canopy_canvas::Shape::of(&back));
            }
        }
    }
}

#[test]
fn a_shape_reads_the_variant_and_the_stroke_named() {
    let id = OpId {
        node: NodeId(5),
        seq: 10,
    };
    // StrokeEnd (variant 2), 7 back: the end of the stroke started at op 3.
    assert_eq!(shape_of(id, &[2, 7]).unwrap(), canopy_canvas::Shape::End(3));
    // A seal (variant 10) of another author's stroke, named in full.
    assert_eq!(
        shape_of(id, &[10, 0, 6, 4]).unwrap(),
        canopy_canvas::Shape::Seal(4)
    );
    assert_eq!(shape_of(id, &[0]).unwrap(), canopy_canvas::Shape::Start);
    assert_eq!(shape_of(id, &[8]).unwrap(), canopy_canvas::Shape::Other);
    // Ten back from op 10 is before the author's first op; no variant 11; nothing.
    for bad in [&[2u8, 10][..], &[11], &[], &[1]] {
        assert!(shape_of(id, bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_reference_to_the_authors_own_op_is_how_far_back_it_is() {
    let author = NodeId(0x1234_5678_9abc_def0);
    let id = OpId {
        node: author,
        seq: 1_000_000,
    };
    let chunk = Action::StrokePoints {
        stroke: OpId {
            node: author,
            seq: 999_950,
        },
        offset: 49,
        points: vec![Point::new(1.0, 2.0)],
    };
    // Variant, 50 back, offset, one point of two f32s.
    assert_eq!(encode_action(id, &chunk).len(), 1 + 1 + 1 + 1 + 8);
    // Another author's stroke is named in full.
    let erase = Action::Erase {
        strokes: vec![OpId {
            node: NodeId(7),
            seq: 3,
        }],
    };
    // Erase (variant 3), one stroke: 0, then the id.
    assert_eq!(encode_action(id, &erase), vec![3, 1, 0, 7, 3]);
}

#[test]
fn only_the_short_form_of_an_own_reference_is_taken() {
    let id = OpId {
        node: NodeId(5),
        seq: 10,
    };
    let end = Action::StrokeEnd {
        stroke: OpId {
            node: NodeId(5),
            seq: 3,
        },
        points: 7,
    };
    // StrokeEnd (variant 2), 7 back, 7 points.
    assert_eq!(encode_action(id, &end), vec![2, 7, 7]);
    assert_eq!(decode_action(id, &[2, 7, 7]).unwrap(), end);
    // The same stroke named in full: another spelling, refused.
    let said = decode_action(id, &[2, 0, 5, 3, 7]).unwrap_err().to_string();
    assert!(said.contains("canonical"), "{said}");
    // Ten back from op 10 is before the author's first op.
    let said = decode_action(id, &[2, 10, 7]).unwrap_err().to_string();
    assert!(said.contains("before its author's first"), "{said}");
    // Bytes after the action.
    assert!(decode_action(id, &[2, 7, 7, 0]).is_err());
}

#[test]
fn actions_from_files_before_protocol_5_are_read_for_import() {
    let action = Action::StrokeEnd {
        stroke: OpId {
            node: NodeId(5),
            seq: 3,
        },
        points: 7,
    };
    let old = bincode::serde::encode_to_vec(&action, bincode::config::standard()).unwrap();
    assert_eq!(decode_legacy_action(&old).unwrap(), action);
    let wire = WireOp {
        id: OpId {
            node: NodeId(5),
            seq: 10,
        },
        lamport: 10,
        payload: old,
        signature: None,
    };
    assert_eq!(wire.to_op_legacy().unwrap().action, action);
    assert!(wire.to_op().is_err(), "an old payload read as a new one");
}
