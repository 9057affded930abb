//! Per-author undo and redo.
//!
//! A user undoes their own last action, never someone else's, while others keep
//! drawing. The stacks are not stored: they are derived from the author's own ops in
//! sequence order, so they are the same on every peer and survive restarts.
//! Whether an action is currently undone is a last-writer-wins register per action,
//! set by the author's `Undo`/`Redo` ops (ordered by Lamport clock, then id).

use std::collections::{BTreeMap, HashMap};

use crate::ids::{NodeId, OpId};

/// One entry of an author's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// An undoable action.
    Did(OpId),
    /// Undo of an action.
    Undid(OpId),
    /// Redo of an action.
    Redid(OpId),
}

/// The latest undo/redo decision for one action.
#[derive(Debug, Clone, Copy)]
struct Mark {
    lamport: u64,
    by: OpId,
    undone: bool,
}

/// Undo state of the whole document.
#[derive(Debug, Default, Clone)]
pub(crate) struct History {
    steps: HashMap<NodeId, BTreeMap<u64, Step>>,
    /// Ordered, like the document's strokes: no all-at-once resize.
    marks: BTreeMap<OpId, Mark>,
}

impl History {
    /// Records a step of `op`'s author.
    pub(crate) fn record(&mut self, op: OpId, lamport: u64, step: Step) {
        self.steps.entry(op.node).or_default().insert(op.seq, step);
        let (target, undone) = match step {
            Step::Did(_) => return,
            Step::Undid(target) => (target, true),
            Step::Redid(target) => (target, false),
        };
        let mark = Mark {
            lamport,
            by: op,
            undone,
        };
        self.marks
            .entry(target)
            .and_modify(|current| {
                if (mark.lamport, mark.by) > (current.lamport, current.by) {
                    *current = mark;
                }
            })
            .or_insert(mark);
    }

    /// True unless the action is currently undone.
    pub(crate) fn is_active(&self, action: OpId) -> bool {
        self.marks.get(&action).is_none_or(|m| !m.undone)
    }

    /// The action `author` would undo next, and the one they would redo next.
    pub(crate) fn next_undo_redo(&self, author: NodeId) -> (Option<OpId>, Option<OpId>) {
        let mut undo: Vec<OpId> = Vec::new();
        let mut redo: Vec<OpId> = Vec::new();
        for step in self.steps.get(&author).into_iter().flat_map(|s| s.values()) {
            match *step {
                Step::Did(action) => {
                    undo.push(action);
                    redo.clear();
                }
                Step::Undid(action) => {
                    undo.retain(|a| *a != action);
                    redo.push(action);
                }
                Step::Redid(action) => {
                    redo.retain(|a| *a != action);
                    undo.push(action);
                }
            }
        }
        (undo.last().copied(), redo.last().copied())
    }
}
