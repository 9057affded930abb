//! Relay under load: `cargo bench -p canopy-relay --bench relay`.
//!
//! A real `canopy-relay` process (release build) on 127.0.0.1 with 50 sessions; 1,000
//! peers (20 per session) connect from this process over QUIC and speak the protocol
//! by hand, so the relay is the only Canopy node measured. Then one peer per session
//! draws a stroke every 50 ms while the others receive. Prints:
//!
//! - `relay_connect_1000_peers`: time until all 1,000 peers are welcomed;
//! - `relay_memory_per_idle_peer`: the relay's resident memory growth per connected
//!   (idle) peer, from `/proc/PID/status`;
//! - `relay_ops_delivered`: ops per second the relay delivered to peers while drawing;
//! - `relay_stroke_latency_p50` / `_p99`: a stroke's first op, from the drawer's send
//!   to each receiver in its session.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use canopy_canvas::{Color, Document, NodeId, OpId, Point, Tool, VersionVector, FIRST_PAGE};
use canopy_protocol::{
    encode, public_key, AuthorKey, FrameDecoder, Hello, JoinUrl, Message, SessionId, Signer,
    PROTOCOL_VERSION,
};
use ring::signature::Ed25519KeyPair;

const SESSIONS: usize = 50;
const PEERS_PER_SESSION: usize = 20;
const DRAW_FOR: Duration = Duration::from_secs(10);
const STROKE_EVERY: Duration = Duration::from_millis(50);
const TOKEN: &str = "bench-admin-token-0123456789";

