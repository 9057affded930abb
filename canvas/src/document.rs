//! The document: the merge of every op anyone made.
//!
//! Applying the same set of ops in any order, duplicates included, gives the same
//! visible document on every peer (a CRDT): strokes are grow-only and keyed by id,
//! their points sorted by offset; erasures, clears and deletions are sets of ops whose
//! effect is computed when the document is read; undo is a last-writer-wins mark per
//! action. Nothing here does I/O or looks at a clock.

use std::collections::btree_map::Entry as Slot;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::chunks::{Chunk, Chunks};
use crate::held_log::{missing_spans, HeldLog, LogEntry};
use crate::history::{History, Step};
use crate::ids::{NodeId, OpId, PageId, StrokeId, FIRST_PAGE};
use crate::op::{Action, Color, Limits, Op, OpError, Point, Tool};
use crate::stroke_rule::{Shape, StrokeRule};
use crate::version::VersionVector;

/// Result of applying an op that passed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The op was new and is now part of the document.
    New,
    /// The op was already known; nothing changed.
    Duplicate,
}

/// Axis-aligned bounds in page units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// Left.
    pub min_x: f32,
    /// Top.
    pub min_y: f32,
    /// Right.
    pub max_x: f32,
    /// Bottom.
    pub max_y: f32,
}

impl Bounds {
    const EMPTY: Bounds = Bounds {
        min_x: f32::INFINITY,
        min_y: f32::INFINITY,
        max_x: f32::NEG_INFINITY,
        max_y: f32::NEG_INFINITY,
    };

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.min_x > self.max_x
    }

    fn add(&mut self, p: Point) {
        self.min_x = self.min_x.min(p.x);
        self.min_y = self.min_y.min(p.y);
        self.max_x = self.max_x.max(p.x);
        self.max_y = self.max_y.max(p.y);
    }

    /// The union of two bounds.
    pub fn union(self, other: Bounds) -> Bounds {
        Bounds {
            min_x: self.min_x.min(other.min_x),
            min_y: self.min_y.min(other.min_y),
            max_x: self.max_x.max(other.max_x),
            max_y: self.max_y.max(other.max_y),
        }
    }

    /// Grown by `margin` on every side.
    pub fn inflate(self, margin: f32) -> Bounds {
        Bounds {
            min_x: self.min_x - margin,
            min_y: self.min_y - margin,
            max_x: self.max_x + margin,
            max_y: self.max_y + margin,
        }
    }

    /// True when the two overlap (touching counts).
    pub fn intersects(&self, other: &Bounds) -> bool {
        self.min_x <= other.max_x
            && other.min_x <= self.max_x
            && self.min_y <= other.max_y
            && other.min_y <= self.max_y
    }
}

/// The frame every page shows at least, whatever is drawn on it (a 1080p screen).
pub const PAGE_FRAME: Bounds = Bounds {
    min_x: 0.0,
    min_y: 0.0,
    max_x: 1920.0,
    max_y: 1080.0,
};

/// How a stroke looks, from its start op.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Style {
    page: PageId,
    tool: Tool,
    color: Color,
    width: f32,
    lamport: u64,
}

/// A stroke as far as it is known: its start may arrive after some of its points.
#[derive(Debug, Clone)]
pub struct Stroke {
    id: StrokeId,
    style: Option<Style>,
    /// Keyed by `(offset, seq)`, so the order of arrival does not matter. A tree, as
    /// chunks can come in any order (a hostile author sends them backwards) and a
    /// sorted vector would shift on every insert.
    chunks: Chunks,
    /// The first end taken: its point count and sequence number.
    end: Option<(u32, u64)>,
    /// The seal's sequence number, once sealed: the stroke is then what it says.
    sealed: Option<u64>,
    point_count: u32,
    bounds: Bounds,
}

impl Stroke {
    fn new(id: StrokeId) -> Self {
        Self {
            id,
            style: None,
            chunks: Chunks::default(),
            end: None,
            sealed: None,
            point_count: 0,
            bounds: Bounds::EMPTY,
        }
    }

    /// The stroke's id (the id of its start op).
    pub fn id(&self) -> StrokeId {
        self.id
    }

    /// Pen or highlighter.
    pub fn tool(&self) -> Tool {
        self.style.map_or(Tool::Pen, |s| s.tool)
    }

    /// Its colour.
    pub fn color(&self) -> Color {
        self.style.map_or(Color::rgb(0, 0, 0), |s| s.color)
    }

    /// Its width in page units.
    pub fn width(&self) -> f32 {
        self.style.map_or(1.0, |s| s.width)
    }

    /// Its points in drawing order.
    pub fn points(&self) -> impl Iterator<Item = Point> + '_ {
        self.chunks
            .values()
            .flat_map(|c| c.points().iter().copied())
    }

    /// Number of points known.
    pub fn point_count(&self) -> u32 {
        self.point_count
    }

    /// True while the pen is still down.
    pub fn is_live(&self) -> bool {
        self.end.is_none()
    }

    /// The page it is drawn on, once its start is held.
    pub fn page(&self) -> Option<PageId> {
        self.style.map(|style| style.page)
    }

    /// True once its author's seal is taken: its points, style and place are the
    /// seal's, and nothing more changes them.
    pub fn is_sealed(&self) -> bool {
        self.sealed.is_some()
    }

    /// Bounds of its points (not including the width).
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }
}

/// A page as far as it is known.
#[derive(Debug, Clone)]
struct Page {
    /// Lamport clock of the creating op; `None` until it arrives.
    created: Option<u64>,
    /// Sort key, last writer wins by `(lamport, op id)`.
    position: (f64, u64, OpId),
    /// How many `DeletePage` ops of this page are in force (not undone): a count, so
    /// that asking whether a page shows costs the same however many deletes name it.
    deletes_in_force: u64,
    /// Strokes in z-order: `(lamport, id)` of their start. A tree, because merged
    /// histories interleave and a sorted vector would shift on every insert.
    strokes: BTreeSet<(u64, StrokeId)>,
    /// Past the stroke cap, the last stroke that shows (see [`Cutoff`]).
    cutoff: Cutoff<(u64, StrokeId)>,
    clears: Vec<OpId>,
}

