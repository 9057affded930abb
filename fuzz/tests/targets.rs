//! The fuzz targets over their committed corpora and over random bytes (the short
//! run of `make test`; `make fuzz` runs them coverage-guided under AFL++). A seed
//! corpus is written by `cargo test -p canopy-fuzz -- --ignored write_seed_corpora`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;

use canopy_canvas::{Action, Color, NodeId, Op, OpId, Point, Tool, VersionVector, FIRST_PAGE};
use canopy_fuzz::{target, TARGETS};
use canopy_protocol::{
    encode, public_key, Authority, Datagram, Fingerprint, Hello, HostUrl, JoinUrl, Message,
    Presence, Refusal, Revocation, Role, WireOp, PROTOCOL_VERSION,
};
use proptest::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::Ed25519KeyPair;

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name)
}

#[test]
fn every_corpus_input_is_taken_or_refused_without_a_panic() {
    for (name, run) in TARGETS {
        let dir = corpus(name);
        let mut inputs = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            run(&std::fs::read(&path).unwrap());
            inputs += 1;
        }
        assert!(inputs > 0, "no corpus for {name}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(
        which in 0..6usize,
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        // `files` writes a file per input: it has its own, shorter run below.
        let names = ["frames", "ops", "invites", "urls", "datagrams", "document"];
        target(names[which]).unwrap()(&bytes);
    }

    #[test]
    fn mutated_seeds_never_panic(
        which in 0..TARGETS.len(),
        seed in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let (name, run) = TARGETS[which];
        let mut seeds: Vec<PathBuf> = std::fs::read_dir(corpus(name))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        seeds.sort();
        let mut bytes = std::fs::read(seed.get(&seeds)).unwrap();
        if !bytes.is_empty() {
            for (at, value) in flips {
                let i = at.index(bytes.len());
                bytes[i] ^= value;
            }
        }
        run(&bytes);
    }
}

fn key() -> Ed25519KeyPair {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
}

fn ops() -> Vec<Op> {
    let node = NodeId(2);
    let id = |seq| OpId { node, seq };
    let actions = vec![
        seed_start(),
        Action::StrokePoints {
            stroke: id(1),
            offset: 0,
            points: vec![Point::new(1.0, 2.0), Point::new(3.0, 4.0)],
        },
        Action::StrokeEnd {
            stroke: id(1),
            points: 2,
        },
        Action::NewPage { position: 1.0 },
        Action::MovePage {
            page: id(4),
            position: 0.5,
        },
        Action::Erase {
            strokes: vec![id(1)],
        },
        Action::ClearPage {
            page: FIRST_PAGE,
            seen: VersionVector::new(),
        },
        Action::Undo { target: id(6) },
        Action::Redo { target: id(6) },
        Action::DeletePage { page: id(4) },
    ];
    numbered(node, actions)
}

/// The start of the seeds' strokes.
fn seed_start() -> Action {
    Action::StrokeStart {
        page: FIRST_PAGE,
        tool: Tool::Pen,
        color: Color::rgb(10, 20, 30),
        width: 2.0,
    }
}

/// `actions` as `node`'s ops 1, 2, …, each clock its number.
fn numbered(node: NodeId, actions: Vec<Action>) -> Vec<Op> {
    actions
        .into_iter()
        .enumerate()
        .map(|(n, action)| Op {
            id: OpId {
                node,
                seq: n as u64 + 1,
            },
            lamport: n as u64 + 1,
            action,
        })
        .collect()
}

