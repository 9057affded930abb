//! The cpal implementation of [`super`]: real sound devices.

use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};
use canopy_audio::resample::RateConverter;
use canopy_audio::{Frame, FRAME_SAMPLES, SAMPLE_RATE};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SizedSample};

use super::{DeviceInfo, DEFAULT_DEVICE};

/// How long a device may take to start before we give up on it.
const OPEN_TIMEOUT: Duration = Duration::from_secs(3);

/// Capture kept waiting at most (60 ms at 48 kHz): beyond, the oldest goes, so a
/// device clock that runs a little fast never builds up delay.
const MAX_CAPTURED: usize = 3 * FRAME_SAMPLES;

/// Playback queued before the speaker starts (and restarts after running dry): one
/// frame, so the 20 ms tick's own wobble does not cause gaps.
const PRIME_MS: u32 = 20;

/// Playback queued at most (100 ms): beyond, frames are dropped, so a device clock
/// that runs a little slow never builds up delay.
const MAX_QUEUED_MS: u32 = 100;

/// `$build::<T>(args…)` with `T` the sample type cpal names in `$format`; formats
/// Canopy does not convert give `Err($unsupported(format))`.
macro_rules! with_sample_type {
    ($format:expr, $build:ident($($arg:expr),*), $unsupported:expr) => {
        match $format {
            cpal::SampleFormat::F32 => $build::<f32>($($arg),*),
            cpal::SampleFormat::I16 => $build::<i16>($($arg),*),
            cpal::SampleFormat::I32 => $build::<i32>($($arg),*),
            cpal::SampleFormat::U8 => $build::<u8>($($arg),*),
            cpal::SampleFormat::U16 => $build::<u16>($($arg),*),
            cpal::SampleFormat::F64 => $build::<f64>($($arg),*),
            other => Err($unsupported(other)),
        }
    };
}

/// The sound host in use (PulseAudio when a server runs, else ALSA).
fn host() -> cpal::Host {
    cpal::default_host()
}

/// Runs `probe` with alsa-lib's error messages (a machine without a sound card, or
/// with plugins for absent servers, prints screenfuls of them) sent to our debug log
/// instead of stderr. They are caught per thread, and only while `probe` runs.
fn quietly<T>(probe: impl FnOnce() -> T) -> T {
    let caught = alsa::Output::local_error_handler().ok();
    let result = probe();
    if let Some(caught) = caught {
        let text = caught.borrow().to_string();
        if !text.is_empty() {
            tracing::debug!("alsa-lib said: {}", text.trim_end());
        }
        // A fresh, empty buffer for whatever else this thread does.
        let _ = alsa::Output::local_error_handler();
    }
    result
}

/// The name a device is chosen by: the host's identifier for it.
fn device_name(device: &cpal::Device) -> String {
    device
        .id()
        .map(|id| id.id().to_owned())
        .unwrap_or_else(|_| device.to_string())
}

/// Which host and which devices this machine has.
pub fn list() -> Result<(String, Vec<DeviceInfo>)> {
    quietly(list_devices)
}

fn list_devices() -> Result<(String, Vec<DeviceInfo>)> {
    let host = host();
    let host_name = host.id().name().to_owned();
    let default_input = host.default_input_device().map(|d| device_name(&d));
    let default_output = host.default_output_device().map(|d| device_name(&d));
    let mut found = Vec::new();
    for device in host
        .devices()
        .with_context(|| format!("listing {host_name} devices"))?
    {
        let name = device_name(&device);
        let (input, output) = (device.supports_input(), device.supports_output());
        let native = device
            .default_input_config()
            .or_else(|_| device.default_output_config())
            .ok()
            .map(|c| (c.sample_rate(), c.channels()));
        found.push(DeviceInfo {
            description: device
                .description()
                .map(|d| d.name().to_owned())
                .unwrap_or_default(),
            default_input: input && default_input.as_deref() == Some(&name),
            default_output: output && default_output.as_deref() == Some(&name),
            name,
            input,
            output,
            native,
        });
    }
    Ok((host_name, found))
}