impl Page {
    fn unknown(id: PageId) -> Self {
        Self {
            created: None,
            position: (0.0, 0, id),
            deletes_in_force: 0,
            strokes: BTreeSet::new(),
            cutoff: Cutoff::default(),
            clears: Vec::new(),
        }
    }
}

/// How the op log remembers an op, without copying what the state already holds.
#[derive(Debug, Clone)]
enum Logged {
    StrokeStart,
    Points {
        stroke: StrokeId,
        offset: u32,
    },
    StrokeEnd {
        stroke: StrokeId,
    },
    /// A stroke's seal: it stands for every op of its author from the stroke's start
    /// to itself, which the log no longer holds.
    Sealed {
        stroke: StrokeId,
    },
    /// Boxed: an `Op` is several times the size of the other variants, and most
    /// entries (points) are those.
    Other(Box<Op>),
}

impl LogEntry for Logged {
    fn covers_from(&self, seq: u64) -> u64 {
        match self {
            Logged::Sealed { stroke } => stroke.seq.min(seq),
            _ => seq,
        }
    }

    fn is_seal(&self) -> bool {
        matches!(self, Logged::Sealed { .. })
    }
}

/// The shared document of one session, as one peer holds it.
#[derive(Debug, Clone)]
pub struct Document {
    local: NodeId,
    limits: Limits,
    lamport: u64,
    ops: u64,
    log: BTreeMap<NodeId, HeldLog<Logged>>,
    /// Ordered, not hashed: it grows with the drawing, and a hash table's resize
    /// (every doubling rehashes all of it at once) stalled the document for 100 ms at
    /// 115k strokes; a B-tree grows a node at a time.
    strokes: BTreeMap<StrokeId, Stroke>,
    pages: HashMap<PageId, Page>,
    /// Pages in use, by `(lamport, id)`: made by a `NewPage` (the first page
    /// included) that is not undone, and not deleted. This is what the page cap
    /// counts, so deleting pages makes room again. Ops naming a page not seen yet (it
    /// may still be on its way) make a placeholder in `pages`, which must not use up
    /// the cap.
    live_pages: BTreeSet<(u64, PageId)>,
    /// Past the page cap, the last live page that shows.
    page_cutoff: Cutoff<(u64, PageId)>,
    erased_by: BTreeMap<StrokeId, Vec<OpId>>,
    history: History,
}

impl Document {
    /// An empty document with one page, edited locally as `local`.
    pub fn new(local: NodeId) -> Self {
        Self::with_limits(local, Limits::default())
    }

    /// Like [`new`](Self::new), with other bounds.
    pub fn with_limits(local: NodeId, limits: Limits) -> Self {
        let mut pages = HashMap::new();
        let mut first = Page::unknown(FIRST_PAGE);
        first.created = Some(0);
        pages.insert(FIRST_PAGE, first);
        Self {
            local,
            limits,
            lamport: 0,
            ops: 0,
            log: BTreeMap::new(),
            strokes: BTreeMap::new(),
            pages,
            live_pages: BTreeSet::from([(0, FIRST_PAGE)]),
            page_cutoff: Cutoff::default(),
            erased_by: BTreeMap::new(),
            history: History::default(),
        }
    }

    /// The node this document makes local ops as.
    pub fn local_node(&self) -> NodeId {
        self.local
    }

    /// The bounds in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Number of distinct ops applied.
    pub fn op_count(&self) -> u64 {
        self.ops
    }

    /// Highest Lamport clock seen.
    pub fn lamport(&self) -> u64 {
        self.lamport
    }

    /// True if the op is part of the document.
    pub fn contains(&self, id: OpId) -> bool {
        self.log
            .get(&id.node)
            .is_some_and(|log| log.contains(id.seq))
    }

