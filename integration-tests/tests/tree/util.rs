//! Starting `canopy` processes and asking them how they are.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use canopy_node::control::{self, Request};

/// The `canopy` binary built next to this test. Test builds do not make it:
/// `make test` runs `cargo build -p canopy --bin canopy` first.
pub fn canopy() -> PathBuf {
    built_binary("canopy", "cargo build -p canopy --bin canopy")
}

/// The relay-only `canopy-relay` binary (the container image's), built next to
/// this test by `make test` like `canopy`.
pub fn canopy_relay() -> PathBuf {
    built_binary(
        "canopy-relay",
        "cargo build -p canopy-relay --bin canopy-relay",
    )
}

fn built_binary(name: &str, build: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let binary = dir.join(name);
    assert!(
        binary.exists(),
        "{} is missing: build it with `{build}`",
        binary.display()
    );
    binary
}

/// A running node process.
pub struct Node {
    pub name: String,
    child: Child,
    pub data: PathBuf,
    pub invites: BTreeMap<String, String>,
    _dir: Option<tempfile::TempDir>,
}

/// Options common to the nodes of a test: quick failure detection.
pub const FAST: &[&str] = &["--idle-timeout", "3", "--timeout", "5"];

impl Node {
    pub fn host(name: &str, extra: &[&str]) -> Node {
        Node::start(name, &["host"], extra, None)
    }

    pub fn join(name: &str, url: &str, extra: &[&str]) -> Node {
        Node::start(name, &["join", url], extra, None)
    }

    /// Starts a node in a given data directory (to restart it, or to clone an identity).
    pub fn start_in(name: &str, command: &[&str], extra: &[&str], data: PathBuf) -> Node {
        Node::start(name, command, extra, Some(data))
    }

    pub fn start(name: &str, command: &[&str], extra: &[&str], data: Option<PathBuf>) -> Node {
        Node::spawn(name, command, extra, data, None, &[])
    }

    /// Starts a headless node with extra environment variables (a sound server's
    /// address, say).
    pub fn start_with_env(
        name: &str,
        command: &[&str],
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Node {
        Node::spawn(name, command, extra, None, None, env)
    }

    /// Starts a desktop peer (a window) on X display `display`.
    pub fn desktop(name: &str, command: &[&str], extra: &[&str], display: &str) -> Node {
        Node::spawn(name, command, extra, None, Some(display), &[])
    }

    fn spawn(
        name: &str,
        command: &[&str],
        extra: &[&str],
        data: Option<PathBuf>,
        display: Option<&str>,
        env: &[(&str, &str)],
    ) -> Node {
        let dir = if data.is_none() {
            Some(tempfile::tempdir().unwrap())
        } else {
            None
        };
        let data = data.unwrap_or_else(|| dir.as_ref().unwrap().path().to_path_buf());
        std::fs::create_dir_all(&data).unwrap();
        let log = std::fs::File::create(data.join(format!("{name}.log"))).unwrap();
        let listen: &[&str] = if extra.contains(&"--listen") {
            &[]
        } else {
            &["--listen", "127.0.0.1:0"]
        };
        let mut child = Command::new(canopy());
        child.args(command).envs(env.iter().copied());
        match display {
            Some(display) => {
                child.env("DISPLAY", display).env_remove("WAYLAND_DISPLAY");
            }
            None => {
                child.arg("--headless");
            }
        }
        let mut child = child
            .args(["--name", name, "--data"])
            .arg(&data)
            .args(listen)
            .args(FAST)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let rx = stdout_lines(&mut child);
        let mut invites = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while invites.len() < 2 {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let parts: Vec<&str> = line.splitn(3, ' ').collect();
                    if let ["invite", role, url] = parts.as_slice() {
                        invites.insert(role.to_string(), url.to_string());
                        if *role == "viewer" && !invites.contains_key("editor") {
                            break; // a viewer hands out viewer invites only
                        }
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let log = std::fs::read_to_string(data.join(format!("{name}.log")))
                        .unwrap_or_default();
                    panic!("node {name} printed no invites; its log:\n{log}");
                }
            }
        }
        Node {
            name: name.to_string(),
            child,
            data,
            invites,
            _dir: dir,
        }
    }

    pub fn editor_url(&self) -> &str {
        &self.invites["editor"]
    }

    pub fn viewer_url(&self) -> &str {
        &self.invites["viewer"]
    }

    pub fn status(&self) -> serde_json::Value {
        block_on(control::request(&self.data, &Request::Status))
            .unwrap_or_else(|e| panic!("status of {}: {e:#}", self.name))
    }

