//! What signed authorship costs: signature checks per second on one core, a late
//! joiner's run of 300,000 ops verified (hashes and checkpoint signatures) beside the
//! same ops with every signature checked, and the bytes signing adds per stroke, live
//! and in a backlog. `cargo bench -p canopy-protocol [-- FILTER]`; each scenario runs
//! `CANOPY_BENCH_REPS` times (default 3) and prints the median as
//! `scenario=<name> value=<n> unit=<u>`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use canopy_canvas::{Color, Document, Op, Point, Shape, Tool, FIRST_PAGE};
use canopy_protocol::{
    encode, public_key, verify_run, AuthorKey, Entry, Head, Message, SessionId, Signature, Signer,
    Tail, WireOp,
};
use ring::signature::Ed25519KeyPair;

const STROKES: usize = 100_000;

fn main() {
    let reps: usize = std::env::var("CANOPY_BENCH_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .max(1);
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let key = Ed25519KeyPair::from_seed_unchecked(&[3; 32]).unwrap();
    let author = AuthorKey(public_key(&key));
    let session = SessionId([5; 32]);

    if wanted("signatures") {
        let head = Head([9; 32]);
        let signature = Signature::sign(&key, &session, 1, &head);
        let n = 5_000;
        let time = median(reps, || {
            let start = Instant::now();
            for _ in 0..n {
                assert!(std::hint::black_box(&signature).verify(&author, &session, 1, &head));
            }
            start.elapsed()
        });
        report(
            "signature_verifications_one_core",
            n as f64 / time.as_secs_f64(),
            "per_s",
        );
        let time = median(reps, || {
            let start = Instant::now();
            for seq in 0..n {
                std::hint::black_box(Signature::sign(&key, &session, seq, &head));
            }
            start.elapsed()
        });
        report(
            "signatures_made_one_core",
            n as f64 / time.as_secs_f64(),
            "per_s",
        );
    }

    // 100,000 strokes drawn live: start, 20 points, end; signed one stroke at a time.
    let strokes = strokes(&key, session, author);
    let live: Vec<WireOp> = strokes.iter().flatten().cloned().collect();

    if wanted("late_join") {
        // What a late joiner receives: the log, signed at checkpoints and at its end.
        let backlog: Vec<WireOp> = {
            let ops: Vec<Op> = live.iter().map(|w| w.to_op().unwrap()).collect();
            Signer::fresh(session, author)
                .sign_batch(&key, &ops)
                .unwrap()
                .0
        };
        /// `(seq, lamport, payload, signature, shape)` of an op, decoded before timing.
        type Decoded = (u64, u64, Vec<u8>, Option<Signature>, Shape);
        let entries = |wires: &[WireOp]| -> Vec<Decoded> {
            wires
                .iter()
                .map(|w| {
                    let shape = Shape::of(&w.to_op().unwrap().action);
                    (w.id.seq, w.lamport, w.payload.clone(), w.signature, shape)
                })
                .collect()
        };
        let backlog = entries(&backlog);
        let time = median(reps, || {
            let start = Instant::now();
            let run: Vec<Entry<'_>> = backlog
                .iter()
                .map(|(seq, lamport, payload, signature, shape)| Entry {
                    seq: *seq,
                    lamport: *lamport,
                    payload,
                    signature: signature.as_ref(),
                    shape: *shape,
                })
                .collect();
            let tail = Tail::genesis(&session, &author);
            std::hint::black_box(verify_run(&session, &author, tail, &run).unwrap());
            start.elapsed()
        });
        let ops = backlog.len() as f64;
        report(
            "late_join_300k_ops_verified_ms",
            time.as_secs_f64() * 1000.0,
            "ms",
        );
        report(
            "late_join_ops_verified_per_s",
            ops / time.as_secs_f64(),
            "ops/s",
        );
        // Beside it: every op's own signature checked (what signing each op alone,
        // without the hash chain, would cost a joiner).
        let every: Vec<(Signature, Head, u64)> = {
            let mut head = Head::genesis(&session, &author);
            backlog
                .iter()
                .map(|(seq, lamport, payload, _, _)| {
                    head = head.next(*seq, *lamport, payload);
                    (Signature::sign(&key, &session, *seq, &head), head, *seq)
                })
                .collect()
        };
        let sample = 20_000;
        let each = median(reps, || {
            let start = Instant::now();
            for (signature, head, seq) in every.iter().take(sample) {
                assert!(signature.verify(&author, &session, *seq, head));
            }
            start.elapsed()
        });
        let each_total = each.as_secs_f64() * ops / sample as f64;
        report(
            "late_join_300k_ops_every_op_checked_ms",
            each_total * 1000.0,
            "ms",
        );
        report(
            "late_join_every_op_checked_vs_chain",
            each_total / time.as_secs_f64(),
            "ratio",
        );
    }

    if wanted("bytes") {
        let unsigned = |wires: &[WireOp]| -> Vec<WireOp> {
            wires
                .iter()
                .map(|w| WireOp {
                    signature: None,
                    ..w.clone()
                })
                .collect()
        };
        // Encoded as a node sends them: a stroke live, a backlog in pieces of 512.
        let size = |wires: Vec<WireOp>| -> f64 {
            wires
                .chunks(512)
                .map(|piece| encode(&Message::Ops(piece.to_vec())).unwrap().len() as f64)
                .sum()
        };
        let stroke = &strokes[0];
        let signed = size(stroke.clone());
        let plain = size(unsigned(stroke));
        // `plain` has each op's empty signature tag (a byte each): the part of the
        // overhead every op pays.
        report("bytes_per_stroke_live_unsigned", plain, "bytes");
        report(
            "signing_bytes_per_stroke_live",
            signed - plain + stroke.len() as f64,
            "bytes",
        );
        let all: Vec<WireOp> = live.clone();
        let ops: Vec<Op> = all.iter().map(|w| w.to_op().unwrap()).collect();
        let backlog = Signer::fresh(session, author)
            .sign_batch(&key, &ops)
            .unwrap()
            .0;
        let signed = size(backlog.clone());
        let plain = size(unsigned(&backlog));
        report(
            "signing_bytes_per_stroke_backlog",
            (signed - plain + backlog.len() as f64) / STROKES as f64,
            "bytes",
        );
        report("bytes_per_stroke_backlog", signed / STROKES as f64, "bytes");
    }
}

/// `STROKES` strokes of 20 points as an author draws them: each stroke its own
/// signed batch (start, points, end).
fn strokes(key: &Ed25519KeyPair, session: SessionId, author: AuthorKey) -> Vec<Vec<WireOp>> {
    let mut document = Document::new(author.node_id());
    let mut signer = Signer::fresh(session, author);
    (0..STROKES)
        .map(|i| {
            let (x, y) = ((i * 37 % 1880) as f32, (i * 53 % 1040) as f32);
            let points: Vec<Point> = (0..20)
                .map(|k| Point::new(x + k as f32 * 2.0, y + (k as f32 * 0.5).sin() * 8.0))
                .collect();
            let ops = document
                .draw_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(20, 20, 20), 2.0, &points)
                .unwrap();
            signer.sign_batch(key, &ops).unwrap().0
        })
        .collect()
}

fn median(reps: usize, mut run: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..reps).map(|_| run()).collect();
    times.sort();
    times[times.len() / 2]
}

fn report(name: &str, value: f64, unit: &str) {
    println!("scenario={name} value={value:.1} unit={unit}");
}
