//! The stroke rasterizer: anti-aliased, round-capped, round-joined polylines drawn by
//! distance.
//!
//! A pixel's coverage is how far its centre lies inside the stroke's half-width, and a
//! stroke's coverage is the maximum over its segments, so joins have no seams and a
//! translucent stroke does not darken where it overlaps itself.
//!
//! Why not tiny-skia's stroker: it builds and scan-converts an outline per stroke and
//! blends many tiny spans, which measured several times too slow for a 10,000-stroke
//! page. tiny-skia still provides the picture and PNG encoding.
//!
//! Work is organised for the cache: every stroke is flattened once into segments; the
//! picture is drawn in tiles, each holding the strokes that reach it in z-order; a
//! stroke is drawn row by row, sweeping over its segments sorted by height, into a
//! one-row coverage buffer that is blended at once.

use tiny_skia::Pixmap;

use crate::document::Stroke;
use crate::op::{Point, Tool, HIGHLIGHTER_ALPHA};
use crate::render::View;
use crate::smooth::{smooth, Segment, Shape};

/// Flattening tolerance for curves, in pixels.
const TOLERANCE: f32 = 0.2;

/// Tile side in pixels: a tile's pixels stay in the CPU cache while drawn on.
const TILE: i32 = 256;

/// Draws strokes (bottom first) over what the picture holds; strokes outside the view
/// are skipped. Used for whole pages and, by the desktop, for cached tiles.
pub fn draw_strokes<'a>(
    pixmap: &mut Pixmap,
    strokes: impl IntoIterator<Item = &'a Stroke>,
    view: &View,
) {
    draw_band(pixmap, strokes, view, 0);
}

/// Draws the rows `first_row..first_row + pixmap.height()` of the view into
/// `pixmap`: exactly those rows of what [`draw_strokes`] gives for the whole view,
/// pixel for pixel (the geometry is the view's; only which rows are drawn changes).
/// So a caller with several cores can draw bands side by side and stack them.
pub fn draw_band<'a>(
    pixmap: &mut Pixmap,
    strokes: impl IntoIterator<Item = &'a Stroke>,
    view: &View,
    first_row: u32,
) {
    let width = pixmap.width() as i32;
    let (top, bottom) = (first_row as i32, (first_row + pixmap.height()) as i32);
    let mut plan = Plan::default();
    for stroke in strokes {
        plan.add(stroke, view, width, top, bottom);
    }
    if plan.strokes.is_empty() {
        return;
    }
    let (columns, rows) = ((width + TILE - 1) / TILE, (bottom - top + TILE - 1) / TILE);
    let mut bins: Vec<Vec<u32>> = vec![Vec::new(); (columns * rows) as usize];
    for (index, prepared) in plan.strokes.iter().enumerate() {
        let [left, stroke_top, right, stroke_bottom] = prepared.bounds;
        for row in (stroke_top - top) / TILE..=(stroke_bottom - top - 1) / TILE {
            for column in left / TILE..=(right - 1) / TILE {
                bins[(row * columns + column) as usize].push(index as u32);
            }
        }
    }
    let mut scratch = Scratch::default();
    let stride = width as usize * 4;
    for (index, bin) in bins.iter().enumerate() {
        if bin.is_empty() {
            continue;
        }
        let (x, y) = (
            (index as i32 % columns) * TILE,
            top + (index as i32 / columns) * TILE,
        );
        let mut tile = Tile {
            x,
            y,
            width: TILE.min(width - x),
            height: TILE.min(bottom - y),
            data: std::mem::take(&mut scratch.tile),
        };
        tile.data.clear();
        let row_bytes = tile.width as usize * 4;
        // Where the tile's first row lies in the pixmap.
        let base = (y - top) as usize;
        for row in 0..tile.height as usize {
            let at = (base + row) * stride + x as usize * 4;
            tile.data.extend(
                pixmap.data()[at..at + row_bytes]
                    .chunks_exact(4)
                    .map(|p| u32::from_le_bytes([p[0], p[1], p[2], p[3]])),
            );
        }
        for &stroke in bin {
            draw(
                &mut tile,
                &plan.strokes[stroke as usize],
                &plan.segments,
                &mut scratch,
            );
        }
        let data = pixmap.data_mut();
        let tile_width = tile.width as usize;
        for row in 0..tile.height as usize {
            let at = (base + row) * stride + x as usize * 4;
            for (out, pixel) in data[at..at + row_bytes]
                .chunks_exact_mut(4)
                .zip(&tile.data[row * tile_width..(row + 1) * tile_width])
            {
                out.copy_from_slice(&pixel.to_le_bytes());
            }
        }
        scratch.tile = tile.data;
    }
}