    /// Applies an op from anywhere. Invalid ops are refused with the reason and leave
    /// the document exactly as it was; known ops are reported as duplicates.
    pub fn apply(&mut self, op: Op) -> Result<Applied, OpError> {
        op.validate(&self.limits)?;
        if self.contains(op.id) {
            return Ok(Applied::Duplicate);
        }
        let (id, lamport) = (op.id, op.lamport);
        // A stroke ends once, and a sealed stroke is what its seal says: a later
        // end, or points for a sealed stroke, change nothing. They are kept whole so
        // that they are served as they were signed (the state holds only the first
        // end's count, and the seal's points).
        let inert = match &op.action {
            Action::StrokeEnd { stroke, .. } => self
                .strokes
                .get(stroke)
                .is_some_and(|held| held.end.is_some()),
            // (Points for a sealed stroke are found where they are appended.)
            // A seal whose ops would cut another seal's in two (it can only be made
            // by breaking the rule that a seal follows its own stroke's end).
            Action::StrokeSealed { stroke, .. } => self
                .log
                .get(&id.node)
                .is_some_and(|log| log.straddles(stroke.seq, id.seq)),
            _ => false,
        };
        let logged = match op.action {
            _ if inert => Logged::Other(Box::new(op)),
            Action::StrokeStart {
                page,
                tool,
                color,
                width,
            } => {
                let style = Style {
                    page,
                    tool,
                    color,
                    width,
                    lamport,
                };
                self.strokes
                    .entry(id)
                    .or_insert_with(|| Stroke::new(id))
                    .style = Some(style);
                let cap = self.limits.max_strokes_per_page;
                let entry = self.page_mut(page);
                if entry.strokes.insert((lamport, id)) {
                    entry.cutoff.inserted(&entry.strokes, cap, (lamport, id));
                }
                self.history.record(id, lamport, Step::Did(id));
                Logged::StrokeStart
            }
            Action::StrokePoints {
                stroke,
                offset,
                points,
            } => 'points: {
                // The one refusal that depends on what the document holds: points
                // past the per-stroke limit. The stroke rule counts the same points
                // over the author's log (`MAX_POINTS_PER_STROKE`), so ops verified
                // under the default limits never meet it: it guards ops that reach
                // a document unverified, and stricter limits. (Page and stroke caps are not refusals:
                // a replica at a cap takes the op all the same, as another may not be
                // at it yet, and the cap decides what shows — the first pages and
                // strokes by `(lamport, id)` on every replica, whatever the order.)
                // One search of the strokes for the limit, the seal and the append:
                // this is the op a live drawing sends sixty times a second.
                let limit = u64::from(self.limits.max_points_per_stroke);
                let count = points.len() as u64;
                let too_many = |held: u32| {
                    let total = u64::from(held) + count;
                    (total > limit).then_some(OpError::TooManyPoints {
                        op: id,
                        points: total,
                        limit,
                        per: "stroke",
                    })
                };
                let entry = match self.strokes.entry(stroke) {
                    Slot::Occupied(held) if held.get().sealed.is_some() => {
                        // A sealed stroke is what its seal says: these points change
                        // nothing, and are kept whole to be served as signed.
                        let action = Action::StrokePoints {
                            stroke,
                            offset,
                            points,
                        };
                        break 'points Logged::Other(Box::new(Op {
                            id,
                            lamport,
                            action,
                        }));
                    }
                    Slot::Occupied(held) => match too_many(held.get().point_count) {
                        Some(error) => return Err(error),
                        None => held.into_mut(),
                    },
                    Slot::Vacant(place) => match too_many(0) {
                        Some(error) => return Err(error),
                        None => place.insert(Stroke::new(stroke)),
                    },
                };
                for p in &points {
                    entry.bounds.add(*p);
                }
                entry.point_count += points.len() as u32;
                entry.chunks.insert((offset, id.seq), Chunk::new(points));
                Logged::Points { stroke, offset }
            }
            Action::StrokeEnd { stroke, points } => {
                let held = self
                    .strokes
                    .entry(stroke)
                    .or_insert_with(|| Stroke::new(stroke));
                held.end = Some((points, id.seq));
                // Its chunks are (almost all) in: the room kept for more goes.
                held.chunks.shrink_to_fit();
                Logged::StrokeEnd { stroke }
            }
            Action::StrokeSealed {
                stroke,
                page,
                tool,
                color,
                width,
                start_lamport,
                points,
            } => {
                let style = Style {
                    page,
                    tool,
                    color,
                    width,
                    lamport: start_lamport,
                };
                self.seal(id, style, stroke, points);
                Logged::Sealed { stroke }
            }
            ref action => {
                match action {
                    Action::Erase { strokes } => {
                        for stroke in strokes {
                            self.erased_by.entry(*stroke).or_default().push(id);
                        }
                        self.history.record(id, lamport, Step::Did(id));
                    }
                    Action::ClearPage { page, .. } => {
                        self.page_mut(*page).clears.push(id);
                        self.history.record(id, lamport, Step::Did(id));
                    }
                    Action::NewPage { position } => {
                        let page = self.page_mut(id);
                        page.created.get_or_insert(lamport);
                        set_position(page, *position, lamport, id);
                        self.history.record(id, lamport, Step::Did(id));
                        self.refresh_live(id);
                    }
                    Action::DeletePage { page } => {
                        self.history.record(id, lamport, Step::Did(id));
                        if self.history.is_active(id) {
                            self.count_delete(*page, true);
                        }
                    }
                    Action::MovePage { page, position } => {
                        set_position(self.page_mut(*page), *position, lamport, id);
                    }
                    Action::Undo { target } => {
                        self.mark(id, lamport, *target, Step::Undid(*target))
                    }
                    Action::Redo { target } => {
                        self.mark(id, lamport, *target, Step::Redid(*target))
                    }
                    Action::StrokeStart { .. }
                    | Action::StrokePoints { .. }
                    | Action::StrokeEnd { .. }
                    | Action::StrokeSealed { .. } => {}
                }
                Logged::Other(Box::new(op))
            }
        };
        self.lamport = self.lamport.max(lamport);
        let log = self.log.entry(id.node).or_default();
        let dropped = log.insert(id.seq, lamport, logged);
        self.ops = (self.ops + 1).saturating_sub(dropped as u64);
        Ok(Applied::New)
    }

    /// Takes seal `id` of `stroke`: the stroke becomes what the seal says, in its
    /// style, on its page, at its place (the ops from its start to the seal leave
    /// the log as the seal is logged). Costs the points the stroke held, once: a
    /// later seal of it is covered by this one or covers it.
    fn seal(&mut self, id: OpId, style: Style, stroke: StrokeId, points: Vec<Point>) {
        self.keep_whole_outside(stroke, stroke.seq, id.seq);
        let held = self
            .strokes
            .entry(stroke)
            .or_insert_with(|| Stroke::new(stroke));
        let before = held.style.replace(style);
        held.bounds = Bounds::EMPTY;
        for p in &points {
            held.bounds.add(*p);
        }
        held.point_count = points.len() as u32;
        held.end = Some((held.point_count, id.seq));
        held.sealed = Some(id.seq);
        held.chunks.clear();
        held.chunks.insert((0, id.seq), Chunk::new(points));
        let cap = self.limits.max_strokes_per_page;
        if let Some(before) = before.filter(|b| (b.page, b.lamport) != (style.page, style.lamport))
        {
            let key = (before.lamport, stroke);
            let entry = self.page_mut(before.page);
            if entry.strokes.remove(&key) {
                entry.cutoff.removed(&entry.strokes, cap, key);
            }
        }
        let key = (style.lamport, stroke);
        let entry = self.page_mut(style.page);
        if entry.strokes.insert(key) {
            entry.cutoff.inserted(&entry.strokes, cap, key);
        }
        self.history
            .record(stroke, style.lamport, Step::Did(stroke));
    }

    /// Ops of `stroke` held outside `first..=last` (points or an end its author
    /// sent elsewhere in its log) stay in the log after the stroke is sealed, so
    /// they are logged whole: the state will no longer rebuild them.
    fn keep_whole_outside(&mut self, stroke: StrokeId, first: u64, last: u64) {
        let Some(held) = self.strokes.get(&stroke) else {
            return;
        };
        let outside: Vec<u64> = held
            .chunks
            .keys()
            .map(|(_, seq)| *seq)
            .chain(held.end.map(|(_, seq)| seq))
            .filter(|seq| !(first..=last).contains(seq))
            .collect();
        for seq in outside {
            let id = OpId {
                node: stroke.node,
                seq,
            };
            let whole = self
                .log
                .get(&stroke.node)
                .and_then(|log| log.get(seq))
                .and_then(|(lamport, logged)| self.rebuild(id, lamport, logged, &mut None));
            if let (Some(op), Some(log)) = (whole, self.log.get_mut(&stroke.node)) {
                log.replace(seq, Logged::Other(Box::new(op)));
            }
        }
    }

    fn page_mut(&mut self, page: PageId) -> &mut Page {
        self.pages
            .entry(page)
            .or_insert_with(|| Page::unknown(page))
    }

    /// Records an undo or redo (`step`) of `target`; if that changes whether a
    /// `NewPage` or a `DeletePage` already held is in force, the page's place under
    /// the cap follows.
    fn mark(&mut self, id: OpId, lamport: u64, target: OpId, step: Step) {
        let before = self.history.is_active(target);
        self.history.record(id, lamport, step);
        let after = self.history.is_active(target);
        if before == after {
            return;
        }
        match self.logged_op(target).map(|op| &op.action) {
            Some(Action::NewPage { .. }) => self.refresh_live(target),
            Some(Action::DeletePage { page }) => {
                let page = *page;
                self.count_delete(page, after);
            }
            _ => {}
        }
    }

    /// One more (`in_force`) or one fewer `DeletePage` of `page` is in force.
    fn count_delete(&mut self, page: PageId, in_force: bool) {
        let entry = self.page_mut(page);
        entry.deletes_in_force = if in_force {
            entry.deletes_in_force.saturating_add(1)
        } else {
            entry.deletes_in_force.saturating_sub(1)
        };
        self.refresh_live(page);
    }

    /// Puts `page` into, or takes it out of, the pages the cap counts, as its
    /// `NewPage`, undo marks and deletes now say. O(log n).
    fn refresh_live(&mut self, page: PageId) {
        let Some(entry) = self.pages.get(&page) else {
            return;
        };
        let Some(lamport) = entry.created else {
            return;
        };
        let key = (lamport, page);
        let live = entry.deletes_in_force == 0 && self.history.is_active(page);
        let cap = self.limits.max_pages;
        if live && self.live_pages.insert(key) {
            self.page_cutoff.inserted(&self.live_pages, cap, key);
        } else if !live && self.live_pages.remove(&key) {
            self.page_cutoff.removed(&self.live_pages, cap, key);
        }
    }

    // ------------------------------------------------------------------ reading

    /// What this document has seen, per author.
    pub fn version_vector(&self) -> VersionVector {
        let mut vector = VersionVector::new();
        for (node, log) in &self.log {
            if log.contiguous() > 0 {
                vector.set(*node, log.contiguous());
            }
        }
        vector
    }

    /// Ops of `author` held without gaps (its entry in [`Document::version_vector`]),
    /// without building the whole vector.
    pub fn seen_of(&self, author: NodeId) -> u64 {
        self.log.get(&author).map_or(0, HeldLog::contiguous)
    }

    /// This document without any op of `author`: what every replica shows once the
    /// author is proven to have signed two different logs (the same wherever the
    /// proof arrives first, whichever version each replica held). Rebuilt: O(n).
    pub fn without_author(&self, author: NodeId) -> Document {
        self.without_ops_past(&BTreeMap::from([(author, 0)]))
    }

    /// This document with each author in `last_kept` holding its ops only up to the
    /// number given: what every replica shows once those authors' grant is revoked
    /// with these cut-offs (ops that refer to the dropped ones lose nothing else).
    /// Rebuilt once, however many authors: O(n).
    pub fn without_ops_past(&self, last_kept: &BTreeMap<NodeId, u64>) -> Document {
        let mut rebuilt = Document::with_limits(self.local, self.limits.clone());
        for op in self.ops_missing_from(&VersionVector::new()) {
            let Some(last) = last_kept.get(&op.id.node) else {
                let _ = rebuilt.apply(op);
                continue;
            };
            if op.id.seq <= *last {
                // Every op here was taken before: it is taken again.
                let _ = rebuilt.apply(op);
            } else if let Some(start) = start_cut_from_seal(&op, *last) {
                // A cut-off at a sealed stroke's start keeps the start, as a replica
                // that took the stroke op by op does.
                let _ = rebuilt.apply(start);
            }
        }
        rebuilt
    }

    /// Every op this document holds that `seen` does not cover, to bring a peer with
    /// that version vector up to date (author by author, in sequence order).
    pub fn ops_missing_from(&self, seen: &VersionVector) -> Vec<Op> {
        self.ops_missing_piece(seen, &self.latest_seqs(), None, usize::MAX)
    }

    /// Per author, the highest sequence number held, gaps or not: where a backlog
    /// taken in pieces ([`Document::ops_missing_piece`]) stops, so ops that arrive
    /// while it is sent are left to the live stream.
    pub fn latest_seqs(&self) -> VersionVector {
        let mut latest = VersionVector::new();
        for (node, log) in &self.log {
            if let Some(seq) = log.last_seq() {
                latest.set(*node, seq);
            }
        }
        latest
    }

    /// One piece of a backlog: up to `limit` ops that `seen` lacks, none past `upto`
    /// (from [`Document::latest_seqs`]), in (author, sequence) order after `after`.
    /// Each piece costs O(limit + log authors) whatever the document's size, so a
    /// large backlog is sent a piece at a time between other work. An empty piece
    /// means the backlog is done.
    pub fn ops_missing_piece(
        &self,
        seen: &VersionVector,
        upto: &VersionVector,
        after: Option<OpId>,
        limit: usize,
    ) -> Vec<Op> {
        let mut ops = Vec::new();
        for (node, log, from, to) in missing_spans(&self.log, seen, upto, after) {
            // An author's ops run through a stroke's chunks in turn: the stroke is
            // looked up once for all of them, not once an op.
            let mut stroke = None;
            for (seq, lamport, logged) in log.range(from, to) {
                if ops.len() >= limit {
                    return ops;
                }
                let id = OpId { node, seq };
                if let Some(op) = self.rebuild(id, lamport, logged, &mut stroke) {
                    ops.push(op);
                }
            }
        }
        ops
    }

    /// `author`'s ops numbered `from..=to` as its log holds them (a seal in place of
    /// the ops it stands for): what a node hashes again to find where the author's
    /// signed log stood before an op.
    pub fn author_ops(&self, author: NodeId, from: u64, to: u64) -> Vec<Op> {
        let Some(log) = self.log.get(&author) else {
            return Vec::new();
        };
        let mut stroke = None;
        log.range(from, to)
            .filter_map(|(seq, lamport, logged)| {
                self.rebuild(OpId { node: author, seq }, lamport, logged, &mut stroke)
            })
            .collect()
    }

    /// Number of ops `ops_missing_from(seen)` would return, without building them.
    pub fn count_missing_from(&self, seen: &VersionVector) -> usize {
        self.log
            .iter()
            .map(|(node, log)| log.count_past(seen.get(*node)))
            .sum()
    }

    /// The op a log entry stands for. `stroke` is the stroke the last entry
    /// rebuilt from, reused while the entries stay in it.
    fn rebuild<'a>(
        &'a self,
        id: OpId,
        lamport: u64,
        logged: &Logged,
        stroke: &mut Option<&'a Stroke>,
    ) -> Option<Op> {
        let action = match logged {
            Logged::Other(op) => return Some(Op::clone(op)),
            Logged::StrokeStart => {
                let style = self.strokes.get(&id)?.style?;
                Action::StrokeStart {
                    page: style.page,
                    tool: style.tool,
                    color: style.color,
                    width: style.width,
                }
            }
            Logged::Points {
                stroke: in_stroke,
                offset,
            } => {
                let held = match *stroke {
                    Some(held) if held.id == *in_stroke => held,
                    _ => self.strokes.get(in_stroke)?,
                };
                *stroke = Some(held);
                let chunk = held.chunks.get(&(*offset, id.seq))?;
                Action::StrokePoints {
                    stroke: *in_stroke,
                    offset: *offset,
                    points: chunk.points().to_vec(),
                }
            }
            Logged::Sealed { stroke: sealed } => {
                let held = self.strokes.get(sealed)?;
                let style = held.style?;
                if held.sealed != Some(id.seq) {
                    return None;
                }
                Action::StrokeSealed {
                    stroke: *sealed,
                    page: style.page,
                    tool: style.tool,
                    color: style.color,
                    width: style.width,
                    start_lamport: style.lamport,
                    points: held.points().collect(),
                }
            }
            Logged::StrokeEnd { stroke } => {
                let (points, seq) = self.strokes.get(stroke)?.end?;
                // Only the end the state holds is logged this way (see `apply`).
                if seq != id.seq {
                    return None;
                }
                Action::StrokeEnd {
                    stroke: *stroke,
                    points,
                }
            }
        };
        Some(Op {
            id,
            lamport,
            action,
        })
    }

    fn logged_op(&self, id: OpId) -> Option<&Op> {
        match self.log.get(&id.node)?.get(id.seq)? {
            (_, Logged::Other(op)) => Some(op),
            _ => None,
        }
    }

    fn page_visible(&self, id: PageId, page: &Page) -> bool {
        page.created.is_some_and(|lamport| {
            let key = (lamport, id);
            self.live_pages.contains(&key)
                && self
                    .page_cutoff
                    .shows(&self.live_pages, self.limits.max_pages, &key)
        })
    }

    /// Visible pages in order.
    pub fn pages(&self) -> Vec<PageId> {
        let mut pages: Vec<(f64, PageId)> = self
            .pages
            .iter()
            .filter(|(id, page)| self.page_visible(**id, page))
            .map(|(id, page)| (page.position.0, *id))
            .collect();
        pages.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        pages.into_iter().map(|(_, id)| id).collect()
    }

    /// Number of visible pages.
    pub fn page_count(&self) -> usize {
        self.pages().len()
    }

    /// True if the page exists and is visible.
    pub fn has_page(&self, page: PageId) -> bool {
        self.pages
            .get(&page)
            .is_some_and(|p| self.page_visible(page, p))
    }

    /// Visible strokes of a page, bottom to top (empty for an unknown page).
    pub fn strokes(&self, page: PageId) -> Vec<&Stroke> {
        self.visible_strokes(page).collect()
    }

    /// [`Document::strokes`] one at a time, for a caller that need not hold them.
    fn visible_strokes(&self, page: PageId) -> impl Iterator<Item = &Stroke> + '_ {
        let entry = self
            .pages
            .get(&page)
            .filter(|entry| self.page_visible(page, entry));
        // A stroke is cleared if any clear covers it, that is if it lies within their
        // union: one lookup per stroke, however many clears the page has had.
        let mut cleared = VersionVector::new();
        for seen in entry.iter().flat_map(|entry| self.active_clears(entry)) {
            cleared.merge(seen);
        }
        let cap = self.limits.max_strokes_per_page;
        entry
            .into_iter()
            .flat_map(move |entry| {
                entry
                    .strokes
                    .iter()
                    .take_while(move |key| entry.cutoff.shows(&entry.strokes, cap, key))
            })
            .filter_map(|(_, id)| self.strokes.get(id))
            .filter(move |stroke| self.stroke_visible(stroke, |id| cleared.covers(id)))
    }

    /// The seen-vectors of a page's clears that are in effect (not undone).
    fn active_clears(&self, entry: &Page) -> Vec<&VersionVector> {
        entry
            .clears
            .iter()
            .filter(|c| self.history.is_active(**c))
            .filter_map(|c| match &self.logged_op(*c)?.action {
                Action::ClearPage { seen, .. } => Some(seen),
                _ => None,
            })
            .collect()
    }

    /// A stroke of a visible page shows unless undone, cleared or erased.
    fn stroke_visible(&self, stroke: &Stroke, cleared: impl Fn(StrokeId) -> bool) -> bool {
        self.history.is_active(stroke.id)
            && !cleared(stroke.id)
            && !self
                .erased_by
                .get(&stroke.id)
                .is_some_and(|by| by.iter().any(|e| self.history.is_active(*e)))
    }

    /// A stroke by id, if it is visible (without walking its page).
    pub fn stroke(&self, id: StrokeId) -> Option<&Stroke> {
        let stroke = self.strokes.get(&id)?;
        let style = stroke.style?;
        let entry = self.pages.get(&style.page)?;
        if !self.page_visible(style.page, entry) {
            return None;
        }
        let cap = self.limits.max_strokes_per_page;
        if !entry
            .cutoff
            .shows(&entry.strokes, cap, &(style.lamport, id))
        {
            return None;
        }
        let clears = self.active_clears(entry);
        self.stroke_visible(stroke, |id| clears.iter().any(|seen| seen.covers(id)))
            .then_some(stroke)
    }

    /// Total visible strokes over all pages.
    pub fn stroke_count(&self) -> usize {
        self.pages()
            .iter()
            .map(|p| self.visible_strokes(*p).count())
            .sum()
    }

    /// The area to show or export for a page: [`PAGE_FRAME`] grown to hold every
    /// visible stroke.
    pub fn page_bounds(&self, page: PageId) -> Bounds {
        self.strokes(page)
            .iter()
            .filter(|s| !s.bounds.is_empty())
            .fold(PAGE_FRAME, |b, s| {
                b.union(s.bounds.inflate(s.width() / 2.0))
            })
    }

    /// Visible strokes of `page` that a circle of `radius` dragged along `path`
    /// touches: what the stroke eraser removes.
    pub fn strokes_touching(&self, page: PageId, path: &[Point], radius: f32) -> Vec<StrokeId> {
        let mut reach = Bounds::EMPTY;
        for p in path {
            reach.add(*p);
        }
        if reach.is_empty() {
            return Vec::new();
        }
        self.strokes(page)
            .into_iter()
            .filter(|stroke| {
                let within = radius + stroke.width() / 2.0;
                stroke.bounds.inflate(within).intersects(&reach) && touches(stroke, path, within)
            })
            .map(|s| s.id)
            .collect()
    }

    /// What `author` would undo next and redo next.
    pub fn undo_redo_targets(&self, author: NodeId) -> (Option<OpId>, Option<OpId>) {
        self.history.next_undo_redo(author)
    }

    // ------------------------------------------------------------------ local edits

    /// Makes an op as the local node, applies it, and returns it for sending.
    pub(crate) fn author(&mut self, action: Action) -> Result<Op, OpError> {
        let seq = self
            .log
            .get(&self.local)
            .and_then(HeldLog::last_seq)
            .unwrap_or(0)
            + 1;
        let op = Op {
            id: OpId {
                node: self.local,
                seq,
            },
            lamport: self.lamport + 1,
            action,
        };
        self.apply(op.clone())?;
        Ok(op)
    }

    /// A stroke as held, visible or not.
    pub(crate) fn held_stroke(&self, id: StrokeId) -> Option<&Stroke> {
        self.strokes.get(&id)
    }

    /// The stroke `author` is drawing: the one whose start or points are the last op
    /// held of its log, with no end held. An author's other ops come after its stroke
    /// ends, so a node that restarts inside its own stroke ends it first.
    pub fn open_stroke(&self, author: NodeId) -> Option<StrokeId> {
        let log = self.log.get(&author)?;
        let last = log.last_seq()?;
        let stroke = match log.get(last)? {
            (_, Logged::StrokeStart) => OpId {
                node: author,
                seq: last,
            },
            (_, Logged::Points { stroke, .. }) => *stroke,
            _ => return None,
        };
        self.strokes
            .get(&stroke)
            .filter(|held| held.is_live())
            .map(|_| stroke)
    }

    /// Where `author`'s log as held stands towards the stroke rule: the stroke its
    /// last op belongs to (a start, points or an end), whether that op is an end, and
    /// the points that stroke holds. What a checker needs to take the author's next
    /// ops after a restart.
    pub fn stroke_rule(&self, author: NodeId) -> StrokeRule {
        let Some(log) = self.log.get(&author) else {
            return StrokeRule::default();
        };
        let Some(last) = log.last_seq() else {
            return StrokeRule::default();
        };
        let shape = match log.get(last) {
            Some((_, Logged::StrokeStart)) => Shape::Start,
            Some((_, Logged::Points { stroke, .. })) => Shape::Points(stroke.seq, 0),
            Some((_, Logged::StrokeEnd { stroke })) => Shape::End(stroke.seq),
            // A second end, or points for a sealed stroke, are kept whole.
            Some((_, Logged::Other(op))) => Shape::of(&op.action),
            Some((_, Logged::Sealed { .. })) | None => Shape::Other,
        };
        let points = |stroke: u64| {
            self.strokes
                .get(&OpId {
                    node: author,
                    seq: stroke,
                })
                .map_or(0, |held| held.point_count)
        };
        StrokeRule::after(last, shape, points)
    }

    /// Starts a stroke on a visible page.
    pub fn begin_stroke(
        &mut self,
        page: PageId,
        tool: Tool,
        color: Color,
        width: f32,
    ) -> Result<Op, OpError> {
        if !self.has_page(page) {
            return Err(OpError::Unknown(page));
        }
        let held = self.pages.get(&page).map_or(0, |p| p.strokes.len());
        if held >= self.limits.max_strokes_per_page {
            return Err(OpError::PageFull {
                page,
                limit: self.limits.max_strokes_per_page,
            });
        }
        self.author(Action::StrokeStart {
            page,
            tool,
            color,
            width,
        })
    }

    /// Appends points to a live local stroke.
    pub fn extend_stroke(&mut self, stroke: StrokeId, points: Vec<Point>) -> Result<Op, OpError> {
        let offset = self.live_local_stroke(stroke)?.point_count;
        self.author(Action::StrokePoints {
            stroke,
            offset,
            points,
        })
    }

    /// Ends a live local stroke.
    pub fn end_stroke(&mut self, stroke: StrokeId) -> Result<Op, OpError> {
        let points = self.live_local_stroke(stroke)?.point_count;
        self.author(Action::StrokeEnd { stroke, points })
    }

    fn live_local_stroke(&self, stroke: StrokeId) -> Result<&Stroke, OpError> {
        let found = self
            .strokes
            .get(&stroke)
            .filter(|s| s.style.is_some() && stroke.node == self.local)
            .ok_or(OpError::Unknown(stroke))?;
        if !found.is_live() {
            return Err(OpError::StrokeEnded(stroke));
        }
        Ok(found)
    }

    /// Seals a local stroke right after its end (`end`, just made) if it was drawn in
    /// more than one op of points: one drawn in one is three ops already (start,
    /// points, end), and its seal would send its points twice for little.
    pub fn seal_if_chunked(&mut self, stroke: StrokeId, end: OpId) -> Option<Op> {
        if end.seq.saturating_sub(stroke.seq) <= 2 {
            return None;
        }
        self.seal_stroke(stroke).ok()
    }

    /// Seals a local stroke right after its end: one op that stands for the whole
    /// stroke, so a backlog serves one op a stroke however finely it was drawn.
    /// Refused unless the stroke's end is the last op made here (a seal comes right
    /// after its end, so nothing else lies in the ops it stands for), for a stroke
    /// sealed already, and for one with more points than an op holds.
    pub fn seal_stroke(&mut self, stroke: StrokeId) -> Result<Op, OpError> {
        let not = |why| OpError::NotSealable { stroke, why };
        let held = self
            .strokes
            .get(&stroke)
            .filter(|_| stroke.node == self.local)
            .ok_or(OpError::Unknown(stroke))?;
        let style = held.style.ok_or(not("its start is not held"))?;
        if held.sealed.is_some() {
            return Err(not("it is sealed already"));
        }
        let (_, end) = held.end.ok_or(not("it has not ended"))?;
        let last = self.log.get(&self.local).and_then(HeldLog::last_seq);
        if last != Some(end) {
            return Err(not("its end is not the last op made here"));
        }
        if held.point_count as usize > self.limits.max_points_per_op {
            return Err(not("it has more points than one op holds"));
        }
        if end.saturating_add(1).saturating_sub(stroke.seq) > crate::op::MAX_SEALED_OPS {
            return Err(not("it spans more ops than a seal may stand for"));
        }
        let points = held.points().collect();
        self.author(Action::StrokeSealed {
            stroke,
            page: style.page,
            tool: style.tool,
            color: style.color,
            width: style.width,
            start_lamport: style.lamport,
            points,
        })
    }

    /// A whole stroke at once: start, points in op-sized chunks, end.
    pub fn draw_stroke(
        &mut self,
        page: PageId,
        tool: Tool,
        color: Color,
        width: f32,
        points: &[Point],
    ) -> Result<Vec<Op>, OpError> {
        // Check every op before making the first, so a bad stroke leaves nothing behind.
        let probe_id = OpId {
            node: self.local,
            seq: 1,
        };
        let check = |action: Action| {
            Op {
                id: probe_id,
                lamport: 1,
                action,
            }
            .validate(&self.limits)
        };
        check(Action::StrokeStart {
            page,
            tool,
            color,
            width,
        })?;
        let per_op = self.limits.max_points_per_op.max(1);
        for (index, chunk) in points.chunks(per_op).enumerate() {
            check(Action::StrokePoints {
                stroke: probe_id,
                offset: u32::try_from(index * per_op).unwrap_or(u32::MAX),
                points: chunk.to_vec(),
            })?;
        }
        let start = self.begin_stroke(page, tool, color, width)?;
        let stroke = start.id;
        let mut ops = vec![start];
        for chunk in points.chunks(per_op) {
            ops.push(self.extend_stroke(stroke, chunk.to_vec())?);
        }
        ops.push(self.end_stroke(stroke)?);
        Ok(ops)
    }

    /// Erases strokes (by anyone).
    pub fn erase(&mut self, strokes: Vec<StrokeId>) -> Result<Op, OpError> {
        self.author(Action::Erase { strokes })
    }

    /// Clears what this peer sees of a page; strokes others draw meanwhile stay.
    pub fn clear_page(&mut self, page: PageId) -> Result<Op, OpError> {
        if !self.has_page(page) {
            return Err(OpError::Unknown(page));
        }
        let seen = self.version_vector();
        self.author(Action::ClearPage { page, seen })
    }

    /// Adds a page at the end.
    pub fn new_page(&mut self) -> Result<Op, OpError> {
        if self.live_pages.len() >= self.limits.max_pages {
            return Err(OpError::TooManyPages(self.limits.max_pages));
        }
        let last = self
            .pages()
            .last()
            .and_then(|p| self.pages.get(p))
            .map_or(0.0, |p| p.position.0);
        self.author(Action::NewPage {
            position: last + 1.0,
        })
    }

    /// Deletes a visible page (undo brings it back).
    pub fn delete_page(&mut self, page: PageId) -> Result<Op, OpError> {
        if !self.has_page(page) {
            return Err(OpError::Unknown(page));
        }
        self.author(Action::DeletePage { page })
    }

    /// Moves a visible page to `index` in the page order.
    pub fn move_page(&mut self, page: PageId, index: usize) -> Result<Op, OpError> {
        if !self.has_page(page) {
            return Err(OpError::Unknown(page));
        }
        let others: Vec<f64> = self
            .pages()
            .into_iter()
            .filter(|p| *p != page)
            .filter_map(|p| self.pages.get(&p).map(|e| e.position.0))
            .collect();
        let index = index.min(others.len());
        let position = match (index.checked_sub(1).map(|i| others[i]), others.get(index)) {
            (None, None) => 0.0,
            (None, Some(next)) => next - 1.0,
            (Some(previous), None) => previous + 1.0,
            (Some(previous), Some(next)) => (previous + next) / 2.0,
        };
        self.author(Action::MovePage { page, position })
    }

    /// Undoes the local author's last action; `None` when there is nothing to undo.
    pub fn undo(&mut self) -> Result<Option<Op>, OpError> {
        match self.history.next_undo_redo(self.local).0 {
            Some(target) => self.author(Action::Undo { target }).map(Some),
            None => Ok(None),
        }
    }

    /// Redoes the local author's last undone action; `None` when there is none.
    pub fn redo(&mut self) -> Result<Option<Op>, OpError> {
        match self.history.next_undo_redo(self.local).1 {
            Some(target) => self.author(Action::Redo { target }).map(Some),
            None => Ok(None),
        }
    }
}

