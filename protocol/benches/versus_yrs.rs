//! Canopy beside yrs (the fastest general-purpose CRDT measured for the project) on
//! the same strokes, in the same run: 10,000 strokes of 100 points, sent one point per
//! op (drawing at 60 Hz), eight points per op, and whole (one op of 100 points: a
//! stroke drawn at once, and what a log that seals each finished stroke would serve a
//! joiner, `docs/SEALED-STROKES.md`). For each library and chunking:
//!
//! - `late_join`: a joiner gets the whole session from a holder and shows it. Ours:
//!   the holder's backlog as a node serves it (ops read from the document, with the
//!   signatures its authors' logs keep, in frames of 512 ops), then the joiner decodes
//!   the frames, verifies the author's signed log (hashes and checkpoint signatures)
//!   and applies every op. yrs: `encode_state_as_update_v1`, then `apply_update` on a
//!   new document (no signatures: yrs has none).
//! - `state_bytes`: the bytes that join takes.
//! - `joiner_heap`: heap bytes the joiner's document holds afterwards.
//! - `merge`: two replicas of 5,000 strokes each, by different authors; one takes
//!   what the other has that it lacks (ours verified as in a late join).
//!
//! The one- and eight-point chunkings are also run sealed (`…_sealed`): each stroke's
//! author seals it after its end (signed live, as the node signs: the stroke's ops,
//! then its seal), the holder keeps the signatures its `AuthorLog` keeps, and serves
//! seals in place of the ops they stand for; the joiner verifies the jumps. This is
//! the protocol's and the document's part of a sealed join; the node does not carry
//! seals yet (docs/SEALED-STROKES.md, step 3).
//!
//! Each is printed for both, with ours ÷ yrs (below 1: ours is ahead).
//! `cargo bench -p canopy-protocol --bench versus_yrs [-- FILTER]`; each scenario runs
//! `CANOPY_BENCH_REPS` times (default 3) and prints the median as
//! `scenario=<name> value=<n> unit=<u>`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use canopy_canvas::{Action, Color, Document, NodeId, Op, Point, Tool, VersionVector, FIRST_PAGE};
use canopy_protocol::{
    decode_action, encode, public_key, verify_run, AuthorKey, AuthorLog, Entry, FrameDecoder,
    Message, SessionId, Signature, Signer, Tail, WireOp,
};
use ring::signature::Ed25519KeyPair;
use yrs::updates::decoder::Decode;
use yrs::{Any, Array, ArrayPrelim, Doc, Map, MapPrelim, ReadTxn, StateVector, Transact, Update};

#[global_allocator]
static HEAP: cap::Cap<System> = cap::Cap::new(System, usize::MAX);

const STROKES: usize = 10_000;
const POINTS: usize = 100;
/// Ops a backlog frame holds (as the sync server sends them).
const FRAME_OPS: usize = 512;

