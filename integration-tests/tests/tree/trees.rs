//! Many nodes drawing at once converge.

use std::time::Duration;

use crate::util::{assert_converged, script, Node};

/// Seven nodes in three levels (host; two children; four grandchildren) each draw 100
/// strokes at the same time: every node ends with all 700 and one digest.
#[test]
fn seven_nodes_in_three_levels_converge() {
    let scripts = tempfile::tempdir().unwrap();
    // Every node waits a moment (so the tree is complete) and then draws.
    let draw = |name: &str| script(scripts.path(), name, 100, 0, r#"{"sleep_ms":1500}"#);
    let a = Node::host("a", &["--draw", draw("a").to_str().unwrap()]);
    let b = Node::join(
        "b",
        a.editor_url(),
        &["--draw", draw("b").to_str().unwrap()],
    );
    let c = Node::join(
        "c",
        a.editor_url(),
        &["--draw", draw("c").to_str().unwrap()],
    );
    let d = Node::join(
        "d",
        b.editor_url(),
        &["--draw", draw("d").to_str().unwrap()],
    );
    let e = Node::join(
        "e",
        b.editor_url(),
        &["--draw", draw("e").to_str().unwrap()],
    );
    let f = Node::join(
        "f",
        c.editor_url(),
        &["--draw", draw("f").to_str().unwrap()],
    );
    let g = Node::join(
        "g",
        c.editor_url(),
        &["--draw", draw("g").to_str().unwrap()],
    );
    let all = [&a, &b, &c, &d, &e, &f, &g];
    assert_converged(&all, 700, Duration::from_secs(60));

    // The shape is what we built: a has two children, b and c have a parent and two.
    let sa = a.status();
    assert!(sa["parent"].is_null());
    assert_eq!(sa["children"].as_array().unwrap().len(), 2);
    for middle in [&b, &c] {
        let s = middle.status();
        assert_eq!(s["parent"]["name"], "a");
        assert_eq!(s["children"].as_array().unwrap().len(), 2);
        assert!(
            s["components"].as_u64().unwrap() >= 8,
            "core, listener, control, parent, 3 links × 2"
        );
    }
    assert_eq!(d.status()["parent"]["name"], "b");
}

/// A late joiner receives everything drawn before it came.
#[test]
fn a_late_joiner_catches_up() {
    let scripts = tempfile::tempdir().unwrap();
    let a = Node::host(
        "a",
        &[
            "--draw",
            script(scripts.path(), "a", 300, 0, "").to_str().unwrap(),
        ],
    );
    assert!(crate::util::wait_until(Duration::from_secs(20), || a
        .status()["strokes"]
        == 300));
    let late = Node::join("late", a.viewer_url(), &[]);
    assert_converged(&[&a, &late], 300, Duration::from_secs(30));
}
