//! Desktop peers in real windows on a virtual X display (Xvfb, started here), driven
//! with `xdotool` and looked at with ImageMagick's `import`.
//!
//! One test walks through what a person does: two windows joined on 127.0.0.1, a
//! stroke dragged on one shows on the other (pixels and digests), a new page, undo,
//! and a bad URL in the join dialog shown as an error.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use canopy_canvas::Pixmap;

use crate::util::{script, wait_until, Node};

/// A virtual X display for the test's windows, stopped on drop.
struct Display {
    name: String,
    server: Child,
}

impl Display {
    fn start() -> Display {
        // Xvfb picks a free display itself and writes its number to fd 1: no race
        // between tests starting displays at the same time.
        let mut server = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "2400x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is missing: `make test` installs it (Debian package xvfb)");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(server.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let number: u32 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("Xvfb did not say its display: {line:?}"));
        Display {
            name: format!(":{number}"),
            server,
        }
    }

    fn xdotool(&self, args: &[&str]) -> String {
        let output = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &self.name)
            .output()
            .expect("xdotool is missing: `make test` installs it");
        assert!(
            output.status.success(),
            "xdotool {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// The X window of the peer called `name`, once it is mapped.
    fn window(&self, node: &Node) -> String {
        let title = format!("Canopy .* {}", node.name);
        let mut id = String::new();
        let found = wait_until(Duration::from_secs(30), || {
            let output = Command::new("xdotool")
                .args(["search", "--name", &title])
                .env("DISPLAY", &self.name)
                .output()
                .expect("xdotool");
            id = String::from_utf8_lossy(&output.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            !id.is_empty()
        });
        assert!(found, "no window titled {title}; its log:\n{}", node.log());
        id
    }

    /// Presses the left button and moves along `points` (screen coordinates),
    /// leaving the button down.
    fn press(&self, points: &[(i32, i32)]) {
        let (x, y) = points[0];
        self.xdotool(&[
            "mousemove",
            &x.to_string(),
            &y.to_string(),
            "mousedown",
            "1",
        ]);
        for (x, y) in &points[1..] {
            self.xdotool(&["mousemove", &x.to_string(), &y.to_string()]);
            std::thread::sleep(Duration::from_millis(15));
        }
    }

    /// Focuses `window` and presses keys with the pointer over (x, y).
    fn keys(&self, window: &str, at: (i32, i32), keys: &[&str]) {
        self.xdotool(&["mousemove", &at.0.to_string(), &at.1.to_string()]);
        // A window just created may not be mapped yet: focus fails until it is.
        let focused = wait_until(Duration::from_secs(10), || {
            Command::new("xdotool")
                .args(["windowfocus", window])
                .env("DISPLAY", &self.name)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        assert!(focused, "cannot focus window {window}");
        std::thread::sleep(Duration::from_millis(150));
        for key in keys {
            self.xdotool(&["key", key]);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Moves the pointer to `(x, y)` on the screen and clicks there, with pauses a
    /// busy machine needs between them.
    fn click(&self, x: u32, y: u32) {
        self.xdotool(&["mousemove", &x.to_string(), &y.to_string()]);
        std::thread::sleep(Duration::from_millis(300));
        self.xdotool(&["click", "1"]);
        std::thread::sleep(Duration::from_millis(700));
    }

    /// A screenshot of one window.
    fn screenshot(&self, window: &str) -> Pixmap {
        let output = Command::new("import")
            .args(["-window", window, "png:-"])
            .env("DISPLAY", &self.name)
            .output()
            .expect("ImageMagick's import is missing: `make test` installs it");
        assert!(output.status.success(), "import failed");
        Pixmap::decode_png(&output.stdout).expect("a PNG screenshot")
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// Pixels inside `area` (x0, y0, x1, y1) for which `pick` holds.
fn count(shot: &Pixmap, area: (u32, u32, u32, u32), pick: impl Fn(u8, u8, u8) -> bool) -> usize {
    let mut n = 0;
    for y in area.1..area.3.min(shot.height()) {
        for x in area.0..area.2.min(shot.width()) {
            if let Some(p) = shot.pixel(x, y) {
                if pick(p.red(), p.green(), p.blue()) {
                    n += 1;
                }
            }
        }
    }
    n
}

/// The canvas of a window (left of the side panel, between toolbar and status bar).
const CANVAS: (u32, u32, u32, u32) = (10, 90, 890, 680);

fn ink(r: u8, g: u8, b: u8) -> bool {
    r < 70 && g < 70 && b < 70
}

fn field(node: &Node, name: &str) -> serde_json::Value {
    node.try_status()
        .map(|s| s[name].clone())
        .unwrap_or_default()
}

#[test]
fn two_windows_draw_page_undo_and_refuse_a_bad_url() {
    let display = Display::start();
    let alice = Node::desktop("alice", &["host"], &["--no-audio"], &display.name);
    let alice_window = display.window(&alice);
    let bob = Node::desktop(
        "bob",
        &["join", alice.editor_url()],
        &["--no-audio"],
        &display.name,
    );
    let bob_window = display.window(&bob);
    display.xdotool(&["windowmove", &bob_window, "1200", "0"]);
    assert!(
        wait_until(Duration::from_secs(20), || {
            field(&bob, "parent").is_object()
                && field(&alice, "children").as_array().map(Vec::len) == Some(1)
        }),
        "bob never joined alice:\n{}",
        bob.log()
    );
    // Nothing dark on bob's canvas before the stroke.
    std::thread::sleep(Duration::from_millis(500));
    let before = count(&display.screenshot(&bob_window), CANVAS, ink);

    // A stroke dragged on alice's canvas (her window is at the screen's top-left)
    // reaches bob while the button is still down, and is finished on release.
    let path: Vec<(i32, i32)> = (0..=25).map(|i| (250 + i * 12, 300 + i * 4)).collect();
    display.press(&path);
    assert!(
        wait_until(Duration::from_secs(15), || field(&bob, "strokes") == 1),
        "the live stroke did not reach bob while drawn"
    );
    display.xdotool(&["mouseup", "1"]);
    assert!(
        wait_until(Duration::from_secs(15), || {
            field(&bob, "strokes") == 1 && field(&alice, "strokes") == 1
        }),
        "the stroke did not reach bob:\nalice {:?}\nbob {:?}",
        alice.try_status(),
        bob.try_status()
    );
    // Both already showed the stroke while it was drawn: its end, made on release,
    // is still on its way for a moment.
    wait_until(Duration::from_secs(10), || {
        field(&alice, "digest") == field(&bob, "digest")
    });
    assert_eq!(field(&alice, "digest"), field(&bob, "digest"));
    let mut after = 0;
    wait_until(Duration::from_secs(10), || {
        after = count(&display.screenshot(&bob_window), CANVAS, ink);
        after > before + 100
    });
    assert!(
        after > before + 100,
        "bob's window does not show the stroke ({before} dark pixels before, {after} after)"
    );

    // A new page on alice (Ctrl+Shift+N) reaches bob; alice shows it.
    let over_alice = (450, 400);
    display.keys(&alice_window, over_alice, &["ctrl+shift+n"]);
    assert!(
        wait_until(Duration::from_secs(10), || {
            field(&bob, "pages") == 2 && field(&alice, "current_page") == 1
        }),
        "new page: alice {:?} bob {:?}",
        alice.try_status(),
        bob.try_status()
    );
    // Bob sees alice on page 2 (presence), and PageDown takes bob there too.
    display.keys(&bob_window, (1650, 400), &["Page_Down"]);
    assert!(
        wait_until(Duration::from_secs(10), || field(&bob, "current_page") == 1),
        "PageDown did not turn bob's page"
    );

    // Undo (Ctrl+Z) takes back alice's page, then her stroke, on both peers.
    display.keys(&alice_window, over_alice, &["ctrl+z"]);
    assert!(
        wait_until(Duration::from_secs(10), || field(&bob, "pages") == 1),
        "undo of the new page did not reach bob"
    );
    display.keys(&alice_window, over_alice, &["ctrl+z"]);
    assert!(
        wait_until(Duration::from_secs(10), || field(&bob, "strokes") == 0
            && field(&alice, "strokes") == 0),
        "undo of the stroke did not reach bob"
    );
    assert_eq!(field(&alice, "digest"), field(&bob, "digest"));

    // The join dialog (Ctrl+J) with a bad URL shows a readable error, in red, and bob
    // stays in his session.
    display.keys(&bob_window, (1650, 400), &[]);
    std::thread::sleep(Duration::from_millis(300));
    let red_before = count(
        &display.screenshot(&bob_window),
        (0, 0, 1100, 720),
        is_error_red,
    );
    display.keys(&bob_window, (1650, 400), &["ctrl+j"]);
    display.xdotool(&["type", "--delay", "20", "canopy://nowhere"]);
    display.keys(&bob_window, (1650, 400), &["Return"]);
    let mut red_after = 0;
    wait_until(Duration::from_secs(10), || {
        red_after = count(
            &display.screenshot(&bob_window),
            (0, 0, 1100, 720),
            is_error_red,
        );
        red_after > red_before + 50
    });
    assert!(
        red_after > red_before + 50,
        "no error shown for a bad URL ({red_before} red pixels before, {red_after} after)"
    );
    assert!(field(&bob, "parent").is_object(), "bob left his session");
}

/// The window's error colour (`canopy_desktop::app::ERROR_COLOR`), anti-aliased.
fn is_error_red(r: u8, g: u8, b: u8) -> bool {
    let [er, eg, eb, _] = canopy_desktop::app::ERROR_COLOR.to_array();
    r.abs_diff(er) < 30 && g.abs_diff(eg) < 30 && b.abs_diff(eb) < 30
}

/// The shipped `.desktop` file is valid and makes Canopy the handler of canopy:// links.
#[test]
fn desktop_entry_handles_canopy_links() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/desktop/canopy.desktop");
    let output = Command::new("desktop-file-validate")
        .arg(&path)
        .output()
        .expect("desktop-file-validate is missing: `make test` installs desktop-file-utils");
    assert!(
        output.status.success() && output.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let entry = std::fs::read_to_string(&path).unwrap();
    assert!(entry.contains("MimeType=x-scheme-handler/canopy;"));
    assert!(entry.contains("Exec=canopy %u"));
}

#[test]
fn save_as_and_open_from_the_window() {
    let display = Display::start();
    let scripts = tempfile::tempdir().unwrap();
    let draw = crate::util::script(scripts.path(), "alice", 3, 0, "");
    let alice = Node::desktop(
        "alice",
        &["host"],
        &["--no-audio", "--draw", draw.to_str().unwrap()],
        &display.name,
    );
    let window = display.window(&alice);
    assert!(wait_until(Duration::from_secs(15), || field(
        &alice, "strokes"
    ) == 3));

    // Ctrl+S: save a copy; it holds the same document.
    let saved = scripts.path().join("copy.canopy");
    display.keys(&window, (450, 400), &["ctrl+s"]);
    display.keys(&window, (450, 400), &["ctrl+a"]);
    display.xdotool(&["type", "--delay", "10", saved.to_str().unwrap()]);
    display.keys(&window, (450, 400), &["Return"]);
    assert!(
        wait_until(Duration::from_secs(10), || saved.exists()),
        "no file saved:\n{}",
        alice.log()
    );
    let copy = Node::start_in(
        "copy",
        &["open", saved.to_str().unwrap()],
        &["--no-audio"],
        scripts.path().join("copy-data"),
    );
    // Another session: the drawing comes in as the opener's own signed ops.
    assert_eq!(field(&copy, "picture"), field(&alice, "picture"));
    drop(copy);

    // Ctrl+O: open another document; the window's node now hosts it.
    let other = scripts.path().join("other.canopy");
    canopy_desktop::bench::write_document(&other, 5).unwrap();
    display.keys(&window, (450, 400), &["ctrl+o"]);
    display.xdotool(&["type", "--delay", "10", other.to_str().unwrap()]);
    display.keys(&window, (450, 400), &["Return"]);
    assert!(
        wait_until(Duration::from_secs(20), || field(&alice, "strokes") == 5),
        "the window did not open {}:\n{}",
        other.display(),
        alice.log()
    );
    let recent = std::fs::read_to_string(alice.data.join("recent.json")).unwrap();
    assert!(
        recent.contains("other.canopy") && recent.contains("copy.canopy"),
        "{recent}"
    );
}

/// The host revokes its viewer invite from the Session menu: the viewer that joined
/// with it is cut off, and the window offers a new viewer invite.
#[test]
fn the_host_revokes_an_invite_from_the_window() {
    let display = Display::start();
    let alice = Node::desktop("alice", &["host"], &["--no-audio"], &display.name);
    let window = display.window(&alice);
    let viewer_url = alice.viewer_url().to_string();
    let viewer = Node::join("viewer", &viewer_url, &["--no-audio"]);
    assert!(wait_until(Duration::from_secs(15), || field(
        &alice, "children"
    )
    .as_array()
    .map(Vec::len)
        == Some(1)));
    assert_eq!(field(&alice, "can_revoke"), true);

    // Session ▸ Revoke viewer invite…, then Revoke in the question that follows. A
    // busy machine can drop a click before the window has drawn its menu: Escape
    // closes whatever opened, and the clicks are tried again.
    let unlinked = || field(&alice, "children").as_array().map(Vec::len) == Some(0);
    let mut revoked = false;
    for _ in 0..5 {
        display.keys(&window, (450, 400), &["Escape"]);
        display.click(30, 10);
        display.click(80, 108);
        display.click(297, 389);
        if wait_until(Duration::from_secs(3), unlinked) {
            revoked = true;
            break;
        }
    }
    assert!(revoked, "the viewer is still linked:\n{}", alice.log());
    assert!(
        wait_until(Duration::from_secs(10), || viewer
            .log()
            .contains("this invite has been revoked")),
        "{}",
        viewer.log()
    );
    let renewed = field(&alice, "invites")["viewer"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(renewed, viewer_url, "a new viewer invite is offered");
    let again = Node::join("again", &renewed, &["--no-audio"]);
    assert_eq!(again.status()["role"], "viewer");
}

/// The host revokes the editor invite from the window and removes its holders'
/// edits: the editor's strokes leave the host's document, and the editor is cut off.
#[test]
fn the_host_revokes_an_editor_invite_and_removes_its_edits_from_the_window() {
    let display = Display::start();
    let alice = Node::desktop("alice", &["host"], &["--no-audio"], &display.name);
    let window = display.window(&alice);
    let scripts = tempfile::tempdir().unwrap();
    let drawing = script(scripts.path(), "editor", 4, 0, "");
    let editor = Node::join(
        "editor",
        alice.editor_url(),
        &["--no-audio", "--draw", drawing.to_str().unwrap()],
    );
    assert!(
        wait_until(Duration::from_secs(15), || field(&alice, "strokes") == 4),
        "{}",
        alice.log()
    );

    // Session ▸ Revoke editor invite…, then "Revoke and remove their edits".
    let removed = || field(&alice, "strokes") == 0;
    let mut done = false;
    for _ in 0..5 {
        display.keys(&window, (450, 400), &["Escape"]);
        display.click(30, 10);
        display.click(80, 86);
        display.click(430, 389);
        if wait_until(Duration::from_secs(3), removed) {
            done = true;
            break;
        }
    }
    assert!(
        done,
        "the editor's strokes are still shown:\n{}",
        alice.log()
    );
    assert!(
        wait_until(Duration::from_secs(10), || editor
            .log()
            .contains("this invite has been revoked")),
        "{}",
        editor.log()
    );
}
