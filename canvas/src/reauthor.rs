//! Taking another log's ops as one's own: a signed import.
//!
//! Ops in a file written before authorship was signed, in a saved document opened as
//! a new session, or in a recording replayed into one, cannot carry their authors'
//! signatures here. They enter a session as the importing author's ops instead: each
//! gets the importer's next id and a fresh clock, and references between them follow
//! ([`Reauthor`] remembers which old id became which new one).
//!
//! The importer's log keeps the stroke rule ([`crate::StrokeRule`]): while one of its
//! strokes is open, only that stroke's points and end follow. The source's strokes
//! may overlap (several people drawing at once); one is made as it comes, and the
//! others wait until it ends, then come whole, or as it comes if still being drawn.
//! Any other op ends the stroke being made first, and makes the waiting ones whole
//! with the points they have: points that come later go on as a new stroke in the
//! same style, from where the last part stopped.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::document::Document;
use crate::ids::{OpId, FIRST_PAGE};
use crate::op::{Action, Color, Op, OpError, Point, Tool};
use crate::version::VersionVector;

/// Old ids to the ids their ops got when taken over.
#[derive(Debug, Default, Clone)]
pub struct Reauthor {
    ids: HashMap<OpId, OpId>,
    /// The source stroke being made as the importer's open stroke, and its part.
    open: Option<(OpId, OpId)>,
    /// Source strokes that came while another was open, in the order they came.
    waiting: HashMap<OpId, Waiting>,
    waiting_order: VecDeque<OpId>,
    /// Source strokes ended early (by another op) and their last part: points that
    /// come later go on from it.
    interrupted: HashMap<OpId, OpId>,
    /// Ops in `waiting`, so one taken twice is not kept twice.
    buffered: HashSet<OpId>,
}

/// A source stroke's ops, waiting for the importer's open stroke to end.
#[derive(Debug, Clone)]
struct Waiting {
    /// The part of it made already, if it was interrupted (else `ops` starts with its
    /// start).
    continues: Option<OpId>,
    ops: Vec<Op>,
    ended: bool,
}

impl Reauthor {
    /// Nothing taken over yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ops taken over so far.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True if nothing was taken over.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Makes `op` again as `document`'s local author and applies it, returning the
    /// ops made: none for an op taken over already, or one that refers only to ops
    /// that were not (points of a stroke whose start is missing, an undo of something
    /// never imported). A seal of a stroke not taken over makes the whole stroke
    /// (start, points, end, seal); a seal of one taken over seals the importer's copy
    /// if its end was the last op made.
    ///
    /// A clear made again covers every op of the importer before it: in an import,
    /// the strokes it had not seen were made by others at the same time, and are now
    /// the importer's earlier ops.
    pub fn adopt(&mut self, document: &mut Document, op: &Op) -> Result<Vec<Op>, OpError> {
        if self.ids.contains_key(&op.id) || self.buffered.contains(&op.id) {
            return Ok(Vec::new());
        }
        match &op.action {
            Action::StrokeStart { .. } => return self.start(document, op),
            Action::StrokePoints { stroke, .. } | Action::StrokeEnd { stroke, .. } => {
                return self.continue_stroke(document, *stroke, op)
            }
            _ => {}
        }
        // Anything else comes after every stroke being made or waiting.
        let mut made = self.clear_way(document)?;
        made.extend(self.adopt_other(document, op)?);
        Ok(made)
    }

    /// Ends the importer's open stroke and makes every waiting stroke whole: what an
    /// import does when it has taken all its ops, so the importer's log ends with no
    /// stroke open. Returns the ops made.
    pub fn finish(&mut self, document: &mut Document) -> Result<Vec<Op>, OpError> {
        self.clear_way(document)
    }

    /// The source stroke being made and its part, if that part is still open (a
    /// local edit may have ended it).
    fn open_part(&self, document: &Document) -> Option<(OpId, OpId)> {
        let (source, part) = self.open?;
        (document.open_stroke(document.local_node()) == Some(part)).then_some((source, part))
    }

