//! Taking another log's ops as one's own: a signed import.
//!
//! Ops in a file written before authorship was signed, in a saved document opened as
//! a new session, or in a recording replayed into one, cannot carry their authors'
//! signatures here. They enter a session as the importing author's ops instead: each
//! gets the importer's next id and a fresh clock, and references between them follow
//! ([`Reauthor`] remembers which old id became which new one).

use std::collections::HashMap;

use crate::document::Document;
use crate::ids::{OpId, FIRST_PAGE};
use crate::op::{Action, Color, Op, OpError, Point, Tool};
use crate::version::VersionVector;

/// Old ids to the ids their ops got when taken over.
#[derive(Debug, Default, Clone)]
pub struct Reauthor {
    ids: HashMap<OpId, OpId>,
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
        if self.ids.contains_key(&op.id) {
            return Ok(Vec::new());
        }
        let map = |id: &OpId| -> Option<OpId> {
            if *id == FIRST_PAGE {
                Some(FIRST_PAGE)
            } else {
                self.ids.get(id).copied()
            }
        };
        let action = match &op.action {
            Action::StrokeStart {
                page,
                tool,
                color,
                width,
            } => Action::StrokeStart {
                // A page never imported stays named: the stroke waits for it.
                page: map(page).unwrap_or(*page),
                tool: *tool,
                color: *color,
                width: *width,
            },
            Action::StrokePoints {
                stroke,
                offset,
                points,
            } => match map(stroke) {
                Some(stroke) => Action::StrokePoints {
                    stroke,
                    offset: *offset,
                    points: points.clone(),
                },
                None => return Ok(Vec::new()),
            },
            Action::StrokeEnd { stroke, points } => match map(stroke) {
                Some(stroke) => Action::StrokeEnd {
                    stroke,
                    points: *points,
                },
                None => return Ok(Vec::new()),
            },
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
