//! The stroke rule: nothing of an author's lies between its stroke's start and its
//! last points or end but that stroke's ops; a seal comes right after an end.
//!
//! A seal stands for every op of its author from its stroke's start to itself, and a
//! joiner that takes the seal never sees those ops. So whatever else could lie in that
//! range must be nothing. Each checker on the live path, which sees an author's ops in
//! order, refuses an op that breaks this rule, so no honest node holds anything but
//! the stroke inside a range a seal may cover. Any other op (a new start included)
//! leaves the stroke behind for good: its later points and ends are refused, and it
//! can never be sealed. Honest nodes end a stroke before anything else.
//!
//! The rule also counts a stroke's points as its ops come: a stroke's ops are one
//! span of its author's log, so the count is a rule of the log, read from the
//! payloads' headers like the rest. A stroke may hold at most
//! [`MAX_POINTS_PER_STROKE`]; the op that takes it past breaks the rule. So every
//! holder refuses it where it first arrives, a relay that cannot read payloads
//! included, and no document ever has to refuse an op for what it holds already
//! (that would close honest links that only passed the op on).
//!
//! Plain data: the state of one author's log, stepped one op at a time.

use crate::op::{Action, Limits};

/// The points a stroke may hold, on every node: what the stroke rule counts to.
pub const MAX_POINTS_PER_STROKE: u32 = Limits::DEFAULT.max_points_per_stroke;

/// What an op is to the stroke rule. Points, ends and seals name the stroke by its
/// start's sequence number (always the author's own stroke: see [`crate::Op::validate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Starts a stroke.
    Start,
    /// Points of the stroke started at this number, and how many the op carries.
    Points(u64, u32),
    /// The end of the stroke started at this number.
    End(u64),
    /// The seal of the stroke started at this number.
    Seal(u64),
    /// Anything else.
    Other,
}

impl Shape {
    /// The shape of `action`.
    pub fn of(action: &Action) -> Shape {
        match action {
            Action::StrokeStart { .. } => Shape::Start,
            Action::StrokePoints { stroke, points, .. } => {
                Shape::Points(stroke.seq, u32::try_from(points.len()).unwrap_or(u32::MAX))
            }
            Action::StrokeEnd { stroke, .. } => Shape::End(stroke.seq),
            Action::StrokeSealed { stroke, .. } => Shape::Seal(stroke.seq),
            _ => Shape::Other,
        }
    }
}

/// Where an author's log stands towards the rule: the stroke its last ops belong to
/// (since its start, nothing else came), whether the last was that stroke's end (its
/// seal may come next), and the points that stroke took so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StrokeRule {
    open: Option<u64>,
    ended: Option<(u64, u64)>,
    points: u32,
}

/// An op that breaks the stroke rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StrokeRuleError {
    /// Points or an end of a stroke that is not open: other ops came since its
    /// start.
    #[error(
        "op {seq} continues stroke {stroke}, which is not open (other ops came since its start)"
    )]
    NotOpen {
        /// The op.
        seq: u64,
        /// The stroke it names.
        stroke: u64,
    },
    /// A seal that does not come right after its stroke's end.
    #[error("op {seq} seals stroke {stroke}, whose end is not the op before")]
    SealOutOfPlace {
        /// The op.
        seq: u64,
        /// The stroke it names.
        stroke: u64,
    },
    /// Points that take their stroke past [`MAX_POINTS_PER_STROKE`].
    #[error("op {seq} takes stroke {stroke} to {points} points (at most {MAX_POINTS_PER_STROKE} a stroke)")]
    TooManyPoints {
        /// The op.
        seq: u64,
        /// The stroke it names.
        stroke: u64,
        /// The stroke's points with the op's.
        points: u64,
    },
}

impl StrokeRule {
    /// A log with the stroke started at `open` still open (`None`: none open), with
    /// no points yet ([`StrokeRule::with_points`] says how many it has).
    pub fn open_at(open: Option<u64>) -> StrokeRule {
        StrokeRule {
            open,
            ended: None,
            points: 0,
        }
    }

    /// A log whose last op is an end (at `end`) of the stroke started at `stroke`:
    /// its seal may come next.
    pub fn ended_at(stroke: u64, end: u64) -> StrokeRule {
        StrokeRule {
            open: Some(stroke),
            ended: Some((stroke, end)),
            points: 0,
        }
    }

    /// Where a held log stands whose last op, numbered `last`, has shape `last_shape`
    /// (a log restored from what a replica holds); `points` says how many points a
    /// stroke holds, asked only of the stroke left open.
    pub fn after(last: u64, last_shape: Shape, points: impl FnOnce(u64) -> u32) -> StrokeRule {
        match last_shape {
            Shape::Start => StrokeRule::open_at(Some(last)),
            Shape::Points(stroke, _) => {
                StrokeRule::open_at(Some(stroke)).with_points(points(stroke))
            }
            Shape::End(stroke) => StrokeRule::ended_at(stroke, last).with_points(points(stroke)),
            Shape::Seal(_) | Shape::Other => StrokeRule::default(),
        }
    }

    /// The same, with the open stroke holding `points` already (as a log restored
    /// from a document stands: the document says how many).
    pub fn with_points(self, points: u32) -> StrokeRule {
        StrokeRule {
            points: if self.open.is_some() { points } else { 0 },
            ..self
        }
    }

    /// The open stroke's start, if one is open (its later points and ends are taken).
    pub fn open(&self) -> Option<u64> {
        self.open
    }

    /// The points the open stroke took so far.
    pub fn points(&self) -> u32 {
        self.points
    }

    /// Takes op `seq` of shape `shape` (the log's next), or says why it breaks the
    /// rule (the state is then unchanged).
    pub fn step(&mut self, seq: u64, shape: Shape) -> Result<(), StrokeRuleError> {
        let next = match shape {
            Shape::Points(stroke, count) if self.open == Some(stroke) => {
                let points = u64::from(self.points) + u64::from(count);
                let taken = u32::try_from(points)
                    .ok()
                    .filter(|points| *points <= MAX_POINTS_PER_STROKE)
                    .ok_or(StrokeRuleError::TooManyPoints {
                        seq,
                        stroke,
                        points,
                    })?;
                StrokeRule::open_at(self.open).with_points(taken)
            }
            Shape::End(stroke) if self.open == Some(stroke) => {
                StrokeRule::ended_at(stroke, seq).with_points(self.points)
            }
            Shape::Points(stroke, _) | Shape::End(stroke) => {
                return Err(StrokeRuleError::NotOpen { seq, stroke })
            }
            Shape::Seal(stroke) => {
                let right_after = self
                    .ended
                    .is_some_and(|(ended, end)| ended == stroke && end.checked_add(1) == Some(seq));
                if !right_after {
                    return Err(StrokeRuleError::SealOutOfPlace { seq, stroke });
                }
                StrokeRule::default()
            }
            Shape::Start => StrokeRule::open_at(Some(seq)),
            Shape::Other => StrokeRule::default(),
        };
        *self = next;
        Ok(())
    }
}
