//! Invites: capabilities signed down the collaboration tree.
//!
//! A session is named by an Ed25519 key (the session key). Authority flows down as a
//! chain of [`Grant`]s: the session key grants the host's node key a role; every node
//! that admits a child grants the child's node key a role no higher than its own, and
//! sends the child its chain. An invite is a node's chain plus one bearer grant (no
//! subject) signed by that node. Anyone who knows the session id can check an invite
//! by walking the chain from the session key: each signature must verify, roles can
//! only narrow, and nothing may have expired. So a viewer can only ever hand out viewer
//! invites, and no node has to trust the one that forwarded the invite.

use data_encoding::BASE64URL_NOPAD;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

use crate::ids::SessionId;

/// What a holder may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Receives everything, sends nothing but presence.
    Viewer,
    /// Draws and edits.
    Editor,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
        })
    }
}

/// One signed statement: "`subject` (or whoever holds this) may act as `role` in
/// `session` until `expires`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The role granted.
    pub role: Role,
    /// Unix seconds after which the grant is void; `None` for never.
    pub expires: Option<u64>,
    /// The node key authorised to grant further; `None` for a bearer invite.
    pub subject: Option<[u8; 32]>,
    /// Makes each invite distinct (so one can be told from another, e.g. to revoke).
    pub nonce: u64,
    /// Ed25519 signature by the previous key in the chain.
    pub signature: Vec<u8>,
}

/// Why an invite or a chain was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    /// Not base64url of a well-formed token.
    #[error("the invite token is malformed")]
    Malformed,
    /// A signature does not verify: forged, or for another session.
    #[error("the invite is not valid for this session (bad signature at link {0} of its chain)")]
    BadSignature(usize),
    /// Some grant in the chain has expired.
    #[error("the invite expired at {expired} (unix seconds); it is now {now}")]
    Expired {
        /// When it expired.
        expired: u64,
        /// The time it was checked.
        now: u64,
    },
    /// A grant claims more than its issuer had.
    #[error("the invite claims role {claimed} but its issuer only had {issuer}")]
    RoleEscalation {
        /// What the grant claims.
        claimed: Role,
        /// What the issuer held.
        issuer: Role,
    },
    /// A chain link has no subject key to continue from.
    #[error("the invite's chain is broken at link {0}")]
    BrokenChain(usize),
    /// The chain is longer than any real tree.
    #[error("the invite's chain has {0} links; at most {MAX_CHAIN}")]
    TooLong(usize),
}

/// Longest delegation chain accepted (a tree deeper than this is not a whiteboard).
pub const MAX_CHAIN: usize = 64;

/// A node's authority in a session: its chain from the session key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authority {
    /// Grants from the session key down to this node's key.
    pub chain: Vec<Grant>,
}

/// What travels in a join URL: the issuer's chain and the bearer grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// The issuing node's chain.
    pub chain: Vec<Grant>,
    /// The bearer grant, signed by the last subject of `chain`.
    pub grant: Grant,
}

fn signed_bytes(
    session: &SessionId,
    role: Role,
    expires: Option<u64>,
    subject: Option<[u8; 32]>,
    nonce: u64,
) -> Vec<u8> {
    let mut bytes = b"canopy-grant-v1".to_vec();
    bytes.extend_from_slice(&session.0);
    bytes.push(role as u8);
    bytes.extend_from_slice(&expires.map_or([0xff; 8], u64::to_be_bytes));
    bytes.push(u8::from(subject.is_some()));
    bytes.extend_from_slice(&subject.unwrap_or([0; 32]));
    bytes.extend_from_slice(&nonce.to_be_bytes());
    bytes
}

impl Grant {
    /// Signs a grant with `issuer`'s key.
    pub fn sign(
        issuer: &Ed25519KeyPair,
        session: &SessionId,
        role: Role,
        expires: Option<u64>,
        subject: Option<[u8; 32]>,
        nonce: u64,
    ) -> Grant {
        let signature = issuer
            .sign(&signed_bytes(session, role, expires, subject, nonce))
            .as_ref()
            .to_vec();
        Grant {
            role,
            expires,
            subject,
            nonce,
            signature,
        }
    }

    fn verify(
        &self,
        session: &SessionId,
        key: &[u8; 32],
        index: usize,
        issuer_role: Role,
        now: u64,
    ) -> Result<(), InviteError> {
        let message = signed_bytes(session, self.role, self.expires, self.subject, self.nonce);
        UnparsedPublicKey::new(&ED25519, key)
            .verify(&message, &self.signature)
            .map_err(|_| InviteError::BadSignature(index))?;
        if self.role > issuer_role {
            return Err(InviteError::RoleEscalation {
                claimed: self.role,
                issuer: issuer_role,
            });
        }
        if let Some(expired) = self.expires.filter(|e| *e <= now) {
            return Err(InviteError::Expired { expired, now });
        }
        Ok(())
    }
}

