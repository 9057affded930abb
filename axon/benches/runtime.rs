//! What axon's features cost over raw channels, and how it compares with an
//! established actor crate (ractor). Run with `cargo bench -p canopy-axon`.
//!
//! Every scenario is driven from a spawned task on a two-worker multi-threaded runtime
//! (never from `block_on`, which alone adds tens of microseconds a round trip). Each
//! variant runs `CANOPY_BENCH_REPS` times (default 3), interleaved, and the median is
//! reported, as one line per baseline:
//! `scenario=<name>_vs_<baseline> ours=<msgs/s> baseline=<msgs/s> ratio=<ours/baseline>`;
//! latency scenarios print `p50_us=` and `p99_us=` instead.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use canopy_axon::{link, ComponentHandle, Graph, Inbox, Outbox, Pipeline, DEFAULT_CAPACITY};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::{mpsc, oneshot, Notify};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let reps: usize = std::env::var("CANOPY_BENCH_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .max(1);
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));

    for (stages, messages) in [(150usize, 200_000u64), (10, 1_000_000)] {
        let name = format!("pipeline_{stages}x{messages}");
        if !wanted(&name) {
            continue;
        }
        let [ours, raw, actor] = measure(
            &runtime,
            reps,
            [
                &|| Box::pin(axon_pipeline(stages, messages)),
                &|| Box::pin(mpsc_pipeline(stages, messages)),
                &|| Box::pin(ractor_pipeline(stages, messages)),
            ],
        );
        print_ratio(&format!("{name}_vs_raw_mpsc"), ours, raw);
        print_ratio(&format!("{name}_vs_ractor"), ours, actor);
    }

    let (subscribers, messages) = (100usize, 20_000u64);
    let name = format!("backplane_fanout_{subscribers}x{messages}");
    if wanted(&name) {
        let [ours, raw, actor] = measure(
            &runtime,
            reps,
            [
                &|| Box::pin(axon_fanout(subscribers, messages)),
                &|| Box::pin(mpsc_fanout(subscribers, messages)),
                &|| Box::pin(ractor_fanout(subscribers, messages)),
            ],
        );
        print_ratio(&format!("{name}_vs_raw_mpsc"), ours, raw);
        print_ratio(&format!("{name}_vs_ractor"), ours, actor);
    }

    if wanted("pingpong") {
        let rounds = 20_000;
        for (variant, samples) in [
            ("ours", spawned(&runtime, axon_pingpong(rounds))),
            ("raw_mpsc", spawned(&runtime, mpsc_pingpong(rounds))),
            ("ractor", spawned(&runtime, ractor_pingpong(rounds))),
        ] {
            print_latency(&format!("pingpong_rtt_{variant}"), samples);
        }
    }
}

type Run<'a> = &'a dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = f64> + Send>>;

/// Runs each variant `reps` times, interleaved so drift on a shared machine hits all
/// alike, and returns each variant's median rate.
fn measure<const N: usize>(
    runtime: &tokio::runtime::Runtime,
    reps: usize,
    variants: [Run<'_>; N],
) -> [f64; N] {
    let mut rates: [Vec<f64>; N] = std::array::from_fn(|_| Vec::new());
    for _ in 0..reps {
        for (variant, rate) in variants.iter().zip(rates.iter_mut()) {
            rate.push(spawned(runtime, variant()));
        }
    }
    rates.map(|mut r| {
        r.sort_by(f64::total_cmp);
        r[r.len() / 2]
    })
}

/// Runs a scenario on a spawned task, as the components themselves would run.
fn spawned<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    scenario: impl Future<Output = T> + Send + 'static,
) -> T {
    runtime.block_on(async { tokio::spawn(scenario).await.expect("scenario task") })
}

fn print_ratio(scenario: &str, ours: f64, baseline: f64) {
    println!(
        "scenario={scenario} ours={ours:.0} baseline={baseline:.0} ratio={:.2}",
        ours / baseline
    );
}

fn print_latency(scenario: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "scenario={scenario} p50_us={:.1} p99_us={:.1}",
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6
    );
}

// ---------------------------------------------------------------- pipelines

