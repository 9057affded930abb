//! Join URLs, invites and framing.
#![allow(clippy::unwrap_used)]

use canopy_canvas::{Action, Color, NodeId, Op, OpId, Point, Tool, VersionVector, FIRST_PAGE};
use canopy_protocol::*;
use proptest::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::Ed25519KeyPair;

#[path = "protocol/payload.rs"]
mod payload;

#[path = "protocol/authorship.rs"]
mod authorship;

#[path = "protocol/stroke_rule.rs"]
mod stroke_rule;

#[path = "protocol/refused.rs"]
mod refused;

#[path = "protocol/replica.rs"]
mod replica;

/// A channel binding, as both ends of one connection would export it.
const BINDING: ChannelBinding = [0x5a; 32];

fn key() -> Ed25519KeyPair {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
}

struct Tree {
    session: SessionId,
    host: Ed25519KeyPair,
    host_authority: Authority,
}

fn tree() -> Tree {
    let session_key = key();
    let host = key();
    let (session, host_authority) = Authority::root(&session_key, &host, 1);
    Tree {
        session,
        host,
        host_authority,
    }
}

#[test]
fn invites_verify_down_the_tree_and_roles_only_narrow() {
    let t = tree();
    let editor = t
        .host_authority
        .invite(&t.session, &t.host, Role::Editor, None, 7);
    assert_eq!(
        editor.verify(&t.session, 1000).unwrap(),
        (Role::Editor, None)
    );

    // The host admits a viewer child, which may only invite viewers.
    let child = key();
    let child_authority = t.host_authority.delegate(
        &t.session,
        &t.host,
        public_key(&child),
        Role::Viewer,
        None,
        8,
    );
    assert_eq!(
        child_authority
            .verify(&t.session, &public_key(&child), 1000)
            .unwrap()
            .0,
        Role::Viewer
    );
    let asked_editor = child_authority.invite(&t.session, &child, Role::Editor, None, 9);
    assert_eq!(
        asked_editor.verify(&t.session, 1000).unwrap().0,
        Role::Viewer,
        "clamped to its own role"
    );

    // Forging an editor grant with the viewer's key is caught.
    let forged = Invite {
        chain: child_authority.chain.clone(),
        grant: Grant::sign(&child, &t.session, Role::Editor, None, None, 10),
    };
    assert_eq!(
        forged.verify(&t.session, 1000).unwrap_err().to_string(),
        "the invite claims role editor but its issuer only had viewer"
    );
}

#[test]
fn bad_invites_are_refused_with_reasons() {
    let t = tree();
    let expiring = t
        .host_authority
        .invite(&t.session, &t.host, Role::Editor, Some(500), 1);
    assert_eq!(
        expiring.verify(&t.session, 600).unwrap_err(),
        InviteError::Expired {
            expired: 500,
            now: 600
        }
    );
    assert_eq!(
        expiring.verify(&t.session, 400).unwrap(),
        (Role::Editor, Some(500))
    );

    let other = tree();
    let foreign = other
        .host_authority
        .invite(&other.session, &other.host, Role::Editor, None, 1);
    assert!(matches!(
        foreign.verify(&t.session, 0),
        Err(InviteError::BadSignature(0))
    ));

    let mut tampered = t
        .host_authority
        .invite(&t.session, &t.host, Role::Viewer, None, 1);
    tampered.grant.role = Role::Editor;
    assert!(matches!(
        tampered.verify(&t.session, 0),
        Err(InviteError::BadSignature(1))
    ));

    assert_eq!(
        Invite::from_token("!!!").unwrap_err(),
        InviteError::Malformed
    );
    assert_eq!(
        Invite::from_token("AAAA").unwrap_err(),
        InviteError::Malformed
    );
}

#[test]
fn join_urls_round_trip_and_errors_say_what_is_wrong() {
    let t = tree();
    let invite = t
        .host_authority
        .invite(&t.session, &t.host, Role::Viewer, None, 3);
    for host in ["127.0.0.1", "::1", "relay.example.org"] {
        let url = JoinUrl {
            host: host.to_string(),
            port: 7447,
            session: t.session,
            fingerprint: Some(Fingerprint([0xab; 32])),
            invite: invite.clone(),
        };
        let text = url.to_string();
        assert!(text.starts_with("canopy://"));
        assert_eq!(text.parse::<JoinUrl>().unwrap(), url);
    }
    let good = JoinUrl {
        host: "127.0.0.1".into(),
        port: 9,
        session: t.session,
        fingerprint: None,
        invite,
    }
    .to_string();
    let cases = [
        ("hello", "not a URL"),
        (
            &good.replace("canopy://", "https://"),
            "a join URL starts with canopy://, not https://",
        ),
        (
            &good.replace(&t.session.to_string(), "abc"),
            "the URL's path must be the session id",
        ),
        (
            &format!("{good}&fp=xyz"),
            "the fp= parameter must be a SHA-256 fingerprint",
        ),
        (
            &good[..good.find("invite=").unwrap() - 1],
            "the URL has no invite= parameter",
        ),
        (
            &format!("{}x", &good[..good.find("invite=").unwrap() + 7]),
            "the invite= parameter is malformed",
        ),
    ];
    for (text, expected) in cases {
        let error = text.parse::<JoinUrl>().unwrap_err().to_string();
        assert!(error.contains(expected), "{text}: {error}");
    }
}

