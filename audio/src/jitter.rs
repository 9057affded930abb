//! The jitter buffer: packets arrive late, early, twice or not at all; every 20 ms it
//! says what to play.
//!
//! Each packet has a playout time: when the earliest packet of its talk spurt
//! arrived, plus 20 ms per frame after it, plus a safety delay. The delay is three
//! times the measured jitter (RFC 3550's estimator), and one frame more while packets
//! are being lost, so a lost packet can be rebuilt from the next one's FEC. On a
//! clean link that is a couple of milliseconds: a packet plays at the first tick
//! after it is due, so a hop adds at most a frame. The buffer reorders, drops what
//! is late or duplicated, asks for FEC recovery when only the next packet is there,
//! and for concealment otherwise. Time is plain data here: arrivals and ticks are
//! given in milliseconds of the caller's clock.

use std::collections::BTreeMap;

use crate::FRAME_MS;

/// Most delay kept, in frames (200 ms).
pub const MAX_TARGET: usize = 10;
/// Packets held at most; beyond, the oldest go.
pub const CAPACITY: usize = 64;

/// Sequence numbers from here on are refused (counted as late). A peer numbers its
/// 20 ms packets from 0, so 2^48 is millions of years of talk; below it, every
/// computation on a number (times a frame's milliseconds, plus one, as an `f64`) is
/// exact and cannot overflow, whatever a hostile peer sends.
pub const MAX_SEQ: u64 = 1 << 48;

/// A change in transit time this large (ms) marks a new talk spurt, not jitter.
const TALK_SPURT_GAP_MS: f64 = 200.0;

/// Frames concealed when the buffer runs dry, before it waits for the sender again.
const CONCEAL_EMPTY: u32 = 3;

/// Least safety delay (ms): the caller's clock and scheduling wobble a little.
const MIN_DELAY_MS: f64 = 2.0;

/// How far (ms) the schedule may drift either way before a frame is stretched or
/// dropped: without it, a packet due right at a tick would flap between the two.
const SLACK_MS: f64 = 2.0;

/// Smoothing of the loss estimate: about the last 50 slots count.
const LOSS_SMOOTHING: f64 = 1.0 / 50.0;