    /// Catches up with the document: a part something else ended counts as
    /// interrupted; with none open, another open stroke of the importer's (drawn by
    /// hand, or left open before a restart) ends, and waiting strokes that ended come
    /// whole, up to the first still being drawn, which is made as it comes from now.
    fn settle(&mut self, document: &mut Document) -> Result<Vec<Op>, OpError> {
        let mut made = Vec::new();
        if let Some((source, part)) = self.open {
            if self.open_part(document).is_some() {
                return Ok(made);
            }
            self.open = None;
            self.interrupted.insert(source, part);
        }
        if let Some(other) = document.open_stroke(document.local_node()) {
            // Not one of the import's: ended, not sealed (its signer may not know the
            // head before its start, and would then refuse the whole import).
            made.push(document.end_stroke(other)?);
        }
        while let Some((source, waiting)) = self.take_waiting() {
            let ended = waiting.ended;
            let part = self.make_waiting(document, source, waiting, &mut made)?;
            if !ended {
                self.open = Some((source, part));
                break;
            }
        }
        Ok(made)
    }

    /// The waiting stroke that came first, taken out of the queue.
    fn take_waiting(&mut self) -> Option<(OpId, Waiting)> {
        while let Some(source) = self.waiting_order.pop_front() {
            if let Some(waiting) = self.waiting.remove(&source) {
                return Some((source, waiting));
            }
        }
        None
    }

    /// Ends the stroke being made and makes every waiting one whole (those still
    /// being drawn end early, and go on later as new strokes), so that an op that is
    /// no stroke's can follow.
    fn clear_way(&mut self, document: &mut Document) -> Result<Vec<Op>, OpError> {
        let mut made = self.settle(document)?;
        if let Some((source, part)) = self.open.take() {
            made.extend(end_and_seal(document, part)?);
            self.interrupted.insert(source, part);
        }
        while let Some((source, waiting)) = self.take_waiting() {
            let ended = waiting.ended;
            let part = self.make_waiting(document, source, waiting, &mut made)?;
            if !ended {
                made.extend(end_and_seal(document, part)?);
                self.interrupted.insert(source, part);
            }
        }
        Ok(made)
    }

    /// A source stroke's start: made now if no stroke of the importer's is open, or
    /// kept waiting.
    fn start(&mut self, document: &mut Document, op: &Op) -> Result<Vec<Op>, OpError> {
        let mut made = self.settle(document)?;
        if self.open.is_some() {
            self.waiting.insert(
                op.id,
                Waiting {
                    continues: None,
                    ops: vec![op.clone()],
                    ended: false,
                },
            );
            self.waiting_order.push_back(op.id);
            self.buffered.insert(op.id);
            return Ok(made);
        }
        let part = self.make_start(document, op, &mut made)?;
        self.open = Some((op.id, part));
        Ok(made)
    }

    /// Points or the end of source stroke `stroke`.
    fn continue_stroke(
        &mut self,
        document: &mut Document,
        stroke: OpId,
        op: &Op,
    ) -> Result<Vec<Op>, OpError> {
        let mut made = self.settle(document)?;
        let ends = matches!(op.action, Action::StrokeEnd { .. });
        if let Some(waiting) = self.waiting.get_mut(&stroke) {
            waiting.ops.push(op.clone());
            waiting.ended |= ends;
            self.buffered.insert(op.id);
            return Ok(made);
        }
        if let Some((_, part)) = self.open.filter(|(source, _)| *source == stroke) {
            let next = if ends {
                self.open = None;
                document.end_stroke(part)?
            } else {
                document.extend_stroke(part, points_of(op).to_vec())?
            };
            let next_id = next.id;
            self.ids.insert(op.id, next_id);
            made.push(next);
            if ends {
                made.extend(document.seal_if_chunked(part, next_id));
                made.extend(self.settle(document)?);
            }
            return Ok(made);
        }
        let Some(part) = self.interrupted.get(&stroke).copied() else {
            // A stroke whose start was never taken over.
            return Ok(made);
        };
        if ends {
            self.interrupted.remove(&stroke);
            return Ok(made);
        }
        if self.open.is_some() {
            self.interrupted.remove(&stroke);
            self.waiting.insert(
                stroke,
                Waiting {
                    continues: Some(part),
                    ops: vec![op.clone()],
                    ended: false,
                },
            );
            self.waiting_order.push_back(stroke);
            self.buffered.insert(op.id);
            return Ok(made);
        }
        self.interrupted.remove(&stroke);
        let next = self.make_continuation(document, part, &mut made)?;
        let points = document.extend_stroke(next, points_of(op).to_vec())?;
        self.ids.insert(op.id, points.id);
        made.push(points);
        self.open = Some((stroke, next));
        Ok(made)
    }

