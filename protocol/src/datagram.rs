//! QUIC datagrams between two linked nodes: presence and audio.
//!
//! A datagram is one tag byte and a body. Datagrams are unreliable by design (the
//! next one replaces a lost one), so anything malformed is simply an error for the
//! caller to drop — never a panic, never a reason to close the link.

use ring::signature::Ed25519KeyPair;

use crate::authorship::{AuthorKey, Signature};
use crate::frame::FrameError;
use crate::ids::SessionId;
use crate::presence::Presence;

/// First byte of a presence datagram.
pub const PRESENCE_TAG: u8 = 0;
/// First byte of an audio datagram.
pub const AUDIO_TAG: u8 = 1;
/// Largest Opus packet an audio datagram may carry (a 20 ms voice frame is far less).
pub const MAX_AUDIO_PACKET: usize = 1275;

/// A datagram, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Datagram {
    /// Someone's presence, with its signature ([`SignedPresence`]).
    Presence(SignedPresence),
    /// One encoded audio frame: the sender's frame number and the Opus packet.
    Audio {
        /// Frame number on that link (consecutive while talking).
        seq: u64,
        /// The Opus packet.
        packet: Vec<u8>,
    },
}

/// Why a datagram was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    /// Nothing at all.
    #[error("empty datagram")]
    Empty,
    /// A tag this build does not know (a newer peer's: ignored).
    #[error("unknown datagram tag {0}")]
    UnknownTag(u8),
    /// The body is malformed.
    #[error("malformed datagram: {0}")]
    Malformed(String),
}

impl Datagram {
    /// Parses a datagram.
    pub fn parse(bytes: &[u8]) -> Result<Datagram, DatagramError> {
        let (&tag, body) = bytes.split_first().ok_or(DatagramError::Empty)?;
        match tag {
            PRESENCE_TAG => {
                let (body, signature) = body.split_last_chunk::<64>().ok_or_else(|| {
                    DatagramError::Malformed("presence without a signature".into())
                })?;
                let presence = Presence::decode(body)
                    .map_err(|e: FrameError| DatagramError::Malformed(e.to_string()))?;
                Ok(Datagram::Presence(SignedPresence {
                    presence,
                    signed: body.to_vec(),
                    signature: Signature::from_bytes(signature),
                }))
            }
            AUDIO_TAG => {
                let (seq, packet) = body
                    .split_first_chunk::<8>()
                    .ok_or_else(|| DatagramError::Malformed("audio without a number".into()))?;
                if packet.is_empty() || packet.len() > MAX_AUDIO_PACKET {
                    return Err(DatagramError::Malformed(format!(
                        "audio packet of {} bytes",
                        packet.len()
                    )));
                }
                Ok(Datagram::Audio {
                    seq: u64::from_le_bytes(*seq),
                    packet: packet.to_vec(),
                })
            }
            other => Err(DatagramError::UnknownTag(other)),
        }
    }

    /// Encodes a presence datagram, signed with `key` (the key `presence.node` is named
    /// after) for `session`.
    pub fn presence(presence: &Presence, key: &Ed25519KeyPair, session: &SessionId) -> Vec<u8> {
        let body = presence.encode();
        let signature =
            Signature::from_bytes(key.sign(&presence_signed_bytes(session, &body)).as_ref());
        let mut bytes = Vec::with_capacity(body.len() + 65);
        bytes.push(PRESENCE_TAG);
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(&signature.to_bytes());
        bytes
    }

    /// Encodes an audio datagram.
    pub fn audio(seq: u64, packet: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(packet.len() + 9);
        bytes.push(AUDIO_TAG);
        bytes.extend_from_slice(&seq.to_le_bytes());
        bytes.extend_from_slice(packet);
        bytes
    }
}

/// A presence as it travels: what it says, the bytes its participant signed, and the
/// signature. Only the participant's own key signs its presence, so nobody else can
/// wear its name, move its cursor, claim its role or silence it with a high `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedPresence {
    /// What it says.
    pub presence: Presence,
    /// The encoded presence, as signed.
    pub signed: Vec<u8>,
    /// The participant's signature over [`presence_signed_bytes`] of it.
    pub signature: Signature,
}

impl SignedPresence {
    /// True if `key` (which must be the one `presence.node` is named after) signed it
    /// for `session`.
    pub fn verify(&self, key: &AuthorKey, session: &SessionId) -> bool {
        key.node_id() == self.presence.node
            && ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key.0)
                .verify(
                    &presence_signed_bytes(session, &self.signed),
                    &self.signature.to_bytes(),
                )
                .is_ok()
    }
}

/// What a participant signs of its presence: bound to the session.
fn presence_signed_bytes(session: &SessionId, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(body.len() + 50);
    bytes.extend_from_slice(b"canopy-presence-v1");
    bytes.extend_from_slice(&session.0);
    bytes.extend_from_slice(body);
    bytes
}
