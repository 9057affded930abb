//! `playback`: what this node's speakers play, to the output device and/or the
//! `--audio-out` WAV file. Writing a file is disk I/O, so it happens here and not on
//! the mixer's 20 ms tick; the device's own ring buffer smooths the rest. Frames come
//! in tick order, so frame `k` of the file is tick `k` (the latency benchmark relies
//! on it).

use canopy_audio::Frame;
use canopy_axon::{BoxError, Component, Context, Inbox, Scope};

use crate::devices::Speaker;

/// The WAV writer `--audio-out` uses.
pub type WavOut = hound::WavWriter<std::io::BufWriter<std::fs::File>>;

/// The playback component.
pub struct Playback {
    inbox: Inbox<Box<Frame>>,
    speaker: Option<Speaker>,
    writer: Option<WavOut>,
}

impl Playback {
    /// Makes the boxes (five seconds of frames may queue while a disk is slow).
    pub fn new(scope: &Scope, speaker: Option<Speaker>, writer: Option<WavOut>) -> Self {
        Self {
            inbox: scope.inbox_with_capacity("inbox", 256),
            speaker,
            writer,
        }
    }
}

impl Component for Playback {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        while let Some(frame) = self.inbox.recv().await {
            if let Some(speaker) = self.speaker.as_mut() {
                speaker.play(&frame)?;
            }
            if let Some(writer) = self.writer.as_mut() {
                for sample in frame.iter() {
                    writer.write_sample((sample.clamp(-1.0, 1.0) * 32767.0) as i16)?;
                }
            }
        }
        if let Some(writer) = self.writer.take() {
            writer.finalize()?;
        }
        Ok(())
    }
}