    /// Makes a source stroke's start as the importer's; returns the new stroke.
    fn make_start(
        &mut self,
        document: &mut Document,
        op: &Op,
        made: &mut Vec<Op>,
    ) -> Result<OpId, OpError> {
        let Action::StrokeStart {
            page,
            tool,
            color,
            width,
        } = &op.action
        else {
            return Err(OpError::Unknown(op.id));
        };
        let page = if *page == FIRST_PAGE {
            FIRST_PAGE
        } else {
            // A page never imported stays named: the stroke waits for it.
            self.ids.get(page).copied().unwrap_or(*page)
        };
        let start = document.author(Action::StrokeStart {
            page,
            tool: *tool,
            color: *color,
            width: *width,
        })?;
        self.ids.insert(op.id, start.id);
        let part = start.id;
        made.push(start);
        Ok(part)
    }

    /// Starts a new stroke of the importer's that goes on from `part` (same page and
    /// style, from its last point); returns it.
    fn make_continuation(
        &mut self,
        document: &mut Document,
        part: OpId,
        made: &mut Vec<Op>,
    ) -> Result<OpId, OpError> {
        let held = document.held_stroke(part).ok_or(OpError::Unknown(part))?;
        let page = held.page().ok_or(OpError::Unknown(part))?;
        let (tool, color, width) = (held.tool(), held.color(), held.width());
        let from = held.points().last();
        let start = document.author(Action::StrokeStart {
            page,
            tool,
            color,
            width,
        })?;
        let next = start.id;
        made.push(start);
        if let Some(point) = from {
            made.push(document.extend_stroke(next, vec![point])?);
        }
        Ok(next)
    }

    /// Makes a waiting stroke's ops (start or continuation, then its points in
    /// order, then its end if it ended); returns the stroke made.
    fn make_waiting(
        &mut self,
        document: &mut Document,
        source: OpId,
        waiting: Waiting,
        made: &mut Vec<Op>,
    ) -> Result<OpId, OpError> {
        let mut ops = waiting.ops;
        for op in &ops {
            self.buffered.remove(&op.id);
        }
        let end = ops
            .iter()
            .find(|op| matches!(op.action, Action::StrokeEnd { .. }))
            .map(|op| op.id);
        let part = match waiting.continues {
            Some(part) => self.make_continuation(document, part, made)?,
            None => match ops.first() {
                Some(start) if start.id == source => {
                    let start = start.clone();
                    self.make_start(document, &start, made)?
                }
                _ => return Err(OpError::Unknown(source)),
            },
        };
        ops.retain(|op| matches!(op.action, Action::StrokePoints { .. }));
        ops.sort_by_key(|op| match op.action {
            Action::StrokePoints { offset, .. } => (offset, op.id.seq),
            _ => (0, op.id.seq),
        });
        for op in &ops {
            let points = document.extend_stroke(part, points_of(op).to_vec())?;
            self.ids.insert(op.id, points.id);
            made.push(points);
        }
        if let Some(end) = end {
            let ended = document.end_stroke(part)?;
            let ended_id = ended.id;
            self.ids.insert(end, ended_id);
            made.push(ended);
            made.extend(document.seal_if_chunked(part, ended_id));
        }
        Ok(part)
    }

