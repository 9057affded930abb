//! `audio/voice`: this node's own voice, one 20 ms frame for each mixer tick — a WAV
//! file's next samples, or the microphone's (captured at the device's rate and
//! resampled to 48 kHz here, by [`crate::devices::Microphone`]), so that work is off
//! the mixer's task. A device that fails ends this component; the mixer then hears
//! the local voice as silence.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use canopy_audio::{Frame, FRAME_SAMPLES, SAMPLE_RATE};
use canopy_axon::{BoxError, Component, Context, Inbox, Outbox, Scope};

/// The mixer's tick: the frame for slot `.0`, please.
#[derive(Debug, Clone, Copy)]
pub struct VoiceTick(pub u64);

/// The answer: the local frame for `tick` (`None`: nothing said).
#[derive(Debug)]
pub struct LocalFrame {
    /// The tick answered.
    pub tick: u64,
    /// The frame.
    pub frame: Option<Box<Frame>>,
}

/// Where the local voice comes from.
pub enum Voice {
    /// Nothing to say.
    Silent,
    /// A WAV file's samples, once or looping.
    File {
        /// 48 kHz mono.
        samples: Vec<f32>,
        /// The next sample to say.
        position: usize,
        /// Start again at the end.
        loops: bool,
    },
    /// A sound device.
    Microphone(Box<crate::devices::Microphone>),
}

impl Voice {
    /// The local voice for the next 20 ms.
    pub fn next_frame(&mut self) -> Result<Option<Box<Frame>>> {
        match self {
            Voice::Silent => Ok(None),
            Voice::File {
                samples,
                position,
                loops,
            } => {
                if *loops && *position >= samples.len() && !samples.is_empty() {
                    *position = 0;
                }
                if *position >= samples.len() {
                    return Ok(None);
                }
                let mut frame = Box::new([0.0f32; FRAME_SAMPLES]);
                let end = (*position + FRAME_SAMPLES).min(samples.len());
                frame[..end - *position].copy_from_slice(&samples[*position..end]);
                *position += FRAME_SAMPLES;
                Ok(Some(frame))
            }
            Voice::Microphone(microphone) => microphone.next_frame(),
        }
    }
}

/// Reads a WAV as 48 kHz mono samples.
pub fn read_wav(path: &Path) -> Result<Vec<f32>> {
    let mut reader =
        hound::WavReader::open(path).with_context(|| format!("reading {}", path.display()))?;
    let spec = reader.spec();
    if spec.sample_rate != SAMPLE_RATE {
        bail!(
            "{} is {} Hz; Canopy reads 48000 Hz (convert it: sox IN -r 48000 OUT.wav)",
            path.display(),
            spec.sample_rate
        );
    }
    let channels = usize::from(spec.channels.max(1));
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = (1i64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 / scale))
                .collect::<Result<_, _>>()?
        }
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>()?,
    };
    Ok(samples
        .chunks(channels)
        .map(|c| c.iter().sum::<f32>() / c.len() as f32)
        .collect())
}

/// The voice component.
pub struct VoiceComponent {
    inbox: Inbox<VoiceTick>,
    /// To the mixer.
    frames: Outbox<LocalFrame>,
    voice: Voice,
}

impl VoiceComponent {
    /// Makes the boxes.
    pub fn new(scope: &Scope, voice: Voice) -> Self {
        Self {
            inbox: scope.inbox_with_capacity("inbox", 16),
            frames: scope.outbox("outbox"),
            voice,
        }
    }
}

impl Component for VoiceComponent {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        while let Some(VoiceTick(tick)) = self.inbox.recv().await {
            let frame = self.voice.next_frame()?;
            // Real time: a mixer that cannot take it now has moved on.
            let _ = self.frames.try_send(LocalFrame { tick, frame });
        }
        Ok(())
    }
}
