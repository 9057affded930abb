//! `link[N]/audio-in`: this link's incoming voice. Packets from `datagrams-in` go
//! into the link's jitter buffer as they arrive; on each 20 ms tick of the mixer it
//! pops what is due and decodes it (or rebuilds a lost frame from the next packet's
//! FEC, or conceals one), on the link's own task, and hands the frame back to the
//! mixer for that tick. Decoding thus spreads over every core.

use canopy_audio::codec::VoiceDecoder;
use canopy_audio::jitter::{JitterBuffer, Playout};
use canopy_audio::Frame;
use canopy_axon::{BoxError, Component, Context, Inbox, Outbox, Scope};

use crate::session::LinkId;

/// What a link's audio-in is given.
#[derive(Debug)]
pub enum AudioIn {
    /// A packet arrived.
    Packet {
        /// The sender's frame number.
        seq: u64,
        /// The Opus packet.
        packet: Vec<u8>,
        /// Arrival, in `crate::audio::clock_ms` milliseconds.
        arrival_ms: f64,
    },
    /// The mixer's tick `tick`, at `now_ms` on the same clock: what plays now?
    Tick {
        /// The tick's number.
        tick: u64,
        /// Its time.
        now_ms: f64,
    },
}

/// A link's frame for one tick of the mixer.
#[derive(Debug)]
pub struct HeardFrame {
    /// Which link.
    pub link: LinkId,
    /// Which tick it answers.
    pub tick: u64,
    /// What plays (`None`: nothing yet, or silence).
    pub frame: Option<Box<Frame>>,
}

/// The audio-in component.
pub struct AudioInComponent {
    inbox: Inbox<AudioIn>,
    /// To the mixer.
    mixer: Outbox<HeardFrame>,
    link: LinkId,
}

impl AudioInComponent {
    /// Makes the boxes.
    pub fn new(scope: &Scope, link: LinkId) -> Self {
        Self {
            inbox: scope.inbox_with_capacity("inbox", 256),
            mixer: scope.outbox("outbox"),
            link,
        }
    }
}

impl Component for AudioInComponent {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        let mut jitter = JitterBuffer::new();
        // Made when the link first speaks: a relay's many silent links cost nothing.
        let mut decoder: Option<VoiceDecoder> = None;
        while let Some(input) = self.inbox.recv().await {
            match input {
                AudioIn::Packet {
                    seq,
                    packet,
                    arrival_ms,
                } => jitter.push(seq, packet, arrival_ms),
                AudioIn::Tick { tick, now_ms } => {
                    let playout = jitter.pop(now_ms);
                    if decoder.is_none()
                        && matches!(playout, Playout::Packet(_) | Playout::Recover(_))
                    {
                        decoder = Some(VoiceDecoder::new()?);
                    }
                    let frame = match (playout, decoder.as_mut()) {
                        (Playout::Packet(packet), Some(d)) => d.decode(&packet).ok(),
                        (Playout::Recover(next), Some(d)) => d.recover(&next).ok(),
                        // Nothing heard yet: nothing to conceal.
                        (Playout::Conceal, Some(d)) => d.conceal().ok(),
                        _ => None,
                    };
                    // Real time: a mixer that has moved on does not want it.
                    let _ = self.mixer.try_send(HeardFrame {
                        link: self.link,
                        tick,
                        frame,
                    });
                }
            }
        }
        Ok(())
    }
}
