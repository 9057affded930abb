//! The graph: spawning components as tokio tasks, supervising them, stopping them.
//!
//! Every component runs as its own task on the multi-threaded runtime, so a graph
//! spreads over all cores. A small watcher task per component turns the task's end
//! (return, error, panic, abort) into an [`Exit`] with the component's name, so one
//! component failing never takes the others down.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::backplane::Backplane;
use crate::component::{BoxError, Component, Context, FnComponent};
use crate::ids::{next_component_id, BoxId, ComponentId};
use crate::inbox::{AnyInbox, Inbox, InboxRef, InboxShared, DEFAULT_CAPACITY};
use crate::introspect::{ComponentInfo, LinkInfo, Snapshot};
use crate::link::LinkError;
use crate::outbox::{AnyOutbox, Outbox, OutboxRef, OutboxShared};

/// How a component ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Its body returned `Ok`.
    Finished,
    /// Its body returned an error, given here as text.
    Failed(String),
    /// Its body panicked, with this message.
    Panicked(String),
    /// It was aborted (e.g. it ignored a stop request past the deadline).
    Aborted,
}

impl Exit {
    /// True for a clean finish.
    pub fn is_finished(&self) -> bool {
        matches!(self, Exit::Finished)
    }
}

/// Something that happened to a component of the graph, for supervisors to react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphEvent {
    /// A component started running.
    Started {
        /// Its id.
        id: ComponentId,
        /// Its name.
        name: String,
    },
    /// A component ended, with how.
    Exited {
        /// Its id.
        id: ComponentId,
        /// Its name.
        name: String,
        /// How it ended.
        exit: Exit,
    },
}

/// Registry entry of one component: its name and boxes, for introspection and
/// name-based linking.
pub(crate) struct ComponentEntry {
    pub(crate) id: ComponentId,
    pub(crate) name: Arc<str>,
    /// Cancelled when the component is asked to stop.
    pub(crate) stop: CancellationToken,
    inboxes: Mutex<Vec<Arc<dyn AnyInbox>>>,
    outboxes: Mutex<Vec<Arc<dyn AnyOutbox>>>,
    /// While the component runs: outboxes it has let go of, whose end the watcher
    /// announces once it knows how the component ended. `None` when not running.
    ended_outboxes: Mutex<Option<Vec<Arc<dyn AnyOutbox>>>>,
    /// How the component ended, once it has.
    exit: watch::Sender<Option<Exit>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ComponentEntry {
    fn new(name: &str, stop: CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            id: next_component_id(),
            name: Arc::from(name),
            stop,
            inboxes: Mutex::new(Vec::new()),
            outboxes: Mutex::new(Vec::new()),
            ended_outboxes: Mutex::new(None),
            exit: watch::Sender::new(None),
        })
    }

    /// Waits until the component has ended and its links are settled.
    pub(crate) async fn wait_exit(&self) -> Exit {
        let mut exit = self.exit.subscribe();
        let exit = match exit.wait_for(Option::is_some).await {
            Ok(exit) => exit.clone().unwrap_or(Exit::Aborted),
            Err(_) => Exit::Aborted,
        };
        exit
    }

    /// Called when an outbox of this component is dropped. While the component runs,
    /// the outbox's end waits for the component's exit (returns the outbox to defer
    /// nothing, i.e. `None`); otherwise it is handed back to be finished at once.
    pub(crate) fn outbox_dropped(&self, outbox: Arc<dyn AnyOutbox>) -> Option<Arc<dyn AnyOutbox>> {
        lock(&self.outboxes).retain(|b| b.id() != outbox.id());
        match lock(&self.ended_outboxes).as_mut() {
            Some(pending) => {
                pending.push(outbox);
                None
            }
            None => Some(outbox),
        }
    }

    pub(crate) fn add_inbox(&self, inbox: Arc<dyn AnyInbox>) {
        lock(&self.inboxes).push(inbox);
    }

    pub(crate) fn add_outbox(&self, outbox: Arc<dyn AnyOutbox>) {
        lock(&self.outboxes).push(outbox);
    }

    /// Drops a box from the registry once its owner let go of it.
    pub(crate) fn forget_box(&self, id: BoxId) {
        lock(&self.inboxes).retain(|b| b.id() != id);
        lock(&self.outboxes).retain(|b| b.id() != id);
    }

    fn request_stop(&self) {
        for inbox in lock(&self.inboxes).iter() {
            inbox.request_stop();
        }
    }

    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            id: self.id.0,
            name: self.name.to_string(),
            inboxes: lock(&self.inboxes).iter().map(|b| b.info()).collect(),
            outboxes: lock(&self.outboxes).iter().map(|b| b.info()).collect(),
        }
    }
}