fn an_op() -> impl Strategy<Value = Op> {
    (
        1u64..5,
        1u64..1000,
        1u64..100_000,
        proptest::collection::vec((-1e5f32..1e5, -1e5f32..1e5), 0..50),
        any::<bool>(),
    )
        .prop_map(|(node, seq, lamport, points, start)| Op {
            id: OpId {
                node: NodeId(node),
                seq,
            },
            lamport,
            action: if start {
                Action::StrokeStart {
                    page: FIRST_PAGE,
                    tool: Tool::Highlighter,
                    color: Color::rgb(1, 2, 3),
                    width: 2.5,
                }
            } else {
                Action::StrokePoints {
                    stroke: OpId {
                        node: NodeId(node),
                        seq: 1,
                    },
                    offset: 0,
                    points: points.into_iter().map(|(x, y)| Point::new(x, y)).collect(),
                }
            },
        })
}

proptest! {
    /// Any batch of ops survives framing, whatever sizes the bytes arrive in.
    #[test]
    fn frames_round_trip_in_any_chunking(
        ops in proptest::collection::vec(an_op(), 0..20),
        cut in 1usize..97,
    ) {
        let messages = vec![
            Message::Ops(ops.iter().map(WireOp::from_op).collect()),
            Message::Ops(Vec::new()),
            Message::Refused(Refusal::ViewerEdit("1:2".into())),
        ];
        let bytes: Vec<u8> = messages.iter().flat_map(|m| encode(m).unwrap()).collect();
        let mut decoder = FrameDecoder::new();
        let mut out = Vec::new();
        for chunk in bytes.chunks(cut) {
            decoder.push(chunk);
            while let Some(message) = decoder.next_message().unwrap() {
                out.push(message);
            }
        }
        prop_assert_eq!(&out, &messages);
        prop_assert_eq!(decoder.buffered(), 0);
        if let Message::Ops(wire) = &out[0] {
            let back: Vec<Op> = wire.iter().map(|w| w.to_op().unwrap()).collect();
            prop_assert_eq!(back, ops);
        }
    }

    /// An op's payload is coded as one block of bytes, and those are the bytes a
    /// sequence of `u8` made before: frames, files and signatures are unchanged.
    #[test]
    fn payloads_are_coded_as_they_always_were(
        op in an_op(),
        payload in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct AsSequence {
            id: OpId,
            lamport: u64,
            payload: Vec<u8>,
            signature: Option<Signature>,
        }
        let config = bincode::config::standard();
        for payload in [WireOp::from_op(&op).payload, payload] {
            let wire = WireOp { payload, ..WireOp::from_op(&op) };
            let as_sequence = AsSequence {
                id: wire.id,
                lamport: wire.lamport,
                payload: wire.payload.clone(),
                signature: wire.signature,
            };
            let bytes = bincode::serde::encode_to_vec(&wire, config).unwrap();
            prop_assert_eq!(&bytes, &bincode::serde::encode_to_vec(&as_sequence, config).unwrap());
            let (back, used): (WireOp, usize) =
                bincode::serde::decode_from_slice(&bytes, config).unwrap();
            prop_assert_eq!(used, bytes.len());
            prop_assert_eq!(back, wire);
        }
    }

    /// Only the one encoding of an action is taken: whatever a payload's bytes, if
    /// they decode, they are exactly the encoding of what they decode to (a longer
    /// spelling of a number, a changed byte, a byte too many).
    #[test]
    fn only_the_one_encoding_of_an_action_is_taken(
        op in an_op(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        extra in proptest::collection::vec(any::<u8>(), 0..2),
        widen in any::<bool>(),
    ) {
        let canonical = WireOp::from_op(&op);
        let mut payload = canonical.payload.clone();
        for (at, byte) in edits {
            if !payload.is_empty() {
                let at = at % payload.len();
                payload[at] = byte;
            }
        }
        // The variant's number (below 251, one byte) spelt as bincode's two-byte form.
        if widen && payload.first().is_some_and(|first| *first < 251) {
            let first = payload[0];
            payload.splice(0..1, [251, first, 0]);
        }
        payload.extend(extra);
        let wire = WireOp { payload: payload.clone(), ..canonical };
        if let Ok(back) = wire.to_op() {
            prop_assert_eq!(encode_action(back.id, &back.action), payload);
        }
    }

    /// Ops travel in runs of one author's consecutive ops and come back exactly as
    /// they were sent, however they interleave, whatever their clocks (falling, or
    /// at the ends of `u64`) and numbers (up to `u64::MAX`).
    #[test]
    fn ops_come_back_as_sent_from_their_runs(
        pieces in proptest::collection::vec(
            (0u64..3, prop_oneof![Just(u64::MAX - 3), 1u64..1000], 1usize..5, any::<u64>()),
            0..8,
        ),
        signed in any::<u8>(),
    ) {
        let mut ops = Vec::new();
        for (author, first, count, lamport) in pieces {
            for index in 0..count {
                let Some(seq) = first.checked_add(index as u64) else { break };
                ops.push(WireOp {
                    id: OpId { node: NodeId(author), seq },
                    lamport: lamport.wrapping_add(index as u64 * 7),
                    payload: vec![index as u8; index],
                    signature: (signed as usize >> (index % 8) & 1 == 1)
                        .then(|| Signature::from_bytes(&[index as u8; 64])),
                });
            }
        }
        let message = Message::Ops(ops);
        let mut decoder = FrameDecoder::new();
        decoder.push(&encode(&message).unwrap());
        prop_assert_eq!(decoder.next_message().unwrap(), Some(message));
    }

    /// However many ops a batch holds and however long they are, it goes out as
    /// messages that each fit a frame and hold at most `MAX_OPS_PER_MESSAGE` ops,
    /// together the batch in order.
    #[test]
    fn any_batch_goes_out_in_messages_that_fit_a_frame(
        sizes in proptest::collection::vec(prop_oneof![0usize..64, 200_000usize..262_144], 0..12),
        tiny in 0usize..9000,
    ) {
        let op = |seq: u64, size: usize| WireOp {
            id: OpId { node: NodeId(seq % 3), seq },
            lamport: seq,
            payload: vec![7; size],
            signature: None,
        };
        let mut ops: Vec<WireOp> = sizes.iter().enumerate().map(|(i, size)| op(i as u64, *size)).collect();
        ops.extend((0..tiny).map(|i| op(100 + i as u64, 1)));
        let pieces = message_pieces(&ops);
        let mut back = Vec::new();
        for piece in pieces {
            prop_assert!(!piece.is_empty() && piece.len() <= MAX_OPS_PER_MESSAGE);
            let frame = encode(&Message::Ops(piece.to_vec()));
            prop_assert!(frame.is_ok(), "{:?}", frame.err());
            back.extend_from_slice(piece);
        }
        prop_assert_eq!(back, ops);
    }

    /// Garbage never panics the decoder: it yields messages or a typed error.
    #[test]
    fn garbage_is_refused_not_fatal(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut decoder = FrameDecoder::new();
        decoder.push(&bytes);
        for _ in 0..10 {
            match decoder.next_message() {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break,
            }
        }
    }
}

/// One author's run of two ops written as starting at `u64::MAX`: the second
/// would be numbered past the end, so the frame is refused, not wrapped.
#[test]
fn a_run_numbered_past_the_end_is_refused() {
    let ops = |first: u64| {
        Message::Ops(vec![
            WireOp {
                id: OpId {
                    node: NodeId(1),
                    seq: first,
                },
                lamport: 1,
                payload: Vec::new(),
                signature: None,
            },
            WireOp {
                id: OpId {
                    node: NodeId(1),
                    seq: first + 1,
                },
                lamport: 2,
                payload: Vec::new(),
                signature: None,
            },
        ])
    };
    // The same bytes as a run from u64::MAX - 1, but for its first number.
    let fine = encode(&ops(u64::MAX - 1)).unwrap();
    let mut decoder = FrameDecoder::new();
    decoder.push(&fine);
    assert_eq!(decoder.next_message().unwrap(), Some(ops(u64::MAX - 1)));
    let max = bincode::serde::encode_to_vec(u64::MAX, bincode::config::standard()).unwrap();
    let below = bincode::serde::encode_to_vec(u64::MAX - 1, bincode::config::standard()).unwrap();
    let at = fine
        .windows(below.len())
        .position(|w| w == below.as_slice())
        .unwrap();
    let mut past = fine.clone();
    past[at..at + below.len()].copy_from_slice(&max);
    let mut decoder = FrameDecoder::new();
    decoder.push(&past);
    assert!(matches!(decoder.next_message(), Err(FrameError::Decode(_))));
}

/// A seal travels like any op: its bytes give back the seal its author made (the
/// checks on where it may stand are the log's, in `verify_run`).
#[test]
fn a_sealed_stroke_is_taken_from_its_bytes() {
    let stroke = OpId {
        node: NodeId(3),
        seq: 1,
    };
    let seal = Op {
        id: OpId {
            node: NodeId(3),
            seq: 4,
        },
        lamport: 4,
        action: Action::StrokeSealed {
            stroke,
            page: FIRST_PAGE,
            tool: Tool::Pen,
            color: Color::rgb(1, 2, 3),
            width: 2.0,
            start_lamport: 1,
            points: vec![Point::new(1.0, 2.0)],
        },
    };
    assert_eq!(WireOp::from_op(&seal).to_op().unwrap(), seal);
}

/// A message of more ops than a decoder takes is refused as it is read: a frame of
/// tiny ops would otherwise decode to many times its bytes.
#[test]
fn a_message_of_too_many_ops_is_refused() {
    let ops = |count: usize| {
        Message::Ops(
            (0..count)
                .map(|i| WireOp {
                    id: OpId {
                        node: NodeId(1),
                        seq: i as u64 + 1,
                    },
                    lamport: i as u64,
                    payload: Vec::new(),
                    signature: None,
                })
                .collect(),
        )
    };
    let mut decoder = FrameDecoder::new();
    decoder.push(&encode(&ops(MAX_OPS_PER_MESSAGE)).unwrap());
    assert_eq!(
        decoder.next_message().unwrap(),
        Some(ops(MAX_OPS_PER_MESSAGE))
    );
    decoder.push(&encode(&ops(MAX_OPS_PER_MESSAGE + 1)).unwrap());
    assert!(matches!(decoder.next_message(), Err(FrameError::Decode(_))));
}

#[test]
fn oversized_frames_are_refused_before_buffering() {
    let mut decoder = FrameDecoder::new();
    decoder.push(&(MAX_FRAME as u32 + 1).to_be_bytes());
    assert_eq!(
        decoder.next_message().unwrap_err(),
        FrameError::TooLarge(MAX_FRAME + 1)
    );
    let empty = Message::Ops(Vec::new());
    assert!(encode(&empty).unwrap().len() < 16);
    let _ = VersionVector::new();
}

proptest! {
    #[test]
    fn presence_round_trips_and_garbage_is_refused(
        seq in any::<u64>(),
        page in any::<u32>(),
        name in "\\PC{0,80}",
        cursor in proptest::option::of((-1e6f32..1e6, -1e6f32..1e6)),
        garbage in proptest::collection::vec(any::<u8>(), 0..1500),
    ) {
        let presence = Presence {
            node: NodeId(seq ^ 5),
            seq,
            name: name.clone(),
            color: Color::rgb(1, 2, 3),
            page,
            cursor: cursor.map(|(x, y)| Point::new(x, y)),
            role: Some(Role::Viewer),
            muted: true,
        };
        let bytes = presence.encode();
        prop_assert!(bytes.len() <= MAX_DATAGRAM);
        let back = Presence::decode(&bytes).unwrap();
        prop_assert_eq!(back.name, name.chars().take(MAX_NAME).collect::<String>());
        prop_assert_eq!(back.page, page);
        let _ = Presence::decode(&garbage);
    }
}

#[test]
fn relay_host_urls_round_trip_and_errors_say_what_is_wrong() {
    let url = HostUrl {
        host: "relay.example.org".into(),
        port: 7447,
        fingerprint: Fingerprint([7; 32]),
        token: "s3cret-token".into(),
    };
    let text = url.to_string();
    assert!(text.starts_with("canopy-host://relay.example.org:7447?fp="));
    assert_eq!(text.parse::<HostUrl>().unwrap(), url);
    let v6 = HostUrl {
        host: "::1".into(),
        ..url.clone()
    };
    assert_eq!(v6.to_string().parse::<HostUrl>().unwrap(), v6);
    assert_eq!(
        "canopy://h:1?fp=x&token=t".parse::<HostUrl>(),
        Err(HostUrlError::WrongScheme("canopy".into()))
    );
    assert_eq!(
        "canopy-host://h:1?token=t".parse::<HostUrl>(),
        Err(HostUrlError::BadFingerprint)
    );
    let no_token = format!("canopy-host://h:1?fp={}", url.fingerprint);
    assert_eq!(no_token.parse::<HostUrl>(), Err(HostUrlError::NoToken));
    // What no relay issues, and what would not come back the same once written out
    // again (found by the fuzzer: a control character in the token).
    for token in ["secret%0F", "a%26b", "a%23b", "caf%C3%A9", &"x".repeat(257)] {
        let text = format!("canopy-host://h:1?fp={}&token={token}", url.fingerprint);
        assert_eq!(
            text.parse::<HostUrl>(),
            Err(HostUrlError::BadToken),
            "{token}"
        );
    }
}

fn hello_for(t: &Tree, invite: Invite, node_key: [u8; 32]) -> Hello {
    Hello {
        protocol: PROTOCOL_VERSION,
        session: t.session,
        node: AuthorKey(node_key).node_id(),
        node_key,
        name: "joiner".into(),
        invite,
        seen: VersionVector::default(),
    }
}

#[test]
fn admission_is_judged_from_what_the_node_knows_and_the_time() {
    let t = tree();
    let host_key = public_key(&t.host);
    let joiner = public_key(&key());
    let revoked = Revocations::new();
    let door = host_door(&t, &host_key, &revoked);
    let expiring = t
        .host_authority
        .invite(&t.session, &t.host, Role::Viewer, Some(2000), 3);
    let hello = hello_for(&t, expiring.clone(), joiner);
    assert_eq!(
        admit(&hello, 1000, &door),
        Ok(Admitted {
            role: Role::Viewer,
            expires: Some(2000)
        })
    );
    // Simulated time: the same hello a little later.
    assert!(matches!(
        admit(&hello, 2001, &door),
        Err(Refusal::BadInvite(_))
    ));

    let mut old = hello.clone();
    old.protocol = PROTOCOL_VERSION + 1;
    assert!(matches!(
        admit(&old, 1000, &door),
        Err(Refusal::VersionMismatch { .. })
    ));

    let other = tree();
    let mut elsewhere = hello.clone();
    elsewhere.session = other.session;
    assert!(matches!(
        admit(&elsewhere, 1000, &door),
        Err(Refusal::WrongSession { .. })
    ));

    let not_joined = Door {
        authority: None,
        ..door
    };
    assert!(matches!(
        admit(&hello, 1000, &not_joined),
        Err(Refusal::Protocol(_))
    ));

    let revoked_set: Revocations = [expiring.grant_id(&t.session)].into_iter().collect();
    let revoking = Door {
        revoked: &revoked_set,
        ..door
    };
    assert_eq!(admit(&hello, 1000, &revoking), Err(Refusal::Revoked));

    let full = Door {
        children: 4,
        max_children: Some(4),
        ..door
    };
    assert!(matches!(admit(&hello, 1000, &full), Err(Refusal::Limit(_))));

    let itself = hello_for(&t, expiring.clone(), host_key);
    assert!(matches!(admit(&itself, 1000, &door), Err(Refusal::Loop(_))));
    let ancestor_key = public_key(&key());
    let ancestors = [Ancestor {
        node_key: ancestor_key,
        address: "127.0.0.1:1".into(),
        fingerprint: Fingerprint([0; 32]),
    }];
    let below = Door {
        ancestors: &ancestors,
        ..door
    };
    let looping = hello_for(&t, expiring, ancestor_key);
    assert!(matches!(
        admit(&looping, 1000, &below),
        Err(Refusal::Loop(_))
    ));
}

/// The host's door with nothing else known.
fn host_door<'a>(t: &'a Tree, host_key: &'a [u8; 32], revoked: &'a Revocations) -> Door<'a> {
    Door {
        session: &t.session,
        authority: Some(&t.host_authority),
        node_key: host_key,
        ancestors: &[],
        revoked,
        children: 0,
        max_children: None,
    }
}

