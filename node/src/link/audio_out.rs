//! `link[N]/audio-out`: this link's outgoing audio. The mixer hands it either the
//! link's own mix-minus (when someone on this link is talking: encoded here, on the
//! link's own task, so encoding spreads over every core) or the shared full mix
//! already encoded once for every silent link. It numbers the packets and sends them
//! as datagrams.

use std::sync::Arc;

use canopy_audio::codec::VoiceEncoder;
use canopy_audio::Frame;
use canopy_axon::{BoxError, Component, Context, Inbox, Outbox, Scope};
use canopy_protocol::Datagram;

use crate::session::LinkId;

/// What the mixer hands a link's audio-out.
#[derive(Debug)]
pub enum AudioOut {
    /// The link's own mix-minus, to encode.
    Encode(Box<Frame>),
    /// The shared mix, encoded already.
    Packet(Arc<Vec<u8>>),
    /// Encode at this Opus complexity from now on (lowered under load).
    Complexity(i32),
}

/// The audio-out component.
pub struct AudioOutComponent {
    inbox: Inbox<AudioOut>,
    /// To the link's `datagrams-out`.
    datagrams: Outbox<Vec<u8>>,
    link: LinkId,
    complexity: i32,
}

impl AudioOutComponent {
    /// Makes the boxes.
    pub fn new(scope: &Scope, link: LinkId) -> Self {
        Self {
            inbox: scope.inbox("inbox"),
            datagrams: scope.outbox("outbox"),
            link,
            complexity: canopy_audio::load::MAX_COMPLEXITY,
        }
    }
}

impl Component for AudioOutComponent {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        // Made when the link first talks: a relay's many silent links cost nothing.
        let mut encoder: Option<VoiceEncoder> = None;
        let mut sent: u64 = 0;
        while let Some(out) = self.inbox.recv().await {
            let packet = match out {
                AudioOut::Complexity(complexity) => {
                    self.complexity = complexity;
                    if let Some(encoder) = encoder.as_mut() {
                        let _ = encoder.set_complexity(complexity);
                    }
                    continue;
                }
                AudioOut::Packet(packet) => Datagram::audio(sent, &packet),
                AudioOut::Encode(frame) => {
                    if encoder.is_none() {
                        encoder = Some(VoiceEncoder::new(self.complexity)?);
                    }
                    let Some(encoder) = encoder.as_mut() else {
                        continue;
                    };
                    match encoder.encode(&frame) {
                        Ok(packet) => Datagram::audio(sent, &packet),
                        Err(error) => {
                            tracing::warn!(link = self.link, %error, "a frame could not be encoded");
                            continue;
                        }
                    }
                }
            };
            sent = sent.wrapping_add(1);
            // Real time: a datagram the link cannot take now is late.
            let _ = self.datagrams.try_send(packet);
        }
        Ok(())
    }
}