/// Builds one component: create its boxes here, then `spawn` it.
pub struct Scope {
    graph: Graph,
    entry: Arc<ComponentEntry>,
}

impl Scope {
    /// Creates an inbox with the default queue length.
    pub fn inbox<T: Send + 'static>(&self, name: &str) -> Inbox<T> {
        Inbox::new(name, DEFAULT_CAPACITY, &self.entry)
    }

    /// Creates an inbox whose queue holds at most `capacity` messages (at least 1).
    pub fn inbox_with_capacity<T: Send + 'static>(&self, name: &str, capacity: usize) -> Inbox<T> {
        Inbox::new(name, capacity, &self.entry)
    }

    /// Creates an outbox.
    pub fn outbox<T: Send + 'static>(&self, name: &str) -> Outbox<T> {
        Outbox::new(name, &self.entry)
    }

    /// The component's name.
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// Starts the component as a task on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime, like `tokio::spawn`.
    pub fn spawn<C: Component>(self, component: C) -> ComponentHandle {
        self.graph.start(self.entry, component)
    }

    /// Starts a component whose body is a closure over boxes made from this scope.
    pub fn spawn_fn<F, Fut>(self, body: F) -> ComponentHandle
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.spawn(FnComponent(body))
    }
}

/// A cloneable handle on a spawned component: find its boxes, stop it, await its end.
#[derive(Clone)]
pub struct ComponentHandle {
    entry: Arc<ComponentEntry>,
    abort: AbortHandle,
}

impl ComponentHandle {
    /// The component's name.
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// The component's process-unique id.
    pub fn id(&self) -> ComponentId {
        self.entry.id
    }

    /// Finds an inbox by name, checking its message type.
    pub fn inbox<T: Send + 'static>(&self, name: &str) -> Result<InboxRef<T>, LinkError> {
        let erased = self.erased_inbox(name)?;
        let found = erased.type_name();
        let shared = erased
            .into_any()
            .downcast::<InboxShared<T>>()
            .map_err(|_| LinkError::TypeMismatch {
                outbox: format!("(caller expecting {})", std::any::type_name::<T>()),
                sends: std::any::type_name::<T>(),
                accepts: found,
            })?;
        Ok(InboxRef { shared })
    }

    /// Finds an outbox by name, checking its message type.
    pub fn outbox<T: Send + 'static>(&self, name: &str) -> Result<OutboxRef<T>, LinkError> {
        let erased = self.erased_outbox(name)?;
        let found = erased.type_name();
        let shared = erased
            .into_any()
            .downcast::<OutboxShared<T>>()
            .map_err(|_| LinkError::TypeMismatch {
                outbox: format!("{}.{}", self.entry.name, name),
                sends: found,
                accepts: std::any::type_name::<T>(),
            })?;
        Ok(OutboxRef { shared })
    }

    pub(crate) fn erased_inbox(&self, name: &str) -> Result<Arc<dyn AnyInbox>, LinkError> {
        lock(&self.entry.inboxes)
            .iter()
            .find(|b| b.name() == name)
            .cloned()
            .ok_or_else(|| LinkError::NoSuchBox {
                component: self.entry.name.to_string(),
                kind: "inbox",
                name: name.to_string(),
            })
    }

    pub(crate) fn erased_outbox(&self, name: &str) -> Result<Arc<dyn AnyOutbox>, LinkError> {
        lock(&self.entry.outboxes)
            .iter()
            .find(|b| b.name() == name)
            .cloned()
            .ok_or_else(|| LinkError::NoSuchBox {
                component: self.entry.name.to_string(),
                kind: "outbox",
                name: name.to_string(),
            })
    }

    /// Adds an outbox to a running component, for components whose destinations come
    /// and go (a backplane's subscribers, a relay's sessions). `None` once it has ended.
    pub fn new_outbox<T: Send + 'static>(&self, name: &str) -> Option<Outbox<T>> {
        if self.exit().is_some() {
            return None;
        }
        Some(Outbox::new(name, &self.entry))
    }

    /// Asks the component to stop: its inboxes end after what is already queued, and
    /// [`Context::stopped`] resolves. Returns at once; await [`join`](Self::join).
    pub fn stop(&self) {
        self.entry.stop.cancel();
        self.entry.request_stop();
    }

    /// Ends the component's task at its next await point, without draining.
    pub fn abort(&self) {
        self.abort.abort();
    }

    /// Waits for the component to end and says how it ended.
    pub async fn join(&self) -> Exit {
        self.entry.wait_exit().await
    }

    /// How the component ended, or `None` while it runs.
    pub fn exit(&self) -> Option<Exit> {
        self.entry.exit.borrow().clone()
    }
}

