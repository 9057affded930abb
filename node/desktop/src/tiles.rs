//! Finished strokes are drawn once into cached tiles (textures), so a frame only
//! composes pictures: panning over 100,000 strokes costs no rasterising at all.
//!
//! Tiles are [`TILE_PX`] pixels square at a zoom *level* (zoom rounded up to a quarter
//! power of two); a frame scales them by the small remainder. Tiles are drawn on a
//! painter thread from a snapshot of the document, so the window never waits for
//! them: it shows the old picture (or a coarser level) until the new one arrives.
//!
//! Keeping tiles current: a finished stroke is drawn straight onto the cached tiles
//! it touches (and onto tiles still being painted from an older snapshot, when they
//! arrive). Anything else (erase, clear, undo, page changes) bumps the generation:
//! a new snapshot is taken and every tile is repainted in the background.

use std::collections::{HashMap, HashSet};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use canopy_canvas::{
    draw_strokes, render_page, Bounds, Document, PageId, Pixmap, Point, Stroke, StrokeId, View,
};
use eframe::egui;

use crate::camera::Camera;

/// Tile side in pixels.
pub const TILE_PX: u32 = 256;
/// Tiles kept (256 KiB each): about 64 MiB.
const MAX_TILES: usize = 256;
/// Zoom levels per doubling.
const LEVELS_PER_OCTAVE: f32 = 4.0;
/// Tiles uploaded again per frame to change how they are filtered.
const REFILTERS_PER_FRAME: usize = 4;
/// Snapshots are taken at most this often while the document keeps changing.
const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(250);
/// Strokes finished since the snapshot before a fresh snapshot is cheaper.
const MAX_FINISHED_SINCE: usize = 2_000;

/// A tile's place: zoom level and column/row at that level.
type Key = (i32, i32, i32);

/// Work for the painter thread.
enum Job {
    Tile {
        key: Key,
        page: PageId,
        generation: u64,
        document: Arc<Document>,
    },
    Thumbnail {
        page: PageId,
        width: f32,
        generation: u64,
        document: Arc<Document>,
    },
}

/// A finished picture.
enum Done {
    Tile {
        key: Key,
        page: PageId,
        generation: u64,
        pixmap: Pixmap,
        blank: bool,
    },
    Thumbnail {
        page: PageId,
        generation: u64,
        pixmap: Pixmap,
        view: View,
    },
}

struct Tile {
    pixmap: Pixmap,
    /// `None` while the tile holds only paper (nothing to upload).
    texture: Option<egui::TextureHandle>,
    /// The generation the picture belongs to.
    generation: u64,
    /// Drawn on since the last upload.
    changed: bool,
    last_used: u64,
    /// Uploaded for drawing pixel for pixel (nearest texel), not filtered.
    sharp: bool,
}

struct Thumbnail {
    texture: egui::TextureHandle,
    generation: u64,
}

/// Tiles of the page on screen, and page thumbnails.
pub struct TileCache {
    page: Option<PageId>,
    tiles: HashMap<Key, Tile>,
    /// Bumped when cached pictures no longer match the document.
    generation: u64,
    snapshot: Option<(u64, Arc<Document>, Instant)>,
    /// Strokes finished after the snapshot was taken (to draw onto its pictures).
    finished_since: Vec<(PageId, StrokeId)>,
    pending: HashSet<Key>,
    /// The generation whose view tiles were last asked for: thumbnails wait until
    /// the page itself has been asked for (and painted) first.
    view_asked: Option<u64>,
    jobs: mpsc::Sender<Job>,
    done: mpsc::Receiver<Done>,
    thumbnails: HashMap<PageId, Thumbnail>,
    thumbnails_pending: HashSet<PageId>,
    /// The level on screen.
    level: i32,
    /// Physical pixels per point: levels are chosen for the screen's pixels, so a
    /// HiDPI screen (or egui's own zoom) gets tiles at its resolution, not scaled up.
    pixels_per_point: f32,
    /// Whether it is shown pixel for pixel (the zoom is exactly the level's): its
    /// tiles are then drawn unfiltered (nearest texel), which software GL does
    /// faster than filtering, with the same pixels.
    sharp: bool,
    /// Thumbnails drawn for this generation, per page (a finished stroke makes it stale).
    thumbnail_stale: HashSet<PageId>,
    /// Thumbnails painted, waiting to be uploaded.
    ready_thumbnails: Vec<(PageId, u64, Pixmap)>,
    frame: u64,
}

