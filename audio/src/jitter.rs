//! The jitter buffer: packets arrive late, early, twice or not at all; every 20 ms it
//! says what to play. It waits for a target delay that follows the measured jitter
//! (RFC 3550's estimator), reorders, drops what is late or duplicated, asks for FEC
//! recovery when only the next packet is there, and for concealment otherwise.

use std::collections::BTreeMap;

use crate::FRAME_MS;

/// Least delay kept, in frames.
pub const MIN_TARGET: usize = 2;
/// Most delay kept, in frames (200 ms).
pub const MAX_TARGET: usize = 10;
/// Packets held at most; beyond, the oldest go.
pub const CAPACITY: usize = 64;

/// A change in transit time this large (ms) marks a new talk spurt, not jitter.
const TALK_SPURT_GAP_MS: f64 = 200.0;

/// Frames concealed when the buffer runs dry, before it waits for the sender again.
const CONCEAL_EMPTY: u32 = 3;

/// What to play for the next 20 ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Still filling up to the target delay: play silence.
    Buffering,
    /// The packet for this slot.
    Packet(Vec<u8>),
    /// This slot's packet is lost but the next is here: decode its FEC.
    Recover(Vec<u8>),
    /// Lost, no FEC at hand: conceal.
    Conceal,
}

/// One link's jitter buffer.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    packets: BTreeMap<u64, Vec<u8>>,
    next: Option<u64>,
    started: bool,
    jitter_ms: f64,
    last_transit: Option<f64>,
    /// Counters for status and tests.
    pub late: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Slots concealed or recovered.
    pub lost: u64,
    /// Pops in a row that found nothing buffered.
    empty_pops: u32,
    /// The sequence number at which the buffer last ran dry, while still dry.
    dry_since: Option<u64>,
    /// Pops spent buffering since the first packet of a spurt.
    buffering_pops: u32,
}

impl Default for JitterBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self {
            packets: BTreeMap::new(),
            next: None,
            started: false,
            jitter_ms: 0.0,
            last_transit: None,
            late: 0,
            duplicates: 0,
            lost: 0,
            empty_pops: 0,
            dry_since: None,
            buffering_pops: 0,
        }
    }

    /// The delay aimed for, in frames: three times the jitter, plus two frames (one to
    /// play, one held back so a single loss can be rebuilt from the next packet's FEC).
    pub fn target(&self) -> usize {
        ((self.jitter_ms * 3.0 / FRAME_MS as f64).ceil() as usize + 2).clamp(MIN_TARGET, MAX_TARGET)
    }

    /// Measured jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter_ms
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Takes a packet with sequence number `seq` that arrived at `arrival_ms`.
    pub fn push(&mut self, seq: u64, packet: Vec<u8>, arrival_ms: u64) {
        if self.next.is_some_and(|next| seq < next) {
            match self.dry_since {
                // We ran dry at or before this packet: the sender had paused. Follow
                // it from here, buffering again first.
                Some(dry) if seq >= dry => {
                    self.next = Some(seq);
                    self.started = false;
                    self.dry_since = None;
                    self.empty_pops = 0;
                }
                _ => {
                    self.late += 1;
                    return;
                }
            }
        }
        if self.packets.contains_key(&seq) {
            self.duplicates += 1;
            return;
        }
        // RFC 3550 §6.4.1: smoothed difference of transit times.
        let transit = arrival_ms as f64 - (seq * FRAME_MS) as f64;
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            // A jump this big is a new talk spurt after a pause (senders send nothing
            // while silent, and their numbering pauses too), not network jitter.
            if d < TALK_SPURT_GAP_MS {
                self.jitter_ms += (d - self.jitter_ms) / 16.0;
            }
        }
        self.last_transit = Some(transit);
        self.packets.insert(seq, packet);
        while self.packets.len() > CAPACITY {
            if let Some((&oldest, _)) = self.packets.iter().next() {
                self.packets.remove(&oldest);
                self.next = Some(self.next.map_or(oldest + 1, |n| n.max(oldest + 1)));
            }
        }
        if self.next.is_none() {
            self.next = Some(seq);
        } else if !self.started {
            self.next = self.next.map(|n| n.min(seq));
        }
    }

    /// What to play for the next slot (call once every 20 ms).
    pub fn pop(&mut self) -> Playout {
        let Some(next) = self.next else {
            return Playout::Buffering;
        };
        if !self.started {
            let buffered = self
                .packets
                .keys()
                .next_back()
                .map_or(0, |last| (last + 1 - next) as usize);
            // Wait for `target` packets — or `target` frames, whichever comes first: a
            // talk spurt shorter than the target (a click, a "yes") must not wait for
            // the next spurt to be heard.
            if buffered < self.target() && self.buffering_pops < self.target() as u32 {
                self.buffering_pops += 1;
                return Playout::Buffering;
            }
            self.started = true;
            self.buffering_pops = 0;
        }
        // Far too much waiting: skip ahead to keep the delay near the target.
        let behind = self
            .packets
            .keys()
            .next_back()
            .map_or(0, |last| last.saturating_sub(next) as usize);
        let next = if behind > self.target() + 4 {
            let skip_to = next + (behind - self.target()) as u64;
            self.packets.retain(|seq, _| *seq >= skip_to);
            skip_to
        } else {
            next
        };
        if self.packets.is_empty() {
            // Dry: a packet was lost, or the sender paused (silence is not sent, and
            // its numbering pauses too). Conceal a moment, then play silence; remember
            // where we ran dry, so a sender resuming from there is followed (see push).
            self.dry_since.get_or_insert(next);
            self.next = Some(next + 1);
            self.empty_pops += 1;
            if self.empty_pops > CONCEAL_EMPTY {
                return Playout::Buffering;
            }
            self.lost += 1;
            return Playout::Conceal;
        }
        self.empty_pops = 0;
        self.dry_since = None;
        self.next = Some(next + 1);
        if let Some(packet) = self.packets.remove(&next) {
            return Playout::Packet(packet);
        }
        self.lost += 1;
        match self.packets.get(&(next + 1)) {
            Some(following) => Playout::Recover(following.clone()),
            None => Playout::Conceal,
        }
    }
}
