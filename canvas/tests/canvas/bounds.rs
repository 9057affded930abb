//! Every bound is enforced with a typed error and leaves the document untouched.

use canopy_canvas::{
    Action, Color, Document, Limits, NodeId, Op, OpError, OpId, Point, Tool, VersionVector,
    FIRST_PAGE,
};
use proptest::prelude::*;

use crate::util::{shuffle, step, Simulation};

fn fingerprint(doc: &Document) -> (canopy_canvas::Digest, VersionVector, u64, u64) {
    (
        doc.digest(),
        doc.version_vector(),
        doc.op_count(),
        doc.lamport(),
    )
}

fn op(node: u64, seq: u64, action: Action) -> Op {
    Op {
        id: OpId {
            node: NodeId(node),
            seq,
        },
        lamport: 10_000,
        action,
    }
}

fn points(n: usize) -> Vec<Point> {
    (0..n).map(|i| Point::new(i as f32, 1.0)).collect()
}

/// Ops that break a bound on their own, whatever the document holds.
fn bad_ops() -> Vec<(Op, &'static str)> {
    let stroke = OpId {
        node: NodeId(7),
        seq: 1,
    };
    let start = |width| Action::StrokeStart {
        page: FIRST_PAGE,
        tool: Tool::Pen,
        color: Color::rgb(0, 0, 0),
        width,
    };
    let with_point = |x, y| Action::StrokePoints {
        stroke,
        offset: 0,
        points: vec![Point::new(x, y)],
    };
    vec![
        (op(7, 0, start(2.0)), "invalid sequence number"),
        (
            Op {
                lamport: 0,
                ..op(7, 2, start(2.0))
            },
            "invalid sequence number",
        ),
        (op(7, 3, start(0.0)), "stroke width 0"),
        (op(7, 4, start(f32::NAN)), "stroke width NaN"),
        (op(7, 5, start(1e9)), "stroke width 1000000000"),
        (op(7, 6, with_point(f32::NAN, 0.0)), "point out of range"),
        (
            op(7, 7, with_point(0.0, f32::INFINITY)),
            "point out of range",
        ),
        (op(7, 8, with_point(2e6, 0.0)), "point out of range"),
        (
            op(
                7,
                9,
                Action::StrokePoints {
                    stroke,
                    offset: 0,
                    points: points(5000),
                },
            ),
            "at most 4096 per op",
        ),
        (
            op(
                7,
                10,
                Action::StrokePoints {
                    stroke,
                    offset: 99_999,
                    points: points(2),
                },
            ),
            "at most 100000 per stroke",
        ),
        (
            op(
                8,
                1,
                Action::StrokePoints {
                    stroke,
                    offset: 0,
                    points: points(2),
                },
            ),
            "belongs to someone else",
        ),
        (
            op(8, 2, Action::StrokeEnd { stroke, points: 2 }),
            "belongs to someone else",
        ),
        (
            op(8, 3, Action::Undo { target: stroke }),
            "belongs to someone else",
        ),
        (
            op(
                7,
                11,
                Action::Erase {
                    strokes: vec![stroke; 20_000],
                },
            ),
            "names 20000 items",
        ),
        (
            op(7, 12, Action::NewPage { position: f64::NAN }),
            "not a finite number",
        ),
        (
            op(
                7,
                13,
                Action::MovePage {
                    page: FIRST_PAGE,
                    position: f64::INFINITY,
                },
            ),
            "not a finite number",
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn every_rejection_leaves_the_document_unchanged(steps in proptest::collection::vec(step(), 0..30)) {
        let sim = Simulation::run(&steps);
        let mut doc = sim.peers[0].clone();
        let before = fingerprint(&doc);
        for (bad, message) in bad_ops() {
            let error = doc.apply(bad).unwrap_err();
            prop_assert!(error.to_string().contains(message), "{error} lacks {message:?}");
            prop_assert_eq!(fingerprint(&doc), before.clone());
        }
        // Local edits that would break a bound make no op at all.
        let nan_midway = [Point::new(1.0, 1.0), Point::new(f32::NAN, 2.0), Point::new(3.0, 3.0)];
        let refused = doc.draw_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(0, 0, 0), 2.0, &nan_midway);
        let refused_for_the_point = matches!(refused, Err(OpError::BadPoint { .. }));
        prop_assert!(refused_for_the_point);
        prop_assert_eq!(fingerprint(&doc), before);
    }

    /// The page cap counts pages in use: under any edits (new pages, deletes, undo and
    /// redo of either) and any order of arrival, a replica with a cap of 2 shows the
    /// same pages as every other, all of them pages the uncapped document shows, and
    /// as many as the uncapped one shows up to the cap.
    #[test]
    fn the_page_cap_counts_pages_in_use_in_any_order(
        steps in proptest::collection::vec(step(), 0..60),
        order in any::<u64>(),
    ) {
        let sim = Simulation::run(&steps);
        let capped = |ops: Vec<Op>| {
            let mut doc = Document::with_limits(
                NodeId(99),
                Limits { max_pages: 2, ..Limits::default() },
            );
            for op in ops {
                doc.apply(op).unwrap();
            }
            doc
        };
        let uncapped = crate::util::replay(sim.ops.clone());
        let in_order = capped(sim.ops.clone());
        let mut scrambled = sim.ops.clone();
        shuffle(&mut scrambled, order);
        let shuffled = capped(scrambled);
        prop_assert_eq!(shuffled.digest(), in_order.digest());
        prop_assert_eq!(shuffled.pages(), in_order.pages());
        prop_assert_eq!(in_order.page_count(), uncapped.page_count().min(2));
        let all = uncapped.pages();
        prop_assert!(in_order.pages().iter().all(|p| all.contains(p)));
    }
}

/// Deleting pages makes room under the page cap: an editor that fills it with pages
/// of its own (with the lowest clocks, so they rank first) stops nobody for good, and
/// undoing a delete brings back only what the cap lets show, the same everywhere.
#[test]
fn deleting_pages_makes_room_under_the_page_cap() {
    let limits = Limits {
        max_pages: 3,
        ..Limits::default()
    };
    let vandal_pages: Vec<Op> = (1..=5u64)
        .map(|seq| Op {
            id: OpId {
                node: NodeId(66),
                seq,
            },
            lamport: seq,
            action: Action::NewPage {
                position: seq as f64,
            },
        })
        .collect();
    let mut honest = Document::with_limits(NodeId(1), limits.clone());
    for op in &vandal_pages {
        honest.apply(op.clone()).unwrap();
    }
    assert_eq!(
        honest.page_count(),
        3,
        "the first page and two of the vandal's"
    );
    assert_eq!(honest.new_page().unwrap_err(), OpError::TooManyPages(3));

    let mut deletes = Vec::new();
    while let Some(page) = honest.pages().into_iter().find(|p| p.node == NodeId(66)) {
        deletes.push(honest.delete_page(page).unwrap());
    }
    assert_eq!(
        deletes.len(),
        5,
        "each hidden page shows in turn as room is made"
    );
    assert_eq!(honest.pages(), vec![FIRST_PAGE]);
    // Another editor adds a page; then the deleter takes back its last delete, and
    // the vandal's page it deleted is in use again: the cap is full once more.
    let mut other = Document::with_limits(NodeId(3), limits.clone());
    for op in vandal_pages.iter().chain(&deletes) {
        other.apply(op.clone()).unwrap();
    }
    let mine = other.new_page().unwrap();
    honest.apply(mine.clone()).unwrap();
    assert_eq!(honest.pages(), vec![FIRST_PAGE, mine.id]);
    let undo_delete = honest.undo().unwrap().unwrap();
    assert_eq!(
        undo_delete.action,
        Action::Undo {
            target: deletes.last().unwrap().id
        }
    );
    assert_eq!(honest.page_count(), 3);
    assert_eq!(honest.new_page().unwrap_err(), OpError::TooManyPages(3));
    let redo = honest.redo().unwrap().unwrap();
    assert_eq!(honest.pages(), vec![FIRST_PAGE, mine.id]);

    // Every replica, whatever the order, ends the same.
    let mut ops: Vec<Op> = vandal_pages;
    ops.extend(deletes);
    ops.extend([mine, undo_delete, redo]);
    let reference = honest.digest();
    for seed in 0..20 {
        let mut order = ops.clone();
        shuffle(&mut order, seed);
        let mut replica = Document::with_limits(NodeId(2), limits.clone());
        for op in order {
            replica.apply(op).unwrap();
        }
        assert_eq!(replica.digest(), reference, "order {seed}");
        assert_eq!(replica.pages(), honest.pages(), "order {seed}");
    }
}

#[test]
fn document_wide_caps_are_enforced() {
    let limits = Limits {
        max_strokes_per_page: 3,
        max_pages: 3,
        max_points_per_stroke: 10,
        ..Limits::default()
    };
    let mut doc = Document::with_limits(NodeId(1), limits);
    for _ in 0..3 {
        doc.draw_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(0, 0, 0), 1.0, &points(2))
            .unwrap();
    }
    let before = fingerprint(&doc);
    let full = doc
        .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(0, 0, 0), 1.0)
        .unwrap_err();
    assert_eq!(
        full.to_string(),
        format!("page {FIRST_PAGE} already holds 3 strokes")
    );
    assert_eq!(fingerprint(&doc), before);

    doc.new_page().unwrap();
    doc.new_page().unwrap();
    let before = fingerprint(&doc);
    assert_eq!(doc.new_page().unwrap_err(), OpError::TooManyPages(3));
    assert_eq!(fingerprint(&doc), before);

    // Overlapping chunks from a misbehaving author cannot grow a stroke past the cap.
    let mut other = Document::with_limits(
        NodeId(2),
        Limits {
            max_points_per_stroke: 10,
            ..Limits::default()
        },
    );
    let start = other
        .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(0, 0, 0), 1.0)
        .unwrap();
    let sneaky = |seq| Op {
        id: OpId {
            node: NodeId(2),
            seq,
        },
        lamport: 50 + seq,
        action: Action::StrokePoints {
            stroke: start.id,
            offset: 0,
            points: points(6),
        },
    };
    other.apply(sneaky(2)).unwrap();
    let before = fingerprint(&other);
    assert!(matches!(
        other.apply(sneaky(3)),
        Err(OpError::TooManyPoints { per: "stroke", .. })
    ));
    assert_eq!(fingerprint(&other), before);
}

