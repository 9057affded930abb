//! `canopy bench desktop`: frame times of the real window panning over a page of
//! 100,000 strokes (opened from a `.canopy` file, as a person would), printed as
//! `scenario=<name> value=<n> unit=<u>` lines.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use canopy_canvas::{Color, Document, NodeId, Point, Tool, FIRST_PAGE, PAGE_FRAME};
use canopy_protocol::{SessionId, WireOp};

use crate::app::{DriveState, Driver};
use crate::camera::Camera;
use canopy_node::node::NodeConfig;
use canopy_node::storage::{now_ms, Meta, Store};

/// Writes a `.canopy` file holding `strokes` 20-point strokes spread over page 1.
pub fn write_document(path: &Path, strokes: usize) -> Result<()> {
    let mut document = Document::new(NodeId(1));
    let mut store = Store::create(
        path,
        &Meta {
            session: SessionId([7; 32]),
            node: NodeId(1),
            created_ms: now_ms(),
            title: "benchmark".into(),
            // Unsigned: opening it imports it as the opener's own (as for any file
            // whose authors' signatures cannot come along).
            signed: false,
        },
    )?;
    let mut batch = Vec::new();
    let colors = [
        Color::rgb(20, 20, 20),
        Color::rgb(208, 48, 48),
        Color::rgb(32, 96, 208),
    ];
    for i in 0..strokes {
        let (x, y) = ((i * 37 % 1880) as f32, (i * 53 % 1040) as f32);
        let points: Vec<Point> = (0..20)
            .map(|k| Point::new(x + k as f32 * 2.0, y + (k as f32 * 0.5).sin() * 8.0))
            .collect();
        let ops = document.draw_stroke(FIRST_PAGE, Tool::Pen, colors[i % 3], 2.0, &points)?;
        batch.extend(ops.iter().map(|op| (now_ms(), WireOp::from_op(op))));
        if batch.len() >= 20_000 {
            store.append(&batch)?;
            batch.clear();
        }
    }
    store.append(&batch)?;
    Ok(())
}

/// Opens the window on a generated document, waits until it is loaded and drawn, then
/// pans for `frames` frames and prints the frame times.
pub fn run(runtime: tokio::runtime::Runtime, strokes: usize, frames: usize) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("canopy-bench-desktop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = dir.join("bench.canopy");
    eprintln!(
        "writing a {strokes}-stroke document to {} …",
        file.display()
    );
    write_document(&file, strokes)?;
    let config = NodeConfig {
        open: Some(file),
        ..NodeConfig::new(dir.join("data"), "bench")
    };
    let driver = PanDriver::new(strokes, frames);
    let result = crate::run_window(
        runtime,
        config,
        "Canopy — benchmark".into(),
        Some(Box::new(driver)),
        None,
    );
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[derive(Debug, PartialEq)]
enum Phase {
    Loading,
    Zooming,
    /// The baseline: the same page at 100 %, not moving (the window repaints anyway).
    Still,
    Panning,
    Done,
}

/// Waits for the document, zooms to 100 %, pans back and forth across the page.
struct PanDriver {
    strokes: usize,
    frames: usize,
    started: Instant,
    phase: Phase,
    last: Option<Instant>,
    times: Vec<Duration>,
    still: Vec<Duration>,
    unsettled: usize,
    velocity: (f32, f32),
    /// When the window first held the whole document.
    loaded: Option<Duration>,
}

impl PanDriver {
    fn new(strokes: usize, frames: usize) -> Self {
        Self {
            strokes,
            frames,
            started: Instant::now(),
            phase: Phase::Loading,
            last: None,
            times: Vec::with_capacity(frames),
            still: Vec::with_capacity(frames / 2),
            unsettled: 0,
            velocity: (7.0, 4.0),
            loaded: None,
        }
    }

    fn report(&self) {
        let (still50, still99) = (percentile(&self.still, 0.5), percentile(&self.still, 0.99));
        let (pan50, pan99) = (percentile(&self.times, 0.5), percentile(&self.times, 0.99));
        println!("scenario=desktop_still_100k_frame_p50 value={still50:.2} unit=ms");
        println!("scenario=desktop_still_100k_frame_p99 value={still99:.2} unit=ms");
        println!("scenario=desktop_pan_100k_frame_p50 value={pan50:.2} unit=ms");
        println!("scenario=desktop_pan_100k_frame_p99 value={pan99:.2} unit=ms");
        println!(
            "scenario=desktop_pan_100k_frame_max value={:.2} unit=ms",
            percentile(&self.times, 1.0)
        );
        println!(
            "scenario=desktop_pan_vs_still_p99 value={:.2} unit=ratio",
            pan99 / still99.max(1e-9)
        );
        println!(
            "scenario=desktop_pan_100k_frames_with_tiles_missing value={} unit=frames_of_{}",
            self.unsettled,
            self.times.len()
        );
    }
}

impl Driver for PanDriver {
    fn frame(&mut self, state: DriveState<'_>) -> bool {
        let now = Instant::now();
        match self.phase {
            Phase::Loading => {
                let loaded = state
                    .document
                    .is_some_and(|d| d.stroke_count() >= self.strokes);
                if loaded && self.loaded.is_none() {
                    // The window holds the document; what follows is painting it.
                    self.loaded = Some(self.started.elapsed());
                    println!(
                        "scenario=desktop_open_100k_strokes_document value={:.0} unit=ms",
                        self.started.elapsed().as_secs_f64() * 1000.0
                    );
                }
                if state.ready && loaded {
                    println!(
                        "scenario=desktop_open_100k_strokes_first_page value={:.0} unit=ms",
                        self.started.elapsed().as_secs_f64() * 1000.0
                    );
                    *state.camera = Camera {
                        origin: Point::new(PAGE_FRAME.min_x, PAGE_FRAME.min_y),
                        zoom: 1.0,
                    };
                    self.phase = Phase::Zooming;
                }
                if self.started.elapsed() > Duration::from_secs(300) {
                    eprintln!("the document did not load within 5 minutes");
                    return true;
                }
            }
            Phase::Zooming => {
                if state.ready {
                    self.phase = Phase::Still;
                    self.last = Some(now);
                }
            }
            Phase::Still => {
                if let Some(last) = self.last {
                    self.still.push(now - last);
                }
                self.last = Some(now);
                if self.still.len() >= self.frames / 2 {
                    self.phase = Phase::Panning;
                }
            }
            Phase::Done => return true,
            Phase::Panning => {
                if let Some(last) = self.last {
                    self.times.push(now - last);
                }
                self.last = Some(now);
                if state.tiles_missing > 0 {
                    self.unsettled += 1;
                }
                let camera = state.camera;
                let visible = camera.visible(state.canvas_size);
                if visible.max_x > PAGE_FRAME.max_x || visible.min_x < PAGE_FRAME.min_x {
                    self.velocity.0 = -self.velocity.0;
                }
                if visible.max_y > PAGE_FRAME.max_y || visible.min_y < PAGE_FRAME.min_y {
                    self.velocity.1 = -self.velocity.1;
                }
                camera.pan((-self.velocity.0, -self.velocity.1));
                if self.times.len() >= self.frames {
                    self.report();
                    self.phase = Phase::Done;
                    return true;
                }
            }
        }
        false
    }
}

/// The `q` quantile of `samples`, in milliseconds.
fn percentile(samples: &[Duration], q: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted
        .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
