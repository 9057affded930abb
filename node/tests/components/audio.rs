//! The audio components around the mixer: a link's audio-out, the local voice, the
//! recorder and playback.

use std::sync::Arc;

use canopy_audio::{Frame, FRAME_SAMPLES};
use canopy_axon::Graph;
use canopy_node::audio::playback::Playback;
use canopy_node::audio::recorder::{Heard, Recorder};
use canopy_node::audio::voice::{LocalFrame, Voice, VoiceComponent, VoiceTick};
use canopy_node::link::audio_out::{AudioOut, AudioOutComponent};
use canopy_node::store::StoreInput;
use canopy_protocol::Datagram;

use crate::{driver, next, quiet, tap};

fn tone() -> Box<Frame> {
    let mut frame = Box::new([0.0f32; FRAME_SAMPLES]);
    for (i, sample) in frame.iter_mut().enumerate() {
        *sample = (i as f32 * 0.06).sin() * 0.3;
    }
    frame
}

#[tokio::test]
async fn audio_out_encodes_its_own_mix_and_numbers_every_packet() {
    let graph = Graph::new("test");
    let out = graph.spawn("link[7]/audio-out", |s| AudioOutComponent::new(s, 7));
    let (datagrams_in, mut datagrams) = tap::<Vec<u8>>(&graph, "datagrams-out");
    canopy_axon::link(&out.outbox("outbox").unwrap(), &datagrams_in).unwrap();
    let mut mixer = driver(&graph, "audio", &out.inbox("inbox").unwrap());
    mixer.send(AudioOut::Complexity(3)).await.unwrap();
    mixer.send(AudioOut::Encode(tone())).await.unwrap();
    mixer
        .send(AudioOut::Packet(Arc::new(vec![0xf8, 0xff, 0xfe])))
        .await
        .unwrap();
    match Datagram::parse(&next(&mut datagrams).await).unwrap() {
        Datagram::Audio { seq, packet } => {
            assert_eq!(seq, 0);
            let mut decoder = canopy_audio::codec::VoiceDecoder::new().unwrap();
            let decoded = decoder.decode(&packet).unwrap();
            assert!(
                canopy_audio::mixer::level(&decoded) > 0.05,
                "the tone came through"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        Datagram::parse(&next(&mut datagrams).await).unwrap(),
        Datagram::Audio {
            seq: 1,
            packet: vec![0xf8, 0xff, 0xfe]
        },
        "the shared packet as it is, numbered next"
    );
    quiet(&mut datagrams).await; // a complexity change sends nothing
}

#[tokio::test]
async fn the_recorder_hands_the_store_encoded_frames_with_their_time() {
    let graph = Graph::new("test");
    let recorder = graph.spawn("recorder", Recorder::new);
    let (store_in, mut store) = tap::<StoreInput>(&graph, "store");
    canopy_axon::link(&recorder.outbox("outbox").unwrap(), &store_in).unwrap();
    let mut mixer = driver(&graph, "audio", &recorder.inbox("inbox").unwrap());
    mixer
        .send(Heard {
            at_ms: 1234,
            frame: tone(),
        })
        .await
        .unwrap();
    match next(&mut store).await {
        StoreInput::Audio { at_ms, packet } => {
            assert_eq!(at_ms, 1234);
            assert!(!packet.is_empty() && packet.len() < 1275);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn playback_writes_every_frame_in_order_and_finishes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("heard.wav");
    let writer = hound::WavWriter::create(
        &path,
        hound::WavSpec {
            channels: 1,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        },
    )
    .unwrap();
    let graph = Graph::new("test");
    let playback = graph.spawn("playback", |s| Playback::new(s, None, Some(writer)));
    {
        let mut mixer = driver(&graph, "audio", &playback.inbox("inbox").unwrap());
        mixer.send(Box::new([0.5f32; FRAME_SAMPLES])).await.unwrap();
        mixer
            .send(Box::new([-0.25f32; FRAME_SAMPLES]))
            .await
            .unwrap();
        mixer.close();
    }
    assert!(playback.join().await.is_finished());
    let samples: Vec<i16> = hound::WavReader::open(&path)
        .unwrap()
        .samples::<i16>()
        .map(Result::unwrap)
        .collect();
    assert_eq!(samples.len(), 2 * FRAME_SAMPLES);
    assert_eq!(samples[0], (0.5 * 32767.0) as i16);
    assert_eq!(samples[FRAME_SAMPLES], (-0.25 * 32767.0) as i16);
}

#[tokio::test]
async fn audio_in_answers_each_tick_with_what_plays_then() {
    use canopy_node::link::audio_in::{AudioIn, AudioInComponent, HeardFrame};
    let graph = Graph::new("test");
    let input = graph.spawn("link[7]/audio-in", |s| AudioInComponent::new(s, 7));
    let (mixer_in, mut mixer) = tap::<HeardFrame>(&graph, "audio");
    canopy_axon::link(&input.outbox("outbox").unwrap(), &mixer_in).unwrap();
    let mut to_input = driver(&graph, "datagrams-in", &input.inbox("inbox").unwrap());

    // Nothing has arrived: the tick is answered, with nothing to play.
    to_input
        .send(AudioIn::Tick {
            tick: 1,
            now_ms: 0.0,
        })
        .await
        .unwrap();
    let first = next(&mut mixer).await;
    assert_eq!((first.link, first.tick), (7, 1));
    assert!(first.frame.is_none());

    // A talk spurt: packets arrive, and later ticks play them, decoded.
    let mut encoder = canopy_audio::codec::VoiceEncoder::new(5).unwrap();
    for seq in 0..4u64 {
        to_input
            .send(AudioIn::Packet {
                seq,
                packet: encoder.encode(&tone()).unwrap(),
                arrival_ms: 100.0 + seq as f64 * 20.0,
            })
            .await
            .unwrap();
    }
    let mut played = 0;
    for tick in 2..12u64 {
        to_input
            .send(AudioIn::Tick {
                tick,
                now_ms: 100.0 + (tick - 2) as f64 * 20.0,
            })
            .await
            .unwrap();
        let answer = next(&mut mixer).await;
        assert_eq!(answer.tick, tick, "answers come in tick order");
        if answer
            .frame
            .is_some_and(|f| canopy_audio::mixer::level(&f) > 0.05)
        {
            played += 1;
        }
    }
    assert!(played >= 3, "the spurt was played ({played} frames)");
}

/// The local frames a file voice answers ticks 1..=ticks with.
async fn spoken(loops: bool, ticks: u64) -> Vec<LocalFrame> {
    let graph = Graph::new("test");
    // A frame and a half of a constant level.
    let samples = vec![0.5f32; FRAME_SAMPLES + FRAME_SAMPLES / 2];
    let voice = Voice::File {
        samples,
        position: 0,
        loops,
    };
    let component = graph.spawn("audio/voice", |s| VoiceComponent::new(s, voice));
    let (mixer_in, mut mixer) = tap::<LocalFrame>(&graph, "audio");
    canopy_axon::link(&component.outbox("outbox").unwrap(), &mixer_in).unwrap();
    let mut ticks_out = driver(&graph, "audio/ticks", &component.inbox("inbox").unwrap());
    let mut answers = Vec::new();
    for tick in 1..=ticks {
        ticks_out.send(VoiceTick(tick)).await.unwrap();
        answers.push(next(&mut mixer).await);
    }
    answers
}

#[tokio::test]
async fn the_voice_answers_each_tick_with_the_next_frame_of_its_file() {
    let once = spoken(false, 3).await;
    assert_eq!(
        once.iter().map(|f| f.tick).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let first = once[0].frame.as_ref().expect("a frame");
    assert!(first.iter().all(|s| *s == 0.5));
    let second = once[1].frame.as_ref().expect("the last half frame");
    assert!(second[..FRAME_SAMPLES / 2].iter().all(|s| *s == 0.5));
    assert!(second[FRAME_SAMPLES / 2..].iter().all(|s| *s == 0.0));
    assert!(once[2].frame.is_none(), "nothing after the end");
    // Looping starts again at the end.
    let looping = spoken(true, 3).await;
    let third = looping[2].frame.as_ref().expect("looped");
    assert!(third.iter().all(|s| *s == 0.5));
}
