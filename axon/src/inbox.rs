//! Inboxes: the receiving end of links, owned by exactly one component.
//!
//! An inbox is a bounded queue. Any number of outboxes may be linked into it (fan-in);
//! the inbox reports end-of-stream once every outbox that fed it has finished, after
//! every message they posted has been received.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::mpsc;

use crate::envelope::Envelope;
use crate::graph::ComponentEntry;
use crate::ids::{next_box_id, BoxId, ComponentId};
use crate::introspect::InboxInfo;

/// Queue length used when a component does not ask for another.
pub const DEFAULT_CAPACITY: usize = 64;

/// The receiving end of links. Owned by one component; `recv` moves each message out.
pub struct Inbox<T> {
    rx: mpsc::Receiver<Envelope<T>>,
    shared: Arc<InboxShared<T>>,
}

/// State of an inbox that linking code and introspection need to reach while the
/// component that owns the inbox is running.
pub(crate) struct InboxShared<T> {
    pub(crate) id: BoxId,
    pub(crate) name: Arc<str>,
    pub(crate) owner_name: Arc<str>,
    pub(crate) owner_id: ComponentId,
    pub(crate) owner: Weak<ComponentEntry>,
    /// Kept so that new links can be made at any time; cloned into each linked outbox.
    pub(crate) tx: mpsc::Sender<Envelope<T>>,
    /// Outboxes currently linked here; end-of-stream comes when the last one finishes.
    writers: Mutex<Vec<BoxId>>,
    received: AtomicU64,
    /// Set once the owner was told to stop or has dropped the inbox: no new links.
    closed: AtomicBool,
}

/// A cloneable reference to an inbox, used to link outboxes into it from outside the
/// component that owns it.
pub struct InboxRef<T> {
    pub(crate) shared: Arc<InboxShared<T>>,
}

impl<T> Clone for InboxRef<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Why `try_recv` returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    /// Nothing is queued right now.
    #[error("the inbox is empty")]
    Empty,
    /// Every linked producer has finished, or the component was told to stop.
    #[error("the inbox has ended")]
    Ended,
}

impl<T: Send + 'static> Inbox<T> {
    pub(crate) fn new(name: &str, capacity: usize, owner: &Arc<ComponentEntry>) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let shared = Arc::new(InboxShared {
            id: next_box_id(),
            name: Arc::from(name),
            owner_name: Arc::clone(&owner.name),
            owner_id: owner.id,
            owner: Arc::downgrade(owner),
            tx,
            writers: Mutex::new(Vec::new()),
            received: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        owner.add_inbox(Arc::clone(&shared) as Arc<dyn AnyInbox>);
        Self { rx, shared }
    }
}

impl<T> Inbox<T> {
    /// Receives the next message. Returns `None` at end-of-stream: every outbox that was
    /// linked here has finished (and everything it sent was received), or the component
    /// was told to stop. After end-of-stream from producers, a newly linked producer can
    /// still deliver; after a stop, `recv` keeps returning `None`.
    pub async fn recv(&mut self) -> Option<T> {
        loop {
            if self.is_stopped() {
                return None;
            }
            match self.rx.recv().await? {
                Envelope::Data(message) => {
                    self.count_received();
                    return Some(message);
                }
                Envelope::Finished(writer) => {
                    if self.shared.writer_finished(writer) {
                        return None;
                    }
                }
                Envelope::Stop => {
                    self.shared.closed.store(true, Ordering::Release);
                    return None;
                }
            }
        }
    }

    /// Takes a queued message without waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        loop {
            if self.is_stopped() {
                return Err(TryRecvError::Ended);
            }
            match self.rx.try_recv() {
                Ok(Envelope::Data(message)) => {
                    self.count_received();
                    return Ok(message);
                }
                Ok(Envelope::Finished(writer)) => {
                    if self.shared.writer_finished(writer) {
                        return Err(TryRecvError::Ended);
                    }
                }
                Ok(Envelope::Stop) => {
                    self.shared.closed.store(true, Ordering::Release);
                    return Err(TryRecvError::Ended);
                }
                Err(mpsc::error::TryRecvError::Empty) => return Err(TryRecvError::Empty),
                Err(mpsc::error::TryRecvError::Disconnected) => return Err(TryRecvError::Ended),
            }
        }
    }

    /// True once the component was told to stop; `recv` will return `None` from now on.
    pub fn is_stopped(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// A reference for linking outboxes into this inbox from outside.
    pub fn handle(&self) -> InboxRef<T> {
        InboxRef {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Messages (and control signals) waiting in the queue.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// The box's name within its component, e.g. `inbox`.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    fn count_received(&self) {
        // Only the owning task writes this counter, so a plain load+store is exact and
        // avoids a locked read-modify-write on the hot path.
        let received = &self.shared.received;
        received.store(received.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

impl<T> Drop for Inbox<T> {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        if let Some(owner) = self.shared.owner.upgrade() {
            owner.forget_box(self.shared.id);
        }
    }
}

impl<T> InboxShared<T> {
    /// Records that `writer` finished; true when it was the last linked writer.
    fn writer_finished(&self, writer: BoxId) -> bool {
        let mut writers = self.writers.lock().unwrap_or_else(PoisonError::into_inner);
        match writers.iter().position(|w| *w == writer) {
            Some(index) => {
                writers.swap_remove(index);
                writers.is_empty()
            }
            None => false,
        }
    }

    pub(crate) fn add_writer(&self, writer: BoxId) {
        self.writers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(writer);
    }

    pub(crate) fn remove_writer(&self, writer: BoxId) {
        let mut writers = self.writers.lock().unwrap_or_else(PoisonError::into_inner);
        writers.retain(|w| *w != writer);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.tx.is_closed()
    }

    /// Queues a control signal behind everything already queued. When the queue is full
    /// the signal is handed to a small task so the caller (often a `Drop`) never blocks.
    pub(crate) fn post_control(&self, envelope: Envelope<T>)
    where
        T: Send + 'static,
    {
        match self.tx.try_send(envelope) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(envelope)) => {
                let tx = self.tx.clone();
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        runtime.spawn(async move {
                            // A closed inbox needs no signal any more.
                            let _ = tx.send(envelope).await;
                        });
                    }
                    Err(_) => tracing::warn!(
                        inbox = %self.name,
                        component = %self.owner_name,
                        "control signal dropped: no tokio runtime to deliver it"
                    ),
                }
            }
        }
    }
}

impl<T> InboxRef<T> {
    /// The name of the component that owns the inbox.
    pub fn component_name(&self) -> &str {
        &self.shared.owner_name
    }

    /// The box's name within its component.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// True once the owning component has stopped or ended; links to it are refused.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }
}

/// Type-erased view of an inbox, so registries and name-based linking can hold inboxes
/// of any message type.
pub(crate) trait AnyInbox: Send + Sync {
    fn id(&self) -> BoxId;
    fn name(&self) -> &str;
    fn type_name(&self) -> &'static str;
    fn info(&self) -> InboxInfo;
    fn request_stop(&self);
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<T: Send + 'static> AnyInbox for InboxShared<T> {
    fn id(&self) -> BoxId {
        self.id
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }

    fn info(&self) -> InboxInfo {
        InboxInfo {
            name: self.name.to_string(),
            message_type: std::any::type_name::<T>().to_string(),
            received: self.received.load(Ordering::Relaxed),
            queued: self.tx.max_capacity() - self.tx.capacity(),
            capacity: self.tx.max_capacity(),
        }
    }

    fn request_stop(&self) {
        self.post_control(Envelope::Stop);
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