/// Source → `stages - 2` pass-through components → counting sink; returns msgs/s.
async fn axon_pipeline(stages: usize, messages: u64) -> f64 {
    let graph = Graph::new("bench");
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let scope = graph.component("source");
    let mut outbox: Outbox<u64> = scope.outbox("outbox");
    let mut chain = vec![scope.spawn_fn(move |_| async move {
        let _ = go_rx.await;
        for i in 0..messages {
            outbox.send(i).await?;
        }
        Ok(())
    })];
    for i in 0..stages - 2 {
        let scope = graph.component(&format!("stage[{i}]"));
        let mut inbox: Inbox<u64> = scope.inbox("inbox");
        let mut outbox: Outbox<u64> = scope.outbox("outbox");
        chain.push(scope.spawn_fn(move |_| async move {
            while let Some(x) = inbox.recv().await {
                outbox.send(x).await?;
            }
            Ok(())
        }));
    }
    chain.push(counting_sink(&graph, "sink", messages, done_tx));
    let pipeline = Pipeline::new(chain).expect("wiring");
    let start = Instant::now();
    let _ = go_tx.send(());
    let _ = done_rx.await;
    let rate = messages as f64 / start.elapsed().as_secs_f64();
    pipeline.join().await;
    rate
}

fn counting_sink(
    graph: &Graph,
    name: &str,
    expected: u64,
    done: oneshot::Sender<()>,
) -> ComponentHandle {
    let scope = graph.component(name);
    let mut inbox: Inbox<u64> = scope.inbox("inbox");
    scope.spawn_fn(move |_| async move {
        let mut seen = 0;
        while inbox.recv().await.is_some() {
            seen += 1;
            if seen == expected {
                break;
            }
        }
        let _ = done.send(());
        Ok(())
    })
}

/// The same shape, hand-written: tasks joined by tokio mpsc channels of the same capacity.
async fn mpsc_pipeline(stages: usize, messages: u64) -> f64 {
    let (first_tx, mut rx) = mpsc::channel::<u64>(DEFAULT_CAPACITY);
    for _ in 0..stages - 2 {
        let (tx, next_rx) = mpsc::channel::<u64>(DEFAULT_CAPACITY);
        let mut stage_rx = std::mem::replace(&mut rx, next_rx);
        tokio::spawn(async move {
            while let Some(x) = stage_rx.recv().await {
                if tx.send(x).await.is_err() {
                    break;
                }
            }
        });
    }
    let (go_tx, go_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = go_rx.await;
        for i in 0..messages {
            if first_tx.send(i).await.is_err() {
                break;
            }
        }
    });
    // Like the other variants, the sink stops the clock at the last expected message
    // (not when the end-of-stream has rippled through every stage).
    let sink = tokio::spawn(async move {
        let mut seen = 0;
        while rx.recv().await.is_some() {
            seen += 1;
            if seen == messages {
                break;
            }
        }
        seen
    });
    let start = Instant::now();
    let _ = go_tx.send(());
    let seen: u64 = sink.await.expect("sink");
    assert_eq!(seen, messages);
    messages as f64 / start.elapsed().as_secs_f64()
}

/// A ractor actor that forwards each message to the next actor, or counts at the end.
struct Forward;

enum ForwardState {
    Next(ActorRef<u64>),
    Sink {
        expected: u64,
        seen: u64,
        done: Option<oneshot::Sender<()>>,
    },
}

impl Actor for Forward {
    type Msg = u64;
    type State = ForwardState;
    type Arguments = ForwardState;

    async fn pre_start(
        &self,
        _me: ActorRef<u64>,
        state: ForwardState,
    ) -> Result<ForwardState, ActorProcessingErr> {
        Ok(state)
    }

    async fn handle(
        &self,
        _me: ActorRef<u64>,
        message: u64,
        state: &mut ForwardState,
    ) -> Result<(), ActorProcessingErr> {
        match state {
            ForwardState::Next(next) => next.cast(message)?,
            ForwardState::Sink {
                expected,
                seen,
                done,
            } => {
                *seen += 1;
                if seen == expected {
                    if let Some(done) = done.take() {
                        let _ = done.send(());
                    }
                }
            }
        }
        Ok(())
    }
}

