//! Opus, set up for voice: VoIP application, in-band forward error correction (each
//! packet carries a low-rate copy of the previous frame) and DTX (near-empty packets
//! while silent).

use crate::{Frame, FRAME_SAMPLES, SAMPLE_RATE};

/// Largest packet the encoder may produce.
pub const MAX_PACKET: usize = 1275;

/// Why the codec failed (always a bug or a hostile packet, never normal operation).
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// libopus said no.
    #[error("opus: {0}")]
    Opus(#[from] opus::Error),
    /// A packet that does not hold one 20 ms frame.
    #[error("packet holds {0} samples, not one 20 ms frame")]
    WrongLength(usize),
}

/// Encodes 20 ms frames for the network.
pub struct VoiceEncoder {
    inner: opus::Encoder,
}

impl VoiceEncoder {
    /// An encoder at `complexity` (0–10; lower under load), expecting some loss.
    pub fn new(complexity: i32) -> Result<Self, CodecError> {
        let mut inner =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)?;
        inner.set_bitrate(opus::Bitrate::Bits(32_000))?;
        // Voice, so Opus stays in its SILK/hybrid modes, which carry in-band FEC.
        inner.set_signal(opus::Signal::Voice)?;
        inner.set_inband_fec(true)?;
        inner.set_packet_loss_perc(10)?;
        inner.set_dtx(true)?;
        inner.set_complexity(complexity.clamp(0, 10))?;
        Ok(Self { inner })
    }

    /// Lowers or raises the work per frame (when a node has many streams to encode).
    pub fn set_complexity(&mut self, complexity: i32) -> Result<(), CodecError> {
        Ok(self.inner.set_complexity(complexity.clamp(0, 10))?)
    }

    /// One frame to one packet.
    pub fn encode(&mut self, frame: &Frame) -> Result<Vec<u8>, CodecError> {
        Ok(self.inner.encode_vec_float(frame, MAX_PACKET)?)
    }
}

/// Decodes one link's packets.
pub struct VoiceDecoder {
    inner: opus::Decoder,
}

impl VoiceDecoder {
    /// A decoder.
    pub fn new() -> Result<Self, CodecError> {
        Ok(Self {
            inner: opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono)?,
        })
    }

    fn run(&mut self, packet: &[u8], fec: bool) -> Result<Box<Frame>, CodecError> {
        let mut frame = Box::new([0.0f32; FRAME_SAMPLES]);
        let samples = self.inner.decode_float(packet, &mut frame[..], fec)?;
        if samples != FRAME_SAMPLES {
            return Err(CodecError::WrongLength(samples));
        }
        Ok(frame)
    }

    /// Decodes a packet.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Box<Frame>, CodecError> {
        self.run(packet, false)
    }

    /// A frame to play in place of a lost packet (packet-loss concealment).
    pub fn conceal(&mut self) -> Result<Box<Frame>, CodecError> {
        self.run(&[], false)
    }

    /// Rebuilds a lost frame from the FEC data in the packet that followed it. Decode
    /// `next` itself normally afterwards.
    pub fn recover(&mut self, next: &[u8]) -> Result<Box<Frame>, CodecError> {
        self.run(next, true)
    }
}
