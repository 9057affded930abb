//! How fast the document applies, merges, hashes and renders, at the sizes the issue
//! names. Run with `cargo bench -p canopy-canvas [-- FILTER]`. Each scenario runs
//! `CANOPY_BENCH_REPS` times (default 3) and prints the median as
//! `scenario=<name> value=<n> unit=<u>`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use canopy_canvas::{render_page, Color, Document, NodeId, Op, Point, Tool, View, FIRST_PAGE};

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
        let time = median(reps, || {
            let ops = ops.clone();
            let mut doc = Document::new(NodeId(9));
            let start = Instant::now();
            for op in ops {
                doc.apply(op).unwrap();
            }
            start.elapsed()
        });
        report(
            "apply_1m_points_in_10k_strokes",
            points / time.as_secs_f64(),
            "points/s",
        );
    }

    if wanted("merge") || wanted("digest") {
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

/// Ops for `strokes` strokes of `points` points each, sent `chunk` points at a time,
/// scattered over a 1920×1080 page.
fn live_strokes(node: NodeId, strokes: usize, points: usize, chunk: usize) -> Vec<Op> {
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
    }
    ops
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
