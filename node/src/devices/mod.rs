//! Microphones and speakers: through cpal with the `devices` feature, none without it.
//!
//! cpal calls us from its real-time audio threads; those callbacks never block and
//! never allocate. They only move samples through lock-free ring buffers (`rtrb`),
//! mixed down to mono at the device's own rate. The `audio` component does the rest
//! on its 20 ms tick: a [`Microphone`] hands it 48 kHz frames (resampled with
//! `canopy_audio::resample`), a [`Speaker`] takes 48 kHz frames and resamples them to
//! the device. The host is PulseAudio (or PipeWire's Pulse server) when one runs,
//! otherwise ALSA.

#[cfg(not(feature = "devices"))]
mod absent;
#[cfg(feature = "devices")]
mod sound;

#[cfg(not(feature = "devices"))]
pub use absent::{list, Microphone, Speaker};
#[cfg(feature = "devices")]
pub use sound::{list, Microphone, Speaker};

/// Name that means "the system's default device".
pub const DEFAULT_DEVICE: &str = "default";

/// One sound device, as `canopy devices` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceInfo {
    /// The name to pass to `--input-device` / `--output-device`.
    pub name: String,
    /// A human description, when the host has one.
    pub description: String,
    /// It can capture.
    pub input: bool,
    /// It can play.
    pub output: bool,
    /// The system's default input.
    pub default_input: bool,
    /// The system's default output.
    pub default_output: bool,
    /// Its native sample rate and channels, when it says.
    pub native: Option<(u32, u16)>,
}
