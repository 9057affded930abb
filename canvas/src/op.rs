//! Ops: every edit anyone makes, as plain data.
//!
//! An op is an envelope (id, Lamport clock) a router can read, around an [`Action`]
//! only documents interpret. Ops are validated on their own before they touch a
//! document, so a bad op is refused the same way on every peer.

use serde::{Deserialize, Serialize};

use crate::ids::{OpId, PageId, StrokeId};
use crate::version::VersionVector;

/// One edit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Unique name: author and the author's sequence number.
    pub id: OpId,
    /// Lamport clock: greater than every op the author had seen when making it.
    pub lamport: u64,
    /// What the op does.
    pub action: Action,
}

/// What an op does to the document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// A stroke begins (its id is this op's id). Undoable.
    StrokeStart {
        /// The page it is drawn on.
        page: PageId,
        /// Pen or highlighter.
        tool: Tool,
        /// Colour, with alpha.
        color: Color,
        /// Line width in page units.
        width: f32,
    },
    /// Points appended to a live stroke, starting at index `offset` of the stroke.
    /// Only the stroke's author may append.
    StrokePoints {
        /// The stroke.
        stroke: StrokeId,
        /// Index of the first of these points within the stroke.
        offset: u32,
        /// The points.
        points: Vec<Point>,
    },
    /// The pen was lifted; the stroke has `points` points in all.
    StrokeEnd {
        /// The stroke.
        stroke: StrokeId,
        /// Its final number of points.
        points: u32,
    },
    /// Removes strokes (the stroke eraser). Undoable.
    Erase {
        /// Strokes to remove.
        strokes: Vec<StrokeId>,
    },
    /// Removes every stroke of `page` that the clearer had seen (`seen`), not strokes
    /// drawn concurrently. Undoable.
    ClearPage {
        /// The page.
        page: PageId,
        /// The clearer's version vector when clearing.
        seen: VersionVector,
    },
    /// A new page (its id is this op's id) at `position` in the page order. Undoable.
    NewPage {
        /// Sort key among pages; ties broken by page id.
        position: f64,
    },
    /// Deletes a page and with it its strokes. Undoable.
    DeletePage {
        /// The page.
        page: PageId,
    },
    /// Moves a page to a new sort key (last writer wins). Not undoable.
    MovePage {
        /// The page.
        page: PageId,
        /// New sort key.
        position: f64,
    },
    /// Takes back one of the author's own undoable actions.
    Undo {
        /// The action taken back.
        target: OpId,
    },
    /// Re-applies one of the author's own undone actions.
    Redo {
        /// The action re-applied.
        target: OpId,
    },
    /// The whole of one of the author's finished strokes, made right after its end:
    /// it stands for every op from the stroke's start to itself, so a log can serve
    /// one op a stroke however finely it was drawn. A sealed stroke is what its seal
    /// says (points, style, page and place in the z-order), on every replica.
    StrokeSealed {
        /// The stroke (its start is the first op the seal stands for).
        stroke: StrokeId,
        /// The page it is drawn on.
        page: PageId,
        /// Pen or highlighter.
        tool: Tool,
        /// Colour, with alpha.
        color: Color,
        /// Line width in page units.
        width: f32,
        /// The start's Lamport clock: the stroke's place in the z-order.
        start_lamport: u64,
        /// Every point of the stroke.
        points: Vec<Point>,
    },
}

/// Drawing tools that leave strokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tool {
    /// Opaque ink.
    Pen,
    /// Translucent ink drawn at [`HIGHLIGHTER_ALPHA`] of its colour's alpha.
    Highlighter,
}

/// How much of its colour a highlighter stroke lays down.
pub const HIGHLIGHTER_ALPHA: f32 = 0.35;

/// An sRGB colour with straight alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Color {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
    /// Alpha (255 = opaque).
    pub a: u8,
}

