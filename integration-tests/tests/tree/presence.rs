//! Presence travels the tree as datagrams: everyone sees everyone, and the page each
//! one shows.

use std::time::Duration;

use crate::util::{wait_until, Node};

#[test]
fn everyone_sees_everyone_and_the_page_they_show() {
    let scripts = tempfile::tempdir().unwrap();
    let turn = scripts.path().join("turn.jsonl");
    std::fs::write(
        &turn,
        "{\"new_page\":{}}\n{\"goto_page\":1}\n{\"cursor\":[12.5,40]}\n",
    )
    .unwrap();
    let a = Node::host("alice", &[]);
    let b = Node::join("bob", a.editor_url(), &[]);
    let c = Node::join("carol", b.viewer_url(), &[]);
    let d = Node::join("dave", a.editor_url(), &["--draw", turn.to_str().unwrap()]);
    let pages_seen_by = |node: &Node| -> Vec<(String, u64)> {
        let mut seen: Vec<(String, u64)> = node.status()["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["page"].as_u64().unwrap(),
                )
            })
            .collect();
        seen.sort();
        seen
    };
    let expected = vec![
        ("alice".to_string(), 0),
        ("bob".to_string(), 0),
        ("carol".to_string(), 0),
        ("dave".to_string(), 1),
    ];
    for node in [&a, &b, &c, &d] {
        assert!(
            wait_until(Duration::from_secs(15), || pages_seen_by(node) == expected),
            "{} sees {:?}",
            node.name,
            pages_seen_by(node)
        );
    }
    // Dave's cursor reaches Carol, two hops and one viewer away.
    let daves_cursor = |node: &Node| {
        node.status()["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "dave")
            .map(|p| p["cursor"].clone())
    };
    assert!(wait_until(Duration::from_secs(10), || daves_cursor(&c)
        == Some(serde_json::json!([12.5, 40.0]))));
    // Roles show in the participants list: Dave sees Carol as a viewer.
    let role_of = |node: &Node, name: &str| {
        node.status()["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["role"].clone())
    };
    assert_eq!(role_of(&d, "carol"), Some(serde_json::json!("viewer")));
    assert_eq!(role_of(&d, "alice"), Some(serde_json::json!("editor")));
}