/// Finds the device called `name` (or the default) that can capture (`input`) or play.
fn find(name: &str, input: bool) -> Result<cpal::Device> {
    let host = host();
    let kind = if input { "input" } else { "output" };
    if name == DEFAULT_DEVICE {
        let device = if input {
            host.default_input_device()
        } else {
            host.default_output_device()
        };
        return device.ok_or_else(|| {
            anyhow!(
                "no default sound {kind} device ({} host); `canopy devices` lists what there is",
                host.id().name()
            )
        });
    }
    let usable = |d: &cpal::Device| {
        if input {
            d.supports_input()
        } else {
            d.supports_output()
        }
    };
    let devices: Vec<cpal::Device> = host
        .devices()
        .with_context(|| format!("listing {} devices", host.id().name()))?
        .filter(usable)
        .collect();
    // The exact name first, then a description that matches it.
    let exact = devices.iter().find(|d| device_name(d) == name);
    let described = || {
        devices.iter().find(|d| {
            d.description()
                .is_ok_and(|desc| desc.name().eq_ignore_ascii_case(name))
        })
    };
    exact.or_else(described).cloned().ok_or_else(|| {
        anyhow!(
            "no sound {kind} device called {name:?} ({} host); `canopy devices` lists what there is",
            host.id().name()
        )
    })
}

/// The device's own configuration, asking for 10 ms callbacks when it allows.
fn stream_config(
    device: &cpal::Device,
    input: bool,
) -> Result<(cpal::StreamConfig, cpal::SampleFormat)> {
    let supported = if input {
        device.default_input_config()
    } else {
        device.default_output_config()
    }
    .with_context(|| {
        format!(
            "asking {} for its format (`canopy devices` lists what there is)",
            device_name(device)
        )
    })?;
    let mut config = supported.config();
    let period = config.sample_rate / 100;
    if let cpal::SupportedBufferSize::Range { min, max } = supported.buffer_size() {
        if (*min..=*max).contains(&period) {
            config.buffer_size = cpal::BufferSize::Fixed(period);
        }
    }
    Ok((config, supported.sample_format()))
}

/// Logs a stream error (from cpal's thread; not the real-time data path).
fn report(device: String) -> impl FnMut(cpal::Error) + Send + 'static {
    move |error| tracing::warn!(device = %device, %error, "sound device error")
}

/// A microphone: hands out 48 kHz mono frames as the device captures them.
pub struct Microphone {
    /// Kept for its lifetime; closed by [`close_elsewhere`] on drop.
    stream: Option<cpal::Stream>,
    samples: rtrb::Consumer<f32>,
    converter: RateConverter,
    raw: Vec<f32>,
    ready: Vec<f32>,
    name: String,
}

impl std::fmt::Debug for Microphone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Microphone")
            .field("name", &self.name)
            .field("rate", &self.converter.from_rate())
            .finish()
    }
}

impl Microphone {
    /// Opens the input device called `name` (or [`DEFAULT_DEVICE`]) and starts capturing.
    pub fn open(name: &str) -> Result<Self> {
        quietly(|| Self::open_device(name))
    }

    fn open_device(name: &str) -> Result<Self> {
        let device = find(name, true)?;
        let name = device_name(&device);
        let (config, format) = stream_config(&device, true)?;
        let rate = config.sample_rate;
        // Half a second of room: the component drains it every 20 ms.
        let (producer, samples) = rtrb::RingBuffer::new(rate as usize / 2);
        let stream = with_sample_type!(format, capture(&device, &config, producer), |other| {
            anyhow!("{name} captures {other:?} samples, which Canopy does not read")
        })?;
        stream
            .play()
            .with_context(|| format!("starting capture from {name}"))?;
        tracing::info!(device = %name, rate, channels = config.channels, "microphone open");
        Ok(Self {
            stream: Some(stream),
            samples,
            converter: RateConverter::new(rate, SAMPLE_RATE)?,
            raw: Vec::with_capacity(rate as usize / 10),
            ready: Vec::with_capacity(MAX_CAPTURED * 2),
            name,
        })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next 20 ms frame, once the device has captured it.
    pub fn next_frame(&mut self) -> Result<Option<Box<Frame>>> {
        let waiting = self.samples.slots();
        if let Ok(chunk) = self.samples.read_chunk(waiting) {
            let (first, second) = chunk.as_slices();
            self.raw.clear();
            self.raw.extend_from_slice(first);
            self.raw.extend_from_slice(second);
            chunk.commit_all();
            self.converter.process(&self.raw, &mut self.ready)?;
        }
        if self.ready.len() > MAX_CAPTURED + FRAME_SAMPLES {
            let excess = self.ready.len() - MAX_CAPTURED;
            self.ready.drain(..excess);
        }
        if self.ready.len() < FRAME_SAMPLES {
            return Ok(None);
        }
        let mut frame = Box::new([0.0f32; FRAME_SAMPLES]);
        frame.copy_from_slice(&self.ready[..FRAME_SAMPLES]);
        self.ready.drain(..FRAME_SAMPLES);
        Ok(Some(frame))
    }
}

impl Drop for Microphone {
    fn drop(&mut self) {
        close_elsewhere(self.stream.take());
    }
}

/// Closes a device's stream on a thread of its own: cpal's PulseAudio streams join
/// their worker threads when dropped, which has taken tens of seconds here. Done on
/// the async runtime it would hold up its shutdown and the process's exit; a
/// detached thread holds up nothing.
fn close_elsewhere(stream: Option<cpal::Stream>) {
    let Some(stream) = stream else { return };
    let closing = std::thread::Builder::new()
        .name("canopy-device-close".into())
        .spawn(move || drop(stream));
    if let Err(error) = closing {
        // The stream went down with the closure, here and now.
        tracing::debug!(%error, "closed a sound device on the caller's thread");
    }
}

/// Builds the capture stream: the callback mixes each frame down to mono and queues it.
fn capture<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    mut producer: rtrb::Producer<f32>,
) -> Result<cpal::Stream>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    let callback = move |data: &[T], _: &cpal::InputCallbackInfo| {
        for frame in data.chunks_exact(channels) {
            let sum: f32 = frame.iter().map(|s| s.to_sample::<f32>()).sum();
            // Full: the component fell behind, and this sample is dropped.
            let _ = producer.push(sum / channels as f32);
        }
    };
    device
        .build_input_stream(
            *config,
            callback,
            report(device_name(device)),
            Some(OPEN_TIMEOUT),
        )
        .with_context(|| format!("opening {} for capture", device_name(device)))
}