/// Revocation names the grant, not the token's bytes: a token spelled differently
/// (`expires: None` and `Some(u64::MAX)` sign the same bytes) is the same grant.
#[test]
fn a_revoked_invite_stays_revoked_however_its_token_is_spelled() {
    let t = tree();
    let host_key = public_key(&t.host);
    let invite = t
        .host_authority
        .invite(&t.session, &t.host, Role::Editor, None, 42);
    let mut respelled = invite.clone();
    respelled.grant.expires = Some(u64::MAX);
    assert_ne!(respelled.to_token(), invite.to_token());
    assert!(respelled.verify(&t.session, 1000).is_ok(), "same signature");
    let revoked: Revocations = [invite.grant_id(&t.session)].into_iter().collect();
    let door = host_door(&t, &host_key, &revoked);
    for token in [invite, respelled] {
        let hello = hello_for(&t, token, public_key(&key()));
        assert_eq!(admit(&hello, 1000, &door), Err(Refusal::Revoked));
    }
}

/// A node admitted with an invite gets a grant marked with that invite, whichever node
/// admits it: revoking the invite refuses its rejoins and every invite it mints, and
/// the invites of nodes it admitted in turn.
#[test]
fn revoking_an_invite_refuses_everything_admitted_with_it() {
    let t = tree();
    let host_key = public_key(&t.host);
    let invite = t
        .host_authority
        .invite(&t.session, &t.host, Role::Editor, None, 42);
    let revoked_grant = invite.grant_id(&t.session);
    // Another node of the tree admits the holder (any valid invite admits anywhere).
    let other = key();
    let other_authority = t.host_authority.delegate(
        &t.session,
        &t.host,
        public_key(&other),
        Role::Editor,
        None,
        7,
    );
    let holder = key();
    let holder_authority = other_authority.delegate(
        &t.session,
        &other,
        public_key(&holder),
        Role::Editor,
        None,
        revoked_grant.admitted_nonce(),
    );
    let minted = holder_authority.invite(&t.session, &holder, Role::Editor, None, 9);
    let grandchild = key();
    let grandchild_authority = holder_authority.delegate(
        &t.session,
        &holder,
        public_key(&grandchild),
        Role::Editor,
        None,
        minted.grant_id(&t.session).admitted_nonce(),
    );
    let minted_below = grandchild_authority.invite(&t.session, &grandchild, Role::Viewer, None, 11);
    let unrelated = other_authority.invite(&t.session, &other, Role::Editor, None, 12);

    let revoked: Revocations = [revoked_grant].into_iter().collect();
    let door = host_door(&t, &host_key, &revoked);
    for (token, what) in [
        (&minted, "minted by the holder"),
        (&minted_below, "minted below it"),
    ] {
        assert!(token.verify(&t.session, 1000).is_ok());
        let hello = hello_for(&t, token.clone(), public_key(&key()));
        assert_eq!(admit(&hello, 1000, &door), Err(Refusal::Revoked), "{what}");
    }
    let hello = hello_for(&t, unrelated, public_key(&key()));
    assert!(admit(&hello, 1000, &door).is_ok(), "others are untouched");
    assert!(revoked.refuses(&holder_authority.grant_ids(&t.session)));
    assert!(!revoked.refuses(&other_authority.grant_ids(&t.session)));
}

