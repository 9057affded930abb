//! Revocation on plain peers: by the grant, not the token's bytes; it closes the live
//! links of whoever joined with the invite and of everyone they let in, travels the
//! tree, and is kept across restarts. Only the session's host can revoke.

use std::process::Command;
use std::time::Duration;

use canopy_protocol::JoinUrl;

use crate::util::{assert_converged, canopy, join_error, script, wait_until, Node, FAST};

/// `canopy revoke` of `invite` on `node`'s data.
pub(crate) fn revoke(node: &Node, invite: &str) -> std::process::Output {
    revoke_with(node, invite, &[])
}

/// `canopy revoke` of `invite` on `node`'s data, with `flags`.
pub(crate) fn revoke_with(node: &Node, invite: &str, flags: &[&str]) -> std::process::Output {
    Command::new(canopy())
        .args(["revoke", "--data"])
        .arg(&node.data)
        .args(flags)
        .arg(invite)
        .output()
        .unwrap()
}

fn children(node: &Node) -> usize {
    node.try_status()
        .and_then(|s| s["children"].as_array().map(Vec::len))
        .unwrap_or(usize::MAX)
}

/// `url`'s invite, presented at `node`'s door.
fn at(url: &str, node: &Node) -> String {
    let mut url: JoinUrl = url.parse().unwrap();
    let there: JoinUrl = node.editor_url().parse().unwrap();
    url.host = there.host;
    url.port = there.port;
    url.fingerprint = there.fingerprint;
    url.to_string()
}

fn has_parent(node: &Node) -> bool {
    node.try_status().is_some_and(|s| !s["parent"].is_null())
}

/// The same invite with its expiry spelled `Some(u64::MAX)` instead of `None`: other
/// token bytes, the same signature.
fn respelled(url: &str) -> String {
    let mut url: JoinUrl = url.parse().unwrap();
    assert_eq!(url.invite.grant.expires, None);
    url.invite.grant.expires = Some(u64::MAX);
    url.to_string()
}

