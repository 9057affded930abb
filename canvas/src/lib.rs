//! # canopy-canvas — the shared document (sans-I/O)
//!
//! Will hold pages, strokes and the ops that converge on every peer, as described in
//! `docs/ARCHITECTURE.md`. It has no content yet.
