//! Everyone hears everyone, through the tree: a tone spoken at one end of A–B–C is
//! heard at the other, nobody hears themselves, and a node in the middle hears both
//! ends at once. Audio here is WAV in and out, and real devices on a private
//! PulseAudio server's null sinks (no sound card needed).

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

/// A host that speaks `input` and records what it hears to `output`.
fn speaking_host(input: &Path, output: &Path) -> Node {
    Node::host(
        "a",
        &[
            "--audio-in",
            input.to_str().unwrap(),
            "--audio-out",
            output.to_str().unwrap(),
        ],
    )
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
    let mut a = speaking_host(&a_in, &a_out);
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
    // The audio component takes it on its next message; status follows.
    assert!(wait_until(Duration::from_secs(5), || a.status()["audio"]
        ["muted"]
        == true));
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

/// A private PulseAudio server with two null sinks, stopped on drop. Null sinks run
/// in real time (unlike ALSA's `null` device, which is not clocked), and each has a
/// `.monitor` source that captures what was played into it.
struct PulseServer {
    child: std::process::Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl PulseServer {
    /// Starts it with sinks `speaker` (44.1 kHz, so Canopy resamples) and `mic`.
    fn start() -> PulseServer {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("native");
        let (runtime, state) = (dir.path().join("run"), dir.path().join("state"));
        std::fs::create_dir_all(&runtime).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        let child = Command::new("pulseaudio")
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
            ])
            .args(["--log-target=stderr", "--disable-shm=yes"])
            .arg(format!(
                "--load=module-native-protocol-unix socket={} auth-anonymous=1",
                socket.display()
            ))
            .arg("--load=module-null-sink sink_name=speaker rate=44100")
            .arg("--load=module-null-sink sink_name=mic rate=48000")
            .env("HOME", dir.path())
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("PULSE_RUNTIME_PATH", &runtime)
            .env("PULSE_STATE_PATH", &state)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("pulse.log")).unwrap())
            .spawn()
            .expect("pulseaudio (Debian's pulseaudio; make test installs it)");
        let server = PulseServer {
            child,
            socket,
            _dir: dir,
        };
        // Up when `canopy devices` sees its sinks through PulseAudio.
        assert!(
            wait_until(Duration::from_secs(15), || {
                let listing = server.devices();
                listing["host"] == "PulseAudio"
                    && listing["devices"]
                        .as_array()
                        .is_some_and(|d| d.iter().any(|d| d["name"] == "speaker.monitor"))
            }),
            "the private PulseAudio server did not come up: {}",
            std::fs::read_to_string(server._dir.path().join("pulse.log")).unwrap_or_default()
        );
        server
    }

    fn address(&self) -> String {
        format!("unix:{}", self.socket.display())
    }

    /// `canopy devices --json` as seen by a node using this server.
    fn devices(&self) -> serde_json::Value {
        let output = Command::new(crate::util::canopy())
            .args(["devices", "--json"])
            .env("PULSE_SERVER", self.address())
            .output()
            .unwrap();
        serde_json::from_slice(&output.stdout).unwrap_or_default()
    }
}

impl Drop for PulseServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real device path: B plays what A says on a null sink through cpal (at
/// 44.1 kHz, so through the resamplers both ways), and captures that sink's monitor
/// as its microphone. So A hears its own tone come back, which only happens if cpal
/// playback and capture both ran, clocked, on B.
#[test]
fn sound_devices_play_and_capture_through_a_pulseaudio_null_sink() {
    let pulse = PulseServer::start();
    let listing = pulse.devices();
    let names: Vec<&str> = listing["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    for name in ["speaker", "mic", "speaker.monitor", "mic.monitor"] {
        assert!(names.contains(&name), "{name} missing from {listing}");
    }
    let dir = tempfile::tempdir().unwrap();
    // Looped: A keeps speaking however long B takes to open its devices.
    let a_in = tone(dir.path(), "a440", 440, 2);
    let a_out = dir.path().join("a.wav");
    let mut a = Node::host(
        "a",
        &[
            "--audio-in",
            a_in.to_str().unwrap(),
            "--audio-loop",
            "--audio-out",
            a_out.to_str().unwrap(),
        ],
    );
    let address = pulse.address();
    let mut b = Node::start_with_env(
        "b",
        &["join", a.editor_url()],
        &[
            "--output-device",
            "speaker",
            "--input-device",
            "speaker.monitor",
        ],
        &[("PULSE_SERVER", &address)],
    );
    let audio = b.status()["audio"].clone();
    assert_eq!(audio["output_device"], "speaker", "{audio}");
    assert_eq!(audio["input_device"], "speaker.monitor", "{audio}");
    // B's microphone hears the tone it plays.
    assert!(
        wait_until(Duration::from_secs(10), || b.status()["audio"]["speaking"]
            == true),
        "b's microphone heard nothing: {}",
        b.log()
    );
    std::thread::sleep(Duration::from_millis(3000));
    assert!(a.terminate().success() && b.terminate().success());
    let heard = read(&a_out);
    let last = &heard[heard.len().saturating_sub(2 * 48_000)..];
    assert!(
        power_at(last, 440.0) > 1e-4,
        "a did not hear its tone back through b's devices: {}",
        power_at(last, 440.0)
    );
    // Steadily, not in bursts: most quarter seconds carry it.
    let quarters: Vec<f32> = last.chunks(12_000).map(|q| power_at(q, 440.0)).collect();
    assert!(
        quarters.iter().filter(|p| **p > 1e-4).count() >= 6,
        "a heard its tone back only now and then: {quarters:?}"
    );
    // A device that is not there is a clear error, not a crash or a silent node.
    let data = tempfile::tempdir().unwrap();
    let refused = Command::new(crate::util::canopy())
        .args(["host", "--headless", "--listen", "127.0.0.1:0"])
        .args(["--output-device", "no-such-speaker", "--data"])
        .arg(data.path())
        .env("PULSE_SERVER", &address)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains("no sound output device called \"no-such-speaker\"")
            && said.contains("canopy devices"),
        "{said}"
    );
}

