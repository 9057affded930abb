//! The live registry as JSON and DOT.

use std::io::Write;
use std::process::{Command, Stdio};

use canopy_axon::{link_named, Graph, Snapshot};
use expect_test::expect;

use crate::util::{pass_through, runtime};

/// Builds `link[0]/reader -> link[0]/decoder -> sink`, pushes three messages through,
/// and snapshots once everything is quiet.
fn quiet_snapshot() -> Snapshot {
    runtime().block_on(async {
        let graph = Graph::new("node");
        let scope = graph.component("link[0]/reader");
        let mut outbox = scope.outbox::<u64>("outbox");
        let reader = scope.spawn_fn(move |ctx| async move {
            for i in 0..3 {
                outbox.send(i).await?;
            }
            ctx.stopped().await;
            Ok(())
        });
        let decoder = pass_through(&graph, "link[0]/decoder");
        let scope = graph.component("sink");
        let mut inbox = scope.inbox_with_capacity::<u64>("inbox", 16);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sink = scope.spawn_fn(move |ctx| async move {
            for _ in 0..3 {
                inbox.recv().await;
            }
            let _ = tx.send(());
            ctx.stopped().await;
            Ok(())
        });
        link_named((&reader, "outbox"), (&decoder, "inbox")).unwrap();
        link_named((&decoder, "outbox"), (&sink, "inbox")).unwrap();
        rx.await.unwrap();
        let snapshot = graph.snapshot();
        graph.stop(std::time::Duration::from_secs(5)).await;
        snapshot
    })
}

#[test]
fn json_round_trips_and_counts_messages() {
    let snapshot = quiet_snapshot();
    let json = snapshot.to_json();
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["graph"], "node");
    assert_eq!(parsed["components"].as_array().unwrap().len(), 3);
    assert_eq!(parsed["links"].as_array().unwrap().len(), 2);
    let back: Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snapshot);
    let decoder = &snapshot.components[1];
    assert_eq!(decoder.name, "link[0]/decoder");
    assert_eq!(decoder.inboxes[0].received, 3);
    assert_eq!(decoder.outboxes[0].sent, 3);
    assert_eq!(decoder.outboxes[0].linked_to.as_deref(), Some("sink.inbox"));
}

#[test]
fn dot_has_the_graphs_shape_and_renders_with_graphviz() {
    let dot = quiet_snapshot().to_dot();
    expect![[r#"
        digraph "node" {
          rankdir=LR;
          node [shape=box, fontname="monospace"];
          n0 [label="link[0]/reader\nout outbox: 3 sent"];
          n1 [label="link[0]/decoder\nin inbox: 3 recv, 0/64 queued\nout outbox: 3 sent"];
          n2 [label="sink\nin inbox: 3 recv, 0/16 queued"];
          n0 -> n1 [label="outbox → inbox"];
          n1 -> n2 [label="outbox → inbox"];
        }
    "#]]
    .assert_eq(&dot);

    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("`dot` (Debian's graphviz) is needed; `make test` installs it");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dot.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("<svg"));
}
