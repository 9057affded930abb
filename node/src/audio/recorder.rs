//! `recorder`: what this node hears, for the session's `.canopy` file. The mixer hands
//! it the full mix of each non-silent frame; it encodes them (Opus, middling
//! complexity: a file, not a live link) off the mixer's real-time tick and gives the
//! packets to the store, which batches them.

use canopy_audio::codec::VoiceEncoder;
use canopy_audio::Frame;
use canopy_axon::{BoxError, Component, Context, Inbox, Outbox, Scope};

use crate::store::StoreInput;

/// Opus complexity of the recording's encoder.
const RECORDING_COMPLEXITY: i32 = 5;

/// A frame heard, and when (Unix milliseconds, the ops' clock).
#[derive(Debug)]
pub struct Heard {
    /// When.
    pub at_ms: u64,
    /// The full mix.
    pub frame: Box<Frame>,
}

/// The recorder component.
pub struct Recorder {
    inbox: Inbox<Heard>,
    /// To the store.
    store: Outbox<StoreInput>,
}

impl Recorder {
    /// Makes the boxes.
    pub fn new(scope: &Scope) -> Self {
        Self {
            inbox: scope.inbox_with_capacity("inbox", 256),
            store: scope.outbox("outbox"),
        }
    }
}

impl Component for Recorder {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        let mut encoder = VoiceEncoder::new(RECORDING_COMPLEXITY)?;
        while let Some(Heard { at_ms, frame }) = self.inbox.recv().await {
            match encoder.encode(&frame) {
                Ok(packet) => {
                    if self
                        .store
                        .send(StoreInput::Audio { at_ms, packet })
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Err(error) => tracing::warn!(%error, "a recorded frame could not be encoded"),
            }
        }
        Ok(())
    }
}
