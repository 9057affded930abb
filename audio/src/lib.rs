//! # canopy-audio — everyone hears everyone (sans-I/O DSP)
//!
//! Frames in, frames out; no devices, sockets, clocks or threads (those live in
//! `node`). Audio is 48 kHz mono in 20 ms frames of [`FRAME_SAMPLES`] `f32` samples.
//!
//! - [`codec`]: Opus voice encoder (in-band FEC, DTX) and decoder (loss concealment,
//!   FEC recovery).
//! - [`jitter`]: an adaptive jitter buffer that reorders, drops late and duplicate
//!   packets and says, every 20 ms, what to play.
//! - [`mixer`]: mix-minus: each link gets every source but itself; links whose own
//!   contribution is silent share one full mix, so K talkers cost K+1 mixes; and the
//!   local playback with per-link and master volume.
//! - [`load`]: lowers Opus complexity when a frame's work takes too long.
//! - [`resample`]: converts between a sound device's sample rate and 48 kHz.

pub mod codec;
pub mod jitter;
pub mod load;
pub mod mixer;
pub mod resample;

/// Samples per second.
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 20 ms frame.
pub const FRAME_SAMPLES: usize = 960;
/// Milliseconds in one frame.
pub const FRAME_MS: u64 = 20;

/// One 20 ms frame of mono audio, samples in -1.0..=1.0.
pub type Frame = [f32; FRAME_SAMPLES];

/// A silent frame.
pub const SILENCE: Frame = [0.0; FRAME_SAMPLES];
