//! Exports: PNG of a page, SVG of a page, PDF of the whole document.
//!
//! Each export shows the page's [`Document::page_bounds`] and draws strokes with the
//! same smoothing as the screen ([`crate::smooth`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use pdf_writer::types::{LineCapStyle, LineJoinStyle};
use pdf_writer::{Content, Name, Pdf, Rect, Ref};

use crate::document::{Bounds, Document, Stroke};
use crate::ids::PageId;
use crate::op::{Tool, HIGHLIGHTER_ALPHA};
use crate::render::{encode_png, render_page, RenderError, View};
use crate::smooth::{quad_to_cubic, smooth, Segment, Shape};

/// PDF points per page unit: a 1920-unit frame becomes 960 pt (about A3 landscape).
pub const PDF_POINTS_PER_UNIT: f32 = 0.5;

/// A page as PNG at `scale` pixels per page unit.
pub fn export_png(document: &Document, page: PageId, scale: f32) -> Result<Vec<u8>, RenderError> {
    let view = View::of_bounds(document.page_bounds(page), scale)?;
    encode_png(&render_page(document, page, &view)?)
}

fn stroke_alpha(stroke: &Stroke) -> f32 {
    let alpha = f32::from(stroke.color().a) / 255.0;
    match stroke.tool() {
        Tool::Pen => alpha,
        Tool::Highlighter => alpha * HIGHLIGHTER_ALPHA,
    }
}

/// A page as a standalone SVG document.
pub fn export_svg(document: &Document, page: PageId) -> Result<String, RenderError> {
    if !document.has_page(page) {
        return Err(RenderError::NoSuchPage(page));
    }
    let Bounds {
        min_x,
        min_y,
        max_x,
        max_y,
    } = document.page_bounds(page);
    let (width, height) = (max_x - min_x, max_y - min_y);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="{min_x} {min_y} {width} {height}">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{min_x}" y="{min_y}" width="{width}" height="{height}" fill="#ffffff"/>"##
    );
    for stroke in document.strokes(page) {
        let color = stroke.color().to_hex_rgb();
        let opacity = stroke_alpha(stroke);
        let w = stroke.width();
        match smooth(stroke.points()) {
            Shape::Empty => {}
            Shape::Dot(p) => {
                let _ = writeln!(
                    svg,
                    r#"<circle cx="{}" cy="{}" r="{}" fill="{color}" fill-opacity="{opacity:.3}"/>"#,
                    p.x,
                    p.y,
                    w / 2.0
                );
            }
            Shape::Path(segments) => {
                let mut d = String::new();
                for segment in segments {
                    let _ = match segment {
                        Segment::MoveTo(p) => write!(d, "M{} {}", p.x, p.y),
                        Segment::LineTo(p) => write!(d, "L{} {}", p.x, p.y),
                        Segment::QuadTo { control, to } => {
                            write!(d, "Q{} {} {} {}", control.x, control.y, to.x, to.y)
                        }
                    };
                }
                let _ = writeln!(
                    svg,
                    r#"<path d="{d}" fill="none" stroke="{color}" stroke-opacity="{opacity:.3}" stroke-width="{w}" stroke-linecap="round" stroke-linejoin="round"/>"#
                );
            }
        }
    }
    svg.push_str("</svg>\n");
    Ok(svg)
}

/// Every visible page, in order, as one PDF.
pub fn export_pdf(document: &Document) -> Vec<u8> {
    let pages = document.pages();
    let mut next = 1;
    let mut new_ref = || {
        let id = Ref::new(next);
        next += 1;
        id
    };
    let catalog = new_ref();
    let tree = new_ref();
    let page_refs: Vec<(Ref, Ref)> = pages.iter().map(|_| (new_ref(), new_ref())).collect();

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_refs.iter().map(|(page, _)| *page))
        .count(pages.len() as i32);

    // One graphics state per distinct stroke opacity, shared by all pages.
    let mut alphas: BTreeMap<u32, (Ref, String)> = BTreeMap::new();
    let mut contents = Vec::with_capacity(pages.len());
    for page in &pages {
        let bounds = document.page_bounds(*page);
        let s = PDF_POINTS_PER_UNIT;
        let mut content = Content::new();
        // Page units (y down) to PDF points (y up).
        content.transform([s, 0.0, 0.0, -s, -bounds.min_x * s, bounds.max_y * s]);
        content.set_line_cap(LineCapStyle::RoundCap);
        content.set_line_join(LineJoinStyle::RoundJoin);
        for stroke in document.strokes(*page) {
            let alpha = stroke_alpha(stroke);
            let key = (alpha * 1000.0).round() as u32;
            let count = alphas.len();
            let (_, state) = alphas
                .entry(key)
                .or_insert_with(|| (new_ref(), format!("A{count}")));
            let c = stroke.color();
            content.save_state();
            content.set_parameters(Name(state.as_bytes()));
            content.set_stroke_rgb(
                f32::from(c.r) / 255.0,
                f32::from(c.g) / 255.0,
                f32::from(c.b) / 255.0,
            );
            content.set_line_width(stroke.width());
            match smooth(stroke.points()) {
                Shape::Empty => {}
                // A zero-length line with round caps is a disc of the line's width.
                Shape::Dot(p) => {
                    content.move_to(p.x, p.y).line_to(p.x, p.y).stroke();
                }
                Shape::Path(segments) => {
                    let mut at = None;
                    for segment in segments {
                        match segment {
                            Segment::MoveTo(p) => {
                                content.move_to(p.x, p.y);
                                at = Some(p);
                            }
                            Segment::LineTo(p) => {
                                content.line_to(p.x, p.y);
                                at = Some(p);
                            }
                            Segment::QuadTo { control, to } => {
                                let from = at.unwrap_or(control);
                                let (c1, c2, end) = quad_to_cubic(from, control, to);
                                content.cubic_to(c1.x, c1.y, c2.x, c2.y, end.x, end.y);
                                at = Some(to);
                            }
                        }
                    }
                    content.stroke();
                }
            }
            content.restore_state();
        }
        contents.push((bounds, content.finish()));
    }
    for ((page_ref, content_ref), (bounds, content)) in page_refs.iter().zip(&contents) {
        let s = PDF_POINTS_PER_UNIT;
        let mut page = pdf.page(*page_ref);
        page.parent(tree)
            .media_box(Rect::new(
                0.0,
                0.0,
                (bounds.max_x - bounds.min_x) * s,
                (bounds.max_y - bounds.min_y) * s,
            ))
            .contents(*content_ref);
        let mut resources = page.resources();
        let mut states = resources.ext_g_states();
        for (state_ref, name) in alphas.values() {
            states.pair(Name(name.as_bytes()), *state_ref);
        }
        drop(states);
        drop(resources);
        drop(page);
        pdf.stream(*content_ref, content);
    }
    for (key, (state_ref, _)) in &alphas {
        let alpha = *key as f32 / 1000.0;
        pdf.ext_graphics(*state_ref)
            .stroking_alpha(alpha)
            .non_stroking_alpha(alpha);
    }
    pdf.finish()
}
