//! The tree heals: children of a dead node rejoin higher up, and the dead node catches
//! up when it returns. Edits made while cut off merge on reconnect.

use std::time::Duration;

use crate::util::{assert_converged, script, wait_until, Node};

#[test]
fn children_of_a_killed_node_rejoin_an_ancestor_and_everything_merges() {
    let scripts = tempfile::tempdir().unwrap();
    let a = Node::host("a", &[]);
    let mut b = Node::join("b", a.editor_url(), &[]);
    let b_data = b.data.clone();
    // c draws 10 strokes now and 10 more a while later, while b is dead.
    let c_script = scripts.path().join("c.jsonl");
    let first = std::fs::read_to_string(script(scripts.path(), "c1", 10, 0, "")).unwrap();
    let later =
        std::fs::read_to_string(script(scripts.path(), "c2", 10, 0, r#"{"sleep_ms":2500}"#))
            .unwrap();
    std::fs::write(&c_script, format!("{first}{later}")).unwrap();
    let c = Node::join("c", b.editor_url(), &["--draw", c_script.to_str().unwrap()]);
    assert_converged(&[&a, &b, &c], 10, Duration::from_secs(20));

    b.kill();
    // c notices (idle timeout 3 s), rejoins at a, and its later strokes reach a.
    assert!(
        wait_until(Duration::from_secs(30), || c
            .try_status()
            .is_some_and(|s| s["parent"]["name"] == "a")),
        "c did not rejoin a:\n{}",
        c.log()
    );
    assert_converged(&[&a, &c], 20, Duration::from_secs(30));

    // b comes back (same identity, empty document) and catches up.
    let b = Node::start_in("b", &["join", a.editor_url()], &[], b_data);
    assert_converged(&[&a, &b, &c], 20, Duration::from_secs(30));
}

#[test]
fn sigterm_ends_a_node_cleanly_and_tells_its_children() {
    let a = Node::host("a", &[]);
    let mut b = Node::join("b", a.editor_url(), &[]);
    let status = b.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(wait_until(Duration::from_secs(10), || a.status()
        ["children"]
        .as_array()
        .unwrap()
        .is_empty()));
    assert!(
        !b.data.join("control.sock").exists(),
        "the control socket is removed"
    );
}
