//! Collaboration-tree benchmarks on 127.0.0.1, nodes in this process:
//! `cargo bench -p canopy-node [-- FILTER]` (release: debug quinn is very slow).
//!
//! - `latency_chain_K_hops`: a stroke drawn at the host until the document at the end
//!   of a chain of K joiners has it (p50, p99, and p99 per hop).
//! - `fanout_100_joiners_1000_strokes`: a burst at the host until all 100 joiners have
//!   every op; ops delivered per second.
//! - `late_join_100k_strokes`: a joiner arrives at a 100,000-stroke session; time until
//!   it holds every op. `late_join_long_strokes`: the same for 50 strokes of 81,920
//!   points (1,000 chunks of 4,096 points, 32 KB each: a frame holds about 30).
//! - `late_join_pen_10k_strokes`: a joiner arrives at a session of 10,000 strokes of
//!   100 points drawn as a pen draws them, a point an op (the host seals each after
//!   its end), printed beside the same strokes made whole (three ops each): a late
//!   join should not grow with how finely strokes were drawn.
//! - `responsive_under_load`: two children of a 100,000-stroke node exchange strokes
//!   (a stroke drawn at one until the other's document has it, through the node) while,
//!   on that node, a third child floods ops, a new joiner syncs all 100,000 strokes and
//!   a PDF of them is exported — printed beside the same exchange with the node idle,
//!   and split into strokes sent while the joiner synced and after (flood only). The
//!   flood is paced at a relay's default per-link budget (20k ops/s), then at a
//!   quarter of it (`responsive_flood_20k`, `_5k`). The node under test and the
//!   joiner run in processes of their own (this binary again, `node:ROLE`), the
//!   flooder and the joiner at the lowest priority (they stand for other machines);
//!   printed with the cores the node under test used meanwhile, how busy the machine
//!   was, and how long the node's threads were ready to run but waited for a core.
//! - `cores_4_children_drawing`: four children draw flat out into a host in a process
//!   of its own: the CPU its runtime's threads used, and how evenly.
//!
//! Every scenario runs on a spawned task of a multi-threaded runtime.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use canopy_axon::{link, Outbox};
use canopy_canvas::{Color, Point, Tool};
use canopy_node::node::{start, NodeConfig, RunningNode};
use canopy_node::session::{
    AppliedOps, DocumentInput, Edit, ExportRequest, PageRef, StatusInput, APPLIED,
};
use tokio::sync::mpsc;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let args: Vec<String> = std::env::args().skip(1).collect();
    // This binary run again as one node of a scenario, in a process of its own.
    if let Some(role) = args.first().filter(|a| a.starts_with(NODE_PROCESS)) {
        let (role, rest) = (role.clone(), args[1..].to_vec());
        runtime.block_on(async {
            tokio::spawn(node_process(role, rest)).await.unwrap();
        });
        return;
    }
    let filter = args.into_iter().find(|a| !a.starts_with('-'));
    runtime.block_on(async {
        tokio::spawn(async move {
            let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
            for hops in [1, 2, 4, 8] {
                if wanted(&format!("latency_chain_{hops}_hops")) {
                    latency(hops).await;
                }
            }
            if wanted("fanout") {
                fanout(100, 1000).await;
            }
            if wanted("late_join_100k") {
                late_join(100_000).await;
            }
            if wanted("late_join_long") {
                late_join_long(50).await;
            }
            if wanted("late_join_pen") {
                late_join_pen(10_000, 100).await;
            }
            for flood in FLOOD_OPS_PER_SECOND {
                if wanted(&format!("responsive_flood_{}k", flood as usize / 1000)) {
                    responsive(100_000, flood).await;
                }
            }
            if wanted("cores") {
                cores(4).await;
            }
        })
        .await
        .unwrap();
    });
}

struct Bench {
    _dirs: Vec<tempfile::TempDir>,
}