/// A node that admits with an invite another node minted vouches for the marks of
/// everyone that invite came through: revoking the minter, anyone above it, or the
/// invites that let them in reaches the joiner and the invites it mints. And a host
/// that admits with invites one participant minted puts every joiner in that
/// participant's branch of the grant tree, not in a branch of its own.
#[test]
fn admitting_with_an_invite_another_node_minted_carries_its_marks() {
    let t = tree();
    let host_key = public_key(&t.host);
    let at_host = |invite: &Invite| {
        let joiner = key();
        let authority = t
            .host_authority
            .admit(
                &t.session,
                &t.host,
                invite,
                public_key(&joiner),
                Role::Editor,
                None,
            )
            .unwrap();
        (joiner, authority)
    };
    // E joins the host with the host's invite; F joins E with E's.
    let host_invite = t
        .host_authority
        .invite(&t.session, &t.host, Role::Editor, None, 42);
    let (e, e_authority) = at_host(&host_invite);
    assert_eq!(
        e_authority.chain.len(),
        2,
        "the host's own invite adds one grant"
    );
    let e_invite = e_authority.invite(&t.session, &e, Role::Editor, None, 9);
    let f = key();
    let f_authority = e_authority
        .admit(
            &t.session,
            &e,
            &e_invite,
            public_key(&f),
            Role::Editor,
            None,
        )
        .unwrap();
    assert_eq!(f_authority.chain.len(), 3, "E's own invite adds one grant");
    let f_invite = f_authority.invite(&t.session, &f, Role::Editor, None, 11);
    // J and J2 bring invites E minted to the host, K one F minted.
    let (j, j_authority) = at_host(&e_invite);
    let (_, j2_authority) = at_host(&e_authority.invite(&t.session, &e, Role::Editor, None, 10));
    let (k, k_authority) = at_host(&f_invite);
    let (_, own_authority) =
        at_host(
            &t.host_authority
                .invite(&t.session, &t.host, Role::Editor, None, 43),
        );
    for (authority, joiner) in [(&j_authority, &j), (&k_authority, &k)] {
        assert_eq!(
            authority.author(&t.session).unwrap(),
            (public_key(joiner), Role::Editor)
        );
    }
    let e_branch = e_authority.branch(&t.session);
    for authority in [&j_authority, &j2_authority, &k_authority, &f_authority] {
        assert_eq!(authority.branch(&t.session), e_branch);
    }
    assert_ne!(own_authority.branch(&t.session), e_branch);

    // What each revocation reaches.
    let e_grant = e_authority.grant_ids(&t.session)[1];
    let f_grant = f_authority.grant_ids(&t.session)[2];
    let cases = [
        (
            host_invite.grant_id(&t.session),
            "the invite E came in with",
            true,
            true,
        ),
        (e_grant, "E's grant", true, true),
        (
            e_invite.grant_id(&t.session),
            "the invite F came in with",
            true,
            true,
        ),
        (f_grant, "F's grant", false, true),
        (f_invite.grant_id(&t.session), "F's invite", false, true),
    ];
    for (grant, what, reaches_j, reaches_k) in cases {
        let revoked: Revocations = [grant].into_iter().collect();
        assert_eq!(
            revoked.refuses(&j_authority.grant_ids(&t.session)),
            reaches_j,
            "{what}: J"
        );
        assert_eq!(
            revoked.refuses(&k_authority.grant_ids(&t.session)),
            reaches_k,
            "{what}: K"
        );
        assert!(
            !revoked.refuses(&own_authority.grant_ids(&t.session)),
            "{what}: others"
        );
        // K's rejoins, with invites it mints itself, are refused at the door too.
        let minted = k_authority.invite(&t.session, &k, Role::Editor, None, 12);
        let hello = hello_for(&t, minted, public_key(&key()));
        assert_eq!(
            admit(&hello, 1000, &host_door(&t, &host_key, &revoked)),
            Err(Refusal::Revoked),
            "{what}: an invite K minted"
        );
    }

    // An invite minted so far down another part of the tree that the joiner's chain
    // would pass the longest allowed is refused, not turned into a chain no one takes.
    let mut deep = (e, e_authority);
    while deep.1.chain.len() <= MAX_CHAIN / 2 {
        let next = key();
        let authority = deep.1.delegate(
            &t.session,
            &deep.0,
            public_key(&next),
            Role::Editor,
            None,
            1000 + deep.1.chain.len() as u64,
        );
        deep = (next, authority);
    }
    let deep_invite = deep.1.invite(&t.session, &deep.0, Role::Editor, None, 1);
    let too_long = t.host_authority.admit(
        &t.session,
        &t.host,
        &deep_invite,
        public_key(&key()),
        Role::Editor,
        None,
    );
    assert!(
        matches!(too_long, Err(InviteError::TooLong(_))),
        "{:?}",
        too_long.map(|a| a.chain.len())
    );
}

