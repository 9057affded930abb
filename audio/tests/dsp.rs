//! The DSP core: mixing, mix-minus, the shared full mix, the jitter buffer, Opus FEC.
#![allow(clippy::unwrap_used)]

use canopy_audio::codec::{VoiceDecoder, VoiceEncoder};
use canopy_audio::jitter::{JitterBuffer, Playout};
use canopy_audio::mixer::{full_mix, level, mix, playback, CEILING};
use canopy_audio::{Frame, FRAME_SAMPLES, SAMPLE_RATE};
use proptest::prelude::*;

fn tone(frequency: f32, amplitude: f32, frame_index: usize) -> Box<Frame> {
    let mut frame = Box::new([0.0f32; FRAME_SAMPLES]);
    for (i, s) in frame.iter_mut().enumerate() {
        let t = (frame_index * FRAME_SAMPLES + i) as f32 / SAMPLE_RATE as f32;
        *s = amplitude * (2.0 * std::f32::consts::PI * frequency * t).sin();
    }
    frame
}

#[test]
fn the_mixer_sums_and_never_clips() {
    let a = Box::new([0.3f32; FRAME_SAMPLES]);
    let b = Box::new([0.4f32; FRAME_SAMPLES]);
    let out = mix(None, &[(1, Some(&a)), (2, Some(&b)), (3, None)]);
    let shared = &out.shared.as_ref().unwrap().0;
    assert!((shared[0] - 0.7).abs() < 1e-6, "0.3 + 0.4 = {}", shared[0]);
    let loud: Vec<Box<Frame>> = (0..5)
        .map(|i| tone(200.0 + 50.0 * i as f32, 0.6, 0))
        .collect();
    let links: Vec<(u64, Option<&Frame>)> = loud
        .iter()
        .enumerate()
        .map(|(i, f)| (i as u64, Some(&**f)))
        .collect();
    let out = mix(Some(&*tone(300.0, 0.8, 0)), &links);
    for (_, frame) in &out.individual {
        assert!(frame.iter().all(|s| s.abs() <= CEILING + 1e-6));
    }
    assert!(out.speakers.iter().all(|s| s.abs() <= CEILING + 1e-6));
}

