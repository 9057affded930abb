//! Stroke smoothing shared by every output (screen, PNG, SVG, PDF), so a stroke looks
//! the same everywhere: quadratic curves through the midpoints of the input points.

use crate::op::Point;

/// One piece of a smoothed outline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Segment {
    /// Start of the line.
    MoveTo(Point),
    /// A straight piece to here.
    LineTo(Point),
    /// A quadratic curve via `control` to `to`.
    QuadTo {
        /// Control point.
        control: Point,
        /// End point.
        to: Point,
    },
}

/// What to draw for a stroke's points.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Nothing (no points).
    Empty,
    /// A single dot (all points equal): a disc of the stroke's width.
    Dot(Point),
    /// A smoothed line.
    Path(Vec<Segment>),
}

/// Smooths a stroke's points (consecutive duplicates dropped).
pub fn smooth(points: impl IntoIterator<Item = Point>) -> Shape {
    let mut segments = Vec::new();
    for_each_segment(points, |segment| segments.push(segment));
    match segments.as_slice() {
        [] => Shape::Empty,
        [Segment::MoveTo(only)] => Shape::Dot(*only),
        _ => Shape::Path(segments),
    }
}

/// The segments [`smooth`] gives, handed to `visit` one by one as the points stream
/// past, without allocating (the rasterizer's path, once per stroke per picture). A dot
/// is a lone `MoveTo`.
pub fn for_each_segment(points: impl IntoIterator<Item = Point>, mut visit: impl FnMut(Segment)) {
    let mut last: Option<Point> = None;
    let mut moved = false;
    for p in points {
        match last {
            Some(previous) if previous == p => continue,
            Some(first) if !moved => {
                visit(Segment::MoveTo(first));
                moved = true;
            }
            Some(control) => visit(Segment::QuadTo {
                control,
                to: Point::new((control.x + p.x) / 2.0, (control.y + p.y) / 2.0),
            }),
            None => {}
        }
        last = Some(p);
    }
    match (last, moved) {
        (Some(only), false) => visit(Segment::MoveTo(only)),
        (Some(end), true) => visit(Segment::LineTo(end)),
        (None, _) => {}
    }
}

/// The cubic equivalent of a quadratic piece from `from`: `(c1, c2, to)`.
pub fn quad_to_cubic(from: Point, control: Point, to: Point) -> (Point, Point, Point) {
    let lerp = |a: Point, b: Point| {
        Point::new(a.x + (b.x - a.x) * 2.0 / 3.0, a.y + (b.y - a.y) * 2.0 / 3.0)
    };
    (lerp(from, control), lerp(to, control), to)
}
