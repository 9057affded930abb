//! The `audio` component, the mixer: everyone hears everyone.
//!
//! Every 20 ms it asks `voice` for the local frame (a microphone through
//! [`crate::devices`], resampled there, or a WAV file) and each link's `audio-in` for
//! its frame (that component keeps the link's jitter buffer and decodes, recovers or
//! conceals on its own task); it waits at most [`HEARD_DEADLINE`] for the answers, mixes with
//! `canopy_audio::mixer::mix`
//! — each talking link gets everything but itself, all silent links share one full
//! mix — encodes the shared mix once and hands each talking link its own mix-minus
//! for that link's `audio-out` to encode (`crate::link::audio_out`), which sends
//! datagrams `[AUDIO][seq: u64 LE][Opus packet]`. What the speakers play goes to
//! `playback` (device and/or WAV), what the node hears to `recorder` (the file).

pub mod playback;
pub mod recorder;
pub mod voice;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use canopy_audio::codec::{VoiceDecoder, VoiceEncoder};
use canopy_audio::load::{next_complexity, MAX_COMPLEXITY};
use canopy_audio::mixer::{full_mix, level, limit, mix, playback};
use canopy_audio::{Frame, FRAME_MS, SAMPLE_RATE};
use canopy_axon::{ComponentHandle, Graph, Inbox, InboxRef, Outbox};

use crate::link::audio_in::{AudioIn, HeardFrame};
use crate::link::audio_out::AudioOut;
use crate::link::LinkAudio;
use crate::session::LinkId;
use crate::store::StoreInput;
use voice::{read_wav, LocalFrame, Voice, VoiceComponent, VoiceTick};

/// RMS level above which someone counts as speaking.
const SPEAKING: f32 = 0.01;
/// Frames a speaking indicator stays on after the voice drops (300 ms).
const HOLD: u32 = 15;

/// One voice's meter: its level and whether it is speaking (with a short hold, so
/// the indicator does not flicker between words).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Meter {
    /// RMS level of the last frame.
    pub level: f32,
    /// Speaking now (or within the last 300 ms).
    pub speaking: bool,
    hold: u32,
}

impl Meter {
    fn update(&mut self, level: f32) {
        self.level = level;
        if level >= SPEAKING {
            self.hold = HOLD;
        } else {
            self.hold = self.hold.saturating_sub(1);
        }
        self.speaking = self.hold > 0;
    }
}

/// What `canopy status` shows of audio, refreshed every frame by the component.
#[derive(Debug, Clone, Default)]
pub struct Meters {
    /// The local microphone (or `--audio-in`).
    pub local: Meter,
    /// Each link's incoming voice.
    pub links: BTreeMap<LinkId, Meter>,
    /// Streams encoded for the last frame (talkers + 1 at most).
    pub streams: usize,
    /// The local voice is muted.
    pub muted: bool,
    /// Master volume of what this node plays.
    pub master: f32,
    /// Per-link playback volume (links not listed play at 1).
    pub volumes: BTreeMap<LinkId, f32>,
    /// Opus complexity in use (lowered under load).
    pub complexity: i32,
    /// The microphone in use, if any.
    pub input_device: Option<String>,
    /// The speaker in use, if any.
    pub output_device: Option<String>,
    /// When the first 20 ms tick ran: tick `k` reads input frame `k` and writes output
    /// frame `k` (how the latency benchmark relates files to time).
    pub started: Option<std::time::Instant>,
}

/// Meters shared with the core for status.
pub type SharedMeters = std::sync::Arc<std::sync::Mutex<Meters>>;

/// Below this RMS level a decoded frame counts as silence (so its link can share
/// the full mix).
const SILENT: f32 = 1e-4;

/// What a person (or `canopy audio`) changes about this node's audio.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioControl {
    /// Stop (or resume) sending the local voice.
    Mute(bool),
    /// Master volume of what this node plays, 0..=2.
    Master(f32),
    /// Playback volume of one link (everyone heard through it), 0..=2.
    Volume {
        /// Which link (as in `canopy status`).
        link: LinkId,
        /// Its volume.
        gain: f32,
    },
}

/// Frames of a replayed recording held at most (100 ms).
const REPLAY_QUEUE: usize = 5;

