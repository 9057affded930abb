//! Where the page sits in the window: pan and zoom, and the conversions between
//! screen pixels and page units. Plain arithmetic, tested on its own.

use canopy_canvas::{Bounds, Point};

/// Smallest and largest zoom (screen pixels per page unit).
pub const ZOOM_RANGE: (f32, f32) = (0.05, 32.0);

/// The view of a page: the page point at the canvas' top-left corner and the zoom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    /// Page point shown at the canvas' top-left corner.
    pub origin: Point,
    /// Screen pixels per page unit.
    pub zoom: f32,
}

impl Default for Camera {
    fn default() -> Self {
        Self {
            origin: Point::new(0.0, 0.0),
            zoom: 1.0,
        }
    }
}

impl Camera {
    /// The page point under a canvas-relative screen position.
    pub fn to_page(&self, screen: (f32, f32)) -> Point {
        Point::new(
            self.origin.x + screen.0 / self.zoom,
            self.origin.y + screen.1 / self.zoom,
        )
    }

    /// The canvas-relative screen position of a page point.
    pub fn to_screen(&self, page: Point) -> (f32, f32) {
        (
            (page.x - self.origin.x) * self.zoom,
            (page.y - self.origin.y) * self.zoom,
        )
    }

    /// Moves the page by a screen distance (a drag or a scroll).
    pub fn pan(&mut self, screen_delta: (f32, f32)) {
        self.origin.x -= screen_delta.0 / self.zoom;
        self.origin.y -= screen_delta.1 / self.zoom;
    }

    /// Zooms by `factor`, keeping the page point under `anchor` (canvas-relative
    /// screen position) where it is.
    pub fn zoom_at(&mut self, factor: f32, anchor: (f32, f32)) {
        if !(factor.is_finite() && factor > 0.0) {
            return;
        }
        let fixed = self.to_page(anchor);
        self.zoom = (self.zoom * factor).clamp(ZOOM_RANGE.0, ZOOM_RANGE.1);
        self.origin = Point::new(
            fixed.x - anchor.0 / self.zoom,
            fixed.y - anchor.1 / self.zoom,
        );
    }

    /// The camera that shows all of `bounds` centred in a `size` canvas, with a margin.
    pub fn fit(bounds: Bounds, size: (f32, f32)) -> Camera {
        const MARGIN: f32 = 16.0;
        let (w, h) = (bounds.max_x - bounds.min_x, bounds.max_y - bounds.min_y);
        if w <= 0.0 || h <= 0.0 || size.0 <= 2.0 * MARGIN || size.1 <= 2.0 * MARGIN {
            return Camera::default();
        }
        let zoom = ((size.0 - 2.0 * MARGIN) / w)
            .min((size.1 - 2.0 * MARGIN) / h)
            .clamp(ZOOM_RANGE.0, ZOOM_RANGE.1);
        let centre = (
            (bounds.min_x + bounds.max_x) / 2.0,
            (bounds.min_y + bounds.max_y) / 2.0,
        );
        Camera {
            origin: Point::new(
                centre.0 - size.0 / 2.0 / zoom,
                centre.1 - size.1 / 2.0 / zoom,
            ),
            zoom,
        }
    }

    /// The page area a `size` canvas shows.
    pub fn visible(&self, size: (f32, f32)) -> Bounds {
        Bounds {
            min_x: self.origin.x,
            min_y: self.origin.y,
            max_x: self.origin.x + size.0 / self.zoom,
            max_y: self.origin.y + size.1 / self.zoom,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_canvas::PAGE_FRAME;

    #[test]
    fn screen_and_page_are_inverse() {
        let camera = Camera {
            origin: Point::new(-40.0, 25.0),
            zoom: 2.5,
        };
        let p = camera.to_page((100.0, 60.0));
        let (x, y) = camera.to_screen(p);
        assert!((x - 100.0).abs() < 1e-4 && (y - 60.0).abs() < 1e-4);
    }

    #[test]
    fn zoom_keeps_the_anchor_still_and_stays_in_range() {
        let mut camera = Camera::default();
        let before = camera.to_page((300.0, 200.0));
        camera.zoom_at(1.7, (300.0, 200.0));
        let after = camera.to_page((300.0, 200.0));
        assert!((before.x - after.x).abs() < 1e-3 && (before.y - after.y).abs() < 1e-3);
        camera.zoom_at(1e9, (0.0, 0.0));
        assert_eq!(camera.zoom, ZOOM_RANGE.1);
        camera.zoom_at(f32::NAN, (0.0, 0.0));
        assert_eq!(camera.zoom, ZOOM_RANGE.1);
    }

    #[test]
    fn pan_moves_the_page_with_the_pointer() {
        let mut camera = Camera {
            origin: Point::new(0.0, 0.0),
            zoom: 2.0,
        };
        let grabbed = camera.to_page((50.0, 50.0));
        camera.pan((10.0, -4.0));
        let (x, y) = camera.to_screen(grabbed);
        assert!((x - 60.0).abs() < 1e-4 && (y - 46.0).abs() < 1e-4);
    }

    #[test]
    fn fit_shows_the_whole_frame() {
        let camera = Camera::fit(PAGE_FRAME, (1000.0, 700.0));
        let visible = camera.visible((1000.0, 700.0));
        assert!(visible.min_x <= PAGE_FRAME.min_x && visible.max_x >= PAGE_FRAME.max_x);
        assert!(visible.min_y <= PAGE_FRAME.min_y && visible.max_y >= PAGE_FRAME.max_y);
        assert_eq!(Camera::fit(PAGE_FRAME, (10.0, 10.0)), Camera::default());
    }
}
