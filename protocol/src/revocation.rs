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
//! An invite another node minted carries that node's chain, and so the marks of
//! everyone it came through: a node admitting with it vouches for them in the
//! joiner's chain ([`Authority::admit`]), so revoking the minter, or anyone above
//! it, reaches the joiner wherever it was let in.
//!
//! Revocations are signed with the session key ([`Revocation`]) and travel the tree,
//! so every node refuses the same joiners and closes the same links.

use std::collections::BTreeSet;

use data_encoding::HEXLOWER;
use ring::signature::{Ed25519KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

use crate::authorship::{AuthorKey, Head, Signature};
use crate::ids::SessionId;
use crate::invite::{Authority, Grant, Invite, InviteError, Role, MAX_CHAIN};

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

    /// Admits a joiner that brought `invite` (verified): this chain, then grants from
    /// this node to itself carrying the marks of the invite's chain past where it
    /// parts from this one (each grant's nonce, and for a grant to another node the
    /// nonce of grants to nodes admitted with it), then the joiner's grant, marked
    /// with the invite. So whatever revokes the invite, its minter or anyone the
    /// minter came through reaches the joiner and everything it mints, whichever
    /// node admitted it; and a host that admits with an invite its participant
    /// minted puts the joiner in that participant's branch of the grant tree
    /// ([`Authority::branch`]), not in a branch of its own.
    ///
    /// A joiner that brings an invite it minted itself is rejoining: its grant keeps
    /// the nonce its last one had (rejoining the same node gives the same chain
    /// again), or, at another node, is marked with that grant, whose own marks stay
    /// in the chain. So rejoining carries every mark and the chain does not grow
    /// with each reconnection.
    ///
    /// Refused when the chain would be longer than [`MAX_CHAIN`] (an invite minted
    /// far down another part of the tree).
    pub fn admit(
        &self,
        session: &SessionId,
        node: &Ed25519KeyPair,
        invite: &Invite,
        child_key: [u8; 32],
        role: Role,
        expires: Option<u64>,
    ) -> Result<Authority, InviteError> {
        let shared = self
            .chain
            .iter()
            .zip(&invite.chain)
            .take_while(|(ours, theirs)| ours == theirs)
            .count();
        let (ids, minter) = chain_ids(session, &invite.chain);
        let mut past: Vec<(GrantId, &Grant)> =
            ids.into_iter().zip(&invite.chain).skip(shared).collect();
        let rejoining = if minter == child_key {
            past.pop()
        } else {
            None
        };
        let me = crate::invite::public_key(node);
        let mut marks = Marks::new(&self.chain);
        for (id, grant) in &past {
            marks.add(id.nonce);
            if grant.subject != Some(id.issuer) {
                marks.add(id.admitted_nonce());
            }
        }
        let nonce = match rejoining {
            Some((own, _)) if own.issuer == me => own.nonce,
            Some((own, _)) => {
                marks.add(own.nonce);
                own.admitted_nonce()
            }
            None => invite.grant_id(session).admitted_nonce(),
        };
        let length = self.chain.len() + marks.added.len() + 1;
        if length > MAX_CHAIN {
            return Err(InviteError::TooLong(length));
        }
        let role = role.min(self.role());
        let mut chain = self.chain.clone();
        for mark in marks.added {
            chain.push(Grant::sign(node, session, role, expires, Some(me), mark));
        }
        chain.push(Grant::sign(
            node,
            session,
            role,
            expires,
            Some(child_key),
            nonce,
        ));
        Ok(Authority { chain })
    }

    /// The branch of the grant tree this chain is in: the grant by which the
    /// session's host admitted the participant on the way to it (the session key's
    /// grant to the host, for the host). The host marks each grant with the invite
    /// it admits by, and vouches for the branch of the participant that minted the
    /// invite ([`Authority::admit`]), so everyone admitted with one invite, or with
    /// invites one participant minted, shares a branch — joining again and again
    /// under new keys makes no new one — and so does everything each of them minted
    /// or admitted, at any depth.
    pub fn branch(&self, session: &SessionId) -> Option<GrantId> {
        match self.chain.as_slice() {
            [host] => Some(GrantId {
                issuer: session.0,
                nonce: host.nonce,
            }),
            [host, admitted, ..] => Some(GrantId {
                issuer: host.subject?,
                nonce: admitted.nonce,
            }),
            [] => None,
        }
    }
}

/// The nonces a joiner's chain must carry past its admitter's, in order, each once.
struct Marks {
    held: BTreeSet<u64>,
    added: Vec<u64>,
}

impl Marks {
    fn new(chain: &[Grant]) -> Marks {
        Marks {
            held: chain.iter().map(|grant| grant.nonce).collect(),
            added: Vec::new(),
        }
    }

