//! Real `canopy` processes on 127.0.0.1: trees that converge, viewers that cannot
//! edit, nodes that die and come back, and every join error by its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audio;
mod deploy;
mod desktop;
mod errors;
mod files;
mod healing;
mod hostile;
mod presence;
mod relay;
mod revocation;
mod seals;
mod tools;
mod trees;
mod util;
mod viewers;