#[test]
fn local_edits_of_missing_things_are_refused() {
    let mut doc = Document::new(NodeId(1));
    let ghost = OpId {
        node: NodeId(1),
        seq: 42,
    };
    assert_eq!(
        doc.extend_stroke(ghost, points(1)).unwrap_err(),
        OpError::Unknown(ghost)
    );
    assert_eq!(doc.delete_page(ghost).unwrap_err(), OpError::Unknown(ghost));
    let stroke = doc
        .draw_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(0, 0, 0), 1.0, &points(2))
        .unwrap()[0]
        .id;
    assert_eq!(
        doc.end_stroke(stroke).unwrap_err(),
        OpError::StrokeEnded(stroke)
    );
    assert_eq!(
        doc.undo().unwrap().map(|op| op.action),
        Some(Action::Undo { target: stroke })
    );
}

/// Ops that name pages nobody made (moves, clears, deletes of unknown ids) leave
/// placeholders, and the page cap counts only pages made by `NewPage`: an author cannot
/// fill the cap with pages that do not exist and stop everyone adding pages.
#[test]
fn pages_that_do_not_exist_do_not_use_up_the_page_cap() {
    let limits = Limits {
        max_pages: 3,
        ..Limits::default()
    };
    let mut doc = Document::with_limits(NodeId(1), limits);
    for seq in 1..=50u64 {
        let ghost = OpId {
            node: NodeId(66),
            seq: 1_000 + seq,
        };
        let action = match seq % 3 {
            0 => Action::MovePage {
                page: ghost,
                position: seq as f64,
            },
            1 => Action::DeletePage { page: ghost },
            _ => Action::ClearPage {
                page: ghost,
                seen: VersionVector::new(),
            },
        };
        let op = Op {
            id: OpId {
                node: NodeId(66),
                seq,
            },
            lamport: seq,
            action,
        };
        let _ = doc.apply(op);
    }
    assert_eq!(doc.page_count(), 1, "no page appeared");
    doc.new_page().unwrap();
    doc.new_page().unwrap();
    assert_eq!(doc.page_count(), 3);
    assert_eq!(doc.new_page().unwrap_err(), OpError::TooManyPages(3));
}

