#![allow(clippy::unwrap_used)]
//! axon's behaviour tests, one binary: ordering, backpressure, relinking, shutdown,
//! failure containment, backplane fan-out and introspection.

mod backplane;
mod failures;
mod introspection;
mod links;
mod shutdown;
mod util;
