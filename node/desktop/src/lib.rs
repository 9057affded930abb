//! The desktop peer: an egui window on the same node as the headless mode.
//!
//! The node runs on the async runtime exactly as `--headless` runs it; the window is
//! one more component (`window`, in [`bridge`]) that consumes applied ops and produces
//! edits. [`supervise`] owns the running node and swaps it when the person joins
//! another session from the window. The window keeps its own merged copy of the
//! document ([`replica`]) and draws finished strokes into cached tiles ([`tiles`]).

pub mod app;
pub mod bench;
pub mod bridge;
pub mod camera;
pub mod recent;
pub mod replica;
pub mod tiles;

use std::sync::mpsc;

use anyhow::{Context as _, Result};
use tokio::sync::mpsc as async_mpsc;

use bridge::{UiEvent, UiSink};
use canopy_node::node::{self, NodeConfig, RunningNode};

/// Window size at start, in logical pixels (tests rely on it being fixed).
pub const WINDOW_SIZE: [f32; 2] = [1100.0, 720.0];

/// What the window asks of the supervisor.
#[derive(Debug)]
pub enum Control {
    /// Leave the current session and join this URL.
    Join(String),
    /// Leave the current session and host a new one.
    HostNew,
    /// Leave the current session and host the document in a `.canopy` file.
    Open(std::path::PathBuf),
    /// Create a session on a relay (with its `canopy-host://` URL) and join it.
    HostOnRelay {
        /// The relay host URL.
        url: String,
        /// The session's title.
        title: String,
    },
    /// Stop the node: the window is closing.
    Quit,
}

/// Opens the window for `config` and runs until it is closed (or SIGINT/SIGTERM).
/// `relay_invites`: when the session lives on a relay, the invites to hand out.
pub fn run(
    runtime: tokio::runtime::Runtime,
    config: NodeConfig,
    relay_invites: Option<std::collections::BTreeMap<String, String>>,
) -> Result<()> {
    let title = format!("Canopy — {}", config.name);
    run_window(runtime, config, title, None, relay_invites)
}

/// Runs the window with an optional scripted driver (the benchmark).
pub(crate) fn run_window(
    runtime: tokio::runtime::Runtime,
    config: NodeConfig,
    title: String,
    driver: Option<Box<dyn app::Driver>>,
    relay_invites: Option<std::collections::BTreeMap<String, String>>,
) -> Result<()> {
    let (events_tx, events) = mpsc::channel();
    let (control, control_rx) = async_mpsc::unbounded_channel();
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title(&title)
            .with_app_id("canopy")
            .with_inner_size(WINDOW_SIZE)
            .with_min_inner_size([480.0, 360.0]),
        renderer: eframe::Renderer::Glow,
        // Dithering hides banding in gradients; a whiteboard has none (its tiles are
        // already 8-bit pictures), and software GL pays for it on every pixel.
        dithering: false,
        // The benchmark measures frames, not the display's refresh.
        glow_options: eframe::egui_glow::GlowConfiguration {
            vsync: driver.is_none(),
            ..Default::default()
        },
        ..Default::default()
    };
    let handle = runtime.handle().clone();
    let data = config.data.clone();
    let mut supervisor = None;
    let result = eframe::run_native(
        "canopy",
        options,
        Box::new(|cc| {
            let sink = UiSink::new(events_tx, Some(cc.egui_ctx.clone()));
            if let Some(invites) = relay_invites {
                sink.send(UiEvent::RelayInvites(invites));
            }
            supervisor = Some(handle.spawn(supervise(config, sink, control_rx)));
            Ok(Box::new(app::CanopyApp::new(
                cc,
                events,
                control.clone(),
                driver,
                data,
            )))
        }),
    );
    let _ = control.send(Control::Quit);
    if let Some(supervisor) = supervisor {
        // Let the node close its links and flush its file.
        let _ = runtime.block_on(supervisor);
    }
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result.map_err(|e| anyhow::anyhow!("{e}")).context(
        "cannot open the window (no display? run with --headless, or set DISPLAY/WAYLAND_DISPLAY)",
    )
}

/// Owns the running node: starts it, swaps it on request, stops it at the end.
async fn supervise(
    first: NodeConfig,
    sink: UiSink,
    mut control: async_mpsc::UnboundedReceiver<Control>,
) {
    let mut config = first;
    // Watched from the start, so a signal while a node starts is not the default death.
    let mut signal = std::pin::pin!(canopy_node::node::shutdown_signal());
    let mut running = start(&config, &sink).await;
    loop {
        let request = tokio::select! {
            request = control.recv() => request,
            () = &mut signal => {
                tracing::info!("signal received: closing the window");
                sink.send(UiEvent::Closed);
                Some(Control::Quit)
            }
        };
        let next = match request {
            None | Some(Control::Quit) => break,
            Some(Control::Join(url)) => {
                if let Err(error) = url.trim().parse::<canopy_protocol::JoinUrl>() {
                    sink.send(UiEvent::Failed(format!(
                        "That is not a Canopy invite URL: {error}"
                    )));
                    continue;
                }
                switched(&config, Some(url.trim().to_string()), None, false)
            }
            Some(Control::Open(file)) => switched(&config, None, Some(file), false),
            Some(Control::HostNew) => switched(&config, None, None, true),
            Some(Control::HostOnRelay { url, title }) => {
                sink.send(UiEvent::Busy("Creating the session on the relay…".into()));
                match node::create_on_relay(&url, &title, config.timeout).await {
                    Ok((editor, viewer)) => {
                        sink.send(UiEvent::RelayInvites(
                            [
                                ("editor".to_string(), editor.clone()),
                                ("viewer".to_string(), viewer),
                            ]
                            .into(),
                        ));
                        switched(&config, Some(editor), None, false)
                    }
                    Err(error) => {
                        sink.send(UiEvent::Failed(format!("{error:#}")));
                        continue;
                    }
                }
            }
        };
        if let Some(node) = running.take() {
            node.stop().await;
        }
        sink.send(UiEvent::Busy(match (&next.join, &next.open) {
            (Some(_), _) => "Joining the session…".into(),
            (None, Some(file)) => format!("Opening {}…", file.display()),
            (None, None) => "Starting a new session…".into(),
        }));
        running = start(&next, &sink).await;
        if running.is_some() {
            config = next;
        } else {
            // Back to what worked before, so the window is never left without a node.
            let previous = NodeConfig {
                fresh: false,
                ..config.clone()
            };
            running = start(&previous, &sink).await;
        }
    }
    if let Some(node) = running {
        node.stop().await;
    }
}

/// `config` switched to another session: joined, opened from a file, or a new one
/// (same data directory, address and name; no script or playback carried over).
fn switched(
    config: &NodeConfig,
    join: Option<String>,
    open: Option<std::path::PathBuf>,
    fresh: bool,
) -> NodeConfig {
    NodeConfig {
        join,
        open,
        fresh,
        play: None,
        draw: None,
        ..config.clone()
    }
}

/// Starts a node and its window component; a failure is shown, not fatal.
async fn start(config: &NodeConfig, sink: &UiSink) -> Option<RunningNode> {
    let node = match node::start(config.clone()).await {
        Ok(node) => node,
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), "node did not start");
            sink.send(UiEvent::Failed(format!("{error:#}")));
            return None;
        }
    };
    if let Err(error) = bridge::spawn(&node.graph, &node.session, sink.clone()) {
        sink.send(UiEvent::Failed(format!(
            "the window cannot attach to the node: {error:#}"
        )));
    }
    Some(node)
}