/// What a cap lets show of a set: its first `cap` keys. Past the cap it holds the
/// last key that shows, kept in O(log n) per insert or removal (O(cap) when the set
/// goes past the cap), so a flood of keys past a cap costs no more than any other op.
#[derive(Debug, Clone, Copy)]
struct Cutoff<K>(Option<K>);

impl<K> Default for Cutoff<K> {
    fn default() -> Self {
        Cutoff(None)
    }
}

impl<K: Ord + Copy> Cutoff<K> {
    /// `set` has just taken `key` (it was not there before).
    fn inserted(&mut self, set: &BTreeSet<K>, cap: usize, key: K) {
        if set.len() <= cap {
            self.0 = None;
            return;
        }
        self.0 = match self.0 {
            // Just past the cap: the cap-th smallest key.
            None => cap.checked_sub(1).and_then(|i| set.iter().nth(i).copied()),
            // A key below the cutoff pushes the cutoff's own key out.
            Some(last) if key < last => set.range(..last).next_back().copied(),
            Some(last) => Some(last),
        };
    }

    /// `set` has just lost `key` (it was there before).
    fn removed(&mut self, set: &BTreeSet<K>, cap: usize, key: K) {
        if set.len() <= cap {
            self.0 = None;
            return;
        }
        if let Some(last) = self.0 {
            // A key at or below the cutoff makes room for the next one past it.
            if key <= last {
                self.0 = set
                    .range((std::ops::Bound::Excluded(last), std::ops::Bound::Unbounded))
                    .next()
                    .copied();
            }
        }
    }

