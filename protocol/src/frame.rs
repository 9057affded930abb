//! Framing: each message is a 4-byte big-endian length and that many bytes of bincode.
//!
//! The decoder is fed whatever bytes arrive and yields whole messages; a length over
//! [`MAX_FRAME`] is refused before any of it is buffered, so a peer cannot make a node
//! allocate more than that per link.

use crate::message::Message;

/// Largest frame accepted (1 MiB): an op batch is split well below this.
pub const MAX_FRAME: usize = 1 << 20;

/// Why bytes could not be framed or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announces too much.
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME}")]
    TooLarge(usize),
    /// The bytes are not a message.
    #[error("undecodable frame: {0}")]
    Decode(String),
}

/// Encodes one message as a frame.
pub fn encode(message: &Message) -> Result<Vec<u8>, FrameError> {
    let body = bincode::serde::encode_to_vec(message, bincode::config::standard())
        .map_err(|e| FrameError::Decode(e.to_string()))?;
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(body.len()));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Reassembles messages from a byte stream.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole message, if one has arrived.
    pub fn next_message(&mut self) -> Result<Option<Message>, FrameError> {
        let Some(prefix) = self.buffer.get(..4) else {
            return Ok(None);
        };
        let length = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if length > MAX_FRAME {
            return Err(FrameError::TooLarge(length));
        }
        if self.buffer.len() < 4 + length {
            return Ok(None);
        }
        let config = bincode::config::standard().with_limit::<MAX_FRAME>();
        let decoded: Result<(Message, usize), _> =
            bincode::serde::decode_from_slice(&self.buffer[4..4 + length], config);
        let result = match decoded {
            Ok((message, used)) if used == length => Ok(Some(message)),
            Ok(_) => Err(FrameError::Decode("trailing bytes in frame".into())),
            Err(e) => Err(FrameError::Decode(e.to_string())),
        };
        self.buffer.drain(..4 + length);
        if self.buffer.is_empty() && self.buffer.capacity() > 64 * 1024 {
            // A big sync is over: an idle link should not keep its buffer.
            self.buffer = Vec::new();
        }
        result
    }

    /// Bytes buffered but not yet a whole frame.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }
}
