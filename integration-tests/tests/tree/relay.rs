//! `canopy relay` as an operator runs it: many sessions behind one port, an admin API
//! with a token, Prometheus metrics, limits, restarts that peers ride out, SIGTERM
//! drains, and relays chained to relays.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{
    assert_converged, canopy, canopy_relay, code_as_protocol_4, free_port, script, stdout_lines,
    wait_until, Node,
};

const TOKEN: &str = "test-admin-token-0123456789";

/// A relay process and what it printed at start.
struct Relay {
    child: Child,
    data: PathBuf,
    admin: String,
    _dir: Option<tempfile::TempDir>,
}

impl Relay {
    fn start(extra: &[&str]) -> Relay {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_path_buf();
        let mut relay = Relay::start_in(&data, &format!("127.0.0.1:{}", free_port()), extra);
        relay._dir = Some(dir);
        relay
    }

    fn start_in(data: &Path, listen: &str, extra: &[&str]) -> Relay {
        let mut command = Command::new(canopy());
        command
            .args(["relay", "--data"])
            .arg(data)
            .args(["--listen", listen]);
        Relay::spawn(command, data, extra)
    }

    /// Runs `command` (a relay told where its data is and where to listen) with an
    /// admin API on 127.0.0.1 and its log in `log_dir/relay.log`.
    fn spawn(mut command: Command, log_dir: &Path, extra: &[&str]) -> Relay {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_dir.join("relay.log"))
            .unwrap();
        let mut child = command
            .args(["--admin", "127.0.0.1:0"])
            .args(["--admin-token", TOKEN, "--idle-session-expiry", "3600"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let rx = stdout_lines(&mut child);
        let mut admin = None;
        while admin.is_none() {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => admin = line.strip_prefix("admin ").map(str::to_string),
                Err(_) => panic!(
                    "the relay printed no admin address; its log:\n{}",
                    std::fs::read_to_string(log_dir.join("relay.log")).unwrap_or_default()
                ),
            }
        }
        Relay {
            child,
            data: log_dir.to_path_buf(),
            admin: admin.unwrap(),
            _dir: None,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("relay.log")).unwrap_or_default()
    }

