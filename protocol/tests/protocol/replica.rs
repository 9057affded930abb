//! The opaque replica against the document: the same ops taken, the same ops served.

use canopy_canvas::{
    Applied, Color, Document, NodeId, Op, OpId, Point, Shape, Tool, VersionVector,
};
use canopy_protocol::{shape_of, OpaqueReplica, WireOp};
use proptest::prelude::*;

/// What an author does next.
#[derive(Debug, Clone)]
enum Step {
    /// A stroke drawn in chunks of these many points, sealed after its end or not.
    Stroke { chunks: Vec<u8>, sealed: bool },
    /// A new page.
    Page,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (prop::collection::vec(1u8..5, 1..5), any::<bool>())
            .prop_map(|(chunks, sealed)| Step::Stroke { chunks, sealed }),
        1 => Just(Step::Page),
    ]
}

/// Author `node`'s ops for `steps`, as it makes them (live), and as a holder of
/// them all serves them (a backlog: seals in place of their strokes).
fn author(node: u64, steps: &[Step]) -> (Vec<Op>, Vec<Op>) {
    let mut doc = Document::new(NodeId(node));
    let mut live = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        match step {
            Step::Stroke { chunks, sealed } => {
                let start = doc
                    .begin_stroke(
                        canopy_canvas::FIRST_PAGE,
                        Tool::Pen,
                        Color::rgb(1, 2, 3),
                        2.0,
                    )
                    .unwrap();
                let stroke = start.id;
                live.push(start);
                for (c, count) in chunks.iter().enumerate() {
                    let points = (0..*count)
                        .map(|p| Point::new(n as f32, (c * 10 + p as usize) as f32))
                        .collect();
                    live.push(doc.extend_stroke(stroke, points).unwrap());
                }
                live.push(doc.end_stroke(stroke).unwrap());
                if *sealed {
                    live.push(doc.seal_stroke(stroke).unwrap());
                }
            }
            Step::Page => live.push(doc.new_page().unwrap()),
        }
    }
    let backlog = doc
        .ops_missing_from(&VersionVector::new())
        .into_iter()
        .filter(|op| op.id.node == NodeId(node))
        .collect();
    (live, backlog)
}

fn takes(replica: &mut OpaqueReplica, op: &Op) -> Applied {
    let wire = WireOp::from_op(op);
    let shape = shape_of(wire.id, &wire.payload).unwrap();
    replica.take(&wire, shape)
}

fn same(ours: &[Op], theirs: &[WireOp]) -> Vec<(OpId, u64, Vec<u8>)> {
    let ours: Vec<_> = ours
        .iter()
        .map(WireOp::from_op)
        .map(|w| (w.id, w.lamport, w.payload))
        .collect();
    let theirs: Vec<_> = theirs
        .iter()
        .map(|w| (w.id, w.lamport, w.payload.clone()))
        .collect();
    assert_eq!(ours, theirs);
    ours
}

/// Each author's ops, live and as a backlog ([`author`]), for authors 1, 2, 3.
fn streams(steps: &[Vec<Step>]) -> Vec<(Vec<Op>, Vec<Op>)> {
    steps
        .iter()
        .enumerate()
        .map(|(n, steps)| author(n as u64 + 1, steps))
        .collect()
}

/// A document and an opaque replica given the same ops: `deliveries` of `(author,
/// from its backlog, how many)` taken in turn, then (if `drain`) all the rest.
/// Both must find the same ops new.
fn hold(
    streams: &[(Vec<Op>, Vec<Op>)],
    deliveries: &[(usize, bool, usize)],
    drain: bool,
) -> (Document, OpaqueReplica) {
    let mut document = Document::new(NodeId(99));
    let mut replica = OpaqueReplica::new();
    let mut next = [[0usize; 2]; 3];
    let mut give = |author: usize, backlog: bool, count: usize| {
        let stream = if backlog {
            &streams[author].1
        } else {
            &streams[author].0
        };
        let at = &mut next[author][usize::from(backlog)];
        for op in stream.iter().skip(*at).take(count) {
            let by_document = document.apply(op.clone()).unwrap();
            let by_replica = takes(&mut replica, op);
            assert_eq!(by_document, by_replica, "{:?}", op.id);
        }
        *at = at.saturating_add(count).min(stream.len());
    };
    for &(author, backlog, count) in deliveries {
        give(author, backlog, count);
    }
    if drain {
        for author in 0..3 {
            give(author, false, usize::MAX);
            give(author, true, usize::MAX);
        }
    }
    (document, replica)
}

