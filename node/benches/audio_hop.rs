//! Added audio latency per hop: `cargo bench -p canopy-node --bench audio_hop`.
//!
//! Two nodes in this process on 127.0.0.1: A speaks a click every half second, B
//! records what it hears. Both audio components run one tick per 20 ms from a known
//! instant (tick `k` reads input frame `k` and writes output frame `k`), so a click
//! read at A's tick `k` and written at B's tick `m` took
//! `(B's start − A's start) + (m − k) × 20 ms`: capture frame to playback at the next
//! node — encode, datagram, jitter buffer, decode, mix. Prints p50 and p99.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use canopy_audio::{FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE};
use canopy_node::audio::AudioConfig;
use canopy_node::node::{start, NodeConfig, RunningNode};
use canopy_node::session::StatusInput;

/// Clicks in the spoken file.
const CLICKS: usize = 42;
/// A click every 25 frames (500 ms), 5 ms of 1 kHz.
const CLICK_EVERY: usize = 25;

fn write_clicks(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    let frames = CLICKS * CLICK_EVERY;
    for frame in 0..frames {
        for i in 0..FRAME_SAMPLES {
            let clicking = frame % CLICK_EVERY == 10 && i < 240;
            let t = i as f32 / SAMPLE_RATE as f32;
            let value = if clicking {
                0.5 * (2.0 * std::f32::consts::PI * 1000.0 * t).sin()
            } else {
                0.0
            };
            writer.write_sample((value * 32767.0) as i16).unwrap();
        }
    }
    writer.finalize().unwrap();
}

async fn node(dir: &Path, join: Option<String>, audio: AudioConfig) -> RunningNode {
    start(NodeConfig {
        join,
        fresh: true,
        idle_timeout: Duration::from_secs(30),
        audio: Some(audio),
        ..NodeConfig::new(dir.to_path_buf(), "bench")
    })
    .await
    .unwrap()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async { tokio::spawn(bench()).await.unwrap() });
}

async fn bench() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let clicks = dirs[2].path().join("clicks.wav");
    let heard = dirs[2].path().join("heard.wav");
    write_clicks(&clicks);
    // B first, so it is listening before A starts speaking: A joins B.
    let b = node(
        dirs[1].path(),
        None,
        AudioConfig {
            input: None,
            output: Some(heard.clone()),
            ..AudioConfig::default()
        },
    )
    .await;
    let url = {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let scope = b.graph.component("bench/driver");
        let mut outbox = scope.outbox::<StatusInput>("outbox");
        canopy_axon::link(&outbox.handle(), &b.session.status).unwrap();
        outbox.send(StatusInput::Full(reply)).await.unwrap();
        answer.await.unwrap().invites["editor"].clone()
    };
    let a = node(
        dirs[0].path(),
        Some(url),
        AudioConfig {
            input: Some(clicks),
            ..AudioConfig::default()
        },
    )
    .await;
    let spoken = Duration::from_millis((CLICKS * CLICK_EVERY) as u64 * FRAME_MS);
    tokio::time::sleep(spoken + Duration::from_secs(1)).await;
    let started = |n: &RunningNode| {
        n.audio_meters
            .as_ref()
            .unwrap()
            .lock()
            .unwrap()
            .started
            .unwrap()
    };
    let (a_start, b_start) = (started(&a), started(&b));
    a.stop().await;
    b.stop().await;

    let samples: Vec<f32> = hound::WavReader::open(&heard)
        .unwrap()
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect();
    // Onsets: the first loud frame after at least 10 quiet ones.
    let mut onsets = Vec::new();
    let mut quiet = usize::MAX;
    for (m, frame) in samples.chunks(FRAME_SAMPLES).enumerate() {
        let loud = frame.iter().any(|s| s.abs() > 0.05);
        if loud && quiet >= 10 {
            onsets.push(m);
        }
        quiet = if loud { 0 } else { quiet.saturating_add(1) };
    }
    let offset_ms = b_start.duration_since(a_start).as_secs_f64() * 1000.0
        - a_start.duration_since(b_start).as_secs_f64() * 1000.0;
    let mut latencies: Vec<f64> = Vec::new();
    for m in onsets {
        // The click A read last before (or at) B's frame m, in B's timeline.
        let b_ms = m as f64 * FRAME_MS as f64 + offset_ms;
        let k = (0..CLICKS)
            .map(|j| j * CLICK_EVERY + 10)
            .filter(|k| (*k as f64 * FRAME_MS as f64) <= b_ms)
            .max();
        if let Some(k) = k {
            latencies.push(b_ms - k as f64 * FRAME_MS as f64);
        }
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    assert!(
        latencies.len() >= CLICKS / 2,
        "only {} clicks heard",
        latencies.len()
    );
    println!(
        "scenario=audio_latency_per_hop_p50 value={:.1} unit=ms",
        at(0.5)
    );
    println!(
        "scenario=audio_latency_per_hop_p99 value={:.1} unit=ms",
        at(0.99)
    );
    println!(
        "scenario=audio_latency_clicks_heard value={} unit=of_{CLICKS}",
        latencies.len()
    );
}
