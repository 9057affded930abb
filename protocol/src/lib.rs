//! # canopy-protocol — links between nodes (sans-I/O)
//!
//! What two Canopy nodes say to each other and how it is framed, plus join URLs and
//! invites. Plain data in, plain data out: the QUIC transport lives in `node`.
//!
//! - [`JoinUrl`] — `canopy://HOST:PORT/SESSION?fp=FINGERPRINT&invite=TOKEN`.
//! - [`Invite`], [`Authority`], [`Grant`] — capabilities signed down the tree (see
//!   the `invite` module docs and `docs/ARCHITECTURE.md`); [`GrantId`],
//!   [`Revocations`], [`Revocation`] — revoking a grant and all admitted with it.
//! - [`Message`] — hello, welcome/refusal, op batches, ping; [`frame`] encodes them
//!   as length-prefixed bincode with a size limit.
//! - [`admit`] — whether a hello gets in, a pure function of what the node knows and
//!   the time; [`AuthorLog`], [`Signer`] — signed, hash-chained author logs
//!   (who made an op, proven; [`Evidence`] of an author that splits its log or
//!   signs an op no node takes, [`read_op`]);
//!   [`Datagram`] — presence and audio datagrams, tagged and bounded;
//!   [`OpaqueReplica`] — ops held and served as signed bytes, unread.

mod admission;
mod authorship;
mod datagram;
mod evidence;
pub mod frame;
mod ids;
mod invite;
mod join_url;
mod message;
mod op_runs;
mod payload;
mod presence;
mod replica;
mod revocation;

pub use admission::{admit, precheck, Admitted, Door};
pub use authorship::{
    op_weight, verify_run, AuthorKey, AuthorLog, Entry, Head, RunError, SignError, Signature,
    Signer, Tail, Verified, CHECKPOINT, LAMPORT_PER_SEQ, MAX_PAYLOAD, SIGNED_SPAN,
};
pub use datagram::{
    Datagram, DatagramError, SignedPresence, AUDIO_TAG, MAX_AUDIO_PACKET, PRESENCE_TAG,
};
pub use evidence::{read_op, ContentError, Evidence, Fork, MAX_FORK_BYTES};
pub use frame::{encode, FrameDecoder, FrameError, MAX_FRAME};
pub use ids::{BadHex, Fingerprint, SessionId};
pub use invite::{public_key, Authority, Grant, Invite, InviteError, Role, MAX_CHAIN};
pub use join_url::{HostUrl, HostUrlError, JoinUrl, UrlError, DEFAULT_PORT};
pub use message::{
    message_pieces, Ancestor, ChannelBinding, Hello, KeyProof, Message, Refusal, SignedHead,
    Welcome, WireOp, ALPN, CHANNEL_BINDING_LABEL, MAX_HEADS_PER_MESSAGE, MAX_OPS_PER_MESSAGE,
    PROTOCOL_VERSION,
};
pub use payload::{decode_action, decode_legacy_action, encode_action, shape_of};
pub use presence::{bounded_name, Presence, MAX_DATAGRAM, MAX_NAME};
pub use replica::OpaqueReplica;
pub use revocation::{BadGrantId, GrantId, Kept, Revocation, Revocations, MAX_KEPT};
