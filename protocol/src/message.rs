//! Messages between two linked nodes.
//!
//! After the QUIC handshake the joiner sends [`Hello`]; the node it joins answers
//! [`Message::Welcome`] or [`Message::Refused`] — a link counts as up only after a
//! welcome, because with TLS 1.3 a client's `connect()` can succeed before the server
//! has judged it. Then both sides send each other the ops the other lacks (by version
//! vector) and, from then on, every op as it happens.

use canopy_canvas::{Action, NodeId, Op, OpId, VersionVector};
use serde::{Deserialize, Serialize};

use crate::authorship::Signature;
use crate::ids::SessionId;
use crate::invite::{Authority, Invite, Role};

/// Protocol version spoken by this build; a mismatch is refused with a clear reason.
/// 7: nodes carry sealed strokes (protocol 6 nodes refuse a seal).
/// 8: proof of a split hidden under a seal (a new form of `Evidence`); signed heads
/// exchanged as a link comes up (`Message::Heads`).
/// 9: proof of two seals of one stroke under two numbers (`Evidence::first_seal_at`).
/// 10: a side of a proof may jump past the ops a seal held in their place stands
/// for (`Fork::jumps`).
/// 11: a proof's ops are read for their shapes from their payloads' headers alone,
/// as a link's runs read them (an op whose content does not decode keeps the shape
/// its header says).
/// 12: proof that an author signed an op no node takes (`Evidence::refused`), so a
/// node blames the author, not the link that brought it.
/// 13: the stroke rule counts a stroke's points, read from each points op's header
/// (which so takes the offset and count too: a payload cut short before them no
/// longer reads as points, which changes what a crafted proof's side walks).
/// 14: blind relays (`docs/BLIND-RELAYS.md`): a revocation never cuts a log at a
/// stroke's start that may still be sealed (a blind holder of the seal could not
/// keep the start, as a reader does), and a blind node lets be proof of content
/// it cannot judge (`Evidence::verify_blind`) instead of taking it or closing
/// the link it came by. Nodes of 13 would make such cut-offs and expect such
/// proofs to be passed on.
pub const PROTOCOL_VERSION: u32 = 14;

/// Most ops one `Message::Ops` carries: a decoder refuses more (a frame of tiny
/// ops would otherwise decode to many times its bytes), and a sender cuts a larger
/// batch with [`message_pieces`].
pub const MAX_OPS_PER_MESSAGE: usize = 4096;

/// Bytes a `Message::Ops` may take besides its payloads, per op at most (a run of its
/// own: author 9, number 9, entry count 5, head up to 17, payload length 5, signature
/// 64) and once (variant, count).
const OP_BYTES_BESIDES_PAYLOAD: usize = 120;

/// `ops` cut into pieces that each fit one frame as a `Message::Ops`: at most
/// [`MAX_OPS_PER_MESSAGE`] ops, and bytes under [`crate::MAX_FRAME`] whatever the
/// payloads (an op is at most a frame, so one always fits alone).
pub fn message_pieces(ops: &[WireOp]) -> Vec<&[WireOp]> {
    let budget = crate::frame::MAX_FRAME - OP_BYTES_BESIDES_PAYLOAD;
    let mut pieces = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (index, op) in ops.iter().enumerate() {
        let size = op.payload.len().saturating_add(OP_BYTES_BESIDES_PAYLOAD);
        let full = index - start >= MAX_OPS_PER_MESSAGE || bytes.saturating_add(size) > budget;
        if full && index > start {
            pieces.push(&ops[start..index]);
            (start, bytes) = (index, 0);
        }
        bytes = bytes.saturating_add(size);
    }
    if start < ops.len() {
        pieces.push(&ops[start..]);
    }
    pieces
}

/// The ALPN protocol id of Canopy links.
pub const ALPN: &[u8] = b"canopy/1";

/// The joiner's opening message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the joiner.
    pub protocol: u32,
    /// The session it wants.
    pub session: SessionId,
    /// Its document identity.
    pub node: NodeId,
    /// Its Ed25519 node key (the subject of the authority it will be given).
    pub node_key: [u8; 32],
    /// Display name.
    pub name: String,
    /// The capability it presents.
    pub invite: Invite,
    /// What it has seen, so it is sent only what it lacks.
    pub seen: VersionVector,
}

/// The label under which both ends of a link export its channel binding from TLS
/// (RFC 5705 keying material exporters, as RFC 9266 uses them).
pub const CHANNEL_BINDING_LABEL: &[u8] = b"EXPORTER-canopy-hello-v1";

