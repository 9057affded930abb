//! `canopy-relay`: the relay alone, without the window or sound devices — what the
//! container image runs. `canopy-relay ARGS` does what `canopy relay ARGS` does.

use anyhow::Result;
use canopy_relay::cli::RelayCommand;
use clap::Parser;

/// Canopy's relay server: the always-on root of many sessions, with an admin API.
#[derive(Debug, Parser)]
#[command(name = "canopy-relay", version, about, long_about = None)]
struct RelayCli {
    /// Log filter, e.g. `info` or `canopy_relay=debug` (also read from RUST_LOG).
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    log: String,
    #[command(flatten)]
    command: RelayCommand,
}

fn main() -> Result<()> {
    let cli = RelayCli::parse();
    canopy_relay::cli::run(cli.command, &cli.log)
}
