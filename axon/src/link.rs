//! Wiring: linking an outbox to an inbox, from outside both components.
//!
//! Links can be made, re-pointed and removed while everything runs; a node adds and
//! removes per-connection components all the time. An outbox feeds one inbox at a
//! time; an inbox may be fed by many outboxes.

use std::sync::Arc;

use crate::graph::ComponentHandle;
use crate::inbox::{InboxRef, InboxShared};
use crate::outbox::{OutboxRef, OutboxShared};

/// Why a link could not be made or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// `link` never silently re-points; use `relink` for that.
    #[error("outbox {outbox} is already linked to {to}; use relink to re-point it")]
    AlreadyLinked {
        /// `component.box` of the outbox.
        outbox: String,
        /// `component.box` of its current target.
        to: String,
    },
    /// There is nothing to unlink.
    #[error("outbox {outbox} is not linked")]
    NotLinked {
        /// `component.box` of the outbox.
        outbox: String,
    },
    /// The inbox's component has ended or was told to stop; messages would be lost.
    #[error("inbox {inbox} is closed: its component has ended or is stopping")]
    InboxClosed {
        /// `component.box` of the inbox.
        inbox: String,
    },
    /// The outbox's component has ended; it will never send again.
    #[error("outbox {outbox} has finished: its component has ended")]
    OutboxFinished {
        /// `component.box` of the outbox.
        outbox: String,
    },
    /// Name-based linking found boxes of different message types.
    #[error("outbox {outbox} sends {sends} but the inbox accepts {accepts}")]
    TypeMismatch {
        /// `component.box` of the outbox.
        outbox: String,
        /// Message type of the outbox.
        sends: &'static str,
        /// Message type of the inbox.
        accepts: &'static str,
    },
    /// Name-based linking named a box the component does not have.
    #[error("component {component} has no {kind} named {name:?}")]
    NoSuchBox {
        /// The component's name.
        component: String,
        /// `inbox` or `outbox`.
        kind: &'static str,
        /// The box name asked for.
        name: String,
    },
    /// A graphline named a component it was not given.
    #[error("no component named {0:?} in this graphline")]
    NoSuchComponent(String),
}

/// Links `from` to `to`. Fails if `from` is already linked (see [`relink`]).
pub fn link<T: Send + 'static>(from: &OutboxRef<T>, to: &InboxRef<T>) -> Result<(), LinkError> {
    connect(&from.shared, Arc::clone(&to.shared), false)
}

/// Points `from` at `to`, whether or not it was linked before. Messages already posted
/// stay with the old target; the next message goes to the new one.
pub fn relink<T: Send + 'static>(from: &OutboxRef<T>, to: &InboxRef<T>) -> Result<(), LinkError> {
    connect(&from.shared, Arc::clone(&to.shared), true)
}

/// Removes `from`'s link. Its next send waits until it is linked again.
pub fn unlink<T: Send + 'static>(from: &OutboxRef<T>) -> Result<(), LinkError> {
    disconnect(&from.shared)
}

/// Links two boxes named by their components, Kamaelia style:
/// `link_named((&producer, "outbox"), (&consumer, "inbox"))`. The message types are
/// checked when linking.
pub fn link_named(
    from: (&ComponentHandle, &str),
    to: (&ComponentHandle, &str),
) -> Result<(), LinkError> {
    let outbox = from.0.erased_outbox(from.1)?;
    let inbox = to.0.erased_inbox(to.1)?;
    outbox.link_erased(inbox, false)
}

/// Re-points a box named by its component, like [`relink`].
pub fn relink_named(
    from: (&ComponentHandle, &str),
    to: (&ComponentHandle, &str),
) -> Result<(), LinkError> {
    let outbox = from.0.erased_outbox(from.1)?;
    let inbox = to.0.erased_inbox(to.1)?;
    outbox.link_erased(inbox, true)
}

/// Removes the link of an outbox named by its component, like [`unlink`].
pub fn unlink_named(from: (&ComponentHandle, &str)) -> Result<(), LinkError> {
    from.0.erased_outbox(from.1)?.unlink()
}

pub(crate) fn connect<T: Send + 'static>(
    from: &OutboxShared<T>,
    to: Arc<InboxShared<T>>,
    replace: bool,
) -> Result<(), LinkError> {
    let mut target = from.lock_target();
    if from.is_finished() {
        return Err(LinkError::OutboxFinished {
            outbox: describe_outbox(from),
        });
    }
    if to.is_closed() {
        return Err(LinkError::InboxClosed {
            inbox: describe_inbox(&to),
        });
    }
    if let (Some(current), false) = (target.as_ref(), replace) {
        return Err(LinkError::AlreadyLinked {
            outbox: describe_outbox(from),
            to: describe_inbox(current),
        });
    }
    tracing::debug!(from = %describe_outbox(from), to = %describe_inbox(&to), "link");
    from.set_target(&mut target, Some(to));
    Ok(())
}

pub(crate) fn disconnect<T>(from: &OutboxShared<T>) -> Result<(), LinkError> {
    let mut target = from.lock_target();
    if target.is_none() {
        return Err(LinkError::NotLinked {
            outbox: describe_outbox(from),
        });
    }
    tracing::debug!(from = %describe_outbox(from), "unlink");
    from.set_target(&mut target, None);
    Ok(())
}

fn describe_outbox<T>(outbox: &OutboxShared<T>) -> String {
    format!("{}.{}", outbox.owner_name, outbox.name)
}

fn describe_inbox<T>(inbox: &InboxShared<T>) -> String {
    format!("{}.{}", inbox.owner_name, inbox.name)
}
