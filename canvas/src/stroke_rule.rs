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
//! Plain data: the state of one author's log, stepped one op at a time.

use crate::op::Action;

/// What an op is to the stroke rule. Points, ends and seals name the stroke by its
/// start's sequence number (always the author's own stroke: see [`crate::Op::validate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Starts a stroke.
    Start,
    /// Points of the stroke started at this number.
    Points(u64),
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
            Action::StrokePoints { stroke, .. } => Shape::Points(stroke.seq),
            Action::StrokeEnd { stroke, .. } => Shape::End(stroke.seq),
            Action::StrokeSealed { stroke, .. } => Shape::Seal(stroke.seq),
            _ => Shape::Other,
        }
    }
}

/// Where an author's log stands towards the rule: the stroke its last ops belong to
/// (since its start, nothing else came), and whether the last was that stroke's end
/// (its seal may come next).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StrokeRule {
    open: Option<u64>,
    ended: Option<(u64, u64)>,
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
}

impl StrokeRule {
    /// A log with the stroke started at `open` still open (`None`: none open).
    pub fn open_at(open: Option<u64>) -> StrokeRule {
        StrokeRule { open, ended: None }
    }

    /// A log whose last op is an end (at `end`) of the stroke started at `stroke`:
    /// its seal may come next.
    pub fn ended_at(stroke: u64, end: u64) -> StrokeRule {
        StrokeRule {
            open: Some(stroke),
            ended: Some((stroke, end)),
        }
    }

    /// The open stroke's start, if one is open (its later points and ends are taken).
    pub fn open(&self) -> Option<u64> {
        self.open
    }

    /// Takes op `seq` of shape `shape` (the log's next), or says why it breaks the
    /// rule (the state is then unchanged).
    pub fn step(&mut self, seq: u64, shape: Shape) -> Result<(), StrokeRuleError> {
        let next = match shape {
            Shape::Points(stroke) if self.open == Some(stroke) => StrokeRule::open_at(self.open),
            Shape::End(stroke) if self.open == Some(stroke) => StrokeRule::ended_at(stroke, seq),
            Shape::Points(stroke) | Shape::End(stroke) => {
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