/// The same shape as ractor actors (its mailboxes are unbounded: no backpressure).
async fn ractor_pipeline(stages: usize, messages: u64) -> f64 {
    let (done_tx, done_rx) = oneshot::channel();
    let sink_state = ForwardState::Sink {
        expected: messages,
        seen: 0,
        done: Some(done_tx),
    };
    let (mut next, handle) = Actor::spawn(None, Forward, sink_state)
        .await
        .expect("spawn");
    let mut actors = vec![(next.clone(), handle)];
    for _ in 0..stages - 1 {
        let (actor, handle) = Actor::spawn(None, Forward, ForwardState::Next(next))
            .await
            .expect("spawn");
        next = actor.clone();
        actors.push((actor, handle));
    }
    let start = Instant::now();
    for i in 0..messages {
        next.cast(i).expect("cast");
    }
    let _ = done_rx.await;
    let rate = messages as f64 / start.elapsed().as_secs_f64();
    for (actor, handle) in actors {
        actor.stop(None);
        let _ = handle.await;
    }
    rate
}

// ---------------------------------------------------------------- fan-out

/// Counts deliveries across all subscribers and wakes the driver at the total.
#[derive(Clone)]
struct Tally {
    delivered: Arc<AtomicUsize>,
    total: usize,
    done: Arc<Notify>,
}

impl Tally {
    fn new(total: usize) -> Self {
        Self {
            delivered: Arc::new(AtomicUsize::new(0)),
            total,
            done: Arc::new(Notify::new()),
        }
    }

    fn add(&self, n: usize) {
        if self.delivered.fetch_add(n, Ordering::AcqRel) + n == self.total {
            self.done.notify_one();
        }
    }
}

/// Source → backplane → 100 subscriber components; returns deliveries/s.
async fn axon_fanout(subscribers: usize, messages: u64) -> f64 {
    let graph = Graph::new("bench");
    let hub = graph.backplane::<u64>("fanout").expect("hub");
    let tally = Tally::new(subscribers * messages as usize);
    for i in 0..subscribers {
        let scope = graph.component(&format!("subscriber[{i}]"));
        let mut inbox: Inbox<u64> = scope.inbox("inbox");
        hub.subscribe(&inbox.handle()).expect("subscribe");
        let tally = tally.clone();
        scope.spawn_fn(move |_| async move {
            let mut seen = 0;
            while inbox.recv().await.is_some() {
                seen += 1;
                if seen % 1024 == 0 {
                    tally.add(1024);
                    seen = 0;
                }
            }
            tally.add(seen);
            Ok(())
        });
    }
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let scope = graph.component("publisher");
    let mut outbox: Outbox<u64> = scope.outbox("outbox");
    link(&outbox.handle(), hub.publish_inbox()).expect("link");
    scope.spawn_fn(move |_| async move {
        let _ = go_rx.await;
        for i in 0..messages {
            outbox.send(i).await?;
        }
        Ok(())
    });
    let done = tally.done.notified();
    tokio::pin!(done);
    done.as_mut().enable();
    let start = Instant::now();
    let _ = go_tx.send(());
    // The last partial batches are counted when the subscribers end.
    graph.find("publisher").expect("publisher").join().await;
    hub.handle().stop();
    done.await;
    let rate = tally.total as f64 / start.elapsed().as_secs_f64();
    graph.stop(Duration::from_secs(5)).await;
    rate
}

/// Hand-written fan-out: one task sends every message into 100 mpsc channels.
async fn mpsc_fanout(subscribers: usize, messages: u64) -> f64 {
    let tally = Tally::new(subscribers * messages as usize);
    let mut senders = Vec::new();
    for _ in 0..subscribers {
        let (tx, mut rx) = mpsc::channel::<u64>(DEFAULT_CAPACITY);
        senders.push(tx);
        let tally = tally.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            while rx.recv().await.is_some() {
                seen += 1;
                if seen % 1024 == 0 {
                    tally.add(1024);
                    seen = 0;
                }
            }
            tally.add(seen);
        });
    }
    let done = tally.done.notified();
    tokio::pin!(done);
    done.as_mut().enable();
    let start = Instant::now();
    tokio::spawn(async move {
        for i in 0..messages {
            for tx in &senders {
                let _ = tx.send(i).await;
            }
        }
    });
    done.await;
    tally.total as f64 / start.elapsed().as_secs_f64()
}

struct Count;

impl Actor for Count {
    type Msg = u64;
    type State = (Tally, usize);
    type Arguments = Tally;