    /// True if `key` (in `set`) is among the first `cap`.
    fn shows(&self, set: &BTreeSet<K>, cap: usize, key: &K) -> bool {
        match &self.0 {
            Some(last) => key <= last,
            None => cap > 0 || set.is_empty(),
        }
    }
}

fn set_position(page: &mut Page, position: f64, lamport: u64, by: OpId) {
    if (lamport, by) > (page.position.1, page.position.2) {
        page.position = (position, lamport, by);
    }
}

/// True if the eraser's `path` (a polyline, or one point) comes within `within` of
/// the stroke's polyline.
fn touches(stroke: &Stroke, path: &[Point], within: f32) -> bool {
    let points: Vec<Point> = stroke.points().collect();
    let limit = within * within;
    let pieces = |line: &[Point]| -> Vec<(Point, Point)> {
        match line {
            [] => Vec::new(),
            [only] => vec![(*only, *only)],
            many => many.windows(2).map(|w| (w[0], w[1])).collect(),
        }
    };
    let eraser = pieces(path);
    pieces(&points).iter().any(|(a, b)| {
        eraser
            .iter()
            .any(|(c, d)| segments_distance_squared(*a, *b, *c, *d) <= limit)
    })
}

/// Squared distance between segments `ab` and `cd` (zero when they cross).
fn segments_distance_squared(a: Point, b: Point, c: Point, d: Point) -> f32 {
    if segments_cross(a, b, c, d) {
        return 0.0;
    }
    segment_distance_squared(a, c, d)
        .min(segment_distance_squared(b, c, d))
        .min(segment_distance_squared(c, a, b))
        .min(segment_distance_squared(d, a, b))
}

