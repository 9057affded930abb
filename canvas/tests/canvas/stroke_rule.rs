//! The stroke rule: a stroke's points and end follow its start with nothing else
//! between; its seal only right after its end.

use canopy_canvas::{Shape, StrokeRule, StrokeRuleError, MAX_POINTS_PER_STROKE};
use proptest::prelude::*;

use crate::util::{keep_the_stroke_rule, step, Simulation};

#[test]
fn a_stroke_takes_its_points_and_end_then_anything() {
    let mut rule = StrokeRule::default();
    rule.step(1, Shape::Other).unwrap();
    rule.step(2, Shape::Start).unwrap();
    assert_eq!(rule.open(), Some(2));
    rule.step(3, Shape::Points(2, 1)).unwrap();
    rule.step(4, Shape::Points(2, 1)).unwrap();
    rule.step(5, Shape::End(2)).unwrap();
    rule.step(6, Shape::Seal(2)).unwrap();
    assert_eq!(rule.open(), None);
    rule.step(7, Shape::Start).unwrap();
    rule.step(8, Shape::End(7)).unwrap();
    rule.step(9, Shape::Other).unwrap();
    assert_eq!(rule, StrokeRule::default());
}

/// More points or a second end of a stroke, with nothing else between, are still
/// that stroke's ops: a seal over them hides nothing else (the document decides
/// what they mean).
#[test]
fn a_stroke_may_take_more_after_its_end_until_anything_else() {
    let mut rule = StrokeRule::default();
    rule.step(1, Shape::Start).unwrap();
    rule.step(2, Shape::End(1)).unwrap();
    rule.step(3, Shape::End(1)).unwrap();
    rule.step(4, Shape::Points(1, 1)).unwrap();
    assert_eq!(
        rule.step(5, Shape::Seal(1)),
        Err(StrokeRuleError::SealOutOfPlace { seq: 5, stroke: 1 }),
        "a seal comes right after an end"
    );
    rule.step(5, Shape::End(1)).unwrap();
    rule.step(6, Shape::Seal(1)).unwrap();
}

#[test]
fn anything_else_leaves_the_open_stroke_unfinished_for_good() {
    for shape in [Shape::Other, Shape::Start] {
        let mut rule = StrokeRule::open_at(Some(4));
        rule.step(9, Shape::Points(4, 1)).unwrap();
        rule.step(10, shape).unwrap();
        let after = rule;
        for late in [Shape::Points(4, 1), Shape::End(4)] {
            assert_eq!(
                rule.step(11, late),
                Err(StrokeRuleError::NotOpen { seq: 11, stroke: 4 }),
                "{late:?} after {shape:?}"
            );
            assert_eq!(rule, after, "a refused op changes nothing");
        }
    }
    // A stroke left unfinished is never sealed.
    let mut rule = StrokeRule::open_at(Some(4));
    rule.step(5, Shape::Start).unwrap();
    assert_eq!(
        rule.step(6, Shape::Seal(4)),
        Err(StrokeRuleError::SealOutOfPlace { seq: 6, stroke: 4 })
    );
    assert_eq!(
        StrokeRule::open_at(Some(4)).step(5, Shape::Seal(4)),
        Err(StrokeRuleError::SealOutOfPlace { seq: 5, stroke: 4 }),
        "nor an open one"
    );
}

#[test]
fn points_and_ends_of_strokes_not_open_are_refused() {
    let mut rule = StrokeRule::default();
    rule.step(1, Shape::Start).unwrap();
    rule.step(2, Shape::End(1)).unwrap();
    assert_eq!(
        rule.step(3, Shape::Points(2, 1)),
        Err(StrokeRuleError::NotOpen { seq: 3, stroke: 2 })
    );
    rule.step(3, Shape::Start).unwrap();
    assert_eq!(
        rule.step(4, Shape::End(1)),
        Err(StrokeRuleError::NotOpen { seq: 4, stroke: 1 })
    );
    assert_eq!(
        StrokeRule::default().step(5, Shape::Points(2, 1)),
        Err(StrokeRuleError::NotOpen { seq: 5, stroke: 2 })
    );
}

