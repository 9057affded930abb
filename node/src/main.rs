//! `canopy`: the one binary of Canopy — desktop peer, relay server and tools.
//!
//! This file reads like a table of contents: parse the command line, set up logging,
//! hand over to the module that does the work.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use canopy_node::control::{self, Request};
use canopy_node::node::{self, NodeConfig};
use canopy_protocol::DEFAULT_PORT;
use clap::{Args, Parser, Subcommand};

/// Canopy: a collaborative whiteboard in which every node is both client and server.
#[derive(Debug, Parser)]
#[command(name = "canopy", version, about, long_about = None)]
struct Cli {
    /// Log filter, e.g. `info` or `canopy_node=debug` (also read from RUST_LOG).
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    log: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Host a new session and print its invite URLs.
    Host {
        #[command(flatten)]
        node: NodeArgs,
        /// Start a fresh session even if the data directory holds one.
        #[arg(long)]
        new: bool,
    },
    /// Join a session by its canopy:// URL (and host children of your own).
    Join {
        /// The join URL: canopy://HOST:PORT/SESSION?fp=…&invite=…
        url: String,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Host the document saved in a .canopy file (as its session if this data
    /// directory holds that session's key, otherwise as a new session).
    Open {
        /// The .canopy file.
        file: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Replay a recording with its original timing, hosted as a new session (or
    /// into a live one with --into URL).
    Play {
        /// The .canopy recording.
        file: PathBuf,
        /// Pace: 1 is as recorded, 10 is ten times faster.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Seconds into the recording to start from (earlier ops appear at once).
        #[arg(long, default_value_t = 0.0)]
        from: f64,
        /// Replay into this live session instead of hosting a new one.
        #[arg(long)]
        into: Option<String>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Print a running node's status as JSON.
    Status {
        #[command(flatten)]
        data: DataArg,
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

#[derive(Debug, Args)]
struct DataArg {
    /// Data directory of the node (default: the XDG data directory).
    #[arg(long)]
    data: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct NodeArgs {
    /// Run without a window (the desktop window is not part of this build yet).
    #[arg(long)]
    headless: bool,
    /// UDP address to listen on.
    #[arg(long, default_value_t = SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)))]
    listen: SocketAddr,
    /// Address invites carry, HOST[:PORT] (default: the listen address, or this
    /// machine's primary address when listening on all interfaces).
    #[arg(long)]
    public_addr: Option<String>,
    /// Data directory (default: the XDG data directory).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Name shown to others.
    #[arg(long, default_value = "canopy")]
    name: String,
    /// Drawing script to play (JSON Lines; see README).
    #[arg(long)]
    draw: Option<PathBuf>,
    /// Seconds to wait for another node to answer.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Speak this 48 kHz WAV file (headless audio input; played once).
    #[arg(long)]
    audio_in: Option<PathBuf>,
    /// Write what this node hears to a WAV file (48 kHz mono).
    #[arg(long)]
    audio_out: Option<PathBuf>,
    /// Run without audio (no mixing, no audio links).
    #[arg(long, conflicts_with_all = ["audio_in", "audio_out"])]
    no_audio: bool,
    /// Seconds the printed invites stay valid (default: no expiry).
    #[arg(long)]
    invite_ttl: Option<u64>,
    /// Seconds of silence after which a link counts as dead (and is rejoined).
    #[arg(long, default_value_t = 20)]
    idle_timeout: u64,
}

fn data_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    match given {
        Some(dir) => Ok(dir),
        None => canopy_node::identity::default_data_dir(),
    }
}

fn node_config(
    args: NodeArgs,
    join: Option<String>,
    fresh: bool,
    open: Option<PathBuf>,
) -> Result<NodeConfig> {
    if !args.headless {
        bail!("the desktop window is not part of this build yet; run with --headless");
    }
    Ok(NodeConfig {
        data: data_dir(args.data)?,
        listen: args.listen,
        public_address: args.public_addr,
        name: args.name,
        draw: args.draw,
        join,
        fresh,
        timeout: Duration::from_secs(args.timeout.max(1)),
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        print_invites: true,
        invite_ttl: args.invite_ttl.map(Duration::from_secs),
        open,
        play: None,
        audio: (!args.no_audio).then_some(canopy_node::audio::AudioConfig {
            input: args.audio_in,
            output: args.audio_out,
        }),
    })
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            None => bail!("say what to do: canopy host --headless, canopy join URL --headless, … (see canopy --help)"),
            Some(Command::Host { node, new }) => node::run(node_config(node, None, new, None)?).await,
            Some(Command::Open { file, node }) => {
                let config = node_config(node, None, false, Some(file.clone()))?;
                node::run(config).await.with_context(|| format!("while hosting {}", file.display()))
            }
            Some(Command::Play { file, speed, from, into, node }) => {
                if !(speed.is_finite() && speed > 0.0) {
                    bail!("--speed must be a positive number, got {speed}");
                }
                if !(from.is_finite() && from >= 0.0) {
                    bail!("--from must be a number of seconds (0 or more), got {from}");
                }
                let mut config = node_config(node, into, false, None)?;
                config.play = Some(node::Playback {
                    file: file.clone(),
                    speed,
                    from: Duration::from_secs_f64(from),
                });
                node::run(config).await.with_context(|| format!("while playing {}", file.display()))
            }
            Some(Command::Join { url, node }) => {
                let config = node_config(node, Some(url.clone()), false, None)?;
                node::run(config).await.with_context(|| format!("while joining {}", shorten(&url)))
            }
            Some(Command::Status { data }) => {
                let status = control::request(&data_dir(data.data)?, &Request::Status).await?;
                println!("{}", serde_json::to_string_pretty(&status)?);
                Ok(())
            }
            Some(Command::Introspect { data, dot }) => {
                let graph = control::request(&data_dir(data.data)?, &Request::Introspect { dot }).await?;
                match graph {
                    serde_json::Value::String(dot) => print!("{dot}"),
                    json => println!("{}", serde_json::to_string_pretty(&json)?),
                }
                Ok(())
            }
            Some(Command::Export { file, data, out, page }) => {
                let format = out
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase)
                    .context("the output file needs an extension: .png, .svg or .pdf")?;
                let bytes = match file {
                    Some(file) => {
                        let store = canopy_node::storage::Store::open_read_only(&file)?;
                        canopy_node::core::render(&store.document()?, &format, page).map_err(anyhow::Error::msg)?
                    }
                    None => {
                        let answer = control::request(&data_dir(data.data)?, &Request::Export { format, page }).await?;
                        let encoded = answer.as_str().context("the node's answer is not understood")?;
                        data_encoding::BASE64
                            .decode(encoded.as_bytes())
                            .context("the node's answer is not understood")?
                    }
                };
                std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))?;
                Ok(())
            }
        }
    })
}

/// A URL without its long invite token, for messages.
fn shorten(url: &str) -> String {
    match url.find("invite=") {
        Some(at) => format!("{}invite=…", &url[..at]),
        None => url.to_string(),
    }
}
