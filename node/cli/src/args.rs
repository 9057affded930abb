//! The command line: what each command takes. Parsing only; `main` dispatches.

use std::net::SocketAddr;
use std::path::PathBuf;

use canopy_protocol::DEFAULT_PORT;
use canopy_relay::cli::RelayCommand;
use clap::{Args, Parser, Subcommand};

/// Canopy: a collaborative whiteboard in which every node is both client and server.
#[derive(Debug, Parser)]
#[command(name = "canopy", version, about, long_about = None)]
pub struct Cli {
    /// Log filter, e.g. `info` or `canopy_node=debug` (also read from RUST_LOG).
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    pub log: String,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Host a new session and print its invite URLs.
    Host(HostArgs),
    /// Join a session by its canopy:// URL (and host children of your own).
    Join(JoinArgs),
    /// Host the document saved in a .canopy file (as its session if this data
    /// directory holds that session's key, otherwise as a new session).
    Open(OpenArgs),
    /// Replay a recording with its original timing, hosted as a new session (or
    /// into a live one with --into URL).
    Play(PlayArgs),
    /// Run a relay server: the always-on root of many sessions, with an admin API.
    Relay(RelayCommand),
    /// Measure the desktop window (frame times while panning a 100,000-stroke page).
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
    /// List the microphones and speakers Canopy can use (names for --input-device
    /// and --output-device).
    Devices {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a running node's status as JSON.
    Status {
        #[command(flatten)]
        data: DataArg,
    },
    /// Revoke an invite of the session a running node hosts: nobody can join with
    /// it again, and whoever joined with it (and everyone they let in) is cut off,
    /// here and everywhere in the tree. Only the session's host can.
    Revoke {
        #[command(flatten)]
        data: DataArg,
        /// The invite: its URL, its token, or a grant id as the log prints it.
        invite: String,
        /// Also remove everything they drew or edited, on every replica (without
        /// it, their edits up to now stay). Only when first revoking the invite.
        #[arg(long)]
        remove_edits: bool,
    },
    /// Mute or unmute a running node, or set its playback volumes.
    Audio {
        #[command(flatten)]
        data: DataArg,
        /// Stop sending this node's voice.
        #[arg(long, conflicts_with = "unmute")]
        mute: bool,
        /// Send it again.
        #[arg(long)]
        unmute: bool,
        /// Master playback volume, 0 to 2.
        #[arg(long)]
        master: Option<f32>,
        /// Playback volume of one link, LINK=GAIN (link ids as in `canopy status`).
        #[arg(long, value_parser = parse_link_volume)]
        volume: Vec<(u64, f32)>,
    },
    /// Print a running node's component graph (JSON, or Graphviz with --dot).
    Introspect {
        #[command(flatten)]
        data: DataArg,
        /// Graphviz DOT instead of JSON.
        #[arg(long)]
        dot: bool,
    },
    /// Render a document to a file (.png, .svg or .pdf): a saved .canopy file, or
    /// the document of the node running with --data.
    Export {
        /// A .canopy file to render (instead of a running node's document).
        file: Option<PathBuf>,
        #[command(flatten)]
        data: DataArg,
        /// Output file; the extension picks the format. A PDF holds every page.
        #[arg(long)]
        out: PathBuf,
        /// Page (from 0) for PNG and SVG.
        #[arg(long, default_value_t = 0)]
        page: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Open the window on a generated document, pan it, print frame times.
    Desktop {
        /// Strokes on the page.
        #[arg(long, default_value_t = 100_000)]
        strokes: usize,
        /// Frames to measure while panning.
        #[arg(long, default_value_t = 600)]
        frames: usize,
    },
}

/// `canopy host`.
#[derive(Debug, Args)]
pub struct HostArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Start a fresh session even if the data directory holds one.
    #[arg(long)]
    pub new: bool,
    /// Host on a relay instead: create the session there with this
    /// canopy-host:// URL (from the relay's operator) and join it.
    #[arg(long, value_name = "HOST_URL", conflicts_with = "new")]
    pub on_relay: Option<String>,
    /// Title of the session created with --on-relay.
    #[arg(long, default_value = "", requires = "on_relay")]
    pub title: String,
}

/// `canopy join`.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The join URL: canopy://HOST:PORT/SESSION?fp=…&invite=…
    pub url: String,
    #[command(flatten)]
    pub node: NodeArgs,
}