/// The zoom of a level.
fn level_zoom(level: i32) -> f32 {
    2f32.powf(level as f32 / LEVELS_PER_OCTAVE)
}

/// The level whose tiles look best at `zoom` (the next sharper one, or its own when
/// `zoom` is a level's zoom give or take rounding).
fn level_for(zoom: f32) -> i32 {
    (zoom.log2() * LEVELS_PER_OCTAVE - 1e-3).ceil() as i32
}

/// The level whose tiles `zoom` shows exactly one texel per pixel, if any.
fn sharp_level(zoom: f32) -> Option<i32> {
    let level = level_for(zoom);
    ((zoom / level_zoom(level) - 1.0).abs() < 1e-4).then_some(level)
}

/// The largest zoom at most `zoom` that shows tiles pixel for pixel (fitting the page
/// in the window uses it, so the usual view is the sharp, fast one).
pub fn sharp_zoom_at_most(zoom: f32) -> f32 {
    level_zoom((zoom.log2() * LEVELS_PER_OCTAVE + 1e-3).floor() as i32)
}

/// Page area of a tile.
fn tile_bounds((level, column, row): Key) -> Bounds {
    let side = TILE_PX as f32 / level_zoom(level);
    Bounds {
        min_x: column as f32 * side,
        min_y: row as f32 * side,
        max_x: (column + 1) as f32 * side,
        max_y: (row + 1) as f32 * side,
    }
}

fn tile_view(key: Key) -> View {
    let bounds = tile_bounds(key);
    View {
        origin: Point::new(bounds.min_x, bounds.min_y),
        scale: level_zoom(key.0),
        width: TILE_PX,
        height: TILE_PX,
    }
}

/// The stroke's page area including its width.
fn stroke_area(stroke: &Stroke) -> Bounds {
    stroke.bounds().inflate(stroke.width())
}

/// Keys of the tiles at `level` covering `area`.
fn keys_covering(level: i32, area: Bounds) -> impl Iterator<Item = Key> {
    let side = TILE_PX as f32 / level_zoom(level);
    let index = |v: f32| (v / side).floor().clamp(-1e6, 1e6) as i32;
    let (c0, c1) = (index(area.min_x), index(area.max_x));
    let (r0, r1) = (index(area.min_y), index(area.max_y));
    (r0..=r1).flat_map(move |row| (c0..=c1).map(move |column| (level, column, row)))
}

/// The painter thread: draws tiles and thumbnails from snapshots, newest work first.
fn painter_thread(jobs: mpsc::Receiver<Job>, done: mpsc::Sender<Done>, wake: egui::Context) {
    // Tiles can wait; frames cannot: on two cores the painter must not slow them.
    if let Err(error) =
        thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
    {
        tracing::debug!(?error, "tile painter keeps normal priority");
    }
    let mut queue: Vec<Job> = Vec::new();
    let mut index: Option<PageIndex> = None;
    loop {
        if queue.is_empty() {
            match jobs.recv() {
                Ok(job) => queue.push(job),
                Err(_) => return,
            }
        }
        queue.extend(jobs.try_iter());
        // Work for an older generation or another page is no longer wanted.
        let newest = queue.iter().map(job_generation).max().unwrap_or(0);
        queue.retain(|j| job_generation(j) == newest);
        // The view's tiles before thumbnails: a page strip can wait, the page not.
        let next = queue
            .iter()
            .position(|j| matches!(j, Job::Tile { .. }))
            .unwrap_or(0);
        let job = queue.remove(next);
        let started = std::time::Instant::now();
        // For the log: the tile, or none for a thumbnail.
        let tile = match &job {
            Job::Tile { key, .. } => Some(*key),
            Job::Thumbnail { .. } => None,
        };
        let result = match job {
            Job::Tile {
                key,
                page,
                generation,
                document,
            } => paint_tile(
                &document,
                PageIndex::reuse(&mut index, &document, page),
                key,
            )
            .map(|(pixmap, blank)| Done::Tile {
                key,
                page,
                generation,
                pixmap,
                blank,
            }),
            Job::Thumbnail {
                page,
                width,
                generation,
                document,
            } => paint_thumbnail(&document, page, width).map(|(pixmap, view)| Done::Thumbnail {
                page,
                generation,
                pixmap,
                view,
            }),
        };
        tracing::debug!(
            ?tile,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "painted (no tile: the thumbnail)"
        );
        if let Some(result) = result {
            if done.send(result).is_err() {
                return;
            }
            wake.request_repaint();
        }
    }
}