    pub fn try_status(&self) -> Option<serde_json::Value> {
        block_on(control::request(&self.data, &Request::Status)).ok()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join(format!("{}.log", self.name))).unwrap_or_default()
    }

    /// SIGKILL: no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The lines a child prints on stdout, as they come (read on a thread of their own).
pub fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A UDP port free right now on 127.0.0.1 (for a node that must come back on the
/// same address).
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A bare QUIC connection to the node a URL names, as a client that speaks the
/// protocol by hand (to test what misbehaving peers get). Keep the endpoint alive.
pub async fn raw_connection(
    url: &canopy_protocol::JoinUrl,
) -> (quinn::Endpoint, quinn::Connection) {
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let (config, _) =
        canopy_node::tls::client_config(url.fingerprint.unwrap(), Duration::from_secs(5)).unwrap();
    let address = format!("{}:{}", url.host, url.port).parse().unwrap();
    let connection = endpoint
        .connect_with(config, address, "canopy")
        .unwrap()
        .await
        .unwrap();
    (endpoint, connection)
}

/// A new Ed25519 key, as a node makes for itself.
pub fn fresh_key() -> ring::signature::Ed25519KeyPair {
    let pkcs8 =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
}

pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Polls until `check` holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    check()
}

/// Waits until every node shows `strokes` strokes with one digest; panics with their
/// statuses otherwise.
pub fn assert_converged(nodes: &[&Node], strokes: u64, timeout: Duration) {
    let ok = wait_until(timeout, || {
        let statuses: Vec<_> = nodes.iter().filter_map(|n| n.try_status()).collect();
        statuses.len() == nodes.len()
            && statuses
                .iter()
                .all(|s| s["strokes"] == strokes && s["digest"] == statuses[0]["digest"])
    });
    if !ok {
        let report: Vec<String> = nodes
            .iter()
            .map(|n| match n.try_status() {
                Some(s) => format!(
                    "{}: strokes {} digest {}",
                    n.name, s["strokes"], s["digest"]
                ),
                None => format!("{}: no status\n{}", n.name, n.log()),
            })
            .collect();
        panic!(
            "no convergence on {strokes} strokes:\n{}",
            report.join("\n")
        );
    }
}

/// A drawing script of `count` strokes, `pause_ms` apart, in its own file.
pub fn script(dir: &Path, name: &str, count: usize, pause_ms: u64, prefix: &str) -> PathBuf {
    let path = dir.join(format!("{name}.jsonl"));
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(file, "{prefix}").unwrap();
    for i in 0..count {
        let (x, y) = (10 + (i * 37) % 1800, 10 + (i * 53) % 1000);
        writeln!(
            file,
            r##"{{"stroke":{{"page":0,"color":"#{:02x}3030","width":3.0,"points":[[{x},{y}],[{},{}],[{},{}]]}}}}"##,
            (i * 7) % 256,
            x + 20,
            y + 15,
            x + 40,
            y + 5
        )
        .unwrap();
        if pause_ms > 0 {
            writeln!(file, r#"{{"sleep_ms":{pause_ms}}}"#).unwrap();
        }
    }
    path
}

/// Runs `canopy join URL` expecting it to fail; returns what it said.
pub fn join_error(url: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(canopy());
    command.args(["join", url, "--headless", "--listen", "127.0.0.1:0"]);
    if !extra.contains(&"--data") {
        command.arg("--data").arg(dir.path());
    }
    let output = command.args(extra).output().unwrap();
    assert!(!output.status.success(), "joining {url} should have failed");
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// Codes the payloads of the `.canopy` file at `file` as files before format 4 held
/// them (plain bincode of the action, protocol 4's encoding): what a test that makes
/// an old file out of a new one needs first.
pub fn code_as_protocol_4(file: &std::path::Path) {
    let connection = rusqlite::Connection::open(file).unwrap();
    let rows: Vec<(i64, i64, Vec<u8>)> = connection
        .prepare("SELECT node, seq, payload FROM ops")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (node, seq, payload) in rows {
        let id = canopy_canvas::OpId {
            node: canopy_canvas::NodeId(node as u64),
            seq: seq as u64,
        };
        let action = canopy_protocol::decode_action(id, &payload).unwrap();
        let old = bincode::serde::encode_to_vec(&action, bincode::config::standard()).unwrap();
        connection
            .execute(
                "UPDATE ops SET payload = ?3 WHERE node = ?1 AND seq = ?2",
                rusqlite::params![node, seq, old],
            )
            .unwrap();
    }
}
