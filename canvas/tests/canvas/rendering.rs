//! Rasterising: what lands where, anti-aliasing, translucency, and a golden image.

use canopy_canvas::{render_page, Color, Document, NodeId, Pixmap, Point, Tool, View, FIRST_PAGE};

/// The fixed scene used by the golden image and the export comparisons.
pub fn scene() -> Document {
    let mut doc = Document::new(NodeId(1));
    let red = Color::rgb(208, 48, 48);
    doc.draw_stroke(
        FIRST_PAGE,
        Tool::Pen,
        red,
        10.0,
        &[Point::new(40.0, 60.0), Point::new(360.0, 60.0)],
    )
    .unwrap();
    let wave: Vec<Point> = (0..60)
        .map(|i| Point::new(40.0 + i as f32 * 5.0, 160.0 + (i as f32 / 5.0).sin() * 40.0))
        .collect();
    doc.draw_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(32, 64, 200), 4.0, &wave)
        .unwrap();
    doc.draw_stroke(
        FIRST_PAGE,
        Tool::Highlighter,
        Color::rgb(250, 220, 0),
        30.0,
        &[Point::new(60.0, 250.0), Point::new(340.0, 250.0)],
    )
    .unwrap();
    doc.draw_stroke(
        FIRST_PAGE,
        Tool::Pen,
        Color::rgb(0, 0, 0),
        12.0,
        &[Point::new(380.0, 20.0)],
    )
    .unwrap();
    doc
}

/// The scene's corner of the page, 400×300 at scale 1.
pub fn scene_view() -> View {
    View {
        origin: Point::new(0.0, 0.0),
        scale: 1.0,
        width: 400,
        height: 300,
    }
}

pub fn pixel(pixmap: &Pixmap, x: u32, y: u32) -> [u8; 4] {
    let p = pixmap.pixel(x, y).unwrap().demultiply();
    [p.red(), p.green(), p.blue(), p.alpha()]
}

/// Mean absolute difference per channel, and the share of pixels differing by more
/// than 64 in some channel.
pub fn compare(a: &Pixmap, b: &Pixmap) -> (f64, f64) {
    assert_eq!(
        (a.width(), a.height()),
        (b.width(), b.height()),
        "sizes differ"
    );
    let (mut total, mut far) = (0u64, 0u64);
    for (pa, pb) in a.data().chunks(4).zip(b.data().chunks(4)) {
        let diffs: Vec<u64> = pa
            .iter()
            .zip(pb)
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .collect();
        total += diffs.iter().sum::<u64>();
        if diffs.iter().any(|d| *d > 64) {
            far += 1;
        }
    }
    let pixels = u64::from(a.width()) * u64::from(a.height());
    (
        total as f64 / (pixels * 4) as f64,
        far as f64 / pixels as f64,
    )
}

#[test]
fn strokes_land_where_drawn_with_smooth_edges() {
    let picture = render_page(&scene(), FIRST_PAGE, &scene_view()).unwrap();
    let [r, g, b, _] = pixel(&picture, 200, 60);
    assert!(
        r > 190 && g < 70 && b < 70,
        "red line centre is {r},{g},{b}"
    );
    assert_eq!(
        pixel(&picture, 200, 100),
        [255, 255, 255, 255],
        "blank page is white"
    );
    // Anti-aliasing: across the slanted wave, some pixels blend blue and white.
    let column: Vec<[u8; 4]> = (100..230).map(|y| pixel(&picture, 101, y)).collect();
    let blended = column.iter().filter(|p| p[0] > 40 && p[0] < 230).count();
    assert!(blended >= 1, "no intermediate edge pixels: {column:?}");
    // Round caps reach past the end point by half the width.
    let [_, g, _, _] = pixel(&picture, 362, 60);
    assert!(g < 200, "no round cap past the end");
    // A single point is a dot of the stroke's width.
    assert_eq!(&pixel(&picture, 380, 20)[..3], &[0, 0, 0]);
}

#[test]
fn the_highlighter_is_translucent() {
    let picture = render_page(&scene(), FIRST_PAGE, &scene_view()).unwrap();
    let [r, g, b, _] = pixel(&picture, 200, 250);
    assert!(
        r > 245 && g > 235 && g < 250,
        "highlighter over white: {r},{g},{b}"
    );
    assert!(
        (150..235).contains(&b),
        "highlighter should let white through: {r},{g},{b}"
    );
}

#[test]
fn matches_the_golden_image() {
    let picture = render_page(&scene(), FIRST_PAGE, &scene_view()).unwrap();
    let golden_path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/scene.png");
    if std::env::var_os("CANOPY_BLESS").is_some() {
        picture.save_png(golden_path).unwrap();
    }
    let golden =
        Pixmap::load_png(golden_path).expect("tests/data/scene.png (CANOPY_BLESS=1 rewrites it)");
    let (mean, far) = compare(&picture, &golden);
    assert!(
        mean < 0.5 && far < 0.001,
        "differs from the golden image: mean {mean:.3}, far {far:.5}"
    );
}

#[test]
fn any_scale_and_bad_views_are_refused() {
    let doc = scene();
    let half = render_page(
        &doc,
        FIRST_PAGE,
        &View {
            scale: 0.5,
            width: 200,
            height: 150,
            ..scene_view()
        },
    )
    .unwrap();
    let [r, _, _, _] = pixel(&half, 100, 30);
    assert!(r > 190, "the red line at half scale");
    assert!(render_page(
        &doc,
        FIRST_PAGE,
        &View {
            width: 0,
            ..scene_view()
        }
    )
    .is_err());
    assert!(render_page(
        &doc,
        FIRST_PAGE,
        &View {
            scale: f32::NAN,
            ..scene_view()
        }
    )
    .is_err());
    let ghost = canopy_canvas::OpId {
        node: NodeId(5),
        seq: 5,
    };
    assert_eq!(
        render_page(&doc, ghost, &scene_view())
            .unwrap_err()
            .to_string(),
        format!("page {ghost} does not exist")
    );
}

proptest::proptest! {
    /// Bands drawn separately stack into exactly the whole picture, wherever the
    /// cuts fall and at any scale (what lets a node draw a page on several cores).
    #[test]
    fn bands_stack_into_exactly_the_whole_page(
        cuts in proptest::collection::vec(1u32..299, 0..4),
        scale in 0.5f32..2.5,
        dx in -50.0f32..50.0,
    ) {
        let doc = scene();
        let view = View { origin: Point::new(dx, -10.0), scale, ..scene_view() };
        let whole = render_page(&doc, FIRST_PAGE, &view).unwrap();
        let mut edges: Vec<u32> = cuts;
        edges.extend([0, view.height]);
        edges.sort_unstable();
        edges.dedup();
        let mut stacked = Vec::new();
        for pair in edges.windows(2) {
            let band = canopy_canvas::render_band(&doc, FIRST_PAGE, &view, pair[0]..pair[1]).unwrap();
            proptest::prop_assert_eq!(band.height(), pair[1] - pair[0]);
            stacked.extend_from_slice(band.data());
        }
        proptest::prop_assert!(stacked == whole.data(), "stacked bands differ from the page");
    }
}