#[test]
fn a_revoked_invite_cuts_off_its_holders_and_whoever_they_let_in() {
    let mut host = Node::host("host", &["--no-audio"]);
    // B joins with the host's viewer invite and lets D in; C uses the editor invite.
    let b = Node::join("b", host.viewer_url(), &["--no-audio"]);
    let c = Node::join("c", host.editor_url(), &["--no-audio"]);
    let d = Node::join("d", b.viewer_url(), &["--no-audio"]);
    assert!(wait_until(Duration::from_secs(10), || children(&host) == 2
        && children(&b) == 1));

    // Only the host can revoke.
    let refused = revoke(&c, host.viewer_url());
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("only the session's host"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let done = revoke(&host, host.viewer_url());
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let said = String::from_utf8_lossy(&done.stdout).to_string();
    let grant = said
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_string();

    // B is cut off at the host, and D at B; C stays.
    assert!(
        wait_until(Duration::from_secs(10), || children(&host) == 1
            && children(&b) == 0),
        "host children {}, b children {}",
        children(&host),
        children(&b)
    );
    // Each hears why; D writes it to its log a moment after B has closed its link.
    for node in [&b, &d] {
        assert!(
            wait_until(Duration::from_secs(10), || node
                .log()
                .contains("this invite has been revoked")),
            "{}",
            node.log()
        );
    }
    assert!(has_parent(&c));
    // B's rejoins (with invites it mints itself) are refused too.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(children(&host), 1, "the revoked node got back in");
    assert!(!has_parent(&b));

    // Nobody joins with the invite again, however its token is spelled, nor with
    // one that B mints.
    for url in [
        host.viewer_url().to_string(),
        respelled(host.viewer_url()),
        b.viewer_url().to_string(),
    ] {
        let error = join_error(&url, FAST);
        assert!(error.contains("revoked"), "{url}: {error}");
    }

    // Kept across a restart of the host.
    let kept = std::fs::read_to_string(
        host.data
            .join("revoked")
            .join(host.status()["session"].as_str().unwrap()),
    )
    .unwrap();
    assert!(kept.contains(&grant), "{kept}");
    let viewer_url = host.viewer_url().to_string();
    host.terminate();
    let restarted = Node::start_in("host2", &["host"], &["--no-audio"], host.data.clone());
    let error = join_error(&at(&viewer_url, &restarted), FAST);
    assert!(error.contains("revoked"), "after a restart: {error}");
    drop(restarted);
}

/// D brings an invite B minted to the host's door, not B's. The host vouches for B's
/// marks in D's grant, so revoking the invite B came in with cuts D off too: its
/// link, its rejoins with invites it mints itself, and whoever those invites would
/// let in.
#[test]
fn a_revoked_invite_reaches_whoever_came_in_at_another_door_with_its_holders_invites() {
    let host = Node::host("host", &["--no-audio"]);
    let b = Node::join("b", host.editor_url(), &["--no-audio"]);
    let d = Node::join("d", &at(b.editor_url(), &host), &["--no-audio"]);
    assert!(wait_until(Duration::from_secs(10), || children(&host) == 2
        && children(&b) == 0));

    let done = revoke(&host, host.editor_url());
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(
        wait_until(Duration::from_secs(10), || children(&host) == 0),
        "host children {}",
        children(&host)
    );
    assert!(wait_until(Duration::from_secs(10), || d
        .log()
        .contains("this invite has been revoked")));
    // D's rejoins, with invites it mints itself, are refused.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(children(&host), 0, "a revoked node got back in");
    assert!(!has_parent(&d));
    let error = join_error(&at(d.viewer_url(), &host), FAST);
    assert!(error.contains("revoked"), "{error}");
}

/// A revocation reaches nodes below the one that made it, and those that join later,
/// and they refuse the revoked invite at their own door.
#[test]
fn revocations_travel_the_tree() {
    let host = Node::host("host", &["--no-audio"]);
    let b = Node::join("b", host.editor_url(), &["--no-audio"]);
    let revoked_url = host.viewer_url().to_string();
    let done = revoke(&host, &revoked_url);
    assert!(done.status.success());
    // At B, a node below the host, the same invite is refused.
    assert!(wait_until(Duration::from_secs(10), || b
        .log()
        .contains("grant revoked")));
    let error = join_error(&at(&revoked_url, &b), FAST);
    assert!(error.contains("revoked"), "{error}");
    // A node that joins afterwards learns it on joining, and refuses it too.
    let c = Node::join("c", b.editor_url(), &["--no-audio"]);
    assert!(wait_until(Duration::from_secs(10), || c
        .log()
        .contains("grant revoked")));
    let error = join_error(&at(&revoked_url, &c), FAST);
    assert!(error.contains("revoked"), "{error}");
}

/// The host revokes the editor invite and removes its holders' edits: what the editor
/// and the node it let in drew leaves every replica that stays (the host's own
/// strokes stay), and they are cut off.
#[test]
fn revoking_with_remove_edits_takes_back_everything_its_holders_did() {
    let scripts = tempfile::tempdir().unwrap();
    let draw = |name: &str, count| script(scripts.path(), name, count, 0, r#"{"sleep_ms":1500}"#);
    let host = Node::host(
        "host",
        &["--no-audio", "--draw", draw("host", 5).to_str().unwrap()],
    );
    let viewer = Node::join("viewer", host.viewer_url(), &["--no-audio"]);
    let editor = Node::join(
        "editor",
        host.editor_url(),
        &["--no-audio", "--draw", draw("editor", 20).to_str().unwrap()],
    );
    let below = Node::join(
        "below",
        editor.editor_url(),
        &["--no-audio", "--draw", draw("below", 3).to_str().unwrap()],
    );
    assert_converged(
        &[&host, &viewer, &editor, &below],
        28,
        Duration::from_secs(30),
    );

    let done = revoke_with(&host, host.editor_url(), &["--remove-edits"]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(
        String::from_utf8_lossy(&done.stdout).contains("removed everywhere"),
        "{}",
        String::from_utf8_lossy(&done.stdout)
    );
    assert_converged(&[&host, &viewer], 5, Duration::from_secs(15));
    assert!(
        wait_until(Duration::from_secs(10), || !has_parent(&editor)),
        "the editor is cut off"
    );
    // The host's file drops them too: an export, copy or replay of it shows what
    // every replica shows.
    let file = host.data.join("sessions").join(format!(
        "{}.canopy",
        host.status()["session"].as_str().unwrap()
    ));
    let strokes_in_file = || {
        canopy_node::storage::Store::open_read_only(&file)
            .and_then(|store| store.document())
            .map(|document| document.stroke_count())
            .ok()
    };
    assert!(
        wait_until(Duration::from_secs(10), || strokes_in_file() == Some(5)),
        "the file holds {:?} strokes",
        strokes_in_file()
    );

    // Asked again, it is refused with the reason: a grant is revoked once.
    let again = revoke_with(&host, host.editor_url(), &["--remove-edits"]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("revoked only once"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