/// A node rejoins with an invite it mints itself. However often it reconnects, its
/// chain does not grow: at the same node it gets the same chain again; at an
/// ancestor, a grant marked with its last one, and every mark it carried stays.
#[test]
fn rejoining_keeps_every_mark_and_the_chain_does_not_grow() {
    let t = tree();
    let p_invite = t
        .host_authority
        .invite(&t.session, &t.host, Role::Editor, None, 42);
    let p = key();
    let p_authority = t
        .host_authority
        .admit(
            &t.session,
            &t.host,
            &p_invite,
            public_key(&p),
            Role::Editor,
            None,
        )
        .unwrap();
    let j_invite = p_authority.invite(&t.session, &p, Role::Editor, None, 9);
    let j = key();
    let j_at_p = p_authority
        .admit(
            &t.session,
            &p,
            &j_invite,
            public_key(&j),
            Role::Editor,
            None,
        )
        .unwrap();
    let rejoin = |authority: &Authority, at: &Authority, admitter: &Ed25519KeyPair, nonce| {
        let own = authority.invite(&t.session, &j, Role::Editor, None, nonce);
        at.admit(
            &t.session,
            admitter,
            &own,
            public_key(&j),
            Role::Editor,
            None,
        )
        .unwrap()
    };
    let mut again = j_at_p.clone();
    for nonce in 0..50 {
        again = rejoin(&again, &p_authority, &p, nonce);
    }
    assert_eq!(
        again, j_at_p,
        "rejoining the same node gives the same chain"
    );

    // P is gone: J rejoins at the host, then reconnects there again and again.
    let j_at_host = rejoin(&j_at_p, &t.host_authority, &t.host, 100);
    let mut again = j_at_host.clone();
    for nonce in 0..50 {
        again = rejoin(&again, &t.host_authority, &t.host, nonce);
    }
    assert_eq!(
        again, j_at_host,
        "reconnecting at the host gives the same chain"
    );
    assert_eq!(
        j_at_host.author(&t.session).unwrap(),
        (public_key(&j), Role::Editor)
    );
    assert_eq!(
        j_at_host.branch(&t.session),
        p_authority.branch(&t.session),
        "still in the branch it joined under"
    );
    let j_grant = j_at_p.grant_ids(&t.session)[2];
    let unrelated = t
        .host_authority
        .invite(&t.session, &t.host, Role::Editor, None, 43);
    for (grant, what, reaches) in [
        (
            p_invite.grant_id(&t.session),
            "the invite P came in with",
            true,
        ),
        (
            j_invite.grant_id(&t.session),
            "the invite J came in with",
            true,
        ),
        (j_grant, "the grant P gave J", true),
        (unrelated.grant_id(&t.session), "another invite", false),
    ] {
        let revoked: Revocations = [grant].into_iter().collect();
        assert_eq!(
            revoked.refuses(&j_at_host.grant_ids(&t.session)),
            reaches,
            "{what}"
        );
    }
}

