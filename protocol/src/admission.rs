//! Admission: whether a joiner's hello gets in, as a pure function.
//!
//! Every node is a server that strangers can reach, so the door is judged without
//! I/O, clocks or shared state: the caller passes what the node knows (its session,
//! authority, ancestors, revocations, how many children it serves) and the time, and
//! gets back a verdict. The node signs the welcome only after a yes, so a refused
//! stranger costs one signature walk and nothing else. Tests drive it with simulated
//! time.

use crate::ids::SessionId;
use crate::invite::{Authority, Role};
use crate::message::{Ancestor, ChannelBinding, Hello, KeyProof, Refusal, PROTOCOL_VERSION};
use crate::presence::MAX_NAME;
use crate::revocation::Revocations;

/// What a node knows when it judges a hello.
#[derive(Debug, Clone, Copy)]
pub struct Door<'a> {
    /// The session this node serves.
    pub session: &'a SessionId,
    /// This node's own authority; `None` while it has not joined yet.
    pub authority: Option<&'a Authority>,
    /// This node's key (a hello carrying it would make a loop).
    pub node_key: &'a [u8; 32],
    /// The nodes above this one, nearest first.
    pub ancestors: &'a [Ancestor],
    /// Grants refused at the door (with everyone admitted with them).
    pub revoked: &'a Revocations,
    /// Children linked here now.
    pub children: usize,
    /// Children allowed at most (`None`: no limit).
    pub max_children: Option<usize>,
}

/// A hello that got in: what the joiner may do here, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// The role its invite confers (never more than this node's own).
    pub role: Role,
    /// When its authority expires (Unix seconds), if it does.
    pub expires: Option<u64>,
}

/// What is judged of a hello before anything else: the protocol version and the
/// name's length (before anything that costs more).
fn opening(hello: &Hello) -> Result<(), Refusal> {
    if hello.protocol != PROTOCOL_VERSION {
        return Err(Refusal::VersionMismatch {
            ours: PROTOCOL_VERSION,
            theirs: hello.protocol,
        });
    }
    if hello.name.chars().nth(MAX_NAME).is_some() {
        return Err(Refusal::Protocol(format!(
            "a name longer than {MAX_NAME} characters"
        )));
    }
    // A node's ops are named after its key: a hello says both, and they must agree.
    if hello.node != crate::authorship::AuthorKey(hello.node_key).node_id() {
        return Err(Refusal::Protocol(
            "the hello's node id is not the one its key names".into(),
        ));
    }
    Ok(())
}

/// Judges what a hello says of itself, knowing nothing of the session it names:
/// version, name, that `proof` shows the joiner holds the key it names on the
/// connection whose channel binding is `binding`, and that its invite verifies for
/// that session at `now`. A node serving many sessions (a relay) asks this before it
/// loads the session from disk, so strangers without a valid invite cannot make it
/// load anything. [`admit`] judges the rest.
pub fn precheck(
    hello: &Hello,
    proof: &KeyProof,
    binding: &ChannelBinding,
    now: u64,
) -> Result<(), Refusal> {
    opening(hello)?;
    if !proof.verify(hello, binding) {
        return Err(Refusal::UnprovenKey);
    }
    hello
        .invite
        .verify(&hello.session, now)
        .map(|_| ())
        .map_err(|e| Refusal::BadInvite(e.to_string()))
}

/// Judges `hello` at time `now` (Unix seconds). Checks, in order: protocol version,
/// session, that this node can admit at all, the invite's signatures and expiry,
/// revocation, room for another child, and loops.
pub fn admit(hello: &Hello, now: u64, door: &Door<'_>) -> Result<Admitted, Refusal> {
    opening(hello)?;
    if hello.session != *door.session {
        return Err(Refusal::WrongSession {
            hosted: door.session.to_string(),
            asked: hello.session.to_string(),
        });
    }
    let Some(authority) = door.authority else {
        return Err(Refusal::Protocol(
            "this node has not joined its session yet".into(),
        ));
    };
    let (role, expires) = hello
        .invite
        .verify(door.session, now)
        .map_err(|e| Refusal::BadInvite(e.to_string()))?;
    if !door.revoked.is_empty() && door.revoked.refuses(&hello.invite.grant_ids(door.session)) {
        return Err(Refusal::Revoked);
    }
    if let Some(max) = door.max_children {
        if door.children >= max {
            return Err(Refusal::Limit(format!(
                "this session is full ({max} peers connected here); try again later"
            )));
        }
    }
    if hello.node_key == *door.node_key
        || door.ancestors.iter().any(|a| a.node_key == hello.node_key)
    {
        return Err(Refusal::Loop(
            data_encoding::HEXLOWER.encode(&hello.node_key[..8]),
        ));
    }
    Ok(Admitted {
        role: role.min(authority.role()),
        expires,
    })
}
