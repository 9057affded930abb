//! Small components and helpers shared by the scenarios.

use canopy_axon::{ComponentHandle, Graph, Inbox, InboxRef, Outbox};
use tokio::sync::oneshot;

/// A multi-threaded runtime like the node's, with two workers.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Spawns a component that sends `0..n` on `outbox`, then ends.
pub fn counter(graph: &Graph, name: &str, n: u64) -> ComponentHandle {
    let scope = graph.component(name);
    let mut outbox: Outbox<u64> = scope.outbox("outbox");
    scope.spawn_fn(move |_ctx| async move {
        for i in 0..n {
            outbox.send(i).await?;
        }
        Ok(())
    })
}

/// Like [`counter`], but it starts sending only once `go` says so: for fan-in tests,
/// where every producer must be linked before the first can finish (an inbox ends
/// when the writers linked so far have all finished).
pub fn gated_counter(
    graph: &Graph,
    name: &str,
    n: u64,
    mut go: tokio::sync::watch::Receiver<bool>,
) -> ComponentHandle {
    let scope = graph.component(name);
    let mut outbox: Outbox<u64> = scope.outbox("outbox");
    scope.spawn_fn(move |_ctx| async move {
        go.wait_for(|go| *go).await?;
        for i in 0..n {
            outbox.send(i).await?;
        }
        Ok(())
    })
}

/// Spawns a component that forwards `inbox` to `outbox` unchanged.
pub fn pass_through(graph: &Graph, name: &str) -> ComponentHandle {
    let scope = graph.component(name);
    let mut inbox: Inbox<u64> = scope.inbox("inbox");
    let mut outbox: Outbox<u64> = scope.outbox("outbox");
    scope.spawn_fn(move |_ctx| async move {
        while let Some(x) = inbox.recv().await {
            outbox.send(x).await?;
        }
        Ok(())
    })
}

/// Spawns a component that collects its inbox until end-of-stream and hands the
/// messages over.
pub fn collector(
    graph: &Graph,
    name: &str,
    capacity: usize,
) -> (ComponentHandle, InboxRef<u64>, oneshot::Receiver<Vec<u64>>) {
    let scope = graph.component(name);
    let mut inbox: Inbox<u64> = scope.inbox_with_capacity("inbox", capacity);
    let inbox_ref = inbox.handle();
    let (tx, rx) = oneshot::channel();
    let handle = scope.spawn_fn(move |_ctx| async move {
        let mut seen = Vec::new();
        while let Some(x) = inbox.recv().await {
            seen.push(x);
        }
        let _ = tx.send(seen);
        Ok(())
    });
    (handle, inbox_ref, rx)
}
