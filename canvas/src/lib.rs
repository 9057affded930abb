//! # canopy-canvas — the shared document (sans-I/O)
//!
//! Every edit is an [`Op`] named by `(author, seq)` with a Lamport clock; a
//! [`Document`] is the merge of all the ops it has been given, in any order, duplicates
//! included, so every peer converges on the same document (compare [`Digest`]s).
//! Version vectors say what a peer has seen, and [`Document::ops_missing_from`] is what
//! it lacks. Pages can be rendered and exported as PNG, SVG and PDF.
//!
//! Plain data in, plain data out: no sockets, clocks or threads.
//!
//! ```
//! use canopy_canvas::{Color, Document, NodeId, Point, Tool, FIRST_PAGE};
//!
//! let mut alice = Document::new(NodeId(1));
//! let mut bob = Document::new(NodeId(2));
//! let ops = alice
//!     .draw_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(200, 40, 40), 3.0,
//!                  &[Point::new(10.0, 10.0), Point::new(50.0, 40.0)])
//!     .unwrap();
//! for op in ops.into_iter().rev() {          // any order will do
//!     bob.apply(op).unwrap();
//! }
//! assert_eq!(alice.digest(), bob.digest());
//! // Bob undoes nothing of Alice's: undo is per author.
//! assert_eq!(bob.undo().unwrap(), None);
//! ```
//!
//! ## Rules worth knowing
//! - **Clear page** removes the strokes of that page that the clearer had seen (its
//!   version vector at the time travels in the op); strokes drawn concurrently by
//!   others, which the clearer had not seen, stay. Undo of a clear brings the cleared
//!   strokes back.
//! - **Erase** removes the named strokes, whoever drew them; undo brings them back.
//! - **Undo/redo** are per author: each user undoes their own last undoable action
//!   (stroke, erase, clear, new page, delete page). Page moves are not undoable.
//! - **Limits** ([`Limits`]) bound every op on its own (coordinates, widths, points per
//!   op, items per op, size) and the document (points per stroke, strokes per page,
//!   pages). A refused op leaves the document untouched. Per-op checks give the same
//!   answer on every peer; the document-wide caps are set far above real use, and
//!   honest peers never reach them because local edits check them first.

mod chunks;
mod digest;
mod document;
mod export;
mod held_log;
mod history;
mod ids;
mod op;
mod raster;
mod reauthor;
mod render;
pub mod smooth;
mod stroke_rule;
mod version;

pub use digest::Digest;
pub use document::{Applied, Bounds, Document, Stroke, PAGE_FRAME};
pub use export::{export_pdf, export_png, export_svg, PDF_POINTS_PER_UNIT};
pub use held_log::{missing_spans, HeldLog, LogEntry};
pub use ids::{NodeId, OpId, PageId, StrokeId, FIRST_PAGE};
pub use op::{
    Action, Color, Limits, Op, OpError, Point, Tool, ERASED_ID_BYTES, HIGHLIGHTER_ALPHA,
    MAX_SEALED_OPS,
};
pub use raster::draw_strokes;
pub use reauthor::Reauthor;
pub use render::{encode_png, new_pixmap, render_band, render_page, RenderError, View, MAX_SIDE};
pub use stroke_rule::{Shape, StrokeRule, StrokeRuleError, MAX_POINTS_PER_STROKE};
pub use version::VersionVector;

/// tiny-skia's picture type, so users need not depend on tiny-skia themselves.
pub use tiny_skia::Pixmap;
