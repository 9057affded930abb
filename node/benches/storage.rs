//! `.canopy` file benchmarks: `cargo bench -p canopy-node --bench storage`.
//!
//! - `persist_ops`: ops appended per second in the batches the store component uses.
//! - `open_100k_strokes`: open and check a 100,000-stroke file and rebuild its document;
//!   `open_100k_strokes_first_page`: the same, then render its first page at 1080p
//!   on all cores (`canopy_node::pages`, as exports do); the one-core render is
//!   printed beside it as the baseline.
//! - `seek_one_hour_recording`: the document as it was 30 minutes into a one-hour
//!   recording, as `canopy play --from 1800` gets it (loaded on two cores; the copy
//!   into the replay's file, done in the background, is timed beside it); and
//!   read-then-apply on one core as a baseline.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use canopy_canvas::{Color, Document, NodeId, Point, Tool, View, FIRST_PAGE};
use canopy_node::storage::{now_ms, Meta, Store};
use canopy_protocol::{SessionId, WireOp};

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let strokes = 100_000;
    let ops = recorded_ops(strokes);

    // Persist, in 20,000-op transactions like the store component.
    let path = dir.path().join("bench.canopy");
    let mut store = Store::create(&path, &meta()).unwrap();
    let started = Instant::now();
    for batch in ops.chunks(20_000) {
        store.append(batch).unwrap();
    }
    let elapsed = started.elapsed();
    println!(
        "scenario=persist_ops value={:.0} unit=ops/s",
        ops.len() as f64 / elapsed.as_secs_f64()
    );
    drop(store);

    // Open the 100,000-stroke file.
    let started = Instant::now();
    let store = Store::open(&path).unwrap();
    let document = store.document().unwrap();
    let opened = started.elapsed();
    assert_eq!(document.stroke_count(), strokes);
    println!(
        "scenario=open_100k_strokes value={:.0} unit=ms",
        opened.as_secs_f64() * 1000.0
    );
    let view = View {
        origin: Point::new(0.0, 0.0),
        scale: 1.0,
        width: 1920,
        height: 1080,
    };
    let rendered = Instant::now();
    std::hint::black_box(canopy_node::pages::render_page(&document, FIRST_PAGE, &view).unwrap());
    println!(
        "scenario=open_100k_strokes_first_page value={:.0} unit=ms",
        (opened + rendered.elapsed()).as_secs_f64() * 1000.0
    );
    let one_core = Instant::now();
    std::hint::black_box(canopy_canvas::render_page(&document, FIRST_PAGE, &view).unwrap());
    println!(
        "scenario=first_page_render_one_core value={:.0} unit=ms",
        one_core.elapsed().as_secs_f64() * 1000.0
    );

    // Seek half-way into a one-hour recording (arrival times spread over an hour).
    // What `canopy play --from 1800` does before playing: the document as it was
    // then, loaded on two cores (the copy into the replay's file follows in the
    // background, timed separately below).
    let started = Instant::now();
    let start_ms = store.first_arrival().unwrap().unwrap();
    let until = start_ms + 30 * 60 * 1000;
    let document = store.document_as_of(until, NodeId(8)).unwrap();
    let elapsed = started.elapsed();
    assert!(document.stroke_count() > strokes / 3 && document.stroke_count() < strokes);
    println!(
        "scenario=seek_one_hour_recording value={:.0} unit=ms",
        elapsed.as_secs_f64() * 1000.0
    );
    // The ops before the point become the replaying node's own signed ops: made
    // again, signed (once per 256 and at the end), written to its file.
    let imported = Instant::now();
    let pkcs8 =
        |seed: u8| ring::signature::Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap();
    let (session_key, node_key) = (pkcs8(1), pkcs8(2));
    let (session, authority) = canopy_protocol::Authority::root(&session_key, &node_key, 1);
    let me = canopy_node::session::author_id(&node_key);
    let mut replay = Store::create(
        &dir.path().join("replay.canopy"),
        &Meta {
            session,
            node: me,
            ..meta()
        },
    )
    .unwrap();
    let mut replayed = Document::new(me);
    let authors = canopy_node::import::load_authors(&replay, session, Some(&authority)).unwrap();
    let made = canopy_node::import::import_file(
        &store,
        until,
        &mut replay,
        &mut replayed,
        &authors,
        &node_key,
        &mut canopy_canvas::Reauthor::new(),
    )
    .unwrap();
    assert_eq!(replayed.picture(), document.picture());
    println!(
        "scenario=seek_signed_import_into_replay_file value={:.0} unit=ms ops={made}",
        imported.elapsed().as_secs_f64() * 1000.0
    );
    // Baselines in the same run: read then apply on one core, and only reading.
    let started = Instant::now();
    let mut one_core = Document::new(NodeId(7));
    for (_, op) in store.ops_before(until).unwrap() {
        one_core.apply(op.to_op().unwrap()).unwrap();
    }
    println!(
        "scenario=seek_one_hour_recording_one_core value={:.0} unit=ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(one_core.digest(), document.digest());
    let started = Instant::now();
    std::hint::black_box(store.ops_before(until).unwrap());
    println!(
        "scenario=seek_one_hour_recording_read_only value={:.0} unit=ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
}

fn meta() -> Meta {
    Meta {
        session: SessionId([9; 32]),
        node: NodeId(1),
        created_ms: now_ms(),
        title: "bench".into(),
        signed: false,
    }
}

/// A one-hour recording: `strokes` strokes of 20 points, evenly spread over an hour.
fn recorded_ops(strokes: usize) -> Vec<(u64, WireOp)> {
    let mut doc = Document::new(NodeId(1));
    let start = 1_700_000_000_000u64;
    let mut ops = Vec::with_capacity(strokes * 3);
    for i in 0..strokes {
        let at = start + (i as u64 * 3_600_000) / strokes as u64;
        let (x, y) = ((i * 37 % 1800) as f32, (i * 53 % 1000) as f32);
        let points: Vec<Point> = (0..20)
            .map(|k| Point::new(x + k as f32 * 3.0, y + (k as f32 * 0.4).sin() * 10.0))
            .collect();
        for op in doc
            .draw_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(20, 20, 200), 2.0, &points)
            .unwrap()
        {
            ops.push((at, WireOp::from_op(&op)));
        }
    }
    ops
}