impl Color {
    /// An opaque colour.
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Self { r, g, b, a: 255 }
    }

    /// Parses `#rrggbb` or `#rrggbbaa`.
    pub fn from_hex(text: &str) -> Option<Self> {
        let hex = text.strip_prefix('#')?;
        if !(hex.len() == 6 || hex.len() == 8) || !hex.is_ascii() {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        Some(Self {
            r: byte(0)?,
            g: byte(2)?,
            b: byte(4)?,
            a: if hex.len() == 8 { byte(6)? } else { 255 },
        })
    }

    /// `#rrggbb` (alpha left out, as SVG wants it).
    pub fn to_hex_rgb(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

/// A point in page units (y grows downwards).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Horizontal position.
    pub x: f32,
    /// Vertical position.
    pub y: f32,
}

impl Point {
    /// A point.
    pub const fn new(x: f32, y: f32) -> Self {
        Self { x, y }
    }
}

/// Memory one stroke named by an `Erase` takes: the id in the op and its entry in
/// the document's index of erasures.
pub const ERASED_ID_BYTES: usize = 112;

/// Ops a seal may stand for at most, counted from its stroke's start to itself. An
/// honest stroke that can be sealed holds at most an op's points (4,096 by default),
/// drawn at least one an op: start, chunks, end and seal fit. A seal's number bounds
/// its clock, and a joiner takes a seal without the ops before it, so without this
/// an author could jump its log (and its clock) as far as it liked.
pub const MAX_SEALED_OPS: u64 = 8_192;

/// Bounds every op and document must keep, so no peer can make another run out of
/// memory or time. The defaults are far above what people draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest absolute coordinate.
    pub max_coordinate: f32,
    /// Thinnest stroke.
    pub min_width: f32,
    /// Widest stroke.
    pub max_width: f32,
    /// Points in one `StrokePoints` op.
    pub max_points_per_op: usize,
    /// Points in one stroke.
    pub max_points_per_stroke: u32,
    /// Strokes on one page (including erased ones, which can come back by undo).
    pub max_strokes_per_page: usize,
    /// Pages in one document (including deleted ones).
    pub max_pages: usize,
    /// Strokes named by one `Erase`, authors in one `ClearPage`.
    pub max_items_per_op: usize,
    /// Approximate encoded size of one op.
    pub max_op_bytes: usize,
}

