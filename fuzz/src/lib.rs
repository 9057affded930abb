//! # canopy-fuzz — every decoder of untrusted input, as fuzz targets
//!
//! Each target takes arbitrary bytes, runs them through what a peer, a file or a
//! pasted URL reaches, and checks what must hold whatever the bytes: nothing panics,
//! and what decodes re-encodes to something that decodes the same. The same functions
//! run three ways: under AFL++ (`make fuzz`, coverage-guided, the binary
//! `canopy-fuzz TARGET`), over the committed corpora (`fuzz/corpus/TARGET/`), and over
//! random bytes (proptest), the last two in `make test`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use canopy_canvas::{Document, Limits, NodeId};
use canopy_protocol::{
    encode, Datagram, FrameDecoder, HostUrl, Invite, JoinUrl, Message, Presence, SessionId,
};

/// A fuzz target: bytes in, panics on a broken invariant.
pub type Target = fn(&[u8]);

/// Every target by name (the corpus folder and the binary's argument).
pub const TARGETS: &[(&str, Target)] = &[
    ("frames", frames),
    ("ops", ops),
    ("invites", invites),
    ("urls", urls),
    ("datagrams", datagrams),
    ("files", files),
    ("document", document),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Bytes from a link's stream, cut into chunks by the first byte: frames decode to
/// messages or errors; a message re-encodes and decodes to itself; ops in it go
/// through the checks and into a document.
pub fn frames(data: &[u8]) {
    let (cut, bytes) = data.split_first().map_or((1, data), |(c, r)| (*c, r));
    let step = usize::from(cut.max(1));
    let mut decoder = FrameDecoder::new();
    for chunk in bytes.chunks(step) {
        decoder.push(chunk);
        loop {
            match decoder.next_message() {
                Ok(Some(message)) => {
                    round_trips(&message);
                    match message {
                        Message::Ops(wire) => {
                            apply_all(wire.iter().filter_map(|w| w.to_op().ok()));
                        }
                        Message::Evidence(evidence) => judges_proof(&evidence),
                        _ => {}
                    }
                }
                Ok(None) => break,
                // The link is closed at the first bad frame.
                Err(_) => return,
            }
        }
    }
}

/// A proof of a split from a peer: checked (any session: the arithmetic on its
/// numbers and the walk over its sides must not panic), and kept and read back as
/// itself.
fn judges_proof(evidence: &canopy_protocol::Evidence) {
    let _ = evidence.verify(&canopy_protocol::SessionId([7; 32]));
    let blind = evidence.verify_blind(&canopy_protocol::SessionId([7; 32]));
    assert!(
        blind.is_none() || blind == Some(evidence.verify(&canopy_protocol::SessionId([7; 32]))),
        "a blind node judged a proof otherwise than a reader"
    );
    assert_eq!(
        canopy_protocol::Evidence::from_bytes(&evidence.to_bytes()).as_ref(),
        Some(evidence),
        "a proof read back changed"
    );
}

fn round_trips(message: &Message) {
    // A message that decoded may still be too big to send again; that is an error,
    // not a panic.
    if let Ok(bytes) = encode(message) {
        let mut again = FrameDecoder::new();
        again.push(&bytes);
        let decoded = again.next_message().expect("re-encoded frame decodes");
        // Floats: NaN payloads compare unequal, so compare the encodings.
        let decoded = decoded.expect("a whole frame");
        assert_eq!(encode(&decoded).ok(), Some(bytes), "round trip changed it");
    }
}

fn apply_all(ops: impl Iterator<Item = canopy_canvas::Op>) {
    serves_what_it_took(ops.collect(), true);
}

/// Limits small enough that a fuzzer reaches them.
fn small_limits() -> Limits {
    Limits {
        max_points_per_op: 64,
        max_points_per_stroke: 256,
        max_strokes_per_page: 64,
        max_pages: 8,
        max_items_per_op: 64,
        max_op_bytes: 4096,
        ..Limits::default()
    }
}

/// Ops of two authors built from bytes (any action, seals included, ids from a small
/// space so that they collide, cover and name each other), applied to a document in
/// the order given. Whatever they are, the backlog is what was taken (less what a
/// seal served stands for), a joiner that takes the backlog serves it again as it is,
/// and shows the same document unless a seal stood for ops other than its stroke's
/// (which the live path refuses).
pub fn document(data: &[u8]) {
    use canopy_canvas::{Action, Color, Op, OpId, Point, Tool, VersionVector};
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    let mut ops = Vec::new();
    while let (Some(head), Some(seq), Some(clock)) = (next(), next(), next()) {
        let author = NodeId(1 + u64::from(head & 1));
        let mut byte = || next().unwrap_or(0);
        let id_of = |node: NodeId, byte: u8| OpId {
            node,
            seq: 1 + u64::from(byte % 32),
        };
        let mut points = |count: u8| -> Vec<Point> {
            (0..count % 4)
                .map(|_| Point::new(f32::from(byte()), f32::from(byte())))
                .collect()
        };
        let action = match (head >> 1) % 8 {
            0 => Action::StrokeStart {
                page: canopy_canvas::FIRST_PAGE,
                tool: Tool::Pen,
                color: Color::rgb(1, 2, 3),
                width: 2.0,
            },
            1 => Action::StrokePoints {
                stroke: id_of(author, clock),
                offset: u32::from(seq % 8),
                points: points(clock >> 5),
            },
            2 => Action::StrokeEnd {
                stroke: id_of(author, clock),
                points: u32::from(seq % 8),
            },
            3 => Action::StrokeSealed {
                stroke: id_of(author, clock),
                page: if head & 16 == 0 {
                    canopy_canvas::FIRST_PAGE
                } else {
                    id_of(NodeId(1 + u64::from(seq & 1)), seq >> 1)
                },
                tool: Tool::Highlighter,
                color: Color::rgb(4, 5, 6),
                width: 3.0,
                start_lamport: 1 + u64::from(clock % 64),
                points: points(seq >> 4),
            },
            4 => Action::Erase {
                strokes: vec![id_of(NodeId(1 + u64::from(clock & 1)), clock >> 1)],
            },
            5 => Action::Undo {
                target: id_of(author, clock),
            },
            6 => Action::NewPage {
                position: f64::from(clock),
            },
            _ => Action::ClearPage {
                page: canopy_canvas::FIRST_PAGE,
                seen: VersionVector::new(),
            },
        };
        ops.push(Op {
            id: id_of(author, seq),
            lamport: 1 + u64::from(byte() % 64),
            action,
        });
    }
    serves_what_it_took(ops, false);
}

/// Applies `ops` to a holder (checked first as the live path does, if `validate`)
/// and checks what it serves: the backlog is what was taken (less what a seal
/// served stands for), a joiner that takes the backlog serves it again as it is,
/// and shows the same document unless a seal stood for ops other than its stroke's
/// (which the live path refuses). Reading the holder's pages holds up too.
fn serves_what_it_took(ops: Vec<canopy_canvas::Op>, validate: bool) {
    use canopy_canvas::{Action, Applied, VersionVector};
    let mut holder = Document::with_limits(NodeId(9), small_limits());
    let mut taken = std::collections::BTreeMap::new();
    for op in ops {
        if (!validate || op.validate(holder.limits()).is_ok())
            && holder.apply(op.clone()) == Ok(Applied::New)
        {
            taken.insert(op.id, op);
        }
    }
    for page in holder.pages() {
        let _ = holder.strokes(page).len();
        let _ = holder.page_bounds(page);
    }
    let served = holder.ops_missing_from(&VersionVector::new());
    assert_eq!(
        served.len() as u64,
        holder.op_count(),
        "op count is not the backlog"
    );
    let mut sealed = Vec::new();
    for op in &served {
        assert_eq!(
            Some(op),
            taken.get(&op.id),
            "served an op other than was taken"
        );
        if let Action::StrokeSealed { stroke, .. } = op.action {
            sealed.push((stroke, op.id.seq));
        }
    }
    let mut foreign = false;
    for (id, op) in &taken {
        if served.iter().any(|s| s.id == *id) {
            continue;
        }
        let (stroke, _) = sealed
            .iter()
            .find(|(stroke, seal)| stroke.node == id.node && (stroke.seq..*seal).contains(&id.seq))
            .expect("an op taken is neither served nor stood for by a seal");
        foreign |= match &op.action {
            Action::StrokeStart { .. } => op.id != *stroke,
            Action::StrokePoints { stroke: of, .. } | Action::StrokeEnd { stroke: of, .. } => {
                of != stroke
            }
            _ => true,
        };
    }
    let mut joiner = Document::with_limits(NodeId(8), small_limits());
    for op in &served {
        assert_eq!(
            joiner.apply(op.clone()),
            Ok(Applied::New),
            "a backlog op refused"
        );
    }
    assert_eq!(
        joiner.ops_missing_from(&VersionVector::new()),
        served,
        "a joiner serves another backlog"
    );
    assert_eq!(joiner.version_vector(), holder.version_vector());
    if !foreign {
        assert_eq!(
            joiner.digest(),
            holder.digest(),
            "a joiner shows another document"
        );
    }
}

/// A batch of op payloads as the checker sees them: bincode of an `Action` after an
/// envelope, several concatenated (each prefixed by its length byte).
pub fn ops(data: &[u8]) {
    let mut rest = data;
    let mut wire_ops = Vec::new();
    let mut seq = 0u64;
    while let Some((&len, tail)) = rest.split_first() {
        let take = usize::from(len).min(tail.len());
        let (payload, after) = tail.split_at(take);
        rest = after;
        seq += 1;
        let node = u64::from(len % 3) + 1;
        wire_ops.push(canopy_protocol::WireOp {
            id: canopy_canvas::OpId {
                node: NodeId(node),
                seq: if len % 7 == 0 {
                    u64::MAX - u64::from(len)
                } else {
                    seq
                },
            },
            lamport: if len % 5 == 0 { u64::MAX - 1 } else { seq },
            payload: payload.to_vec(),
            signature: (len % 2 == 0).then_some(canopy_protocol::Signature {
                r: [len; 32],
                s: [len; 32],
            }),
        });
    }
    // Checking them as an author's run (and against a log held) never panics.
    let session = canopy_protocol::SessionId([7; 32]);
    let mut log = canopy_protocol::AuthorLog::new(&session, canopy_protocol::AuthorKey([9; 32]));
    let entries: Vec<canopy_protocol::Entry<'_>> = wire_ops
        .iter()
        .map(|w| canopy_protocol::Entry {
            seq: w.id.seq,
            lamport: w.lamport,
            payload: &w.payload,
            signature: w.signature.as_ref(),
            // Seals included: the log jumps to them. Read from the header alone, it
            // is the shape of whatever the payload decodes to.
            shape: {
                let header = canopy_protocol::shape_of(w.id, &w.payload);
                match canopy_protocol::decode_action(w.id, &w.payload) {
                    Ok(action) => {
                        let shape = canopy_canvas::Shape::of(&action);
                        assert_eq!(header.ok(), Some(shape), "the header's shape");
                        shape
                    }
                    Err(_) => header.unwrap_or(canopy_canvas::Shape::Other),
                }
            },
        })
        .collect();
    if let Ok(verified) = log.verify(&session, &entries) {
        log.accept(verified);
    }
    let _ = log.conflict(&session, &entries, &entries);
    apply_all(wire_ops.iter().filter_map(|w| w.to_op().ok()));
}

/// An invite token as pasted: parses or not; one that parses re-encodes to a token
/// that parses to the same invite, and checking it never panics.
pub fn invites(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(invite) = Invite::from_token(text) {
        let again = Invite::from_token(&invite.to_token()).expect("a token we wrote");
        assert_eq!(again, invite);
        let session = SessionId([7; 32]);
        let _ = invite.verify(&session, 1_000);
        let _ = invite.grant_ids(&session);
    }
}

/// Join and relay-host URLs as pasted or clicked: parse or refuse, and a parsed one
/// prints to text that parses the same.
pub fn urls(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(url) = text.parse::<JoinUrl>() {
        let again: JoinUrl = url.to_string().parse().expect("a URL we wrote");
        assert_eq!(again, url);
    }
    if let Ok(url) = text.parse::<HostUrl>() {
        let again: HostUrl = url.to_string().parse().expect("a URL we wrote");
        assert_eq!(again, url);
    }
}

/// Datagrams from a link: presence decodes or not; audio goes through the jitter
/// buffer and the decoder (libopus) with whatever sequence numbers it carries.
pub fn datagrams(data: &[u8]) {
    let Ok(datagram) = Datagram::parse(data) else {
        return;
    };
    match datagram {
        Datagram::Presence(signed) => {
            let presence = &signed.presence;
            let again = Presence::decode(&presence.encode()).expect("presence we wrote");
            assert_eq!(again.encode(), presence.encode());
            let _ = signed.verify(
                &canopy_protocol::AuthorKey([7; 32]),
                &canopy_protocol::SessionId([7; 32]),
            );
        }
        Datagram::Audio { seq, packet } => {
            let mut jitter = canopy_audio::jitter::JitterBuffer::new();
            jitter.push(seq, packet.clone(), 0.0);
            jitter.push(seq.wrapping_add(1), packet.clone(), 20.0);
            let _ = jitter.pop(100.0);
            if let Ok(mut decoder) = canopy_audio::codec::VoiceDecoder::new() {
                let _ = decoder.decode(&packet);
                let _ = decoder.conceal();
            }
        }
    }
}

/// A `.canopy` file someone sends: opened read-only, checked, loaded, or refused
/// with a reason — never run (views, triggers), never a panic.
pub fn files(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let path = dir.path().join("file.canopy");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(store) = canopy_node::storage::Store::open_read_only(&path) {
        if let Ok(document) = store.document() {
            let _ = document.digest();
            for page in document.pages() {
                let _ = document.strokes(page).len();
            }
        }
        // Its ops as a blind relay holds them (headers read, nothing more).
        if let Ok(held) = store.held_ops() {
            let served = held.missing_from(&canopy_canvas::VersionVector::new());
            assert_eq!(
                served.len() as u64,
                held.op_count(),
                "a held op served twice"
            );
        }
        // Its authors and kept signatures, as a node resuming it takes them.
        if let Ok(logs) = store.logs() {
            canopy_node::session::Authors::new(store.meta.session).restore(&logs);
        }
    }
}