/// Where an honest revoker may end the log of an author that made `live`, given
/// `seq`: never at the start of a stroke its author sealed (`Authors::cut_offs`
/// cuts before a stroke that may still be sealed).
fn honest_cut(live: &[Op], seq: u64) -> u64 {
    let sealed_from_here = live.iter().any(|op| {
        let wire = WireOp::from_op(op);
        shape_of(wire.id, &wire.payload) == Ok(Shape::Seal(seq))
    });
    if sealed_from_here {
        seq - 1
    } else {
        seq
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Whatever order a holder takes three authors' ops in — live, op by op; from
    /// backlogs, seals in place of strokes; both at once, duplicates and gaps
    /// included — the opaque replica holds what the document holds: the same ops
    /// are new, and any piece of a backlog it serves is the document's, byte for
    /// byte, as are its version vectors and counts.
    #[test]
    fn an_opaque_replica_serves_what_the_document_serves(
        steps in prop::collection::vec(prop::collection::vec(step(), 0..6), 3),
        deliveries in prop::collection::vec((0usize..3, any::<bool>(), 1usize..6), 0..40),
        drain in any::<bool>(),
        queries in prop::collection::vec(
            (prop::collection::vec(0u64..40, 3), prop::option::of((0u64..3, 0u64..40)), 1usize..30),
            1..8,
        ),
        ranges in prop::collection::vec((0u64..3, 0u64..40, 0u64..40), 1..5),
    ) {
        let streams = streams(&steps);
        let (document, replica) = hold(&streams, &deliveries, drain);
        prop_assert_eq!(replica.version_vector(), document.version_vector());
        prop_assert_eq!(replica.op_count(), document.op_count());
        for author in 1..=3 {
            prop_assert_eq!(replica.seen_of(NodeId(author)), document.seen_of(NodeId(author)));
            prop_assert_eq!(
                replica.stroke_rule(NodeId(author)),
                document.stroke_rule(NodeId(author))
            );
        }
        let upto = document.latest_seqs();
        prop_assert_eq!(&replica.latest_seqs(), &upto);
        for (seen, after, limit) in queries {
            let seen = VersionVector(
                seen.iter()
                    .enumerate()
                    .filter(|(_, seq)| **seq > 0)
                    .map(|(n, seq)| (NodeId(n as u64 + 1), *seq))
                    .collect(),
            );
            let after = after.map(|(n, seq)| OpId { node: NodeId(n + 1), seq });
            same(
                &document.ops_missing_piece(&seen, &upto, after, limit),
                &replica.missing_piece(&seen, &upto, after, limit),
            );
            prop_assert_eq!(
                replica.count_missing_from(&seen),
                document.count_missing_from(&seen)
            );
        }
        same(
            &document.ops_missing_from(&VersionVector::new()),
            &replica.missing_from(&VersionVector::new()),
        );
        for (author, from, to) in ranges {
            let author = NodeId(author + 1);
            same(
                &document.author_ops(author, from, to),
                &replica.author_ops(author, from, to),
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// A revocation's cut-offs, wherever an honest revoker may put them, leave the
    /// opaque replica holding what they leave the document: the same ops served,
    /// byte for byte, the same vectors, and the bytes it counts are the bytes it
    /// serves — however the ops came (some as seals, some op by op, some past gaps).
    #[test]
    fn a_cut_off_leaves_the_replica_what_it_leaves_the_document(
        steps in prop::collection::vec(prop::collection::vec(step(), 0..6), 3),
        deliveries in prop::collection::vec((0usize..3, any::<bool>(), 1usize..6), 0..40),
        drain in any::<bool>(),
        cuts in prop::collection::vec((0usize..3, 0u64..40), 1..4),
    ) {
        let streams = streams(&steps);
        let (document, mut replica) = hold(&streams, &deliveries, drain);
        let last_kept: std::collections::BTreeMap<NodeId, u64> = cuts
            .iter()
            .map(|&(author, seq)| (NodeId(author as u64 + 1), honest_cut(&streams[author].0, seq)))
            .collect();
        let document = document.without_ops_past(&last_kept);
        replica.without_ops_past(&last_kept);
        let served = replica.missing_from(&VersionVector::new());
        same(&document.ops_missing_from(&VersionVector::new()), &served);
        prop_assert_eq!(replica.version_vector(), document.version_vector());
        prop_assert_eq!(replica.latest_seqs(), document.latest_seqs());
        let bytes: u64 = served.iter().map(|w| w.payload.len() as u64).sum();
        prop_assert_eq!(replica.payload_bytes(), bytes);
        for (author, last) in &last_kept {
            prop_assert!(served.iter().all(|w| w.id.node != *author || w.id.seq <= *last));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]
    /// Two holders given every op, in any two orders (op by op, as backlogs with
    /// seals, or both), hold the same, and their digests say so; a holder that
    /// lacks an op has another digest.
    #[test]
    fn holders_of_the_same_ops_have_the_same_digest(
        steps in prop::collection::vec(prop::collection::vec(step(), 1..5), 3),
        first in prop::collection::vec((0usize..3, any::<bool>(), 1usize..6), 0..30),
        second in prop::collection::vec((0usize..3, any::<bool>(), 1usize..6), 0..30),
    ) {
        let streams = streams(&steps);
        let (_, one) = hold(&streams, &first, true);
        let (_, other) = hold(&streams, &second, true);
        prop_assert_eq!(one.missing_from(&VersionVector::new()).len(), one.op_count() as usize);
        prop_assert_eq!(one.digest(), other.digest());
        let mut short = one.clone();
        let last = short.latest_seqs().0.into_iter().next().unwrap();
        short.without_ops_past(&std::collections::BTreeMap::from([(last.0, last.1 - 1)]));
        prop_assert_ne!(short.digest(), one.digest());
    }
}

/// A seal held in place of its stroke's ops holds its bytes instead of theirs, and
/// an author dropped takes its bytes with it.
#[test]
fn an_opaque_replica_counts_the_bytes_it_holds() {
    let (live, _) = author(
        1,
        &[
            Step::Stroke {
                chunks: vec![4, 4, 4],
                sealed: true,
            },
            Step::Page,
        ],
    );
    let mut replica = OpaqueReplica::new();
    let bytes = |ops: &[Op]| -> u64 {
        ops.iter()
            .map(|op| WireOp::from_op(op).payload.len() as u64)
            .sum()
    };
    // The stroke's start, chunks and end.
    for op in &live[..5] {
        assert_eq!(takes(&mut replica, op), Applied::New);
    }
    assert_eq!(replica.payload_bytes(), bytes(&live[..5]));
    // Its seal stands for them all.
    assert_eq!(takes(&mut replica, &live[5]), Applied::New);
    assert_eq!(replica.payload_bytes(), bytes(&live[5..6]));
    assert_eq!(takes(&mut replica, &live[2]), Applied::Duplicate);
    assert_eq!(takes(&mut replica, &live[6]), Applied::New);
    assert_eq!(replica.payload_bytes(), bytes(&live[5..7]));
    assert_eq!(replica.missing_from(&VersionVector::new()).len(), 2);
    replica.without_author(NodeId(1));
    assert_eq!(replica.payload_bytes(), 0);
    assert!(replica.missing_from(&VersionVector::new()).is_empty());
    assert!(!replica.contains(live[0].id));
}

/// An op of author 1..=3 numbered 1..60 of any shape, a seal naming a stroke
/// before it: what runs that verify may bring, and more (no stroke rule).
fn any_op() -> impl Strategy<Value = (u64, u64, Shape, Vec<u8>)> {
    (
        1u64..4,
        1u64..60,
        0u8..4,
        1u64..60,
        prop::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(author, seq, kind, back, payload)| {
            let shape = match kind {
                0 => Shape::Start,
                1 => Shape::Points(seq.saturating_sub(back), 1),
                2 => Shape::Seal(seq.saturating_sub(back).max(1)),
                _ => Shape::Other,
            };
            (author, seq, shape, payload)
        })
}

proptest! {
    /// Whatever it is given, in any order and repeated, the replica never fails,
    /// holds each op it took as new, serves each number at most once and in order,
    /// and counts what it serves.
    #[test]
    fn an_opaque_replica_takes_anything_and_serves_each_op_once(
        ops in prop::collection::vec(any_op(), 0..120),
    ) {
        let mut replica = OpaqueReplica::new();
        for (author, seq, shape, payload) in ops {
            let wire = WireOp {
                id: OpId { node: NodeId(author), seq },
                lamport: seq,
                payload,
                signature: None,
            };
            let taken = replica.take(&wire, shape);
            prop_assert!(replica.contains(wire.id), "{:?} {:?}", wire.id, taken);
        }
        let served = replica.missing_from(&VersionVector::new());
        prop_assert_eq!(served.len(), replica.count_missing_from(&VersionVector::new()));
        let ids: Vec<OpId> = served.iter().map(|w| w.id).collect();
        let mut sorted = ids.clone();
        sorted.sort_by_key(|id| (id.node, id.seq));
        sorted.dedup();
        prop_assert_eq!(ids, sorted);
        let bytes: u64 = served.iter().map(|w| w.payload.len() as u64).sum();
        prop_assert_eq!(replica.payload_bytes(), bytes);
    }
}