impl Bench {
    async fn node(&mut self, name: &str, join: Option<String>) -> RunningNode {
        let dir = tempfile::tempdir().unwrap();
        let config = NodeConfig {
            join,
            fresh: true,
            idle_timeout: Duration::from_secs(30),
            ..NodeConfig::new(dir.path().to_path_buf(), name)
        };
        self._dirs.push(dir);
        start(config).await.unwrap()
    }
}

async fn editor_url(node: &RunningNode) -> String {
    let (reply, answer) = tokio::sync::oneshot::channel();
    driver(node)
        .status
        .send(StatusInput::Full(reply))
        .await
        .unwrap();
    answer.await.unwrap().invites["editor"].clone()
}

/// Outboxes into the node's document (edits) and status (counts, digest).
struct Driver {
    document: Outbox<DocumentInput>,
    status: Outbox<StatusInput>,
}

fn driver(node: &RunningNode) -> Driver {
    let scope = node.graph.component("bench/driver");
    let document = scope.outbox::<DocumentInput>("document");
    let status = scope.outbox::<StatusInput>("status");
    link(&document.handle(), &node.session.document).unwrap();
    link(&status.handle(), &node.session.status).unwrap();
    Driver { document, status }
}

/// Every `applied` event of the node: when, and how many ops.
fn observe(node: &RunningNode) -> mpsc::UnboundedReceiver<(Instant, usize)> {
    let hub = node.graph.backplane::<AppliedOps>(APPLIED).unwrap();
    let scope = node.graph.component("bench/observer");
    let mut inbox = scope.inbox_with_capacity::<AppliedOps>("inbox", 65_536);
    hub.subscribe(&inbox.handle()).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    scope.spawn_fn(move |_| async move {
        while let Some(ids) = inbox.recv().await {
            let _ = tx.send((Instant::now(), ids.len()));
        }
        Ok(())
    });
    rx
}

fn stroke(i: usize) -> Edit {
    let (x, y) = ((i * 37 % 1800) as f32, (i * 53 % 1000) as f32);
    Edit::Stroke {
        page: PageRef::Nth(0),
        color: Color::rgb(200, 40, 40),
        width: 3.0,
        points: vec![
            Point::new(x, y),
            Point::new(x + 20.0, y + 10.0),
            Point::new(x + 40.0, y),
        ],
        tool: Tool::Pen,
    }
}

/// Ops one `stroke()` makes: start, one chunk of points, end.
const OPS_PER_STROKE: usize = 3;

fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]
}

async fn latency(hops: usize) {
    let mut bench = Bench { _dirs: Vec::new() };
    let host = bench.node("host", None).await;
    let mut chain = vec![host];
    for i in 0..hops {
        let url = editor_url(chain.last().unwrap()).await;
        chain.push(bench.node(&format!("n{i}"), Some(url)).await);
    }
    let mut arrivals = observe(chain.last().unwrap());
    let mut to_host = driver(&chain[0]);
    let mut samples = Vec::new();
    for i in 0..600 {
        let sent = Instant::now();
        to_host
            .document
            .send(DocumentInput::Local(stroke(i)))
            .await
            .unwrap();
        let (at, _) = arrivals.recv().await.unwrap();
        if i >= 100 {
            samples.push(at - sent);
        }
    }
    let p50 = percentile(&mut samples, 0.5);
    let p99 = percentile(&mut samples, 0.99);
    println!(
        "scenario=latency_chain_{hops}_hops p50_us={:.0} p99_us={:.0} per_hop_p50_us={:.0} per_hop_p99_us={:.0}",
        micros(p50),
        micros(p99),
        micros(p50) / hops as f64,
        micros(p99) / hops as f64
    );
    for node in chain {
        node.stop().await;
    }
}

