//! Backplane: a named publish/subscribe hub (Kamaelia's `Backplane`).
//!
//! The one sanctioned way to feed many inboxes from one stream: publishers link their
//! outboxes into the hub's inbox, and every subscriber receives a clone of every
//! message published after it subscribed. Each subscriber is an ordinary outbox of
//! the hub component, so fan-out shows up in introspection like any other link, and a
//! slow subscriber applies backpressure to the hub like any other inbox.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::graph::{ComponentHandle, Graph};
use crate::inbox::InboxRef;
use crate::link::{self, LinkError};
use crate::outbox::Outbox;

/// Handle on a running hub. Cloning it gives another handle on the same hub.
pub struct Backplane<T: Send + 'static> {
    publish: InboxRef<T>,
    subscribe: mpsc::UnboundedSender<Outbox<T>>,
    handle: ComponentHandle,
    next_subscriber: Arc<AtomicU64>,
}

impl<T: Send + 'static> Clone for Backplane<T> {
    fn clone(&self) -> Self {
        Self {
            publish: self.publish.clone(),
            subscribe: self.subscribe.clone(),
            handle: self.handle.clone(),
            next_subscriber: Arc::clone(&self.next_subscriber),
        }
    }
}

impl<T: Clone + Send + 'static> Backplane<T> {
    /// Spawns a hub component named `backplane/<name>`. Usually reached through
    /// [`Graph::backplane`], which shares one hub per name.
    pub fn start(graph: &Graph, name: &str) -> Self {
        let scope = graph.component(&format!("backplane/{name}"));
        let mut inbox = scope.inbox::<T>("inbox");
        let publish = inbox.handle();
        let (subscribe, mut new_subscribers) = mpsc::unbounded_channel::<Outbox<T>>();
        let handle = scope.spawn_fn(move |_ctx| async move {
            let mut subscribers: Vec<Outbox<T>> = Vec::new();
            loop {
                tokio::select! {
                    biased;
                    Some(subscriber) = new_subscribers.recv() => subscribers.push(subscriber),
                    message = inbox.recv() => match message {
                        Some(message) => fan_out(&mut subscribers, message).await,
                        None if inbox.is_stopped() => break,
                        // Every publisher has finished; the hub lives on for new ones.
                        None => {}
                    },
                }
            }
            Ok(())
        });
        Self {
            publish,
            subscribe,
            handle,
            next_subscriber: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The hub's inbox: link publishers' outboxes here (any number of them).
    pub fn publish_inbox(&self) -> &InboxRef<T> {
        &self.publish
    }

    /// Delivers every message published from now on to `inbox` as well.
    pub fn subscribe(&self, inbox: &InboxRef<T>) -> Result<(), LinkError> {
        let index = self.next_subscriber.fetch_add(1, Ordering::Relaxed);
        let outbox = self
            .handle
            .new_outbox::<T>(&format!("subscriber[{index}]"))
            .ok_or_else(|| LinkError::InboxClosed {
                inbox: format!("{}.inbox", self.handle.name()),
            })?;
        link::link(&outbox.handle(), inbox)?;
        self.subscribe
            .send(outbox)
            .map_err(|_| LinkError::InboxClosed {
                inbox: format!("{}.inbox", self.handle.name()),
            })
    }

    /// The hub's component, e.g. to stop it or to find it in introspection.
    pub fn handle(&self) -> &ComponentHandle {
        &self.handle
    }
}

/// Sends a clone to every subscriber (the last one gets the original) and forgets
/// subscribers whose component has ended.
async fn fan_out<T: Clone + Send + 'static>(subscribers: &mut Vec<Outbox<T>>, message: T) {
    let Some((last, rest)) = subscribers.split_last_mut() else {
        return;
    };
    let mut gone = Vec::new();
    for (index, subscriber) in rest.iter_mut().enumerate() {
        if subscriber.send(message.clone()).await.is_err() {
            gone.push(index);
        }
    }
    if last.send(message).await.is_err() {
        gone.push(rest.len());
    }
    for index in gone.into_iter().rev() {
        subscribers.swap_remove(index);
    }
}
