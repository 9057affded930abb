//! # canopy-protocol — links between nodes (sans-I/O)
//!
//! Will hold the wire messages, framing, handshake and join URLs described in
//! `docs/ARCHITECTURE.md`. It has no content yet: nothing here is used by any other
//! crate, and nothing claims to work.
