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
