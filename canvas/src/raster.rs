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
//! picture is drawn in tiles, each holding the strokes that reach it in z-order; each
//! piece of a stroke stamps its coverage into a tile-sized buffer (keeping the larger),
//! which remembers which groups of four cells it wrote, and those groups are then
//! blended once each. Both steps work on four cells at a time (`wide`'s safe SIMD).

use tiny_skia::Pixmap;
use wide::{f32x4, u16x8, u8x16};

use crate::document::Stroke;
use crate::op::{Point, Tool, HIGHLIGHTER_ALPHA};
use crate::render::View;
use crate::smooth::{for_each_segment, Segment};

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
    /// Its pieces in `Plan::segments`.
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
    /// The stroke's coverage per cell of the tile (`TILE` a row): the maximum over
    /// its pieces. All zeros between strokes.
    cover: Vec<f32>,
    /// Per row of the tile, which groups of `GROUP` cells the stroke wrote (bit `g`
    /// for cells `g * GROUP..(g + 1) * GROUP`). All zeros between strokes.
    written: Vec<u64>,
}

/// Cells worked on at once: the vector width, aligned in the row.
const GROUP: usize = 4;

const _: () = assert!(TILE as usize / GROUP <= 64, "a row's groups fit one u64");

/// Draws one stroke into the part of it that lies in `tile`: each piece stamps its
/// coverage into the buffer (keeping the larger), then each row is blended once over
/// the groups of cells written.
fn draw(tile: &mut Tile, stroke: &Prepared, segments: &[Piece], scratch: &mut Scratch) {
    let left = stroke.bounds[0].max(tile.x);
    let top = stroke.bounds[1].max(tile.y);
    let right = stroke.bounds[2].min(tile.x + tile.width);
    let bottom = stroke.bounds[3].min(tile.y + tile.height);
    if left >= right || top >= bottom {
        return;
    }
    let reach = stroke.radius + 0.5;
    let (zero, one, edge) = (f32x4::ZERO, f32x4::ONE, f32x4::splat(reach));
    let row_cells = TILE as usize;
    scratch.cover.resize(row_cells * TILE as usize, 0.0);
    scratch.written.resize(TILE as usize, 0);
    for piece in &segments[stroke.pieces.clone()] {
        // Rows whose centre lies within reach of the piece.
        let first = ceil(piece.top - 0.5).max(top);
        let last = (floor(piece.bottom - 0.5) + 1).min(bottom);
        if first >= last || piece.x1 <= left || piece.x0 >= right {
            continue;
        }
        let (dx, dy) = (f32x4::splat(piece.dx), f32x4::splat(piece.dy));
        let inverse_length = f32x4::splat(piece.inverse_length);
        for py in first..last {
            let centre_y = py as f32 + 0.5;
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
            // Whole aligned groups: the extra cells get their true coverage, and are
            // blended (or, beyond the tile, cleared) with the row.
            let first_group = (sx0 - tile.x) as usize / GROUP;
            let end_group = ((sx1 - tile.x) as usize).div_ceil(GROUP);
            let groups = end_group - first_group;
            scratch.written[(py - tile.y) as usize] |= if groups == 64 {
                u64::MAX
            } else {
                ((1u64 << groups) - 1) << first_group
            };
            let line = (py - tile.y) as usize * row_cells;
            let (cells, _) = scratch.cover[line + first_group * GROUP..line + end_group * GROUP]
                .as_chunks_mut::<GROUP>();
            let cy = f32x4::splat(centre_y - piece.ay);
            let along_y = cy * piece.dy;
            // Cell centres: half-integers, exact in `f32` however far they step, so
            // each is offset from the piece exactly as one pixel at a time would be.
            let mut px = f32x4::splat((tile.x + (first_group * GROUP) as i32) as f32 + 0.5)
                + f32x4::from([0.0, 1.0, 2.0, 3.0]);
            let ax = f32x4::splat(piece.ax);
            for group in cells {
                // Distance from each cell centre to the piece, as coverage.
                let cx = px - ax;
                let t = ((cx * dx + along_y) * inverse_length).fast_clamp(zero, one);
                let (ex, ey) = (cx - t * dx, cy - t * dy);
                let cover = (edge - (ex * ex + ey * ey).sqrt()).fast_clamp(zero, one);
                *group = cover.fast_max(f32x4::from(*group)).into();
                px += f32x4::splat(GROUP as f32);
            }
        }
    }
    let width = tile.width as usize;
    let paint = Paint::new(stroke);
    for py in top..bottom {
        let row = (py - tile.y) as usize;
        let mut written = std::mem::take(&mut scratch.written[row]);
        let (cells, _) =
            scratch.cover[row * row_cells..(row + 1) * row_cells].as_chunks_mut::<GROUP>();
        let pixels = &mut tile.data[row * width..(row + 1) * width];
        while written != 0 {
            let group = written.trailing_zeros() as usize;
            written &= written - 1;
            let coverage = f32x4::from(std::mem::take(&mut cells[group]));
            let at = group * GROUP;
            match pixels.get_mut(at..at + GROUP) {
                Some(pixels) => paint.blend(pixels, coverage),
                // The tile ends inside this group: blend what lies in it.
                None => {
                    let inside = &mut pixels[at..];
                    let mut four = [0; GROUP];
                    four[..inside.len()].copy_from_slice(inside);
                    paint.blend(&mut four, coverage);
                    inside.copy_from_slice(&four[..inside.len()]);
                }
            }
        }
    }
}