fn job_generation(job: &Job) -> u64 {
    match job {
        Job::Tile { generation, .. } | Job::Thumbnail { generation, .. } => *generation,
    }
}

/// The finished strokes of one page of one document snapshot, in z-order, with the
/// areas they cover. Walking a page of 100,000 strokes takes ~15 ms: done once per
/// snapshot, not once per tile.
struct PageIndex {
    document: Arc<Document>,
    page: PageId,
    strokes: Vec<(Bounds, StrokeId)>,
}

impl PageIndex {
    /// The index for `page` of `document`, rebuilt only when either changed.
    fn reuse<'a>(
        slot: &'a mut Option<PageIndex>,
        document: &Arc<Document>,
        page: PageId,
    ) -> &'a PageIndex {
        let current = slot
            .as_ref()
            .is_some_and(|i| i.page == page && Arc::ptr_eq(&i.document, document));
        if !current {
            *slot = None;
        }
        slot.get_or_insert_with(|| PageIndex {
            document: Arc::clone(document),
            page,
            strokes: document
                .strokes(page)
                .into_iter()
                .filter(|s| !s.is_live())
                .map(|s| (stroke_area(s), s.id()))
                .collect(),
        })
    }
}

/// Draws the finished strokes of the indexed page that touch tile `key` on white
/// paper.
fn paint_tile(document: &Document, index: &PageIndex, key: Key) -> Option<(Pixmap, bool)> {
    let mut pixmap = Pixmap::new(TILE_PX, TILE_PX)?;
    // Opaque white paper (premultiplied RGBA: every byte 255).
    pixmap.data_mut().fill(255);
    let area = tile_bounds(key);
    let mut blank = true;
    let touching = index
        .strokes
        .iter()
        .filter(|(covers, _)| covers.intersects(&area))
        .filter_map(|(_, id)| document.stroke(*id))
        .inspect(|_| blank = false);
    draw_strokes(&mut pixmap, touching, &tile_view(key));
    Some((pixmap, blank))
}

fn paint_thumbnail(document: &Document, page: PageId, width: f32) -> Option<(Pixmap, View)> {
    let bounds = document.page_bounds(page);
    let scale = width / (bounds.max_x - bounds.min_x).max(1.0);
    let view = View::of_bounds(bounds, scale).ok()?;
    let pixmap = render_page(document, page, &view).ok()?;
    Some((pixmap, view))
}

fn to_image(pixmap: &Pixmap) -> egui::ColorImage {
    egui::ColorImage::from_rgba_premultiplied(
        [pixmap.width() as usize, pixmap.height() as usize],
        pixmap.data(),
    )
}

impl TileCache {
    /// An empty cache with its painter thread; `wake` repaints the window when a
    /// picture is ready.
    pub fn new(wake: &egui::Context) -> Self {
        let (jobs, jobs_rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let wake = wake.clone();
        let spawned = std::thread::Builder::new()
            .name("canopy-tiles".into())
            .spawn(move || painter_thread(jobs_rx, done_tx, wake));
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the tile painter; the canvas stays blank");
        }
        Self {
            page: None,
            tiles: HashMap::new(),
            generation: 1,
            snapshot: None,
            finished_since: Vec::new(),
            pending: HashSet::new(),
            view_asked: None,
            jobs,
            done,
            thumbnails: HashMap::new(),
            thumbnails_pending: HashSet::new(),
            level: 0,
            pixels_per_point: 1.0,
            sharp: false,
            thumbnail_stale: HashSet::new(),
            ready_thumbnails: Vec::new(),
            frame: 0,
        }
    }

    /// Every cached picture is out of date (it stays on screen until repainted).
    pub fn invalidate(&mut self) {
        self.generation += 1;
        self.pending.clear();
        self.thumbnails_pending.clear();
        self.thumbnail_stale.clear();
    }

    /// Physical pixels per point, from egui, once a frame.
    pub fn set_pixels_per_point(&mut self, pixels_per_point: f32) {
        if pixels_per_point.is_finite() && pixels_per_point > 0.0 {
            self.pixels_per_point = pixels_per_point;
        }
    }

    /// Physical pixels per point, as last set.
    pub fn pixels_per_point(&self) -> f32 {
        self.pixels_per_point
    }

    /// Screen pixels per page unit: what tile levels are chosen by.
    fn pixel_zoom(&self, camera: &Camera) -> f32 {
        camera.zoom * self.pixels_per_point
    }