/// Speech by espeak-ng at 48 kHz mono, without dither (the same every run).
fn speech(dir: &Path) -> PathBuf {
    let (raw, wav) = (dir.join("speech-22k.wav"), dir.join("speech.wav"));
    let text = "The quick brown fox jumps over the lazy dog. \
                Canopy lets everyone draw and talk together, even on a poor network.";
    let spoke = Command::new("espeak-ng")
        .arg("-w")
        .arg(&raw)
        .arg(text)
        .status()
        .expect("espeak-ng (Debian's espeak-ng; make test installs it)");
    assert!(spoke.success());
    let converted = Command::new("sox")
        .arg("-D")
        .arg(&raw)
        .args(["-r", "48000", "-c", "1", "-b", "16"])
        .arg(&wav)
        .status()
        .expect("sox");
    assert!(converted.success());
    wav
}

/// STOI (pystoi) of `degraded` against `reference`: aligned by cross-correlation
/// (the recording starts before the speech reaches it), then each talk spurt on its
/// own (a receiver re-buffering after a pause may shift the next spurt by a frame or
/// two, which is timing, not intelligibility).
fn stoi(reference: &Path, degraded: &Path) -> f64 {
    let program = r#"
import sys, wave
import numpy as np
from pystoi import stoi

def read(path):
    w = wave.open(path)
    data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64) / 32768.0
    if w.getnchannels() > 1:
        data = data.reshape(-1, w.getnchannels()).mean(axis=1)
    return data, w.getframerate()

ref, fs = read(sys.argv[1])
deg, _ = read(sys.argv[2])
size = 1 << (len(ref) + len(deg)).bit_length()
corr = np.fft.irfft(np.fft.rfft(deg, size) * np.conj(np.fft.rfft(ref, size)), size)
lag = int(np.argmax(corr[: len(deg)]))
# Talk spurts of the reference: 20 ms frames above -40 dB of the loudest, joined
# across gaps under 100 ms. Each is aligned on its own (a receiver may shift a
# spurt by a frame or two when it re-buffers after a pause; that is timing, not
# intelligibility).
frame = fs // 50
rms = np.array([np.sqrt(np.mean(ref[i:i + frame] ** 2)) for i in range(0, len(ref) - frame, frame)])
voiced = rms > rms.max() * 0.01
spurts, start, quiet = [], None, 0
for i, v in enumerate(voiced):
    if v:
        start = i if start is None else start
        quiet = 0
    elif start is not None:
        quiet += 1
        if quiet >= 5:
            spurts.append((start, i - quiet + 1))
            start, quiet = None, 0
if start is not None:
    spurts.append((start, len(voiced)))
aligned = np.zeros_like(ref)
search = int(0.12 * fs)
for a, b in spurts:
    s, e = a * frame, min(b * frame, len(ref))
    segment = ref[s:e]
    best, best_shift = -2.0, 0
    for shift in range(-search, search + 1, fs // 1000):
        p = lag + s + shift
        if p < 0 or p + len(segment) > len(deg):
            continue
        piece = deg[p:p + len(segment)]
        c = np.dot(segment, piece) / (np.linalg.norm(segment) * np.linalg.norm(piece) + 1e-12)
        if c > best:
            best, best_shift = c, shift
    p = lag + s + best_shift
    if 0 <= p and p + (e - s) <= len(deg):
        aligned[s:e] = deg[p:p + (e - s)]
print(stoi(ref, aligned, fs, extended=False))
"#;
    let output = Command::new("python3")
        .args(["-c", program])
        .arg(reference)
        .arg(degraded)
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "pystoi failed (make test installs it with pip): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn speech_stays_intelligible_through_10_percent_loss_and_jitter() {
    use canopy_integration_tests::{ImpairedLink, Impairment};
    let dir = tempfile::tempdir().unwrap();
    let spoken = speech(dir.path());
    let heard = dir.path().join("heard.wav");
    let mut a = Node::host("a", &["--audio-out", heard.to_str().unwrap()]);
    // b reaches a only through the proxy: 10 % loss, 30 ± 10 ms each way.
    let mut url: canopy_protocol::JoinUrl = a.editor_url().parse().unwrap();
    let proxy = ImpairedLink::start(
        format!("127.0.0.1:{}", url.port).parse().unwrap(),
        Impairment {
            loss: 0.10,
            delay: Duration::from_millis(30),
            jitter: Duration::from_millis(10),
            seed: 42,
        },
    )
    .unwrap();
    url.port = proxy.address().port();
    let mut b = Node::join(
        "b",
        &url.to_string(),
        &["--audio-in", spoken.to_str().unwrap()],
    );
    let seconds = hound::WavReader::open(&spoken).unwrap().duration() as f32 / 48_000.0;
    std::thread::sleep(Duration::from_secs_f32(seconds + 2.0));
    assert!(b.terminate().success() && a.terminate().success());
    let dropped = proxy.dropped.load(std::sync::atomic::Ordering::Relaxed);
    assert!(dropped > 0, "the proxy dropped nothing");
    let score = stoi(&spoken, &heard);
    eprintln!("STOI {score:.3} through 10 % loss, 30 ± 10 ms ({dropped} datagrams dropped)");
    assert!(score >= 0.6, "speech is not intelligible: STOI {score:.3}");
}

