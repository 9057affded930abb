//! The stroke rule: while an author's stroke is open, only its points and its end
//! come next; its seal only right after its end.

use canopy_canvas::{Shape, StrokeRule, StrokeRuleError};
use proptest::prelude::*;

use crate::util::{keep_the_stroke_rule, step, Simulation};

#[test]
fn a_stroke_takes_its_points_and_end_then_anything() {
    let mut rule = StrokeRule::default();
    rule.step(1, Shape::Other).unwrap();
    rule.step(2, Shape::Start).unwrap();
    assert_eq!(rule.open(), Some(2));
    rule.step(3, Shape::Points(2)).unwrap();
    rule.step(4, Shape::Points(2)).unwrap();
    rule.step(5, Shape::End(2)).unwrap();
    assert_eq!(rule.open(), None);
    rule.step(6, Shape::Seal(2)).unwrap();
    rule.step(7, Shape::Start).unwrap();
    rule.step(8, Shape::End(7)).unwrap();
    rule.step(9, Shape::Other).unwrap();
}

#[test]
fn nothing_else_comes_while_a_stroke_is_open() {
    let mut rule = StrokeRule::open_at(Some(4));
    let before = rule;
    for shape in [
        Shape::Other,
        Shape::Start,
        Shape::Points(3),
        Shape::End(1),
        Shape::Seal(4),
    ] {
        assert_eq!(
            rule.step(9, shape),
            Err(StrokeRuleError::StrokeOpen { seq: 9, open: 4 }),
            "{shape:?}"
        );
        assert_eq!(rule, before, "a refused op changes nothing");
    }
    rule.step(9, Shape::Points(4)).unwrap();
}

#[test]
fn points_and_ends_of_strokes_not_open_are_refused() {
    let mut rule = StrokeRule::default();
    rule.step(1, Shape::Start).unwrap();
    rule.step(2, Shape::End(1)).unwrap();
    assert_eq!(
        rule.step(3, Shape::Points(1)),
        Err(StrokeRuleError::NotOpen { seq: 3, stroke: 1 })
    );
    assert_eq!(
        rule.step(3, Shape::End(1)),
        Err(StrokeRuleError::NotOpen { seq: 3, stroke: 1 })
    );
    assert_eq!(
        StrokeRule::default().step(5, Shape::Points(2)),
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
