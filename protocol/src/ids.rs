//! Session and certificate identities as they appear in URLs.

use std::fmt;
use std::str::FromStr;

use data_encoding::HEXLOWER;
use serde::{Deserialize, Serialize};

/// A session is named by the Ed25519 public key that roots its invites, so any node
/// can check an invite without trusting whoever passed it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionId(pub [u8; 32]);

/// SHA-256 of a node's TLS certificate, pinned by the join URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint(pub [u8; 32]);

/// Why a hex identity did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected 64 lowercase hex digits, got {0:?}")]
pub struct BadHex(pub String);

fn parse_hex32(text: &str) -> Result<[u8; 32], BadHex> {
    let bytes = HEXLOWER
        .decode(text.as_bytes())
        .map_err(|_| BadHex(text.to_string()))?;
    bytes.try_into().map_err(|_| BadHex(text.to_string()))
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&HEXLOWER.encode(&self.0))
    }
}

impl FromStr for SessionId {
    type Err = BadHex;
    fn from_str(text: &str) -> Result<Self, BadHex> {
        parse_hex32(text).map(SessionId)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&HEXLOWER.encode(&self.0))
    }
}

impl FromStr for Fingerprint {
    type Err = BadHex;
    fn from_str(text: &str) -> Result<Self, BadHex> {
        parse_hex32(text).map(Fingerprint)
    }
}

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of_certificate(der: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Fingerprint(bytes)
    }
}
