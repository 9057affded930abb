//! Presence: who is here, which page they show and where their cursor is. Sent as QUIC
//! datagrams — unreliable and unordered on purpose: only the latest matters, so a lost
//! one is replaced by the next, and presence never waits behind ops.

use canopy_canvas::{Color, NodeId, Point};
use serde::{Deserialize, Serialize};

use crate::frame::FrameError;
use crate::Role;

/// Largest presence datagram (fits any path's MTU).
pub const MAX_DATAGRAM: usize = 1200;

/// Longest display name, in characters: in presence, and in a hello (a longer one is
/// refused at the door).
pub const MAX_NAME: usize = 64;

/// `name` cut to [`MAX_NAME`] characters: what an honest node says.
pub fn bounded_name(name: &str) -> String {
    name.chars().take(MAX_NAME).collect()
}

/// One participant's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Presence {
    /// Who (document identity).
    pub node: NodeId,
    /// Increases with every update from that node: older ones are ignored.
    pub seq: u64,
    /// Display name.
    pub name: String,
    /// Their colour (for cursors and the participants list).
    pub color: Color,
    /// Index of the page they show (what followers of a presenter follow).
    pub page: u32,
    /// Cursor position on that page, if the pointer is over it.
    pub cursor: Option<Point>,
    /// The role the participant holds: what it says, which every node receiving it
    /// replaces with the role its authority gives (participant lists only: what a
    /// peer may do is decided by its invite, never by this).
    pub role: Option<Role>,
    /// The participant's microphone is muted.
    pub muted: bool,
}

impl Presence {
    /// Encodes as one datagram (the name is cut to [`MAX_NAME`] characters).
    pub fn encode(&self) -> Vec<u8> {
        let mut bounded = self.clone();
        if bounded.name.chars().count() > MAX_NAME {
            bounded.name = bounded_name(&bounded.name);
        }
        bincode::serde::encode_to_vec(&bounded, bincode::config::standard()).unwrap_or_default()
    }

    /// Decodes a datagram; anything malformed or oversized is an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Presence, FrameError> {
        if bytes.len() > MAX_DATAGRAM {
            return Err(FrameError::TooLarge(bytes.len()));
        }
        let config = bincode::config::standard().with_limit::<MAX_DATAGRAM>();
        let (presence, used): (Presence, usize) = bincode::serde::decode_from_slice(bytes, config)
            .map_err(|e| FrameError::Decode(e.to_string()))?;
        if used != bytes.len() || presence.name.chars().count() > MAX_NAME {
            return Err(FrameError::Decode("malformed presence".into()));
        }
        if let Some(p) = presence.cursor {
            if !(p.x.is_finite() && p.y.is_finite()) {
                return Err(FrameError::Decode("cursor is not finite".into()));
            }
        }
        Ok(presence)
    }
}