    /// True when every tile of the view is current and nothing is being painted.
    pub fn is_settled(&self, camera: &Camera, size: (f32, f32)) -> bool {
        let level = level_for(self.pixel_zoom(camera));
        self.pending.is_empty()
            && keys_covering(level, camera.visible(size)).all(|key| {
                self.tiles
                    .get(&key)
                    .is_some_and(|t| t.generation == self.generation)
            })
    }

    /// Visible tiles with no picture at all yet (shown as paper or a stand-in).
    pub fn missing_in_view(&self, camera: &Camera, size: (f32, f32)) -> usize {
        keys_covering(level_for(self.pixel_zoom(camera)), camera.visible(size))
            .filter(|key| !self.tiles.contains_key(key))
            .count()
    }

    /// Draws a finished stroke onto the cached tiles it touches.
    pub fn add_stroke(&mut self, page: PageId, stroke: &Stroke) {
        if stroke.is_live() {
            return;
        }
        self.thumbnail_stale.insert(page);
        if self.snapshot.is_some() {
            self.finished_since.push((page, stroke.id()));
        }
        if self.page != Some(page) {
            return;
        }
        let area = stroke_area(stroke);
        for (key, tile) in &mut self.tiles {
            if tile_bounds(*key).intersects(&area) {
                draw_strokes(&mut tile.pixmap, [stroke], &tile_view(*key));
                tile.changed = true;
            }
        }
    }

    /// Takes a snapshot for the painter when the current one is out of date.
    fn snapshot(&mut self, document: &Document, ctx: &egui::Context) -> Option<Arc<Document>> {
        let fresh = match &self.snapshot {
            Some((generation, _, taken)) => {
                let outdated = *generation != self.generation
                    || self.finished_since.len() > MAX_FINISHED_SINCE;
                if outdated && taken.elapsed() < SNAPSHOT_INTERVAL {
                    ctx.request_repaint_after(SNAPSHOT_INTERVAL);
                    return None;
                }
                outdated
            }
            None => true,
        };
        if fresh {
            if self.finished_since.len() > MAX_FINISHED_SINCE {
                // The pictures are right; only the snapshot is old.
                self.generation += 1;
                self.pending.clear();
                self.thumbnails_pending.clear();
            }
            self.snapshot = Some((self.generation, Arc::new(document.clone()), Instant::now()));
            self.finished_since.clear();
        }
        self.snapshot.as_ref().map(|(_, d, _)| Arc::clone(d))
    }

    /// Takes in finished pictures, asks for the missing ones (the view first, then a
    /// margin around it), and uploads what changed.
    pub fn prepare(
        &mut self,
        ctx: &egui::Context,
        document: &Document,
        page: PageId,
        camera: &Camera,
        size: (f32, f32),
    ) {
        self.frame += 1;
        if self.page != Some(page) {
            self.tiles.clear();
            self.pending.clear();
            self.page = Some(page);
        }
        self.receive(document);
        self.view_asked = Some(self.generation);
        let level = level_for(self.pixel_zoom(camera));
        self.level = level;
        self.sharp = sharp_level(self.pixel_zoom(camera)).is_some();
        let visible = camera.visible(size);
        for key in keys_covering(level, visible) {
            if let Some(tile) = self.tiles.get_mut(&key) {
                tile.last_used = self.frame;
            }
        }
        let (w, h) = (visible.max_x - visible.min_x, visible.max_y - visible.min_y);
        let margin = Bounds {
            min_x: visible.min_x - w / 2.0,
            min_y: visible.min_y - h / 2.0,
            max_x: visible.max_x + w / 2.0,
            max_y: visible.max_y + h / 2.0,
        };
        let mut wanted: Vec<Key> = keys_covering(level, margin)
            .filter(|key| {
                !self.pending.contains(key)
                    && self
                        .tiles
                        .get(key)
                        .is_none_or(|t| t.generation != self.generation)
            })
            .collect();
        if !wanted.is_empty() {
            let Some(snapshot) = self.snapshot(document, ctx) else {
                self.upload(ctx);
                return;
            };
            let centre = camera.to_page((size.0 / 2.0, size.1 / 2.0));
            let distance = |key: &Key| {
                let b = tile_bounds(*key);
                let inside = b.intersects(&visible);
                let (x, y) = ((b.min_x + b.max_x) / 2.0, (b.min_y + b.max_y) / 2.0);
                (!inside, (x - centre.x).powi(2) + (y - centre.y).powi(2))
            };
            wanted.sort_by(|a, b| {
                let (a, b) = (distance(a), distance(b));
                a.0.cmp(&b.0).then(a.1.total_cmp(&b.1))
            });
            for key in wanted {
                self.pending.insert(key);
                let _ = self.jobs.send(Job::Tile {
                    key,
                    page,
                    generation: self.generation,
                    document: Arc::clone(&snapshot),
                });
            }
        }
        self.upload(ctx);
        self.evict();
    }