fn main() {
    let reps: usize = std::env::var("CANOPY_BENCH_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .max(1);
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    for (chunk, sealed) in [
        (1, false),
        (8, false),
        (POINTS, false),
        (1, true),
        (8, true),
    ] {
        let name = |what: &str| {
            let sealed = if sealed { "_sealed" } else { "" };
            format!("versus_yrs_{what}_{chunk}pt_per_op{sealed}")
        };
        if wanted(&name("late_join"))
            || wanted(&name("state_bytes"))
            || wanted(&name("joiner_heap"))
        {
            let ours = OurHolder::new(1, STROKES, chunk, sealed);
            let theirs = yrs_holder(1, STROKES, chunk);
            let ours_join = median(reps, || ours.late_join().0);
            let theirs_join = median(reps, || yrs_late_join(&theirs).0);
            compare(&name("late_join"), ms(ours_join), ms(theirs_join), "ms");
            compare(
                &name("state_bytes"),
                ours.backlog_bytes() as f64,
                yrs_state(&theirs).len() as f64,
                "bytes",
            );
            compare(
                &name("joiner_heap"),
                ours.late_join().1 as f64,
                yrs_late_join(&theirs).1 as f64,
                "bytes",
            );
        }
        if wanted(&name("merge")) {
            let (a, b) = (
                OurHolder::new(1, STROKES / 2, chunk, sealed),
                OurHolder::new(2, STROKES / 2, chunk, sealed),
            );
            let (ya, yb) = (
                yrs_holder(1, STROKES / 2, chunk),
                yrs_holder(2, STROKES / 2, chunk),
            );
            let ours = median(reps, || a.merge_into_copy_of(&b));
            let theirs = median(reps, || yrs_merge(&ya, &yb));
            compare(&name("merge"), ms(ours), ms(theirs), "ms");
        }
    }
}

/// A node holding one author's strokes as the author drew them, with the signatures
/// its log keeps (checkpoints and the last op), as a session's holder does.
struct OurHolder {
    session: SessionId,
    author: AuthorKey,
    document: Document,
    signatures: HashMap<u64, Signature>,
}

impl OurHolder {
    fn new(seed: u8, strokes: usize, chunk: usize, sealed: bool) -> Self {
        let key = Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap();
        let author = AuthorKey(public_key(&key));
        let session = SessionId([5; 32]);
        let ops = drawn(author.node_id(), strokes, chunk, sealed);
        let signatures = if sealed {
            // Signed live, a stroke and then its seal, and kept as a holder keeps them.
            let mut signer = Signer::fresh(session, author);
            let mut log = AuthorLog::new(&session, author);
            let mut batch = Vec::new();
            for op in &ops {
                batch.push(op.clone());
                if matches!(
                    op.action,
                    Action::StrokeEnd { .. } | Action::StrokeSealed { .. }
                ) {
                    let (_, verified) = signer.sign_batch(&key, &batch).unwrap();
                    log.accept(verified);
                    batch.clear();
                }
            }
            ops.iter()
                .filter_map(|op| Some((op.id.seq, *log.signature(op.id.seq)?)))
                .collect()
        } else {
            let (wires, _) = Signer::fresh(session, author)
                .sign_batch(&key, &ops)
                .unwrap();
            wires
                .iter()
                .filter_map(|w| Some((w.id.seq, w.signature?)))
                .collect()
        };
        let mut document = Document::new(author.node_id());
        for op in ops {
            document.apply(op).unwrap();
        }
        OurHolder {
            session,
            author,
            document,
            signatures,
        }
    }

    /// The frames a joiner that has `seen` gets, as the sync server makes them: pieces
    /// of the document's ops, each kept signature with its op.
    fn backlog(&self, seen: &VersionVector) -> Vec<Vec<u8>> {
        let upto = self.document.latest_seqs();
        let mut after = None;
        let mut frames = Vec::new();
        loop {
            let ops = self
                .document
                .ops_missing_piece(seen, &upto, after, FRAME_OPS);
            let Some(last) = ops.last() else {
                return frames;
            };
            after = Some(last.id);
            let wires = ops
                .iter()
                .map(|op| WireOp {
                    signature: self.signatures.get(&op.id.seq).copied(),
                    ..WireOp::from_op(op)
                })
                .collect();
            frames.push(encode(&Message::Ops(wires)).unwrap());
        }
    }

    fn backlog_bytes(&self) -> usize {
        self.backlog(&VersionVector::new())
            .iter()
            .map(Vec::len)
            .sum()
    }

    /// Serves `into` what it lacks; `into` decodes, verifies and applies it.
    fn serve(&self, into: &mut Document) {
        let frames = self.backlog(&into.version_vector());
        let mut decoder = FrameDecoder::new();
        let mut wires = Vec::new();
        for frame in &frames {
            decoder.push(frame);
            while let Some(message) = decoder.next_message().unwrap() {
                if let Message::Ops(ops) = message {
                    wires.extend(ops);
                }
            }
        }
        drop(frames);
        // Decoded as `WireOp::to_op` does, seals included (the node refuses those
        // until it carries them).
        let ops: Vec<Op> = wires
            .iter()
            .map(|w| Op {
                id: w.id,
                lamport: w.lamport,
                action: decode_action(w.id, &w.payload).unwrap(),
            })
            .collect();
        let entries: Vec<Entry<'_>> = wires
            .iter()
            .zip(&ops)
            .map(|(w, op)| Entry::of(w, &op.action))
            .collect();
        let tail = Tail::genesis(&self.session, &self.author);
        verify_run(&self.session, &self.author, tail, &entries).unwrap();
        drop(entries);
        drop(wires);
        for op in ops {
            into.apply(op).unwrap();
        }
    }

    /// A late join: its time, and the heap the joiner's document holds after.
    fn late_join(&self) -> (Duration, usize) {
        let before = HEAP.allocated();
        let start = Instant::now();
        let mut joiner = Document::new(NodeId(99));
        self.serve(&mut joiner);
        let time = start.elapsed();
        let held = HEAP.allocated().saturating_sub(before);
        assert_eq!(joiner.stroke_count(), self.document.stroke_count());
        assert_eq!(joiner.digest(), self.document.digest());
        (time, held)
    }

    /// A copy of this replica takes what `other` has (the copy is made first).
    fn merge_into_copy_of(&self, other: &OurHolder) -> Duration {
        let mut mine = self.document.clone();
        let start = Instant::now();
        other.serve(&mut mine);
        let time = start.elapsed();
        assert_eq!(
            mine.stroke_count(),
            self.document.stroke_count() + other.document.stroke_count()
        );
        time
    }
}

/// `strokes` strokes of `POINTS` points, drawn `chunk` points per op, scattered over
/// a page (each sealed after its end if `sealed`).
fn drawn(node: NodeId, strokes: usize, chunk: usize, sealed: bool) -> Vec<Op> {
    let mut doc = Document::new(node);
    let mut ops = Vec::with_capacity(strokes * (POINTS / chunk + 2));
    for (i, path) in paths(strokes).into_iter().enumerate() {
        let color = Color::rgb(i as u8, (i >> 8) as u8, 40);
        let start = doc.begin_stroke(FIRST_PAGE, Tool::Pen, color, 3.0).unwrap();
        let id = start.id;
        ops.push(start);
        for piece in path.chunks(chunk) {
            ops.push(doc.extend_stroke(id, piece.to_vec()).unwrap());
        }
        ops.push(doc.end_stroke(id).unwrap());
        if sealed {
            ops.push(doc.seal_stroke(id).unwrap());
        }
    }
    ops
}

fn paths(strokes: usize) -> Vec<Vec<Point>> {
    (0..strokes)
        .map(|i| {
            let (x, y) = ((i * 37 % 1800) as f32, (i * 53 % 1000) as f32);
            (0..POINTS)
                .map(|k| Point::new(x + k as f32 * 3.0, y + (k as f32 * 0.3).sin() * 20.0))
                .collect()
        })
        .collect()
}

/// The same strokes in yrs: an array of strokes, each a map of its style and an
/// array of its points' coordinates, one transaction per op as drawn.
fn yrs_holder(client: u64, strokes: usize, chunk: usize) -> Doc {
    let doc = Doc::with_client_id(client);
    let all = doc.get_or_insert_array("strokes");
    for (i, path) in paths(strokes).into_iter().enumerate() {
        let points = {
            let mut txn = doc.transact_mut();
            let stroke = all.push_back(
                &mut txn,
                MapPrelim::from([
                    ("page", Any::from(0.0)),
                    ("tool", Any::from("pen")),
                    ("color", Any::from(f64::from(i as u32 & 0xff_ffff))),
                    ("width", Any::from(3.0)),
                ]),
            );
            stroke.insert(&mut txn, "points", ArrayPrelim::default())
        };
        for piece in path.chunks(chunk) {
            let mut txn = doc.transact_mut();
            let coordinates: Vec<Any> = piece
                .iter()
                .flat_map(|p| [Any::from(f64::from(p.x)), Any::from(f64::from(p.y))])
                .collect();
            let end = points.len(&txn);
            points.insert_range(&mut txn, end, coordinates);
        }
        let mut txn = doc.transact_mut();
        if let Some(yrs::Out::YMap(stroke)) = all.get(&txn, all.len(&txn) - 1) {
            stroke.insert(&mut txn, "ended", true);
        }
    }
    doc
}

fn yrs_state(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

/// A late join in yrs: its time, and the heap the joiner's document holds after.
fn yrs_late_join(holder: &Doc) -> (Duration, usize) {
    let before = HEAP.allocated();
    let start = Instant::now();
    let update = yrs_state(holder);
    let joiner = Doc::with_client_id(99);
    joiner
        .transact_mut()
        .apply_update(Update::decode_v1(&update).unwrap())
        .unwrap();
    drop(update);
    let time = start.elapsed();
    let held = HEAP.allocated().saturating_sub(before);
    let strokes = joiner.get_or_insert_array("strokes");
    let original = holder.get_or_insert_array("strokes");
    assert_eq!(
        strokes.len(&joiner.transact()),
        original.len(&holder.transact())
    );
    (time, held)
}

/// A copy of `a` takes what `b` has that it lacks.
fn yrs_merge(a: &Doc, b: &Doc) -> Duration {
    let mine = Doc::with_client_id(a.client_id());
    mine.transact_mut()
        .apply_update(Update::decode_v1(&yrs_state(a)).unwrap())
        .unwrap();
    let start = Instant::now();
    let diff = b.transact().encode_diff_v1(&mine.transact().state_vector());
    mine.transact_mut()
        .apply_update(Update::decode_v1(&diff).unwrap())
        .unwrap();
    let time = start.elapsed();
    let strokes = mine.get_or_insert_array("strokes");
    assert_eq!(strokes.len(&mine.transact()) as usize, STROKES);
    time
}

fn median(reps: usize, mut run: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..reps).map(|_| run()).collect();
    times.sort();
    times[times.len() / 2]
}

fn ms(time: Duration) -> f64 {
    time.as_secs_f64() * 1000.0
}

/// Prints ours, yrs's, and ours ÷ yrs.
fn compare(name: &str, ours: f64, theirs: f64, unit: &str) {
    println!("scenario={name}_ours value={ours:.1} unit={unit}");
    println!("scenario={name}_yrs value={theirs:.1} unit={unit}");
    println!(
        "scenario={name}_ours_vs_yrs value={:.2} unit=ratio",
        ours / theirs.max(f64::MIN_POSITIVE)
    );
}
