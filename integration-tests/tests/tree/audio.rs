//! Everyone hears everyone, through the tree: a tone spoken at one end of A–B–C is
//! heard at the other, nobody hears themselves, and a node in the middle hears both
//! ends at once. Audio here is WAV in and out (no sound card needed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::{wait_until, Node};

fn tone(dir: &Path, name: &str, frequency: u32, seconds: u32) -> PathBuf {
    let path = dir.join(format!("{name}.wav"));
    let status = Command::new("sox")
        .args(["-n", "-r", "48000", "-c", "1", "-b", "16"])
        .arg(&path)
        .args([
            "synth",
            &seconds.to_string(),
            "sine",
            &frequency.to_string(),
            "vol",
            "0.3",
        ])
        .status()
        .expect("sox (Debian's sox; make test installs it)");
    assert!(status.success());
    path
}

/// Power at `frequency` (Goertzel) per sample, over the whole signal.
fn power_at(samples: &[f32], frequency: f32) -> f32 {
    let k = 2.0 * (2.0 * std::f32::consts::PI * frequency / 48_000.0).cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for x in samples {
        let s0 = x + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - k * s1 * s2) / samples.len().max(1) as f32
}

fn read(path: &Path) -> Vec<f32> {
    hound::WavReader::open(path)
        .unwrap()
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect()
}

#[test]
fn a_tone_crosses_the_tree_and_no_one_hears_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let (a_in, c_in) = (
        tone(dir.path(), "a440", 440, 4),
        tone(dir.path(), "c660", 660, 4),
    );
    let (a_out, b_out, c_out) = (
        dir.path().join("a.wav"),
        dir.path().join("b.wav"),
        dir.path().join("c.wav"),
    );
    let mut a = Node::host(
        "a",
        &[
            "--audio-in",
            a_in.to_str().unwrap(),
            "--audio-out",
            a_out.to_str().unwrap(),
        ],
    );
    let mut b = Node::join(
        "b",
        a.editor_url(),
        &["--audio-out", b_out.to_str().unwrap()],
    );
    let mut c = Node::join(
        "c",
        b.editor_url(),
        &[
            "--audio-in",
            c_in.to_str().unwrap(),
            "--audio-out",
            c_out.to_str().unwrap(),
        ],
    );
    assert!(wait_until(Duration::from_secs(10), || c.status()["parent"]
        ["name"]
        == "b"));
    std::thread::sleep(Duration::from_millis(3500));
    for node in [&mut a, &mut b, &mut c] {
        assert!(node.terminate().success());
    }
    let (heard_a, heard_b, heard_c) = (read(&a_out), read(&b_out), read(&c_out));
    let (p440, p660) = (
        |s: &[f32]| power_at(s, 440.0),
        |s: &[f32]| power_at(s, 660.0),
    );
    // c hears a's 440 Hz (two hops), not its own 660 Hz.
    assert!(
        p440(&heard_c) > 100.0 * p660(&heard_c).max(1e-9),
        "c: 440 {} vs 660 {}",
        p440(&heard_c),
        p660(&heard_c)
    );
    assert!(
        p440(&heard_c) > 1e-4,
        "c heard too little: {}",
        p440(&heard_c)
    );
    // a hears c's 660 Hz, not its own 440 Hz.
    assert!(
        p660(&heard_a) > 100.0 * p440(&heard_a).max(1e-9),
        "a: 660 {} vs 440 {}",
        p660(&heard_a),
        p440(&heard_a)
    );
    // b, in the middle, hears both.
    assert!(
        p440(&heard_b) > 1e-4 && p660(&heard_b) > 1e-4,
        "b: 440 {} 660 {}",
        p440(&heard_b),
        p660(&heard_b)
    );
}

#[test]
fn a_muted_node_is_not_heard_and_shows_as_muted() {
    let dir = tempfile::tempdir().unwrap();
    let a_in = tone(dir.path(), "a440", 440, 10);
    let c_out = dir.path().join("c.wav");
    let mut a = Node::host("a", &["--audio-in", a_in.to_str().unwrap()]);
    let audio = |args: &[&str]| {
        let status = Command::new(crate::util::canopy())
            .arg("audio")
            .args(args)
            .arg("--data")
            .arg(&a.data)
            .status()
            .unwrap();
        assert!(status.success());
    };
    audio(&["--mute"]);
    assert_eq!(a.status()["audio"]["muted"], true);
    let mut c = Node::join(
        "c",
        a.editor_url(),
        &["--audio-out", c_out.to_str().unwrap()],
    );
    // c sees a as muted (presence), and hears nothing from a…
    assert!(wait_until(Duration::from_secs(10), || {
        c.status()["participants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "a" && p["muted"] == true)
    }));
    std::thread::sleep(Duration::from_millis(1500));
    // …until a unmutes.
    audio(&["--unmute"]);
    std::thread::sleep(Duration::from_millis(2000));
    assert!(a.terminate().success() && c.terminate().success());
    let heard = read(&c_out);
    assert!(
        heard.len() > 3 * 48_000,
        "c recorded only {} samples",
        heard.len()
    );
    let (muted_part, unmuted_part) = (&heard[..48_000], &heard[heard.len() - 48_000..]);
    assert!(
        power_at(muted_part, 440.0) < 1e-7,
        "c heard the muted a: {}",
        power_at(muted_part, 440.0)
    );
    assert!(
        power_at(unmuted_part, 440.0) > 1e-4,
        "c did not hear a after it unmuted: {}",
        power_at(unmuted_part, 440.0)
    );
}