async fn fanout(joiners: usize, strokes: usize) {
    let mut bench = Bench { _dirs: Vec::new() };
    let host = bench.node("host", None).await;
    let url = editor_url(&host).await;
    let mut nodes = Vec::new();
    for i in 0..joiners {
        nodes.push(bench.node(&format!("j{i}"), Some(url.clone())).await);
    }
    let expected = strokes * OPS_PER_STROKE;
    let mut to_host = driver(&host);
    let mut drivers: Vec<Driver> = nodes.iter().map(driver).collect();
    let start = Instant::now();
    for i in 0..strokes {
        to_host
            .document
            .send(DocumentInput::Local(stroke(i)))
            .await
            .unwrap();
    }
    // Done when every joiner's document holds every op (observers may miss events
    // under load by design, so ask the documents).
    let mut last = start;
    for to_joiner in &mut drivers {
        while op_count(to_joiner).await < expected as u64 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        last = Instant::now();
    }
    let elapsed = last - start;
    let digest_of = |core: &mut Driver| {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let sent = core.status.try_send(StatusInput::Full(reply)).is_ok();
        async move {
            assert!(sent);
            answer.await.unwrap().digest
        }
    };
    let host_digest = digest_of(&mut to_host).await;
    for to_joiner in &mut drivers {
        assert_eq!(
            digest_of(to_joiner).await,
            host_digest,
            "a joiner's document differs"
        );
    }
    println!(
        "scenario=fanout_{joiners}_joiners_{strokes}_strokes time_ms={:.0} ops_per_s={:.0}",
        elapsed.as_secs_f64() * 1000.0,
        (expected * joiners) as f64 / elapsed.as_secs_f64()
    );
    for node in nodes {
        node.stop().await;
    }
    host.stop().await;
}

/// A host holding `strokes` strokes, and how many ops they are.
async fn filled_host(bench: &mut Bench, strokes: usize) -> (RunningNode, u64) {
    let made = (strokes * OPS_PER_STROKE) as u64;
    (host_with(bench, (0..strokes).map(stroke), made).await, made)
}