struct RelayProcess {
    child: Child,
    address: SocketAddr,
    admin: String,
    _dir: tempfile::TempDir,
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_relay() -> RelayProcess {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_canopy-relay"))
        .arg("--data")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(["--admin-token", TOKEN, "--log", "warn"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut address = None;
    let mut admin = None;
    while address.is_none() || admin.is_none() {
        let line = lines.next().unwrap().unwrap();
        if let Some(a) = line.strip_prefix("relay ") {
            address = Some(a.parse().unwrap());
        }
        if let Some(a) = line.strip_prefix("admin ") {
            admin = Some(a.to_string());
        }
    }
    RelayProcess {
        child,
        address: address.unwrap(),
        admin: admin.unwrap(),
        _dir: dir,
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn new_session(admin: &str) -> JoinUrl {
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let body: serde_json::Value = agent
        .post(&format!("{admin}/sessions"))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .send_json(serde_json::json!({ "title": "bench" }))
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    body["invites"]["editor"].as_str().unwrap().parse().unwrap()
}

/// A hand-spoken peer: its key, its connection and streams after the welcome.
struct Peer {
    key: Ed25519KeyPair,
    node: NodeId,
    session: SessionId,
    _connection: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    decoder: FrameDecoder,
}

async fn connect(
    endpoint: &quinn::Endpoint,
    address: SocketAddr,
    url: &JoinUrl,
    number: u64,
) -> Peer {
    let (config, _) =
        canopy_node::tls::client_config(url.fingerprint.unwrap(), Duration::from_secs(60)).unwrap();
    let connection = endpoint
        .connect_with(config, address, "canopy")
        .unwrap()
        .await
        .unwrap();
    let key = Ed25519KeyPair::from_pkcs8(
        Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .unwrap()
            .as_ref(),
    )
    .unwrap();
    let author = AuthorKey(public_key(&key));
    let hello = Hello {
        protocol: PROTOCOL_VERSION,
        session: url.session,
        node: author.node_id(),
        node_key: author.0,
        name: format!("peer{number}"),
        invite: url.invite.clone(),
        seen: VersionVector::default(),
    };
    let (_, send, recv, decoder) = canopy_node::link::join_handshake(&connection, &hello, &key)
        .await
        .unwrap();
    Peer {
        key,
        node: author.node_id(),
        session: url.session,
        _connection: connection,
        send,
        recv,
        decoder,
    }
}

fn percentile(samples: &mut [Duration], q: f64) -> f64 {
    samples.sort();
    samples
        .get(((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::spawn(bench()).await.unwrap();
    });
}

async fn bench() {
    let relay = start_relay();
    let admin = relay.admin.clone();
    let urls: Vec<JoinUrl> =
        tokio::task::spawn_blocking(move || (0..SESSIONS).map(|_| new_session(&admin)).collect())
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(relay.child.id());

    // Connect every peer, a few dozen handshakes at a time (the relay bounds them).
    let endpoints: Vec<quinn::Endpoint> = (0..8)
        .map(|_| quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap())
        .collect();
    let permits = Arc::new(tokio::sync::Semaphore::new(32));
    let started = Instant::now();
    let mut joins = Vec::new();
    for (s, url) in urls.iter().enumerate() {
        for p in 0..PEERS_PER_SESSION {
            let endpoint = endpoints[(s * PEERS_PER_SESSION + p) % endpoints.len()].clone();
            let url = url.clone();
            let permits = Arc::clone(&permits);
            let address = relay.address;
            joins.push(tokio::spawn(async move {
                let _permit = permits.acquire_owned().await.unwrap();
                let node = (s * PEERS_PER_SESSION + p + 1) as u64;
                (s, p, connect(&endpoint, address, &url, node).await)
            }));
        }
    }
    let mut peers: Vec<(usize, usize, Peer)> = Vec::new();
    for join in joins {
        peers.push(join.await.unwrap());
    }
    println!(
        "scenario=relay_connect_{}_peers value={:.0} unit=ms",
        peers.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(relay.child.id());
    println!(
        "scenario=relay_memory_per_idle_peer value={:.1} unit=KiB",
        after.saturating_sub(before) as f64 / peers.len() as f64
    );

    // One drawer per session; everyone else receives.
    let sent: Arc<Mutex<HashMap<OpId, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let delivered = Arc::new(AtomicU64::new(0));
    let drawing = Instant::now();
    let mut tasks = Vec::new();
    for (_, index, peer) in peers {
        let sent = Arc::clone(&sent);
        if index == 0 {
            tasks.push(tokio::spawn(draw(peer, sent)));
        } else {
            let latencies = Arc::clone(&latencies);
            let delivered = Arc::clone(&delivered);
            tasks.push(tokio::spawn(receive(peer, sent, latencies, delivered)));
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = drawing.elapsed().as_secs_f64();
    println!(
        "scenario=relay_ops_delivered value={:.0} unit=ops/s",
        delivered.load(Ordering::Relaxed) as f64 / elapsed
    );
    let mut samples = std::mem::take(&mut *latencies.lock().unwrap());
    println!(
        "scenario=relay_stroke_latency_p50 value={:.2} unit=ms",
        percentile(&mut samples, 0.5)
    );
    println!(
        "scenario=relay_stroke_latency_p99 value={:.2} unit=ms",
        percentile(&mut samples, 0.99)
    );
    println!(
        "scenario=relay_stroke_latency_samples value={} unit=deliveries",
        samples.len()
    );
}

async fn draw(mut peer: Peer, sent: Arc<Mutex<HashMap<OpId, Instant>>>) {
    let mut document = Document::new(peer.node);
    let mut signer = Signer::fresh(peer.session, AuthorKey(public_key(&peer.key)));
    let mut ticker = tokio::time::interval(STROKE_EVERY);
    let until = Instant::now() + DRAW_FOR;
    let mut i = 0u32;
    while Instant::now() < until {
        ticker.tick().await;
        let (x, y) = ((i * 37 % 1800) as f32, (i * 53 % 1000) as f32);
        let points: Vec<Point> = (0..20).map(|k| Point::new(x + k as f32 * 2.0, y)).collect();
        let ops = document
            .draw_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(20, 20, 20), 2.0, &points)
            .unwrap();
        sent.lock().unwrap().insert(ops[0].id, Instant::now());
        let (wire, _) = signer.sign_batch(&peer.key, &ops).unwrap();
        if peer
            .send
            .write_all(&encode(&Message::Ops(wire)).unwrap())
            .await
            .is_err()
        {
            return;
        }
        i += 1;
    }
    // Keep the link open while the last strokes travel.
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn receive(
    mut peer: Peer,
    sent: Arc<Mutex<HashMap<OpId, Instant>>>,
    latencies: Arc<Mutex<Vec<Duration>>>,
    delivered: Arc<AtomicU64>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    let until = Instant::now() + DRAW_FOR + Duration::from_secs(1);
    loop {
        while let Ok(Some(message)) = peer.decoder.next_message() {
            if let Message::Ops(ops) = message {
                delivered.fetch_add(ops.len() as u64, Ordering::Relaxed);
                let now = Instant::now();
                let sent = sent.lock().unwrap();
                let mut found = Vec::new();
                for op in &ops {
                    if let Some(at) = sent.get(&op.id) {
                        found.push(now - *at);
                    }
                }
                drop(sent);
                latencies.lock().unwrap().extend(found);
            }
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        match tokio::time::timeout(left, peer.recv.read(&mut buffer)).await {
            Ok(Ok(Some(n))) => peer.decoder.push(&buffer[..n]),
            _ => return,
        }
    }
}
