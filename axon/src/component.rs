//! What a component is: a value that owns its boxes and has an async body.

use std::future::Future;
use std::sync::Arc;

use crate::graph::{ComponentEntry, Graph};
use crate::ids::ComponentId;
use crate::inbox::{Inbox, DEFAULT_CAPACITY};
use crate::outbox::Outbox;

/// Any error a component body may end with; the runtime reports it with the
/// component's name.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A component: a struct holding its [`Inbox`]es and [`Outbox`]es, whose `run` body
/// receives, works and sends until its inputs end or it is told to stop. It never
/// knows what it is linked to.
///
/// Returning `Err` (or panicking) is reported as a failure of this component alone;
/// the rest of the graph keeps running.
pub trait Component: Send + 'static {
    /// The component's body. `ctx` says who it is and when it has been asked to stop.
    fn run(self, ctx: Context) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// A component made from a closure over boxes, for glue too small to deserve a type.
pub(crate) struct FnComponent<F>(pub(crate) F);

impl<F, Fut> Component for FnComponent<F>
where
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    fn run(self, ctx: Context) -> impl Future<Output = Result<(), BoxError>> + Send {
        (self.0)(ctx)
    }
}

/// What a running component knows about itself.
pub struct Context {
    pub(crate) entry: Arc<ComponentEntry>,
    pub(crate) graph: Graph,
}

impl Context {
    /// The component's name, e.g. `link[3]/reader`.
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// The component's process-unique id.
    pub fn id(&self) -> ComponentId {
        self.entry.id
    }

    /// The graph the component runs in, to spawn and wire further components.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Resolves once the component has been asked to stop. Components that wait on
    /// something other than their inboxes (timers, sockets) select on this; inboxes
    /// end by themselves.
    pub async fn stopped(&self) {
        self.entry.stop.cancelled().await;
    }

    /// True once the component has been asked to stop.
    pub fn is_stopping(&self) -> bool {
        self.entry.stop.is_cancelled()
    }

    /// Adds an inbox while running (e.g. one per peer that arrives).
    pub fn inbox<T: Send + 'static>(&self, name: &str) -> Inbox<T> {
        Inbox::new(name, DEFAULT_CAPACITY, &self.entry)
    }

    /// Adds an outbox while running (e.g. one per subscriber).
    pub fn outbox<T: Send + 'static>(&self, name: &str) -> Outbox<T> {
        Outbox::new(name, &self.entry)
    }
}