#[test]
fn revocations_are_signed_by_the_session_key_and_ids_round_trip() {
    let session_key = key();
    let host = key();
    let (session, authority) = Authority::root(&session_key, &host, 1);
    let grant = authority
        .invite(&session, &host, Role::Viewer, None, 5)
        .grant_id(&session);
    let text = grant.to_string();
    assert_eq!(text.parse::<GrantId>(), Ok(grant));
    assert!("nonsense".parse::<GrantId>().is_err());
    assert!(format!("{text}0").parse::<GrantId>().is_err());

    let revocation = Revocation::sign(&session_key, &session, grant, Vec::new());
    assert!(revocation.verify(&session).is_ok());
    let forged = Revocation::sign(&host, &session, grant, Vec::new());
    assert!(
        forged.verify(&session).is_err(),
        "only the session key revokes"
    );
    let mut altered = revocation.clone();
    altered.grant.nonce += 1;
    assert!(altered.verify(&session).is_err());
}

/// A revocation says where each revoked author's log ends, signed with the session
/// key; each cut-off must be the author's own signed head, and none can be changed,
/// added or taken away in transit.
#[test]
fn a_revocations_cut_offs_are_signed_and_the_authors_own() {
    let session_key = key();
    let host = key();
    let (session, authority) = Authority::root(&session_key, &host, 1);
    let grant = authority
        .invite(&session, &host, Role::Editor, None, 5)
        .grant_id(&session);
    let editor = key();
    let author = AuthorKey(public_key(&editor));
    let head = Head::genesis(&session, &author).next(1, 1, b"stroke");
    let kept = Kept {
        author: author.0,
        seq: 1,
        head,
        signature: Some(Signature::sign(&editor, &session, 1, &head)),
    };
    let nothing = Kept::nothing(&session, public_key(&key()));
    let revocation = Revocation::sign(&session_key, &session, grant, vec![kept, nothing]);
    assert_eq!(revocation.verify(&session), Ok(()));

    let mut later = revocation.clone();
    if let Some(kept) = later.kept.as_mut() {
        kept[0].seq = 2;
    }
    assert!(later.verify(&session).is_err(), "a cut-off moved");
    let mut dropped = revocation.clone();
    if let Some(kept) = dropped.kept.as_mut() {
        kept.pop();
    }
    assert!(dropped.verify(&session).is_err(), "a cut-off taken away");
    let mut unsigned = revocation.clone();
    unsigned.kept = None;
    assert!(unsigned.verify(&session).is_err(), "cut-offs taken away");

    // More cut-offs than a frame holds: refused before any is checked.
    let many = vec![Kept::nothing(&session, public_key(&editor)); MAX_KEPT + 1];
    let too_many = Revocation::sign(&session_key, &session, grant, many);
    assert!(too_many.verify(&session).is_err());

    // Signed by the session key, but a head the author never signed.
    let other_head = head.next(2, 2, b"more");
    let not_the_authors = Kept {
        head: other_head,
        ..kept
    };
    let revocation = Revocation::sign(&session_key, &session, grant, vec![not_the_authors]);
    assert!(revocation.verify(&session).is_err());
}

