//! `canopy`: the one binary of Canopy — desktop peer, relay server and tools.
//!
//! This file is a table of contents: parse the command line, then one `match` hands
//! each command to the crate that does the work (`canopy-node` for peers and tools,
//! `canopy-relay` for relays, the window for the desktop).

mod args;
mod peer;
mod tools;

use anyhow::{Context as _, Result};

use args::{BenchCommand, Cli, Command};

fn main() -> Result<()> {
    let Cli { log, command } = Cli::from_env();
    let Some(command) = command else {
        anyhow::bail!("say what to do (see canopy --help)");
    };
    match command {
        Command::Host(args) => peer::run(peer::host(args)?, &log),
        Command::Join(args) => peer::run(peer::join(args)?, &log),
        Command::Open(args) => peer::run(peer::open(args)?, &log),
        Command::Play(args) => peer::run(peer::play(args)?, &log),
        Command::Relay(relay) => canopy_relay::cli::run(relay, &log),
        Command::Bench {
            which: BenchCommand::Desktop { strokes, frames },
        } => canopy_desktop::bench::run(runtime(&log)?, strokes, frames),
        Command::Devices { json } => {
            canopy_node::logs::init(&log, false);
            tools::print_devices(json)
        }
        Command::Status { data } => runtime(&log)?.block_on(tools::status(data)),
        Command::Revoke {
            data,
            invite,
            remove_edits,
        } => runtime(&log)?.block_on(tools::revoke(data, invite, remove_edits)),
        Command::Audio {
            data,
            mute,
            unmute,
            master,
            volume,
        } => runtime(&log)?.block_on(tools::audio(data, mute, unmute, master, volume)),
        Command::Introspect { data, dot } => runtime(&log)?.block_on(tools::introspect(data, dot)),
        Command::Export {
            file,
            data,
            out,
            page,
        } => runtime(&log)?.block_on(tools::export(file, data, out, page)),
    }
}

/// Starts logging (text, filtered by `log`) and the multi-threaded runtime.
fn runtime(log: &str) -> Result<tokio::runtime::Runtime> {
    canopy_node::logs::init(log, false);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
