//! A build without sound devices (the relay's): the same names as `sound`, but no
//! device can be opened, so no value of [`Microphone`] or [`Speaker`] ever exists.
//! WAV input and output still work; naming a device says why it cannot be used.

use anyhow::{bail, Result};
use canopy_audio::Frame;

use super::DeviceInfo;

/// Why nothing here opens.
const ABSENT: &str = "this canopy was built without sound devices (the `devices` feature \
     of canopy-node); use --audio-in/--audio-out WAV files, or the full `canopy` binary";

/// Lists no devices: says that this build has none.
pub fn list() -> Result<(String, Vec<DeviceInfo>)> {
    bail!(ABSENT)
}

/// A microphone that cannot exist in this build.
#[derive(Debug)]
pub enum Microphone {}

impl Microphone {
    /// Always an error: this build has no sound devices.
    pub fn open(_name: &str) -> Result<Self> {
        bail!(ABSENT)
    }

    /// Never called: there is no microphone.
    pub fn name(&self) -> &str {
        match *self {}
    }

    /// Never called: there is no microphone.
    pub fn next_frame(&mut self) -> Result<Option<Box<Frame>>> {
        match *self {}
    }
}

/// A speaker that cannot exist in this build.
#[derive(Debug)]
pub enum Speaker {}

impl Speaker {
    /// Always an error: this build has no sound devices.
    pub fn open(_name: &str) -> Result<Self> {
        bail!(ABSENT)
    }

    /// Never called: there is no speaker.
    pub fn name(&self) -> &str {
        match *self {}
    }

    /// Never called: there is no speaker.
    pub fn play(&mut self, _frame: &Frame) -> Result<()> {
        match *self {}
    }
}
