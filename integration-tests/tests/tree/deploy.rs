//! The files in `deploy/` are checked by the tools operators will use on them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{canopy, canopy_relay};

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path)
}

/// `canopy relay --config FILE --print-config` accepts the file.
fn check_relay_config(path: &Path) -> String {
    let output = Command::new(canopy())
        .args(["relay", "--config"])
        .arg(path)
        .args(["--print-config"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let unit = std::fs::read_to_string(deploy("systemd/canopy-relay.service")).unwrap();
    for setting in [
        "ProtectSystem=strict",
        "User=canopy",
        "StateDirectory=canopy",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.contains(setting), "the unit lacks {setting}");
    }
    // Verified as shipped, except that the binary is the one just built.
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("canopy-relay.service");
    std::fs::write(
        &local,
        unit.replace("/usr/local/bin/canopy", canopy().to_str().unwrap()),
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&local)
        .output()
        .expect("systemd-analyze is missing: `make test` installs systemd");
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_example_configuration_is_what_the_relay_reads() {
    let shown = check_relay_config(&deploy("relay.toml"));
    assert!(
        shown.contains("public_host = \"relay.example.org\""),
        "{shown}"
    );
    assert!(shown.contains("log_format = \"json\""), "{shown}");
}

#[test]
fn the_kubernetes_manifests_hold_a_statefulset_a_udp_service_and_probes() {
    let manifest = deploy("kubernetes/relay.yaml");
    // Python's YAML parser (Debian's python3-yaml) reads the documents; the checks
    // are on what Kubernetes needs for a relay.
    let program = r#"
import json, sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
print(json.dumps(docs))
"#;
    // Debian's python (where python3-yaml installs), whatever `python3` is on PATH.
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let output = Command::new(python)
        .args(["-c", program])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let docs: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let kind = |k: &str| docs.iter().filter(|d| d["kind"] == k).collect::<Vec<_>>();
    let set = kind("StatefulSet")[0];
    assert!(!set["spec"]["volumeClaimTemplates"]
        .as_array()
        .unwrap()
        .is_empty());
    let container = &set["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert!(kind("Service")
        .iter()
        .any(|s| s["spec"]["ports"][0]["protocol"] == "UDP"));
    // The ConfigMap's relay.toml is a configuration the relay accepts.
    let config = kind("ConfigMap")[0]["data"]["relay.toml"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.toml");
    std::fs::write(&path, config).unwrap();
    check_relay_config(&path);
    // The container's arguments are what the image's `canopy-relay` takes, with the
    // ConfigMap mounted where they say.
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a.as_str()
                .unwrap()
                .replace("/etc/canopy/relay.toml", path.to_str().unwrap())
        })
        .collect();
    let output = Command::new(canopy_relay())
        .args(&args)
        .arg("--print-config")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "canopy-relay {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The crates `package` is built from (normal dependencies, as `cargo tree` lists them).
fn crates_of(package: &str) -> Vec<String> {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            package,
        ])
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn the_relay_is_built_without_the_window_or_sound_devices() {
    let window_and_sound = [
        "eframe", "egui", "winit", "glow", "cpal", "alsa", "alsa-sys",
    ];
    let relay = crates_of("canopy-relay");
    assert!(relay.iter().any(|c| c == "canopy-node"), "{relay:?}");
    for unwanted in window_and_sound {
        assert!(
            !relay.iter().any(|c| c == unwanted),
            "canopy-relay depends on {unwanted}"
        );
    }
    // The full binary has both (so the names above are the ones cargo prints).
    let full = crates_of("canopy");
    for wanted in ["eframe", "cpal"] {
        assert!(full.iter().any(|c| c == wanted), "canopy lacks {wanted}");
    }
}