/// A stroke's colour laid out for blending a group of pixels at once.
struct Paint {
    /// Stroke alpha × 255.
    alpha: f32,
    /// The opaque colour.
    source: u32,
    /// Its channels, once per pixel of a half group, in 16-bit lanes.
    channels: u16x8,
}

impl Paint {
    fn new(stroke: &Prepared) -> Paint {
        let [r, g, b, a] = stroke.source.to_le_bytes().map(u16::from);
        Paint {
            alpha: stroke.alpha,
            source: stroke.source,
            channels: u16x8::from([r, g, b, a, r, g, b, a]),
        }
    }

    /// Blends `GROUP` premultiplied pixels with the stroke at `coverage`: the common
    /// cases (nothing, all opaque) first, the rest in 16-bit lanes with exact rounding
    /// of `x / 255`.
    fn blend(&self, pixels: &mut [u32], coverage: f32x4) {
        // In 0.5..=255.5, so truncating is exact and rounds the alpha.
        let alphas = (coverage * self.alpha + 0.5).fast_trunc_int();
        let alphas: [i32; GROUP] = alphas.into();
        if alphas == [0; GROUP] {
            return;
        }
        if alphas == [255; GROUP] {
            pixels.fill(self.source);
            return;
        }
        // Each pixel's alpha in all four of its channels.
        let spread: [u32; GROUP] = alphas.map(|a| a as u32 * 0x0101_0101);
        let spread: u8x16 = bytemuck::cast(spread);
        let mut four = [0u32; GROUP];
        four.copy_from_slice(pixels);
        let destination: u8x16 = bytemuck::cast(four);
        let mix = |d: u16x8, a: u16x8| {
            // d·(255 − a) + s·a + 128 ≤ 65,153: fits 16 bits, and so does the exact
            // rounding of x / 255 below.
            let t = d * (u16x8::splat(255) - a) + self.channels * a + u16x8::splat(128);
            (t + (t >> 8)) >> 8
        };
        let low = mix(
            u16x8::from_u8x16_low(destination),
            u16x8::from_u8x16_low(spread),
        );
        let high = mix(
            u16x8::from_u8x16_high(destination),
            u16x8::from_u8x16_high(spread),
        );
        let out = u8x16::narrow_i16x8(bytemuck::cast(low), bytemuck::cast(high));
        let out: [u32; GROUP] = bytemuck::cast(out);
        pixels.copy_from_slice(&out);
    }
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
    for_each_segment(stroke.points(), |segment| match segment {
        Segment::MoveTo(p) | Segment::LineTo(p) => polyline.push(to_pixels(p)),
        Segment::QuadTo { control, to } => {
            let from = polyline.last().copied().unwrap_or(to_pixels(control));
            let (cx, cy) = to_pixels(control);
            let (tx, ty) = to_pixels(to);
            // Pieces needed so the chords stay within TOLERANCE.
            let (ddx, ddy) = (from.0 - 2.0 * cx + tx, from.1 - 2.0 * cy + ty);
            let deviation = (ddx * ddx + ddy * ddy).sqrt();
            let pieces = ((deviation / (8.0 * TOLERANCE)).sqrt().ceil() as usize).clamp(1, 64);
            for i in 1..=pieces {
                let t = i as f32 / pieces as f32;
                let u = 1.0 - t;
                polyline.push((
                    u * u * from.0 + 2.0 * u * t * cx + t * t * tx,
                    u * u * from.1 + 2.0 * u * t * cy + t * t * ty,
                ));
            }
        }
    });
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::ids::{NodeId, FIRST_PAGE};
    use crate::op::Color;
    use crate::Document;
    use proptest::prelude::*;

