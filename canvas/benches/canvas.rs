//! How fast the document applies, merges, hashes and renders, at the sizes the issue
//! names. Run with `cargo bench -p canopy-canvas [-- FILTER]`. Each scenario runs
//! `CANOPY_BENCH_REPS` times (default 3) and prints the median as
//! `scenario=<name> value=<n> unit=<u>`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use canopy_canvas::{
    render_page, Action, Color, Document, NodeId, Op, OpId, Point, Tool, VersionVector, View,
    FIRST_PAGE,
};

fn main() {
    let reps: usize = std::env::var("CANOPY_BENCH_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .max(1);
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));

    if wanted("apply") {
        // 1,000,000 points in 10,000 strokes, streamed live in chunks of 10 points.
        let ops = live_strokes(NodeId(1), 10_000, 100, 10);
        let points = 1_000_000.0;
        let time = median(reps, || applied(&ops).0);
        report(
            "apply_1m_points_in_10k_strokes",
            points / time.as_secs_f64(),
            "points/s",
        );
    }

    if wanted("merge") || wanted("digest") || wanted("copy") {
        // Two documents of 100,000 strokes each, sharing 50,000.
        let shared = live_strokes(NodeId(1), 50_000, 12, 12);
        let mut left = Document::new(NodeId(2));
        let mut right = Document::new(NodeId(3));
        for op in shared {
            left.apply(op.clone()).unwrap();
            right.apply(op).unwrap();
        }
        for op in live_strokes(NodeId(2), 50_000, 12, 12) {
            left.apply(op).unwrap();
        }
        for op in live_strokes(NodeId(3), 50_000, 12, 12) {
            right.apply(op).unwrap();
        }
        if wanted("merge") {
            let time = median(reps, || {
                let (mut a, mut b) = (left.clone(), right.clone());
                let start = Instant::now();
                let for_a = b.ops_missing_from(&a.version_vector());
                let for_b = a.ops_missing_from(&b.version_vector());
                for op in for_a {
                    a.apply(op).unwrap();
                }
                for op in for_b {
                    b.apply(op).unwrap();
                }
                let elapsed = start.elapsed();
                assert_eq!(a.digest(), b.digest());
                elapsed
            });
            report("merge_100k_and_100k_sharing_half", ms(time), "ms");
        }
        if wanted("copy") {
            // What an export's snapshot of the sync replica costs.
            let time = median(reps, || {
                let start = Instant::now();
                let copy = std::hint::black_box(left.clone());
                let elapsed = start.elapsed();
                drop(copy);
                elapsed
            });
            report("copy_100k_strokes", ms(time), "ms");
        }
        if wanted("digest") {
            assert_eq!(left.stroke_count(), 100_000);
            let time = median(reps, || {
                let start = Instant::now();
                std::hint::black_box(left.digest());
                start.elapsed()
            });
            report("digest_100k_strokes", ms(time), "ms");
        }
    }

    if wanted("hostile") {
        hostile(reps);
    }

    if wanted("sealed") {
        sealed(reps);
    }

    if wanted("render") {
        let mut doc = Document::new(NodeId(1));
        for op in live_strokes(NodeId(1), 10_000, 30, 30) {
            doc.apply(op).unwrap();
        }
        let view = View {
            origin: Point::new(0.0, 0.0),
            scale: 1.0,
            width: 1920,
            height: 1080,
        };
        let time = median(reps, || {
            let start = Instant::now();
            std::hint::black_box(render_page(&doc, FIRST_PAGE, &view).unwrap());
            start.elapsed()
        });
        report("render_1920x1080_10k_strokes", ms(time), "ms");
    }
}

