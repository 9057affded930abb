//! Drawing whole pages on every core: the canvas draws one band of a page exactly
//! as it would appear in the whole picture (`canopy_canvas::render_band`), so the
//! bands are drawn side by side on scoped threads and stacked. Used for PNG exports
//! and wherever a whole page is drawn at once; the window paints its tiles itself.

use canopy_canvas::{render_band, Document, PageId, Pixmap, RenderError, View};

/// Bands thinner than this are not worth a thread.
const MIN_BAND_ROWS: u32 = 64;

/// The page as [`canopy_canvas::render_page`] draws it, on all cores.
pub fn render_page(document: &Document, page: PageId, view: &View) -> Result<Pixmap, RenderError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let bands = cores.min(view.height / MIN_BAND_ROWS).max(1);
    if bands == 1 {
        return canopy_canvas::render_page(document, page, view);
    }
    let rows = view.height.div_ceil(bands);
    let drawn: Vec<Result<Pixmap, RenderError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..bands)
            .map(|band| {
                let (from, to) = (band * rows, ((band + 1) * rows).min(view.height));
                scope.spawn(move || render_band(document, page, view, from..to))
            })
            .collect();
        workers
            .into_iter()
            // Drawing reports errors, it does not panic; if it ever did, say so as is.
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut whole = canopy_canvas::new_pixmap(view)?;
    let mut at = 0;
    for band in drawn {
        let band = band?;
        let bytes = band.data();
        whole.data_mut()[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    }
    Ok(whole)
}

/// A page as PNG at `scale` pixels per page unit (the whole page frame and beyond,
/// as `canopy_canvas::export_png`), drawn on all cores.
pub fn export_png(document: &Document, page: PageId, scale: f32) -> Result<Vec<u8>, RenderError> {
    let view = View::of_bounds(document.page_bounds(page), scale)?;
    canopy_canvas::encode_png(&render_page(document, page, &view)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_canvas::{Color, NodeId, Point, Tool, FIRST_PAGE};

    #[test]
    fn drawing_on_all_cores_gives_the_same_picture() {
        let mut document = Document::new(NodeId(1));
        for i in 0..200 {
            let y = (i * 7 % 700) as f32;
            let points: Vec<Point> = (0..20)
                .map(|k| Point::new(k as f32 * 40.0, y + (k as f32).sin() * 30.0))
                .collect();
            document
                .draw_stroke(
                    FIRST_PAGE,
                    Tool::Pen,
                    Color::rgb(i as u8, 9, 99),
                    5.0,
                    &points,
                )
                .unwrap();
        }
        let view = View::of_bounds(document.page_bounds(FIRST_PAGE), 0.75).unwrap();
        let one = canopy_canvas::render_page(&document, FIRST_PAGE, &view).unwrap();
        let all = render_page(&document, FIRST_PAGE, &view).unwrap();
        assert!(one.data() == all.data());
    }
}