/// A new joiner's hello with an editor invite of the host's.
fn editor_hello(t: &Tree) -> Hello {
    let invite = t
        .host_authority
        .invite(&t.session, &t.host, Role::Editor, None, 7);
    hello_for(t, invite, public_key(&key()))
}

#[test]
fn a_hello_with_an_overlong_name_is_refused_before_its_invite_is_checked() {
    let t = tree();
    let (host_key, revoked) = (public_key(&t.host), Revocations::new());
    let door = host_door(&t, &host_key, &revoked);
    let mut hello = editor_hello(&t);
    hello.name = "é".repeat(MAX_NAME);
    assert!(
        admit(&hello, 1000, &door).is_ok(),
        "{MAX_NAME} characters pass"
    );
    hello.name.push('x');
    assert!(matches!(
        admit(&hello, 1000, &door),
        Err(Refusal::Protocol(reason)) if reason.contains("name")
    ));
    // What honest nodes send instead.
    assert_eq!(bounded_name(&hello.name).chars().count(), MAX_NAME);
}

/// A hello's node id is the one its key names (ops are named after keys): another id
/// is refused before anything else about the joiner is judged.
#[test]
fn a_hello_whose_node_id_is_not_its_keys_is_refused() {
    let t = tree();
    let (host_key, revoked) = (public_key(&t.host), Revocations::new());
    let door = host_door(&t, &host_key, &revoked);
    let mut hello = editor_hello(&t);
    assert!(admit(&hello, 1000, &door).is_ok());
    hello.node = NodeId(hello.node.0 ^ 1);
    for verdict in [
        admit(&hello, 1000, &door),
        precheck(
            &hello,
            &KeyProof::sign(&t.host, &hello, &BINDING),
            &BINDING,
            1000,
        )
        .map(|_| Admitted {
            role: Role::Viewer,
            expires: None,
        }),
    ] {
        assert!(
            matches!(&verdict, Err(Refusal::Protocol(reason)) if reason.contains("key")),
            "{verdict:?}"
        );
    }
}

#[test]
fn a_viewer_node_admits_no_one_as_editor() {
    let t = tree();
    let viewer = key();
    let viewer_authority = t.host_authority.delegate(
        &t.session,
        &t.host,
        public_key(&viewer),
        Role::Viewer,
        None,
        4,
    );
    // An editor invite from higher up, presented at the viewer's door.
    let invite = t
        .host_authority
        .invite(&t.session, &t.host, Role::Editor, None, 5);
    let viewer_key = public_key(&viewer);
    let revoked = Revocations::new();
    let door = Door {
        session: &t.session,
        authority: Some(&viewer_authority),
        node_key: &viewer_key,
        ancestors: &[],
        revoked: &revoked,
        children: 0,
        max_children: None,
    };
    let hello = hello_for(&t, invite, public_key(&key()));
    assert_eq!(admit(&hello, 1000, &door).map(|a| a.role), Ok(Role::Viewer));
}

