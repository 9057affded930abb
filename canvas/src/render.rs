//! Rasterising pages into tiny-skia pictures: anti-aliased, round caps and joins,
//! smoothed like every other output.

use tiny_skia::Pixmap;

use crate::document::{Bounds, Document};
use crate::ids::PageId;
use crate::op::Point;
use crate::raster::draw_band;

/// Which part of a page lands in a picture, and how big.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    /// Page coordinate at the picture's top-left corner.
    pub origin: Point,
    /// Pixels per page unit.
    pub scale: f32,
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
}

/// Why a picture could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// Zero or absurd dimensions.
    #[error("cannot make a {width}×{height} picture; each side must be 1..={max} pixels")]
    BadSize {
        /// Width asked for.
        width: u32,
        /// Height asked for.
        height: u32,
        /// Largest side allowed.
        max: u32,
    },
    /// The scale must be a positive finite number.
    #[error("scale {0} is not a positive finite number")]
    BadScale(f32),
    /// The page does not exist or is deleted.
    #[error("page {0} does not exist")]
    NoSuchPage(PageId),
    /// PNG encoding failed.
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

/// Largest picture side, so an export cannot exhaust memory.
pub const MAX_SIDE: u32 = 16_384;

impl View {
    /// The whole of `bounds` at `scale` pixels per unit.
    pub fn of_bounds(bounds: Bounds, scale: f32) -> Result<View, RenderError> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(RenderError::BadScale(scale));
        }
        let width = ((bounds.max_x - bounds.min_x) * scale).ceil().max(1.0);
        let height = ((bounds.max_y - bounds.min_y) * scale).ceil().max(1.0);
        let max = MAX_SIDE as f32;
        if width > max || height > max {
            return Err(RenderError::BadSize {
                width: width.min(u32::MAX as f32) as u32,
                height: height.min(u32::MAX as f32) as u32,
                max: MAX_SIDE,
            });
        }
        Ok(View {
            origin: Point::new(bounds.min_x, bounds.min_y),
            scale,
            width: width as u32,
            height: height as u32,
        })
    }

    /// The page area this view shows.
    pub fn visible_bounds(&self) -> Bounds {
        Bounds {
            min_x: self.origin.x,
            min_y: self.origin.y,
            max_x: self.origin.x + self.width as f32 / self.scale,
            max_y: self.origin.y + self.height as f32 / self.scale,
        }
    }
}

/// Renders one page on white.
pub fn render_page(document: &Document, page: PageId, view: &View) -> Result<Pixmap, RenderError> {
    render_band(document, page, view, 0..view.height)
}

/// Renders rows `rows` of a page's view on white: exactly those rows of what
/// [`render_page`] gives (so bands drawn side by side stack into the same picture).
pub fn render_band(
    document: &Document,
    page: PageId,
    view: &View,
    rows: std::ops::Range<u32>,
) -> Result<Pixmap, RenderError> {
    if !document.has_page(page) {
        return Err(RenderError::NoSuchPage(page));
    }
    new_pixmap(view)?;
    let rows = rows.start.min(view.height)..rows.end.min(view.height);
    let band = View {
        height: rows.end.saturating_sub(rows.start),
        ..*view
    };
    let mut pixmap = new_pixmap(&band)?;
    pixmap.fill(tiny_skia::Color::WHITE);
    draw_band(&mut pixmap, document.strokes(page), view, rows.start);
    Ok(pixmap)
}

/// A transparent picture of the view's size.
pub fn new_pixmap(view: &View) -> Result<Pixmap, RenderError> {
    if view.width == 0 || view.height == 0 || view.width > MAX_SIDE || view.height > MAX_SIDE {
        return Err(RenderError::BadSize {
            width: view.width,
            height: view.height,
            max: MAX_SIDE,
        });
    }
    if !(view.scale.is_finite() && view.scale > 0.0) {
        return Err(RenderError::BadScale(view.scale));
    }
    Pixmap::new(view.width, view.height).ok_or(RenderError::BadSize {
        width: view.width,
        height: view.height,
        max: MAX_SIDE,
    })
}

/// Encodes a picture as PNG.
pub fn encode_png(pixmap: &Pixmap) -> Result<Vec<u8>, RenderError> {
    pixmap
        .encode_png()
        .map_err(|e| RenderError::Png(e.to_string()))
}