/// Caps decide what shows — the first pages and strokes by `(lamport, id)` — the same
/// on every replica whatever order ops arrive in, and no one's op is refused for a
/// cap (a replica at a cap would otherwise close an honest link that others took).
#[test]
fn caps_show_the_same_everywhere_and_refuse_no_ones_op() {
    let limits = Limits {
        max_pages: 3,
        max_strokes_per_page: 4,
        ..Limits::default()
    };
    let mut ops = Vec::new();
    for author in 2..6u64 {
        let mut doc = Document::new(NodeId(author));
        for _ in 0..2 {
            ops.push(doc.new_page().unwrap());
        }
        for _ in 0..3 {
            ops.extend(
                doc.draw_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(0, 0, 0), 1.0, &points(2))
                    .unwrap(),
            );
        }
    }
    let orders: Vec<Vec<Op>> = vec![
        ops.clone(),
        ops.iter().rev().cloned().collect(),
        ops.iter()
            .step_by(2)
            .chain(ops.iter().skip(1).step_by(2))
            .cloned()
            .collect(),
    ];
    let replicas: Vec<Document> = orders
        .into_iter()
        .map(|order| {
            let mut doc = Document::with_limits(NodeId(1), limits.clone());
            for op in order {
                doc.apply(op).expect("no op is refused for a cap");
            }
            doc
        })
        .collect();
    for doc in &replicas {
        assert_eq!(doc.digest(), replicas[0].digest());
        assert_eq!(doc.page_count(), 3);
        assert_eq!(doc.strokes(FIRST_PAGE).len(), 4);
        // The first by (lamport, id): authors 2 and 3's first pages and strokes.
        let shown: Vec<NodeId> = doc
            .strokes(FIRST_PAGE)
            .iter()
            .map(|s| s.id().node)
            .collect();
        assert_eq!(shown, vec![NodeId(2), NodeId(3), NodeId(4), NodeId(5)]);
        for stroke in doc.strokes(FIRST_PAGE) {
            assert!(doc.stroke(stroke.id()).is_some());
        }
    }
    // What is past the cap does not show, one by one either.
    let hidden = ops
        .iter()
        .find(|op| op.id.node == NodeId(5) && op.id.seq == 6)
        .unwrap();
    assert!(matches!(hidden.action, Action::StrokeStart { .. }));
    assert!(replicas[0].stroke(hidden.id).is_none());
    // Locally, the caps refuse.
    let mut local = replicas[0].clone();
    assert_eq!(local.new_page().unwrap_err(), OpError::TooManyPages(3));
    assert!(matches!(
        local.begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(0, 0, 0), 1.0),
        Err(OpError::PageFull { .. })
    ));
}