/// The session file keeps what the node heard, and `canopy play` gives it back in
/// step with the drawing: spoken to whoever joins the replay, and heard locally.
#[test]
fn recordings_keep_the_audio_and_play_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let a_in = tone(dir.path(), "a440", 440, 3);
    let a_out = dir.path().join("a.wav");
    let mut a = speaking_host(&a_in, &a_out);
    std::thread::sleep(Duration::from_millis(3500));
    assert!(a.terminate().success());
    let file = std::fs::read_dir(a.data.join("sessions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "canopy"))
        .unwrap();
    let packets: i64 = rusqlite::Connection::open(&file)
        .unwrap()
        .query_row("SELECT count(*) FROM audio", [], |r| r.get(0))
        .unwrap();
    // Three seconds of tone: 150 frames of 20 ms (a little less at the edges).
    assert!((120..=160).contains(&packets), "{packets} audio packets");

    let (p_out, c_out) = (dir.path().join("p.wav"), dir.path().join("c.wav"));
    let mut player = Node::start(
        "p",
        &["play", file.to_str().unwrap()],
        &["--audio-out", p_out.to_str().unwrap()],
        None,
    );
    let mut c = Node::join(
        "c",
        player.editor_url(),
        &["--audio-out", c_out.to_str().unwrap()],
    );
    std::thread::sleep(Duration::from_millis(4000));
    assert!(player.terminate().success() && c.terminate().success());
    for (who, heard) in [("the player", read(&p_out)), ("a joiner", read(&c_out))] {
        assert!(
            power_at(&heard, 440.0) > 1e-4,
            "{who} did not hear the recording: {}",
            power_at(&heard, 440.0)
        );
    }
}

/// A viewer may listen, not speak: its voice goes no further than its parent, while
/// an editor's does; and the viewer still hears.
#[test]
fn a_viewer_is_heard_by_no_one_but_hears() {
    let dir = tempfile::tempdir().unwrap();
    let (a_in, v_in, e_in) = (
        tone(dir.path(), "a440", 440, 4),
        tone(dir.path(), "v660", 660, 4),
        tone(dir.path(), "e880", 880, 4),
    );
    let (a_out, v_out) = (dir.path().join("a.wav"), dir.path().join("v.wav"));
    let mut a = speaking_host(&a_in, &a_out);
    let mut viewer = Node::join(
        "viewer",
        a.viewer_url(),
        &[
            "--audio-in",
            v_in.to_str().unwrap(),
            "--audio-out",
            v_out.to_str().unwrap(),
        ],
    );
    let mut editor = Node::join(
        "editor",
        a.editor_url(),
        &["--audio-in", e_in.to_str().unwrap()],
    );
    assert!(wait_until(Duration::from_secs(10), || a.status()
        ["children"]
        .as_array()
        .map(Vec::len)
        == Some(2)));
    std::thread::sleep(Duration::from_millis(3500));
    for node in [&mut a, &mut viewer, &mut editor] {
        assert!(node.terminate().success());
    }
    let (heard_a, heard_v) = (read(&a_out), read(&v_out));
    let power = |s: &[f32], f: f32| power_at(s, f);
    // The host hears the editor's 880 Hz, not the viewer's 660 Hz.
    assert!(
        power(&heard_a, 880.0) > 1e-4,
        "a heard too little of the editor"
    );
    assert!(
        power(&heard_a, 880.0) > 100.0 * power(&heard_a, 660.0).max(1e-9),
        "a: 880 {} vs 660 {}",
        power(&heard_a, 880.0),
        power(&heard_a, 660.0)
    );
    // The viewer hears the host and the editor.
    assert!(power(&heard_v, 440.0) > 1e-4 && power(&heard_v, 880.0) > 1e-4);
}