    fn receive(&mut self, document: &Document) {
        let done: Vec<Done> = self.done.try_iter().collect();
        for result in done {
            match result {
                Done::Tile {
                    key,
                    page,
                    generation,
                    mut pixmap,
                    blank,
                } => {
                    if Some(page) != self.page {
                        continue;
                    }
                    let current = generation == self.generation;
                    if current {
                        self.pending.remove(&key);
                    } else if self.tiles.contains_key(&key) {
                        continue; // an older picture than the one shown
                    }
                    let mut blank = blank;
                    if current {
                        // Strokes finished while it was being painted.
                        for (_, id) in self.finished_since.iter().filter(|(p, _)| *p == page) {
                            if let Some(stroke) = document.stroke(*id) {
                                if tile_bounds(key).intersects(&stroke_area(stroke)) {
                                    draw_strokes(&mut pixmap, [stroke], &tile_view(key));
                                    blank = false;
                                }
                            }
                        }
                    }
                    let old = self.tiles.remove(&key).and_then(|t| t.texture);
                    self.tiles.insert(
                        key,
                        Tile {
                            pixmap,
                            texture: if blank { None } else { old },
                            generation,
                            changed: !blank,
                            last_used: self.frame,
                            sharp: false,
                        },
                    );
                }
                Done::Thumbnail {
                    page,
                    generation,
                    mut pixmap,
                    view,
                } => {
                    self.thumbnails_pending.remove(&page);
                    for (_, id) in self.finished_since.iter().filter(|(p, _)| *p == page) {
                        if let Some(stroke) = document.stroke(*id) {
                            draw_strokes(&mut pixmap, [stroke], &view);
                        }
                    }
                    self.ready_thumbnails.push((page, generation, pixmap));
                }
            }
        }
    }

    fn upload(&mut self, ctx: &egui::Context) {
        // Switching a level's tiles between filtered and unfiltered means uploading
        // them again: a few a frame, so zooming does not stall.
        let mut refilters = REFILTERS_PER_FRAME;
        for (key, tile) in &mut self.tiles {
            let sharp = self.sharp && key.0 == self.level;
            let refilter = tile.texture.is_some()
                && key.0 == self.level
                && tile.sharp != sharp
                && refilters > 0;
            if refilter {
                refilters -= 1;
            }
            if !tile.changed && !refilter {
                continue;
            }
            tile.changed = false;
            tile.sharp = sharp;
            let options = if sharp {
                egui::TextureOptions::NEAREST
            } else {
                egui::TextureOptions::LINEAR
            };
            let image = to_image(&tile.pixmap);
            match &mut tile.texture {
                Some(texture) => texture.set(image, options),
                None => {
                    tile.texture = Some(ctx.load_texture(format!("tile {key:?}"), image, options))
                }
            }
        }
        for (page, generation, pixmap) in std::mem::take(&mut self.ready_thumbnails) {
            let image = to_image(&pixmap);
            match self.thumbnails.get_mut(&page) {
                Some(thumbnail) => {
                    thumbnail.texture.set(image, egui::TextureOptions::LINEAR);
                    thumbnail.generation = generation;
                }
                None => {
                    let texture = ctx.load_texture(
                        format!("thumbnail {page}"),
                        image,
                        egui::TextureOptions::LINEAR,
                    );
                    self.thumbnails.insert(
                        page,
                        Thumbnail {
                            texture,
                            generation,
                        },
                    );
                }
            }
        }
    }

    fn evict(&mut self) {
        if self.tiles.len() <= MAX_TILES {
            return;
        }
        let mut ages: Vec<(u64, Key)> = self.tiles.iter().map(|(k, t)| (t.last_used, *k)).collect();
        ages.sort();
        for (_, key) in ages.into_iter().take(self.tiles.len() - MAX_TILES) {
            self.tiles.remove(&key);
        }
    }