/// Writes the seed corpora (run by hand; the files are committed).
#[test]
#[ignore]
fn write_seed_corpora() {
    let write = |name: &str, file: &str, bytes: &[u8]| {
        let dir = corpus(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(file), bytes).unwrap();
    };
    let session_key = key();
    let host = key();
    let (session, authority) = Authority::root(&session_key, &host, 1);
    let invite = authority.invite(&session, &host, Role::Editor, Some(2_000_000_000), 9);
    // Signed as an author signs a batch (the last op and checkpoints carry one).
    let (wire, _) =
        canopy_protocol::Signer::fresh(session, canopy_protocol::AuthorKey(public_key(&host)))
            .sign_batch(&host, &ops())
            .unwrap();

    // frames: a chunk size byte, then frames.
    let messages = [
        {
            let hello = Hello {
                protocol: PROTOCOL_VERSION,
                session,
                node: canopy_protocol::AuthorKey(public_key(&host)).node_id(),
                node_key: public_key(&host),
                name: "seed".into(),
                invite: invite.clone(),
                seen: VersionVector::new(),
            };
            let proof = canopy_protocol::KeyProof::sign(&host, &hello, &[0; 32]);
            Message::Hello(hello, proof)
        },
        Message::Ops(wire.clone()),
        Message::Refused(Refusal::Limit("seed".into())),
        Message::Revoke(Revocation::sign(
            &session_key,
            &session,
            invite.grant_id(&session),
            vec![canopy_protocol::Kept::nothing(&session, public_key(&host))],
        )),
        Message::Authors(vec![authority.clone()]),
        Message::Heads(vec![canopy_protocol::SignedHead {
            author: wire[0].id.node,
            seq: wire[wire.len() - 1].id.seq,
            head: canopy_protocol::Head([5; 32]),
            signature: wire[wire.len() - 1].signature.unwrap(),
        }]),
    ];
    for (n, message) in messages.iter().enumerate() {
        let mut bytes = vec![7u8];
        bytes.extend(encode(message).unwrap());
        write("frames", &format!("message-{n}"), &bytes);
    }
    // A stroke ended twice, with points after its first end: a holder once served
    // the first end with the second's count (not what its author signed).
    let node = NodeId(2);
    let stroke = OpId { node, seq: 1 };
    let twice: Vec<WireOp> = numbered(
        node,
        vec![
            seed_start(),
            Action::StrokePoints {
                stroke,
                offset: 0,
                points: vec![Point::new(1.0, 2.0)],
            },
            Action::StrokeEnd { stroke, points: 1 },
            Action::StrokePoints {
                stroke,
                offset: 1,
                points: vec![Point::new(3.0, 4.0)],
            },
            Action::StrokeEnd { stroke, points: 2 },
        ],
    )
    .iter()
    .map(WireOp::from_op)
    .collect();
    let mut bytes = vec![7u8];
    bytes.extend(encode(&Message::Ops(twice)).unwrap());
    write("frames", "stroke-ended-twice", &bytes);

    // ops: length-prefixed action payloads.
    let mut batch = Vec::new();
    for op in &wire {
        batch.push(op.payload.len() as u8);
        batch.extend(&op.payload);
    }
    write("ops", "every-action", &batch);
    // A stroke and its seal: verifying a run jumps at seals.
    let mut author = canopy_canvas::Document::new(NodeId(1));
    let start = author
        .begin_stroke(
            canopy_canvas::FIRST_PAGE,
            canopy_canvas::Tool::Pen,
            canopy_canvas::Color::rgb(1, 2, 3),
            2.0,
        )
        .unwrap();
    let mut sealed = vec![start.clone()];
    for x in 0..3 {
        sealed.push(
            author
                .extend_stroke(start.id, vec![Point::new(x as f32, 1.0)])
                .unwrap(),
        );
    }
    sealed.push(author.end_stroke(start.id).unwrap());
    sealed.push(author.seal_stroke(start.id).unwrap());
    let mut batch = Vec::new();
    for op in &sealed {
        let payload = WireOp::from_op(op).payload;
        batch.push(payload.len() as u8);
        batch.extend(&payload);
    }
    write("ops", "sealed-stroke", &batch);

    // frames: a proof of a split under a seal (the seal from the genesis, and a page
    // in the stroke's place), so the walk over its sides starts from one.
    let author = canopy_protocol::AuthorKey(public_key(&host));
    let mut drawn = canopy_canvas::Document::new(author.node_id());
    let start = drawn
        .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(1, 2, 3), 2.0)
        .unwrap();
    let mut stroke = vec![start.clone()];
    stroke.push(
        drawn
            .extend_stroke(start.id, vec![Point::new(1.0, 1.0)])
            .unwrap(),
    );
    stroke.push(drawn.end_stroke(start.id).unwrap());
    stroke.push(drawn.seal_stroke(start.id).unwrap());
    let (stroke_wire, _) = canopy_protocol::Signer::fresh(session, author)
        .sign_batch(&host, &stroke)
        .unwrap();
    let mut paged = canopy_canvas::Document::new(author.node_id());
    let page = vec![paged.new_page().unwrap()];
    let (page_wire, _) = canopy_protocol::Signer::fresh(session, author)
        .sign_batch(&host, &page)
        .unwrap();
    let side = |wire: &[WireOp]| canopy_protocol::Fork {
        head: canopy_protocol::Head::genesis(&session, &author),
        ops: wire
            .iter()
            .map(|op| (op.lamport, op.payload.clone()))
            .collect(),
        signature: wire.last().unwrap().signature.unwrap(),
        jumps: Vec::new(),
    };
    let proof = canopy_protocol::Evidence::under_seal(
        &session,
        author,
        1,
        4,
        side(&stroke_wire[3..]),
        side(&page_wire),
    )
    .expect("a proof under a seal");
    let mut bytes = vec![7u8];
    bytes.extend(encode(&Message::Evidence(Box::new(proof))).unwrap());
    write("frames", "proof-under-a-seal", &bytes);

    // frames: a proof of two seals of that stroke (the other drawn in two chunks,
    // sealed at op 5), both from the genesis.
    let mut redrawn = canopy_canvas::Document::new(author.node_id());
    let start = redrawn
        .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(3, 2, 1), 2.0)
        .unwrap();
    let mut longer = vec![start.clone()];
    for x in [1.0, 2.0] {
        longer.push(
            redrawn
                .extend_stroke(start.id, vec![Point::new(x, 1.0)])
                .unwrap(),
        );
    }
    longer.push(redrawn.end_stroke(start.id).unwrap());
    longer.push(redrawn.seal_stroke(start.id).unwrap());
    let (longer_wire, _) = canopy_protocol::Signer::fresh(session, author)
        .sign_batch(&host, &longer)
        .unwrap();
    let proof = canopy_protocol::Evidence::two_seals(
        &session,
        author,
        1,
        (4, side(&stroke_wire[3..])),
        (5, side(&longer_wire[4..])),
    )
    .expect("a proof of two seals");
    let mut bytes = vec![7u8];
    bytes.extend(encode(&Message::Evidence(Box::new(proof))).unwrap());
    write("frames", "proof-of-two-seals", &bytes);

    // frames: a proof that the author signed an op no node takes (a page, then a
    // stroke far wider than any node takes), from the genesis.
    let mut wide = canopy_canvas::Document::new(author.node_id());
    let mut refused = vec![wide.new_page().unwrap()];
    let mut too_wide = wide
        .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(1, 2, 3), 2.0)
        .unwrap();
    too_wide.action = Action::StrokeStart {
        page: FIRST_PAGE,
        tool: Tool::Pen,
        color: Color::rgb(1, 2, 3),
        width: 1e9,
    };
    refused.push(too_wide);
    let (refused_wire, _) = canopy_protocol::Signer::fresh(session, author)
        .sign_batch(&host, &refused)
        .unwrap();
    let proof = canopy_protocol::Evidence::refused(&session, author, 0, side(&refused_wire))
        .expect("a proof of refused content");
    let mut bytes = vec![7u8];
    bytes.extend(encode(&Message::Evidence(Box::new(proof))).unwrap());
    write("frames", "proof-of-refused-content", &bytes);

    write("invites", "editor", invite.to_token().as_bytes());

    let url = JoinUrl {
        host: "127.0.0.1".into(),
        port: 7447,
        session,
        fingerprint: Some(Fingerprint([3; 32])),
        invite,
    };
    write("urls", "join", url.to_string().as_bytes());
    let host_url = HostUrl {
        host: "::1".into(),
        port: 7448,
        fingerprint: Fingerprint([4; 32]),
        token: "secret".into(),
    };
    write("urls", "host", host_url.to_string().as_bytes());

    let presence = Presence {
        node: canopy_protocol::AuthorKey(public_key(&host)).node_id(),
        seq: 5,
        name: "seed".into(),
        color: Color::rgb(1, 2, 3),
        page: 0,
        cursor: Some(Point::new(5.0, 6.0)),
        role: Some(Role::Viewer),
        muted: false,
    };
    write(
        "datagrams",
        "presence",
        &Datagram::presence(&presence, &host, &session),
    );
    let mut encoder = canopy_audio::codec::VoiceEncoder::new(5).unwrap();
    let tone: Vec<f32> = (0..canopy_audio::FRAME_SAMPLES)
        .map(|i| (i as f32 * 0.05).sin() * 0.3)
        .collect();
    let packet = encoder.encode(tone.as_slice().try_into().unwrap()).unwrap();
    write("datagrams", "audio", &Datagram::audio(3, &packet));

    // files: a small session file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.canopy");
    let meta = canopy_node::storage::Meta {
        session,
        node: NodeId(2),
        created_ms: 1,
        title: "seed".into(),
        signed: true,
    };
    let mut store = canopy_node::storage::Store::create(&path, &meta).unwrap();
    let batch: Vec<(u64, WireOp)> = wire.into_iter().map(|w| (10, w)).collect();
    store.append(&batch).unwrap();
    drop(store);
    write("files", "small", &std::fs::read(&path).unwrap());
}