/// What input an attacker chooses costs, as a ratio to the same amount of honest input
/// (nothing may grow quadratically): one stroke's 100,000 one-point chunks sent last
/// first vs in order (applied, then served as a backlog), and reading a page of 10,000
/// strokes after 2,000 clears vs after one.
fn hostile(reps: usize) {
    const CHUNKS: u32 = 100_000;
    let attacker = NodeId(0xbad);
    let op = |seq: u64, action: Action| Op {
        id: OpId {
            node: attacker,
            seq,
        },
        lamport: seq,
        action,
    };
    let stroke_ops = |backwards: bool| {
        let mut ops = vec![op(
            1,
            Action::StrokeStart {
                page: FIRST_PAGE,
                tool: Tool::Pen,
                color: Color::rgb(0, 0, 0),
                width: 2.0,
            },
        )];
        for n in 0..CHUNKS {
            let offset = if backwards { CHUNKS - 1 - n } else { n };
            ops.push(op(
                u64::from(n) + 2,
                Action::StrokePoints {
                    stroke: OpId {
                        node: attacker,
                        seq: 1,
                    },
                    offset,
                    points: vec![Point::new(offset as f32 / 100.0, 1.0)],
                },
            ));
        }
        ops
    };
    let apply = |ops: &Vec<Op>| {
        let mut held = Document::new(NodeId(9));
        let time = median(reps, || {
            let (time, doc) = applied(ops);
            held = doc;
            time
        });
        let served = median(reps, || {
            let start = Instant::now();
            std::hint::black_box(held.ops_missing_from(&VersionVector::new()));
            start.elapsed()
        });
        (time, served)
    };
    let (forwards, forwards_served) = apply(&stroke_ops(false));
    let (backwards, backwards_served) = apply(&stroke_ops(true));
    report(
        "hostile_100k_chunks_backwards_apply_ratio",
        backwards.as_secs_f64() / forwards.as_secs_f64(),
        &format!(
            "x (backwards {:.0} ms, forwards {:.0} ms)",
            ms(backwards),
            ms(forwards)
        ),
    );
    report(
        "hostile_100k_chunks_backwards_backlog_ratio",
        backwards_served.as_secs_f64() / forwards_served.as_secs_f64(),
        &format!(
            "x (backwards {:.0} ms, forwards {:.0} ms)",
            ms(backwards_served),
            ms(forwards_served)
        ),
    );

    let page_after_clears = |clears: u64| {
        let mut doc = Document::new(NodeId(9));
        for op in live_strokes(NodeId(1), 10_000, 3, 3) {
            doc.apply(op).unwrap();
        }
        // Each clear by its own author, covering nothing drawn (only its author's ops).
        for n in 0..clears {
            let author = NodeId(1_000 + n);
            let mut seen = VersionVector::new();
            seen.0.insert(author, 1);
            let clear = Op {
                id: OpId {
                    node: author,
                    seq: 1,
                },
                lamport: 1,
                action: Action::ClearPage {
                    page: FIRST_PAGE,
                    seen,
                },
            };
            doc.apply(clear).unwrap();
        }
        median(reps, || {
            let start = Instant::now();
            assert_eq!(std::hint::black_box(doc.strokes(FIRST_PAGE)).len(), 10_000);
            start.elapsed()
        })
    };
    let one = page_after_clears(1);
    let many = page_after_clears(2_000);
    report(
        "hostile_2000_clears_read_ratio",
        many.as_secs_f64() / one.as_secs_f64(),
        &format!("x (2000 clears {:.2} ms, one {:.2} ms)", ms(many), ms(one)),
    );
}