/// One straight piece of a stroke, in pixels, with what the inner loop needs.
#[derive(Debug, Clone, Copy)]
struct Piece {
    ax: f32,
    ay: f32,
    dx: f32,
    dy: f32,
    /// `1 / |d|²`, or 0 for a dot.
    inverse_length: f32,
    /// `1 / dy`, used only when `dy` is not about 0.
    inverse_dy: f32,
    top: f32,
    bottom: f32,
    /// Columns within reach of the whole piece: `[x0, x1)`.
    x0: i32,
    x1: i32,
    /// Few columns: every row uses `x0..x1` instead of working out its own part.
    short: bool,
}

/// A piece whose reach spans at most this many columns is drawn row by row over all
/// of them: cheaper than finding each row's part (pieces of a hand-drawn stroke are
/// a few pixels long).
const SHORT_PIECE: i32 = 12;

/// A stroke ready to draw.
struct Prepared {
    /// Its pieces in `Plan::segments`, sorted by `top`.
    pieces: std::ops::Range<usize>,
    radius: f32,
    /// Opaque source colour, RGBA8 in a `u32`.
    source: u32,
    /// Stroke alpha × 255.
    alpha: f32,
    /// Pixels it may touch: `[left, top, right, bottom)`, within the picture.
    bounds: [i32; 4],
}

/// Every stroke of one picture, flattened once.
#[derive(Default)]
struct Plan {
    segments: Vec<Piece>,
    strokes: Vec<Prepared>,
    polyline: Vec<(f32, f32)>,
    keep: Vec<bool>,
}

