//! `canopy`: the one binary of Canopy — desktop peer, relay server and tools.
//!
//! This file reads like a table of contents: parse the command line, set up logging,
//! hand over to the module that does the work.

use clap::Parser;

/// Canopy: a collaborative whiteboard in which every node is both client and server.
#[derive(Debug, Parser)]
#[command(name = "canopy", version, about, long_about = None)]
struct Cli {
    /// Log filter, e.g. `info` or `canopy=debug` (also read from RUST_LOG).
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    log: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    println!(
        "canopy {}: this build contains the component runtime only; hosting and joining \
         sessions are not part of it yet (see README.md).",
        env!("CARGO_PKG_VERSION")
    );
    Ok(())
}