    /// Makes `op` (neither a stroke's start, points nor end) again, with no stroke
    /// of the importer's open.
    fn adopt_other(&mut self, document: &mut Document, op: &Op) -> Result<Vec<Op>, OpError> {
        let map = |id: &OpId| -> Option<OpId> {
            if *id == FIRST_PAGE {
                Some(FIRST_PAGE)
            } else {
                self.ids.get(id).copied()
            }
        };
        let action = match &op.action {
            Action::StrokeStart { .. } | Action::StrokePoints { .. } | Action::StrokeEnd { .. } => {
                return Ok(Vec::new())
            }
            Action::Erase { strokes } => {
                let strokes: Vec<OpId> = strokes.iter().filter_map(map).collect();
                if strokes.is_empty() {
                    return Ok(Vec::new());
                }
                Action::Erase { strokes }
            }
            Action::ClearPage { page, .. } => {
                let Some(page) = map(page) else {
                    return Ok(Vec::new());
                };
                let local = document.local_node();
                let mut seen = VersionVector::new();
                let held = document.latest_seqs().get(local);
                if held > 0 {
                    seen.set(local, held);
                }
                Action::ClearPage { page, seen }
            }
            Action::NewPage { position } => Action::NewPage {
                position: *position,
            },
            Action::DeletePage { page } => match map(page) {
                Some(page) => Action::DeletePage { page },
                None => return Ok(Vec::new()),
            },
            Action::MovePage { page, position } => match map(page) {
                Some(page) => Action::MovePage {
                    page,
                    position: *position,
                },
                None => return Ok(Vec::new()),
            },
            Action::Undo { target } => match map(target) {
                Some(target) => Action::Undo { target },
                None => return Ok(Vec::new()),
            },
            Action::Redo { target } => match map(target) {
                Some(target) => Action::Redo { target },
                None => return Ok(Vec::new()),
            },
            Action::StrokeSealed {
                stroke,
                page,
                tool,
                color,
                width,
                points,
                ..
            } => {
                let made = match map(stroke) {
                    // Honest seals restate the stroke's ops, already made again.
                    Some(mine) => document.seal_stroke(mine).into_iter().collect(),
                    None => {
                        let page = map(page).unwrap_or(*page);
                        let made = whole_stroke(document, page, *tool, *color, *width, points)?;
                        if let Some(start) = made.first() {
                            self.ids.insert(*stroke, start.id);
                        }
                        made
                    }
                };
                let seal = made.last().map_or(op.id, |last| last.id);
                self.ids.insert(op.id, seal);
                return Ok(made);
            }
        };
        let made = document.author(action)?;
        self.ids.insert(op.id, made.id);
        Ok(vec![made])
    }

    /// Moves pages taken over into `order` (the source's page order, by old id):
    /// pages at exactly the same place are ordered by id, and an import renames them.
    /// Returns the moves made (at most one per page per pass, a few passes).
    pub fn follow_page_order(
        &self,
        document: &mut Document,
        order: &[OpId],
    ) -> Result<Vec<Op>, OpError> {
        let wanted: Vec<OpId> = order
            .iter()
            .filter_map(|old| {
                if *old == FIRST_PAGE {
                    Some(FIRST_PAGE)
                } else {
                    self.ids.get(old).copied()
                }
            })
            .filter(|page| document.has_page(*page))
            .collect();
        let mut moves = Vec::new();
        for _ in 0..3 {
            let now: Vec<OpId> = document
                .pages()
                .into_iter()
                .filter(|page| wanted.contains(page))
                .collect();
            if now == wanted {
                break;
            }
            for (index, page) in wanted.iter().enumerate() {
                if document.pages().get(index) != Some(page) {
                    moves.push(document.move_page(*page, index)?);
                }
            }
        }
        Ok(moves)
    }
}

/// Ends a stroke of the importer's and seals it right after if it was made in more
/// than one op of points (and holds no more than one op's): an import's backlog is
/// then one op a stroke, as a pen's is.
fn end_and_seal(document: &mut Document, stroke: OpId) -> Result<Vec<Op>, OpError> {
    let end = document.end_stroke(stroke)?;
    let seal = document.seal_if_chunked(stroke, end.id);
    Ok([Some(end), seal].into_iter().flatten().collect())
}

/// The points a points op carries (none for any other op).
fn points_of(op: &Op) -> &[Point] {
    match &op.action {
        Action::StrokePoints { points, .. } => points,
        _ => &[],
    }
}

/// A stroke made as `document`'s local author from its points alone: start, points
/// in op-sized chunks, end and seal. The page may not be held yet (the stroke waits
/// for it, as a start taken over does).
fn whole_stroke(
    document: &mut Document,
    page: OpId,
    tool: Tool,
    color: Color,
    width: f32,
    points: &[Point],
) -> Result<Vec<Op>, OpError> {
    let start = document.author(Action::StrokeStart {
        page,
        tool,
        color,
        width,
    })?;
    let stroke = start.id;
    let mut made = vec![start];
    for part in points.chunks(document.limits().max_points_per_op.max(1)) {
        made.push(document.extend_stroke(stroke, part.to_vec())?);
    }
    made.push(document.end_stroke(stroke)?);
    // Sealed too, unless this document holds fewer points an op.
    made.extend(document.seal_stroke(stroke).ok());
    Ok(made)
}
