//! `canopy status`, `introspect` and `export` against a running node.

use std::process::Command;
use std::time::Duration;

use crate::util::{canopy, script, wait_until, Node};

fn run(args: &[&str]) -> Vec<u8> {
    let output = Command::new(canopy()).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "canopy {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn status_introspect_and_export_talk_to_a_running_node() {
    let scripts = tempfile::tempdir().unwrap();
    let a = Node::host(
        "a",
        &[
            "--draw",
            script(scripts.path(), "a", 5, 0, "").to_str().unwrap(),
        ],
    );
    assert!(wait_until(Duration::from_secs(10), || a.status()
        ["strokes"]
        == 5));
    let data = a.data.to_str().unwrap();

    let status: serde_json::Value =
        serde_json::from_slice(&run(&["status", "--data", data])).unwrap();
    assert_eq!(status["name"], "a");
    assert_eq!(status["pages"], 1);

    let graph: serde_json::Value =
        serde_json::from_slice(&run(&["introspect", "--data", data])).unwrap();
    let names: Vec<&str> = graph["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    // The session's per-node components (what was one `core` before they were split).
    for expected in [
        "document",
        "router",
        "sync",
        "presence",
        "door",
        "status",
        "exporter",
        "listener",
        "control",
        "backplane/applied",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let dot = String::from_utf8(run(&["introspect", "--data", data, "--dot"])).unwrap();
    assert!(dot.starts_with("digraph \"node\""), "{dot}");

    let out = tempfile::tempdir().unwrap();
    for (file, magic) in [
        ("page.png", &b"\x89PNG"[..]),
        ("page.svg", &b"<svg"[..]),
        ("all.pdf", &b"%PDF"[..]),
    ] {
        let path = out.path().join(file);
        run(&["export", "--data", data, "--out", path.to_str().unwrap()]);
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            bytes.starts_with(magic),
            "{file} starts with {:?}",
            &bytes[..8.min(bytes.len())]
        );
    }

    let missing = Command::new(canopy())
        .args(["status", "--data", out.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr)
        .contains("no canopy node is running with data directory"));
    let bad = Command::new(canopy())
        .args(["export", "--data", data, "--out", "x.gif"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown export format \"gif\""));
}

/// `canopy status` for `data`, given up on after `within` (a node that serves one
/// client at a time would hang it).
fn status_within(data: &str, within: Duration) -> Option<serde_json::Value> {
    let mut child = Command::new(canopy())
        .args(["status", "--data", data])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    serde_json::from_slice(&output.stdout).ok()
}

#[test]
fn the_control_socket_is_private_and_a_silent_client_blocks_no_one() {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let a = Node::host("a", &["--no-audio"]);
    let socket = a.data.join("control.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "control.sock is {:o}", mode & 0o777);
    // Clients that connect and say nothing, more than are served at once.
    let mut silent: Vec<std::os::unix::net::UnixStream> = (0..20)
        .map(|_| std::os::unix::net::UnixStream::connect(&socket).unwrap())
        .collect();
    let data = a.data.to_str().unwrap();
    let status = status_within(data, Duration::from_secs(15))
        .expect("canopy status hung behind silent clients");
    assert_eq!(status["name"], "a");
    // A silent client is told so after the request deadline, and closed.
    let first = &mut silent[0];
    first
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut answer = String::new();
    first.read_to_string(&mut answer).unwrap();
    assert!(answer.contains("no request within"), "{answer}");
}

/// The reference node of the component map (docs/ARCHITECTURE.md): a host with audio
/// and four children runs at least 60 components, each link in components of its
/// own, every one named in `canopy introspect` with its boxes.
#[test]
fn a_host_with_audio_and_four_children_runs_at_least_sixty_components() {
    let host = Node::host("host", &[]);
    let children: Vec<Node> = (1..=4)
        .map(|i| Node::join(&format!("child{i}"), host.editor_url(), &["--no-audio"]))
        .collect();
    assert!(
        wait_until(Duration::from_secs(20), || host.try_status().is_some_and(
            |s| s["children"].as_array().is_some_and(|c| c.len() == 4)
        )),
        "the children did not all join:\n{}",
        host.log()
    );
    // Handshake components end once their link is up: count the steady state.
    std::thread::sleep(Duration::from_secs(1));
    let data = host.data.to_str().unwrap();
    let graph: serde_json::Value =
        serde_json::from_slice(&run(&["introspect", "--data", data])).unwrap();
    let components = graph["components"].as_array().unwrap();
    let names: Vec<&str> = components
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        components.len() >= 60,
        "{} components: {names:?}",
        components.len()
    );
    let links = names.iter().filter(|n| n.ends_with("/checker")).count();
    assert_eq!(links, 4, "a checker per link: {names:?}");
    assert!(names.iter().any(|n| n.starts_with("audio")), "{names:?}");
    drop(children);
}