impl Limits {
    /// The limits every node runs with. Proof that an author signed an op no node
    /// takes is judged by these alone (`Op::validate` is otherwise told its limits),
    /// so every replica judges such proof alike.
    pub const DEFAULT: Limits = Limits {
        max_coordinate: 1_000_000.0,
        min_width: 0.25,
        max_width: 256.0,
        max_points_per_op: 4096,
        max_points_per_stroke: 100_000,
        max_strokes_per_page: 250_000,
        max_pages: 1000,
        max_items_per_op: 16_384,
        max_op_bytes: 256 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why an op was refused. The document is unchanged after any of these.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OpError {
    /// Sequence numbers start at 1; Lamport clocks must leave room to grow.
    #[error("op {0} has an invalid sequence number or Lamport clock")]
    BadClock(OpId),
    /// A coordinate is NaN, infinite or out of range.
    #[error("op {op} has a point out of range: ({x}, {y}); coordinates must be finite and within ±{limit}")]
    BadPoint {
        /// The op.
        op: OpId,
        /// The x coordinate.
        x: f32,
        /// The y coordinate.
        y: f32,
        /// The allowed magnitude.
        limit: f32,
    },
    /// Width out of range or not a number.
    #[error("op {op} has stroke width {width}; allowed {min}..={max}")]
    BadWidth {
        /// The op.
        op: OpId,
        /// The width given.
        width: f32,
        /// Thinnest allowed.
        min: f32,
        /// Widest allowed.
        max: f32,
    },
    /// A page position that is not a finite number.
    #[error("op {0} has a page position that is not a finite number")]
    BadPosition(OpId),
    /// Too many points in one op or in one stroke.
    #[error("op {op} would give its stroke {points} points; at most {limit} per {per}")]
    TooManyPoints {
        /// The op.
        op: OpId,
        /// Points that would result.
        points: u64,
        /// The limit.
        limit: u64,
        /// `op` or `stroke`.
        per: &'static str,
    },
    /// Too many strokes or authors named by one op.
    #[error("op {op} names {items} items; at most {limit}")]
    TooManyItems {
        /// The op.
        op: OpId,
        /// Items named.
        items: usize,
        /// The limit.
        limit: usize,
    },
    /// The op is too large as a whole.
    #[error("op {op} is about {bytes} bytes; at most {limit}")]
    TooLarge {
        /// The op.
        op: OpId,
        /// Its approximate size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Someone tried to change a stroke or undo an action that is not theirs.
    #[error("op {op} by {} touches {target}, which belongs to someone else", op.node)]
    NotTheAuthor {
        /// The op.
        op: OpId,
        /// What it tried to change.
        target: OpId,
    },
    /// The page has as many strokes as allowed.
    #[error("page {page} already holds {limit} strokes")]
    PageFull {
        /// The page.
        page: PageId,
        /// The limit.
        limit: usize,
    },
    /// The document has as many pages in use as allowed (deleting one makes room).
    #[error("the document already has {0} pages; delete one to add another")]
    TooManyPages(usize),
    /// Local editing of something that does not exist (or is not visible).
    #[error("{0} does not exist in this document")]
    Unknown(OpId),
    /// Local editing of a stroke that has ended.
    #[error("stroke {0} has already ended")]
    StrokeEnded(StrokeId),
    /// A seal that does not come after its stroke's start, in number and in clock,
    /// within [`MAX_SEALED_OPS`].
    #[error("op {0} seals a stroke that does not start before it (in number and clock, at most {MAX_SEALED_OPS} ops before)")]
    BadSeal(OpId),
    /// Local sealing of a stroke that cannot be sealed (see [`crate::Document::seal_stroke`]).
    #[error("stroke {stroke} cannot be sealed: {why}")]
    NotSealable {
        /// The stroke.
        stroke: StrokeId,
        /// Why not.
        why: &'static str,
    },
}

impl Op {
    /// Approximate encoded size, for the size limit (and for batching by size).
    pub fn approximate_size(&self) -> usize {
        const HEADER: usize = 48;
        HEADER
            + match &self.action {
                Action::StrokePoints { points, .. } | Action::StrokeSealed { points, .. } => {
                    points.len() * 8
                }
                Action::Erase { strokes } => strokes.len() * 16,
                Action::ClearPage { seen, .. } => seen.len() * 16,
                _ => 32,
            }
    }

    /// Roughly what a document keeps in memory for this op once applied: what byte
    /// budgets count, so an op small on the wire but large in memory (an `Erase` of
    /// many small ids: two bytes each on the wire) costs what it holds.
    pub fn held_bytes(&self) -> usize {
        const HEADER: usize = 64;
        HEADER
            + match &self.action {
                Action::StrokePoints { points, .. } | Action::StrokeSealed { points, .. } => {
                    points.len() * 8
                }
                Action::Erase { strokes } => strokes.len() * ERASED_ID_BYTES,
                Action::ClearPage { seen, .. } => seen.len() * 48,
                _ => 32,
            }
    }

    /// Checks everything about the op that does not depend on the document.
    pub fn validate(&self, limits: &Limits) -> Result<(), OpError> {
        let id = self.id;
        if id.seq == 0 || self.lamport == 0 || self.lamport == u64::MAX {
            return Err(OpError::BadClock(id));
        }
        match &self.action {
            Action::StrokeStart { width, .. } => check_width(id, *width, limits)?,
            Action::StrokePoints {
                stroke,
                offset,
                points,
            } => {
                if stroke.node != id.node {
                    return Err(OpError::NotTheAuthor {
                        op: id,
                        target: *stroke,
                    });
                }
                check_points(id, points, limits)?;
                let end = u64::from(*offset) + points.len() as u64;
                if end > u64::from(limits.max_points_per_stroke) {
                    return Err(OpError::TooManyPoints {
                        op: id,
                        points: end,
                        limit: u64::from(limits.max_points_per_stroke),
                        per: "stroke",
                    });
                }
            }
            Action::StrokeSealed {
                stroke,
                width,
                start_lamport,
                points,
                ..
            } => {
                if stroke.node != id.node {
                    return Err(OpError::NotTheAuthor {
                        op: id,
                        target: *stroke,
                    });
                }
                if stroke.seq >= id.seq
                    || id.seq - stroke.seq > MAX_SEALED_OPS
                    || *start_lamport == 0
                    || *start_lamport >= self.lamport
                {
                    return Err(OpError::BadSeal(id));
                }
                check_width(id, *width, limits)?;
                check_points(id, points, limits)?;
            }
            Action::StrokeEnd { stroke, points } => {
                if stroke.node != id.node {
                    return Err(OpError::NotTheAuthor {
                        op: id,
                        target: *stroke,
                    });
                }
                if *points > limits.max_points_per_stroke {
                    return Err(OpError::TooManyPoints {
                        op: id,
                        points: u64::from(*points),
                        limit: u64::from(limits.max_points_per_stroke),
                        per: "stroke",
                    });
                }
            }
            Action::Erase { strokes } => check_items(id, strokes.len(), limits)?,
            Action::ClearPage { seen, .. } => check_items(id, seen.len(), limits)?,
            Action::NewPage { position } | Action::MovePage { position, .. } => {
                if !position.is_finite() {
                    return Err(OpError::BadPosition(id));
                }
            }
            Action::DeletePage { .. } => {}
            Action::Undo { target } | Action::Redo { target } => {
                if target.node != id.node {
                    return Err(OpError::NotTheAuthor {
                        op: id,
                        target: *target,
                    });
                }
            }
        }
        let bytes = self.approximate_size();
        if bytes > limits.max_op_bytes {
            return Err(OpError::TooLarge {
                op: id,
                bytes,
                limit: limits.max_op_bytes,
            });
        }
        Ok(())
    }

    /// True for actions that per-author undo can take back.
    pub fn is_undoable(&self) -> bool {
        matches!(
            self.action,
            Action::StrokeStart { .. }
                | Action::Erase { .. }
                | Action::ClearPage { .. }
                | Action::NewPage { .. }
                | Action::DeletePage { .. }
        )
    }
}

fn check_width(op: OpId, width: f32, limits: &Limits) -> Result<(), OpError> {
    if !(limits.min_width..=limits.max_width).contains(&width) {
        return Err(OpError::BadWidth {
            op,
            width,
            min: limits.min_width,
            max: limits.max_width,
        });
    }
    Ok(())
}

/// At most an op's worth of points, each within range.
fn check_points(op: OpId, points: &[Point], limits: &Limits) -> Result<(), OpError> {
    if points.len() > limits.max_points_per_op {
        return Err(OpError::TooManyPoints {
            op,
            points: points.len() as u64,
            limit: limits.max_points_per_op as u64,
            per: "op",
        });
    }
    let max = limits.max_coordinate;
    if let Some(bad) = points
        .iter()
        .find(|p| !(p.x.is_finite() && p.y.is_finite() && p.x.abs() <= max && p.y.abs() <= max))
    {
        return Err(OpError::BadPoint {
            op,
            x: bad.x,
            y: bad.y,
            limit: max,
        });
    }
    Ok(())
}

fn check_items(op: OpId, items: usize, limits: &Limits) -> Result<(), OpError> {
    if items > limits.max_items_per_op {
        return Err(OpError::TooManyItems {
            op,
            items,
            limit: limits.max_items_per_op,
        });
    }
    Ok(())
}
