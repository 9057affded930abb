//! The `canopy` node: components wired around the document, QUIC links, the control
//! socket and the command line's building blocks. `main.rs` only parses arguments.

pub mod audio;
pub mod background;
pub mod control;
pub mod devices;
pub mod identity;
pub mod import;
pub mod lines;
pub mod link;
pub mod logs;
pub mod metrics;
pub mod node;
pub mod pages;
pub mod script;
pub mod session;
pub mod storage;
pub mod store;
pub mod tls;