fn segments_cross(a: Point, b: Point, c: Point, d: Point) -> bool {
    let side = |p: Point, q: Point, r: Point| (q.x - p.x) * (r.y - p.y) - (q.y - p.y) * (r.x - p.x);
    let (d1, d2) = (side(c, d, a), side(c, d, b));
    let (d3, d4) = (side(a, b, c), side(a, b, d));
    d1 * d2 < 0.0 && d3 * d4 < 0.0
}

fn distance_squared(a: Point, b: Point) -> f32 {
    (a.x - b.x).powi(2) + (a.y - b.y).powi(2)
}

fn segment_distance_squared(p: Point, a: Point, b: Point) -> f32 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let length = dx * dx + dy * dy;
    if length == 0.0 {
        return distance_squared(p, a);
    }
    let t = (((p.x - a.x) * dx + (p.y - a.y) * dy) / length).clamp(0.0, 1.0);
    distance_squared(p, Point::new(a.x + t * dx, a.y + t * dy))
}

/// The start of the stroke `op` seals, if `op` is a seal and its stroke starts at
/// `last`: the seal restates the start (style, page and clock), so it is the op the
/// author signed there.
fn start_cut_from_seal(op: &Op, last: u64) -> Option<Op> {
    let Action::StrokeSealed {
        stroke,
        page,
        tool,
        color,
        width,
        start_lamport,
        ..
    } = &op.action
    else {
        return None;
    };
    (stroke.seq == last).then_some(Op {
        id: *stroke,
        lamport: *start_lamport,
        action: Action::StrokeStart {
            page: *page,
            tool: *tool,
            color: *color,
            width: *width,
        },
    })
}
