//! The relay's configuration: defaults, then a TOML file, then environment variables,
//! then flags (each later one wins). `canopy relay --print-config` shows the result.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for log collectors).
    Json,
}

/// Everything a relay is told at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// UDP address for peers (QUIC).
    pub listen: SocketAddr,
    /// Where sessions, keys and the relay's identity live.
    pub data: PathBuf,
    /// Host name (and port, if not the listen port) that invite URLs carry.
    pub public_host: Option<String>,
    /// TCP address of the admin HTTP API (health, metrics, sessions).
    pub admin: SocketAddr,
    /// Bearer token for the admin API's session endpoints.
    pub admin_token: Option<String>,
    /// Sessions this relay holds at most (in memory or on disk).
    pub max_sessions: usize,
    /// Peers connected directly to one session at most.
    pub max_peers_per_session: usize,
    /// Ops per second one link may send (sustained).
    pub ops_per_second: f64,
    /// Bytes of drawing one session may hold.
    pub max_session_bytes: u64,
    /// Seconds without peers after which a session is unloaded (it stays on disk and
    /// comes back when someone joins).
    pub idle_session_expiry_secs: u64,
    /// Log format.
    pub log_format: LogFormat,
    /// Sessions of other relays (invite URLs) this relay joins and serves locally.
    pub upstream: Vec<String>,
    /// Seconds a SIGTERM may take to drain (peers told, files flushed).
    pub shutdown_deadline_secs: u64,
    /// Hold sessions blind: verify, store and serve ops by their envelopes and
    /// headers alone, never reading their content (docs/BLIND-RELAYS.md). Exports
    /// are refused, status shows counts and a digest of what is held, and files
    /// written before signing cannot be served.
    pub blind: bool,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], canopy_protocol::DEFAULT_PORT)),
            data: PathBuf::from("/var/lib/canopy"),
            public_host: None,
            admin: SocketAddr::from(([127, 0, 0, 1], 7448)),
            admin_token: None,
            max_sessions: 1000,
            max_peers_per_session: 200,
            ops_per_second: 20_000.0,
            max_session_bytes: 512 * 1024 * 1024,
            idle_session_expiry_secs: 3600,
            log_format: LogFormat::Text,
            upstream: Vec::new(),
            shutdown_deadline_secs: 10,
            blind: false,
        }
    }
}

/// Why a configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("configuration file {path}: {message}")]
    Parse {
        /// Which file.
        path: PathBuf,
        /// The parser's message (names the key and line).
        message: String,
    },
    /// A value is out of range.
    #[error("configuration: {0}")]
    Invalid(String),
}