    fn add(&mut self, nonce: u64) {
        if self.held.insert(nonce) {
            self.added.push(nonce);
        }
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

/// Where a revoked author's log ends on every replica: its last op kept, the head of
/// its log there and the author's own signature of that head (none when nothing is
/// kept). Any replica can serve the kept ops with that signature at their end, so
/// joiners verify exactly the prefix every other replica holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    /// The author's key.
    pub author: [u8; 32],
    /// Its last op kept (0: none).
    pub seq: u64,
    /// The head of its log at `seq`.
    pub head: Head,
    /// The author's signature of `head` (`None` when `seq` is 0).
    pub signature: Option<Signature>,
}

impl Kept {
    /// Nothing of `author` kept.
    pub fn nothing(session: &SessionId, author: [u8; 32]) -> Kept {
        Kept {
            author,
            seq: 0,
            head: Head::genesis(session, &AuthorKey(author)),
            signature: None,
        }
    }

    /// True if it is the author's own word: nothing kept, or its signature of the head.
    pub fn verify(&self, session: &SessionId) -> bool {
        match (&self.signature, self.seq) {
            (None, 0) => true,
            (Some(signature), seq) if seq > 0 => {
                signature.verify(&AuthorKey(self.author), session, seq, &self.head)
            }
            _ => false,
        }
    }
}

/// Cut-offs a revocation may carry: it fits one frame (some 140 bytes each). A
/// revoker with more authors under the grant names those it holds most of; the rest
/// keep nothing, on every replica alike.
pub const MAX_KEPT: usize = 4_096;

/// "Grant `grant` is revoked", signed with the session key: any node of the session
/// can check it, and it is passed on to every link. It says too where the log of every
/// author under the grant ends (`kept`): what the revoker held of each. Every replica
/// keeps exactly those ops of theirs and takes none after, so a revoked editor's later
/// ops, passed on by anyone, are nowhere, and replicas that took more before the
/// revocation reached them drop the rest. Authors under the grant it does not name
/// keep nothing. Revocations made before cut-offs (`kept: None`) cut nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The grant revoked.
    pub grant: GrantId,
    /// Where the logs of the authors under the grant end (`None`: a revocation from
    /// before cut-offs, signed as such).
    pub kept: Option<Vec<Kept>>,
    /// Ed25519 signature by the session key.
    pub signature: Vec<u8>,
}

fn revocation_bytes(session: &SessionId, grant: &GrantId, kept: Option<&[Kept]>) -> Vec<u8> {
    let mut bytes = match kept {
        None => b"canopy-revoke-v1".to_vec(),
        Some(_) => b"canopy-revoke-v2".to_vec(),
    };
    bytes.extend_from_slice(&session.0);
    bytes.extend_from_slice(&grant.issuer);
    bytes.extend_from_slice(&grant.nonce.to_be_bytes());
    for kept in kept.unwrap_or_default() {
        bytes.extend_from_slice(&kept.author);
        bytes.extend_from_slice(&kept.seq.to_be_bytes());
        bytes.extend_from_slice(&kept.head.0);
        match &kept.signature {
            Some(signature) => {
                bytes.push(1);
                bytes.extend_from_slice(&signature.to_bytes());
            }
            None => bytes.push(0),
        }
    }
    bytes
}

impl Revocation {
    /// Revokes `grant`, keeping of each author under it what `kept` says, signed with
    /// the session key.
    pub fn sign(
        session_key: &Ed25519KeyPair,
        session: &SessionId,
        grant: GrantId,
        kept: Vec<Kept>,
    ) -> Self {
        Revocation {
            grant,
            signature: session_key
                .sign(&revocation_bytes(session, &grant, Some(&kept)))
                .as_ref()
                .to_vec(),
            kept: Some(kept),
        }
    }

    /// Checks that the session key signed it, and that each cut-off is its author's
    /// own signed head.
    pub fn verify(&self, session: &SessionId) -> Result<(), InviteError> {
        if self.kept.as_ref().is_some_and(|kept| kept.len() > MAX_KEPT) {
            return Err(InviteError::BadSignature(0));
        }
        UnparsedPublicKey::new(&ED25519, &session.0)
            .verify(
                &revocation_bytes(session, &self.grant, self.kept.as_deref()),
                &self.signature,
            )
            .map_err(|_| InviteError::BadSignature(0))?;
        for (index, kept) in self.kept.iter().flatten().enumerate() {
            if !kept.verify(session) {
                return Err(InviteError::BadSignature(index.saturating_add(1)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Revocations kept by versions before cut-offs were signed over the grant alone:
    /// they still verify, as revocations that cut nothing, and their signature does
    /// not make a revocation with cut-offs.
    #[test]
    fn a_revocation_from_before_cut_offs_verifies_and_cuts_nothing() {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| "key");
        let session_key = pkcs8
            .and_then(|p| Ed25519KeyPair::from_pkcs8(p.as_ref()).map_err(|_| "key"))
            .unwrap_or_else(|e| panic!("{e}"));
        let session = SessionId(crate::invite::public_key(&session_key));
        let grant = GrantId {
            issuer: session.0,
            nonce: 3,
        };
        let legacy = Revocation {
            grant,
            kept: None,
            signature: session_key
                .sign(&revocation_bytes(&session, &grant, None))
                .as_ref()
                .to_vec(),
        };
        assert_eq!(legacy.verify(&session), Ok(()));
        let dressed_up = Revocation {
            kept: Some(Vec::new()),
            ..legacy
        };
        assert!(dressed_up.verify(&session).is_err());
    }
}
