//! The window's own copy of the document, fed with the ops the core applies.
//!
//! The window is one more consumer of ops: it merges them into a [`Document`] of its
//! own (the same CRDT every peer runs), so drawing never waits on the core and the
//! core never waits on drawing. Applying is spread over frames when a big sync
//! arrives, and each batch says what the tile cache must redraw.

use std::collections::{BTreeSet, HashMap, VecDeque};

use canopy_canvas::{Action, Document, NodeId, PageId, StrokeId};
use canopy_protocol::WireOp;

/// What a batch of applied ops changed, for the caches.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// Strokes that were finished, with their page: drawn onto cached tiles as they are.
    pub finished: Vec<(PageId, StrokeId)>,
    /// Something other than new strokes happened (erase, clear, undo, pages): cached
    /// pictures must be redrawn.
    pub restructured: bool,
    /// Pages whose pictures are out of date (thumbnails).
    pub pages: BTreeSet<PageId>,
}

impl Changes {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.finished.is_empty() && !self.restructured && self.pages.is_empty()
    }
}

/// The window's document and the ops still to merge into it.
pub struct Replica {
    document: Document,
    pending: VecDeque<WireOp>,
    /// Page of each stroke whose start has been seen.
    stroke_pages: HashMap<StrokeId, PageId>,
    /// Strokes whose pen is still down (drawn as overlays, not into tiles).
    live: BTreeSet<StrokeId>,
}

impl Replica {
    /// An empty document owned by `local` (the node's identity, so "mine" is known).
    pub fn new(local: NodeId) -> Self {
        Self {
            document: Document::new(local),
            pending: VecDeque::new(),
            stroke_pages: HashMap::new(),
            live: BTreeSet::new(),
        }
    }

    /// Starts over from a copy of the node's document (queued ops are kept: they
    /// merge on top, duplicates are ignored).
    pub fn replace(&mut self, document: Document) {
        self.stroke_pages.clear();
        self.live.clear();
        for page in document.pages() {
            for stroke in document.strokes(page) {
                self.stroke_pages.insert(stroke.id(), page);
                if stroke.is_live() {
                    self.live.insert(stroke.id());
                }
            }
        }
        self.document = document;
    }

    /// The document as merged so far.
    pub fn document(&self) -> &Document {
        &self.document
    }

    /// Strokes still being drawn, by anyone.
    pub fn live_strokes(&self) -> impl Iterator<Item = (PageId, StrokeId)> + '_ {
        self.live
            .iter()
            .filter_map(|id| Some((*self.stroke_pages.get(id)?, *id)))
    }

    /// Ops waiting to be merged.
    pub fn backlog(&self) -> usize {
        self.pending.len()
    }

    /// Queues ops to merge (duplicates are harmless).
    pub fn queue(&mut self, ops: impl IntoIterator<Item = WireOp>) {
        self.pending.extend(ops);
    }

    /// Merges up to `budget` queued ops and says what changed.
    pub fn apply_pending(&mut self, budget: usize) -> Changes {
        let mut changes = Changes::default();
        let take = budget.min(self.pending.len());
        for wire in self.pending.drain(..take).collect::<Vec<_>>() {
            let op = match wire.to_op() {
                Ok(op) => op,
                Err(error) => {
                    tracing::warn!(op = %wire.id, %error, "undecodable op skipped by the window");
                    continue;
                }
            };
            let action = op.action.clone();
            let before = sealed_stroke_as_held(&self.document, &action);
            match self.document.apply(op) {
                Ok(canopy_canvas::Applied::New) => {}
                Ok(canopy_canvas::Applied::Duplicate) => continue,
                Err(error) => {
                    tracing::warn!(op = %wire.id, %error, "op refused by the window's copy");
                    continue;
                }
            }
            if let Action::StrokeSealed { stroke, page, .. } = action {
                self.note_seal(stroke, page, before, &mut changes);
            } else {
                self.note(wire.id, action, &mut changes);
            }
        }
        changes
    }

    /// A seal: a finished stroke if it came alone (a backlog serves seals in place of
    /// the ops they stand for); over ops held, the same stroke unless it says other
    /// points, style or page than they did (then its pages are redrawn).
    fn note_seal(
        &mut self,
        stroke: StrokeId,
        page: PageId,
        before: Option<HeldStroke>,
        changes: &mut Changes,
    ) {
        let was_live = self.live.remove(&stroke);
        let old_page = self.stroke_pages.insert(stroke, page);
        let after = self.document.stroke(stroke).map(HeldStroke::of);
        match (old_page, before) {
            (Some(_), Some(before)) if Some(&before) == after.as_ref() => {
                if was_live {
                    changes.finished.push((page, stroke));
                    changes.pages.insert(page);
                }
            }
            (Some(old_page), _) => {
                changes.restructured = true;
                changes.pages.insert(old_page);
                changes.pages.insert(page);
            }
            (None, _) => {
                changes.finished.push((page, stroke));
                changes.pages.insert(page);
            }
        }
    }

    fn note(&mut self, id: canopy_canvas::OpId, action: Action, changes: &mut Changes) {
        let stroke_state =
            |doc: &Document, stroke: StrokeId| doc.stroke(stroke).map(|s| s.is_live());
        match action {
            Action::StrokeStart { page, .. } => {
                self.stroke_pages.insert(id, page);
                match stroke_state(&self.document, id) {
                    Some(true) => {
                        self.live.insert(id);
                    }
                    // Its end (and points) arrived first: it is finished already.
                    _ => {
                        changes.finished.push((page, id));
                        changes.pages.insert(page);
                    }
                }
            }
            Action::StrokePoints { stroke, .. } => {
                if stroke_state(&self.document, stroke) == Some(false) {
                    // Late points of a finished stroke change its picture.
                    self.mark_page_of(stroke, changes);
                    changes.restructured = true;
                }
            }
            Action::StrokeEnd { stroke, .. } => {
                self.live.remove(&stroke);
                match self.stroke_pages.get(&stroke) {
                    Some(page) if stroke_state(&self.document, stroke) == Some(false) => {
                        changes.finished.push((*page, stroke));
                        changes.pages.insert(*page);
                    }
                    // Not started yet: its start will report it.
                    _ => {}
                }
            }
            _ => {
                changes.restructured = true;
                changes.pages.extend(self.document.pages());
            }
        }
    }

    fn mark_page_of(&self, stroke: StrokeId, changes: &mut Changes) {
        if let Some(page) = self.stroke_pages.get(&stroke) {
            changes.pages.insert(*page);
        }
    }
}

