//! Logging for every binary: `tracing` to stderr, filtered like `RUST_LOG`, as text
//! or (for a relay whose operator asks) one JSON object per line.

/// Installs the process's log subscriber; call once, before anything logs.
pub fn init(filter: &str, json: bool) {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}
