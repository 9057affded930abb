//! Per-author undo and redo, checked against a two-stack model.

use canopy_canvas::{Color, Document, NodeId, Point, Tool, FIRST_PAGE};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Move {
    Draw,
    Undo,
    Redo,
    /// Someone else draws meanwhile (and we receive it).
    OtherDraws,
}

fn a_move() -> impl Strategy<Value = Move> {
    prop_oneof![3 => Just(Move::Draw), 2 => Just(Move::Undo), 1 => Just(Move::Redo), 2 => Just(Move::OtherDraws)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn undo_and_redo_follow_the_authors_own_stacks(moves in proptest::collection::vec(a_move(), 1..80)) {
        let mut me = Document::new(NodeId(1));
        let mut other = Document::new(NodeId(2));
        let (mut done, mut undone) = (Vec::new(), Vec::new());
        let mut others = 0;
        let line = [Point::new(5.0, 5.0), Point::new(30.0, 8.0)];
        for m in moves {
            match m {
                Move::Draw => {
                    let ops = me.draw_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(0, 0, 0), 2.0, &line).unwrap();
                    done.push(ops[0].id);
                    undone.clear();
                }
                Move::Undo => {
                    let op = me.undo().unwrap();
                    prop_assert_eq!(op.is_some(), !done.is_empty());
                    if let Some(id) = done.pop() {
                        undone.push(id);
                    }
                }
                Move::Redo => {
                    let op = me.redo().unwrap();
                    prop_assert_eq!(op.is_some(), !undone.is_empty());
                    if let Some(id) = undone.pop() {
                        done.push(id);
                    }
                }
                Move::OtherDraws => {
                    for op in other.draw_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(9, 9, 9), 2.0, &line).unwrap() {
                        me.apply(op).unwrap();
                    }
                    others += 1;
                }
            }
            let mut mine: Vec<_> = me.strokes(FIRST_PAGE).iter().filter(|s| s.id().node == NodeId(1)).map(|s| s.id()).collect();
            mine.sort();
            let mut expected = done.clone();
            expected.sort();
            prop_assert_eq!(mine, expected);
            let theirs = me.strokes(FIRST_PAGE).iter().filter(|s| s.id().node == NodeId(2)).count();
            prop_assert_eq!(theirs, others, "undo never touches someone else's strokes");
        }
    }
}

#[test]
fn undo_restores_erased_strokes_and_deleted_pages() {
    let mut doc = Document::new(NodeId(1));
    let line = [Point::new(0.0, 0.0), Point::new(10.0, 0.0)];
    let stroke = doc
        .draw_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(0, 0, 0), 2.0, &line)
        .unwrap()[0]
        .id;
    doc.erase(vec![stroke]).unwrap();
    assert!(doc.strokes(FIRST_PAGE).is_empty());
    doc.undo().unwrap();
    assert_eq!(doc.strokes(FIRST_PAGE).len(), 1);
    let page = doc.new_page().unwrap().id;
    doc.delete_page(page).unwrap();
    assert_eq!(doc.page_count(), 1);
    doc.undo().unwrap();
    assert_eq!(doc.pages(), vec![FIRST_PAGE, page]);
    doc.redo().unwrap();
    assert_eq!(doc.pages(), vec![FIRST_PAGE]);
}

#[test]
fn the_eraser_finds_the_strokes_it_touches() {
    let mut doc = Document::new(NodeId(1));
    let across = doc
        .draw_stroke(
            FIRST_PAGE,
            Tool::Pen,
            Color::rgb(0, 0, 0),
            4.0,
            &[Point::new(0.0, 50.0), Point::new(200.0, 50.0)],
        )
        .unwrap()[0]
        .id;
    let _far = doc
        .draw_stroke(
            FIRST_PAGE,
            Tool::Pen,
            Color::rgb(0, 0, 0),
            4.0,
            &[Point::new(0.0, 500.0), Point::new(200.0, 500.0)],
        )
        .unwrap();
    let touched = doc.strokes_touching(
        FIRST_PAGE,
        &[Point::new(100.0, 40.0), Point::new(100.0, 60.0)],
        3.0,
    );
    assert_eq!(touched, vec![across]);
    assert_eq!(
        doc.strokes_touching(FIRST_PAGE, &[Point::new(100.0, 45.0)], 4.0),
        vec![across]
    );
    assert!(doc
        .strokes_touching(FIRST_PAGE, &[Point::new(100.0, 30.0)], 5.0)
        .is_empty());
}