/// A value both ends of one TLS connection derive alike and no other connection
/// shares (exported under [`CHANNEL_BINDING_LABEL`]).
pub type ChannelBinding = [u8; 32];

/// The joiner's signature, with the node key its hello names, over the session, that
/// key and the connection's [`ChannelBinding`]: proof that the joiner holds the key,
/// made for this connection only (a hello and proof copied onto another connection
/// do not verify there), so no one joins in another node's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyProof(pub Signature);

fn key_proof_bytes(hello: &Hello, binding: &ChannelBinding) -> [u8; 111] {
    let mut bytes = [0u8; 111];
    bytes[..15].copy_from_slice(b"canopy-hello-v1");
    bytes[15..47].copy_from_slice(&hello.session.0);
    bytes[47..79].copy_from_slice(&hello.node_key);
    bytes[79..].copy_from_slice(binding);
    bytes
}

impl KeyProof {
    /// Signs, with `key` (the key `hello` names), that its holder says `hello` on the
    /// connection whose channel binding is `binding`.
    pub fn sign(
        key: &ring::signature::Ed25519KeyPair,
        hello: &Hello,
        binding: &ChannelBinding,
    ) -> Self {
        KeyProof(Signature::from_bytes(
            key.sign(&key_proof_bytes(hello, binding)).as_ref(),
        ))
    }

    /// True if the key `hello` names made this proof for the connection whose channel
    /// binding is `binding`.
    pub fn verify(&self, hello: &Hello, binding: &ChannelBinding) -> bool {
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, hello.node_key)
            .verify(&key_proof_bytes(hello, binding), &self.0.to_bytes())
            .is_ok()
    }
}

/// The answer to a hello that is accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The session.
    pub session: SessionId,
    /// The accepting node's document identity.
    pub node: NodeId,
    /// Its display name.
    pub name: String,
    /// The role granted to the joiner.
    pub role: Role,
    /// The joiner's authority (the accepting node's chain plus a grant to the joiner),
    /// with which it can admit children of its own.
    pub authority: Authority,
    /// Join URLs of the accepting node and its ancestors, nearest first, so the
    /// joiner can rejoin higher up if its parent disappears.
    pub ancestors: Vec<Ancestor>,
    /// What the accepting node has seen.
    pub seen: VersionVector,
}

/// A node above in the tree. Any valid invite for the session admits at any node, so
/// a node that loses its parent can rejoin an ancestor with an invite of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ancestor {
    /// Its node key (how loops are recognised).
    pub node_key: [u8; 32],
    /// `host:port` to reach it.
    pub address: String,
    /// Its certificate fingerprint.
    pub fingerprint: crate::ids::Fingerprint,
}

/// Why a link was refused or closed; sent to the other side before closing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// Different protocol versions.
    #[error("protocol version mismatch: this node speaks {ours}, the other speaks {theirs}")]
    VersionMismatch {
        /// The refusing node's version.
        ours: u32,
        /// The other's version.
        theirs: u32,
    },
    /// The hello names another session.
    #[error("this node hosts session {hosted}, not {asked}")]
    WrongSession {
        /// What is hosted here.
        hosted: String,
        /// What was asked for.
        asked: String,
    },
    /// The invite did not verify.
    #[error("invite refused: {0}")]
    BadInvite(String),
    /// The joiner is this node or one of its ancestors: joining would make a loop.
    #[error("refused: node {0} is already in this node's tree (joining would make a loop)")]
    Loop(String),
    /// A viewer sent an op.
    #[error("viewers may not edit: op {0} refused")]
    ViewerEdit(String),
    /// The peer broke the protocol (bad frame, bad op, unexpected message).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The peer sent more than the limits allow.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// A relay does not hold the session asked for.
    #[error("no session {0} here (it was closed, or never created on this relay)")]
    UnknownSession(String),
    /// The invite was revoked by the session's operator.
    #[error("this invite has been revoked")]
    Revoked,
    /// The hello's proof that the joiner holds the key it names does not verify for
    /// this connection.
    #[error("the hello's node key is not proven on this connection")]
    UnprovenKey,
}