impl Plan {
    /// Adds a stroke, clipped to columns `0..width` and rows `top..bottom`.
    fn add(&mut self, stroke: &Stroke, view: &View, width: i32, top: i32, bottom: i32) {
        let color = stroke.color();
        let mut alpha = f32::from(color.a) / 255.0;
        if stroke.tool() == Tool::Highlighter {
            alpha *= HIGHLIGHTER_ALPHA;
        }
        let mut radius = stroke.width() * view.scale / 2.0;
        if radius < 0.5 {
            // Thinner than a pixel: a pixel-wide line, fainter in proportion.
            alpha *= radius * 2.0;
            radius = 0.5;
        }
        if alpha <= 0.0 {
            return;
        }
        // Outside the picture (or band) altogether: skip it before any flattening.
        // Smoothed curves stay within their points' bounds.
        let reach = radius + 1.0;
        let b = stroke.bounds();
        let (x0, y0) = (
            (b.min_x - view.origin.x) * view.scale,
            (b.min_y - view.origin.y) * view.scale,
        );
        let (x1, y1) = (
            (b.max_x - view.origin.x) * view.scale,
            (b.max_y - view.origin.y) * view.scale,
        );
        if x1 + reach < 0.0
            || y1 + reach < top as f32
            || x0 - reach > width as f32
            || y0 - reach > bottom as f32
        {
            return;
        }
        flatten(stroke, view, &mut self.polyline);
        simplify(&mut self.polyline, &mut self.keep, TOLERANCE);
        let reach = radius + 0.5;
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for &(x, y) in &self.polyline {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        let bounds = [
            floor(x0 - reach).max(0),
            floor(y0 - reach).max(top),
            ceil(x1 + reach).min(width),
            ceil(y1 + reach).min(bottom),
        ];
        if bounds[0] >= bounds[2] || bounds[1] >= bounds[3] {
            return;
        }
        let first = self.segments.len();
        // A single point is one piece of length zero: a dot.
        let ends = self.polyline.len().saturating_sub(1).max(1);
        for index in 0..ends {
            let (ax, ay) = self.polyline[index];
            let (bx, by) = self.polyline.get(index + 1).copied().unwrap_or((ax, ay));
            let (dx, dy) = (bx - ax, by - ay);
            let length_squared = dx * dx + dy * dy;
            self.segments.push(Piece {
                ax,
                ay,
                dx,
                dy,
                inverse_length: if length_squared > 0.0 {
                    1.0 / length_squared
                } else {
                    0.0
                },
                inverse_dy: if dy != 0.0 { 1.0 / dy } else { 0.0 },
                top: ay.min(by) - reach,
                bottom: ay.max(by) + reach,
                x0: floor(ax.min(bx) - reach),
                x1: ceil(ax.max(bx) + reach),
                short: ceil(ax.max(bx) + reach) - floor(ax.min(bx) - reach) <= SHORT_PIECE,
            });
        }
        self.segments[first..].sort_unstable_by(|a, b| a.top.total_cmp(&b.top));
        self.strokes.push(Prepared {
            pieces: first..self.segments.len(),
            radius,
            source: u32::from_le_bytes([color.r, color.g, color.b, 255]),
            alpha: alpha * 255.0,
            bounds,
        });
    }
}

/// A rectangle of the picture, copied out so it stays in cache while drawn on.
struct Tile {
    x: i32,
    y: i32,
    width: i32,
    height: i32,
    /// Premultiplied RGBA8 pixels, one `u32` each (little-endian), `width` a row.
    data: Vec<u32>,
}

/// Buffers reused from stroke to stroke.
#[derive(Default)]
struct Scratch {
    tile: Vec<u32>,
    /// Coverage of one row of the tile; all zeros between rows.
    row: Vec<f32>,
    active: Vec<Piece>,
    spans: Vec<(i32, i32)>,
}

/// Draws one stroke into the part of it that lies in `tile`.
fn draw(tile: &mut Tile, stroke: &Prepared, segments: &[Piece], scratch: &mut Scratch) {
    let left = stroke.bounds[0].max(tile.x);
    let top = stroke.bounds[1].max(tile.y);
    let right = stroke.bounds[2].min(tile.x + tile.width);
    let bottom = stroke.bounds[3].min(tile.y + tile.height);
    if left >= right || top >= bottom {
        return;
    }
    let radius = stroke.radius;
    let reach = radius + 0.5;
    // Room for spans rounded up to whole groups of 4 cells (the vector width).
    scratch.row.resize(tile.width as usize + 4, 0.0);
    scratch.active.clear();
    let pieces = &segments[stroke.pieces.clone()];
    let mut next = 0;
    let stride = tile.width as usize;
    for py in top..bottom {
        let centre_y = py as f32 + 0.5;
        while next < pieces.len() && pieces[next].top <= centre_y {
            scratch.active.push(pieces[next]);
            next += 1;
        }
        scratch.active.retain(|piece| piece.bottom >= centre_y);
        if scratch.active.is_empty() {
            continue;
        }
        scratch.spans.clear();
        for piece in &scratch.active {
            let (sx0, sx1) = if piece.short {
                (piece.x0.max(left), piece.x1.min(right))
            } else {
                // The part of the piece within reach of this row, and its x extent.
                let (t0, t1) = if piece.dy.abs() > 1e-6 {
                    let ta = (centre_y - reach - piece.ay) * piece.inverse_dy;
                    let tb = (centre_y + reach - piece.ay) * piece.inverse_dy;
                    (ta.min(tb).max(0.0), ta.max(tb).min(1.0))
                } else {
                    (0.0, 1.0)
                };
                if t0 > t1 {
                    continue;
                }
                let (xa, xb) = (piece.ax + t0 * piece.dx, piece.ax + t1 * piece.dx);
                (
                    floor(xa.min(xb) - reach).max(left),
                    ceil(xa.max(xb) + reach).min(right),
                )
            };
            if sx0 >= sx1 {
                continue;
            }
            scratch.spans.push((sx0, sx1));
            // Whole groups of 4: no scalar tail (the extra cells get their true
            // coverage, and are blended or cleared with the row's spans).
            let length = ((sx1 - sx0) as usize + 3) & !3;
            let start = (sx0 - tile.x) as usize;
            let cells = &mut scratch.row[start..start + length];
            let cy = centre_y - piece.ay;
            let first_x = sx0 as f32 + 0.5 - piece.ax;
            // Branch-free so the compiler does several pixels at once.
            for (cell, i) in cells.iter_mut().zip(0i32..) {
                let cx = first_x + i as f32;
                let t = ((cx * piece.dx + cy * piece.dy) * piece.inverse_length).clamp(0.0, 1.0);
                let (ex, ey) = (cx - t * piece.dx, cy - t * piece.dy);
                let cover = (radius + 0.5 - (ex * ex + ey * ey).sqrt()).clamp(0.0, 1.0);
                *cell = cell.max(cover);
            }
        }
        // Blend each covered cell once: spans of the row's pieces overlap, so merge
        // them first (a handful per row; cells are zeroed as they are blended).
        merge_spans(&mut scratch.spans);
        let line = (py - tile.y) as usize * stride;
        let pixels = &mut tile.data[line..line + stride];
        for (index, &(from, to)) in scratch.spans.iter().enumerate() {
            let (from, to) = ((from - tile.x) as usize, (to - tile.x) as usize);
            // Padding cells beyond the span hold coverage too: clear them, up to
            // where the next span (which blends its own) begins.
            let next = scratch
                .spans
                .get(index + 1)
                .map_or(usize::MAX, |&(from, _)| (from - tile.x) as usize);
            // Any piece's padding ends within 3 cells of its own span, so within 3
            // of the merged one.
            let padded = (to + 3).min(scratch.row.len()).min(next.max(to));
            for (cell, pixel) in scratch.row[from..to].iter_mut().zip(&mut pixels[from..to]) {
                let coverage = std::mem::take(cell);
                if coverage <= 0.0 {
                    continue;
                }
                // In 0.5..=255.5, so the cast through i32 is exact and cheap.
                let a = (stroke.alpha * coverage + 0.5) as i32 as u32;
                if a >= 255 {
                    // Inside an opaque stroke: its colour, no arithmetic.
                    *pixel = stroke.source;
                } else if a != 0 {
                    *pixel = blend(*pixel, stroke.source, a);
                }
            }
            scratch.row[to..padded].fill(0.0);
        }
    }
}

/// Sorts spans `[from, to)` and merges those that overlap or touch, in place.
fn merge_spans(spans: &mut Vec<(i32, i32)>) {
    if spans.len() < 2 {
        return;
    }
    spans.sort_unstable_by_key(|span| span.0);
    let mut merged = 0;
    for index in 1..spans.len() {
        let (from, to) = spans[index];
        if from <= spans[merged].1 {
            spans[merged].1 = spans[merged].1.max(to);
        } else {
            merged += 1;
            spans[merged] = (from, to);
        }
    }
    spans.truncate(merged + 1);
}

/// The stroke's smoothed outline as a polyline in pixel coordinates.
fn flatten(stroke: &Stroke, view: &View, polyline: &mut Vec<(f32, f32)>) {
    polyline.clear();
    let to_pixels = |p: Point| {
        (
            (p.x - view.origin.x) * view.scale,
            (p.y - view.origin.y) * view.scale,
        )
    };
    match smooth(stroke.points()) {
        Shape::Empty => {}
        Shape::Dot(p) => polyline.push(to_pixels(p)),
        Shape::Path(segments) => {
            for segment in segments {
                match segment {
                    Segment::MoveTo(p) | Segment::LineTo(p) => polyline.push(to_pixels(p)),
                    Segment::QuadTo { control, to } => {
                        let from = polyline.last().copied().unwrap_or(to_pixels(control));
                        let (cx, cy) = to_pixels(control);
                        let (tx, ty) = to_pixels(to);
                        // Pieces needed so the chords stay within TOLERANCE.
                        let (ddx, ddy) = (from.0 - 2.0 * cx + tx, from.1 - 2.0 * cy + ty);
                        let deviation = (ddx * ddx + ddy * ddy).sqrt();
                        let pieces =
                            ((deviation / (8.0 * TOLERANCE)).sqrt().ceil() as usize).clamp(1, 64);
                        for i in 1..=pieces {
                            let t = i as f32 / pieces as f32;
                            let u = 1.0 - t;
                            polyline.push((
                                u * u * from.0 + 2.0 * u * t * cx + t * t * tx,
                                u * u * from.1 + 2.0 * u * t * cy + t * t * ty,
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// Drops points that lie within `tolerance` pixels of the line through their
/// neighbours (Douglas–Peucker): dense input costs no more than its visible shape.
fn simplify(polyline: &mut Vec<(f32, f32)>, keep: &mut Vec<bool>, tolerance: f32) {
    let n = polyline.len();
    if n < 3 {
        return;
    }
    keep.clear();
    keep.resize(n, false);
    keep[0] = true;
    keep[n - 1] = true;
    let mut pending = vec![(0usize, n - 1)];
    let limit = tolerance * tolerance;
    while let Some((first, last)) = pending.pop() {
        let (ax, ay) = polyline[first];
        let (bx, by) = polyline[last];
        let (dx, dy) = (bx - ax, by - ay);
        let length_squared = dx * dx + dy * dy;
        let mut farthest = (0.0f32, first);
        for (index, &(px, py)) in polyline.iter().enumerate().take(last).skip(first + 1) {
            let along = if length_squared > 0.0 {
                (((px - ax) * dx + (py - ay) * dy) / length_squared).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (ex, ey) = (px - ax - along * dx, py - ay - along * dy);
            let distance_squared = ex * ex + ey * ey;
            if distance_squared > farthest.0 {
                farthest = (distance_squared, index);
            }
        }
        if farthest.0 > limit {
            keep[farthest.1] = true;
            pending.push((first, farthest.1));
            pending.push((farthest.1, last));
        }
    }
    let mut index = 0;
    polyline.retain(|_| {
        index += 1;
        keep[index - 1]
    });
}

/// `dst` covered by opaque `src` at `a`/255, both RGBA8 in a `u32`, two channels at a
/// time (the classic 0x00ff00ff trick) with exact rounding of `x / 255`.
fn blend(dst: u32, src: u32, a: u32) -> u32 {
    const MASK: u32 = 0x00ff_00ff;
    let keep = 255 - a;
    let mix = |d: u32, s: u32| {
        let t = d * keep + s * a + 0x0080_0080;
        ((t + ((t >> 8) & MASK)) >> 8) & MASK
    };
    mix(dst & MASK, src & MASK) | (mix((dst >> 8) & MASK, (src >> 8) & MASK) << 8)
}

/// `f32::floor` as an integer, inlined (the library call is measurable here).
fn floor(v: f32) -> i32 {
    let t = v as i32;
    t - i32::from((t as f32) > v)
}

/// `f32::ceil` as an integer, inlined.
fn ceil(v: f32) -> i32 {
    let t = v as i32;
    t + i32::from((t as f32) < v)
}