#[test]
fn a_seal_comes_right_after_its_end_or_not_at_all() {
    let mut rule = StrokeRule::default();
    rule.step(1, Shape::Start).unwrap();
    rule.step(2, Shape::End(1)).unwrap();
    let ended = rule;
    assert_eq!(
        rule.step(3, Shape::Seal(7)),
        Err(StrokeRuleError::SealOutOfPlace { seq: 3, stroke: 7 })
    );
    assert_eq!(
        rule.step(4, Shape::Seal(1)),
        Err(StrokeRuleError::SealOutOfPlace { seq: 4, stroke: 1 })
    );
    rule.step(3, Shape::Other).unwrap();
    assert_eq!(
        rule.step(4, Shape::Seal(1)),
        Err(StrokeRuleError::SealOutOfPlace { seq: 4, stroke: 1 })
    );
    let mut sealed = ended;
    sealed.step(3, Shape::Seal(1)).unwrap();
    assert_eq!(
        sealed.step(4, Shape::Seal(1)),
        Err(StrokeRuleError::SealOutOfPlace { seq: 4, stroke: 1 }),
        "one seal a stroke"
    );
}

/// A stroke's points are counted over its ops, ends included, up to the most a stroke
/// may hold: the op past it breaks the rule wherever it arrives.
#[test]
fn a_stroke_takes_points_up_to_its_limit_and_no_more() {
    let mut rule = StrokeRule::default();
    rule.step(1, Shape::Start).unwrap();
    rule.step(2, Shape::Points(1, 4096)).unwrap();
    rule.step(3, Shape::End(1)).unwrap();
    assert_eq!(rule.points(), 4096, "the count goes on past an end");
    rule.step(4, Shape::Points(1, MAX_POINTS_PER_STROKE - 4097))
        .unwrap();
    let full = rule;
    assert_eq!(
        rule.step(5, Shape::Points(1, 2)),
        Err(StrokeRuleError::TooManyPoints {
            seq: 5,
            stroke: 1,
            points: u64::from(MAX_POINTS_PER_STROKE) + 1,
        })
    );
    assert_eq!(rule, full, "a refused op changes nothing");
    rule.step(5, Shape::Points(1, 1)).unwrap();
    assert_eq!(rule.points(), MAX_POINTS_PER_STROKE);
    assert!(matches!(
        rule.step(6, Shape::Points(1, u32::MAX)),
        Err(StrokeRuleError::TooManyPoints { .. })
    ));
    // A new stroke counts from nothing.
    rule.step(6, Shape::Start).unwrap();
    assert_eq!(rule.points(), 0);
    rule.step(7, Shape::Points(6, 1)).unwrap();
    // A log restored inside a stroke goes on from the count it is given.
    let restored = StrokeRule::open_at(Some(1)).with_points(MAX_POINTS_PER_STROKE);
    assert!(restored.clone().step(9, Shape::End(1)).is_ok());
    assert!(matches!(
        restored.clone().step(9, Shape::Points(1, 1)),
        Err(StrokeRuleError::TooManyPoints { .. })
    ));
    assert_eq!(StrokeRule::open_at(None).with_points(5).points(), 0);
}

