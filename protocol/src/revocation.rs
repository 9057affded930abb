//! Revocation: by the grant's identity, not by the bytes of a token.
//!
//! A grant is named by the key that signed it and its nonce ([`GrantId`]): both are
//! signed, so no re-encoding of a token (`expires: None` and `Some(u64::MAX)` sign
//! the same bytes; bincode varints have more than one spelling) gives another name.
//!
//! Revoking an invite must also reach whoever was admitted with it and whatever they
//! mint: every node that admits a joiner with invite `X` signs the joiner's grant
//! with nonce [`GrantId::admitted_nonce`] of `X` (whichever node admits it), so the
//! joiner's authority, the invites it mints and its rejoins all carry the mark. A set
//! of [`Revocations`] refuses a chain holding any revoked grant or any such mark.
//!
//! Revocations are signed with the session key ([`Revocation`]) and travel the tree,
//! so every node refuses the same joiners and closes the same links.

use std::collections::BTreeSet;

use data_encoding::HEXLOWER;
use ring::signature::{Ed25519KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

use crate::ids::SessionId;
use crate::invite::{Authority, Grant, Invite, InviteError};

/// The name of one grant: who signed it and its nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GrantId {
    /// The key that signed the grant (the session key for the first of a chain).
    pub issuer: [u8; 32],
    /// The grant's nonce.
    pub nonce: u64,
}

impl GrantId {
    /// The nonce of the grants made to nodes admitted with this grant.
    pub fn admitted_nonce(&self) -> u64 {
        let mut input = b"canopy-admitted-v1".to_vec();
        input.extend_from_slice(&self.issuer);
        input.extend_from_slice(&self.nonce.to_be_bytes());
        let digest = ring::digest::digest(&ring::digest::SHA256, &input);
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest.as_ref()[..8]);
        u64::from_be_bytes(first)
    }

    /// True if revoking `self` takes `grant` with it: it is the grant, or a grant to
    /// a node admitted with it.
    pub fn covers(&self, grant: &GrantId) -> bool {
        grant == self || grant.nonce == self.admitted_nonce()
    }
}

/// `ISSUER.NONCE`, both in hex.
impl std::fmt::Display for GrantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:016x}", HEXLOWER.encode(&self.issuer), self.nonce)
    }
}

/// Why a grant id did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a grant id (64 hex digits, a dot, 16 hex digits): {0:?}")]
pub struct BadGrantId(pub String);

impl std::str::FromStr for GrantId {
    type Err = BadGrantId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadGrantId(text.chars().take(100).collect());
        let (issuer, nonce) = text.split_once('.').ok_or_else(bad)?;
        if issuer.len() != 64 || nonce.len() != 16 {
            return Err(bad());
        }
        let issuer = HEXLOWER.decode(issuer.as_bytes()).map_err(|_| bad())?;
        let nonce = u64::from_str_radix(nonce, 16).map_err(|_| bad())?;
        let mut key = [0u8; 32];
        key.copy_from_slice(&issuer);
        Ok(GrantId { issuer: key, nonce })
    }
}

/// The ids of a chain's grants, each issued by the key before it (the session key
/// first), and the key the chain ends at.
fn chain_ids(session: &SessionId, chain: &[Grant]) -> (Vec<GrantId>, [u8; 32]) {
    let mut issuer = session.0;
    let mut ids = Vec::with_capacity(chain.len() + 1);
    for grant in chain {
        ids.push(GrantId {
            issuer,
            nonce: grant.nonce,
        });
        issuer = grant.subject.unwrap_or([0; 32]);
    }
    (ids, issuer)
}

impl Invite {
    /// The id of the invite's own (bearer) grant: what revoking it names.
    pub fn grant_id(&self, session: &SessionId) -> GrantId {
        let (_, issuer) = chain_ids(session, &self.chain);
        GrantId {
            issuer,
            nonce: self.grant.nonce,
        }
    }

    /// The ids of every grant the invite holds, its chain's and its own.
    pub fn grant_ids(&self, session: &SessionId) -> Vec<GrantId> {
        let (mut ids, issuer) = chain_ids(session, &self.chain);
        ids.push(GrantId {
            issuer,
            nonce: self.grant.nonce,
        });
        ids
    }
}

impl Authority {
    /// The ids of every grant of the chain.
    pub fn grant_ids(&self, session: &SessionId) -> Vec<GrantId> {
        chain_ids(session, &self.chain).0
    }
}

/// The grants a node refuses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revocations {
    revoked: BTreeSet<GrantId>,
    admitted: BTreeSet<u64>,
}

impl Revocations {
    /// No grant revoked.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `grant`; false if it was already there.
    pub fn insert(&mut self, grant: GrantId) -> bool {
        self.admitted.insert(grant.admitted_nonce());
        self.revoked.insert(grant)
    }

    /// True if nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }

    /// Number of grants revoked.
    pub fn len(&self) -> usize {
        self.revoked.len()
    }

    /// True if `grant` itself was revoked.
    pub fn contains(&self, grant: &GrantId) -> bool {
        self.revoked.contains(grant)
    }

    /// The revoked grants.
    pub fn iter(&self) -> impl Iterator<Item = &GrantId> {
        self.revoked.iter()
    }

    /// True if any of `grants` is revoked or was given to a node admitted with a
    /// revoked grant.
    pub fn refuses(&self, grants: &[GrantId]) -> bool {
        grants
            .iter()
            .any(|g| self.revoked.contains(g) || self.admitted.contains(&g.nonce))
    }
}

impl FromIterator<GrantId> for Revocations {
    fn from_iter<I: IntoIterator<Item = GrantId>>(grants: I) -> Self {
        let mut revocations = Revocations::new();
        for grant in grants {
            revocations.insert(grant);
        }
        revocations
    }
}

/// "Grant `grant` is revoked", signed with the session key: any node of the session
/// can check it, and it is passed on to every link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The grant revoked.
    pub grant: GrantId,
    /// Ed25519 signature by the session key.
    pub signature: Vec<u8>,
}

fn revocation_bytes(session: &SessionId, grant: &GrantId) -> Vec<u8> {
    let mut bytes = b"canopy-revoke-v1".to_vec();
    bytes.extend_from_slice(&session.0);
    bytes.extend_from_slice(&grant.issuer);
    bytes.extend_from_slice(&grant.nonce.to_be_bytes());
    bytes
}

impl Revocation {
    /// Revokes `grant`, signed with the session key.
    pub fn sign(session_key: &Ed25519KeyPair, session: &SessionId, grant: GrantId) -> Self {
        Revocation {
            grant,
            signature: session_key
                .sign(&revocation_bytes(session, &grant))
                .as_ref()
                .to_vec(),
        }
    }

    /// Checks that the session key signed it.
    pub fn verify(&self, session: &SessionId) -> Result<(), InviteError> {
        UnparsedPublicKey::new(&ED25519, &session.0)
            .verify(&revocation_bytes(session, &self.grant), &self.signature)
            .map_err(|_| InviteError::BadSignature(0))
    }
}