    /// A page's thumbnail, asking for a new one when it is missing or out of date.
    pub fn thumbnail(
        &mut self,
        ctx: &egui::Context,
        document: &Document,
        page: PageId,
        width: f32,
    ) -> Option<&egui::TextureHandle> {
        let stale = self.thumbnails.get(&page).is_none_or(|t| {
            t.generation != self.generation || self.thumbnail_stale.contains(&page)
        });
        // One at a time, and only once the page's own tiles are in: thumbnails never
        // hold up tiles.
        if stale
            && self.thumbnails_pending.is_empty()
            && self.pending.is_empty()
            && self.view_asked == Some(self.generation)
        {
            if let Some(snapshot) = self.snapshot(document, ctx) {
                self.thumbnail_stale.remove(&page);
                self.thumbnails_pending.insert(page);
                let _ = self.jobs.send(Job::Thumbnail {
                    page,
                    width,
                    generation: self.generation,
                    document: snapshot,
                });
            }
        }
        self.thumbnails.get(&page).map(|t| &t.texture)
    }

    /// Paints the page over `rect`, every pixel once: current tiles as they are, blank
    /// ones as paper, and where a tile is not painted yet, paper with a stand-in from
    /// another zoom level (blurry or sharp) clipped to that tile.
    pub fn paint(&self, painter: &egui::Painter, rect: egui::Rect, camera: &Camera) {
        let level = level_for(self.pixel_zoom(camera));
        let visible = camera.visible((rect.width(), rect.height()));
        let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
        // Shown pixel for pixel, tiles start on whole pixels so each texel lands on
        // one (all move by the same fraction, so they still meet edge to edge).
        let sharp = sharp_level(self.pixel_zoom(camera)).is_some();
        let pixels_per_point = self.pixels_per_point;
        let snap = |v: f32| {
            if sharp {
                (v * pixels_per_point + 0.5).floor() / pixels_per_point
            } else {
                v
            }
        };
        let screen_rect = |key: Key| {
            let b = tile_bounds(key);
            let (x0, y0) = camera.to_screen(Point::new(b.min_x, b.min_y));
            let (x1, y1) = camera.to_screen(Point::new(b.max_x, b.max_y));
            egui::Rect::from_min_max(
                egui::pos2(snap(rect.min.x + x0), snap(rect.min.y + y0)),
                egui::pos2(snap(rect.min.x + x1), snap(rect.min.y + y1)),
            )
        };
        let mut missing = Vec::new();
        for key in keys_covering(level, visible) {
            let area = screen_rect(key);
            match self.tiles.get(&key).map(|t| &t.texture) {
                Some(Some(texture)) => {
                    painter.image(texture.id(), area, uv, egui::Color32::WHITE);
                }
                Some(None) => {
                    painter.rect_filled(area, 0.0, egui::Color32::WHITE);
                }
                None => {
                    painter.rect_filled(area, 0.0, egui::Color32::WHITE);
                    missing.push(key);
                }
            }
        }
        if missing.is_empty() {
            return;
        }
        let mut stand_ins: Vec<(&Key, &egui::TextureHandle)> = self
            .tiles
            .iter()
            .filter(|(k, _)| k.0 != level && tile_bounds(**k).intersects(&visible))
            .filter_map(|(k, t)| Some((k, t.texture.as_ref()?)))
            .collect();
        // Coarser levels first, so finer stand-ins end up on top.
        stand_ins.sort_by_key(|(k, _)| k.0);
        for key in missing {
            let clipped = painter.with_clip_rect(screen_rect(key).intersect(rect));
            let area = tile_bounds(key);
            for (other, texture) in &stand_ins {
                if tile_bounds(**other).intersects(&area) {
                    clipped.image(texture.id(), screen_rect(**other), uv, egui::Color32::WHITE);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_levels_own_zoom_shows_it_pixel_for_pixel() {
        for level in -17..=20 {
            let zoom = level_zoom(level);
            assert_eq!(level_for(zoom), level, "zoom {zoom}");
            assert_eq!(sharp_level(zoom), Some(level), "zoom {zoom}");
            assert_eq!(sharp_zoom_at_most(zoom), zoom);
        }
        // Between levels: the sharper level, scaled down, filtered.
        assert_eq!(level_for(1.1), 1);
        assert_eq!(sharp_level(1.1), None);
        assert_eq!(sharp_zoom_at_most(1.1), 1.0);
        assert_eq!(sharp_zoom_at_most(0.95), level_zoom(-1));
    }
}