/// Largest volume accepted (doubling).
pub const MAX_GAIN: f32 = 2.0;

/// What the audio component is told.
pub enum AudioInput {
    /// Mute, volumes.
    Control(AudioControl),
    /// A link is up: its `audio-in` answers ticks, its `audio-out` takes what the
    /// peer is to hear.
    LinkUp {
        /// Which.
        link: LinkId,
        /// The link's audio components.
        audio: LinkAudio,
    },
    /// A link ended.
    LinkDown {
        /// Which.
        link: LinkId,
    },
    /// A packet of a recording being replayed (`canopy play`): spoken to the
    /// session as this node's voice, and played here too.
    Recorded(Vec<u8>),
}

impl std::fmt::Debug for AudioInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AudioInput::Control(control) => write!(f, "Control({control:?})"),
            AudioInput::LinkUp { link, .. } => write!(f, "LinkUp({link})"),
            AudioInput::LinkDown { link } => write!(f, "LinkDown({link})"),
            AudioInput::Recorded(_) => write!(f, "Recorded"),
        }
    }
}

/// The process's audio clock, in milliseconds: packet arrivals and playout ticks are
/// stamped with it, so the jitter buffer can schedule one against the other.
pub fn clock_ms() -> f64 {
    ms_at(std::time::Instant::now())
}

/// `instant` on the audio clock.
fn ms_at(instant: std::time::Instant) -> f64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(std::time::Instant::now);
    match instant.checked_duration_since(epoch) {
        Some(after) => after.as_secs_f64() * 1000.0,
        None => -(epoch.duration_since(instant).as_secs_f64() * 1000.0),
    }
}

/// Where audio comes from and goes to.
#[derive(Debug, Clone, Default)]
pub struct AudioConfig {
    /// A 48 kHz WAV to speak (mixed to mono).
    pub input: Option<PathBuf>,
    /// Speak the WAV over and over instead of once.
    pub input_loops: bool,
    /// Where to write what the speakers play (48 kHz mono, 16-bit).
    pub output: Option<PathBuf>,
    /// Capture from this sound device ([`crate::devices::DEFAULT_DEVICE`] for the
    /// system's own); ignored when `input` is set.
    pub input_device: Option<String>,
    /// Play on this sound device.
    pub output_device: Option<String>,
    /// A device that cannot be opened is an error (the person named it); otherwise
    /// the node runs on without it and says so in the log (the window's defaults on
    /// a machine without a sound card).
    pub devices_required: bool,
}

/// Opens the named device with `open`; when devices are optional, a failure is
/// logged and the node runs on without it.
fn open_device<T>(
    name: Option<&String>,
    required: bool,
    what: &str,
    open: impl FnOnce(&str) -> Result<T>,
) -> Result<Option<T>> {
    let Some(name) = name else { return Ok(None) };
    match open(name) {
        Ok(device) => Ok(Some(device)),
        Err(error) if required => Err(error.context(format!("opening the {what}"))),
        Err(error) => {
            tracing::warn!("no {what}, running without one: {error:#}");
            Ok(None)
        }
    }
}

/// One link's audio state. The codecs (tens of KiB each) are made when the link first
/// speaks, so a relay's many silent links cost almost nothing.
struct Link {
    /// To the link's `audio-out`.
    out: Outbox<AudioOut>,
    /// To the link's `audio-in`: ticks.
    input: Outbox<AudioIn>,
}

/// How long a tick waits for the links' `audio-in` answers (a frame is 20 ms): one
/// that is later is heard as silence for that tick.
pub const HEARD_DEADLINE: Duration = Duration::from_millis(12);

/// Where a mixer takes input: control and links (`control`), and the frames links'
/// `audio-in` components answer ticks with (`heard`).
#[derive(Clone)]
pub struct AudioPorts {
    /// Mute, volumes, links up and down, replayed recordings.
    pub control: InboxRef<AudioInput>,
    /// Links' frames for each tick.
    pub heard: InboxRef<HeardFrame>,
}

/// The codec in `slot`, made on first use.
fn lazily<T, E>(slot: &mut Option<T>, make: impl FnOnce() -> Result<T, E>) -> Result<&mut T, E> {
    if slot.is_none() {
        *slot = Some(make()?);
    }
    match slot {
        Some(codec) => Ok(codec),
        None => unreachable!("filled above"),
    }
}

