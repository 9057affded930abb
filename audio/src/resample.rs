//! Sample-rate conversion between a sound device's rate and Canopy's 48 kHz.
//!
//! Sound cards and sound servers run at 44.1 kHz, 48 kHz or something else; Canopy's
//! frames are 48 kHz mono. A [`RateConverter`] takes mono samples at one rate, any
//! number at a time, and returns them at the other (rubato's FFT resampler, which is
//! exact for fixed ratios). Plain data in and out, so it lives here, not in `node`.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// Samples per conversion chunk at the input rate: 10 ms, so little waits inside.
const CHUNK_MS: usize = 10;

/// Lowest and highest device rates accepted (what sound hardware offers).
pub const RATES: std::ops::RangeInclusive<u32> = 8_000..=384_000;

/// Why a converter could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    /// The rate is not one sound hardware uses.
    #[error("sample rate {0} Hz is outside {min}..={max} Hz", min = RATES.start(), max = RATES.end())]
    UnsupportedRate(u32),
    /// rubato refused the ratio.
    #[error("resampler: {0}")]
    Construction(#[from] rubato::ResamplerConstructionError),
    /// rubato failed on a chunk (a bug: the buffers are sized from its own figures).
    #[error("resampler: {0}")]
    Process(#[from] rubato::ResampleError),
    /// A buffer did not match its stated size (a bug, as above).
    #[error("resampler buffer: {0}")]
    Buffer(#[from] rubato::audioadapter_buffers::SizeError),
}

/// Converts a mono stream from one sample rate to another.
pub struct RateConverter {
    /// `None` when both rates are equal: samples pass through untouched.
    fft: Option<Fft<f32>>,
    /// Input waiting for a whole chunk.
    pending: Vec<f32>,
    /// One chunk's output.
    scratch: Vec<f32>,
    from: u32,
    to: u32,
}

impl std::fmt::Debug for RateConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateConverter")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl RateConverter {
    /// A converter from `from` Hz to `to` Hz.
    pub fn new(from: u32, to: u32) -> Result<Self, ResampleError> {
        for rate in [from, to] {
            if !RATES.contains(&rate) {
                return Err(ResampleError::UnsupportedRate(rate));
            }
        }
        let chunk = from as usize * CHUNK_MS / 1000;
        let fft = if from == to {
            None
        } else {
            Some(Fft::<f32>::new(
                from as usize,
                to as usize,
                chunk,
                1,
                FixedSync::Input,
            )?)
        };
        let scratch = vec![0.0; fft.as_ref().map_or(0, |f| f.output_frames_max())];
        Ok(Self {
            fft,
            pending: Vec::with_capacity(chunk * 2),
            scratch,
            from,
            to,
        })
    }

    /// The input rate.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// The output rate.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// Converts `input` and appends what is ready to `output`.
    pub fn process(&mut self, input: &[f32], output: &mut Vec<f32>) -> Result<(), ResampleError> {
        let Some(fft) = self.fft.as_mut() else {
            output.extend_from_slice(input);
            return Ok(());
        };
        self.pending.extend_from_slice(input);
        let mut offset = 0;
        loop {
            let needed = fft.input_frames_next();
            if self.pending.len() - offset < needed {
                break;
            }
            let chunk = &self.pending[offset..offset + needed];
            let frames_out = self.scratch.len();
            let source = InterleavedSlice::new(chunk, 1, needed)?;
            let mut sink = InterleavedSlice::new_mut(&mut self.scratch, 1, frames_out)?;
            let (_, written) = fft.process_into_buffer(&source, &mut sink, None)?;
            output.extend_from_slice(&self.scratch[..written]);
            offset += needed;
        }
        self.pending.drain(..offset);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, seconds: f32) -> Vec<f32> {
        (0..(rate as f32 * seconds) as usize)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin())
            .collect()
    }

    /// Power of `hz` in `samples` (Goertzel), normalised by length.
    fn power(samples: &[f32], rate: u32, hz: f32) -> f32 {
        let w = 2.0 * std::f32::consts::PI * hz / rate as f32;
        let (mut s1, mut s2) = (0.0f32, 0.0f32);
        for &x in samples {
            let s = x + 2.0 * w.cos() * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2) / (samples.len() as f32).powi(2)
    }

    #[test]
    fn same_rate_passes_samples_through() {
        let mut converter = RateConverter::new(48_000, 48_000).unwrap();
        let mut out = Vec::new();
        converter.process(&[0.1, 0.2, 0.3], &mut out).unwrap();
        assert_eq!(out, vec![0.1, 0.2, 0.3]);
    }

    #[test]
    fn a_tone_keeps_its_pitch_and_the_stream_its_length() {
        let input = tone(44_100, 440.0, 1.0);
        let mut converter = RateConverter::new(44_100, 48_000).unwrap();
        let mut out = Vec::new();
        // Odd-sized pieces, as a device delivers them.
        for piece in input.chunks(333) {
            converter.process(piece, &mut out).unwrap();
        }
        // A second at 44.1 kHz is a second at 48 kHz, less what is still inside.
        assert!(
            out.len() <= 48_000 && out.len() + 48_000 / 50 >= 48_000,
            "{}",
            out.len()
        );
        let steady = &out[4_800..];
        let at_440 = power(steady, 48_000, 440.0);
        let at_404 = power(steady, 48_000, 404.25); // where 440 Hz lands if not resampled
        assert!(at_440 > 0.05, "440 Hz power {at_440}");
        assert!(at_440 > 20.0 * at_404, "440 {at_440} vs 404 {at_404}");
    }

    #[test]
    fn down_and_back_up_is_close_to_the_original() {
        let input = tone(48_000, 1_000.0, 0.5);
        let mut down = RateConverter::new(48_000, 16_000).unwrap();
        let mut up = RateConverter::new(16_000, 48_000).unwrap();
        let (mut low, mut back) = (Vec::new(), Vec::new());
        down.process(&input, &mut low).unwrap();
        up.process(&low, &mut back).unwrap();
        assert!(back.len() > 12_000);
        // After the two filters' delay (well under 40 ms), the tone lines up with
        // the original.
        let best = (0..1_920)
            .map(|lag| {
                back[2_000..10_000]
                    .iter()
                    .zip(&input[2_000 - lag.min(2_000)..])
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f32>()
                    / 8_000.0
            })
            .fold(f32::MAX, f32::min);
        assert!(best < 1e-3, "mean square error {best}");
    }

    #[test]
    fn rates_outside_hardware_are_refused() {
        assert!(matches!(
            RateConverter::new(0, 48_000),
            Err(ResampleError::UnsupportedRate(0))
        ));
        assert!(RateConverter::new(48_000, 1_000_000).is_err());
    }
}
