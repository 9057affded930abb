//! canvas behaviour tests, one binary: convergence, undo, sync, bounds, rendering
//! and exports.
#![allow(clippy::unwrap_used)]

mod bounds;
mod convergence;
mod exports;
mod import;
mod rendering;
mod seals;
mod serving;
mod stroke_rule;
mod undo;
mod util;
