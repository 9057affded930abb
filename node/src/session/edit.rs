//! Local edits: what a drawing script or the window asks the document to do, and how
//! each becomes ops. Plain data; the `document` component applies them.

use canopy_canvas::{Color, Document, Op, PageId, Point, StrokeId, Tool};

/// Which page an edit is for. The window names pages by id: when someone else adds,
/// moves or deletes a page at the same moment, an index would now name another page
/// and the stroke, clear or delete would land there. A drawing script names the page
/// at a place in the order *when its step plays*, which is what a script means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageRef {
    /// This page, wherever it is in the order.
    Id(PageId),
    /// The page at this place in the order now (scripts).
    Nth(usize),
}

impl PageRef {
    /// The page meant, if it exists (a deleted page does not).
    pub fn resolve(self, doc: &Document) -> Result<PageId, String> {
        match self {
            PageRef::Id(page) if doc.has_page(page) => Ok(page),
            PageRef::Id(page) => Err(format!("page {page} is no longer in the document")),
            PageRef::Nth(index) => doc.pages().get(index).copied().ok_or_else(|| {
                format!(
                    "there is no page {index} (the document has {})",
                    doc.page_count()
                )
            }),
        }
    }
}

/// A local edit, as a drawing script or the GUI asks for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// A whole stroke on page `page`.
    Stroke {
        /// The page.
        page: PageRef,
        /// Colour.
        color: Color,
        /// Width.
        width: f32,
        /// Points.
        points: Vec<Point>,
        /// Pen or highlighter.
        tool: Tool,
    },
    /// Starts a live stroke on page `page`: others see it while it is drawn.
    StrokeBegin {
        /// The page.
        page: PageRef,
        /// Pen or highlighter.
        tool: Tool,
        /// Colour.
        color: Color,
        /// Width.
        width: f32,
    },
    /// Adds points to the live stroke.
    StrokeAppend(Vec<Point>),
    /// Ends the live stroke.
    StrokeEnd,
    /// Erases the strokes of page `page` that a stroke-eraser path touches.
    Erase {
        /// The page.
        page: PageRef,
        /// The eraser's path.
        path: Vec<Point>,
        /// Its radius.
        radius: f32,
    },
    /// Adds a page at the end.
    NewPage,
    /// Deletes a page.
    DeletePage(PageRef),
    /// Shows page `n` (the presenter's page, for followers: presence says where
    /// in the order, as followers see it).
    GotoPage(usize),
    /// Moves this participant's cursor (`None`: off the page).
    Cursor(Option<Point>),
    /// Clears a page.
    ClearPage(PageRef),
    /// Undoes the local author's last action.
    Undo,
    /// Redoes it.
    Redo,
}

impl Edit {
    /// Makes this edit's ops on `doc` (already applied there). `live_stroke` is the
    /// stroke the local person is drawing, kept between edits.
    pub fn apply(
        self,
        doc: &mut Document,
        live_stroke: &mut Option<StrokeId>,
    ) -> Result<Vec<Op>, String> {
        let edit = self;
        let page_at = |doc: &Document, page: PageRef| page.resolve(doc);
        let ops: Vec<Op> = match edit {
            Edit::Stroke {
                page,
                color,
                width,
                points,
                tool,
            } => {
                let page = page_at(doc, page)?;
                doc.draw_stroke(page, tool, color, width, &points)
                    .map_err(|e| e.to_string())?
            }
            Edit::StrokeBegin {
                page,
                tool,
                color,
                width,
            } => {
                if let Some(stroke) = live_stroke.take() {
                    // A begin without an end (a lost pointer release): finish the old one.
                    let _ = doc.end_stroke(stroke);
                }
                let page = page_at(doc, page)?;
                let op = doc
                    .begin_stroke(page, tool, color, width)
                    .map_err(|e| e.to_string())?;
                *live_stroke = Some(op.id);
                vec![op]
            }
            Edit::StrokeAppend(points) => {
                let stroke = (*live_stroke).ok_or("no stroke is being drawn")?;
                let chunk = doc.limits().max_points_per_op.max(1);
                let mut ops = Vec::new();
                for part in points.chunks(chunk) {
                    ops.push(
                        doc.extend_stroke(stroke, part.to_vec())
                            .map_err(|e| e.to_string())?,
                    );
                }
                ops
            }
            Edit::StrokeEnd => {
                let stroke = live_stroke.take().ok_or("no stroke is being drawn")?;
                vec![doc.end_stroke(stroke).map_err(|e| e.to_string())?]
            }
            Edit::Erase { page, path, radius } => {
                let page = page_at(doc, page)?;
                let touched = doc.strokes_touching(page, &path, radius);
                if touched.is_empty() {
                    Vec::new()
                } else {
                    vec![doc.erase(touched).map_err(|e| e.to_string())?]
                }
            }
            Edit::NewPage => vec![doc.new_page().map_err(|e| e.to_string())?],
            Edit::DeletePage(index) => {
                let page = page_at(doc, index)?;
                vec![doc.delete_page(page).map_err(|e| e.to_string())?]
            }
            Edit::ClearPage(index) => {
                let page = page_at(doc, index)?;
                vec![doc.clear_page(page).map_err(|e| e.to_string())?]
            }
            Edit::Undo => doc.undo().map_err(|e| e.to_string())?.into_iter().collect(),
            Edit::Redo => doc.redo().map_err(|e| e.to_string())?.into_iter().collect(),
            Edit::GotoPage(_) | Edit::Cursor(_) => Vec::new(),
        };
        Ok(ops)
    }
}