    /// One pixel at a time, the slow and obvious way: each stroke's coverage is the
    /// maximum over its pieces of how far the pixel centre lies inside, blended with
    /// scalar arithmetic. The tiled, grouped, vector rasterizer must match it exactly.
    fn reference(strokes: &[&Stroke], view: &View) -> Vec<u32> {
        let (width, height) = (view.width as i32, view.height as i32);
        let mut plan = Plan::default();
        for stroke in strokes {
            plan.add(stroke, view, width, 0, height);
        }
        let mut pixels = vec![u32::from_le_bytes([255; 4]); (width * height) as usize];
        for prepared in &plan.strokes {
            let [left, top, right, bottom] = prepared.bounds;
            for y in top..bottom {
                for x in left..right {
                    let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                    let mut coverage = 0.0f32;
                    for piece in &plan.segments[prepared.pieces.clone()] {
                        let (cx, cy) = (px - piece.ax, py - piece.ay);
                        let t = ((cx * piece.dx + cy * piece.dy) * piece.inverse_length)
                            .clamp(0.0, 1.0);
                        let (ex, ey) = (cx - t * piece.dx, cy - t * piece.dy);
                        let cover =
                            (prepared.radius + 0.5 - (ex * ex + ey * ey).sqrt()).clamp(0.0, 1.0);
                        coverage = coverage.max(cover);
                    }
                    let a = (prepared.alpha * coverage + 0.5) as u32;
                    let pixel = &mut pixels[(y * width + x) as usize];
                    let (d, s) = (pixel.to_le_bytes(), prepared.source.to_le_bytes());
                    let mixed: [u8; 4] = std::array::from_fn(|c| {
                        let (d, s) = (u32::from(d[c]), u32::from(s[c]));
                        ((d * (255 - a) + s * a + 127) / 255) as u8
                    });
                    *pixel = u32::from_le_bytes(mixed);
                }
            }
        }
        pixels
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any strokes, widths, colours, tools and picture sizes (odd widths end tiles
        /// and groups of four part-way): the same pixels as the reference.
        #[test]
        fn matches_a_pixel_by_pixel_reference(
            strokes in prop::collection::vec(
                (
                    prop::collection::vec((-20.0f32..320.0, -20.0f32..300.0), 1..12),
                    crate::op::Limits::default().min_width..30.0,
                    any::<[u8; 4]>(),
                    any::<bool>(),
                ),
                1..8,
            ),
            width in 1u32..300,
            height in 1u32..280,
            scale in 0.3f32..2.0,
        ) {
            let mut doc = Document::new(NodeId(1));
            for (points, stroke_width, [r, g, b, a], highlighter) in strokes {
                let tool = if highlighter { Tool::Highlighter } else { Tool::Pen };
                let color = Color { r, g, b, a };
                let start = doc.begin_stroke(FIRST_PAGE, tool, color, stroke_width).unwrap();
                let id = start.id;
                let points = points.into_iter().map(|(x, y)| Point::new(x, y)).collect();
                doc.extend_stroke(id, points).unwrap();
                doc.end_stroke(id).unwrap();
            }
            let view = View { origin: Point::new(-5.0, -5.0), scale, width, height };
            let strokes = doc.strokes(FIRST_PAGE);
            let mut pixmap = Pixmap::new(width, height).unwrap();
            pixmap.fill(tiny_skia::Color::WHITE);
            draw_strokes(&mut pixmap, strokes.iter().copied(), &view);
            let drawn: Vec<u32> = pixmap
                .data()
                .chunks_exact(4)
                .map(|p| u32::from_le_bytes([p[0], p[1], p[2], p[3]]))
                .collect();
            prop_assert!(drawn == reference(&strokes, &view), "pixels differ from the reference");
        }
    }
}