    /// A request to the admin API: (status, body).
    fn http(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.admin);
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut response = match (method, body) {
            ("GET", _) => {
                let mut request = agent.get(&url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            ("DELETE", _) => {
                let mut request = agent.delete(&url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            (_, body) => {
                let mut request = agent.post(&url).header("Content-Type", "application/json");
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.send(body.unwrap_or("{}"))
            }
        }
        .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    fn json(&self, method: &str, path: &str, body: Option<&str>) -> serde_json::Value {
        let (status, text) = self.http(method, path, Some(TOKEN), body);
        assert!(status < 300, "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// `canopy relay new-session`: (session id, editor URL, viewer URL).
    fn new_session(&self, title: &str) -> (String, String, String) {
        let output = Command::new(canopy())
            .args([
                "relay",
                "new-session",
                "--title",
                title,
                "--admin",
                &self.admin,
            ])
            .env("CANOPY_ADMIN_TOKEN", TOKEN)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(
            output.status.success(),
            "new-session failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let field = |prefix: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no {prefix:?} line in {text}"))
                .to_string()
        };
        (
            field("session "),
            field("invite editor "),
            field("invite viewer "),
        )
    }

    /// SIGTERM; returns the exit status and how long the drain took.
    fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let started = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        (status, started.elapsed())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless join that is expected to fail: its error message.
fn refused_join(url: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(canopy())
        .args([
            "join",
            url,
            "--headless",
            "--no-audio",
            "--timeout",
            "5",
            "--data",
        ])
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A join that is let in runs on: give up on it rather than wait for ever.
    let mut child = output;
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the join was not refused (it is still running after 30 s)");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success(), "the join was not refused");
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn admin_api_sessions_metrics_invites_and_revocation() {
    let relay = Relay::start(&[]);
    // Probes and metrics are open; the session endpoints need the token.
    assert_eq!(relay.http("GET", "/healthz", None, None).0, 200);
    assert_eq!(relay.http("GET", "/readyz", None, None).0, 200);
    assert_eq!(relay.http("GET", "/sessions", None, None).0, 401);
    assert_eq!(
        relay
            .http("GET", "/sessions", Some("wrong-token-wrong-token"), None)
            .0,
        403
    );
    assert_eq!(
        relay
            .http("POST", "/sessions", None, Some(r#"{"title":"x"}"#))
            .0,
        401
    );

    let (id, editor, viewer) = relay.new_session("Team sketch");
    let scripts = tempfile::tempdir().unwrap();
    let draw = script(scripts.path(), "a", 5, 0, "");
    let a = Node::join(
        "a",
        &editor,
        &["--no-audio", "--draw", draw.to_str().unwrap()],
    );
    let b = Node::join("b", &viewer, &["--no-audio"]);
    if !wait_until(Duration::from_secs(20), || {
        b.try_status().is_some_and(|s| s["strokes"] == 5)
    }) {
        panic!(
            "b did not converge\nA:\n{}\nB:\n{}\nRELAY:\n{}",
            a.log(),
            b.log(),
            relay.log()
        );
    }
    assert_converged(&[&a, &b], 5, Duration::from_secs(20));

    let listed = relay.json("GET", "/sessions", None);
    let session = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(session["title"], "Team sketch");
    assert_eq!(session["peers"], 2);
    assert!(session["ops"].as_u64().unwrap() >= 15, "{session}");
    let one = relay.json("GET", &format!("/sessions/{id}"), None);
    assert_eq!(one["status"]["strokes"], 5);

    // Metrics are valid Prometheus text (checked by promtool) and count what happened.
    let (status, metrics) = relay.http("GET", "/metrics", None, None);
    assert_eq!(status, 200);
    assert!(metrics.contains("canopy_peers 2"), "{metrics}");
    assert!(
        metrics.contains("canopy_sessions{state=\"loaded\"} 1"),
        "{metrics}"
    );
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is missing: `make test` installs Debian's prometheus package");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // A fresh invite works until it is revoked; then joins with it are refused.
    let issued = relay.json(
        "POST",
        &format!("/sessions/{id}/invites"),
        Some(r#"{"role":"viewer","ttl_seconds":600}"#),
    );
    let url = issued["url"].as_str().unwrap().to_string();
    let c = Node::join("c", &url, &["--no-audio"]);
    assert_converged(&[&a, &c], 5, Duration::from_secs(20));
    drop(c);
    let body = serde_json::json!({ "invite": url }).to_string();
    assert_eq!(
        relay
            .http(
                "POST",
                &format!("/sessions/{id}/revoke"),
                Some(TOKEN),
                Some(&body)
            )
            .0,
        204
    );
    let error = refused_join(&url);
    assert!(error.contains("revoked"), "{error}");

    // Revoking with `remove_edits` also takes back what the invite's holder drew.
    let issued = relay.json(
        "POST",
        &format!("/sessions/{id}/invites"),
        Some(r#"{"role":"editor","ttl_seconds":600}"#),
    );
    let url = issued["url"].as_str().unwrap().to_string();
    let vandal = script(scripts.path(), "vandal", 3, 0, r#"{"sleep_ms":500}"#);
    let d = Node::join(
        "d",
        &url,
        &["--no-audio", "--draw", vandal.to_str().unwrap()],
    );
    assert_converged(&[&a, &d], 8, Duration::from_secs(20));
    let body = serde_json::json!({ "invite": url, "remove_edits": true }).to_string();
    let revoked = relay.http(
        "POST",
        &format!("/sessions/{id}/revoke"),
        Some(TOKEN),
        Some(&body),
    );
    assert_eq!(revoked.0, 204, "{revoked:?}");
    assert_converged(&[&a], 5, Duration::from_secs(20));
    drop(d);

    // Closing a session tells its peers and forgets it.
    assert_eq!(
        relay
            .http("DELETE", &format!("/sessions/{id}"), Some(TOKEN), None)
            .0,
        204
    );
    assert_eq!(
        relay
            .http("GET", &format!("/sessions/{id}"), Some(TOKEN), None)
            .0,
        404
    );
    let error = refused_join(&editor);
    assert!(error.contains("no session"), "{error}");
}

#[test]
fn limits_are_enforced_with_clear_errors() {
    let relay = Relay::start(&["--max-peers-per-session", "1", "--max-sessions", "1"]);
    let (_, editor, _) = relay.new_session("small");
    let _a = Node::join("a", &editor, &["--no-audio"]);
    let error = refused_join(&editor);
    assert!(error.contains("full"), "{error}");
    let (status, body) = relay.http("POST", "/sessions", Some(TOKEN), Some(r#"{"title":"two"}"#));
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("maximum of 1 sessions"), "{body}");
    let output = Command::new(canopy())
        .args(["relay", "new-session", "--admin", &relay.admin])
        .env("CANOPY_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("maximum of 1 sessions"));
}

#[test]
fn a_session_over_its_byte_budget_refuses_more_drawing() {
    let relay = Relay::start(&["--max-session-bytes", "12000"]);
    let (_, editor, _) = relay.new_session("tiny");
    let scripts = tempfile::tempdir().unwrap();
    let draw = script(scripts.path(), "a", 200, 0, "");
    let a = Node::join(
        "a",
        &editor,
        &["--no-audio", "--draw", draw.to_str().unwrap()],
    );
    assert!(
        wait_until(Duration::from_secs(20), || a
            .log()
            .contains("this session is full: it may hold 12000 bytes")),
        "the peer was not told:\n{}",
        a.log()
    );
    let listed = relay.json("GET", "/sessions", None);
    assert!(
        listed["sessions"][0]["ops"].as_u64().unwrap() < 600,
        "the relay took everything: {listed}"
    );
}

#[test]
fn a_restarted_relay_keeps_its_sessions_and_peers_resume_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut relay = Relay::start_in(dir.path(), &listen, &["--shutdown-deadline", "5"]);
    let (_, editor, _) = relay.new_session("durable");
    let scripts = tempfile::tempdir().unwrap();
    // a draws 10 strokes now and 10 more after the relay has restarted.
    let first = std::fs::read_to_string(script(scripts.path(), "a1", 10, 0, "")).unwrap();
    let later =
        std::fs::read_to_string(script(scripts.path(), "a2", 10, 0, r#"{"sleep_ms":12000}"#))
            .unwrap();
    let a_script = scripts.path().join("a.jsonl");
    std::fs::write(&a_script, format!("{first}{later}")).unwrap();
    let a = Node::join(
        "a",
        &editor,
        &["--no-audio", "--draw", a_script.to_str().unwrap()],
    );
    let b = Node::join("b", &editor, &["--no-audio"]);
    assert_converged(&[&a, &b], 10, Duration::from_secs(20));

    // SIGTERM drains within the deadline and exits cleanly; readiness goes first.
    let (status, took) = relay.terminate();
    assert!(status.success(), "exit {status:?}\n{}", relay.log());
    assert!(took < Duration::from_secs(8), "drain took {took:?}");
    assert!(relay.log().contains("draining"));

    let relay = Relay::start_in(dir.path(), &listen, &[]);
    // Both peers come back to the relay on their own, and everything converges.
    assert!(
        wait_until(Duration::from_secs(40), || {
            [&a, &b]
                .iter()
                .all(|n| n.try_status().is_some_and(|s| s["parent"].is_object()))
        }),
        "peers did not reconnect:\n{}\n{}",
        a.log(),
        relay.log()
    );
    assert_converged(&[&a, &b], 20, Duration::from_secs(40));
    let listed = relay.json("GET", "/sessions", None);
    assert_eq!(listed["sessions"][0]["peers"], 2, "{listed}");
}

#[test]
fn chained_relays_serve_one_session_to_peers_on_both() {
    chained_relays_serve_one_session(&[]);
}

/// The same with the lower relay blind: it joins the session upstream, and holds
/// and serves it, without reading it.
#[test]
fn a_blind_relay_serves_another_relays_session() {
    chained_relays_serve_one_session(&["--blind"]);
}

fn chained_relays_serve_one_session(lower_flags: &[&str]) {
    let upper = Relay::start(&[]);
    let (id, editor, _) = upper.new_session("regions");
    let mut flags = vec!["--upstream", &editor];
    flags.extend(lower_flags);
    let lower = Relay::start(&flags);
    let invite = lower.json(
        "POST",
        &format!("/sessions/{id}/invites"),
        Some(r#"{"role":"editor"}"#),
    );
    let near_lower = invite["url"].as_str().unwrap().to_string();
    let scripts = tempfile::tempdir().unwrap();
    let a = Node::join(
        "a",
        &editor,
        &[
            "--no-audio",
            "--draw",
            script(scripts.path(), "a", 6, 0, "").to_str().unwrap(),
        ],
    );
    let b = Node::join(
        "b",
        &near_lower,
        &[
            "--no-audio",
            "--draw",
            script(scripts.path(), "b", 4, 0, "").to_str().unwrap(),
        ],
    );
    assert_converged(&[&a, &b], 10, Duration::from_secs(30));
    let held = lower.json("GET", &format!("/sessions/{id}"), None);
    assert_eq!(held["session"]["upstream"], editor.as_str());
    if lower_flags.contains(&"--blind") {
        assert_eq!(
            held["status"]["strokes"], 0,
            "a blind relay draws nothing: {held}"
        );
        assert!(lower.log().contains("held blind"), "{}", lower.log());
    }
}

#[test]
fn a_host_token_lets_a_peer_create_a_session_on_the_relay() {
    let relay = Relay::start(&[]);
    let issued = relay.json("POST", "/host-tokens", Some(r#"{"label":"alice"}"#));
    let host_url = issued["url"].as_str().unwrap().to_string();
    assert!(
        host_url.starts_with("canopy-host://127.0.0.1:"),
        "{host_url}"
    );

    // `canopy host --on-relay` creates the session there, prints the relay's invites
    // and joins it; others join with those invites.
    let alice = Node::host(
        "alice",
        &[
            "--on-relay",
            &host_url,
            "--title",
            "Alice's board",
            "--no-audio",
        ],
    );
    let session_id = relay.json("GET", "/sessions", None)["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        alice.editor_url().contains(&session_id),
        "{}",
        alice.editor_url()
    );
    assert!(wait_until(Duration::from_secs(10), || alice
        .try_status()
        .is_some_and(|s| s["parent"]["name"] == "relay")));
    let scripts = tempfile::tempdir().unwrap();
    let bob = Node::join("bob", alice.viewer_url(), &["--no-audio"]);
    let carol = Node::join(
        "carol",
        alice.editor_url(),
        &[
            "--no-audio",
            "--draw",
            script(scripts.path(), "c", 3, 0, "").to_str().unwrap(),
        ],
    );
    assert_converged(&[&alice, &bob, &carol], 3, Duration::from_secs(20));
    assert_eq!(
        relay.json("GET", "/sessions", None)["sessions"][0]["title"],
        "Alice's board"
    );

    // A revoked token creates nothing, and says why.
    assert_eq!(
        relay
            .http("DELETE", "/host-tokens/alice", Some(TOKEN), None)
            .0,
        204
    );
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(canopy())
        .args([
            "host",
            "--headless",
            "--no-audio",
            "--on-relay",
            &host_url,
            "--data",
        ])
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("host token is not valid"), "{error}");
}

/// Revocations that cannot be read keep a session closed (they used to read as
/// "nothing revoked"), and the relay says why in its log.
#[test]
fn revocations_that_cannot_be_read_keep_the_session_closed() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let relay = Relay::start_in(dir.path(), &listen, &[]);
    let (id, editor, _) = relay.new_session("closed when in doubt");
    drop(relay);
    // A folder where the file of revoked invites belongs: reading it fails.
    std::fs::create_dir_all(dir.path().join("revoked").join(&id).join("not-a-file")).unwrap();
    let relay = Relay::start_in(dir.path(), &listen, &[]);
    let error = refused_join(&editor);
    assert!(error.contains("cannot load session"), "{error}");
    assert!(
        relay.log().contains("revoked invites"),
        "the log should say what is wrong:\n{}",
        relay.log()
    );
}

/// Admin calls at once all land: each host token issued is kept (writes used to read
/// the whole file and write it back, so concurrent calls lost each other's lines).
#[test]
fn host_tokens_issued_at_once_are_all_kept() {
    let relay = std::sync::Arc::new(Relay::start(&[]));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let relay = std::sync::Arc::clone(&relay);
            std::thread::spawn(move || {
                relay.json(
                    "POST",
                    "/host-tokens",
                    Some(&format!(r#"{{"label":"host{i}"}}"#)),
                )
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let kept = std::fs::read_to_string(relay.data.join("host-tokens")).unwrap();
    assert_eq!(kept.lines().count(), 16, "{kept}");
    // And each of them is known: deleting any one works.
    for i in 0..16 {
        assert_eq!(
            relay
                .http(
                    "DELETE",
                    &format!("/host-tokens/host{i}"),
                    Some(TOKEN),
                    None
                )
                .0,
            204
        );
    }
}

/// What a slim container base has: the C library, the maths library, libgcc's
/// unwinder and the dynamic loader. No sound, GL or X libraries.
const SLIM_BASE_LIBRARIES: [&str; 5] = [
    "linux-vdso.so",
    "libc.so",
    "libm.so",
    "libgcc_s.so",
    "ld-linux",
];

/// The shared libraries `binary` loads, as `ldd` resolves them: (name, path).
fn shared_libraries(binary: &Path) -> Vec<(String, Option<PathBuf>)> {
    let output = Command::new("ldd").arg(binary).output().unwrap();
    assert!(output.status.success(), "ldd {}", binary.display());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let name = line.split_whitespace().next()?.to_string();
            let path = match line.split_once("=>") {
                Some((_, target)) => target.split_whitespace().next().map(PathBuf::from),
                None => name.starts_with('/').then(|| PathBuf::from(&name)),
            };
            Some((name, path))
        })
        .collect()
}

/// The container image's promise, checked without a container runtime: the relay-only
/// binary needs nothing beyond a slim base's libraries, and in a root holding only
/// itself and those it starts, stores a session and serves peers.
#[test]
fn the_relay_binary_runs_in_a_minimal_root() {
    let binary = canopy_relay();
    let libraries = shared_libraries(&binary);
    for (name, _) in &libraries {
        assert!(
            SLIM_BASE_LIBRARIES.iter().any(|base| name.contains(base)),
            "canopy-relay links {name}, which a slim base does not have"
        );
    }
    // The root: the binary, its libraries at their own paths, a data directory.
    let root = tempfile::tempdir().unwrap();
    for (_, path) in &libraries {
        let Some(path) = path else { continue };
        let inside = root.path().join(path.strip_prefix("/").unwrap());
        std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
        std::fs::copy(path, &inside).unwrap();
    }
    std::fs::copy(&binary, root.path().join("canopy-relay")).unwrap();
    std::fs::create_dir(root.path().join("data")).unwrap();
    // chroot needs root; elsewhere a user namespace makes this user root inside.
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let mut command = if is_root {
        Command::new("chroot")
    } else {
        let mut unshare = Command::new("unshare");
        unshare.args(["--user", "--map-root-user", "chroot"]);
        unshare
    };
    let listen = format!("127.0.0.1:{}", free_port());
    command
        .arg(root.path())
        .args(["/canopy-relay", "--data", "/data", "--listen", &listen]);
    let relay = Relay::spawn(command, root.path(), &[]);
    assert_eq!(relay.http("GET", "/readyz", None, None).0, 200);
    let (id, editor, viewer) = relay.new_session("minimal root");
    let scripts = tempfile::tempdir().unwrap();
    let drawer = Node::join(
        "drawer",
        &editor,
        &[
            "--no-audio",
            "--draw",
            script(scripts.path(), "d", 5, 0, "").to_str().unwrap(),
        ],
    );
    let watcher = Node::join("watcher", &viewer, &["--no-audio"]);
    assert_converged(&[&drawer, &watcher], 5, Duration::from_secs(30));
    assert!(
        root.path()
            .join(format!("data/sessions/{id}.canopy"))
            .exists(),
        "the session is not stored inside the root; relay log:\n{}",
        relay.log()
    );
}

/// A stranger naming an idle session with an invite that does not verify is refused
/// before the relay loads that session from disk; an honest joiner then loads it.
#[test]
fn a_forged_invite_does_not_make_the_relay_load_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let relay = Relay::start_in(dir.path(), &listen, &[]);
    let (_, editor, _) = relay.new_session("idle");
    drop(relay);
    let relay = Relay::start_in(dir.path(), &listen, &[]);
    let since = relay.log().len();
    let new_log = || relay.log()[since..].to_string();
    let mut forged: canopy_protocol::JoinUrl = editor.parse().unwrap();
    let key = || {
        let pkcs8 =
            ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                .unwrap();
        ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
    };
    let (other_session, other_node) = (key(), key());
    let (other, authority) = canopy_protocol::Authority::root(&other_session, &other_node, 1);
    forged.invite = authority.invite(&other, &other_node, canopy_protocol::Role::Editor, None, 2);
    let error = refused_join(&forged.to_string());
    assert!(error.contains("invite"), "{error}");
    assert!(
        !new_log().contains("session loaded"),
        "loaded for a forged invite:\n{}",
        new_log()
    );
    let honest = Node::join("honest", &editor, &["--no-audio"]);
    assert_eq!(honest.status()["role"], "editor");
    assert!(new_log().contains("session loaded"), "{}", new_log());
}

/// A session a relay kept from before signed authorship (format 2): on load the relay
/// sets the file aside and makes its drawing the relay's own signed import, which new
/// peers then take.
#[test]
fn a_relays_session_from_before_signing_is_imported_when_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut relay = Relay::start_in(dir.path(), &listen, &[]);
    let (id, editor, _) = relay.new_session("old");
    let scripts = tempfile::tempdir().unwrap();
    let a = Node::join(
        "a",
        &editor,
        &[
            "--no-audio",
            "--draw",
            script(scripts.path(), "a", 8, 0, "").to_str().unwrap(),
        ],
    );
    assert!(wait_until(Duration::from_secs(20), || a
        .try_status()
        .is_some_and(|s| s["strokes"] == 8)));
    let picture = a.status()["picture"].clone();
    drop(a);
    let (status, _) = relay.terminate();
    assert!(status.success(), "{}", relay.log());
    let file = dir.path().join("sessions").join(format!("{id}.canopy"));
    code_as_protocol_4(&file);
    rusqlite::Connection::open(&file)
        .unwrap()
        .execute_batch(
            "DROP TABLE signatures; DROP TABLE authors; DROP TABLE evidence;
             DELETE FROM meta WHERE key = 'signed'; PRAGMA user_version = 2;",
        )
        .unwrap();
    let relay = Relay::start_in(dir.path(), &listen, &[]);
    let b = Node::join("b", &editor, &["--no-audio"]);
    assert!(
        wait_until(Duration::from_secs(20), || b
            .try_status()
            .is_some_and(|s| s["strokes"] == 8)),
        "{}",
        relay.log()
    );
    assert_eq!(b.status()["picture"], picture, "the same drawing");
    assert!(
        relay
            .log()
            .contains("imported as the relay's own signed ops"),
        "{}",
        relay.log()
    );
}

/// A blind relay (`--blind`) serves a session without reading what is drawn: peers
/// on it draw (one of them a point an op, so its strokes are sealed), a joiner
/// after a restart takes the seals from the relay's file, and every peer shows the
/// same drawing. The relay's status shows what it holds, not a drawing.
#[test]
fn a_blind_relay_serves_a_session_it_never_reads() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut relay = Relay::start_in(
        dir.path(),
        &listen,
        &["--blind", "--shutdown-deadline", "5"],
    );
    let (id, editor, _) = relay.new_session("blind");
    let scripts = tempfile::tempdir().unwrap();
    let lines = script(scripts.path(), "a", 8, 0, "");
    let pen = crate::seals::pen_script(scripts.path(), 4);
    let a = Node::join(
        "a",
        &editor,
        &["--no-audio", "--draw", lines.to_str().unwrap()],
    );
    let b = Node::join(
        "b",
        &editor,
        &["--no-audio", "--draw", pen.to_str().unwrap()],
    );
    assert_converged(&[&a, &b], 12, Duration::from_secs(30));
    let status = relay.json("GET", &format!("/sessions/{id}"), None)["status"].clone();
    assert_eq!(
        (status["strokes"].as_u64(), status["pages"].as_u64()),
        (Some(0), Some(0)),
        "the relay draws nothing: {status}"
    );
    assert!(
        status["ops"].as_u64() > Some(0),
        "it holds the ops: {status}"
    );
    assert!(relay.log().contains("held blind"), "{}", relay.log());

    let (exit, _) = relay.terminate();
    assert!(exit.success(), "{}", relay.log());
    let relay = Relay::start_in(dir.path(), &listen, &["--blind"]);
    let late = Node::join("late", &editor, &["--no-audio"]);
    assert_converged(&[&a, &b, &late], 12, Duration::from_secs(40));
    // Sealed: the late joiner holds the same ops as the peers that drew.
    let ops = |node: &Node| node.try_status().and_then(|s| s["ops"].as_u64());
    assert!(
        wait_until(Duration::from_secs(10), || ops(&late) == ops(&b)),
        "late {:?} b {:?}",
        ops(&late),
        ops(&b)
    );
    drop(relay);
}

/// `payload` with every byte past its header (all a blind relay reads) turned by a
/// keystream from `key`, and a 16-byte tag after it: what end-to-end encryption
/// would make of it. [`unscrambled`] undoes it.
fn scrambled(id: canopy_canvas::OpId, payload: &[u8], key: u64) -> Vec<u8> {
    let header = header_len(id, payload);
    let mut out = payload[..header].to_vec();
    out.extend(
        keystream(key, payload.len() - header)
            .zip(&payload[header..])
            .map(|(k, b)| k ^ b),
    );
    out.extend([0xa5; 16]);
    out
}

fn unscrambled(id: canopy_canvas::OpId, payload: &[u8], key: u64) -> Vec<u8> {
    let header = header_len(id, payload);
    let body = &payload[header..payload.len() - 16];
    let mut out = payload[..header].to_vec();
    out.extend(keystream(key, body.len()).zip(body).map(|(k, b)| k ^ b));
    out
}

/// Where a payload's header ends: the shortest start of it that reads as a shape.
fn header_len(id: canopy_canvas::OpId, payload: &[u8]) -> usize {
    (1..=payload.len())
        .find(|end| canopy_protocol::shape_of(id, &payload[..*end]).is_ok())
        .unwrap()
}

fn keystream(key: u64, len: usize) -> impl Iterator<Item = u8> {
    let mut state = key;
    (0..len).map(move |_| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 56) as u8
    })
}

/// What a blind relay carries it never decodes: an editor's stroke, its content
/// past each op's header scrambled with a key only the peers know, goes through it
/// and is served, byte for byte, to a later joiner (who unscrambles the stroke as
/// drawn) — also after the relay restarts. A relay that reads content refuses the
/// same ops, closing the editor's link.
#[test]
fn a_blind_relay_carries_content_it_cannot_read() {
    use canopy_canvas::{Action, Color, OpId, Point, Tool, FIRST_PAGE};
    const KEY: u64 = 0x5eed;
    for blind in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let flags: &[&str] = if blind { &["--blind"] } else { &[] };
        let mut relay = Relay::start_in(dir.path(), &listen, flags);
        let (_, editor, _) = relay.new_session("sealed envelopes");
        let url = editor.clone();
        let (author, drawn, refusal) = crate::util::block_on(async move {
            let mut writer = crate::hostile::Attacker::join(&url).await;
            let stroke = OpId {
                node: writer.node,
                seq: 1,
            };
            let drawn = vec![
                writer.op(
                    1,
                    Action::StrokeStart {
                        page: FIRST_PAGE,
                        tool: Tool::Pen,
                        color: Color::rgb(200, 30, 30),
                        width: 3.0,
                    },
                ),
                writer.op(
                    2,
                    Action::StrokePoints {
                        stroke,
                        offset: 0,
                        points: vec![Point::new(10.0, 10.0), Point::new(60.0, 40.0)],
                    },
                ),
                writer.op(3, Action::StrokeEnd { stroke, points: 2 }),
            ];
            let sealed: Vec<(u64, u64, Vec<u8>)> = drawn
                .iter()
                .map(|op| {
                    let wire = canopy_protocol::WireOp::from_op(op);
                    (op.id.seq, op.lamport, scrambled(op.id, &wire.payload, KEY))
                })
                .collect();
            let wires = writer.sign_payloads(&sealed);
            writer.send_wire(wires).await;
            let refusal = writer.refusal(Duration::from_secs(3)).await;
            (writer.node, drawn, refusal)
        });
        if !blind {
            let refusal = refusal.expect("a relay that reads content took the scrambled ops");
            assert!(refusal.to_string().contains("undecodable"), "{refusal}");
            continue;
        }
        assert_eq!(refusal, None, "the blind relay refused what it cannot read");
        for round in ["live", "after a restart"] {
            let url = editor.clone();
            let served = crate::util::block_on(async move {
                let mut reader = crate::hostile::Attacker::join(&url).await;
                reader.ops_of(author, 3, Duration::from_secs(10)).await
            });
            let taken: Vec<_> = served
                .iter()
                .map(|w| {
                    let mut plain = w.clone();
                    plain.payload = unscrambled(w.id, &w.payload, KEY);
                    plain.to_op().unwrap()
                })
                .collect();
            assert_eq!(
                taken,
                drawn,
                "{round}: the stroke as drawn\n{}",
                relay.log()
            );
            if round == "live" {
                let (exit, _) = relay.terminate();
                assert!(exit.success(), "{}", relay.log());
                relay = Relay::start_in(dir.path(), &listen, flags);
            }
        }
    }
}

/// Content no reader takes, signed by its author, goes through a blind relay (it
/// cannot tell): every reader behind it refuses the op as it comes, proves the
/// author signed it and leaves the author out, on its own. The relay lets their
/// proofs be, no honest link closes, and the readers' drawing goes on.
#[test]
fn readers_behind_a_blind_relay_each_leave_out_an_author_of_content_no_one_takes() {
    let relay = Relay::start(&["--blind"]);
    let (id, editor, _) = relay.new_session("blame");
    let scripts = tempfile::tempdir().unwrap();
    let lines = script(scripts.path(), "a", 20, 100, r#"{"sleep_ms":1000}"#);
    let a = Node::join(
        "a",
        &editor,
        &["--no-audio", "--draw", lines.to_str().unwrap()],
    );
    let b = Node::join("b", &editor, &["--no-audio"]);
    let url = editor.clone();
    let kept_open = crate::util::block_on(async move {
        let mut author = crate::hostile::Attacker::join(&url).await;
        let start = crate::hostile::stroke_start;
        let good = start(&author, 1, 2.0);
        author.send(&[good], 1).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let wide = start(&author, 2, 1e9);
        author.send(&[wide], 1).await;
        author.refusal(Duration::from_secs(2)).await.is_none()
    });
    assert!(kept_open, "the blind relay judged content it cannot read");
    crate::hostile::assert_left_out_for_content(&[&a, &b]);
    for node in [&a, &b] {
        assert!(
            node.try_status().is_some_and(|s| s["parent"].is_object()),
            "{}'s link to the relay was closed",
            node.name
        );
    }
    assert_converged(&[&a, &b], 20, Duration::from_secs(30));
    // The relay took no proof it cannot judge: it still holds the author's ops.
    let status = relay.json("GET", &format!("/sessions/{id}"), None)["status"].clone();
    assert_eq!(status["left_out"], 0, "{status}");
}