/// What [`Graph::stop`] achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopReport {
    /// Components that ended by themselves after being asked.
    pub stopped: usize,
    /// Components that had to be aborted at the deadline, by name.
    pub aborted: Vec<String>,
}

struct GraphInner {
    name: String,
    components: Mutex<BTreeMap<ComponentId, ComponentHandle>>,
    events: broadcast::Sender<GraphEvent>,
    stop: CancellationToken,
    backplanes: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
}

/// A set of running components: spawns them, keeps the live registry for
/// introspection, reports their exits and stops them as a whole.
#[derive(Clone)]
pub struct Graph {
    inner: Arc<GraphInner>,
}

impl Graph {
    /// An empty graph. Its name heads introspection output.
    pub fn new(name: &str) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(GraphInner {
                name: name.to_string(),
                components: Mutex::new(BTreeMap::new()),
                events,
                stop: CancellationToken::new(),
                backplanes: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The graph's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Begins a component named `name` (e.g. `link[3]/reader`): make its boxes from the
    /// returned scope, build the component, then spawn it.
    pub fn component(&self, name: &str) -> Scope {
        Scope {
            graph: self.clone(),
            entry: ComponentEntry::new(name, self.inner.stop.child_token()),
        }
    }

    /// Builds and spawns in one step: `graph.spawn("doubler", |s| Doubler::new(s))`.
    pub fn spawn<C: Component>(
        &self,
        name: &str,
        build: impl FnOnce(&Scope) -> C,
    ) -> ComponentHandle {
        let scope = self.component(name);
        let component = build(&scope);
        scope.spawn(component)
    }

    /// Subscribes to component starts and exits.
    pub fn events(&self) -> broadcast::Receiver<GraphEvent> {
        self.inner.events.subscribe()
    }

    /// Handles on every live component, in start order.
    pub fn components(&self) -> Vec<ComponentHandle> {
        lock(&self.inner.components).values().cloned().collect()
    }

    /// Finds a live component by name.
    pub fn find(&self, name: &str) -> Option<ComponentHandle> {
        lock(&self.inner.components)
            .values()
            .find(|c| c.name() == name)
            .cloned()
    }

    /// Number of live components.
    pub fn len(&self) -> usize {
        lock(&self.inner.components).len()
    }

    /// True when no component is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The named publish/subscribe hub of this graph, created on first use.
    /// Fails if a hub of that name exists for another message type.
    pub fn backplane<T: Clone + Send + 'static>(
        &self,
        name: &str,
    ) -> Result<Backplane<T>, LinkError> {
        let mut hubs = lock(&self.inner.backplanes);
        if let Some(existing) = hubs.get(name) {
            return Arc::clone(existing)
                .downcast::<Backplane<T>>()
                .map(|hub| (*hub).clone())
                .map_err(|_| LinkError::TypeMismatch {
                    outbox: format!("backplane {name:?}"),
                    sends: "another message type",
                    accepts: std::any::type_name::<T>(),
                });
        }
        let hub = Backplane::start(self, name);
        hubs.insert(name.to_string(), Arc::new(hub.clone()));
        Ok(hub)
    }

    /// A consistent-enough picture of the live components, their boxes, counters and
    /// links, for `canopy introspect` and debugging.
    pub fn snapshot(&self) -> Snapshot {
        let components: Vec<ComponentInfo> =
            self.components().iter().map(|c| c.entry.info()).collect();
        let links = components
            .iter()
            .flat_map(|c| {
                c.outboxes.iter().filter_map(move |o| {
                    Some(LinkInfo {
                        from: format!("{}.{}", c.name, o.name),
                        to: o.linked_to.clone()?,
                        from_box: o.name.clone(),
                        to_box: o.linked_to_box.clone()?,
                        from_component: c.id,
                        to_component: o.linked_to_component?,
                    })
                })
            })
            .collect();
        Snapshot {
            graph: self.inner.name.clone(),
            components,
            links,
        }
    }

    /// Stops every component: each is asked (inboxes end after draining, `stopped()`
    /// resolves); those still running at `deadline` are aborted.
    pub async fn stop(&self, deadline: Duration) -> StopReport {
        // List the components before the stop is signalled: one that ends at once
        // (and leaves the list) still counts as stopped.
        let components = self.components();
        self.inner.stop.cancel();
        for component in &components {
            component.stop();
        }
        let until = tokio::time::Instant::now() + deadline;
        let mut report = StopReport {
            stopped: 0,
            aborted: Vec::new(),
        };
        for component in &components {
            if tokio::time::timeout_at(until, component.join())
                .await
                .is_ok()
            {
                report.stopped += 1;
            } else {
                component.abort();
                component.join().await;
                report.aborted.push(component.name().to_string());
            }
        }
        report
    }

    /// Waits until every live component has ended by itself.
    pub async fn join(&self) {
        loop {
            let components = self.components();
            if components.is_empty() {
                return;
            }
            for component in components {
                component.join().await;
            }
        }
    }

    fn start<C: Component>(&self, entry: Arc<ComponentEntry>, component: C) -> ComponentHandle {
        *lock(&entry.ended_outboxes) = Some(Vec::new());
        let ctx = Context {
            entry: Arc::clone(&entry),
            graph: self.clone(),
        };
        let span = tracing::debug_span!("component", name = %entry.name);
        let task = tokio::spawn(tracing::Instrument::instrument(component.run(ctx), span));
        let handle = ComponentHandle {
            entry: Arc::clone(&entry),
            abort: task.abort_handle(),
        };
        lock(&self.inner.components).insert(entry.id, handle.clone());
        let _ = self.inner.events.send(GraphEvent::Started {
            id: entry.id,
            name: entry.name.to_string(),
        });
        let graph = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let exit = match task.await {
                Ok(Ok(())) => Exit::Finished,
                Ok(Err(error)) => Exit::Failed(error.to_string()),
                Err(join_error) if join_error.is_panic() => {
                    Exit::Panicked(panic_message(join_error.into_panic()))
                }
                Err(_) => Exit::Aborted,
            };
            // A clean end tells downstream that the stream has ended; a failure only
            // detaches, so a supervisor can route a replacement into the same inboxes.
            let ended = lock(&entry.ended_outboxes).take().unwrap_or_default();
            for outbox in ended {
                if exit.is_finished() {
                    outbox.announce_finished();
                } else {
                    outbox.detach();
                }
            }
            match &exit {
                Exit::Finished => tracing::debug!(component = %entry.name, "finished"),
                Exit::Failed(reason) | Exit::Panicked(reason) => {
                    tracing::error!(component = %entry.name, exit = ?exit, %reason, "component failed")
                }
                Exit::Aborted => tracing::warn!(component = %entry.name, "aborted"),
            }
            // Out of the graph, then its handle knows how it ended (what `stop` waits
            // for), then everyone hears of it: a supervisor that acts on the event
            // and asks the handle gets the same answer.
            let graph = graph.upgrade();
            if let Some(graph) = &graph {
                lock(&graph.components).remove(&entry.id);
            }
            entry.exit.send_replace(Some(exit.clone()));
            if let Some(graph) = &graph {
                let _ = graph.events.send(GraphEvent::Exited {
                    id: entry.id,
                    name: entry.name.to_string(),
                    exit,
                });
            }
        });
        handle
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}
