//! Outboxes: the sending end of links, owned by exactly one component.
//!
//! An outbox feeds at most one inbox at a time (fan-out goes through an explicit
//! [`Backplane`](crate::Backplane)), and the link can be re-pointed while the
//! component runs. Sending moves the message: once posted it is no longer the sender's.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::envelope::Envelope;
use crate::graph::ComponentEntry;
use crate::ids::{next_box_id, BoxId};
use crate::inbox::{AnyInbox, InboxShared};
use crate::introspect::OutboxInfo;
use crate::link::LinkError;

/// The sending end of a link.
pub struct Outbox<T: Send + 'static> {
    shared: Arc<OutboxShared<T>>,
    /// The current target's queue, cached so the hot path costs one atomic load.
    cached: Option<mpsc::Sender<Envelope<T>>>,
    cached_generation: u64,
    /// Set by `close`, which has already announced the end.
    closed: bool,
}

/// A failed send gives the message back, so nothing is silently dropped.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the linked inbox has closed: its component has ended")]
pub struct SendError<T>(pub T);

/// Why `try_send` could not post at once; the message comes back.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrySendError<T> {
    /// The target's queue is full.
    #[error("the linked inbox is full")]
    Full(T),
    /// The outbox is not linked.
    #[error("the outbox is not linked")]
    Unlinked(T),
    /// The target's component has ended.
    #[error("the linked inbox has closed")]
    Closed(T),
}

pub(crate) struct OutboxShared<T> {
    pub(crate) id: BoxId,
    pub(crate) name: Arc<str>,
    pub(crate) owner_name: Arc<str>,
    owner: Weak<ComponentEntry>,
    /// The owner's stop signal: a send waiting for a link gives up when it fires.
    owner_stop: CancellationToken,
    /// Bumped (under the `target` lock) whenever the target changes.
    generation: AtomicU64,
    target: Mutex<Option<Arc<InboxShared<T>>>>,
    /// Wakes a sender waiting for a link, or waiting on a queue it was re-pointed away from.
    relinked: Notify,
    sent: AtomicU64,
    /// The owning component dropped the outbox; it will never send again.
    finished: AtomicBool,
}

/// A cloneable reference to an outbox, used to link, unlink and relink it from outside
/// the component that owns it.
pub struct OutboxRef<T> {
    pub(crate) shared: Arc<OutboxShared<T>>,
}

impl<T> Clone for OutboxRef<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T: Send + 'static> Outbox<T> {
    pub(crate) fn new(name: &str, owner: &Arc<ComponentEntry>) -> Self {
        let shared = Arc::new(OutboxShared {
            id: next_box_id(),
            name: Arc::from(name),
            owner_name: Arc::clone(&owner.name),
            owner: Arc::downgrade(owner),
            owner_stop: owner.stop.clone(),
            generation: AtomicU64::new(0),
            target: Mutex::new(None),
            relinked: Notify::new(),
            sent: AtomicU64::new(0),
            finished: AtomicBool::new(false),
        });
        owner.add_outbox(Arc::clone(&shared) as Arc<dyn AnyOutbox>);
        Self {
            shared,
            cached: None,
            cached_generation: u64::MAX,
            closed: false,
        }
    }
}