impl Refusal {
    /// A short stable name for the kind of refusal (metrics labels, logs).
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::VersionMismatch { .. } => "version_mismatch",
            Refusal::WrongSession { .. } => "wrong_session",
            Refusal::BadInvite(_) => "bad_invite",
            Refusal::Loop(_) => "loop",
            Refusal::ViewerEdit(_) => "viewer_edit",
            Refusal::Protocol(_) => "protocol",
            Refusal::Limit(_) => "limit",
            Refusal::ShuttingDown => "shutting_down",
            Refusal::UnknownSession(_) => "unknown_session",
            Refusal::Revoked => "revoked",
            Refusal::UnprovenKey => "unproven_key",
        }
    }
}

/// An op as routers see it: the envelope in the clear, the action as opaque bytes that
/// only documents decode (so the payload can later be end-to-end encrypted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireOp {
    /// The op's id.
    pub id: OpId,
    /// Its Lamport clock.
    pub lamport: u64,
    /// bincode of the [`Action`], exactly as its author signed it. Coded as one block
    /// of bytes: the same bytes on the wire as a sequence of `u8`, copied at once
    /// instead of one serde call per byte.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    /// The author's signature over the op's head in its log (see
    /// [`crate::AuthorLog`]): on every op as it is made and at checkpoints; a run of
    /// an author's ops needs one at its end.
    pub signature: Option<Signature>,
}

impl WireOp {
    /// Wraps a document op for the wire, unsigned.
    pub fn from_op(op: &Op) -> WireOp {
        WireOp {
            id: op.id,
            lamport: op.lamport,
            payload: crate::payload::encode_action(op.id, &op.action),
            signature: None,
        }
    }

    /// Unwraps the document op; fails on a payload that is not an action in its
    /// one encoding.
    pub fn to_op(&self) -> Result<Op, crate::frame::FrameError> {
        let action = crate::payload::decode_action(self.id, &self.payload)?;
        Ok(Op {
            id: self.id,
            lamport: self.lamport,
            action,
        })
    }

    /// Unwraps an op as files from before protocol 5 (formats 1–3) coded it, to
    /// import it. Seals never were in such files.
    pub fn to_op_legacy(&self) -> Result<Op, crate::frame::FrameError> {
        let action = crate::payload::decode_legacy_action(&self.payload)?;
        if matches!(action, Action::StrokeSealed { .. }) {
            return Err(crate::frame::FrameError::Decode(
                "a sealed stroke in a file from before sealing".into(),
            ));
        }
        Ok(Op {
            id: self.id,
            lamport: self.lamport,
            action,
        })
    }
}

/// Everything that travels on a link's ordered stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// The joiner's opening, with its proof that it holds the key it names.
    Hello(Hello, KeyProof),
    /// The accepting node's yes.
    Welcome(Welcome),
    /// A no, or a reason for closing.
    Refused(Refusal),
    /// Ops, in any order; on the wire in runs of one author's consecutive ops
    /// (the author and first number once per run).
    Ops(#[serde(with = "crate::op_runs")] Vec<WireOp>),
    /// Instead of a hello: asks a relay to create a session (a relay host token).
    CreateSession {
        /// The token from the relay's host URL.
        token: String,
        /// Title for the operator's listings.
        title: String,
    },
    /// The relay's answer to `CreateSession`: the session's invite URLs.
    Created {
        /// Editor invite URL.
        editor: String,
        /// Viewer invite URL.
        viewer: String,
    },
    /// A grant revoked by the session key, passed on to every link.
    Revoke(crate::revocation::Revocation),
    /// Authors' authorities (grant chains from the session key to their keys): sent
    /// before their ops, so every node checks an op's author is an editor, whatever
    /// link it came by.
    Authors(Vec<Authority>),
    /// Proof that an author signed two different logs: every node that checks it
    /// leaves that author's ops out, so all replicas show the same.
    Evidence(Box<crate::evidence::Evidence>),
    /// Where authors' logs held here stand as far as the peer's hold them, each
    /// signed by its author (at most [`MAX_HEADS_PER_MESSAGE`]): sent as a link comes
    /// up, before the backlog. Two nodes that hold logs of one author as long as each
    /// other's send each other nothing else of it, so this is how they find out if
    /// the author gave each a different one.
    Heads(Vec<SignedHead>),
}

/// An author's head after op `seq`, with the author's signature over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedHead {
    /// The author.
    pub author: NodeId,
    /// The op.
    pub seq: u64,
    /// The author's head after it.
    pub head: crate::authorship::Head,
    /// The author's signature over it.
    pub signature: crate::authorship::Signature,
}

/// Signed heads in one [`Message::Heads`] at most (~460 KiB).
pub const MAX_HEADS_PER_MESSAGE: usize = 4_096;
