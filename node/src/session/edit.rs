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
    /// A whole stroke on page `page`. Not sealed: it is three ops (start, its points
    /// in one op, end) already, and a seal would send its points twice.
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

/// The stroke the local person is drawing, kept between edits.
///
/// An author's ops while its stroke is open are that stroke's points and its end:
/// anything else (an undo pressed mid-stroke, a page added by a script) ends it
/// first. Points that come after, while the pen is still down, go on as a new stroke
/// in the same style from where the old one stopped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LiveStroke {
    drawing: Option<StrokeId>,
    interrupted: Option<StrokeId>,
}

/// Whether this node's signer can seal a local stroke once it ends (it knows the
/// head before the stroke's start: see `canopy_protocol::Signer::can_seal`).
pub type CanSeal<'a> = &'a dyn Fn(StrokeId) -> bool;

/// Ends a local stroke and, where its signer can, seals it right after if it was
/// drawn in more than one op of points: a backlog then serves one op for the stroke
/// however finely it was drawn. A stroke with more points than one op holds stays
/// unsealed.
fn end_and_seal(
    doc: &mut Document,
    stroke: StrokeId,
    can_seal: CanSeal<'_>,
) -> Result<Vec<Op>, canopy_canvas::OpError> {
    let end = doc.end_stroke(stroke)?;
    let end_id = end.id;
    let mut ops = vec![end];
    if can_seal(stroke) {
        ops.extend(doc.seal_if_chunked(stroke, end_id));
    }
    Ok(ops)
}

impl LiveStroke {
    /// The stroke being drawn, if one is.
    pub fn stroke(&self) -> Option<StrokeId> {
        self.drawing
    }

    /// Forgets the stroke (its ops left the document).
    pub fn forget(&mut self) {
        *self = LiveStroke::default();
    }

    /// Ends the local author's open stroke before an op that is not part of it: the
    /// one drawn here (remembered, so points that follow go on as a new stroke), or
    /// one left open in the document (by this node before a restart).
    pub fn interrupt(&mut self, doc: &mut Document, can_seal: CanSeal<'_>) -> Vec<Op> {
        if let Some(stroke) = self.drawing {
            self.interrupted = Some(stroke);
        }
        let Some(stroke) = self
            .drawing
            .take()
            .or_else(|| doc.open_stroke(doc.local_node()))
        else {
            return Vec::new();
        };
        // One that can no longer end (undone, or its ops dropped) is not open.
        end_and_seal(doc, stroke, can_seal).unwrap_or_default()
    }

    /// The stroke further points go to, and the ops that start it: the one being
    /// drawn, or a new one in the style of the one another edit interrupted, from its
    /// last point. `None` if that one is gone (undone): its pen draws nothing more.
    fn for_points(&mut self, doc: &mut Document) -> Result<Option<(StrokeId, Vec<Op>)>, String> {
        if let Some(stroke) = self.drawing {
            if doc.open_stroke(doc.local_node()) == Some(stroke) {
                return Ok(Some((stroke, Vec::new())));
            }
            // Ended by something else (a replayed op): go on as a new stroke.
            self.drawing = None;
            self.interrupted = Some(stroke);
        }
        let old = self.interrupted.ok_or("no stroke is being drawn")?;
        let Some(held) = doc.stroke(old) else {
            return Ok(None);
        };
        let Some(page) = held.page() else {
            return Ok(None);
        };
        let (tool, color, width) = (held.tool(), held.color(), held.width());
        let from = held.points().last();
        let start = doc
            .begin_stroke(page, tool, color, width)
            .map_err(|e| e.to_string())?;
        self.interrupted = None;
        self.drawing = Some(start.id);
        let mut ops = vec![start.clone()];
        if let Some(point) = from {
            ops.push(
                doc.extend_stroke(start.id, vec![point])
                    .map_err(|e| e.to_string())?,
            );
        }
        Ok(Some((start.id, ops)))
    }
}

impl Edit {
    /// True for edits that belong to the stroke being drawn, or make no op.
    fn within_stroke(&self) -> bool {
        matches!(
            self,
            Edit::StrokeAppend(_) | Edit::StrokeEnd | Edit::GotoPage(_) | Edit::Cursor(_)
        )
    }

