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
        /// Host on a relay instead: create the session there with this
        /// canopy-host:// URL (from the relay's operator) and join it.
        #[arg(long, value_name = "HOST_URL", conflicts_with = "new")]
        on_relay: Option<String>,
        /// Title of the session created with --on-relay.
        #[arg(long, default_value = "", requires = "on_relay")]
        title: String,
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
    /// Run a relay server: the always-on root of many sessions, with an admin API.
    #[command(args_conflicts_with_subcommands = true)]
    Relay {
        #[command(subcommand)]
        action: Option<RelayAction>,
        #[command(flatten)]
        args: canopy_node::relay::RelayArgs,
    },
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
enum RelayAction {
    /// Create a session on a running relay and print its invite URLs.
    NewSession {
        /// Title shown in the admin API's listings.
        #[arg(long, default_value = "")]
        title: String,
        /// The relay's admin API address.
        #[arg(long, env = "CANOPY_ADMIN", default_value = "127.0.0.1:7448")]
        admin: String,
        /// The admin token.
        #[arg(long, env = "CANOPY_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: String,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
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

#[derive(Debug, Args)]
struct DataArg {
    /// Data directory of the node (default: the XDG data directory).
    #[arg(long)]
    data: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
struct NodeArgs {
    /// Run without a window (servers, scripts, tests); without it a desktop window opens.
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
    /// Speak this 48 kHz WAV file instead of a microphone (played once).
    #[arg(long, conflicts_with = "input_device")]
    audio_in: Option<PathBuf>,
    /// Speak the --audio-in file over and over.
    #[arg(long, requires = "audio_in")]
    audio_loop: bool,
    /// Write what this node hears to a WAV file (48 kHz mono).
    #[arg(long)]
    audio_out: Option<PathBuf>,
    /// Microphone to speak through (`canopy devices` lists them; `default` is the
    /// system's). The window uses the default unless told; headless nodes use none.
    #[arg(long, value_name = "NAME")]
    input_device: Option<String>,
    /// Speakers to play through (as --input-device).
    #[arg(long, value_name = "NAME")]
    output_device: Option<String>,
    /// Run without audio (no mixing, no audio links, no sound devices).
    #[arg(long, conflicts_with_all = ["audio_in", "audio_out", "input_device", "output_device"])]
    no_audio: bool,
    /// Seconds the printed invites stay valid (default: no expiry).
    #[arg(long)]
    invite_ttl: Option<u64>,
    /// Seconds of silence after which a link counts as dead (and is rejoined).
    #[arg(long, default_value_t = 20)]
    idle_timeout: u64,
}

/// `canopy devices`: the sound host and its devices, defaults marked.
fn print_devices(json: bool) -> Result<()> {
    let (host, devices) = canopy_node::devices::list()?;
    if json {
        let listing = serde_json::json!({ "host": host, "devices": devices });
        println!("{}", serde_json::to_string_pretty(&listing)?);
        return Ok(());
    }
    println!("sound host: {host}");
    if devices.is_empty() {
        println!("no sound devices (Canopy runs without audio devices; --audio-in/--audio-out use files)");
    }
    for device in devices {
        let mut kinds = Vec::new();
        if device.input {
            kinds.push(if device.default_input {
                "input*"
            } else {
                "input"
            });
        }
        if device.output {
            kinds.push(if device.default_output {
                "output*"
            } else {
                "output"
            });
        }
        let native = device
            .native
            .map(|(rate, channels)| format!("{rate} Hz, {channels} ch"))
            .unwrap_or_default();
        println!(
            "{:<14} {:<40} {:<16} {}",
            kinds.join(","),
            device.name,
            native,
            device.description
        );
    }
    println!("(* the system default; pass a name to --input-device / --output-device)");
    Ok(())
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
    let audio = (!args.no_audio).then(|| audio_config(&args));
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
        audio,
    })
}

/// Where a node's audio comes from and goes: files and devices as asked; a window
/// also uses the system's default microphone and speakers, and runs on without them
/// (with a log line) on a machine that has none.
fn audio_config(args: &NodeArgs) -> canopy_node::audio::AudioConfig {
    use canopy_node::devices::DEFAULT_DEVICE;
    let desktop_default = |asked: &Option<String>| {
        asked
            .clone()
            .or_else(|| (!args.headless).then(|| DEFAULT_DEVICE.to_owned()))
    };
    canopy_node::audio::AudioConfig {
        input: args.audio_in.clone(),
        input_loops: args.audio_loop,
        output: args.audio_out.clone(),
        input_device: if args.audio_in.is_some() {
            None
        } else {
            desktop_default(&args.input_device)
        },
        output_device: desktop_default(&args.output_device),
        devices_required: args.headless,
    }
}

/// A command that runs a node: its configuration, whether it is headless, and what
/// it is doing (for error messages).
struct NodeRun {
    config: NodeConfig,
    headless: bool,
    doing: String,
    /// Create the session on a relay first: (host URL, title).
    on_relay: Option<(String, String)>,
}

/// Splits the commands that run a node (host, join, open, play) from the tools.
fn node_run(command: Command) -> Result<std::result::Result<NodeRun, Command>> {
    let run = |node: NodeArgs, config: NodeConfig, doing: String| NodeRun {
        headless: node.headless,
        config,
        doing,
        on_relay: None,
    };
    Ok(Ok(match command {
        Command::Host {
            node,
            new,
            on_relay,
            title,
        } => {
            let config = node_config(node.clone(), None, new, None)?;
            let mut hosting = run(node, config, "while hosting".into());
            hosting.on_relay = on_relay.map(|url| (url, title));
            hosting
        }
        Command::Open { file, node } => {
            let config = node_config(node.clone(), None, false, Some(file.clone()))?;
            run(node, config, format!("while hosting {}", file.display()))
        }
        Command::Play {
            file,
            speed,
            from,
            into,
            node,
        } => {
            if !(speed.is_finite() && speed > 0.0) {
                bail!("--speed must be a positive number, got {speed}");
            }
            if !(from.is_finite() && from >= 0.0) {
                bail!("--from must be a number of seconds (0 or more), got {from}");
            }
            let mut config = node_config(node.clone(), into, false, None)?;
            config.play = Some(node::Playback {
                file: file.clone(),
                speed,
                from: Duration::from_secs_f64(from),
            });
            run(node, config, format!("while playing {}", file.display()))
        }
        Command::Join { url, node } => {
            let config = node_config(node.clone(), Some(url.clone()), false, None)?;
            run(node, config, format!("while joining {}", shorten(&url)))
        }
        tool => return Ok(Err(tool)),
    }))
}

fn main() -> Result<()> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut cli = match args.as_slice() {
        // `canopy canopy://…` (how a desktop opens a link) joins that session.
        [program, url] if url.to_string_lossy().starts_with("canopy://") => {
            Cli::parse_from([program.clone(), "join".into(), url.clone()])
        }
        _ => Cli::parse(),
    };
    if cli.command.is_none() {
        // `canopy` alone opens a window hosting a session.
        cli = Cli::parse_from(args.into_iter().chain(["host".into()]));
    }
    // A relay's log format comes from its configuration, so read that first.
    let relay_config = match &cli.command {
        Some(Command::Relay { action: None, args }) => {
            let config = canopy_node::relay::RelayConfig::resolve(args)?;
            if args.print_config {
                print!("{}", config.to_toml());
                return Ok(());
            }
            Some(config)
        }
        _ => None,
    };
    let filter = tracing_subscriber::EnvFilter::new(&cli.log);
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match relay_config.as_ref().map(|c| c.log_format) {
        Some(canopy_node::relay::LogFormat::Json) => logs.json().init(),
        _ => logs.init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let Some(command) = cli.command else {
        bail!("say what to do (see canopy --help)");
    };
    let tool = match node_run(command)? {
        Ok(NodeRun {
            mut config,
            headless,
            doing,
            on_relay,
        }) => {
            let mut relay_invites = None;
            if let Some((url, title)) = on_relay {
                // The relay's invites are the ones to hand out: print those instead.
                let (editor, viewer) =
                    runtime.block_on(node::create_on_relay(&url, &title, config.timeout))?;
                println!("invite editor {editor}\ninvite viewer {viewer}");
                config.join = Some(editor.clone());
                config.print_invites = false;
                relay_invites = Some(std::collections::BTreeMap::from([
                    ("editor".to_string(), editor),
                    ("viewer".to_string(), viewer),
                ]));
            }
            return if headless {
                runtime.block_on(node::run(config)).context(doing)
            } else {
                canopy_node::desktop::run(runtime, config, relay_invites).context(doing)
            };
        }
        Err(tool) => tool,
    };
    if let Command::Bench {
        which: BenchCommand::Desktop { strokes, frames },
    } = tool
    {
        return canopy_node::desktop::bench::run(runtime, strokes, frames);
    }
    if let Command::Devices { json } = tool {
        return print_devices(json);
    }
    if let Some(config) = relay_config {
        return runtime.block_on(canopy_node::relay::run(config));
    }
    if let Command::Relay {
        action:
            Some(RelayAction::NewSession {
                title,
                admin,
                admin_token,
            }),
        ..
    } = tool
    {
        print!(
            "{}",
            canopy_node::relay::request_new_session(&admin, &admin_token, &title)?
        );
        return Ok(());
    }
    runtime.block_on(async move {
        match tool {
            Command::Status { data } => {
                let status = control::request(&data_dir(data.data)?, &Request::Status).await?;
                println!("{}", serde_json::to_string_pretty(&status)?);
                Ok(())
            }
            Command::Audio {
                data,
                mute,
                unmute,
                master,
                volume,
            } => {
                use canopy_node::audio::AudioControl;
                let mut controls = Vec::new();
                if mute || unmute {
                    controls.push(AudioControl::Mute(mute));
                }
                if let Some(gain) = master {
                    if !(0.0..=canopy_node::audio::MAX_GAIN).contains(&gain) {
                        bail!("--master goes from 0 to {}", canopy_node::audio::MAX_GAIN);
                    }
                    controls.push(AudioControl::Master(gain));
                }
                controls.extend(
                    volume
                        .into_iter()
                        .map(|(link, gain)| AudioControl::Volume { link, gain }),
                );
                if controls.is_empty() {
                    bail!(
                        "say what to change: --mute, --unmute, --master GAIN or --volume LINK=GAIN"
                    );
                }
                let dir = data_dir(data.data)?;
                for control in controls {
                    control::request(&dir, &Request::Audio(control)).await?;
                }
                Ok(())
            }
            Command::Introspect { data, dot } => {
                let graph =
                    control::request(&data_dir(data.data)?, &Request::Introspect { dot }).await?;
                match graph {
                    serde_json::Value::String(dot) => print!("{dot}"),
                    json => println!("{}", serde_json::to_string_pretty(&json)?),
                }
                Ok(())
            }
            Command::Export {
                file,
                data,
                out,
                page,
            } => {
                let format = out
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase)
                    .context("the output file needs an extension: .png, .svg or .pdf")?;
                let bytes = match file {
                    Some(file) => {
                        let store = canopy_node::storage::Store::open_read_only(&file)?;
                        canopy_node::session::render(&store.document()?, &format, page)
                            .map_err(anyhow::Error::msg)?
                    }
                    None => {
                        let answer = control::request(
                            &data_dir(data.data)?,
                            &Request::Export { format, page },
                        )
                        .await?;
                        let encoded = answer
                            .as_str()
                            .context("the node's answer is not understood")?;
                        data_encoding::BASE64
                            .decode(encoded.as_bytes())
                            .context("the node's answer is not understood")?
                    }
                };
                std::fs::write(&out, bytes)
                    .with_context(|| format!("writing {}", out.display()))?;
                Ok(())
            }
            Command::Host { .. }
            | Command::Join { .. }
            | Command::Open { .. }
            | Command::Play { .. }
            | Command::Bench { .. }
            | Command::Devices { .. }
            | Command::Relay { .. } => {
                unreachable!("node commands, relays and benchmarks are handled above")
            }
        }
    })
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

/// A URL without its long invite token, for messages.
fn shorten(url: &str) -> String {
    match url.find("invite=") {
        Some(at) => format!("{}invite=…", &url[..at]),
        None => url.to_string(),
    }
}
