//! What actually travels through a link's queue.
//!
//! Data and the control signals that concern a stream travel in the same queue, so
//! that "this producer has finished" or "stop" can never overtake the messages that
//! were sent before it: a consumer always drains what was posted, then sees the end.

use crate::BoxId;

/// One item in an inbox's queue.
pub(crate) enum Envelope<T> {
    /// A message posted by a linked outbox.
    Data(T),
    /// The outbox with this id belonged to a component that has ended; it will send
    /// nothing more (Kamaelia's `producerFinished`).
    Finished(BoxId),
    /// The graph (or this component's owner) asked the component to stop.
    Stop,
}