impl<T: Send + 'static> Outbox<T> {
    /// Posts a message to the linked inbox, waiting while its queue is full
    /// (backpressure) or while the outbox is not linked at all. If the link is
    /// re-pointed while waiting, the message goes to the new target, so every message
    /// is delivered exactly once and, per link, in order.
    ///
    /// Fails when the linked inbox's component has ended, or when the outbox is not
    /// linked and its own component is asked to stop; the message comes back.
    pub async fn send(&mut self, message: T) -> Result<(), SendError<T>> {
        loop {
            let generation = self.refresh();
            let Some(tx) = &self.cached else {
                let relinked = self.shared.relinked.notified();
                tokio::pin!(relinked);
                relinked.as_mut().enable();
                if self.shared.generation.load(Ordering::Acquire) == generation {
                    tokio::select! {
                        () = &mut relinked => {}
                        () = self.shared.owner_stop.cancelled() => return Err(SendError(message)),
                    }
                }
                continue;
            };
            match tx.try_reserve() {
                Ok(permit) => {
                    permit.send(Envelope::Data(message));
                    self.count_sent();
                    return Ok(());
                }
                Err(mpsc::error::TrySendError::Closed(())) => {
                    if !self.target_failed(generation).await {
                        return Err(SendError(message));
                    }
                }
                Err(mpsc::error::TrySendError::Full(())) => {
                    let relinked = self.shared.relinked.notified();
                    tokio::pin!(relinked);
                    relinked.as_mut().enable();
                    if self.shared.generation.load(Ordering::Acquire) != generation {
                        continue;
                    }
                    tokio::select! {
                        permit = tx.reserve() => {
                            let still_linked =
                                self.shared.generation.load(Ordering::Acquire) == generation;
                            let closed = match permit {
                                Ok(permit) if still_linked => {
                                    permit.send(Envelope::Data(message));
                                    self.count_sent();
                                    return Ok(());
                                }
                                Err(_) => still_linked,
                                // Re-pointed while waiting: try the new target.
                                Ok(_) => false,
                            };
                            if closed && !self.target_failed(generation).await {
                                return Err(SendError(message));
                            }
                        }
                        () = &mut relinked => {}
                    }
                }
            }
        }
    }

    /// Called when the target's queue has closed. If the target's component failed,
    /// the link is dropped (the failed component is cut out of the graph and a
    /// supervisor may link a replacement) and `true` says "wait for a new link". If it
    /// ended cleanly (or the link changed meanwhile, `true` again: retry), the stream
    /// really has nowhere to go and `false` is returned.
    async fn target_failed(&self, generation: u64) -> bool {
        let target = self.shared.lock_target().clone();
        if self.shared.generation.load(Ordering::Acquire) != generation {
            return true;
        }
        let Some(owner) = target.as_ref().and_then(|inbox| inbox.owner.upgrade()) else {
            return false;
        };
        if owner.wait_exit().await.is_finished() {
            return self.shared.generation.load(Ordering::Acquire) != generation;
        }
        let mut current = self.shared.lock_target();
        if self.shared.generation.load(Ordering::Acquire) == generation {
            self.shared.set_target(&mut current, None);
        }
        true
    }

    /// Posts a message only if it can go at once; otherwise gives it back and says
    /// why. For senders that must never wait on one slow receiver (a router feeding
    /// many links drops the link instead).
    pub fn try_send(&mut self, message: T) -> Result<(), TrySendError<T>> {
        self.refresh();
        let Some(tx) = &self.cached else {
            return Err(TrySendError::Unlinked(message));
        };
        match tx.try_reserve() {
            Ok(permit) => {
                permit.send(Envelope::Data(message));
                self.count_sent();
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(())) => Err(TrySendError::Full(message)),
            Err(mpsc::error::TrySendError::Closed(())) => Err(TrySendError::Closed(message)),
        }
    }

    /// Ends this outbox's stream now, while its component goes on: the linked inbox
    /// sees end-of-stream after what was sent (unlike a plain drop, which waits for
    /// the component's exit to know whether it ended cleanly).
    pub fn close(mut self) {
        self.closed = true;
        self.shared.finished.store(true, Ordering::Release);
        AnyOutbox::announce_finished(&*self.shared);
    }

    /// A reference for linking this outbox from outside.
    pub fn handle(&self) -> OutboxRef<T> {
        OutboxRef {
            shared: Arc::clone(&self.shared),
        }
    }

    /// True while the outbox is linked to an inbox.
    pub fn is_linked(&self) -> bool {
        self.shared.lock_target().is_some()
    }

    /// The box's name within its component, e.g. `outbox`.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Re-reads the target if it changed since the last send; returns the generation
    /// the cached target belongs to.
    fn refresh(&mut self) -> u64 {
        let generation = self.shared.generation.load(Ordering::Acquire);
        if generation != self.cached_generation {
            let target = self.shared.lock_target();
            // Read again under the lock: links bump the generation while holding it.
            self.cached_generation = self.shared.generation.load(Ordering::Acquire);
            self.cached = target.as_ref().map(|inbox| inbox.tx.clone());
        }
        self.cached_generation
    }

    fn count_sent(&self) {
        // Single writer (the owning task): load+store is exact and cheap.
        let sent = &self.shared.sent;
        sent.store(sent.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

impl<T: Send + 'static> Drop for Outbox<T> {
    /// The outbox will never send again. While its component runs, the runtime
    /// announces that when the component exits (end-of-stream after a clean end, a
    /// quiet detach after a failure); otherwise at once.
    fn drop(&mut self) {
        self.shared.finished.store(true, Ordering::Release);
        if self.closed {
            if let Some(owner) = self.shared.owner.upgrade() {
                owner.forget_box(self.shared.id);
            }
            return;
        }
        let erased = Arc::clone(&self.shared) as Arc<dyn AnyOutbox>;
        let now = match self.shared.owner.upgrade() {
            Some(owner) => owner.outbox_dropped(erased),
            None => Some(erased),
        };
        if let Some(outbox) = now {
            outbox.announce_finished();
        }
    }
}

impl<T> OutboxShared<T> {
    pub(crate) fn lock_target(&self) -> MutexGuard<'_, Option<Arc<InboxShared<T>>>> {
        self.target.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Replaces the target while holding its lock; wakes a sender waiting on the old one.
    pub(crate) fn set_target(
        &self,
        target: &mut MutexGuard<'_, Option<Arc<InboxShared<T>>>>,
        new: Option<Arc<InboxShared<T>>>,
    ) {
        if let Some(old) = target.as_ref() {
            old.remove_writer(self.id);
        }
        if let Some(new) = new.as_ref() {
            new.add_writer(self.id);
        }
        **target = new;
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.relinked.notify_waiters();
    }
}

impl<T> OutboxRef<T> {
    /// The name of the component that owns the outbox.
    pub fn component_name(&self) -> &str {
        &self.shared.owner_name
    }

    /// The box's name within its component.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// True while the outbox is linked to an inbox.
    pub fn is_linked(&self) -> bool {
        self.shared.lock_target().is_some()
    }
}

/// Type-erased view of an outbox for registries and name-based linking.
pub(crate) trait AnyOutbox: Send + Sync {
    fn id(&self) -> BoxId;
    fn name(&self) -> &str;
    fn type_name(&self) -> &'static str;
    fn info(&self) -> OutboxInfo;
    /// Links to `inbox` if it carries the same message type.
    fn link_erased(&self, inbox: Arc<dyn AnyInbox>, replace: bool) -> Result<(), LinkError>;
    fn unlink(&self) -> Result<(), LinkError>;
    /// Tells the target that this outbox has finished (end-of-stream once it was the
    /// last writer).
    fn announce_finished(&self);
    /// Leaves the target without a word, as if unlinked: its inbox does not end.
    fn detach(&self);
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<T: Send + 'static> AnyOutbox for OutboxShared<T> {
    fn id(&self) -> BoxId {
        self.id
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }

    fn info(&self) -> OutboxInfo {
        let target = self.lock_target();
        OutboxInfo {
            name: self.name.to_string(),
            message_type: std::any::type_name::<T>().to_string(),
            sent: self.sent.load(Ordering::Relaxed),
            linked_to: target
                .as_ref()
                .map(|inbox| format!("{}.{}", inbox.owner_name, inbox.name)),
            linked_to_component: target.as_ref().map(|inbox| inbox.owner_id.0),
            linked_to_box: target.as_ref().map(|inbox| inbox.name.to_string()),
        }
    }

    fn link_erased(&self, inbox: Arc<dyn AnyInbox>, replace: bool) -> Result<(), LinkError> {
        let found = inbox.type_name();
        let inbox =
            inbox
                .into_any()
                .downcast::<InboxShared<T>>()
                .map_err(|_| LinkError::TypeMismatch {
                    outbox: format!("{}.{}", self.owner_name, self.name),
                    sends: std::any::type_name::<T>(),
                    accepts: found,
                })?;
        crate::link::connect(self, inbox, replace)
    }

    fn unlink(&self) -> Result<(), LinkError> {
        crate::link::disconnect(self)
    }

    fn announce_finished(&self) {
        if let Some(inbox) = self.lock_target().as_ref() {
            inbox.post_control(Envelope::Finished(self.id));
        }
    }

    fn detach(&self) {
        let mut target = self.lock_target();
        if target.is_some() {
            self.set_target(&mut target, None);
        }
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