/// `canopy open`.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// The .canopy file.
    pub file: PathBuf,
    #[command(flatten)]
    pub node: NodeArgs,
}

/// `canopy play`.
#[derive(Debug, Args)]
pub struct PlayArgs {
    /// The .canopy recording.
    pub file: PathBuf,
    /// Pace: 1 is as recorded, 10 is ten times faster.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Seconds into the recording to start from (earlier ops appear at once).
    #[arg(long, default_value_t = 0.0)]
    pub from: f64,
    /// Replay into this live session instead of hosting a new one.
    #[arg(long)]
    pub into: Option<String>,
    #[command(flatten)]
    pub node: NodeArgs,
}

#[derive(Debug, Args)]
pub struct DataArg {
    /// Data directory of the node (default: the XDG data directory).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Run without a window (servers, scripts, tests); without it a desktop window opens.
    #[arg(long)]
    pub headless: bool,
    /// UDP address to listen on.
    #[arg(long, default_value_t = SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)))]
    pub listen: SocketAddr,
    /// Address invites carry, HOST[:PORT] (default: the listen address, or this
    /// machine's primary address when listening on all interfaces).
    #[arg(long)]
    pub public_addr: Option<String>,
    /// Data directory (default: the XDG data directory).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Name shown to others.
    #[arg(long, default_value = "canopy")]
    pub name: String,
    /// Drawing script to play (JSON Lines; see README).
    #[arg(long)]
    pub draw: Option<PathBuf>,
    /// Seconds to wait for another node to answer.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Speak this 48 kHz WAV file instead of a microphone (played once).
    #[arg(long, conflicts_with = "input_device")]
    pub audio_in: Option<PathBuf>,
    /// Speak the --audio-in file over and over.
    #[arg(long, requires = "audio_in")]
    pub audio_loop: bool,
    /// Write what this node hears to a WAV file (48 kHz mono).
    #[arg(long)]
    pub audio_out: Option<PathBuf>,
    /// Microphone to speak through (`canopy devices` lists them; `default` is the
    /// system's). The window uses the default unless told; headless nodes use none.
    #[arg(long, value_name = "NAME")]
    pub input_device: Option<String>,
    /// Speakers to play through (as --input-device).
    #[arg(long, value_name = "NAME")]
    pub output_device: Option<String>,
    /// Run without audio (no mixing, no audio links, no sound devices).
    #[arg(long, conflicts_with_all = ["audio_in", "audio_out", "input_device", "output_device"])]
    pub no_audio: bool,
    /// Seconds the printed invites stay valid (default: no expiry).
    #[arg(long)]
    pub invite_ttl: Option<u64>,
    /// Seconds of silence after which a link counts as dead (and is rejoined).
    #[arg(long, default_value_t = 20)]
    pub idle_timeout: u64,
}

impl Cli {
    /// Parses the process's arguments. `canopy canopy://…` (how a desktop opens a
    /// link) joins that session; `canopy` alone opens a window hosting one.
    pub fn from_env() -> Self {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let cli = match args.as_slice() {
            [program, url] if url.to_string_lossy().starts_with("canopy://") => {
                Cli::parse_from([program.clone(), "join".into(), url.clone()])
            }
            _ => Cli::parse(),
        };
        if cli.command.is_some() {
            return cli;
        }
        Cli::parse_from(args.into_iter().chain(["host".into()]))
    }
}

fn parse_link_volume(text: &str) -> std::result::Result<(u64, f32), String> {
    let (link, gain) = text
        .split_once('=')
        .ok_or_else(|| format!("expected LINK=GAIN, got {text:?}"))?;
    let link = link
        .trim()
        .parse()
        .map_err(|_| format!("{link:?} is not a link id"))?;
    let gain: f32 = gain
        .trim()
        .parse()
        .map_err(|_| format!("{gain:?} is not a number"))?;
    if !(0.0..=canopy_node::audio::MAX_GAIN).contains(&gain) {
        return Err(format!(
            "volumes go from 0 to {}",
            canopy_node::audio::MAX_GAIN
        ));
    }
    Ok((link, gain))
}
