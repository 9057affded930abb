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
    let mut unique: Vec<Point> = Vec::new();
    for p in points {
        if unique.last() != Some(&p) {
            unique.push(p);
        }
    }
    match unique.as_slice() {
        [] => Shape::Empty,
        [only] => Shape::Dot(*only),
        [a, b] => Shape::Path(vec![Segment::MoveTo(*a), Segment::LineTo(*b)]),
        many => {
            let mut segments = Vec::with_capacity(many.len() + 1);
            segments.push(Segment::MoveTo(many[0]));
            for pair in many[1..].windows(2) {
                let (control, next) = (pair[0], pair[1]);
                let to = Point::new((control.x + next.x) / 2.0, (control.y + next.y) / 2.0);
                segments.push(Segment::QuadTo { control, to });
            }
            segments.push(Segment::LineTo(many[many.len() - 1]));
            Shape::Path(segments)
        }
    }
}

/// The cubic equivalent of a quadratic piece from `from`: `(c1, c2, to)`.
pub fn quad_to_cubic(from: Point, control: Point, to: Point) -> (Point, Point, Point) {
    let lerp = |a: Point, b: Point| {
        Point::new(a.x + (b.x - a.x) * 2.0 / 3.0, a.y + (b.y - a.y) * 2.0 / 3.0)
    };
    (lerp(from, control), lerp(to, control), to)
}