#[test]
fn datagrams_round_trip() {
    let participant = key();
    let author = AuthorKey(public_key(&participant));
    let session = SessionId([4; 32]);
    let presence = Presence {
        node: author.node_id(),
        seq: 9,
        name: "ada".into(),
        color: Color::rgb(1, 2, 3),
        page: 2,
        cursor: Some(Point::new(1.0, 2.0)),
        role: Some(Role::Editor),
        muted: true,
    };
    let bytes = Datagram::presence(&presence, &participant, &session);
    let Ok(Datagram::Presence(signed)) = Datagram::parse(&bytes) else {
        panic!("a presence datagram that does not parse");
    };
    assert_eq!(signed.presence, presence);
    assert!(signed.verify(&author, &session));
    // Only its participant's key, for its session, and only what it signed.
    assert!(!signed.verify(&AuthorKey(public_key(&key())), &session));
    assert!(!signed.verify(&author, &SessionId([5; 32])));
    let mut changed = bytes.clone();
    let at = changed.len() - 70;
    changed[at] ^= 1;
    if let Ok(Datagram::Presence(changed)) = Datagram::parse(&changed) {
        assert!(!changed.verify(&author, &session));
    }
    assert!(
        Datagram::parse(&bytes[..bytes.len() - 64]).is_err(),
        "a presence without its signature"
    );
    let mut elsewhere = presence.clone();
    elsewhere.node = NodeId(3);
    let forged = Datagram::presence(&elsewhere, &participant, &session);
    let Ok(Datagram::Presence(forged)) = Datagram::parse(&forged) else {
        panic!("a presence datagram that does not parse");
    };
    assert!(
        !forged.verify(&author, &session),
        "signed by a key its node id is not named after"
    );
    assert_eq!(
        Datagram::parse(&Datagram::audio(u64::MAX, &[1, 2, 3])),
        Ok(Datagram::Audio {
            seq: u64::MAX,
            packet: vec![1, 2, 3]
        })
    );
    assert_eq!(Datagram::parse(&[]), Err(DatagramError::Empty));
    assert_eq!(Datagram::parse(&[9, 1]), Err(DatagramError::UnknownTag(9)));
    assert!(Datagram::parse(&[AUDIO_TAG, 1, 2]).is_err(), "no number");
    assert!(
        Datagram::parse(&Datagram::audio(1, &[])).is_err(),
        "no packet"
    );
    assert!(Datagram::parse(&Datagram::audio(1, &[0; MAX_AUDIO_PACKET + 1])).is_err());
}

proptest! {
    /// Any bytes at all: parsed or refused, never a panic.
    #[test]
    fn any_datagram_bytes_are_parsed_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..1400)) {
        let _ = Datagram::parse(&bytes);
    }
}

/// What a hello says of itself is judged without knowing the session: a relay asks
/// this before loading a session from disk.
#[test]
fn a_hello_is_prechecked_without_the_session() {
    let t = tree();
    let invite = t
        .host_authority
        .invite(&t.session, &t.host, Role::Editor, Some(2000), 4);
    let joiner = key();
    let hello = hello_for(&t, invite, public_key(&joiner));
    let proven = |hello: &Hello, now| {
        precheck(
            hello,
            &KeyProof::sign(&joiner, hello, &BINDING),
            &BINDING,
            now,
        )
    };
    assert_eq!(proven(&hello, 1000), Ok(()));
    assert!(matches!(proven(&hello, 2001), Err(Refusal::BadInvite(_))));
    let other = tree();
    let mut elsewhere = hello.clone();
    elsewhere.session = other.session;
    assert!(matches!(
        proven(&elsewhere, 1000),
        Err(Refusal::BadInvite(_))
    ));
    let mut long = hello;
    long.name = "x".repeat(MAX_NAME + 1);
    assert!(matches!(proven(&long, 1000), Err(Refusal::Protocol(_))));
}

/// A hello must come with proof, made on this connection, that the joiner holds the
/// key it names: a stranger cannot join in another node's name, and a proof seen on
/// one connection is worth nothing on another.
#[test]
fn a_hello_proves_its_key_on_its_own_connection() {
    let t = tree();
    let invite = t
        .host_authority
        .invite(&t.session, &t.host, Role::Editor, None, 4);
    let (joiner, stranger) = (key(), key());
    let hello = hello_for(&t, invite, public_key(&joiner));
    let other_connection = [BINDING[0] ^ 1; 32];
    let proof = KeyProof::sign(&joiner, &hello, &BINDING);
    assert_eq!(precheck(&hello, &proof, &BINDING, 1000), Ok(()));
    // Another connection's binding: a copied hello and proof.
    assert_eq!(
        precheck(&hello, &proof, &other_connection, 1000),
        Err(Refusal::UnprovenKey)
    );
    // Someone else's key named, proven with one's own.
    let forged = KeyProof::sign(&stranger, &hello, &BINDING);
    assert_eq!(
        precheck(&hello, &forged, &BINDING, 1000),
        Err(Refusal::UnprovenKey)
    );
    // A proof for another session.
    let mut elsewhere = hello.clone();
    elsewhere.session = tree().session;
    assert_eq!(
        precheck(
            &hello,
            &KeyProof::sign(&joiner, &elsewhere, &BINDING),
            &BINDING,
            1000
        ),
        Err(Refusal::UnprovenKey)
    );
    assert_eq!(Refusal::UnprovenKey.kind(), "unproven_key");
}

#[path = "protocol/seals.rs"]
mod seals;