    /// Makes this edit's ops on `doc` (already applied there). `live` is the stroke
    /// the local person is drawing, kept between edits; any edit that is not part of
    /// it ends it first.
    pub fn apply(
        self,
        doc: &mut Document,
        live: &mut LiveStroke,
        can_seal: CanSeal<'_>,
    ) -> Result<Vec<Op>, String> {
        let mut ops = Vec::new();
        if !self.within_stroke() {
            ops.extend(live.interrupt(doc, can_seal));
            if matches!(self, Edit::StrokeBegin { .. }) {
                // A new pen-down: nothing to go on with.
                live.interrupted = None;
            }
        }
        ops.extend(self.make(doc, live, can_seal)?);
        Ok(ops)
    }

    fn make(
        self,
        doc: &mut Document,
        live: &mut LiveStroke,
        can_seal: CanSeal<'_>,
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
                let page = page_at(doc, page)?;
                let op = doc
                    .begin_stroke(page, tool, color, width)
                    .map_err(|e| e.to_string())?;
                live.drawing = Some(op.id);
                vec![op]
            }
            Edit::StrokeAppend(points) => {
                let Some((stroke, mut ops)) = live.for_points(doc)? else {
                    return Ok(Vec::new());
                };
                let chunk = doc.limits().max_points_per_op.max(1);
                for part in points.chunks(chunk) {
                    ops.push(
                        doc.extend_stroke(stroke, part.to_vec())
                            .map_err(|e| e.to_string())?,
                    );
                }
                ops
            }
            Edit::StrokeEnd => {
                if live.drawing.is_none() && live.interrupted.take().is_some() {
                    // The pen lifted after another edit ended its stroke (and no
                    // points came since): that end was its end.
                    return Ok(Vec::new());
                }
                let stroke = live.drawing.take().ok_or("no stroke is being drawn")?;
                if doc.open_stroke(doc.local_node()) != Some(stroke) {
                    // Ended already, by an op that could not wait for it.
                    return Ok(Vec::new());
                }
                end_and_seal(doc, stroke, can_seal).map_err(|e| e.to_string())?
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

#[cfg(test)]
mod tests {
    use canopy_canvas::{Action, Color, NodeId, Point, Shape, StrokeRule, Tool, FIRST_PAGE};

    use super::*;

    fn begin() -> Edit {
        Edit::StrokeBegin {
            page: PageRef::Id(FIRST_PAGE),
            tool: Tool::Highlighter,
            color: Color::rgb(10, 20, 30),
            width: 6.0,
        }
    }

    fn points(from: f32, n: usize) -> Edit {
        Edit::StrokeAppend((0..n).map(|i| Point::new(from + i as f32, 5.0)).collect())
    }

    /// Plays `edits` as the window sends them; returns every op made.
    fn play(doc: &mut Document, live: &mut LiveStroke, edits: Vec<Edit>) -> Vec<Op> {
        let mut ops = Vec::new();
        for edit in edits {
            ops.extend(edit.apply(doc, live, &|_| false).unwrap());
        }
        ops
    }

    fn keeps_the_rule(ops: &[Op]) {
        let mut rule = StrokeRule::default();
        for op in ops {
            rule.step(op.id.seq, Shape::of(&op.action)).unwrap();
        }
    }

    /// A stroke is sealed right after its end, whether the pen lifts or another
    /// edit ends it, where the node's signer can seal it; otherwise it is only ended.
    #[test]
    fn a_stroke_is_sealed_right_after_its_end_where_its_signer_can() {
        let shapes = |can_seal: CanSeal<'_>| {
            let mut doc = Document::new(NodeId(1));
            let mut live = LiveStroke::default();
            let mut ops = Vec::new();
            for edit in [
                begin(),
                points(0.0, 3),
                points(3.0, 1),
                Edit::StrokeEnd,
                begin(),
                points(5.0, 2),
                points(7.0, 2),
                Edit::NewPage,
                begin(),
                points(9.0, 4),
                Edit::StrokeEnd,
            ] {
                ops.extend(edit.apply(&mut doc, &mut live, can_seal).unwrap());
            }
            keeps_the_rule(&ops);
            ops.iter()
                .map(|op| Shape::of(&op.action))
                .collect::<Vec<Shape>>()
        };
        use Shape::{End, Other, Points, Seal, Start};
        // The chunks of each stroke, with the points each carries.
        let points = |stroke: u64, counts: &[u32]| {
            counts
                .iter()
                .map(|count| Points(stroke, *count))
                .collect::<Vec<_>>()
        };
        let sealed = [
            vec![Start],
            points(1, &[3, 1]),
            vec![End(1), Seal(1), Start],
            points(6, &[2, 2]),
            vec![End(6), Seal(6), Other, Start, Points(12, 4), End(12)],
        ]
        .concat();
        assert_eq!(
            shapes(&|_| true),
            sealed,
            "sealed right after the end, unless drawn in one op of points"
        );
        let first_unsealed = [
            vec![Start],
            points(1, &[3, 1]),
            vec![End(1), Start],
            points(5, &[2, 2]),
            vec![End(5), Seal(5), Other, Start, Points(11, 4), End(11)],
        ]
        .concat();
        assert_eq!(
            shapes(&|stroke| stroke.seq != 1),
            first_unsealed,
            "sealed only where the signer can"
        );
    }

    #[test]
    fn an_undo_while_drawing_ends_the_stroke_first_and_undoes_it() {
        let mut doc = Document::new(NodeId(1));
        let mut live = LiveStroke::default();
        let ops = play(
            &mut doc,
            &mut live,
            vec![
                begin(),
                points(0.0, 3),
                Edit::Undo,
                points(3.0, 2),
                Edit::StrokeEnd,
            ],
        );
        keeps_the_rule(&ops);
        let kinds: Vec<Shape> = ops.iter().map(|op| Shape::of(&op.action)).collect();
        assert_eq!(
            kinds,
            [
                Shape::Start,
                Shape::Points(1, 3),
                Shape::End(1),
                Shape::Other
            ]
        );
        assert!(matches!(ops[3].action, Action::Undo { target } if target.seq == 1));
        // The undone stroke's pen draws nothing more, and its lift is no error.
        assert_eq!(doc.stroke_count(), 0);
        assert_eq!(doc.open_stroke(NodeId(1)), None);
    }

    #[test]
    fn points_after_another_edit_go_on_as_a_new_stroke_from_the_last_point() {
        let mut doc = Document::new(NodeId(1));
        let mut live = LiveStroke::default();
        let ops = play(
            &mut doc,
            &mut live,
            vec![
                begin(),
                points(0.0, 3),
                Edit::NewPage,
                points(3.0, 2),
                Edit::StrokeEnd,
            ],
        );
        keeps_the_rule(&ops);
        let strokes = doc.strokes(FIRST_PAGE);
        assert_eq!(strokes.len(), 2);
        let second: Vec<Point> = strokes[1].points().collect();
        assert_eq!(
            second,
            [2.0, 3.0, 4.0].map(|x| Point::new(x, 5.0)).to_vec(),
            "it starts where the first stopped"
        );
        assert!(strokes
            .iter()
            .all(|s| !s.is_live() && s.tool() == Tool::Highlighter && s.width() == 6.0));
        assert_eq!(doc.page_count(), 2);
    }

    #[test]
    fn a_stroke_left_open_before_a_restart_ends_before_anything_else() {
        let mut doc = Document::new(NodeId(1));
        let mut before = LiveStroke::default();
        let mut ops = play(&mut doc, &mut before, vec![begin(), points(0.0, 2)]);
        // The node restarts: its file holds the open stroke, the window nothing.
        let mut live = LiveStroke::default();
        ops.extend(play(
            &mut doc,
            &mut live,
            vec![Edit::ClearPage(PageRef::Id(FIRST_PAGE))],
        ));
        keeps_the_rule(&ops);
        assert_eq!(Shape::of(&ops[2].action), Shape::End(1));
        assert_eq!(doc.open_stroke(NodeId(1)), None);
    }

    #[test]
    fn a_new_stroke_while_drawing_ends_the_old_one() {
        let mut doc = Document::new(NodeId(1));
        let mut live = LiveStroke::default();
        let ops = play(
            &mut doc,
            &mut live,
            vec![
                begin(),
                points(0.0, 2),
                begin(),
                points(9.0, 2),
                Edit::StrokeEnd,
            ],
        );
        keeps_the_rule(&ops);
        let strokes = doc.strokes(FIRST_PAGE);
        assert_eq!(strokes.len(), 2);
        assert_eq!(
            strokes[1].point_count(),
            2,
            "nothing carried over to a new pen-down"
        );
    }

    #[test]
    fn cursor_and_page_moves_leave_the_stroke_open() {
        let mut doc = Document::new(NodeId(1));
        let mut live = LiveStroke::default();
        let ops = play(
            &mut doc,
            &mut live,
            vec![
                begin(),
                points(0.0, 2),
                Edit::Cursor(Some(Point::new(1.0, 1.0))),
                Edit::GotoPage(0),
                points(2.0, 2),
                Edit::StrokeEnd,
            ],
        );
        keeps_the_rule(&ops);
        assert_eq!(doc.strokes(FIRST_PAGE).len(), 1);
        assert_eq!(doc.strokes(FIRST_PAGE)[0].point_count(), 4);
    }
}