/// Above this share of lost slots, one more frame is held back for FEC.
const LOSS_FOR_FEC: f64 = 0.01;

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
    /// Least transit time (arrival − seq × 20 ms) seen in this talk spurt: the
    /// anchor of the playout schedule.
    base_transit: Option<f64>,
    /// Smoothed share of packets lost, judged by gaps in the numbering (a pause in
    /// speech pauses the numbering too, so it is not mistaken for loss).
    loss: f64,
    /// Highest sequence number received.
    highest: Option<u64>,
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
            base_transit: None,
            loss: 0.0,
            highest: None,
            late: 0,
            duplicates: 0,
            lost: 0,
            empty_pops: 0,
            dry_since: None,
        }
    }

    /// The safety delay (ms) after a packet's earliest possible arrival: three times
    /// the jitter, plus a frame while packets are being lost (so the next packet,
    /// which carries the lost one's FEC, is there in time).
    pub fn delay_ms(&self) -> f64 {
        let fec = if self.loss > LOSS_FOR_FEC {
            FRAME_MS as f64
        } else {
            0.0
        };
        (self.jitter_ms * 3.0 + fec)
            .max(MIN_DELAY_MS)
            .min((MAX_TARGET as u64 * FRAME_MS) as f64)
    }

    /// The delay aimed for, in whole frames.
    pub fn target(&self) -> usize {
        (self.delay_ms() / FRAME_MS as f64).ceil() as usize
    }

    /// Measured jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter_ms
    }

    /// Smoothed share of slots lost recently.
    pub fn loss(&self) -> f64 {
        self.loss
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// When packet `seq` is due to play, in the caller's milliseconds.
    fn playout_ms(&self, seq: u64) -> Option<f64> {
        self.base_transit
            .map(|base| base + (seq * FRAME_MS) as f64 + self.delay_ms())
    }

    /// Takes a packet with sequence number `seq` that arrived at `arrival_ms`.
    pub fn push(&mut self, seq: u64, packet: Vec<u8>, arrival_ms: f64) {
        if seq >= MAX_SEQ || !arrival_ms.is_finite() {
            self.late += 1;
            return;
        }
        match self.highest {
            Some(highest) if seq > highest => {
                // Numbers skipped are packets lost on the way (or very late).
                let missing = (seq - highest - 1).min(CAPACITY as u64);
                for _ in 0..missing {
                    self.loss += (1.0 - self.loss) * LOSS_SMOOTHING;
                }
                self.loss -= self.loss * LOSS_SMOOTHING;
                self.highest = Some(seq);
            }
            None => self.highest = Some(seq),
            Some(_) => {}
        }
        if self.next.is_some_and(|next| seq < next) {
            match self.dry_since {
                // We ran dry at or before this packet: the sender had paused. Follow
                // it from here, as a new talk spurt.
                Some(dry) if seq >= dry => {
                    self.next = Some(seq);
                    self.started = false;
                    self.base_transit = None;
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
        let transit = arrival_ms - (seq * FRAME_MS) as f64;
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            // A jump this big is a new talk spurt after a pause (senders send nothing
            // while silent, and their numbering pauses too), not network jitter.
            if d < TALK_SPURT_GAP_MS {
                self.jitter_ms += (d - self.jitter_ms) / 16.0;
            }
        }
        self.last_transit = Some(transit);
        // The schedule follows the fastest packet of the spurt until it starts
        // playing; after that, a faster packet just waits.
        if !self.started || self.base_transit.is_none() {
            self.base_transit = Some(self.base_transit.map_or(transit, |b| b.min(transit)));
        }
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

    /// What to play for the slot that starts at `now_ms` (call once every 20 ms).
    pub fn pop(&mut self, now_ms: f64) -> Playout {
        let Some(next) = self.next else {
            return Playout::Buffering;
        };
        // Far too much waiting (a backlog arrived at once, or the buffer overflowed
        // and dropped its oldest): skip ahead to keep the delay near the target, and
        // move the schedule with it, so `skip_to` plays now. Checked first: left to
        // the old schedule, every later packet would count as early, and the buffer
        // would stretch (conceal) for as long as packets kept coming.
        let behind = self
            .packets
            .keys()
            .next_back()
            .map_or(0, |last| last.saturating_sub(next) as usize);
        let next = if behind > self.target() + 4 {
            let skip_to = next + (behind - self.target()) as u64;
            self.packets.retain(|seq, _| *seq >= skip_to);
            self.base_transit = Some(now_ms - (skip_to * FRAME_MS) as f64 - self.delay_ms());
            self.next = Some(skip_to);
            skip_to
        } else {
            next
        };
        let due = self.playout_ms(next);
        let was_started = self.started;
        if !self.started {
            // Not due yet: wait. A lone packet (a click, a short "yes") plays when due
            // like any other, without waiting for more.
            if due.is_some_and(|due| now_ms < due) {
                return Playout::Buffering;
            }
            self.started = true;
            // Starting more than a frame after the schedule says (a packet faster
            // than the first came along): the schedule starts from here instead, so
            // the spurt is not clipped to catch up.
            if due.is_some_and(|due| due + FRAME_MS as f64 <= now_ms) {
                self.base_transit = Some(now_ms - (next * FRAME_MS) as f64 - self.delay_ms());
            }
        } else if due.is_some_and(|due| now_ms + SLACK_MS < due) && !self.packets.is_empty() {
            // Not due yet: the delay grew (jitter, or losses that FEC needs a frame
            // for) or our clock runs fast. Stretch: conceal one frame, play nothing
            // ahead of time.
            return Playout::Conceal;
        }
        // A whole frame late (the delay shrank as losses stopped, or our clock runs
        // slow) with the next packet here: drop one frame to catch up.
        let next = if was_started
            && due.is_some_and(|due| due + FRAME_MS as f64 + SLACK_MS <= now_ms)
            && self.packets.contains_key(&(next + 1))
        {
            self.packets.remove(&next);
            next + 1
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
