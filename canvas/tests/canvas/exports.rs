//! PNG, SVG and PDF exports, checked with independent tools: `rsvg-convert`
//! (librsvg2-bin), `qpdf --check` and `pdftoppm` (poppler-utils). `make test`
//! installs them.

use std::path::Path;
use std::process::Command;

use canopy_canvas::{export_pdf, export_png, export_svg, render_page, Pixmap, View, FIRST_PAGE};

use crate::rendering::{compare, scene};

fn run(tool: &str, args: &[&str]) {
    let output = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool} ({e}); `make test` installs it"));
    assert!(
        output.status.success(),
        "{tool} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Our own rendering of the whole exported area of the scene's page, at scale 1.
fn reference() -> Pixmap {
    let doc = scene();
    let view = View::of_bounds(doc.page_bounds(FIRST_PAGE), 1.0).unwrap();
    render_page(&doc, FIRST_PAGE, &view).unwrap()
}

#[test]
fn png_export_decodes_to_the_rendered_page() {
    let png = export_png(&scene(), FIRST_PAGE, 1.0).unwrap();
    let decoded = Pixmap::decode_png(&png).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (1920, 1080));
    assert_eq!(compare(&decoded, &reference()).0, 0.0);
}

#[test]
fn svg_export_renders_with_librsvg_like_our_raster() {
    let dir = tempfile::tempdir().unwrap();
    let svg_path = dir.path().join("page.svg");
    let png_path = dir.path().join("page.png");
    std::fs::write(&svg_path, export_svg(&scene(), FIRST_PAGE).unwrap()).unwrap();
    run("rsvg-convert", &["-o", png(&png_path), png(&svg_path)]);
    let theirs = Pixmap::load_png(&png_path).unwrap();
    let (mean, far) = compare(&theirs, &reference());
    assert!(
        mean < 1.0 && far < 0.002,
        "librsvg's picture differs: mean {mean:.3}, far {far:.5}"
    );
}

#[test]
fn pdf_export_is_valid_and_has_every_page() {
    let mut doc = scene();
    doc.new_page().unwrap();
    let third = doc.new_page().unwrap().id;
    doc.draw_stroke(
        third,
        canopy_canvas::Tool::Pen,
        canopy_canvas::Color::rgb(0, 0, 0),
        5.0,
        &[
            canopy_canvas::Point::new(10.0, 10.0),
            canopy_canvas::Point::new(500.0, 500.0),
        ],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pdf_path = dir.path().join("doc.pdf");
    std::fs::write(&pdf_path, export_pdf(&doc)).unwrap();
    run("qpdf", &["--check", png(&pdf_path)]);
    // 0.5 pt per unit at 144 dpi is one pixel per unit: the same scale as our raster.
    let prefix = dir.path().join("page");
    run(
        "pdftoppm",
        &["-png", "-r", "144", png(&pdf_path), png(&prefix)],
    );
    let mut pages: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("page-")
        })
        .collect();
    pages.sort();
    assert_eq!(pages.len(), 3, "one PDF page per document page");
    let first = Pixmap::load_png(&pages[0]).unwrap();
    let (mean, far) = compare(&first, &reference());
    assert!(
        mean < 1.5 && far < 0.003,
        "poppler's first page differs: mean {mean:.3}, far {far:.5}"
    );
}

fn png(path: &Path) -> &str {
    path.to_str().unwrap()
}