/// The relay's flags; each can also be set by an environment variable or the file.
#[derive(Debug, Clone, Default, Args)]
pub struct RelayArgs {
    /// TOML configuration file.
    #[arg(long, env = "CANOPY_CONFIG")]
    pub config: Option<PathBuf>,
    /// UDP address for peers [default: 0.0.0.0:7447].
    #[arg(long, env = "CANOPY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Data directory [default: /var/lib/canopy].
    #[arg(long, env = "CANOPY_DATA")]
    pub data: Option<PathBuf>,
    /// Host name invite URLs carry, HOST[:PORT] [default: the listen address].
    #[arg(long, env = "CANOPY_PUBLIC_HOST")]
    pub public_host: Option<String>,
    /// Admin HTTP API address [default: 127.0.0.1:7448].
    #[arg(long, env = "CANOPY_ADMIN")]
    pub admin: Option<SocketAddr>,
    /// Admin API bearer token (required).
    #[arg(long, env = "CANOPY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Sessions at most [default: 1000].
    #[arg(long, env = "CANOPY_MAX_SESSIONS")]
    pub max_sessions: Option<usize>,
    /// Peers connected to one session at most [default: 200].
    #[arg(long, env = "CANOPY_MAX_PEERS_PER_SESSION")]
    pub max_peers_per_session: Option<usize>,
    /// Ops per second per link [default: 20000].
    #[arg(long, env = "CANOPY_OPS_PER_SECOND")]
    pub ops_per_second: Option<f64>,
    /// Bytes one session may hold [default: 536870912].
    #[arg(long, env = "CANOPY_MAX_SESSION_BYTES")]
    pub max_session_bytes: Option<u64>,
    /// Seconds without peers before a session is unloaded [default: 3600].
    #[arg(long, env = "CANOPY_IDLE_SESSION_EXPIRY")]
    pub idle_session_expiry: Option<u64>,
    /// Log format [default: text].
    #[arg(long, env = "CANOPY_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Join this session of another relay and serve it here (repeatable).
    #[arg(long, env = "CANOPY_UPSTREAM", value_delimiter = ',')]
    pub upstream: Vec<String>,
    /// Seconds SIGTERM may take to drain [default: 10].
    #[arg(long, env = "CANOPY_SHUTDOWN_DEADLINE")]
    pub shutdown_deadline: Option<u64>,
    /// Hold sessions blind: never read ops' content, only their signed envelopes
    /// and headers (no exports; peers judge content) [default: off].
    #[arg(long, env = "CANOPY_BLIND")]
    pub blind: bool,
    /// Print the effective configuration (TOML) and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl RelayConfig {
    /// Reads a TOML file (missing keys keep their defaults; unknown keys are errors).
    pub fn from_file(path: &Path) -> Result<RelayConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The configuration `args` describe: file (if any) overlaid with flags/env.
    pub fn resolve(args: &RelayArgs) -> Result<RelayConfig, ConfigError> {
        let mut config = match &args.config {
            Some(path) => RelayConfig::from_file(path)?,
            None => RelayConfig::default(),
        };
        macro_rules! overlay {
            ($($field:ident <- $arg:ident),* $(,)?) => {
                $(if let Some(value) = args.$arg.clone() { config.$field = value; })*
            };
        }
        overlay!(
            listen <- listen,
            data <- data,
            max_sessions <- max_sessions,
            max_peers_per_session <- max_peers_per_session,
            ops_per_second <- ops_per_second,
            max_session_bytes <- max_session_bytes,
            idle_session_expiry_secs <- idle_session_expiry,
            log_format <- log_format,
            shutdown_deadline_secs <- shutdown_deadline,
            admin <- admin,
        );
        if args.public_host.is_some() {
            config.public_host = args.public_host.clone();
        }
        if args.admin_token.is_some() {
            config.admin_token = args.admin_token.clone();
        }
        if !args.upstream.is_empty() {
            config.upstream = args.upstream.clone();
        }
        if args.blind {
            config.blind = true;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges, so a bad value stops the relay at start with a clear message.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_sessions == 0 || self.max_peers_per_session == 0 {
            return Err(ConfigError::Invalid(
                "max_sessions and max_peers_per_session must be at least 1".into(),
            ));
        }
        if !(self.ops_per_second.is_finite() && self.ops_per_second > 0.0) {
            return Err(ConfigError::Invalid(
                "ops_per_second must be a positive number".into(),
            ));
        }
        if self.admin_token.as_deref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError::Invalid(
                "admin_token must be at least 16 characters".into(),
            ));
        }
        for url in &self.upstream {
            url.parse::<canopy_protocol::JoinUrl>().map_err(|e| {
                ConfigError::Invalid(format!("upstream {url:?} is not an invite URL: {e}"))
            })?;
        }
        Ok(())
    }

    /// The configuration as TOML, with the admin token masked.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.admin_token.is_some() {
            shown.admin_token = Some("<set>".into());
        }
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nmax_sessions = 7\nlog_format = \"json\"\n",
        )
        .unwrap();
        let args = RelayArgs {
            config: Some(path),
            max_sessions: Some(9),
            ..RelayArgs::default()
        };
        let config = RelayConfig::resolve(&args).unwrap();
        assert_eq!(config.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(config.max_sessions, 9);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.max_peers_per_session, 200);
        // What --print-config shows reads back as the same configuration.
        let shown: RelayConfig = toml::from_str(&config.to_toml()).unwrap();
        assert_eq!(shown, config);
    }

    #[test]
    fn blind_is_off_unless_the_file_or_a_flag_says_so() {
        assert!(!RelayConfig::default().blind);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.toml");
        std::fs::write(&path, "blind = true\n").unwrap();
        let from_file = RelayArgs {
            config: Some(path),
            ..RelayArgs::default()
        };
        assert!(RelayConfig::resolve(&from_file).unwrap().blind);
        let from_flag = RelayArgs {
            blind: true,
            ..RelayArgs::default()
        };
        assert!(RelayConfig::resolve(&from_flag).unwrap().blind);
        // The shipped example reads, and leaves it off.
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/relay.toml");
        assert!(!RelayConfig::from_file(&example).unwrap().blind);
    }

    #[test]
    fn bad_files_and_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.toml");
        std::fs::write(&path, "max_sesions = 3\n").unwrap();
        let error = RelayConfig::from_file(&path).unwrap_err().to_string();
        assert!(error.contains("max_sesions"), "{error}");
        let args = RelayArgs {
            ops_per_second: Some(-1.0),
            ..RelayArgs::default()
        };
        assert!(RelayConfig::resolve(&args).is_err());
        let args = RelayArgs {
            admin_token: Some("short".into()),
            ..RelayArgs::default()
        };
        assert!(RelayConfig::resolve(&args).is_err());
    }
}
