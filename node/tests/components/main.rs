//! A node's components tested alone, in process, through their own boxes: no sockets,
//! no files. Each test wires a component (or a session's per-node components) to
//! taps and drivers and checks what comes out.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod audio;
mod links;
mod session;

use std::time::Duration;

use canopy_axon::{link, Graph, InboxRef, Outbox};
use canopy_canvas::{Action, Color, NodeId, Op, OpId, Tool, FIRST_PAGE};
use canopy_protocol::WireOp;
use tokio::sync::mpsc;

/// An inbox whose messages come out of the returned channel.
pub fn tap<T: Send + 'static>(
    graph: &Graph,
    name: &str,
) -> (InboxRef<T>, mpsc::UnboundedReceiver<T>) {
    let scope = graph.component(name);
    let mut inbox = scope.inbox_with_capacity::<T>("inbox", 65_536);
    let handle = inbox.handle();
    let (tx, rx) = mpsc::unbounded_channel();
    scope.spawn_fn(move |_| async move {
        while let Some(message) = inbox.recv().await {
            let _ = tx.send(message);
        }
        Ok(())
    });
    (handle, rx)
}

/// An outbox linked into `target`.
pub fn driver<T: Send + 'static>(graph: &Graph, name: &str, target: &InboxRef<T>) -> Outbox<T> {
    let outbox = graph.component(name).outbox::<T>("outbox");
    link(&outbox.handle(), target).unwrap();
    outbox
}

/// The next message, or a failure after a few seconds.
pub async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("nothing came out in time")
        .expect("the tap ended")
}

/// Nothing comes out for a while.
pub async fn quiet<T: std::fmt::Debug>(rx: &mut mpsc::UnboundedReceiver<T>) {
    if let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
        panic!("expected nothing, got {message:?}");
    }
}

/// A stroke start by `node`, op number `seq`, on the first page.
pub fn stroke_start(node: u64, seq: u64) -> Op {
    Op {
        id: OpId {
            node: NodeId(node),
            seq,
        },
        lamport: seq,
        action: Action::StrokeStart {
            page: FIRST_PAGE,
            tool: Tool::Pen,
            color: Color::rgb(1, 2, 3),
            width: 2.0,
        },
    }
}

/// The same on the wire.
pub fn wire_start(node: u64, seq: u64) -> WireOp {
    WireOp::from_op(&stroke_start(node, seq))
}