#[test]
fn mix_minus_leaves_out_the_links_own_audio() {
    let a = tone(440.0, 0.2, 0);
    let b = tone(660.0, 0.2, 0);
    let mic = tone(220.0, 0.2, 0);
    let out = mix(Some(&mic), &[(1, Some(&a)), (2, Some(&b))]);
    let for_a = out.for_link(1).unwrap();
    for i in 0..FRAME_SAMPLES {
        assert!(
            (for_a[i] - (mic[i] + b[i])).abs() < 1e-6,
            "a hears mic and b, not itself"
        );
    }
    for i in 0..FRAME_SAMPLES {
        assert!(
            (out.speakers[i] - (a[i] + b[i])).abs() < 1e-6,
            "the speakers play the links, not the mic"
        );
    }
    assert!(out.shared.is_none(), "every link talked");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever numbers and times a peer's packets carry (u64::MAX included), the
    /// jitter buffer neither panics nor holds more than its capacity.
    #[test]
    fn the_jitter_buffer_survives_any_sequence_numbers(
        steps in proptest::collection::vec(
            (any::<u64>(), prop_oneof![Just(0u64), Just(u64::MAX), 0u64..100, (1u64 << 47)..(1u64 << 49)], any::<bool>()),
            1..200,
        ),
    ) {
        let mut buffer = JitterBuffer::new();
        let mut now = 0.0f64;
        for (pick, seq, pop) in steps {
            now += 20.0;
            // Sometimes a plausible number, sometimes anything at all.
            let seq = if pick % 3 == 0 { pick } else { seq };
            buffer.push(seq, vec![1, 2, 3], now + (pick % 50) as f64);
            if pop {
                let _ = buffer.pop(now);
            }
            prop_assert!(buffer.len() <= canopy_audio::jitter::CAPACITY);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The shared full mix is bit-identical to mixing separately for each silent link.
    #[test]
    fn the_shared_mix_is_bit_identical_to_per_link_mixing(
        talking in proptest::collection::vec(any::<bool>(), 1..40),
        seed in any::<u32>(),
        with_mic in any::<bool>(),
    ) {
        let frames: Vec<Box<Frame>> = (0..talking.len()).map(|i| tone(100.0 + (seed % 500) as f32 + i as f32 * 37.0, 0.05, i)).collect();
        let mic = tone(250.0, 0.1, 3);
        let links: Vec<(u64, Option<&Frame>)> = talking
            .iter()
            .enumerate()
            .map(|(i, t)| (i as u64, t.then_some(&*frames[i])))
            .collect();
        let local = with_mic.then_some(&*mic);
        let grouped = mix(local, &links);
        prop_assert!(grouped.individual.len() + 1 >= grouped.shared.as_ref().map_or(0, |_| 1));
        for (id, _) in &links {
            // Naive mix-minus for this link alone.
            let alone: Vec<(u64, Option<&Frame>)> = links.iter().map(|(i, f)| (*i, if i == id { None } else { *f })).collect();
            let naive = mix(local, &alone);
            let expected = naive.for_link(*id).unwrap();
            let got = grouped.for_link(*id).unwrap();
            prop_assert!(expected.iter().zip(got.iter()).all(|(a, b)| a.to_bits() == b.to_bits()), "link {} differs", id);
        }
        let streams = grouped.individual.len() + usize::from(grouped.shared.is_some());
        prop_assert!(streams <= talking.iter().filter(|t| **t).count() + 1);
        // What a recording keeps is the same full mix.
        if let Some((shared, _)) = &grouped.shared {
            let full = full_mix(local, &links);
            prop_assert!(shared.iter().zip(full.iter()).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
}

/// Plays a buffer through time: at each 20 ms tick (at `tick_at(k)` ms), every packet
/// that has arrived by then is pushed, then the slot is popped.
fn play_through(
    buffer: &mut JitterBuffer,
    arrivals: &[(u64, f64)],
    ticks: std::ops::Range<u64>,
    tick_at: impl Fn(u64) -> f64,
) -> Vec<Playout> {
    let mut pending: Vec<(u64, f64)> = arrivals.to_vec();
    pending.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut pending = pending.into_iter().peekable();
    let mut plays = Vec::new();
    for tick in ticks {
        let now = tick_at(tick);
        while let Some((seq, at)) = pending.next_if(|(_, at)| *at <= now) {
            buffer.push(seq, vec![seq as u8], at);
        }
        plays.push(buffer.pop(now));
    }
    plays
}

/// The first payload byte of each play of one kind (`Packet` or `Recover`).
fn payloads(plays: &[Playout], recovered: bool) -> Vec<u8> {
    plays
        .iter()
        .filter_map(|p| match (p, recovered) {
            (Playout::Packet(p), false) | (Playout::Recover(p), true) => Some(p[0]),
            _ => None,
        })
        .collect()
}

#[test]
fn the_jitter_buffer_reorders_and_drops_late_and_duplicate_packets() {
    let mut buffer = JitterBuffer::new();
    // 0 is slow; 2 overtakes 1 and 4 overtakes 3; 2 comes twice.
    let arrivals = [
        (0, 30.0),
        (2, 41.0),
        (1, 45.0),
        (4, 80.0),
        (3, 85.0),
        (2, 90.0),
    ];
    let plays = play_through(&mut buffer, &arrivals, 0..12, |k| 10.0 + k as f64 * 20.0);
    assert_eq!(buffer.duplicates, 1);
    assert_eq!(payloads(&plays, false), vec![0, 1, 2, 3, 4], "{plays:?}");
    buffer.push(1, vec![1], 300.0);
    assert_eq!(buffer.late, 1, "a packet for a slot already played is late");
}

#[test]
fn a_clean_link_adds_at_most_a_frame() {
    // Packets on time, each 3 ms before the receiver's tick: each plays at the
    // first tick after it arrives.
    let mut buffer = JitterBuffer::new();
    let arrivals: Vec<(u64, f64)> = (0..50).map(|seq| (seq, seq as f64 * 20.0)).collect();
    let plays = play_through(&mut buffer, &arrivals, 0..50, |k| k as f64 * 20.0 + 3.0);
    for (slot, play) in plays.iter().enumerate() {
        assert_eq!(*play, Playout::Packet(vec![slot as u8]), "slot {slot}");
    }
    assert!(buffer.delay_ms() < 20.0, "delay {}", buffer.delay_ms());
}

#[test]
fn a_backlog_arriving_at_once_is_skipped_and_the_voice_plays_on() {
    // Joining someone already talking: 28 queued packets arrive together, then one
    // every 20 ms. The stale ones are skipped and from then on every slot plays a
    // packet (it once kept stretching towards a schedule made for the skipped
    // packets, playing a frame every few hundred milliseconds).
    let mut arrivals: Vec<(u64, f64)> = (0..28).map(|seq| (seq, 0.0)).collect();
    arrivals.extend((28..200).map(|seq| (seq, (seq - 27) as f64 * 20.0)));
    let mut buffer = JitterBuffer::new();
    let plays = play_through(&mut buffer, &arrivals, 0..150, |k| k as f64 * 20.0 + 1.2);
    let settled = &plays[10..];
    assert!(
        settled.iter().all(|p| matches!(p, Playout::Packet(_))),
        "gaps after settling: {:?}",
        settled
            .iter()
            .filter(|p| !matches!(p, Playout::Packet(_)))
            .count()
    );
    // In order; a frame or two dropped as the delay shrinks back (the burst looked
    // like jitter), no more.
    let played = payloads(settled, false);
    assert!(played.windows(2).all(|w| w[1] > w[0]), "{played:?}");
    let dropped = played
        .windows(2)
        .map(|w| usize::from(w[1] - w[0] - 1))
        .sum::<usize>();
    assert!(dropped <= 3, "{dropped} dropped: {played:?}");
}

#[test]
fn a_backlog_overflowing_a_playing_buffer_is_skipped_too() {
    // Three packets, playback starts, then the rest of a 90-packet backlog arrives
    // at once (more than the buffer holds, so it drops its oldest), then one packet
    // every 20 ms. It once concealed for as long as packets kept coming.
    let mut arrivals: Vec<(u64, f64)> = (0..3).map(|seq| (seq, 0.0)).collect();
    arrivals.extend((3..90).map(|seq| (seq, 21.0)));
    arrivals.extend((90..250).map(|seq| (seq, (seq - 89) as f64 * 20.0 + 21.0)));
    let mut buffer = JitterBuffer::new();
    let plays = play_through(&mut buffer, &arrivals, 0..150, |k| k as f64 * 20.0 + 1.2);
    let gaps = plays[10..]
        .iter()
        .filter(|p| !matches!(p, Playout::Packet(_)))
        .count();
    assert_eq!(gaps, 0, "{plays:?}");
}

#[test]
fn a_lossy_link_holds_a_frame_back_to_recover_losses_from_fec() {
    // Every tenth packet is lost, and 52 and 53 both: after the first losses the
    // buffer keeps the next packet at hand, so single losses are rebuilt from its
    // FEC; two in a row are concealed.
    let lost = |seq: u64| seq % 10 == 5 || seq == 52 || seq == 53;
    let arrivals: Vec<(u64, f64)> = (0..80)
        .filter(|s| !lost(*s))
        .map(|seq| (seq, seq as f64 * 20.0))
        .collect();
    let mut buffer = JitterBuffer::new();
    let plays = play_through(&mut buffer, &arrivals, 0..90, |k| k as f64 * 20.0 + 3.0);
    assert!(buffer.loss() > 0.01, "loss {}", buffer.loss());
    assert!(
        buffer.delay_ms() >= 20.0,
        "no frame held back for FEC: {}",
        buffer.delay_ms()
    );
    let recovered = payloads(&plays, true);
    for seq in [36u8, 46, 66, 76] {
        assert!(
            recovered.contains(&seq),
            "{} not rebuilt from {seq}: {recovered:?}",
            seq - 1
        );
    }
    // 52 and 53 both lost: 52 is concealed (53 is not there to carry it), 53 is
    // rebuilt from 54.
    assert!(
        !recovered.contains(&53) && recovered.contains(&54),
        "{recovered:?}"
    );
    assert!(plays.contains(&Playout::Conceal));
}

#[test]
fn the_target_delay_follows_the_jitter() {
    let mut calm = JitterBuffer::new();
    let mut shaky = JitterBuffer::new();
    for seq in 0..200u64 {
        calm.push(seq, vec![0], seq as f64 * 20.0);
        let wobble = [0.0, 35.0, 5.0, 60.0, 10.0, 25.0][(seq % 6) as usize];
        shaky.push(seq, vec![0], seq as f64 * 20.0 + wobble);
    }
    assert!(
        calm.target() < shaky.target(),
        "calm {} vs shaky {}",
        calm.target(),
        shaky.target()
    );
}

fn snr(reference: &Frame, test: &Frame) -> f32 {
    let signal: f32 = reference.iter().map(|s| s * s).sum();
    let noise: f32 = reference
        .iter()
        .zip(test.iter())
        .map(|(r, t)| (r - t).powi(2))
        .sum();
    10.0 * (signal / noise.max(1e-12)).log10()
}

/// Real speech at 48 kHz mono, made by espeak-ng and sox (`make test` installs both):
/// Opus only spends FEC bits on frames its voice detector calls speech.
fn speech() -> Vec<f32> {
    use std::process::Command;
    let dir = std::env::temp_dir().join(format!("canopy-speech-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (wav, raw) = (dir.join("speech.wav"), dir.join("speech.raw"));
    let text = "The quick brown fox jumps over the lazy dog. Canopy lets everyone draw and talk.";
    let spoke = Command::new("espeak-ng")
        .arg("-w")
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng (Debian's espeak-ng; make test installs it)");
    assert!(spoke.success());
    // -D: no dither, so the samples (and the test) are the same on every run.
    let converted = Command::new("sox")
        .arg("-D")
        .arg(&wav)
        .args([
            "-r", "48000", "-c", "1", "-b", "16", "-e", "signed", "-t", "raw",
        ])
        .arg(&raw)
        .status()
        .expect("sox (Debian's sox; make test installs it)");
    assert!(converted.success());
    let bytes = std::fs::read(&raw).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    bytes
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect()
}

/// A single lost packet comes back from the next one's FEC much better than
/// concealment guesses it.
#[test]
fn fec_recovers_a_single_lost_packet() {
    let speech = speech();
    let frames: Vec<Box<Frame>> = speech
        .chunks_exact(FRAME_SAMPLES)
        .map(|c| Box::new(<Frame>::try_from(c).unwrap()))
        .collect();
    assert!(frames.len() > 80, "espeak-ng made {} frames", frames.len());
    let mut encoder = VoiceEncoder::new(10).unwrap();
    let packets: Vec<Vec<u8>> = frames.iter().map(|f| encoder.encode(f).unwrap()).collect();

    let mut clean = VoiceDecoder::new().unwrap();
    let reference: Vec<Box<Frame>> = packets.iter().map(|p| clean.decode(p).unwrap()).collect();
    // Lose, one at a time, each of several frames in the middle of speech.
    let mut better = 0;
    let candidates: Vec<usize> = (30..frames.len() - 2)
        .step_by(7)
        .filter(|i| level(&reference[*i]) > 0.02)
        .collect();
    for &lost in &candidates {
        let mut with_fec = VoiceDecoder::new().unwrap();
        let mut with_plc = VoiceDecoder::new().unwrap();
        for p in &packets[..lost] {
            with_fec.decode(p).unwrap();
            with_plc.decode(p).unwrap();
        }
        let recovered = with_fec.recover(&packets[lost + 1]).unwrap();
        let concealed = with_plc.conceal().unwrap();
        if snr(&reference[lost], &recovered) > snr(&reference[lost], &concealed) + 6.0 {
            better += 1;
        }
    }
    assert!(candidates.len() >= 5);
    eprintln!(
        "FEC beat concealment by 6 dB in {better} of {} losses",
        candidates.len()
    );
    assert!(
        better * 4 >= candidates.len() * 3,
        "FEC beat concealment by 6 dB in {better} of {} losses",
        candidates.len()
    );
}

#[test]
fn playback_volumes_scale_each_link_and_the_master() {
    let (a, b) = (tone(440.0, 0.2, 0), tone(660.0, 0.2, 0));
    let links = [(1u64, Some(&*a)), (2u64, Some(&*b)), (3u64, None)];
    let full = playback(&links, |_| 1.0, 1.0);
    let plain = mix(None, &links).speakers;
    assert_eq!(
        &full[..],
        &plain[..],
        "unity volumes play what the mixer would"
    );
    // Link 2 muted: only link 1 is heard.
    let only_a = playback(&links, |id| if id == 2 { 0.0 } else { 1.0 }, 1.0);
    assert_eq!(&only_a[..], &a[..]);
    // Master at half halves everything; master at zero is silence.
    let half = playback(&links, |_| 1.0, 0.5);
    assert!((level(&half) - level(&full) / 2.0).abs() < 1e-4);
    assert_eq!(level(&playback(&links, |_| 1.0, 0.0)), 0.0);
}

#[test]
fn a_pause_in_speech_does_not_make_what_follows_late() {
    // The sender talks (0..50), is silent for two seconds (sends nothing, its
    // numbering pauses), then talks again (50..100). The receiver ticks throughout.
    let mut buffer = JitterBuffer::new();
    let (mut played, mut tick) = (Vec::new(), 0u64);
    let step = |buffer: &mut JitterBuffer, seq: Option<u64>, tick: u64| {
        if let Some(seq) = seq {
            buffer.push(seq, vec![seq as u8], tick as f64 * 20.0);
        }
        if let Playout::Packet(p) | Playout::Recover(p) = buffer.pop(tick as f64 * 20.0 + 5.0) {
            p
        } else {
            vec![]
        }
    };
    for seq in 0..50 {
        played.extend(step(&mut buffer, Some(seq), tick));
        tick += 1;
    }
    for _ in 0..100 {
        played.extend(step(&mut buffer, None, tick));
        tick += 1;
    }
    for seq in 50..100 {
        played.extend(step(&mut buffer, Some(seq), tick));
        tick += 1;
    }
    for _ in 0..10 {
        played.extend(step(&mut buffer, None, tick));
        tick += 1;
    }
    assert_eq!(
        buffer.late, 0,
        "packets after the pause were dropped as late"
    );
    let heard: Vec<u8> = played;
    assert!(
        (50..98).all(|seq| heard.contains(&(seq as u8))),
        "speech after the pause is not played: {heard:?}"
    );
}

#[test]
fn a_spurt_shorter_than_the_target_is_played_without_waiting_for_the_next() {
    // One packet, then nothing for a while (a click, a short "yes").
    let mut buffer = JitterBuffer::new();
    buffer.push(0, vec![7], 0.0);
    let mut played_at = None;
    for tick in 0..20 {
        if let Playout::Packet(p) = buffer.pop(tick as f64 * 20.0 + 1.0) {
            assert_eq!(p, vec![7]);
            played_at = Some(tick);
            break;
        }
    }
    let played_at = played_at.expect("the lone packet was never played");
    assert!(
        played_at <= buffer.target(),
        "played after {played_at} ticks"
    );
}

proptest! {
    /// Whatever the network does (delay, jitter, reordering, loss, duplicates) and
    /// whenever the receiver ticks, packets play in order, each at most once, and
    /// everything that arrives in time plays.
    #[test]
    fn the_jitter_buffer_plays_in_order_whatever_the_network_does(
        delays in proptest::collection::vec(0.0f64..60.0, 60),
        lost in proptest::collection::vec(proptest::bool::weighted(0.1), 60),
        doubled in proptest::collection::vec(proptest::bool::weighted(0.05), 60),
        phase in 0.0f64..20.0,
    ) {
        let mut arrivals = Vec::new();
        for seq in 0..60u64 {
            let i = seq as usize;
            if !lost[i] {
                arrivals.push((seq, seq as f64 * 20.0 + delays[i]));
                if doubled[i] {
                    arrivals.push((seq, seq as f64 * 20.0 + delays[i] + 7.0));
                }
            }
        }
        let mut buffer = JitterBuffer::new();
        let plays = play_through(&mut buffer, &arrivals, 0..100, |k| k as f64 * 20.0 + phase);
        let played = payloads(&plays, false);
        prop_assert!(played.windows(2).all(|w| w[0] < w[1]), "out of order: {played:?}");
        let arrived = arrivals.iter().map(|(s, _)| *s).collect::<std::collections::BTreeSet<_>>();
        // Nothing is lost inside the buffer: every arrival played, was rebuilt
        // around, or was dropped as late (and counted).
        let accounted = played.len() as u64 + buffer.late + buffer.lost;
        prop_assert!(accounted + 8 >= arrived.len() as u64,
            "played {} late {} lost {} of {}", played.len(), buffer.late, buffer.lost, arrived.len());
    }
}
