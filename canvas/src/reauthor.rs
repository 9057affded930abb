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
use crate::op::{Action, Op, OpError};
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

    /// Makes `op` again as `document`'s local author and applies it. `Ok(None)` for an
    /// op taken over already, or one that refers only to ops that were not (points of
    /// a stroke whose start is missing, an undo of something never imported).
    ///
    /// A clear made again covers every op of the importer before it: in an import,
    /// the strokes it had not seen were made by others at the same time, and are now
    /// the importer's earlier ops.
    pub fn adopt(&mut self, document: &mut Document, op: &Op) -> Result<Option<Op>, OpError> {
        if self.ids.contains_key(&op.id) {
            return Ok(None);
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
                None => return Ok(None),
            },
            Action::StrokeEnd { stroke, points } => match map(stroke) {
                Some(stroke) => Action::StrokeEnd {
                    stroke,
                    points: *points,
                },
                None => return Ok(None),
            },
            Action::Erase { strokes } => {
                let strokes: Vec<OpId> = strokes.iter().filter_map(map).collect();
                if strokes.is_empty() {
                    return Ok(None);
                }
                Action::Erase { strokes }
            }
            Action::ClearPage { page, .. } => {
                let Some(page) = map(page) else {
                    return Ok(None);
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
                None => return Ok(None),
            },
            Action::MovePage { page, position } => match map(page) {
                Some(page) => Action::MovePage {
                    page,
                    position: *position,
                },
                None => return Ok(None),
            },
            Action::Undo { target } => match map(target) {
                Some(target) => Action::Undo { target },
                None => return Ok(None),
            },
            Action::Redo { target } => match map(target) {
                Some(target) => Action::Redo { target },
                None => return Ok(None),
            },
        };
        let made = document.author(action)?;
        self.ids.insert(op.id, made.id);
        Ok(Some(made))
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
