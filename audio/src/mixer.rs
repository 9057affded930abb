//! Mix-minus: every link is sent the mix of the local microphone and every *other*
//! link, so a link carries one stream whatever the size of the tree; the speakers
//! play every link. A link whose own contribution is silent would get the full mix,
//! so all such links share one: with K talkers a node mixes (and encodes) at most
//! K+1 streams, not one per link.
//!
//! Mixes always add sources in the same order, so the shared mix is bit-identical to
//! what mixing for each silent link separately would give.

use crate::{Frame, FRAME_SAMPLES};

/// Peak level a mix is limited to.
pub const CEILING: f32 = 0.98;

/// What one frame of mixing produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix {
    /// The full mix (local + every link) for the links listed, whose own frames were
    /// silent; `None` when every link talked.
    pub shared: Option<(Box<Frame>, Vec<u64>)>,
    /// A mix-minus for each talking link: everything but its own frame.
    pub individual: Vec<(u64, Box<Frame>)>,
    /// What the speakers play: every link (not the local microphone).
    pub speakers: Box<Frame>,
}

impl Mix {
    /// The frame for `link`, wherever it is.
    pub fn for_link(&self, link: u64) -> Option<&Frame> {
        if let Some((_, frame)) = self.individual.iter().find(|(id, _)| *id == link) {
            return Some(frame);
        }
        match &self.shared {
            Some((frame, links)) if links.contains(&link) => Some(frame),
            _ => None,
        }
    }
}

/// Mixes one 20 ms slot. `links` lists every link with its decoded frame, or `None`
/// when it is silent (nothing arrived, or DTX).
pub fn mix(local: Option<&Frame>, links: &[(u64, Option<&Frame>)]) -> Mix {
    let sources: Vec<(Option<u64>, &Frame)> = local
        .map(|frame| (None, frame))
        .into_iter()
        .chain(
            links
                .iter()
                .filter_map(|(id, frame)| frame.map(|f| (Some(*id), f))),
        )
        .collect();
    let sum_except = |skip: Option<u64>| -> Box<Frame> {
        let mut out = Box::new([0.0f32; FRAME_SAMPLES]);
        for (id, frame) in &sources {
            if skip.is_some() && *id == skip {
                continue;
            }
            for (o, s) in out.iter_mut().zip(frame.iter()) {
                *o += *s;
            }
        }
        limit(&mut out);
        out
    };
    let silent: Vec<u64> = links
        .iter()
        .filter(|(_, f)| f.is_none())
        .map(|(id, _)| *id)
        .collect();
    let individual = links
        .iter()
        .filter(|(_, f)| f.is_some())
        .map(|(id, _)| (*id, sum_except(Some(*id))))
        .collect();
    let shared = if silent.is_empty() {
        None
    } else {
        Some((sum_except(None), silent))
    };
    let mut speakers = Box::new([0.0f32; FRAME_SAMPLES]);
    for (_, frame) in links {
        if let Some(frame) = frame {
            for (o, s) in speakers.iter_mut().zip(frame.iter()) {
                *o += *s;
            }
        }
    }
    limit(&mut speakers);
    Mix {
        shared,
        individual,
        speakers,
    }
}

/// Everything heard in one slot — the local voice and every link — under the
/// limiter: what a recording of the session keeps. Equal to the shared mix when
/// there is one.
pub fn full_mix(local: Option<&Frame>, links: &[(u64, Option<&Frame>)]) -> Box<Frame> {
    let mut out = Box::new([0.0f32; FRAME_SAMPLES]);
    let sources = local
        .into_iter()
        .chain(links.iter().filter_map(|(_, frame)| *frame));
    for frame in sources {
        for (o, s) in out.iter_mut().zip(frame.iter()) {
            *o += *s;
        }
    }
    limit(&mut out);
    out
}

/// Keeps a frame's peak at or under [`CEILING`] by scaling the whole frame (no
/// clipping distortion; deterministic, so shared mixes stay bit-identical).
pub fn limit(frame: &mut Frame) {
    let peak = frame.iter().fold(0.0f32, |p, s| p.max(s.abs()));
    if peak > CEILING {
        let gain = CEILING / peak;
        for s in frame.iter_mut() {
            *s *= gain;
        }
    }
}

/// Root-mean-square level of a frame (for speaking indicators).
pub fn level(frame: &Frame) -> f32 {
    (frame.iter().map(|s| s * s).sum::<f32>() / FRAME_SAMPLES as f32).sqrt()
}

/// What the local speakers play: every link's voice at its own volume, times the
/// master volume, under the limiter. Volumes change what this node hears only, never
/// what it forwards.
pub fn playback(
    links: &[(u64, Option<&Frame>)],
    volume: impl Fn(u64) -> f32,
    master: f32,
) -> Box<Frame> {
    let mut out = Box::new([0.0f32; FRAME_SAMPLES]);
    for (id, frame) in links {
        if let Some(frame) = frame {
            let gain = volume(*id) * master;
            if gain > 0.0 {
                for (o, s) in out.iter_mut().zip(frame.iter()) {
                    *o += *s * gain;
                }
            }
        }
    }
    limit(&mut out);
    out
}
