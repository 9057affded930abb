//! Mixer capacity: one node with N links, K talking. Per 20 ms frame it decodes the K
//! talkers, mixes (mix-minus, shared full mix) and encodes K+1 streams (or one per
//! link when all talk). `cargo bench -p canopy-audio` prints CPU time per frame and
//! how many such frames one core can do in real time.
#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Instant;

use canopy_audio::codec::{VoiceDecoder, VoiceEncoder};
use canopy_audio::mixer::mix;
use canopy_audio::{Frame, FRAME_SAMPLES, SAMPLE_RATE};

fn tone(frequency: f32, index: usize) -> Box<Frame> {
    let mut frame = Box::new([0.0f32; FRAME_SAMPLES]);
    for (i, s) in frame.iter_mut().enumerate() {
        let t = (index * FRAME_SAMPLES + i) as f32 / SAMPLE_RATE as f32;
        *s = 0.2 * (2.0 * std::f32::consts::PI * frequency * t).sin();
    }
    frame
}

fn run(links: usize, talkers: usize, complexity: i32) -> f64 {
    let frames = 100;
    // What arrives: packets from the talkers.
    let mut sources: Vec<VoiceEncoder> = (0..talkers)
        .map(|_| VoiceEncoder::new(5).unwrap())
        .collect();
    let incoming: Vec<Vec<Vec<u8>>> = (0..frames)
        .map(|f| {
            sources
                .iter_mut()
                .enumerate()
                .map(|(k, e)| e.encode(&tone(200.0 + 90.0 * k as f32, f)).unwrap())
                .collect()
        })
        .collect();
    let mut decoders: Vec<VoiceDecoder> =
        (0..talkers).map(|_| VoiceDecoder::new().unwrap()).collect();
    let streams = if talkers == links { links } else { talkers + 1 };
    let mut encoders: Vec<VoiceEncoder> = (0..streams)
        .map(|_| VoiceEncoder::new(complexity).unwrap())
        .collect();
    let started = Instant::now();
    for packets in &incoming {
        let decoded: Vec<Box<Frame>> = decoders
            .iter_mut()
            .zip(packets)
            .map(|(d, p)| d.decode(p).unwrap())
            .collect();
        let inputs: Vec<(u64, Option<&Frame>)> = (0..links)
            .map(|l| (l as u64, decoded.get(l).map(|f| &**f)))
            .collect();
        let out = mix(None, &inputs);
        let mut encoded = 0;
        for ((_, frame), encoder) in out.individual.iter().zip(encoders.iter_mut()) {
            std::hint::black_box(encoder.encode(frame).unwrap());
            encoded += 1;
        }
        if let Some((frame, _)) = &out.shared {
            std::hint::black_box(encoders[encoded].encode(frame).unwrap());
        }
    }
    started.elapsed().as_secs_f64() / frames as f64
}

fn main() {
    for (links, talkers, complexity) in [
        (10, 3, 10),
        (100, 3, 10),
        (1000, 3, 10),
        (16, 16, 5),
        (32, 32, 3),
        (64, 64, 1),
    ] {
        let per_frame = run(links, talkers, complexity);
        println!(
            "scenario=mixer_{links}_links_{talkers}_talking complexity={complexity} cpu_per_frame_us={:.0} realtime_factor={:.1}",
            per_frame * 1e6,
            0.020 / per_frame
        );
    }
}