proptest! {
    /// The document refuses points past its stroke's limit only where the rule does
    /// (with the limits every node runs with): a checker that keeps the rule never
    /// hands a document an op it refuses for what it holds, however the author
    /// overlaps its chunks.
    #[test]
    fn the_rule_refuses_points_exactly_where_the_document_would(
        chunks in proptest::collection::vec((2048u32..=4096, 0u32..=95_000), 20..40),
    ) {
        use canopy_canvas::{Action, Document, NodeId, Op, OpId, Point, OpError, FIRST_PAGE, Tool, Color};
        let mut author = Document::new(NodeId(3));
        let start = author.begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(1, 2, 3), 1.0).unwrap();
        let mut held = Document::new(NodeId(9));
        let mut rule = StrokeRule::default();
        rule.step(start.id.seq, Shape::of(&start.action)).unwrap();
        held.apply(start.clone()).unwrap();
        for (n, (count, offset)) in chunks.into_iter().enumerate() {
            let seq = n as u64 + 2;
            let op = Op {
                id: OpId { node: NodeId(3), seq },
                lamport: seq + 1,
                action: Action::StrokePoints {
                    stroke: start.id,
                    offset: offset.min(MAX_POINTS_PER_STROKE - count),
                    points: vec![Point::new(1.0, 1.0); count as usize],
                },
            };
            let by_rule = rule.step(seq, Shape::of(&op.action));
            let by_document = held.apply(op);
            prop_assert_eq!(
                by_rule.is_err(),
                matches!(by_document, Err(OpError::TooManyPoints { per: "stroke", .. })),
                "op {}: rule {:?}, document {:?}", seq, by_rule, by_document
            );
            if by_rule.is_err() {
                break;
            }
        }
    }
}

proptest! {
    /// What the document makes for an author, drawn whole or live and sealed, keeps
    /// the rule.
    #[test]
    fn a_documents_own_ops_keep_the_rule(
        steps in proptest::collection::vec(step(), 1..40),
        sealing in any::<bool>(),
    ) {
        let sim = if sealing { Simulation::run_sealed(&steps) } else { Simulation::run(&steps) };
        prop_assert_eq!(keep_the_stroke_rule(&sim.ops), Ok(()));
    }
}

proptest! {
    /// What a document says of an author's log after any of its ops (a restart) is
    /// where the rule stands after them.
    #[test]
    fn a_document_says_where_each_log_stands(
        steps in proptest::collection::vec(step(), 1..30),
        cut in any::<prop::sample::Index>(),
    ) {
        let sim = Simulation::run_sealed(&steps);
        if sim.ops.is_empty() {
            return Ok(());
        }
        let upto = cut.index(sim.ops.len()) + 1;
        let held = crate::util::replay(sim.ops[..upto].iter().cloned());
        let mut rules = std::collections::BTreeMap::new();
        for op in &sim.ops[..upto] {
            let rule: &mut StrokeRule = rules.entry(op.id.node).or_default();
            rule.step(op.id.seq, Shape::of(&op.action)).unwrap();
        }
        for (author, rule) in rules {
            prop_assert_eq!(held.stroke_rule(author), rule);
        }
    }
}

/// A stroke ended twice, or given points after its end, is still open to its own
/// ops: a document restarted there says so, as the rule stepped live does.
#[test]
fn a_document_says_where_a_log_stands_after_a_second_end_or_late_points() {
    use canopy_canvas::{Action, Color, Document, NodeId, Op, OpId, Point, Tool, FIRST_PAGE};
    let mut author = Document::new(NodeId(5));
    let start = author
        .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(1, 1, 1), 1.0)
        .unwrap();
    let end = author.end_stroke(start.id).unwrap();
    let op = |seq: u64, action: Action| Op {
        id: OpId {
            node: NodeId(5),
            seq,
        },
        lamport: seq + 10,
        action,
    };
    let again = op(
        3,
        Action::StrokeEnd {
            stroke: start.id,
            points: 4,
        },
    );
    let late = op(
        4,
        Action::StrokePoints {
            stroke: start.id,
            offset: 0,
            points: vec![Point::new(1.0, 1.0)],
        },
    );
    let mut held = Document::new(NodeId(9));
    let mut live = StrokeRule::default();
    for op in [start, end, again, late] {
        live.step(op.id.seq, Shape::of(&op.action)).unwrap();
        held.apply(op).unwrap();
        assert_eq!(held.stroke_rule(NodeId(5)), live);
    }
}
