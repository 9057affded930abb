//! The commands that run a node (host, join, open, play): from arguments to a
//! running headless node or window.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use canopy_node::node::{self, NodeConfig};

use crate::args::{HostArgs, JoinArgs, NodeArgs, OpenArgs, PlayArgs};

/// A command that runs a node: its configuration, whether it is headless, and what
/// it is doing (for error messages).
pub struct NodeRun {
    config: NodeConfig,
    headless: bool,
    doing: String,
    /// Create the session on a relay first: (host URL, title).
    on_relay: Option<(String, String)>,
}

impl NodeRun {
    fn new(node: &NodeArgs, config: NodeConfig, doing: String) -> Self {
        Self {
            headless: node.headless,
            config,
            doing,
            on_relay: None,
        }
    }
}

/// `canopy host`.
pub fn host(args: HostArgs) -> Result<NodeRun> {
    let config = node_config(args.node.clone(), None, args.new, None)?;
    let mut hosting = NodeRun::new(&args.node, config, "while hosting".into());
    hosting.on_relay = args.on_relay.map(|url| (url, args.title));
    Ok(hosting)
}

/// `canopy open`.
pub fn open(args: OpenArgs) -> Result<NodeRun> {
    let config = node_config(args.node.clone(), None, false, Some(args.file.clone()))?;
    let doing = format!("while hosting {}", args.file.display());
    Ok(NodeRun::new(&args.node, config, doing))
}

/// `canopy play`.
pub fn play(args: PlayArgs) -> Result<NodeRun> {
    let PlayArgs {
        file,
        speed,
        from,
        into,
        node,
    } = args;
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
    Ok(NodeRun::new(
        &node,
        config,
        format!("while playing {}", file.display()),
    ))
}

/// `canopy join`.
pub fn join(args: JoinArgs) -> Result<NodeRun> {
    let config = node_config(args.node.clone(), Some(args.url.clone()), false, None)?;
    let doing = format!("while joining {}", shorten(&args.url));
    Ok(NodeRun::new(&args.node, config, doing))
}

/// Runs the node: headless on this thread's runtime, or with a window.
pub fn run(run: NodeRun, log: &str) -> Result<()> {
    let NodeRun {
        mut config,
        headless,
        doing,
        on_relay,
    } = run;
    let runtime = crate::runtime(log)?;
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
    if headless {
        runtime.block_on(node::run(config)).context(doing)
    } else {
        canopy_desktop::run(runtime, config, relay_invites).context(doing)
    }
}

pub fn data_dir(given: Option<PathBuf>) -> Result<PathBuf> {
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

/// A URL without its long invite token, for messages.
fn shorten(url: &str) -> String {
    match url.find("invite=") {
        Some(at) => format!("{}invite=…", &url[..at]),
        None => url.to_string(),
    }
}