/// What a stroke looks like: a seal over it changes nothing to draw if this stays.
#[derive(Debug, PartialEq)]
struct HeldStroke {
    page: Option<PageId>,
    style: (canopy_canvas::Tool, canopy_canvas::Color, u32),
    points: Vec<canopy_canvas::Point>,
}

impl HeldStroke {
    fn of(stroke: &canopy_canvas::Stroke) -> HeldStroke {
        HeldStroke {
            page: stroke.page(),
            style: (stroke.tool(), stroke.color(), stroke.width().to_bits()),
            points: stroke.points().collect(),
        }
    }
}

/// The stroke a seal is about to seal, as held before it (if it is a seal).
fn sealed_stroke_as_held(document: &Document, action: &Action) -> Option<HeldStroke> {
    match action {
        Action::StrokeSealed { stroke, .. } => document.stroke(*stroke).map(HeldStroke::of),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_canvas::{Color, Point, Tool, FIRST_PAGE};

    fn wire(ops: &[canopy_canvas::Op]) -> Vec<WireOp> {
        ops.iter().map(WireOp::from_op).collect()
    }

    /// A finished black dot at `(x, 1)` by `author`: its ops.
    fn dot(author: &mut Document, x: f32) -> Vec<canopy_canvas::Op> {
        author
            .draw_stroke(
                FIRST_PAGE,
                Tool::Pen,
                Color::rgb(0, 0, 0),
                2.0,
                &[Point::new(x, 1.0)],
            )
            .unwrap()
    }

    #[test]
    fn live_strokes_become_finished_strokes() {
        let mut author = Document::new(NodeId(7));
        let start = author
            .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(0, 0, 0), 2.0)
            .unwrap();
        let points = author
            .extend_stroke(start.id, vec![Point::new(1.0, 1.0), Point::new(9.0, 9.0)])
            .unwrap();
        let mut replica = Replica::new(NodeId(9));
        replica.queue(wire(&[start.clone(), points]));
        let changes = replica.apply_pending(usize::MAX);
        assert!(changes.finished.is_empty() && !changes.restructured);
        assert_eq!(
            replica.live_strokes().collect::<Vec<_>>(),
            vec![(FIRST_PAGE, start.id)]
        );

        let end = author.end_stroke(start.id).unwrap();
        replica.queue(wire(&[end.clone(), end]));
        let changes = replica.apply_pending(usize::MAX);
        assert_eq!(changes.finished, vec![(FIRST_PAGE, start.id)]);
        assert_eq!(replica.live_strokes().count(), 0);
        assert_eq!(replica.document().digest(), author.digest());
    }

    /// A seal over a stroke drawn here already changes nothing to draw; a seal alone
    /// (from a backlog) is a finished stroke; a seal that says other points than the
    /// ops held redraws its page.
    #[test]
    fn seals_are_finished_strokes_and_change_nothing_over_the_same_stroke() {
        let mut author = Document::new(NodeId(7));
        let start = author
            .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(0, 0, 0), 2.0)
            .unwrap();
        let points = author
            .extend_stroke(start.id, vec![Point::new(1.0, 1.0), Point::new(9.0, 9.0)])
            .unwrap();
        let end = author.end_stroke(start.id).unwrap();
        let seal = author.seal_stroke(start.id).unwrap();

        let mut live = Replica::new(NodeId(9));
        live.queue(wire(&[start.clone(), points.clone(), end.clone()]));
        let changes = live.apply_pending(usize::MAX);
        assert_eq!(changes.finished, vec![(FIRST_PAGE, start.id)]);
        live.queue(wire(std::slice::from_ref(&seal)));
        assert!(live.apply_pending(usize::MAX).is_empty());
        assert_eq!(live.document().digest(), author.digest());

        let mut joiner = Replica::new(NodeId(10));
        joiner.queue(wire(std::slice::from_ref(&seal)));
        let changes = joiner.apply_pending(usize::MAX);
        assert_eq!(changes.finished, vec![(FIRST_PAGE, start.id)]);
        assert!(!changes.restructured);
        assert_eq!(joiner.document().digest(), author.digest());

        // A seal restating other points than its ops (its author's to make): redrawn.
        let mut other = seal.clone();
        if let Action::StrokeSealed { points, .. } = &mut other.action {
            points[0] = Point::new(50.0, 50.0);
        }
        let mut held = Replica::new(NodeId(11));
        held.queue(wire(&[start.clone(), points, end]));
        held.apply_pending(usize::MAX);
        held.queue(wire(&[other]));
        let changes = held.apply_pending(usize::MAX);
        assert!(changes.restructured);
        assert!(changes.pages.contains(&FIRST_PAGE));
    }

    #[test]
    fn a_snapshot_starts_the_copy_and_later_ops_merge_on_top() {
        let mut author = Document::new(NodeId(7));
        dot(&mut author, 1.0);
        let start = author
            .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(9, 9, 9), 2.0)
            .unwrap();
        let id = start.id;
        let mut replica = Replica::new(NodeId(9));
        replica.replace(author.clone());
        assert_eq!(replica.document().digest(), author.digest());
        assert_eq!(
            replica.live_strokes().collect::<Vec<_>>(),
            vec![(FIRST_PAGE, id)]
        );
        // The live stroke ends after the snapshot: reported finished, on its page.
        let end = author.end_stroke(start.id).unwrap();
        replica.queue(wire(&[start, end]));
        let changes = replica.apply_pending(usize::MAX);
        assert_eq!(changes.finished, vec![(FIRST_PAGE, id)]);
        assert_eq!(replica.live_strokes().count(), 0);
    }

    #[test]
    fn a_stroke_arriving_backwards_is_reported_once_finished() {
        let mut author = Document::new(NodeId(7));
        let ops = dot(&mut author, 1.0);
        let mut replica = Replica::new(NodeId(9));
        replica.queue(wire(&ops).into_iter().rev());
        let changes = replica.apply_pending(usize::MAX);
        assert_eq!(changes.finished, vec![(FIRST_PAGE, ops[0].id)]);
        assert_eq!(replica.live_strokes().count(), 0);
    }

    #[test]
    fn erasing_restructures_and_budget_spreads_work() {
        let mut author = Document::new(NodeId(7));
        let mut ops = Vec::new();
        for i in 0..3 {
            ops.extend(dot(&mut author, i as f32));
        }
        let first = ops[0].id;
        ops.push(author.erase(vec![first]).unwrap());
        let mut replica = Replica::new(NodeId(9));
        replica.queue(wire(&ops));
        let total = replica.backlog();
        let early = replica.apply_pending(2);
        assert!(!early.restructured);
        assert_eq!(replica.backlog(), total - 2);
        let rest = replica.apply_pending(usize::MAX);
        assert!(rest.restructured);
        assert_eq!(replica.document().digest(), author.digest());
    }
}