/// Sealed strokes at the document: 10,000 strokes of 100 points drawn one point an
/// op, each sealed after its end. What sealing costs a live holder (as a ratio to the
/// same strokes unsealed), what serving a backlog costs it, and what a joiner gets
/// and spends: ops served, and the time to apply them, each against the unsealed
/// log. (Signatures, frames and payloads are the protocol's: `versus_yrs`.)
fn sealed(reps: usize) {
    let chunked = live_strokes(NodeId(1), 10_000, 100, 1);
    let sealed = live_strokes_sealed(NodeId(1), 10_000, 100, 1);
    let live_chunked = median(reps, || applied(&chunked).0);
    let live_sealed = median(reps, || applied(&sealed).0);
    report_ratio(
        "sealed_live_apply_1pt_ratio",
        live_sealed,
        live_chunked,
        "sealed, unsealed",
    );
    let (holder_chunked, holder_sealed) = (applied(&chunked).1, applied(&sealed).1);
    let serve = |holder: &Document| {
        median(reps, || {
            let start = Instant::now();
            std::hint::black_box(holder.ops_missing_from(&VersionVector::new()));
            start.elapsed()
        })
    };
    report_ratio(
        "sealed_serve_1pt_ratio",
        serve(&holder_sealed),
        serve(&holder_chunked),
        "sealed, unsealed",
    );
    let backlog_chunked = holder_chunked.ops_missing_from(&VersionVector::new());
    let backlog_sealed = holder_sealed.ops_missing_from(&VersionVector::new());
    println!(
        "scenario=sealed_backlog_ops_1pt value={} unit=ops (unsealed {})",
        backlog_sealed.len(),
        backlog_chunked.len()
    );
    let join_chunked = median(reps, || applied(&backlog_chunked).0);
    let join_sealed = median(reps, || applied(&backlog_sealed).0);
    report_ratio(
        "sealed_join_apply_1pt_ratio",
        join_sealed,
        join_chunked,
        "sealed, unsealed",
    );
    // The same drawing (the ids differ: seals take numbers of their own).
    assert_eq!(
        applied(&backlog_sealed).1.picture(),
        applied(&backlog_chunked).1.picture()
    );
}

fn report_ratio(scenario: &str, time: Duration, baseline: Duration, names: &str) {
    println!(
        "scenario={scenario} value={:.3} unit=x ({names}: {:.0} ms, {:.0} ms)",
        time.as_secs_f64() / baseline.as_secs_f64(),
        ms(time),
        ms(baseline)
    );
}

/// Ops for `strokes` strokes of `points` points each, sent `chunk` points at a time,
/// scattered over a 1920×1080 page.
fn live_strokes(node: NodeId, strokes: usize, points: usize, chunk: usize) -> Vec<Op> {
    drawn(node, strokes, points, chunk, false)
}

/// [`live_strokes`], each stroke sealed right after its end.
fn live_strokes_sealed(node: NodeId, strokes: usize, points: usize, chunk: usize) -> Vec<Op> {
    drawn(node, strokes, points, chunk, true)
}

fn drawn(node: NodeId, strokes: usize, points: usize, chunk: usize, seal: bool) -> Vec<Op> {
    let mut doc = Document::new(node);
    let mut ops = Vec::with_capacity(strokes * (points / chunk + 2));
    let mut seed: u32 = 0x9e37_79b9 ^ node.0 as u32;
    for _ in 0..strokes {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let (x, y) = ((seed >> 8) % 1800, (seed >> 20) % 1000);
        let color = Color::rgb(seed as u8, (seed >> 8) as u8, (seed >> 16) as u8);
        let start = doc.begin_stroke(FIRST_PAGE, Tool::Pen, color, 3.0).unwrap();
        let id = start.id;
        ops.push(start);
        let path: Vec<Point> = (0..points)
            .map(|i| {
                Point::new(
                    x as f32 + i as f32 * 3.0,
                    y as f32 + (i as f32 * 0.3).sin() * 20.0,
                )
            })
            .collect();
        for piece in path.chunks(chunk) {
            ops.push(doc.extend_stroke(id, piece.to_vec()).unwrap());
        }
        ops.push(doc.end_stroke(id).unwrap());
        if seal {
            ops.push(doc.seal_stroke(id).unwrap());
        }
    }
    ops
}

/// A fresh document with `ops` applied, and how long applying took.
fn applied(ops: &[Op]) -> (Duration, Document) {
    let ops = ops.to_vec();
    let mut doc = Document::new(NodeId(9));
    let start = Instant::now();
    for op in ops {
        doc.apply(op).unwrap();
    }
    (start.elapsed(), doc)
}

fn median(reps: usize, mut run: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..reps).map(|_| run()).collect();
    times.sort();
    times[times.len() / 2]
}

fn ms(time: Duration) -> f64 {
    time.as_secs_f64() * 1000.0
}

fn report(scenario: &str, value: f64, unit: &str) {
    println!("scenario={scenario} value={value:.1} unit={unit}");
}