/// Spawns `audio`; returns its handle, its inbox and its meters.
pub fn spawn(
    graph: &Graph,
    name: &str,
    config: &AudioConfig,
) -> Result<(ComponentHandle, AudioPorts, SharedMeters)> {
    let meters = SharedMeters::default();
    let shared_meters = std::sync::Arc::clone(&meters);
    let voice = match &config.input {
        Some(path) => Voice::File {
            samples: read_wav(path)?,
            position: 0,
            loops: config.input_loops,
        },
        None => open_device(
            config.input_device.as_ref(),
            config.devices_required,
            "microphone",
            crate::devices::Microphone::open,
        )?
        .map_or(Voice::Silent, |m| Voice::Microphone(Box::new(m))),
    };
    let speaker = open_device(
        config.output_device.as_ref(),
        config.devices_required,
        "speaker",
        crate::devices::Speaker::open,
    )?;
    {
        let mut meter = meters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Voice::Microphone(microphone) = &voice {
            meter.input_device = Some(microphone.name().to_owned());
        }
        meter.output_device = speaker.as_ref().map(|s| s.name().to_owned());
    }
    let writer = match &config.output {
        Some(path) => Some(
            hound::WavWriter::create(
                path,
                hound::WavSpec {
                    channels: 1,
                    sample_rate: SAMPLE_RATE,
                    bits_per_sample: 16,
                    sample_format: hound::SampleFormat::Int,
                },
            )
            .with_context(|| format!("creating {}", path.display()))?,
        ),
        None => None,
    };
    let scope = graph.component(name);
    let mut inbox: Inbox<AudioInput> = scope.inbox_with_capacity("inbox", 4096);
    // Frames from links' `audio-in`, answering ticks.
    let mut heard_inbox: Inbox<HeardFrame> = scope.inbox_with_capacity("heard", 4096);
    let ports = AudioPorts {
        control: inbox.handle(),
        heard: heard_inbox.handle(),
    };
    // Linked to a recorder when the session keeps a file (`record_into`).
    let mut record: Outbox<recorder::Heard> = scope.outbox("record");
    // Linked to `playback` when there are speakers or an output file.
    let mut to_playback: Outbox<Box<Frame>> = scope.outbox("playback");
    if speaker.is_some() || writer.is_some() {
        let playback = graph.spawn(&format!("{name}/playback"), |s| {
            playback::Playback::new(s, speaker, writer)
        });
        canopy_axon::link(&to_playback.handle(), &playback.inbox("inbox")?)?;
    }
    // The local voice answers each tick with its frame, on a task of its own.
    let mut to_voice: Outbox<VoiceTick> = scope.outbox("voice");
    let mut local_inbox: Inbox<LocalFrame> = scope.inbox_with_capacity("local", 16);
    if !matches!(voice, Voice::Silent) {
        let speaking = graph.spawn(&format!("{name}/voice"), |s| VoiceComponent::new(s, voice));
        canopy_axon::link(&to_voice.handle(), &speaking.inbox("inbox")?)?;
        canopy_axon::link(&speaking.outbox("outbox")?, &local_inbox.handle())?;
    }
    let handle = scope.spawn_fn(move |ctx| async move {
        let started = tokio::time::Instant::now();
        shared_meters.lock().unwrap_or_else(std::sync::PoisonError::into_inner).started =
            Some(started.into_std());
        let mut ticker = tokio::time::interval(Duration::from_millis(FRAME_MS));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut links: BTreeMap<LinkId, Link> = BTreeMap::new();
        let mut tick_number: u64 = 0;
        let mut complexity = MAX_COMPLEXITY;
        let mut shared = VoiceEncoder::new(complexity)?;
        let (mut muted, mut master) = (false, 1.0f32);
        let mut volumes: BTreeMap<LinkId, f32> = BTreeMap::new();
        // What is being replayed from a recording.
        let mut replay_decoder: Option<VoiceDecoder> = None;
        let mut replayed: VecDeque<Box<Frame>> = VecDeque::new();
        {
            let mut meter = shared_meters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            meter.master = master;
            meter.complexity = complexity;
        }
        loop {
            tokio::select! {
                received = inbox.recv() => match received {
                    None => break,
                    Some(AudioInput::Control(control)) => {
                        let clamp = |g: f32| if g.is_finite() { g.clamp(0.0, MAX_GAIN) } else { 1.0 };
                        match control {
                            AudioControl::Mute(on) => muted = on,
                            AudioControl::Master(gain) => master = clamp(gain),
                            AudioControl::Volume { link, gain } => {
                                if links.contains_key(&link) {
                                    volumes.insert(link, clamp(gain));
                                }
                            }
                        }
                        let mut meter = shared_meters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        meter.muted = muted;
                        meter.master = master;
                        meter.volumes = volumes.clone();
                    }
                    Some(AudioInput::LinkUp { link, audio }) => {
                        let mut out = ctx.outbox::<AudioOut>(&format!("to-link[{link}]/out"));
                        let input = ctx.outbox::<AudioIn>(&format!("to-link[{link}]/in"));
                        if canopy_axon::link(&out.handle(), &audio.out).is_err()
                            || canopy_axon::link(&input.handle(), &audio.input).is_err()
                        {
                            continue; // the link has gone already
                        }
                        let _ = out.try_send(AudioOut::Complexity(complexity));
                        links.insert(link, Link { out, input });
                    }
                    Some(AudioInput::LinkDown { link }) => {
                        if let Some(state) = links.remove(&link) {
                            state.out.close();
                            state.input.close();
                        }
                        volumes.remove(&link);
                    }
                    Some(AudioInput::Recorded(packet)) => {
                        let decoder = lazily(&mut replay_decoder, VoiceDecoder::new)?;
                        if let Ok(frame) = decoder.decode(&packet) {
                            // A few frames of slack for the player's timing, no more.
                            if replayed.len() >= REPLAY_QUEUE {
                                replayed.pop_front();
                            }
                            replayed.push_back(frame);
                        }
                    }
                },
                tick = ticker.tick() => {
                    let now_ms = ms_at(tick.into_std());
                    let work = std::time::Instant::now();
                    // Ask the local voice and each link (its audio-in decodes) for this
                    // slot's frame, and take the answers that come in time.
                    tick_number = tick_number.wrapping_add(1);
                    let mut voice_waiting = to_voice.try_send(VoiceTick(tick_number)).is_ok();
                    let mut waiting = 0usize;
                    for state in links.values_mut() {
                        if state.input.try_send(AudioIn::Tick { tick: tick_number, now_ms }).is_ok() {
                            waiting += 1;
                        }
                    }
                    let mut frames: BTreeMap<LinkId, Box<Frame>> = BTreeMap::new();
                    let mut local = None;
                    let deadline = tokio::time::Instant::now() + HEARD_DEADLINE;
                    while waiting > 0 || voice_waiting {
                        tokio::select! {
                            answer = heard_inbox.recv() => {
                                let Some(answer) = answer else { break };
                                if answer.tick != tick_number {
                                    continue; // an answer to an earlier tick, too late
                                }
                                waiting = waiting.saturating_sub(1);
                                if let Some(frame) = answer.frame {
                                    frames.insert(answer.link, frame);
                                }
                            }
                            spoken = local_inbox.recv(), if voice_waiting => match spoken {
                                Some(spoken) if spoken.tick == tick_number => {
                                    local = spoken.frame;
                                    voice_waiting = false;
                                }
                                Some(_) => {} // for an earlier tick
                                None => voice_waiting = false,
                            },
                            () = tokio::time::sleep_until(deadline) => break, // late is silence
                        }
                    }
                    shared_meters
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .local
                        .update(local.as_deref().map_or(0.0, level));
                    // Muted: the voice is metered (so the person sees the mic works) but
                    // not sent.
                    let local = local.filter(|f| !muted && level(f) >= SILENT);
                    // A recording being replayed speaks too (mute is for the mic).
                    let replay = replayed.pop_front().filter(|f| level(f) >= SILENT);
                    let local = match (local, replay.as_deref()) {
                        (Some(mut voice), Some(replay)) => {
                            voice.iter_mut().zip(replay.iter()).for_each(|(v, r)| *v += *r);
                            limit(&mut voice);
                            Some(voice)
                        }
                        (None, Some(replay)) => Some(Box::new(*replay)),
                        (local, None) => local,
                    };
                    // In link order, so mixing is the same whatever order answers came in.
                    let heard: Vec<(LinkId, Option<Box<Frame>>)> = links
                        .keys()
                        .map(|id| (*id, frames.remove(id).filter(|f| level(f) >= SILENT)))
                        .collect();
                    {
                        let mut meter = shared_meters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        meter.links.retain(|id, _| links.contains_key(id));
                        for (id, frame) in &heard {
                            meter.links.entry(*id).or_default().update(frame.as_deref().map_or(0.0, level));
                        }
                    }
                    let inputs: Vec<(LinkId, Option<&Frame>)> = heard.iter().map(|(id, f)| (*id, f.as_deref())).collect();
                    let mixed = mix(local.as_deref(), &inputs);
                    // One encode per distinct stream; the shared one goes to every silent link.
                    let shared_packet = match &mixed.shared {
                        Some((frame, _)) if level(frame) >= SILENT => Some(std::sync::Arc::new(shared.encode(frame)?)),
                        _ => None,
                    };
                    for (id, state) in links.iter_mut() {
                        let out = match mixed.individual.iter().find(|(l, _)| l == id) {
                            // Its own mix-minus: encoded by the link's audio-out.
                            Some((_, frame)) if level(frame) >= SILENT => Some(AudioOut::Encode(frame.clone())),
                            Some(_) => None,
                            None => shared_packet.clone().map(AudioOut::Packet),
                        };
                        if let Some(out) = out {
                            // Real time: a link that cannot take it now would be late.
                            let _ = state.out.try_send(out);
                        }
                    }
                    shared_meters.lock().unwrap_or_else(std::sync::PoisonError::into_inner).streams =
                        mixed.individual.len() + usize::from(shared_packet.is_some());
                    // The recording keeps everything heard here, the local voice too.
                    if record.is_linked() {
                        // The shared mix is exactly that when there is one.
                        let computed;
                        let everything: &Frame = match &mixed.shared {
                            Some((frame, _)) => frame,
                            None => {
                                computed = full_mix(local.as_deref(), &inputs);
                                &computed
                            }
                        };
                        if level(everything) >= SILENT {
                            // Never wait on the recorder in real time.
                            let _ = record.try_send(recorder::Heard {
                                at_ms: crate::storage::now_ms(),
                                frame: Box::new(*everything),
                            });
                        }
                    }
                    if to_playback.is_linked() {
                        let mut speakers = playback(&inputs, |id| volumes.get(&id).copied().unwrap_or(1.0), master);
                        if let Some(replay) = replay.as_deref() {
                            // The person replaying hears the recording.
                            speakers.iter_mut().zip(replay.iter()).for_each(|(s, r)| *s += *r * master);
                            limit(&mut speakers);
                        }
                        // In tick order; a playback five seconds behind loses frames.
                        let _ = to_playback.try_send(speakers);
                    }
                    // Under load, cheaper encoding rather than falling behind real time.
                    let busy = work.elapsed().as_secs_f32() / (FRAME_MS as f32 / 1000.0);
                    let next = next_complexity(complexity, busy);
                    if next != complexity {
                        complexity = next;
                        let _ = shared.set_complexity(complexity);
                        for state in links.values_mut() {
                            let _ = state.out.try_send(AudioOut::Complexity(complexity));
                        }
                        shared_meters.lock().unwrap_or_else(std::sync::PoisonError::into_inner).complexity = complexity;
                        tracing::debug!(complexity, busy, "opus complexity changed");
                    }
                }
            }
        }
        Ok(())
    });
    Ok((handle, ports, meters))
}

/// Spawns `recorder`, fed by the mixer `audio` and feeding `store`: the session's file
/// keeps what this node hears.
pub fn record_into(
    graph: &Graph,
    name: &str,
    audio: &ComponentHandle,
    store: &InboxRef<StoreInput>,
) -> Result<ComponentHandle> {
    let recorder = graph.spawn(name, recorder::Recorder::new);
    canopy_axon::link(
        &audio.outbox::<recorder::Heard>("record")?,
        &recorder.inbox("inbox")?,
    )?;
    canopy_axon::link(&recorder.outbox::<StoreInput>("outbox")?, store)?;
    Ok(recorder)
}