/// A host that has drawn `edits`, once it holds all `made` ops of them.
async fn host_with(bench: &mut Bench, edits: impl Iterator<Item = Edit>, made: u64) -> RunningNode {
    let host = bench.node("host", None).await;
    let mut to_host = driver(&host);
    for edit in edits {
        to_host
            .document
            .send(DocumentInput::Local(edit))
            .await
            .unwrap();
    }
    while op_count(&mut to_host).await < made {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    host
}

/// How long a joiner arriving at `host` takes to hold its `made` ops; then both stop.
async fn timed_join(bench: &mut Bench, host: RunningNode, made: u64) -> Duration {
    let url = editor_url(&host).await;
    let start = Instant::now();
    let joiner = bench.node("late", Some(url)).await;
    let mut to_joiner = driver(&joiner);
    while op_count(&mut to_joiner).await < made {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = start.elapsed();
    joiner.stop().await;
    host.stop().await;
    elapsed
}

async fn late_join(strokes: usize) {
    let mut bench = Bench { _dirs: Vec::new() };
    let (host, made) = filled_host(&mut bench, strokes).await;
    let elapsed = timed_join(&mut bench, host, made).await;
    println!(
        "scenario=late_join_{}k_strokes time_ms={:.0} ops={made}",
        strokes / 1000,
        elapsed.as_secs_f64() * 1000.0
    );
}

/// A late join of `strokes` strokes of 20 full chunks each (pasted or imported
/// drawings, not live ones): backlog pieces are cut to fit frames.
async fn late_join_long(strokes: usize) {
    const CHUNKS: usize = 20;
    let mut bench = Bench { _dirs: Vec::new() };
    let per_op = canopy_canvas::Limits::default().max_points_per_op;
    let edits = (0..strokes).map(|i| Edit::Stroke {
        page: PageRef::Nth(0),
        color: Color::rgb(40, 40, 200),
        width: 2.0,
        points: (0..CHUNKS * per_op)
            .map(|p| Point::new((i * 31 + p % 1500) as f32, (p / 1500 * 7) as f32))
            .collect(),
        tool: Tool::Pen,
    });
    let made = (strokes * (CHUNKS + 2)) as u64;
    let host = host_with(&mut bench, edits, made).await;
    let elapsed = timed_join(&mut bench, host, made).await;
    println!(
        "scenario=late_join_long_strokes time_ms={:.0} ops={made} points={}",
        elapsed.as_secs_f64() * 1000.0,
        strokes * CHUNKS * per_op
    );
}

/// A late join of `strokes` strokes of `points` points drawn a point an op (sealed by
/// the host after each end: one op a stroke), beside the same strokes made whole.
async fn late_join_pen(strokes: usize, points: usize) {
    let points_of = |i: usize| -> Vec<Point> {
        (0..points)
            .map(|p| Point::new((i * 37 % 1800 + p) as f32, (i * 53 % 1000) as f32))
            .collect()
    };
    let mut bench = Bench { _dirs: Vec::new() };
    let pen = (0..strokes).flat_map(|i| {
        let begin = Edit::StrokeBegin {
            page: PageRef::Nth(0),
            tool: Tool::Pen,
            color: Color::rgb(20, 120, 40),
            width: 2.0,
        };
        let appends = points_of(i)
            .into_iter()
            .map(|point| Edit::StrokeAppend(vec![point]));
        std::iter::once(begin)
            .chain(appends)
            .chain(std::iter::once(Edit::StrokeEnd))
    });
    let made = strokes as u64;
    let host = host_settled(&mut bench, pen, made).await;
    let sealed = timed_join(&mut bench, host, made).await;

    let whole = (0..strokes).map(|i| Edit::Stroke {
        page: PageRef::Nth(0),
        color: Color::rgb(20, 120, 40),
        width: 2.0,
        points: points_of(i),
        tool: Tool::Pen,
    });
    let whole_made = (strokes * OPS_PER_STROKE) as u64;
    let host = host_with(&mut bench, whole, whole_made).await;
    let unsealed = timed_join(&mut bench, host, whole_made).await;
    println!(
        "scenario=late_join_pen_{}k_strokes points={points} pen_sealed_ms={:.0} ops={made} whole_ms={:.0} ops={whole_made} pen/whole={:.2}",
        strokes / 1000,
        sealed.as_secs_f64() * 1000.0,
        unsealed.as_secs_f64() * 1000.0,
        sealed.as_secs_f64() / unsealed.as_secs_f64()
    );
}

/// [`host_with`] for edits whose op count passes `made` on the way (a stroke's
/// chunks are held until its seal stands for them): settled once it holds `made`
/// ops twice, a moment apart.
async fn host_settled(
    bench: &mut Bench,
    edits: impl Iterator<Item = Edit>,
    made: u64,
) -> RunningNode {
    let host = host_with(bench, edits, made).await;
    let mut to_host = driver(&host);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if op_count(&mut to_host).await == made {
            return host;
        }
    }
}

/// Ops the node holds: a glance, so polling it does not make the node hash its whole
/// document each time (that is what `Full` adds).
async fn op_count(core: &mut Driver) -> u64 {
    let (reply, answer) = tokio::sync::oneshot::channel();
    core.status.send(StatusInput::Glance(reply)).await.unwrap();
    answer.await.unwrap().ops
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// When each batch of ops by `author` (a node id as status prints it) is applied at
/// `node`.
fn observe_author(node: &RunningNode, author: String) -> mpsc::UnboundedReceiver<Instant> {
    let hub = node.graph.backplane::<AppliedOps>(APPLIED).unwrap();
    let scope = node.graph.component("bench/author-observer");
    let mut inbox = scope.inbox_with_capacity::<AppliedOps>("inbox", 1 << 20);
    hub.subscribe(&inbox.handle()).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    scope.spawn_fn(move |_| async move {
        while let Some(ops) = inbox.recv().await {
            if ops.iter().any(|w| w.id.node.to_string() == author) {
                let _ = tx.send(Instant::now());
            }
        }
        Ok(())
    });
    rx
}

async fn status_of(driver: &mut Driver) -> canopy_node::session::Status {
    let (reply, answer) = tokio::sync::oneshot::channel();
    driver.status.send(StatusInput::Full(reply)).await.unwrap();
    answer.await.unwrap()
}

/// Strokes drawn at `from` until `to` has each: (p50, p99, strokes that never came).
/// Strokes drawn at `from` until `to` has each: (when sent, how long), and how many
/// never came.
async fn exchange(
    from: &RunningNode,
    to: &RunningNode,
    count: usize,
) -> (Vec<(Instant, Duration)>, usize) {
    let mut at_from = driver(from);
    let author = status_of(&mut at_from).await.node;
    let mut arrivals = observe_author(to, author);
    let mut samples = Vec::new();
    let mut lost = 0;
    for i in 0..count {
        // Arrivals of earlier strokes that came after their deadline are not this one.
        while arrivals.try_recv().is_ok() {}
        let sent = Instant::now();
        at_from
            .document
            .send(DocumentInput::Local(stroke(i)))
            .await
            .unwrap();
        match tokio::time::timeout(Duration::from_secs(2), arrivals.recv()).await {
            Ok(Some(at)) => samples.push((sent, at - sent)),
            _ => lost += 1,
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (samples, lost)
}

/// p50 and p99 of the latencies in `samples` sent in `window` (all if `None`), and how
/// many there were.
fn latencies(
    samples: &[(Instant, Duration)],
    window: impl Fn(Instant) -> bool,
) -> (Duration, Duration, usize) {
    let mut chosen: Vec<Duration> = samples
        .iter()
        .filter(|(sent, _)| window(*sent))
        .map(|(_, latency)| *latency)
        .collect();
    if chosen.is_empty() {
        return (Duration::ZERO, Duration::ZERO, 0);
    }
    let count = chosen.len();
    (
        percentile(&mut chosen, 0.5),
        percentile(&mut chosen, 0.99),
        count,
    )
}

/// The flooding child's paces: a relay's default op budget per link
/// (`ops_per_second` in `relay.toml`; a peer's is higher), and a quarter of it.
const FLOOD_OPS_PER_SECOND: [f64; 2] = [20_000.0, 5_000.0];

async fn responsive(strokes: usize, flood_ops_per_second: f64) {
    let mut bench = Bench { _dirs: Vec::new() };
    // The node under test runs in a process of its own, as does the joiner (another
    // machine, in life): only the node's own work shares its runtime.
    let mut host = NodeProcess::spawn(&["host", &strokes.to_string()]);
    let url = host.expect("invite ").await;
    let made: u64 = host.expect("ops ").await.parse().unwrap();
    let a = bench.node("a", Some(url.clone())).await;
    let b = bench.node("b", Some(url.clone())).await;
    // The flooder and the joiner stand for other machines: they run in processes of
    // their own at the lowest priority, so on this machine's shared cores they take
    // what the node under test and the two children measured leave.
    let mut flooder = NodeProcess::spawn_niced(19, &["flooder", &url, &made.to_string()]);
    flooder.expect("ready").await;
    for node in [&a, &b] {
        let mut d = driver(node);
        while op_count(&mut d).await < made {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let (idle, idle_lost) = exchange(&a, &b, 300).await;
    let (idle_p50, idle_p99, _) = latencies(&idle, |_| true);

    // The load, all at once on the host.
    flooder.say(&format!("flood {flood_ops_per_second}"));
    host.say("export");
    let joined_at = Instant::now();
    let host_ticks_before: u64 = worker_ticks(host.pid()).iter().map(|(_, t)| t).sum();
    let host_waits_before = waited_for_a_core(host.pid());
    let machine_before = machine_ticks();
    let mut late = NodeProcess::spawn_niced(19, &["late", &url, &made.to_string()]);
    let (load, load_lost) = exchange(&a, &b, 300).await;
    let (load_p50, load_p99, _) = latencies(&load, |_| true);
    // How much of the machine the node under test used meanwhile, and how busy the
    // machine was (the other nodes stand for other machines, but share these cores).
    let load_seconds = joined_at.elapsed().as_secs_f64();
    let host_ticks: u64 = worker_ticks(host.pid()).iter().map(|(_, t)| t).sum();
    let node_cores = host_ticks.saturating_sub(host_ticks_before) as f64 / 100.0 / load_seconds;
    let node_waited = waited_for_a_core(host.pid()).saturating_sub(host_waits_before);
    let machine_after = machine_ticks();
    let machine_busy = (machine_after.0.saturating_sub(machine_before.0)) as f64
        / (machine_after.1.saturating_sub(machine_before.1)).max(1) as f64;
    flooder.say("stop");
    let flood_rate: f64 = flooder.expect("flooded ").await.parse().unwrap();
    let exported = host.expect("exported ").await;
    let (export_ms, pdf_bytes) = exported.split_once(' ').unwrap();
    let export_time = Duration::from_secs_f64(export_ms.parse::<f64>().unwrap() / 1000.0);
    let sync_time =
        Duration::from_secs_f64(late.expect("synced ").await.parse::<f64>().unwrap() / 1000.0);
    // The same strokes, split: sent while the joiner synced, and after (flood only).
    let synced = joined_at + sync_time;
    let (_, join_p99, join_n) = latencies(&load, |sent| sent < synced);
    let (_, flood_p99, flood_n) = latencies(&load, |sent| sent >= synced);
    println!(
        "scenario=responsive_flood_{}k_idle p50_us={:.0} p99_us={:.0} lost={idle_lost}",
        flood_ops_per_second as usize / 1000,
        micros(idle_p50),
        micros(idle_p99)
    );
    println!(
        "scenario=responsive_flood_{}k_under_load p50_us={:.0} p99_us={:.0} lost={load_lost} p99_ratio={:.2} flood_ops_per_s={flood_rate:.0} join_100k_ms={:.0} pdf_export_ms={:.0} pdf_bytes={pdf_bytes}",
        flood_ops_per_second as usize / 1000,
        micros(load_p50),
        micros(load_p99),
        micros(load_p99) / micros(idle_p99).max(1.0),
        sync_time.as_secs_f64() * 1000.0,
        export_time.as_secs_f64() * 1000.0
    );
    println!(
        "scenario=responsive_flood_{}k_cpu node_under_test_cores={node_cores:.2} machine_busy={machine_busy:.2} cores={} node_under_test_runnable_but_waiting_ms={:.0} ({:.0} % of the time it ran)",
        flood_ops_per_second as usize / 1000,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        node_waited.as_secs_f64() * 1000.0,
        100.0 * node_waited.as_secs_f64() / (node_cores * load_seconds).max(f64::EPSILON)
    );
    println!(
        "scenario=responsive_flood_{}k_split p99_while_joining_us={:.0} strokes_while_joining={join_n} p99_flood_only_us={:.0} strokes_flood_only={flood_n}",
        flood_ops_per_second as usize / 1000,
        micros(join_p99),
        micros(flood_p99)
    );
    for node in [b, a] {
        node.stop().await;
    }
    drop(flooder);
    drop(late);
    drop(host);
}

/// Draws small strokes into `node` at `ops_per_second` until `stop`; the rate made.
async fn flood(
    mut node: Driver,
    ops_per_second: f64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> f64 {
    let mut sent = 0usize;
    let began = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        tick.tick().await;
        // Catch up to the pace (ticks can come late on a busy machine).
        let due = (began.elapsed().as_secs_f64() * ops_per_second) as usize;
        while sent * OPS_PER_STROKE < due {
            node.document
                .send(DocumentInput::Local(stroke(sent)))
                .await
                .unwrap();
            sent += 1;
        }
    }
    (sent * OPS_PER_STROKE) as f64 / began.elapsed().as_secs_f64()
}

/// First argument that makes this binary a scenario's node process (`node:host`, …).
const NODE_PROCESS: &str = "node:";

/// A node of a scenario in a process of its own: this binary run again with
/// `node:ROLE`. It reports on stdout, one `bench:` line per fact, and takes commands
/// on stdin; it stops when stdin closes (so it never outlives the bench).
struct NodeProcess {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
}

impl NodeProcess {
    fn spawn(args: &[&str]) -> NodeProcess {
        Self::spawn_niced(0, args)
    }

    /// [`NodeProcess::spawn`] at a lower scheduling priority (`nice`): a node that
    /// stands for another machine takes what the node under test leaves of the cores.
    fn spawn_niced(niceness: u8, args: &[&str]) -> NodeProcess {
        use std::io::BufRead;
        let mut command = std::process::Command::new("nice");
        command
            .arg("-n")
            .arg(niceness.to_string())
            .arg(std::env::current_exe().unwrap());
        let mut child = command
            .arg(format!("{NODE_PROCESS}{}", args[0]))
            .args(&args[1..])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(fact) = line.strip_prefix("bench: ") {
                    let _ = tx.send(fact.to_string());
                }
            }
        });
        NodeProcess {
            stdin: child.stdin.take(),
            child,
            lines,
        }
    }

    /// The next fact starting with `prefix`, without it.
    async fn expect(&mut self, prefix: &str) -> String {
        loop {
            let line = self.lines.recv().await.expect("the node process ended");
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_string();
            }
        }
    }

    fn say(&mut self, command: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if self.child.wait().is_err() {
            let _ = self.child.kill();
        }
    }
}

/// The node side of [`NodeProcess`].
async fn node_process(role: String, args: Vec<String>) {
    let mut bench = Bench { _dirs: Vec::new() };
    let (commands_tx, mut commands) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if commands_tx.send(line).is_err() {
                break;
            }
        }
    });
    let node = match role.trim_start_matches(NODE_PROCESS) {
        // `host STROKES`: a host holding that many strokes; `export` renders a PDF.
        "host" => {
            let (host, made) = filled_host(&mut bench, args[0].parse().unwrap()).await;
            println!("bench: invite {}", editor_url(&host).await);
            println!("bench: ops {made}");
            host
        }
        // `late URL OPS`: joins, and says when it holds OPS ops.
        "late" => {
            let began = Instant::now();
            let late = bench.node("late", Some(args[0].clone())).await;
            let wanted: u64 = args[1].parse().unwrap();
            let mut to_late = driver(&late);
            while op_count(&mut to_late).await < wanted {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            println!(
                "bench: synced {:.1}",
                began.elapsed().as_secs_f64() * 1000.0
            );
            late
        }
        // `flooder URL OPS`: joins, says when it holds OPS ops; `flood RATE` draws
        // small strokes at RATE ops a second until `stop`, then says the rate made.
        "flooder" => {
            let flooder = bench.node("flooder", Some(args[0].clone())).await;
            let wanted: u64 = args[1].parse().unwrap();
            let mut to_flooder = driver(&flooder);
            while op_count(&mut to_flooder).await < wanted {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            println!("bench: ready");
            flooder
        }
        other => panic!("no node role {other}"),
    };
    let mut flooding: Option<(
        std::sync::Arc<std::sync::atomic::AtomicBool>,
        tokio::task::JoinHandle<f64>,
    )> = None;
    while let Some(command) = commands.recv().await {
        if let Some(rate) = command.strip_prefix("flood ") {
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let task = tokio::spawn(flood(
                driver(&node),
                rate.parse().unwrap(),
                std::sync::Arc::clone(&stop),
            ));
            flooding = Some((stop, task));
        } else if command == "stop" {
            if let Some((stop, task)) = flooding.take() {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                println!("bench: flooded {:.0}", task.await.unwrap());
            }
        } else if command == "export" {
            let scope = node.graph.component("bench/exporter");
            let mut outbox = scope.outbox::<ExportRequest>("outbox");
            link(&outbox.handle(), &node.session.exporter).unwrap();
            let began = Instant::now();
            let (reply, answer) = tokio::sync::oneshot::channel();
            outbox
                .send(ExportRequest {
                    format: "pdf".into(),
                    page: 0,
                    reply,
                })
                .await
                .unwrap();
            let bytes = answer.await.unwrap().unwrap().len();
            println!(
                "bench: exported {:.1} {bytes}",
                began.elapsed().as_secs_f64() * 1000.0
            );
        }
    }
    node.stop().await;
}

/// Busy and total clock ticks of the whole machine so far (`/proc/stat`: idle and
/// iowait are not busy).
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().next() else {
        return (0, 0);
    };
    let fields: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// How long the threads of `pid` have, in all, been ready to run but waiting for a
/// core (`/proc/PID/task/TID/schedstat`, second field): on a machine whose cores the
/// other processes of a scenario keep busy, the part of a latency tail that is the
/// scheduler's, not the node's work.
fn waited_for_a_core(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let nanos: u64 = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// CPU time (user + system, clock ticks) of each tokio worker thread of `pid` (tokio
/// names them `tokio-rt-worker`; the blocking pool has the same name, idle here).
fn worker_ticks(pid: u32) -> Vec<(u32, u64)> {
    let mut ticks = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return ticks;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // pid (comm) state … utime stime: fields 14 and 15, counted after the comm.
        let Some((head, tail)) = stat.rsplit_once(") ") else {
            continue;
        };
        if !head.contains("tokio-rt-worker") {
            continue;
        }
        let fields: Vec<&str> = tail.split_whitespace().collect();
        let (Some(utime), Some(stime)) = (fields.get(11), fields.get(12)) else {
            continue;
        };
        let tid = task.file_name().to_string_lossy().parse().unwrap_or(0);
        ticks.push((
            tid,
            utime.parse::<u64>().unwrap_or(0) + stime.parse::<u64>().unwrap_or(0),
        ));
    }
    ticks
}

/// `cores_K_children_drawing`: K children draw as fast as they can into a host in a
/// process of its own; how much CPU the host's runtime threads used (in cores), and
/// each thread's share of it, busiest first (decoding, checking and encoding run per
/// link, so the work should spread over the workers, not sit on one). The children
/// share the machine, so the host cannot have both cores to itself.
async fn cores(children: usize) {
    let mut bench = Bench { _dirs: Vec::new() };
    let mut host = NodeProcess::spawn(&["host", "0"]);
    let url = host.expect("invite ").await;
    let mut nodes = Vec::new();
    for i in 0..children {
        nodes.push(bench.node(&format!("c{i}"), Some(url.clone())).await);
    }
    let before = worker_ticks(host.pid());
    let began = Instant::now();
    let drawing = Duration::from_secs(4);
    let mut tasks = Vec::new();
    for node in &nodes {
        let mut to_child = driver(node);
        tasks.push(tokio::spawn(async move {
            let mut sent = 0;
            while began.elapsed() < drawing {
                to_child
                    .document
                    .send(DocumentInput::Local(stroke(sent)))
                    .await
                    .unwrap();
                sent += 1;
                if sent % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            sent
        }));
    }
    let mut strokes = 0;
    for task in tasks {
        strokes += task.await.unwrap();
    }
    let wall = began.elapsed().as_secs_f64();
    let after = worker_ticks(host.pid());
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let mut used: Vec<f64> = after
        .iter()
        .map(|(tid, t)| {
            let start = before.iter().find(|(b, _)| b == tid).map_or(0, |(_, t)| *t);
            t.saturating_sub(start) as f64 / ticks_per_second
        })
        .collect();
    used.sort_by(|x, y| y.total_cmp(x));
    let total: f64 = used.iter().sum();
    let shares: Vec<String> = used
        .iter()
        .map(|u| format!("{:.2}", u / total.max(1e-9)))
        .collect();
    println!(
        "scenario=cores_{children}_children_drawing host_runtime_cores={:.2} thread_shares={} strokes_drawn={strokes}",
        total / wall,
        shares.join(",")
    );
    for node in nodes {
        node.stop().await;
    }
    drop(host);
}
