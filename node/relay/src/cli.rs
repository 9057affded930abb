//! The relay's command line, shared by `canopy relay …` and the relay-only
//! `canopy-relay …` binary (the container image's): the same arguments, the same code.

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};

use crate::{LogFormat, RelayArgs, RelayConfig};

/// Run a relay server (the default), or ask a running one for a new session.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RelayCommand {
    /// What to ask a running relay; without it, run a relay.
    #[command(subcommand)]
    pub action: Option<RelayAction>,
    /// How to run the relay.
    #[command(flatten)]
    pub args: RelayArgs,
}

/// Requests to a running relay.
#[derive(Debug, Subcommand)]
pub enum RelayAction {
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

/// Does what `command` says, logging with `log` (a `RUST_LOG` filter). A relay's log
/// format comes from its configuration, so the configuration is read first.
pub fn run(command: RelayCommand, log: &str) -> Result<()> {
    if let Some(RelayAction::NewSession {
        title,
        admin,
        admin_token,
    }) = command.action
    {
        canopy_node::logs::init(log, false);
        print!(
            "{}",
            crate::request_new_session(&admin, &admin_token, &title)?
        );
        return Ok(());
    }
    let config = RelayConfig::resolve(&command.args)?;
    if command.args.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    canopy_node::logs::init(log, config.log_format == LogFormat::Json);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(crate::run(config))
}
