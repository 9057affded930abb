//! # canopy-audio — everyone hears everyone (sans-I/O DSP)
//!
//! Will hold the Opus codec wrapper, jitter buffer and mix-minus mixer described in
//! `docs/ARCHITECTURE.md`. It has no content yet.
