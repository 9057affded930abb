//! # axon — Canopy's component runtime
//!
//! Kamaelia's idea in Rust: a program is built of small components, each owning typed
//! inboxes and outboxes and an async body; components know nothing of each other and
//! are wired from outside, like Unix pipes. Kamaelia's ownership rule ("what I put in
//! my outbox I no longer own") is Rust's move semantics.
//!
//! - [`Graph`] spawns components as tokio tasks (so across every core), keeps a live
//!   registry of them, reports each exit with its name ([`GraphEvent`]) and stops them
//!   as a whole. A component that panics or fails is reported; the rest keeps running.
//! - [`link`], [`relink`], [`unlink`] and [`link_named`] wire boxes, also while running.
//!   Queues are bounded (backpressure); per link, messages arrive in order, none lost,
//!   none duplicated, even when a link is re-pointed mid-stream.
//! - A component ending tells what it feeds: an inbox ends ([`Inbox::recv`] returns
//!   `None`) once every outbox linked into it has finished, after their messages.
//! - [`Pipeline`] and [`Graphline`] are the two wiring shapes; [`Backplane`] is the
//!   publish/subscribe hub and the only fan-out.
//! - [`Graph::snapshot`] gives every component, box counter and link, as JSON or DOT.
//!
//! ## Example: a three-component pipeline
//!
//! ```
//! use canopy_axon::{Component, Context, BoxError, Graph, Inbox, Outbox, Pipeline, Scope};
//!
//! /// Emits the numbers 1..=n, then ends (which ends the stages after it).
//! struct Count { n: u32, outbox: Outbox<u32> }
//! impl Component for Count {
//!     async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
//!         for i in 1..=self.n {
//!             self.outbox.send(i).await?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! /// Doubles whatever arrives.
//! struct Double { inbox: Inbox<u32>, outbox: Outbox<u32> }
//! impl Double {
//!     fn new(scope: &Scope) -> Self {
//!         Self { inbox: scope.inbox("inbox"), outbox: scope.outbox("outbox") }
//!     }
//! }
//! impl Component for Double {
//!     async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
//!         while let Some(x) = self.inbox.recv().await {
//!             self.outbox.send(x * 2).await?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let graph = Graph::new("example");
//!     let count = graph.spawn("count", |s| Count { n: 3, outbox: s.outbox("outbox") });
//!     let double = graph.spawn("double", Double::new);
//!
//!     let sink = graph.component("sink");
//!     let mut inbox = sink.inbox::<u32>("inbox");
//!     let (tx, rx) = tokio::sync::oneshot::channel();
//!     let sink = sink.spawn_fn(move |_ctx| async move {
//!         let mut seen = Vec::new();
//!         while let Some(x) = inbox.recv().await {
//!             seen.push(x);
//!         }
//!         let _ = tx.send(seen);
//!         Ok(())
//!     });
//!
//!     let pipeline = Pipeline::new(vec![count, double, sink])?;
//!     assert_eq!(rx.await?, vec![2, 4, 6]);
//!     assert!(pipeline.join().await.iter().all(|exit| exit.is_finished()));
//!     Ok(())
//! }
//! ```

mod backplane;
mod component;
mod envelope;
mod graph;
mod ids;
mod inbox;
mod introspect;
mod link;
mod outbox;
mod pipeline;

pub use backplane::Backplane;
pub use component::{BoxError, Component, Context};
pub use graph::{ComponentHandle, Exit, Graph, GraphEvent, Scope, StopReport};
pub use ids::{BoxId, ComponentId};
pub use inbox::{Inbox, InboxRef, TryRecvError, DEFAULT_CAPACITY};
pub use introspect::{ComponentInfo, InboxInfo, LinkInfo, OutboxInfo, Snapshot};
pub use link::{link, link_named, relink, relink_named, unlink, unlink_named, LinkError};
pub use outbox::{Outbox, OutboxRef, SendError, TrySendError};
pub use pipeline::{Graphline, Linkage, Pipeline, INBOX, OUTBOX};