    async fn pre_start(
        &self,
        _me: ActorRef<u64>,
        tally: Tally,
    ) -> Result<(Tally, usize), ActorProcessingErr> {
        Ok((tally, 0))
    }

    async fn handle(
        &self,
        _me: ActorRef<u64>,
        _message: u64,
        state: &mut (Tally, usize),
    ) -> Result<(), ActorProcessingErr> {
        state.1 += 1;
        if state.1 == 1024 {
            state.0.add(1024);
            state.1 = 0;
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _me: ActorRef<u64>,
        state: &mut (Tally, usize),
    ) -> Result<(), ActorProcessingErr> {
        state.0.add(state.1);
        Ok(())
    }
}

/// Fan-out with ractor: one task casts every message to 100 actors.
async fn ractor_fanout(subscribers: usize, messages: u64) -> f64 {
    let tally = Tally::new(subscribers * messages as usize);
    let mut actors = Vec::new();
    for _ in 0..subscribers {
        actors.push(
            Actor::spawn(None, Count, tally.clone())
                .await
                .expect("spawn"),
        );
    }
    let done = tally.done.notified();
    tokio::pin!(done);
    done.as_mut().enable();
    let start = Instant::now();
    for i in 0..messages {
        for (actor, _) in &actors {
            actor.cast(i).expect("cast");
        }
    }
    // The last partial batches are counted as the actors stop, after their mailboxes drain.
    for (actor, handle) in actors {
        actor.drain().expect("drain");
        let _ = handle.await;
    }
    done.await;
    tally.total as f64 / start.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------- ping-pong

/// Two components bouncing one message; returns every round-trip time.
async fn axon_pingpong(rounds: usize) -> Vec<Duration> {
    let graph = Graph::new("bench");
    let pinger = graph.component("pinger");
    let mut ping_out: Outbox<u64> = pinger.outbox("outbox");
    let mut ping_in: Inbox<u64> = pinger.inbox("inbox");
    let ponger = graph.component("ponger");
    let mut pong_out: Outbox<u64> = ponger.outbox("outbox");
    let mut pong_in: Inbox<u64> = ponger.inbox("inbox");
    link(&ping_out.handle(), &pong_in.handle()).expect("link");
    link(&pong_out.handle(), &ping_in.handle()).expect("link");
    ponger.spawn_fn(move |_| async move {
        while let Some(x) = pong_in.recv().await {
            pong_out.send(x).await?;
        }
        Ok(())
    });
    let (tx, rx) = oneshot::channel();
    pinger.spawn_fn(move |_| async move {
        let mut samples = Vec::with_capacity(rounds);
        for i in 0..(rounds + rounds / 10) as u64 {
            let start = Instant::now();
            ping_out.send(i).await?;
            ping_in.recv().await;
            if i as usize >= rounds / 10 {
                samples.push(start.elapsed());
            }
        }
        let _ = tx.send(samples);
        Ok(())
    });
    rx.await.expect("samples")
}

async fn mpsc_pingpong(rounds: usize) -> Vec<Duration> {
    let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(DEFAULT_CAPACITY);
    let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(DEFAULT_CAPACITY);
    tokio::spawn(async move {
        while let Some(x) = ping_rx.recv().await {
            if pong_tx.send(x).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let mut samples = Vec::with_capacity(rounds);
        for i in 0..(rounds + rounds / 10) as u64 {
            let start = Instant::now();
            let _ = ping_tx.send(i).await;
            pong_rx.recv().await;
            if i as usize >= rounds / 10 {
                samples.push(start.elapsed());
            }
        }
        samples
    })
    .await
    .expect("pinger")
}

struct Echo;

impl Actor for Echo {
    type Msg = RpcReplyPort<u64>;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _me: ActorRef<Self::Msg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _me: ActorRef<Self::Msg>,
        reply: RpcReplyPort<u64>,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let _ = reply.send(0);
        Ok(())
    }
}

async fn ractor_pingpong(rounds: usize) -> Vec<Duration> {
    let (echo, handle) = Actor::spawn(None, Echo, ()).await.expect("spawn");
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..rounds + rounds / 10 {
        let start = Instant::now();
        echo.call(|reply| reply, None).await.expect("call");
        if i >= rounds / 10 {
            samples.push(start.elapsed());
        }
    }
    echo.stop(None);
    let _ = handle.await;
    samples
}