/// A speaker: plays 48 kHz mono frames on the device.
pub struct Speaker {
    /// Kept for its lifetime; closed by [`close_elsewhere`] on drop.
    stream: Option<cpal::Stream>,
    samples: rtrb::Producer<f32>,
    converter: RateConverter,
    converted: Vec<f32>,
    max_queued: usize,
    name: String,
}

impl std::fmt::Debug for Speaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speaker")
            .field("name", &self.name)
            .field("rate", &self.converter.to_rate())
            .finish()
    }
}

impl Speaker {
    /// Opens the output device called `name` (or [`DEFAULT_DEVICE`]) and starts it.
    pub fn open(name: &str) -> Result<Self> {
        quietly(|| Self::open_device(name))
    }

    fn open_device(name: &str) -> Result<Self> {
        let device = find(name, false)?;
        let name = device_name(&device);
        let (config, format) = stream_config(&device, false)?;
        let rate = config.sample_rate;
        let (samples, consumer) = rtrb::RingBuffer::new(rate as usize / 2);
        let prime = (rate * PRIME_MS / 1000) as usize;
        let stream = with_sample_type!(format, play(&device, &config, consumer, prime), |other| {
            anyhow!("{name} plays {other:?} samples, which Canopy does not write")
        })?;
        stream
            .play()
            .with_context(|| format!("starting playback on {name}"))?;
        tracing::info!(device = %name, rate, channels = config.channels, "speaker open");
        Ok(Self {
            stream: Some(stream),
            samples,
            converter: RateConverter::new(SAMPLE_RATE, rate)?,
            converted: Vec::with_capacity(rate as usize / 10),
            max_queued: (rate * MAX_QUEUED_MS / 1000) as usize,
            name,
        })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Queues one frame for the device.
    pub fn play(&mut self, frame: &Frame) -> Result<()> {
        self.converted.clear();
        self.converter.process(frame, &mut self.converted)?;
        let queued = self.samples.buffer().capacity() - self.samples.slots();
        if queued + self.converted.len() > self.max_queued {
            // The device is slower than our clock: drop rather than lag.
            return Ok(());
        }
        for &sample in &self.converted {
            if self.samples.push(sample).is_err() {
                break;
            }
        }
        Ok(())
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        close_elsewhere(self.stream.take());
    }
}

/// Builds the playback stream: the callback plays queued mono samples on every
/// channel, waiting for `prime` samples before it starts (and after running dry).
fn play<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    mut consumer: rtrb::Consumer<f32>,
    prime: usize,
) -> Result<cpal::Stream>
where
    T: SizedSample + FromSample<f32>,
{
    let channels = usize::from(config.channels.max(1));
    let mut playing = false;
    let callback = move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
        if !playing && consumer.slots() >= prime {
            playing = true;
        }
        for frame in data.chunks_exact_mut(channels) {
            let sample = if playing {
                match consumer.pop() {
                    Ok(sample) => sample.clamp(-1.0, 1.0),
                    Err(_) => {
                        // Ran dry: wait for a primed buffer again.
                        playing = false;
                        0.0
                    }
                }
            } else {
                0.0
            };
            let sample = T::from_sample(sample);
            for out in frame.iter_mut() {
                *out = sample;
            }
        }
    };
    device
        .build_output_stream(
            *config,
            callback,
            report(device_name(device)),
            Some(OPEN_TIMEOUT),
        )
        .with_context(|| format!("opening {} for playback", device_name(device)))
}