/// Walks a chain from the session key; returns the last key, its role and the
/// earliest expiry met on the way.
fn walk(
    session: &SessionId,
    chain: &[Grant],
    now: u64,
) -> Result<([u8; 32], Role, Option<u64>), InviteError> {
    if chain.len() > MAX_CHAIN {
        return Err(InviteError::TooLong(chain.len()));
    }
    let mut key = session.0;
    let mut role = Role::Editor;
    let mut expires: Option<u64> = None;
    for (index, grant) in chain.iter().enumerate() {
        grant.verify(session, &key, index, role, now)?;
        key = grant.subject.ok_or(InviteError::BrokenChain(index))?;
        role = grant.role;
        expires = earliest(expires, grant.expires);
    }
    Ok((key, role, expires))
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Authority {
    /// The session key's own authority over a new session: it grants `node` editor.
    pub fn root(
        session_key: &Ed25519KeyPair,
        node: &Ed25519KeyPair,
        nonce: u64,
    ) -> (SessionId, Authority) {
        let session = SessionId(public_key(session_key));
        let grant = Grant::sign(
            session_key,
            &session,
            Role::Editor,
            None,
            Some(public_key(node)),
            nonce,
        );
        (session, Authority { chain: vec![grant] })
    }

    /// Checks the chain; returns the role it confers and when it expires.
    pub fn verify(
        &self,
        session: &SessionId,
        node_key: &[u8; 32],
        now: u64,
    ) -> Result<(Role, Option<u64>), InviteError> {
        let (key, role, expires) = walk(session, &self.chain, now)?;
        if &key != node_key {
            return Err(InviteError::BrokenChain(self.chain.len()));
        }
        Ok((role, expires))
    }

    /// Checks the chain as an author's: returns the key it ends at and the role it
    /// confers. Expiry is not checked: ops an author made while it held the role stay
    /// its ops (an invite that lapses closes links, not the past).
    pub fn author(&self, session: &SessionId) -> Result<([u8; 32], Role), InviteError> {
        let (key, role, _) = walk(session, &self.chain, 0)?;
        Ok((key, role))
    }

    /// The author and role the chain names, unchecked: enough to tell a repeat of an
    /// authority already verified without checking its signatures again (a repeat
    /// teaches nothing, so a forged one harms nothing).
    pub fn claims(&self) -> Option<([u8; 32], Role)> {
        let last = self.chain.last()?;
        Some((last.subject?, last.role))
    }

    /// Signatures [`Authority::author`] checks: what verifying this chain costs.
    pub fn checks(&self) -> usize {
        self.chain.len()
    }

    /// The role this chain confers (without checking signatures: for display).
    pub fn role(&self) -> Role {
        self.chain.last().map_or(Role::Viewer, |g| g.role)
    }

    /// The chain as files keep it (bincode).
    pub fn to_bytes(&self) -> Vec<u8> {
        bincode::serde::encode_to_vec(self, bincode::config::standard()).unwrap_or_default()
    }

    /// Reads a kept chain (not verified: see [`Authority::author`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Authority, InviteError> {
        let config = bincode::config::standard().with_limit::<{ 64 * 1024 }>();
        let (authority, used): (Authority, usize) =
            bincode::serde::decode_from_slice(bytes, config).map_err(|_| InviteError::Malformed)?;
        if used != bytes.len() {
            return Err(InviteError::Malformed);
        }
        Ok(authority)
    }

    /// An invite signed by `node` (the chain's last subject) for at most its own role.
    pub fn invite(
        &self,
        session: &SessionId,
        node: &Ed25519KeyPair,
        role: Role,
        expires: Option<u64>,
        nonce: u64,
    ) -> Invite {
        let role = role.min(self.role());
        Invite {
            chain: self.chain.clone(),
            grant: Grant::sign(node, session, role, expires, None, nonce),
        }
    }

    /// Admits a child: extends this chain with a grant to the child's key.
    pub fn delegate(
        &self,
        session: &SessionId,
        node: &Ed25519KeyPair,
        child_key: [u8; 32],
        role: Role,
        expires: Option<u64>,
        nonce: u64,
    ) -> Authority {
        let mut chain = self.chain.clone();
        chain.push(Grant::sign(
            node,
            session,
            role.min(self.role()),
            expires,
            Some(child_key),
            nonce,
        ));
        Authority { chain }
    }
}

impl Invite {
    /// Checks the invite against the session at time `now`; returns the role it grants
    /// and when it expires.
    pub fn verify(
        &self,
        session: &SessionId,
        now: u64,
    ) -> Result<(Role, Option<u64>), InviteError> {
        let (key, role, expires) = walk(session, &self.chain, now)?;
        self.grant
            .verify(session, &key, self.chain.len(), role, now)?;
        if self.grant.subject.is_some() {
            return Err(InviteError::BrokenChain(self.chain.len()));
        }
        Ok((self.grant.role, earliest(expires, self.grant.expires)))
    }

    /// The role the invite claims (unchecked, for display).
    pub fn role(&self) -> Role {
        self.grant.role
    }

    /// The token as it appears in a URL (base64url of its bincode form).
    pub fn to_token(&self) -> String {
        let bytes =
            bincode::serde::encode_to_vec(self, bincode::config::standard()).unwrap_or_default();
        BASE64URL_NOPAD.encode(&bytes)
    }

    /// Parses a URL token.
    pub fn from_token(token: &str) -> Result<Invite, InviteError> {
        let bytes = BASE64URL_NOPAD
            .decode(token.as_bytes())
            .map_err(|_| InviteError::Malformed)?;
        if bytes.len() > 64 * 1024 {
            return Err(InviteError::Malformed);
        }
        let config = bincode::config::standard().with_limit::<{ 64 * 1024 }>();
        let (invite, used): (Invite, usize) = bincode::serde::decode_from_slice(&bytes, config)
            .map_err(|_| InviteError::Malformed)?;
        if used != bytes.len() {
            return Err(InviteError::Malformed);
        }
        Ok(invite)
    }
}

/// The raw public key of an Ed25519 key pair.
pub fn public_key(pair: &Ed25519KeyPair) -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(pair.public_key().as_ref());
    key
}
