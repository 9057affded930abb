//! A link's own components: deframer, guard, checker, encoder, presence-in.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use bytes::Bytes;
use canopy_axon::Graph;
use canopy_canvas::{Limits, NodeId};
use canopy_node::link::checker::Checker;
use canopy_node::link::deframer::Deframer;
use canopy_node::link::encoder::{queued_bytes, Encoder, Frame, Queued};
use canopy_node::link::guard::{Guard, Peer};
use canopy_node::link::presence_in::PresenceIn;
use canopy_node::link::Inbound;
use canopy_node::session::sync::{Replica, SyncServer};
use canopy_node::session::{
    Authors, DocumentInput, PresenceInput, RouterInput, SessionLimits, SharedAuthors, SyncInput,
    LINK_CREDITS,
};
use canopy_protocol::{
    encode, Datagram, FrameDecoder, Message, Presence, Refusal, Role, WireOp, MAX_FRAME,
};

use crate::{driver, new_key, next, quiet, tap, wire_start, TestAuthor};

/// The ops of an op batch (and what else came, a failure).
fn ops_in(inbound: Inbound) -> Vec<WireOp> {
    match inbound {
        Inbound::Ops(ops) => ops,
        other => panic!("expected ops, got {other:?}"),
    }
}

fn refusal(input: RouterInput) -> Refusal {
    match input {
        RouterInput::Misbehaved { link: 7, refusal } => refusal,
        other => panic!("expected a refusal for link 7, got {other:?}"),
    }
}

#[tokio::test]
async fn the_deframer_joins_split_frames_and_refuses_bad_ones() {
    let graph = Graph::new("test");
    let deframer = graph.spawn("link[7]/deframer", |s| {
        Deframer::new(s, 7, FrameDecoder::new())
    });
    let (guard_in, mut ops) = tap::<Inbound>(&graph, "guard");
    let (router_in, mut router) = tap::<RouterInput>(&graph, "router");
    canopy_axon::link(&deframer.outbox("outbox").unwrap(), &guard_in).unwrap();
    canopy_axon::link(&deframer.outbox("router").unwrap(), &router_in).unwrap();
    let mut bytes = driver::<Bytes>(&graph, "reader", &deframer.inbox("inbox").unwrap());

    let frame = encode(&Message::Ops(vec![wire_start(3, 1), wire_start(3, 2)])).unwrap();
    let (first, rest) = frame.split_at(5);
    bytes.send(Bytes::copy_from_slice(first)).await.unwrap();
    bytes.send(Bytes::copy_from_slice(rest)).await.unwrap();
    assert_eq!(
        ops_in(next(&mut ops).await).len(),
        2,
        "one batch from two chunks"
    );

    // Authorities keep their place among the op batches.
    let author = TestAuthor::editor(&new_key());
    let mut three = encode(&Message::Ops(vec![wire_start(3, 3)])).unwrap();
    three.extend(encode(&Message::Authors(vec![author.authority.clone()])).unwrap());
    three.extend(encode(&Message::Ops(vec![wire_start(3, 4)])).unwrap());
    bytes.send(Bytes::from(three)).await.unwrap();
    assert_eq!(ops_in(next(&mut ops).await)[0].id.seq, 3);
    assert!(
        matches!(next(&mut ops).await, Inbound::Authors(a) if a == vec![author.authority.clone()])
    );
    assert_eq!(ops_in(next(&mut ops).await)[0].id.seq, 4);

    let hello_again = encode(&Message::Refused(Refusal::ShuttingDown)).unwrap();
    bytes.send(Bytes::from(hello_again)).await.unwrap();
    quiet(&mut router).await; // the peer closing is not misbehaviour

    let mut huge = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
    huge.extend_from_slice(&[0; 16]);
    bytes.send(Bytes::from(huge)).await.unwrap();
    assert!(matches!(
        refusal(next(&mut router).await),
        Refusal::Limit(_)
    ));
    bytes.send(Bytes::from(frame)).await.unwrap();
    quiet(&mut ops).await; // after a refusal nothing more passes
}

#[tokio::test]
async fn the_deframer_refuses_a_second_hello() {
    let graph = Graph::new("test");
    let deframer = graph.spawn("link[7]/deframer", |s| {
        Deframer::new(s, 7, FrameDecoder::new())
    });
    let (router_in, mut router) = tap::<RouterInput>(&graph, "router");
    canopy_axon::link(&deframer.outbox("router").unwrap(), &router_in).unwrap();
    let mut bytes = driver::<Bytes>(&graph, "reader", &deframer.inbox("inbox").unwrap());
    let created = encode(&Message::Created {
        editor: String::new(),
        viewer: String::new(),
    })
    .unwrap();
    bytes.send(Bytes::from(created)).await.unwrap();
    assert!(matches!(
        refusal(next(&mut router).await),
        Refusal::Protocol(_)
    ));
}

fn spawn_guard(
    graph: &Graph,
    peer: Peer,
    limits: SessionLimits,
    held: u64,
) -> (
    canopy_axon::Outbox<Inbound>,
    tokio::sync::mpsc::UnboundedReceiver<Inbound>,
    tokio::sync::mpsc::UnboundedReceiver<RouterInput>,
) {
    let guard = graph.spawn("link[7]/guard", |s| {
        Guard::new(s, 7, peer, limits, Arc::new(AtomicU64::new(held)), None)
    });
    let (checker_in, ops) = tap::<Inbound>(graph, "checker");
    let (router_in, router) = tap::<RouterInput>(graph, "router");
    canopy_axon::link(&guard.outbox("outbox").unwrap(), &checker_in).unwrap();
    canopy_axon::link(&guard.outbox("router").unwrap(), &router_in).unwrap();
    let input = driver::<Inbound>(graph, "deframer", &guard.inbox("inbox").unwrap());
    (input, ops, router)
}

/// Signed heads come once, as a link comes up: at most `MAX_HEADS_PER_MESSAGE` a
/// message and `MAX_AUTHORS` on a link.
#[tokio::test]
async fn the_guard_bounds_signed_heads() {
    use canopy_node::link::checker::MAX_AUTHORS;
    use canopy_protocol::MAX_HEADS_PER_MESSAGE;
    let head = canopy_protocol::SignedHead {
        author: NodeId(3),
        seq: 1,
        head: canopy_protocol::Head([1; 32]),
        signature: canopy_protocol::Signature::from_bytes(&[1; 64]),
    };
    let viewer = Peer {
        is_parent: false,
        role: Role::Viewer,
    };
    let graph = Graph::new("test");
    let (mut input, mut ops, mut router) = spawn_guard(&graph, viewer, SessionLimits::default(), 0);
    let full = vec![head; MAX_HEADS_PER_MESSAGE];
    for _ in 0..MAX_AUTHORS / MAX_HEADS_PER_MESSAGE {
        input.send(Inbound::Heads(full.clone())).await.unwrap();
        assert!(matches!(next(&mut ops).await, Inbound::Heads(h) if h.len() == full.len()));
    }
    quiet(&mut router).await;
    input.send(Inbound::Heads(vec![head])).await.unwrap();
    assert!(matches!(
        refusal(next(&mut router).await),
        Refusal::Limit(_)
    ));

    let graph = Graph::new("test");
    let (mut input, _ops, mut router) = spawn_guard(&graph, viewer, SessionLimits::default(), 0);
    input
        .send(Inbound::Heads(vec![head; MAX_HEADS_PER_MESSAGE + 1]))
        .await
        .unwrap();
    assert!(matches!(
        refusal(next(&mut router).await),
        Refusal::Limit(_)
    ));
}

#[tokio::test]
async fn the_guard_lets_editors_through_and_stops_viewers() {
    let graph = Graph::new("test");
    let editor = Peer {
        is_parent: false,
        role: Role::Editor,
    };
    let (mut input, mut ops, mut router) = spawn_guard(&graph, editor, SessionLimits::default(), 0);
    input
        .send(Inbound::Ops(vec![wire_start(3, 1)]))
        .await
        .unwrap();
    assert_eq!(ops_in(next(&mut ops).await).len(), 1);
    quiet(&mut router).await;

    let graph = Graph::new("test");
    let viewer = Peer {
        is_parent: false,
        role: Role::Viewer,
    };
    let (mut input, mut ops, mut router) = spawn_guard(&graph, viewer, SessionLimits::default(), 0);
    input
        .send(Inbound::Ops(vec![wire_start(3, 1)]))
        .await
        .unwrap();
    assert!(matches!(
        refusal(next(&mut router).await),
        Refusal::ViewerEdit(_)
    ));
    input
        .send(Inbound::Ops(vec![wire_start(3, 2)]))
        .await
        .unwrap();
    quiet(&mut ops).await;

    // A parent passes on the tree's ops whatever role this node holds.
    let graph = Graph::new("test");
    let parent = Peer {
        is_parent: true,
        role: Role::Viewer,
    };
    let (mut input, mut ops, _router) = spawn_guard(&graph, parent, SessionLimits::default(), 0);
    input
        .send(Inbound::Ops(vec![wire_start(3, 1)]))
        .await
        .unwrap();
    assert_eq!(ops_in(next(&mut ops).await).len(), 1);
}

#[tokio::test]
async fn the_guard_holds_links_to_their_op_and_byte_budgets() {
    let editor = Peer {
        is_parent: false,
        role: Role::Editor,
    };
    let graph = Graph::new("test");
    let tight = SessionLimits {
        ops_per_second: 1.0,
        ops_burst: 3.0,
        ..SessionLimits::default()
    };
    let (mut input, mut ops, mut router) = spawn_guard(&graph, editor, tight, 0);
    input
        .send(Inbound::Ops((1..=3).map(|s| wire_start(3, s)).collect()))
        .await
        .unwrap();
    assert_eq!(ops_in(next(&mut ops).await).len(), 3, "the burst");
    input
        .send(Inbound::Ops(vec![wire_start(3, 4), wire_start(3, 5)]))
        .await
        .unwrap();
    assert!(matches!(
        refusal(next(&mut router).await),
        Refusal::Limit(_)
    ));

    let graph = Graph::new("test");
    let full = SessionLimits {
        max_bytes: Some(1000),
        ..SessionLimits::default()
    };
    let (mut input, _ops, mut router) = spawn_guard(&graph, editor, full, 990);
    input
        .send(Inbound::Ops(vec![wire_start(3, 1)]))
        .await
        .unwrap();
    let reason = refusal(next(&mut router).await);
    assert!(reason.to_string().contains("1000 bytes"), "{reason}");
}

/// A checker for link 7 of a session whose authors' table is `authors`: its input,
/// what it hands the document, what it tells the router.
fn spawn_checker(
    graph: &Graph,
    authors: &SharedAuthors,
) -> (
    canopy_axon::Outbox<Inbound>,
    tokio::sync::mpsc::UnboundedReceiver<DocumentInput>,
    tokio::sync::mpsc::UnboundedReceiver<RouterInput>,
) {
    spawn_checker_as(graph, authors, |checker| checker)
}

/// [`spawn_checker`], the checker made over by `adjust`.
fn spawn_checker_as(
    graph: &Graph,
    authors: &SharedAuthors,
    adjust: impl FnOnce(Checker) -> Checker + Send + 'static,
) -> (
    canopy_axon::Outbox<Inbound>,
    tokio::sync::mpsc::UnboundedReceiver<DocumentInput>,
    tokio::sync::mpsc::UnboundedReceiver<RouterInput>,
) {
    spawn_checker_wired(graph, authors, adjust, None)
}

/// [`spawn_checker_as`], its `sync` box wired to `sync` if given.
fn spawn_checker_wired(
    graph: &Graph,
    authors: &SharedAuthors,
    adjust: impl FnOnce(Checker) -> Checker + Send + 'static,
    sync: Option<canopy_axon::InboxRef<SyncInput>>,
) -> (
    canopy_axon::Outbox<Inbound>,
    tokio::sync::mpsc::UnboundedReceiver<DocumentInput>,
    tokio::sync::mpsc::UnboundedReceiver<RouterInput>,
) {
    let authors = Arc::clone(authors);
    let checker = graph.spawn("link[7]/checker", |s| {
        adjust(Checker::new(s, 7, Limits::default(), authors))
    });
    let (document_in, document) = tap::<DocumentInput>(graph, "document");
    let (router_in, router) = tap::<RouterInput>(graph, "router");
    canopy_axon::link(&checker.outbox("outbox").unwrap(), &document_in).unwrap();
    canopy_axon::link(&checker.outbox("router").unwrap(), &router_in).unwrap();
    if let Some(sync) = sync {
        canopy_axon::link(&checker.outbox("sync").unwrap(), &sync).unwrap();
    }
    let input = driver::<Inbound>(graph, "guard", &checker.inbox("inbox").unwrap());
    (input, document, router)
}

/// [`spawn_checker`], its `sync` box wired to a sync server over `replica`.
fn spawn_checker_judging(
    graph: &Graph,
    authors: &SharedAuthors,
    replica: Replica,
) -> (
    canopy_axon::Outbox<Inbound>,
    tokio::sync::mpsc::UnboundedReceiver<DocumentInput>,
    tokio::sync::mpsc::UnboundedReceiver<RouterInput>,
) {
    let sync = spawn_sync(graph, authors, replica);
    spawn_checker_wired(graph, authors, |checker| checker, Some(sync))
}

/// A sync server's replica that holds `ops`.
fn replica_holding(ops: Vec<canopy_canvas::Op>) -> Replica {
    let mut replica = canopy_canvas::Document::new(NodeId(99));
    for op in ops {
        replica.apply(op).unwrap();
    }
    replica.into()
}

/// A blind session's sync replica that holds `ops` as signed bytes, unread.
fn blind_holding(ops: Vec<canopy_canvas::Op>) -> Replica {
    let mut replica = canopy_protocol::OpaqueReplica::new();
    for op in ops {
        let wire = WireOp::from_op(&op);
        let shape = canopy_protocol::shape_of(wire.id, &wire.payload).unwrap();
        replica.take(&wire, shape);
    }
    Replica::Blind(replica)
}

/// A sync server over `replica` and `authors`: its inbox.
fn spawn_sync(
    graph: &Graph,
    authors: &SharedAuthors,
    replica: impl Into<Replica>,
) -> canopy_axon::InboxRef<SyncInput> {
    let table = Arc::clone(authors);
    let replica = replica.into();
    let sync = graph.spawn("sync", |s| {
        SyncServer::new(s, replica, NodeId(99), 1 << 20, table)
    });
    sync.inbox("inbox").unwrap()
}

/// The seal, numbered `seq`, of `author`'s stroke at op 1 (a point at `x`).
fn seal_of_first_stroke(author: &TestAuthor, seq: u64, x: f32) -> canopy_canvas::Op {
    seal_of_stroke(author, 1, seq, x)
}

/// The seal, numbered `seq`, of `author`'s stroke at op `stroke` (a point at `x`).
fn seal_of_stroke(author: &TestAuthor, stroke: u64, seq: u64, x: f32) -> canopy_canvas::Op {
    canopy_canvas::Op {
        id: canopy_canvas::OpId {
            node: author.node,
            seq,
        },
        lamport: seq,
        action: canopy_canvas::Action::StrokeSealed {
            stroke: canopy_canvas::OpId {
                node: author.node,
                seq: stroke,
            },
            page: canopy_canvas::FIRST_PAGE,
            tool: canopy_canvas::Tool::Pen,
            color: canopy_canvas::Color::rgb(0, 0, 0),
            width: 2.0,
            start_lamport: stroke,
            points: vec![canopy_canvas::Point::new(x, 2.0)],
        },
    }
}

/// The proof against `author` found here, as the checker hands it to the document
/// for every link (`origin: None`), checked to verify.
async fn proof_for_every_link(
    document: &mut tokio::sync::mpsc::UnboundedReceiver<DocumentInput>,
    author: &TestAuthor,
) -> canopy_protocol::Evidence {
    match next(document).await {
        DocumentInput::Evidence {
            origin: None,
            evidence,
        } => {
            assert!(evidence.verify(&author.session));
            *evidence
        }
        other => panic!("expected the proof, got {other:?}"),
    }
}

/// The proof against `author` the checker found in what its link passed on, as it
/// hands it to the document for every link but that one, checked to verify.
async fn proof_from_the_link(
    document: &mut tokio::sync::mpsc::UnboundedReceiver<DocumentInput>,
    author: &TestAuthor,
) -> canopy_protocol::Evidence {
    match next(document).await {
        DocumentInput::Evidence {
            origin: Some(7),
            evidence,
        } => {
            assert!(evidence.verify(&author.session));
            *evidence
        }
        other => panic!("expected the proof, got {other:?}"),
    }
}

/// A session's authors' table that knows `author`.
fn table_with(author: &TestAuthor) -> SharedAuthors {
    let authors = Authors::shared(author.session);
    author.introduce(&authors);
    authors
}

#[tokio::test]
async fn the_checker_passes_the_good_ops_before_a_bad_one() {
    let graph = Graph::new("test");
    let mut author = TestAuthor::editor(&new_key());
    let (mut input, mut document, mut router) = spawn_checker(&graph, &table_with(&author));

    let good = author.sign(&[author.start(1)]);
    let mut garbage = WireOp::from_op(&author.start(2));
    garbage.payload = vec![0xff; 9];
    let mut too_wide = author.start(3);
    if let canopy_canvas::Action::StrokeStart { width, .. } = &mut too_wide.action {
        *width = 1e9;
    }
    input
        .send(Inbound::Ops(vec![
            good[0].clone(),
            garbage,
            WireOp::from_op(&author.start(4)),
        ]))
        .await
        .unwrap();
    match next(&mut document).await {
        DocumentInput::FromLink { link: 7, runs, .. } => {
            assert_eq!(runs.len(), 1);
            assert_eq!(runs[0].ops.len(), 1);
            assert_eq!(runs[0].ops[0].wire.id.node, author.node);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        refusal(next(&mut router).await),
        Refusal::Protocol(_)
    ));
    // Nothing more from a link being closed, good or bad.
    input
        .send(Inbound::Ops(vec![WireOp::from_op(&too_wide)]))
        .await
        .unwrap();
    quiet(&mut document).await;
    quiet(&mut router).await;

    // An op that decodes but breaks the rules every peer applies.
    let (checked, reason) = canopy_node::link::checker::check(
        vec![WireOp::from_op(&too_wide)],
        Some(&Limits::default()),
    );
    assert!(checked.is_empty());
    assert!(reason.is_some());
}

/// A blind link's checker reads each op's header alone: ops whose content no
/// reader takes (scrambled past the header, or too wide) pass as the author signed
/// them, unread; proof that such content was refused, which it cannot judge, is
/// neither acted on nor blamed on the link that brought it.
#[tokio::test]
async fn a_blind_checker_reads_headers_alone() {
    let mut author = TestAuthor::editor(&new_key());
    let page = WireOp::from_op(&author.page(1));
    // The header (a new page's tag), then bytes no reader decodes.
    let mut scrambled = page.payload[..1].to_vec();
    scrambled.extend([0xff; 12]);
    let too_wide = WireOp::from_op(&too_wide(&author, 2));
    let wires = author.sign_payloads(&[(1, 1, scrambled), (2, 2, too_wide.payload.clone())]);
    // A signature of the author's over something else.
    let wires_signature = wires[1].signature.unwrap();

    let blind_graph = Graph::new("blind");
    let blind_table = table_with(&author);
    let (mut blind, mut taken, mut blind_router) = spawn_checker_wired(
        &blind_graph,
        &blind_table,
        |checker| checker.blind(true),
        None,
    );
    blind.send(Inbound::Ops(wires.clone())).await.unwrap();
    match next(&mut taken).await {
        DocumentInput::FromLink { runs, .. } => {
            let ops: Vec<_> = runs.iter().flat_map(|run| run.ops.iter()).collect();
            let bytes = |w: &WireOp| (w.id, w.lamport, w.payload.clone());
            assert_eq!(
                ops.iter().map(|c| bytes(&c.wire)).collect::<Vec<_>>(),
                wires.iter().map(bytes).collect::<Vec<_>>()
            );
            assert!(ops.iter().all(|c| c.op.is_none()), "nothing read");
        }
        other => panic!("expected the ops, got {other:?}"),
    }

    // A reader refuses the first and proves its author signed it.
    let reader_graph = Graph::new("reader");
    let (mut reader, mut document, _router) = spawn_checker(&reader_graph, &table_with(&author));
    reader.send(Inbound::Ops(wires)).await.unwrap();
    let evidence = proof_for_every_link(&mut document, &author).await;
    assert_eq!(evidence.refused, Some(1));

    // The blind checker, given that proof, lets it be.
    let mut forged = evidence.clone();
    blind
        .send(Inbound::Evidence(Box::new(evidence)))
        .await
        .unwrap();
    quiet(&mut taken).await;
    quiet(&mut blind_router).await;
    assert!(Authors::read(&blind_table)
        .tip(author.node)
        .unwrap()
        .cut
        .is_none());
    // One whose side its author did not sign is no proof anywhere: the link closes.
    forged.first.signature = wires_signature;
    blind
        .send(Inbound::Evidence(Box::new(forged)))
        .await
        .unwrap();
    assert!(matches!(
        refusal(next(&mut blind_router).await),
        Refusal::Protocol(_)
    ));
}

/// The author's op `seq`: a stroke start too wide for any node.
fn too_wide(author: &TestAuthor, seq: u64) -> canopy_canvas::Op {
    let mut op = author.start(seq);
    if let canopy_canvas::Action::StrokeStart { width, .. } = &mut op.action {
        *width = 1e9;
    }
    op
}

/// Two editors of one session, both known to a table: the first, then the other.
fn two_editors() -> (TestAuthor, TestAuthor, SharedAuthors) {
    let session_key = new_key();
    let author = TestAuthor::editor(&session_key);
    let other = TestAuthor::editor(&session_key);
    let authors = table_with(&author);
    other.introduce(&authors);
    (author, other, authors)
}

/// An op no node takes, in a run its author signed, passed on by a peer that is not
/// its author (as a relay that cannot read payloads would): proof against the author
/// goes to every link, and the link and the rest of the batch go on.
#[tokio::test]
async fn an_op_no_node_takes_that_its_author_signed_is_proof_and_the_link_goes_on() {
    let graph = Graph::new("test");
    let (mut author, mut other, authors) = two_editors();
    let (mut input, mut document, mut router) = spawn_checker(&graph, &authors);
    let mut wires = author.sign(&[author.start(1), too_wide(&author, 2)]);
    wires.extend(other.sign(&[other.start(1)]));
    input.send(Inbound::Ops(wires)).await.unwrap();
    let evidence = proof_for_every_link(&mut document, &author).await;
    assert_eq!((evidence.seq, evidence.refused), (0, Some(2)));
    match next(&mut document).await {
        DocumentInput::FromLink { runs, .. } => {
            assert_eq!(runs.len(), 1);
            assert_eq!(runs[0].author, other.node);
        }
        other => panic!("{other:?}"),
    }
    quiet(&mut router).await;
    // The author is cut off: nothing more of it is taken from this link.
    input
        .send(Inbound::Ops(author.sign(&[author.start(3)])))
        .await
        .unwrap();
    quiet(&mut document).await;
    quiet(&mut router).await;
}

/// The same op passed on without its author's signature, which comes in the next
/// message (a node that cannot read payloads passes runs on in whatever pieces):
/// proof once it comes, and the link stays open past the dispute's grace.
#[tokio::test]
async fn an_op_no_node_takes_whose_signature_comes_later_is_proof_when_it_comes() {
    let graph = Graph::new("test");
    let (mut author, _, authors) = two_editors();
    let (mut input, mut document, mut router) = spawn_checker(&graph, &authors);
    let wires = author.sign(&[author.start(1), too_wide(&author, 2), author.start(3)]);
    assert!(wires[..2].iter().all(|wire| wire.signature.is_none()));
    input.send(Inbound::Ops(wires[..2].to_vec())).await.unwrap();
    quiet(&mut document).await;
    input.send(Inbound::Ops(wires[2..].to_vec())).await.unwrap();
    let evidence = proof_for_every_link(&mut document, &author).await;
    assert_eq!(evidence.refused, Some(2));
    tokio::time::sleep(canopy_node::link::checker::DISPUTE_GRACE).await;
    quiet(&mut router).await;
}

/// Two such ops in one message and the signature in the next: both are kept for
/// the proof (the second used to be dropped, leaving a gap no proof could cross).
#[tokio::test]
async fn two_ops_no_node_takes_before_their_signature_are_proof_when_it_comes() {
    let graph = Graph::new("test");
    let (mut author, _, authors) = two_editors();
    let (mut input, mut document, mut router) = spawn_checker(&graph, &authors);
    let ops = [
        author.start(1),
        too_wide(&author, 2),
        too_wide(&author, 3),
        author.start(4),
    ];
    let wires = author.sign(&ops);
    input.send(Inbound::Ops(wires[..3].to_vec())).await.unwrap();
    quiet(&mut document).await;
    input.send(Inbound::Ops(wires[3..].to_vec())).await.unwrap();
    let evidence = proof_for_every_link(&mut document, &author).await;
    assert_eq!(evidence.refused, Some(2));
    tokio::time::sleep(canopy_node::link::checker::DISPUTE_GRACE).await;
    quiet(&mut router).await;
}

/// The same op from its author's own link: the proof goes out, and that link closes
/// with the reason.
#[tokio::test]
async fn an_op_no_node_takes_from_its_own_author_is_proof_and_closes_its_link() {
    let graph = Graph::new("test");
    let (mut author, _, authors) = two_editors();
    let peer = Some(author.node);
    let (mut input, mut document, mut router) =
        spawn_checker_as(&graph, &authors, move |checker| checker.with_peer(peer));
    let wires = author.sign(&[author.start(1), too_wide(&author, 2)]);
    input.send(Inbound::Ops(wires)).await.unwrap();
    let evidence = proof_for_every_link(&mut document, &author).await;
    assert_eq!(evidence.refused, Some(2));
    let refused = refusal(next(&mut router).await);
    assert!(refused.to_string().contains("width"), "{refused}");
}

/// Points that take a stroke past the most it may hold break the stroke rule, which a
/// checker reads from the payloads' headers: the run is refused before any document
/// sees it, as a relay that cannot read payloads would refuse it at the first hop.
/// So no document refuses an op for what it holds already.
#[tokio::test]
async fn points_past_a_strokes_limit_are_refused_before_the_document() {
    let graph = Graph::new("test");
    let session_key = new_key();
    let mut author = TestAuthor::editor(&session_key);
    let (mut input, mut document, mut router) = spawn_checker(&graph, &table_with(&author));
    let start = author.start(1);
    let node = author.node;
    let chunk = |seq: u64| canopy_canvas::Op {
        id: canopy_canvas::OpId { node, seq },
        lamport: seq,
        action: canopy_canvas::Action::StrokePoints {
            stroke: start.id,
            offset: 0,
            points: vec![canopy_canvas::Point::new(1.0, 1.0); 4096],
        },
    };
    // 24 chunks of 4,096: 98,304 points, all taken.
    let ops: Vec<_> = std::iter::once(start.clone())
        .chain((2..=25).map(chunk))
        .collect();
    input.send(Inbound::Ops(author.sign(&ops))).await.unwrap();
    assert_eq!(
        run_seqs(&next(&mut document).await),
        (1..=25).collect::<Vec<_>>()
    );
    // One more would make 102,400: each op on its own is fine, the stroke is not.
    let past = author.sign_anything(&[chunk(26)]);
    input.send(Inbound::Ops(past)).await.unwrap();
    let refused = refusal(next(&mut router).await);
    assert!(
        matches!(&refused, Refusal::Limit(reason) if reason.contains("102400 points")),
        "{refused}"
    );
    quiet(&mut document).await;
}

/// The seqs of the ops a checker handed the document.
fn run_seqs(input: &DocumentInput) -> Vec<u64> {
    match input {
        DocumentInput::FromLink { runs, .. } => runs
            .iter()
            .flat_map(|run| run.ops.iter().map(|c| c.wire.id.seq))
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// An author's ops go on only as runs that continue its log and end at an op it
/// signed; they wait (bounded) for earlier ops, for the signature, and for the
/// author's authority. Ops it did not sign, or a viewer's, close the link.
#[tokio::test]
async fn the_checker_passes_only_what_its_author_signed() {
    let graph = Graph::new("test");
    let session_key = new_key();
    let mut author = TestAuthor::editor(&session_key);
    let (mut input, mut document, mut router) = spawn_checker(&graph, &table_with(&author));
    let ops: Vec<_> = (1..=6).map(|seq| author.start(seq)).collect();
    let signed = author.sign(&ops[..3]);
    let later = author.sign(&ops[3..]);

    // 1 and 2 carry no signature: they wait for 3, which does.
    input
        .send(Inbound::Ops(signed[..2].to_vec()))
        .await
        .unwrap();
    quiet(&mut document).await;
    input
        .send(Inbound::Ops(signed[2..].to_vec()))
        .await
        .unwrap();
    assert_eq!(run_seqs(&next(&mut document).await), vec![1, 2, 3]);
    // 5 and 6 before 4: they wait for it.
    input.send(Inbound::Ops(later[1..].to_vec())).await.unwrap();
    quiet(&mut document).await;
    input.send(Inbound::Ops(later[..1].to_vec())).await.unwrap();
    assert_eq!(run_seqs(&next(&mut document).await), vec![4, 5, 6]);
    quiet(&mut router).await;

    // A newcomer's ops wait for its authority, then pass.
    let mut newcomer = TestAuthor::editor(&session_key);
    let early = newcomer.sign(&[newcomer.start(1)]);
    input.send(Inbound::Ops(early)).await.unwrap();
    quiet(&mut document).await;
    input
        .send(Inbound::Authors(vec![newcomer.authority.clone()]))
        .await
        .unwrap();
    match next(&mut document).await {
        DocumentInput::Authors {
            origin: Some(7),
            authorities,
        } => {
            assert_eq!(authorities, vec![newcomer.authority.clone()])
        }
        other => panic!("expected the news of an author, got {other:?}"),
    }
    assert_eq!(run_seqs(&next(&mut document).await), vec![1]);

    // An op in the author's name that it did not sign.
    let mut forger = TestAuthor::editor(&session_key);
    let mut forged = author.start(7);
    forged.id.node = author.node;
    let mut wire = forger.sign(&[forger.start(1)]).remove(0);
    wire.id = forged.id;
    input.send(Inbound::Ops(vec![wire])).await.unwrap();
    let reason = refusal(next(&mut router).await);
    assert!(
        reason.to_string().contains("not what its author signed"),
        "{reason}"
    );
    quiet(&mut document).await;
}

/// A table that holds `author`'s page (op 1) and a stroke's start (op 2), committed
/// as one signed run, and those ops.
fn page_and_start_held(author: &mut TestAuthor) -> (SharedAuthors, Vec<canopy_canvas::Op>) {
    let authors = table_with(author);
    let held_ops = vec![author.page(1), author.start(2)];
    let held = author.run(&held_ops);
    Authors::write(&authors).commit(author.node, held.verified);
    (authors, held_ops)
}

/// `author`'s other log (signed afresh): a stroke from op 1, ended at 3, and its seal
/// at 4, signed there; the seal alone, as a backlog serves it.
fn other_log_sealed_at_four(author: &mut TestAuthor) -> WireOp {
    author.restart();
    let mut stroke = author.stroke(1);
    stroke.push(seal_of_first_stroke(author, 4, 1.0));
    let mut wires = author.sign(&stroke);
    wires.pop().unwrap()
}

/// A seal that does not fit what is held of its author from its stroke's start on
/// (a page and another stroke's start, here) is not the sender's fault: the checker
/// has the sync server judge it against its replica, and the proof that its author
/// split its log under it goes to every link, the sender's too (`origin: None`).
#[tokio::test]
async fn a_seal_that_does_not_fit_is_judged_not_refused() {
    a_seal_that_does_not_fit_is_judged_against(replica_holding).await;
}

/// The same on a blind relay's sync server, which holds the ops unread.
#[tokio::test]
async fn a_seal_that_does_not_fit_is_judged_by_a_blind_replica() {
    a_seal_that_does_not_fit_is_judged_against(blind_holding).await;
}

async fn a_seal_that_does_not_fit_is_judged_against(
    holding: fn(Vec<canopy_canvas::Op>) -> Replica,
) {
    let graph = Graph::new("test");
    let mut author = TestAuthor::editor(&new_key());
    let (authors, held_ops) = page_and_start_held(&mut author);
    let (mut input, mut document, mut router) =
        spawn_checker_judging(&graph, &authors, holding(held_ops));
    let seal = other_log_sealed_at_four(&mut author);
    input.send(Inbound::Ops(vec![seal])).await.unwrap();
    let evidence = proof_for_every_link(&mut document, &author).await;
    assert_eq!(evidence.seal_at, Some(4));
    assert_eq!(evidence.seq, 1);
    quiet(&mut router).await;
    assert!(Authors::read(&authors)
        .tip(author.node)
        .unwrap()
        .cut
        .is_some());
}

/// The same where the seal comes with another after it, each sent in place of its
/// stroke's ops, signed only at the last (as a backlog from a holder of seals may
/// serve them): the side jumps to each, and the split is proven (the link used to
/// close: a side could only number its ops one by one).
#[tokio::test]
async fn a_seal_that_does_not_fit_is_judged_through_seals_after_it() {
    let graph = Graph::new("test");
    let mut author = TestAuthor::editor(&new_key());
    let (authors, held_ops) = page_and_start_held(&mut author);
    let (mut input, mut document, mut router) =
        spawn_checker_judging(&graph, &authors, replica_holding(held_ops));
    // The other log: a stroke from op 1 sealed at 4, another from 5 sealed at 8,
    // signed at 8 only; the two seals alone are sent.
    author.restart();
    let mut ops = author.stroke(1);
    ops.push(seal_of_first_stroke(&author, 4, 1.0));
    ops.extend(author.stroke(5));
    ops.push(seal_of_stroke(&author, 5, 8, 2.0));
    let wires = author.sign(&ops);
    // Served by a holder that kept no signature at the first seal.
    let mut first_seal = wires[3].clone();
    first_seal.signature = None;
    assert!(wires[7].signature.is_some());
    input
        .send(Inbound::Ops(vec![first_seal, wires[7].clone()]))
        .await
        .unwrap();
    let evidence = proof_for_every_link(&mut document, &author).await;
    assert_eq!((evidence.seq, evidence.seal_at), (1, Some(4)));
    assert_eq!(evidence.second.jumps, vec![(1, 8)]);
    quiet(&mut router).await;
}

/// The document commits an author's ops to the authors table before they reach the
/// sync server's replica: a seal judged in between waits for them (it used to be
/// judged against a replica without them, find nothing, and be dropped).
#[tokio::test]
async fn a_seal_judged_before_the_replica_holds_the_ops_waits_for_them() {
    let graph = Graph::new("test");
    let mut author = TestAuthor::editor(&new_key());
    let (authors, held_ops) = page_and_start_held(&mut author);
    // The replica has yet to take them.
    let sync = spawn_sync(&graph, &authors, canopy_canvas::Document::new(NodeId(99)));
    let mut applied = driver::<SyncInput>(&graph, "document", &sync);
    let (mut input, mut document, mut router) =
        spawn_checker_wired(&graph, &authors, |checker| checker, Some(sync));
    let seal = other_log_sealed_at_four(&mut author);
    input.send(Inbound::Ops(vec![seal])).await.unwrap();
    quiet(&mut document).await;
    applied.send(SyncInput::Applied(held_ops)).await.unwrap();
    let evidence = proof_for_every_link(&mut document, &author).await;
    assert_eq!((evidence.seq, evidence.seal_at), (1, Some(4)));
    quiet(&mut router).await;
}

/// A judgement whose ops never reach the replica (nothing should keep them from it,
/// but the asking link's checker waits for the answer) is made after `JUDGE_WAIT`
/// with what the replica holds. Simulated time.
#[tokio::test(start_paused = true)]
async fn a_judgement_waits_for_the_replica_only_so_long() {
    use canopy_node::session::authors::SealToJudge;
    use canopy_node::session::sync::JUDGE_WAIT;
    let graph = Graph::new("test");
    let mut author = TestAuthor::editor(&new_key());
    let (authors, _) = page_and_start_held(&mut author);
    let sync = spawn_sync(&graph, &authors, canopy_canvas::Document::new(NodeId(99)));
    let mut asks = driver::<SyncInput>(&graph, "checker", &sync);
    let seal = other_log_sealed_at_four(&mut author);
    let (reply, answer) = tokio::sync::oneshot::channel();
    let asked = SyncInput::JudgeSeal {
        seal: Box::new(SealToJudge {
            author: author.node,
            stroke: 1,
            seal_at: 4,
            ops: vec![(seal.lamport, seal.payload)],
            jumps: Vec::new(),
            signature: seal.signature.unwrap(),
        }),
        reply,
    };
    let started = tokio::time::Instant::now();
    asks.send(asked).await.unwrap();
    assert_eq!(answer.await.unwrap(), None);
    assert!(started.elapsed() >= JUDGE_WAIT);
}

/// Where a peer says its author signed another head at an op than the one kept
/// here, that is proof (nothing else of the author would pass between two nodes
/// whose logs are as long as each other): the author is cut off and the proof goes
/// to every link. A head its author did not sign closes the link.
#[tokio::test]
async fn a_signed_head_that_differs_from_the_one_kept_is_proof() {
    let graph = Graph::new("test");
    let mut author = TestAuthor::editor(&new_key());
    let authors = table_with(&author);
    let held = author.run(&[author.start(1)]);
    Authors::write(&authors).commit(author.node, held.verified);
    let (mut input, mut document, mut router) = spawn_checker(&graph, &authors);
    author.restart();
    let (seq, head, signature) = author.run(&[author.page(1)]).verified.keep[0];
    let theirs = canopy_protocol::SignedHead {
        author: author.node,
        seq,
        head,
        signature,
    };
    // Not signed by the author: the link closes.
    let forged = canopy_protocol::SignedHead {
        head: canopy_protocol::Head([9; 32]),
        ..theirs
    };
    input.send(Inbound::Heads(vec![forged])).await.unwrap();
    let reason = refusal(next(&mut router).await);
    assert!(reason.to_string().contains("did not sign"), "{reason}");
    quiet(&mut document).await;

    let graph = Graph::new("test");
    let (mut input, mut document, mut router) = spawn_checker(&graph, &authors);
    input.send(Inbound::Heads(vec![theirs])).await.unwrap();
    let evidence = proof_for_every_link(&mut document, &author).await;
    assert_eq!((evidence.seq, evidence.seal_at), (1, None));
    quiet(&mut router).await;
}

/// A head where this node holds the author's log further but keeps no head is
/// hashed again by the sync server from its replica: another head there is proof.
#[tokio::test]
async fn a_signed_head_inside_a_longer_log_is_judged_by_the_sync_server() {
    for holding in [replica_holding, blind_holding] {
        let mut author = TestAuthor::editor(&new_key());
        // Held here: a page, then a stroke's start, signed at the second only.
        let held_ops = vec![author.page(1), author.start(2)];
        let evidence = proof_from_a_head_at_op_one(&mut author, held_ops, holding).await;
        assert_eq!(evidence.seq, 1);
    }
}

/// The same where the log held runs on with a stroke sealed in place of its ops:
/// this node's side from the peer's head to its own next signature jumps to the
/// seal (it could not be shown before, and nothing was proven).
#[tokio::test]
async fn a_signed_head_before_a_seal_held_in_place_of_its_stroke_is_judged() {
    for holding in [replica_holding, blind_holding] {
        let mut author = TestAuthor::editor(&new_key());
        // Held here: a page, then a stroke from op 2 sealed at op 5, signed there only.
        let mut held_ops = vec![author.page(1)];
        held_ops.extend(author.stroke(2));
        held_ops.push(seal_of_stroke(&author, 2, 5, 1.0));
        let evidence = proof_from_a_head_at_op_one(&mut author, held_ops, holding).await;
        assert_eq!(evidence.seq, 1);
        let ours = [&evidence.first, &evidence.second]
            .into_iter()
            .find(|side| !side.ops.is_empty())
            .unwrap();
        assert_eq!(ours.jumps, vec![(0, 5)]);
    }
}

/// A blind session's sync server serves a backlog as a reader's does: the same
/// ops, byte for byte, a seal in place of its stroke, with the signatures kept.
#[tokio::test]
async fn a_blind_replica_serves_the_backlog_a_document_serves() {
    let mut author = TestAuthor::editor(&new_key());
    let mut ops = vec![author.page(1)];
    ops.extend(author.stroke(2));
    ops.push(seal_of_stroke(&author, 2, 5, 1.0));
    ops.push(author.page(6));
    let run = author.run(&ops);
    let mut served = Vec::new();
    for holding in [replica_holding, blind_holding] {
        let graph = Graph::new("test");
        let authors = table_with(&author);
        Authors::write(&authors).commit(author.node, run.verified.clone());
        let sync = spawn_sync(&graph, &authors, holding(ops.clone()));
        let (writer, mut messages) = tap::<Message>(&graph, "link[3]/encoder");
        let mut router = driver::<SyncInput>(&graph, "router", &sync);
        router
            .send(SyncInput::Backlog {
                link: 3,
                seen: canopy_canvas::VersionVector::new(),
                writer,
                queued: Queued::default(),
            })
            .await
            .unwrap();
        let mut wires: Vec<WireOp> = Vec::new();
        while wires.len() < 3 {
            if let Message::Ops(ops) = next(&mut messages).await {
                wires.extend(ops);
            }
        }
        served.push(wires);
    }
    assert_eq!(served[0], served[1]);
    let seqs: Vec<u64> = served[1].iter().map(|w| w.id.seq).collect();
    assert_eq!(seqs, vec![1, 5, 6], "the seal in place of its stroke");
    assert!(
        served[1][2].signature.is_some(),
        "served with its signature"
    );
}

/// `held_ops` of `author`'s held here (one run signed at its end, in the authors
/// table and the sync server's replica), then a peer's signed head at op 1 of
/// another log: the proof the checker finds (nothing else comes out). The replica
/// is a document (`replica_holding`) or the ops unread (`blind_holding`).
async fn proof_from_a_head_at_op_one(
    author: &mut TestAuthor,
    held_ops: Vec<canopy_canvas::Op>,
    holding: fn(Vec<canopy_canvas::Op>) -> Replica,
) -> canopy_protocol::Evidence {
    let graph = Graph::new("test");
    let authors = table_with(author);
    let held = author.run(&held_ops);
    Authors::write(&authors).commit(author.node, held.verified);
    let (mut input, mut document, mut router) =
        spawn_checker_judging(&graph, &authors, holding(held_ops));
    author.restart();
    let (seq, head, signature) = author.run(&[author.start(1)]).verified.keep[0];
    let theirs = canopy_protocol::SignedHead {
        author: author.node,
        seq,
        head,
        signature,
    };
    input.send(Inbound::Heads(vec![theirs])).await.unwrap();
    let evidence = proof_for_every_link(&mut document, author).await;
    quiet(&mut router).await;
    evidence
}

/// A run that does not continue its author's log as held is a forger's doing or a
/// split: the link waits `DISPUTE_GRACE` for proof of a split (dropping that author's
/// ops meanwhile) and stays open if it comes; a forger's link closes after it.
#[tokio::test]
async fn a_run_not_what_its_author_signed_waits_a_moment_for_proof() {
    use canopy_node::link::checker::DISPUTE_GRACE;
    let graph = Graph::new("test");
    let mut author = TestAuthor::editor(&new_key());
    let authors = table_with(&author);
    let held = author.run(&[author.start(1)]);
    let (_, our_head, our_signature) = held.verified.keep[0];
    Authors::write(&authors).commit(author.node, held.verified);
    let (mut input, mut document, mut router) = spawn_checker(&graph, &authors);
    // Another log: a page at op 1, a stroke's start at 2, signed at 2 only. Its
    // op 2 does not continue the log held here.
    author.restart();
    let other = author.run(&[author.page(1), author.start(2)]);
    let wires: Vec<WireOp> = other.ops.iter().map(|c| c.wire.clone()).collect();
    input.send(Inbound::Ops(wires[1..].to_vec())).await.unwrap();
    quiet(&mut router).await;
    // The proof comes in time: the link stays.
    let their_head = other.verified.heads[0].1;
    let evidence = canopy_protocol::Evidence::new(
        &author.session,
        canopy_protocol::AuthorKey(canopy_protocol::public_key(&author.key)),
        1,
        canopy_protocol::Fork {
            head: their_head,
            ops: vec![(wires[1].lamport, wires[1].payload.clone())],
            signature: wires[1].signature.unwrap(),
            jumps: Vec::new(),
        },
        canopy_protocol::Fork {
            head: our_head,
            ops: Vec::new(),
            signature: our_signature,
            jumps: Vec::new(),
        },
    )
    .unwrap();
    input
        .send(Inbound::Evidence(Box::new(evidence)))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut document).await,
        DocumentInput::Evidence { .. }
    ));
    tokio::time::sleep(DISPUTE_GRACE).await;
    quiet(&mut router).await;

    // No proof: the link closes once the moment is over.
    let graph = Graph::new("test");
    let mut forged_for = TestAuthor::editor(&new_key());
    let authors = table_with(&forged_for);
    let held = forged_for.run(&[forged_for.start(1)]);
    Authors::write(&authors).commit(forged_for.node, held.verified);
    let (mut input, _document, mut router) = spawn_checker(&graph, &authors);
    let mut forger = TestAuthor::editor(&new_key());
    let mut wire = forger.sign(&[forger.start(1)]).remove(0);
    wire.id.node = forged_for.node;
    wire.id.seq = 2;
    input.send(Inbound::Ops(vec![wire])).await.unwrap();
    quiet(&mut router).await;
    let reason = refusal(next(&mut router).await);
    assert!(
        reason.to_string().contains("not what its author signed"),
        "{reason}"
    );
}

/// A link has at most `MAX_DISPUTED` authors in dispute at once: past that, a run
/// that is not what its author signed closes it at once.
#[tokio::test]
async fn disputes_are_bounded_per_link() {
    use canopy_node::link::runs::MAX_DISPUTED;
    let graph = Graph::new("test");
    let session_key = new_key();
    let authors = Authors::shared(TestAuthor::editor(&session_key).session);
    let mut forged_for = Vec::new();
    for _ in 0..=MAX_DISPUTED {
        let mut author = TestAuthor::editor(&session_key);
        author.introduce(&authors);
        let held = author.run(&[author.start(1)]);
        Authors::write(&authors).commit(author.node, held.verified);
        forged_for.push(author);
    }
    let (mut input, _document, mut router) = spawn_checker(&graph, &authors);
    let mut forger = TestAuthor::editor(&session_key);
    let mut forged = |node: NodeId| {
        forger.restart();
        let mut wire = forger.sign(&[forger.start(1)]).remove(0);
        wire.id.node = node;
        wire.id.seq = 2;
        wire
    };
    for author in &forged_for[..MAX_DISPUTED] {
        input
            .send(Inbound::Ops(vec![forged(author.node)]))
            .await
            .unwrap();
    }
    quiet(&mut router).await;
    let last = forged_for[MAX_DISPUTED].node;
    input.send(Inbound::Ops(vec![forged(last)])).await.unwrap();
    // At once: well within the moment a dispute waits.
    let grace = canopy_node::link::checker::DISPUTE_GRACE;
    let at_once = tokio::time::timeout(grace / 2, router.recv()).await;
    let reason = refusal(at_once.expect("closed at once").unwrap());
    assert!(
        reason.to_string().contains("not what its author signed"),
        "{reason}"
    );
}

/// Two seals of one stroke under one number, each signed: both hash on from the
/// head before the stroke, so their heads there differ — proof. The node that holds
/// one and is sent the other alone (as a backlog serves it) finds it.
#[tokio::test]
async fn two_seals_of_one_stroke_under_one_number_are_proof() {
    two_seals_of_one_stroke_under_one_number_are_proof_against(replica_holding).await;
}

/// The same on a blind relay's sync server.
#[tokio::test]
async fn two_seals_of_one_stroke_under_one_number_are_proof_to_a_blind_replica() {
    two_seals_of_one_stroke_under_one_number_are_proof_against(blind_holding).await;
}

async fn two_seals_of_one_stroke_under_one_number_are_proof_against(
    holding: fn(Vec<canopy_canvas::Op>) -> Replica,
) {
    let graph = Graph::new("test");
    let mut author = TestAuthor::editor(&new_key());
    let authors = table_with(&author);
    let sealed = |author: &TestAuthor, x: f32| {
        let mut ops = author.stroke(1);
        if let canopy_canvas::Action::StrokePoints { points, .. } = &mut ops[1].action {
            points[0] = canopy_canvas::Point::new(x, 2.0);
        }
        ops.push(seal_of_first_stroke(author, 4, x));
        ops
    };
    // Held here: the stroke and its seal (signed at the seal).
    let held_ops = sealed(&author, 1.0);
    let held = author.run(&held_ops);
    Authors::write(&authors).commit(author.node, held.verified);
    let (mut input, mut document, mut router) =
        spawn_checker_judging(&graph, &authors, holding(held_ops));
    // The other: the same stroke drawn elsewhere, sealed under the same number.
    author.restart();
    let wires = author.sign(&sealed(&author, 9.0));
    input.send(Inbound::Ops(wires[3..].to_vec())).await.unwrap();
    let evidence = proof_for_every_link(&mut document, &author).await;
    assert_eq!((evidence.seq, evidence.seal_at), (4, None));
    quiet(&mut router).await;
}

/// `author`'s stroke at op 1 in `chunks` chunks of one point at `x`, its end and its
/// seal (numbered `chunks + 3`).
fn sealed_stroke(author: &TestAuthor, chunks: u64, x: f32) -> Vec<canopy_canvas::Op> {
    use canopy_canvas::{Action, Op, OpId, Point};
    let start = author.start(1);
    let op = |seq: u64, action: Action| Op {
        id: OpId {
            node: author.node,
            seq,
        },
        lamport: seq,
        action,
    };
    let mut ops = vec![start.clone()];
    for chunk in 0..chunks {
        ops.push(op(
            2 + chunk,
            Action::StrokePoints {
                stroke: start.id,
                offset: chunk as u32,
                points: vec![Point::new(x, 2.0)],
            },
        ));
    }
    ops.push(op(
        2 + chunks,
        Action::StrokeEnd {
            stroke: start.id,
            points: chunks as u32,
        },
    ));
    let mut seal = seal_of_first_stroke(author, 3 + chunks, x);
    if let Action::StrokeSealed { points, .. } = &mut seal.action {
        *points = vec![Point::new(x, 2.0); chunks as usize];
    }
    ops.push(seal);
    ops
}

/// Two seals of one stroke under two numbers, one held here in place of the
/// stroke's ops: the sync server proves the split from both seals, whether the
/// other's number lies past the ops held or within them.
#[tokio::test]
async fn two_seals_of_one_stroke_under_two_numbers_are_proof() {
    for (held_chunks, sent_chunks) in [(1, 2), (2, 1)] {
        let graph = Graph::new("test");
        let mut author = TestAuthor::editor(&new_key());
        let authors = table_with(&author);
        // Held here: the stroke drawn live, signed at its first chunk too (a head
        // kept inside what the seal stands for), then sealed.
        let held_ops = sealed_stroke(&author, held_chunks, 1.0);
        for run in [&held_ops[..2], &held_ops[2..]] {
            let held = author.run(run);
            Authors::write(&authors).commit(author.node, held.verified);
        }
        let mut replica = canopy_canvas::Document::new(NodeId(99));
        for op in held_ops {
            replica.apply(op).unwrap();
        }
        let (mut input, mut document, mut router) =
            spawn_checker_judging(&graph, &authors, replica.into());
        // Elsewhere: the same stroke in another number of chunks, sealed; its seal
        // alone comes here, as a backlog serves it.
        author.restart();
        let wires = author.sign(&sealed_stroke(&author, sent_chunks, 9.0));
        let seal = wires[wires.len() - 1..].to_vec();
        input.send(Inbound::Ops(seal)).await.unwrap();
        let evidence = proof_for_every_link(&mut document, &author).await;
        let numbers = (
            3 + held_chunks.min(sent_chunks),
            3 + held_chunks.max(sent_chunks),
        );
        assert_eq!(
            (evidence.seq, evidence.first_seal_at, evidence.seal_at),
            (1, Some(numbers.0), Some(numbers.1)),
            "held {held_chunks} chunks, sent {sent_chunks}"
        );
        quiet(&mut router).await;
    }
}

/// A link hands the document at most `MAX_SEALS_TO_JUDGE` seals it cannot place;
/// past that, such a seal closes it, as any op that breaks the stroke rule does.
#[tokio::test]
async fn seals_that_do_not_fit_are_judged_only_up_to_a_bound() {
    use canopy_node::link::runs::MAX_SEALS_TO_JUDGE;
    let graph = Graph::new("test");
    let mut author = TestAuthor::editor(&new_key());
    let authors = table_with(&author);
    let held_ops = [author.page(1), author.start(2)];
    let held = author.run(&held_ops);
    Authors::write(&authors).commit(author.node, held.verified);
    // Seals no one signed: nothing is proven, so every seal stays unplaced.
    let mut replica = canopy_canvas::Document::new(NodeId(99));
    for op in held_ops {
        replica.apply(op).unwrap();
    }
    let (mut input, _document, mut router) =
        spawn_checker_judging(&graph, &authors, replica.into());
    let seal = |seq: u64| {
        let mut wire = WireOp::from_op(&seal_of_first_stroke(&author, seq, 1.0));
        wire.signature = Some(canopy_protocol::Signature::from_bytes(&[1; 64]));
        wire
    };
    let bound = MAX_SEALS_TO_JUDGE as u64;
    for seq in 4..4 + bound {
        input.send(Inbound::Ops(vec![seal(seq)])).await.unwrap();
    }
    quiet(&mut router).await;
    input
        .send(Inbound::Ops(vec![seal(4 + bound)]))
        .await
        .unwrap();
    let reason = refusal(next(&mut router).await);
    assert!(reason.to_string().contains("seals stroke"), "{reason}");
}

/// The same where the other log's side runs past a seal sent in place of its
/// stroke's ops before the author's next signature (as a holder of seals serves
/// it): the side jumps to the seal, and the split is proven on the link (it used
/// to wait there for a signature that never came, with the author's ops).
#[tokio::test]
async fn a_second_log_is_proof_through_a_seal_sent_in_place_of_its_stroke() {
    let graph = Graph::new("test");
    let mut author = TestAuthor::editor(&new_key());
    let (authors, _) = page_and_start_held(&mut author);
    let (mut input, mut document, mut router) = spawn_checker(&graph, &authors);
    // The other log: the same page, another op 2, then a stroke from 3 sealed at 6.
    author.restart();
    let mut other = vec![author.page(1), author.page(2)];
    other.extend(author.stroke(3));
    other.push(seal_of_stroke(&author, 3, 6, 1.0));
    let mut wires = author.sign(&other);
    for wire in &mut wires[..5] {
        wire.signature = None;
    }
    assert!(wires[5].signature.is_some());
    let sent = vec![wires[0].clone(), wires[1].clone(), wires[5].clone()];
    input.send(Inbound::Ops(sent)).await.unwrap();
    let evidence = proof_from_the_link(&mut document, &author).await;
    assert_eq!(evidence.seq, 2);
    quiet(&mut router).await;
}

/// An author's op that differs from the one held, signed by the author all the
/// same, is proof that the author split its log: the author is cut off and the
/// proof goes to the document; the link that passed it on stays.
#[tokio::test]
async fn a_second_log_signed_by_its_author_is_proof_not_a_refusal() {
    let graph = Graph::new("test");
    let mut author = TestAuthor::editor(&new_key());
    let authors = table_with(&author);
    let held = author.run(&[author.start(1)]);
    Authors::write(&authors).commit(author.node, held.verified);
    let (mut input, mut document, mut router) = spawn_checker(&graph, &authors);
    author.restart();
    let mut other = author.start(1);
    other.action = canopy_canvas::Action::NewPage { position: 9.0 };
    input
        .send(Inbound::Ops(author.sign(&[other])))
        .await
        .unwrap();
    let evidence = proof_from_the_link(&mut document, &author).await;
    assert_eq!(evidence.author.node_id(), author.node);
    quiet(&mut router).await;
    assert!(Authors::read(&authors)
        .tip(author.node)
        .unwrap()
        .cut
        .is_some());
    // Nothing more of that author is taken.
    let later = author.sign(&[author.start(2)]);
    input.send(Inbound::Ops(later)).await.unwrap();
    quiet(&mut document).await;
    // Proof that does not verify closes the link.
    let mut forged = Authors::read(&authors).evidence().remove(0);
    forged.seq += 1;
    input
        .send(Inbound::Evidence(Box::new(forged)))
        .await
        .unwrap();
    assert!(matches!(
        refusal(next(&mut router).await),
        Refusal::Protocol(_)
    ));
}

/// An editor can mint authors by delegation: a link brings at most so many new ones.
#[tokio::test]
async fn a_link_brings_a_bounded_number_of_new_authors() {
    use canopy_node::link::checker::MAX_AUTHORS_PER_LINK;
    let graph = Graph::new("test");
    let session_key = new_key();
    let author = TestAuthor::editor(&session_key);
    let authors = table_with(&author);
    let (mut input, mut document, mut router) = spawn_checker(&graph, &authors);
    let minted: Vec<_> = (0..=MAX_AUTHORS_PER_LINK)
        .map(|_| TestAuthor::editor(&session_key).authority)
        .collect();
    for chunk in minted.chunks(64) {
        input.send(Inbound::Authors(chunk.to_vec())).await.unwrap();
    }
    let reason = refusal(next(&mut router).await);
    assert!(reason.to_string().contains("authors"), "{reason}");
    // Those before the bound were taken and passed on.
    let mut passed = 0;
    while let Ok(Some(DocumentInput::Authors { authorities, .. })) =
        tokio::time::timeout(std::time::Duration::from_millis(500), document.recv()).await
    {
        passed += authorities.len();
    }
    assert_eq!(passed, MAX_AUTHORS_PER_LINK);
    assert_eq!(Authors::read(&authors).len(), MAX_AUTHORS_PER_LINK + 1);
}

/// Links resend the authorities of authors already known (every new link is told
/// them all): a repeat is passed over before any signature is checked, so resending
/// costs a lookup. A broken chain for a new author is still refused.
#[tokio::test]
async fn a_known_authority_is_passed_over_unchecked() {
    let graph = Graph::new("test");
    let session_key = new_key();
    let known = TestAuthor::editor(&session_key);
    let authors = table_with(&known);
    let (mut input, mut document, mut router) = spawn_checker(&graph, &authors);
    let mut repeat = known.authority.clone();
    if let Some(grant) = repeat.chain.last_mut() {
        grant.signature[0] ^= 1;
    }
    input
        .send(Inbound::Authors(vec![repeat; 64]))
        .await
        .unwrap();
    quiet(&mut router).await;
    quiet(&mut document).await;

    let mut stranger = TestAuthor::editor(&session_key).authority;
    if let Some(grant) = stranger.chain.last_mut() {
        grant.signature[0] ^= 1;
    }
    input.send(Inbound::Authors(vec![stranger])).await.unwrap();
    assert!(matches!(
        refusal(next(&mut router).await),
        Refusal::BadInvite(_)
    ));
    assert_eq!(Authors::read(&authors).len(), 1);
}

/// Checking new authorities costs signatures: a link spends them at a bounded rate
/// (past its burst it waits) rather than taking the node's cores.
#[tokio::test]
async fn a_links_authorities_are_checked_at_a_bounded_rate() {
    let graph = Graph::new("test");
    let session_key = new_key();
    let authors = Authors::shared(canopy_protocol::SessionId(canopy_protocol::public_key(
        &session_key,
    )));
    // Chains two grants long: the burst pays for two authors, the rate 10 per second.
    let (mut input, mut document, mut router) =
        spawn_checker_as(&graph, &authors, |c| c.with_check_budget(20.0, 4.0));
    let minted: Vec<_> = (0..4)
        .map(|_| TestAuthor::editor(&session_key).authority)
        .collect();
    assert!(minted.iter().all(|a| a.checks() == 2));
    let started = std::time::Instant::now();
    input.send(Inbound::Authors(minted)).await.unwrap();
    match next(&mut document).await {
        DocumentInput::Authors { authorities, .. } => assert_eq!(authorities.len(), 4),
        other => panic!("{other:?}"),
    }
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(180),
        "four checks over the burst at 20 a second take 0.2 s, took {waited:?}"
    );
    quiet(&mut router).await;
    assert_eq!(Authors::read(&authors).len(), 4);
}

/// An author may sign every op it sends, and each signature costs the receiver a
/// check: a link's ops spend from the same bounded rate as its authorities.
#[tokio::test]
async fn a_links_signatures_are_checked_at_a_bounded_rate() {
    let graph = Graph::new("test");
    let mut author = TestAuthor::editor(&new_key());
    let (mut input, mut document, mut router) =
        spawn_checker_as(&graph, &table_with(&author), |c| {
            c.with_check_budget(20.0, 4.0)
        });
    let mut each_signed = Vec::new();
    for seq in 1..=8 {
        each_signed.extend(author.sign(&[author.start(seq)]));
    }
    assert!(each_signed.iter().all(|op| op.signature.is_some()));
    let started = std::time::Instant::now();
    input.send(Inbound::Ops(each_signed)).await.unwrap();
    let mut seqs = Vec::new();
    while seqs.len() < 8 {
        seqs.extend(run_seqs(&next(&mut document).await));
    }
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(180),
        "four checks over the burst at 20 a second take 0.2 s, took {waited:?}"
    );
    quiet(&mut router).await;
}

/// Each author pays for its own signatures: one that signs every op waits for its
/// checks, and the ops of another author on the same link go on meanwhile (paid in
/// turns), instead of queueing behind the flood — on this link and every link the
/// flood crosses. The flood's ops all go on too, in order, once paid for.
#[tokio::test]
async fn an_author_that_signs_every_op_holds_up_no_one_elses_ops() {
    let graph = Graph::new("test");
    let session_key = new_key();
    let mut flooder = TestAuthor::editor(&session_key);
    let mut honest = TestAuthor::editor(&session_key);
    let authors = table_with(&flooder);
    honest.introduce(&authors);
    let (mut input, mut document, mut router) =
        spawn_checker_as(&graph, &authors, |c| c.with_check_budget(100.0, 4.0));
    let mut each_signed = Vec::new();
    for seq in 1..=200 {
        each_signed.extend(flooder.sign(&[flooder.start(seq)]));
    }
    input.send(Inbound::Ops(each_signed)).await.unwrap();
    input
        .send(Inbound::Ops(honest.sign(&[honest.start(1)])))
        .await
        .unwrap();
    let mut order = Vec::new();
    while order.len() < 201 {
        let DocumentInput::FromLink { runs, .. } = next(&mut document).await else {
            panic!("runs expected");
        };
        order.extend(
            runs.iter()
                .flat_map(|run| run.ops.iter().map(|c| (c.wire.id.node, c.wire.id.seq))),
        );
    }
    assert_eq!(
        order[0],
        (honest.node, 1),
        "the honest author's op went first, while the flooder paid for 200 checks"
    );
    let flood: Vec<u64> = order[1..]
        .iter()
        .map(|(author, seq)| {
            assert_eq!(*author, flooder.node);
            *seq
        })
        .collect();
    assert_eq!(
        flood,
        (1..=200).collect::<Vec<_>>(),
        "the flood, whole and in order"
    );
    quiet(&mut router).await;
}

/// Authors one participant minted, at any depth, share its branch's turns: an
/// editor that mints twenty authors, each signing every op, delays another author's
/// op by one of their turns, not twenty.
#[tokio::test]
async fn authors_one_participant_minted_share_its_turns() {
    let graph = Graph::new("test");
    let session_key = new_key();
    let minter = TestAuthor::editor(&session_key);
    let honest = TestAuthor::editor(&session_key);
    let authors = table_with(&minter);
    // Ten minted by the editor, and ten more by the first of those: any depth.
    let mut minted: Vec<TestAuthor> = (0..10)
        .map(|nonce| TestAuthor::minted_by(&minter, 100 + nonce))
        .collect();
    let deeper: Vec<TestAuthor> = (0..10)
        .map(|nonce| TestAuthor::minted_by(&minted[0], 200 + nonce))
        .collect();
    minted.extend(deeper);
    for author in &minted {
        author.introduce(&authors);
    }
    let mut honest = honest;
    honest.introduce(&authors);
    let runs_before_honest =
        runs_before_the_honest_op(&graph, &authors, &mut minted, &mut honest).await;
    assert!(
        runs_before_honest <= 2,
        "{runs_before_honest} minted authors' runs went before the honest op"
    );
}

/// A holder of a reusable invite that joins the host again and again under new keys
/// is admitted each time under a grant the host marks with that invite: all those
/// authors share one branch's turns, as if one participant had minted them.
#[tokio::test]
async fn participants_admitted_with_one_invite_share_its_turns() {
    let graph = Graph::new("test");
    let session_key = new_key();
    let host = TestAuthor::host(&session_key);
    let authors = table_with(&host);
    // The nonces the host marks admissions by two invites with.
    let (reused, own) = (7, 8);
    let mut joins: Vec<TestAuthor> = (0..20)
        .map(|_| TestAuthor::minted_by(&host, reused))
        .collect();
    let mut honest = TestAuthor::minted_by(&host, own);
    for author in joins.iter().chain([&honest]) {
        author.introduce(&authors);
    }
    let runs_before_honest =
        runs_before_the_honest_op(&graph, &authors, &mut joins, &mut honest).await;
    assert!(
        runs_before_honest <= 2,
        "{runs_before_honest} runs of the invite's joins went before the honest op"
    );
}

/// An editor that mints invites of its own and joins the host with each, under new
/// keys, is admitted each time in the minter's branch, not one of its own (the host
/// vouches for the branch of the invite's minter): all those authors share the
/// minter's turns.
#[tokio::test]
async fn participants_admitted_at_the_host_with_invites_one_editor_minted_share_its_turns() {
    let graph = Graph::new("test");
    let session_key = new_key();
    let host = TestAuthor::host(&session_key);
    let authors = table_with(&host);
    let minter = TestAuthor::minted_by(&host, 7);
    let mut joins: Vec<TestAuthor> = (0..20)
        .map(|nonce| {
            let invite =
                minter
                    .authority
                    .invite(&minter.session, &minter.key, Role::Editor, None, nonce);
            TestAuthor::admitted_with(&host, &invite)
        })
        .collect();
    let mut honest = TestAuthor::minted_by(&host, 8);
    for author in joins.iter().chain([&honest, &minter]) {
        author.introduce(&authors);
    }
    let runs_before_honest =
        runs_before_the_honest_op(&graph, &authors, &mut joins, &mut honest).await;
    assert!(
        runs_before_honest <= 2,
        "{runs_before_honest} runs of the minter's joins went before the honest op"
    );
}

/// Each of `flooders` sends ten ops, each signed, then `honest` one, through a
/// checker with a small check budget: how many runs reach the document before the
/// honest one.
async fn runs_before_the_honest_op(
    graph: &Graph,
    authors: &SharedAuthors,
    flooders: &mut [TestAuthor],
    honest: &mut TestAuthor,
) -> usize {
    let (mut input, mut document, mut router) =
        spawn_checker_as(graph, authors, |c| c.with_check_budget(100.0, 16.0));
    for author in flooders {
        let mut each_signed = Vec::new();
        for seq in 1..=10 {
            each_signed.extend(author.sign(&[author.start(seq)]));
        }
        input.send(Inbound::Ops(each_signed)).await.unwrap();
    }
    input
        .send(Inbound::Ops(honest.sign(&[honest.start(1)])))
        .await
        .unwrap();
    let mut runs_before_honest = 0;
    loop {
        let DocumentInput::FromLink { runs, .. } = next(&mut document).await else {
            panic!("runs expected");
        };
        if runs.iter().any(|run| run.author == honest.node) {
            break;
        }
        runs_before_honest += runs.len();
    }
    quiet(&mut router).await;
    runs_before_honest
}

#[tokio::test]
async fn a_viewers_ops_are_refused_whatever_link_they_come_by() {
    let graph = Graph::new("test");
    let session_key = new_key();
    let editor = TestAuthor::editor(&session_key);
    let mut viewer = TestAuthor::with_role(&session_key, Role::Viewer);
    let authors = table_with(&editor);
    viewer.introduce(&authors);
    // The link is an editor's (or a parent's): the viewer's ops come by it all the same.
    let (mut input, mut document, mut router) = spawn_checker(&graph, &authors);
    let ops = viewer.sign(&[viewer.start(1)]);
    input.send(Inbound::Ops(ops)).await.unwrap();
    assert!(matches!(
        refusal(next(&mut router).await),
        Refusal::ViewerEdit(_)
    ));
    quiet(&mut document).await;
}

#[tokio::test]
async fn a_clock_far_ahead_of_its_op_number_is_refused() {
    let graph = Graph::new("test");
    let mut author = TestAuthor::editor(&new_key());
    let (mut input, mut document, mut router) = spawn_checker(&graph, &table_with(&author));
    let mut op = author.start(1);
    op.lamport = u64::MAX - 1;
    // Signed as the author could sign anything (the signer refuses; the wire does not).
    let mut wire = author.sign(&[author.start(1)]).remove(0);
    wire.lamport = op.lamport;
    input.send(Inbound::Ops(vec![wire])).await.unwrap();
    let reason = refusal(next(&mut router).await);
    assert!(reason.to_string().contains("clock"), "{reason}");
    quiet(&mut document).await;
}

/// Every message in `bytes`, in order.
fn messages_in(bytes: &[u8]) -> Vec<Message> {
    let mut decoder = FrameDecoder::new();
    decoder.push(bytes);
    let mut messages = Vec::new();
    while let Some(message) = decoder.next_message().unwrap() {
        messages.push(message);
    }
    messages
}

#[tokio::test]
async fn a_link_holds_at_most_its_credits_in_the_documents_queue() {
    let graph = Graph::new("test");
    let mut author = TestAuthor::editor(&new_key());
    let (mut input, mut document, _router) = spawn_checker(&graph, &table_with(&author));
    let batches = LINK_CREDITS as u64 + 2;
    for seq in 1..=batches {
        let ops = author.sign(&[author.start(seq)]);
        input.send(Inbound::Ops(ops)).await.unwrap();
    }
    // Batches the document has not applied (still held here) use up the places.
    let mut held = Vec::new();
    for seq in 1..=LINK_CREDITS as u64 {
        let batch = next(&mut document).await;
        assert_eq!(run_seqs(&batch), vec![seq]);
        held.push(batch);
    }
    quiet(&mut document).await;
    // Applying one (dropping it) lets exactly one more through, in order.
    drop(held.remove(0));
    let next_batch = next(&mut document).await;
    assert_eq!(run_seqs(&next_batch), vec![LINK_CREDITS as u64 + 1]);
    quiet(&mut document).await;
    drop(held);
    drop(next_batch);
    assert_eq!(run_seqs(&next(&mut document).await), vec![batches]);
}

#[tokio::test]
async fn the_encoder_marks_a_refusal_as_the_last_frame() {
    let graph = Graph::new("test");
    let encoder = graph.spawn("link[7]/encoder", |s| Encoder::new(s, Queued::default()));
    let (frames_in, mut frames) = tap::<Frame>(&graph, "writer");
    canopy_axon::link(&encoder.outbox("outbox").unwrap(), &frames_in).unwrap();
    let mut input = driver::<Message>(&graph, "router", &encoder.inbox("inbox").unwrap());
    input
        .send(Message::Ops(vec![wire_start(3, 1)]))
        .await
        .unwrap();
    input
        .send(Message::Refused(Refusal::ShuttingDown))
        .await
        .unwrap();
    input
        .send(Message::Ops(vec![wire_start(3, 2)]))
        .await
        .unwrap();
    // Whether written together or not, the ops go, then the refusal, then nothing.
    let mut written = Vec::new();
    let last = loop {
        let frame = next(&mut frames).await;
        written.extend(messages_in(&frame.bytes));
        if frame.closing.is_some() {
            break frame;
        }
    };
    assert_eq!(
        written,
        vec![
            Message::Ops(vec![wire_start(3, 1)]),
            Message::Refused(Refusal::ShuttingDown)
        ]
    );
    assert_eq!(last.closing.as_deref(), Some("the node is shutting down"));
    quiet(&mut frames).await;
}

#[tokio::test]
async fn the_encoder_writes_queued_messages_together_and_a_lone_one_at_once() {
    let graph = Graph::new("test");
    let encoder = graph.spawn("link[7]/encoder", |s| Encoder::new(s, Queued::default()));
    let (frames_in, mut frames) = tap::<Frame>(&graph, "writer");
    canopy_axon::link(&encoder.outbox("outbox").unwrap(), &frames_in).unwrap();
    let mut input = driver::<Message>(&graph, "router", &encoder.inbox("inbox").unwrap());
    // Alone: written without waiting for company.
    input
        .send(Message::Ops(vec![wire_start(3, 1)]))
        .await
        .unwrap();
    let alone = next(&mut frames).await;
    assert_eq!(
        messages_in(&alone.bytes),
        vec![Message::Ops(vec![wire_start(3, 1)])]
    );
    // Queued before the encoder runs (this test's runtime has one thread): one write.
    for seq in 2..=4 {
        input
            .send(Message::Ops(vec![wire_start(3, seq)]))
            .await
            .unwrap();
    }
    let together = next(&mut frames).await;
    assert_eq!(
        messages_in(&together.bytes),
        (2..=4)
            .map(|seq| Message::Ops(vec![wire_start(3, seq)]))
            .collect::<Vec<_>>()
    );
    assert!(together.closing.is_none());
    quiet(&mut frames).await;
}

#[tokio::test]
async fn the_encoder_counts_off_the_bytes_it_encodes() {
    let graph = Graph::new("test");
    let queued = Queued::default();
    let counter = queued.clone();
    let encoder = graph.spawn("link[7]/encoder", move |s| Encoder::new(s, counter));
    let (frames_in, mut frames) = tap::<Frame>(&graph, "writer");
    canopy_axon::link(&encoder.outbox("outbox").unwrap(), &frames_in).unwrap();
    let mut input = driver::<Message>(&graph, "router", &encoder.inbox("inbox").unwrap());
    let message = Message::Ops(vec![wire_start(3, 1), wire_start(3, 2)]);
    let bytes = queued_bytes(&message);
    assert!(bytes > 0);
    assert!(queued.try_add(bytes, bytes));
    assert!(!queued.try_add(1, bytes), "the limit holds");
    input.send(message).await.unwrap();
    next(&mut frames).await;
    assert_eq!(queued.get(), 0);
}

/// Presence datagrams: malformed ones are dropped; one its participant signed gets
/// through, showing the role the participant's authority gives (not the one it
/// claims); one in a participant's name signed by another key, or of a participant
/// the session does not know, is dropped.
#[tokio::test]
async fn presence_in_decodes_and_drops_what_is_malformed_or_forged() {
    let graph = Graph::new("test");
    let session_key = new_key();
    let viewer = TestAuthor::with_role(&session_key, Role::Viewer);
    let authors = table_with(&viewer);
    let session = viewer.session;
    let presence_in = graph.spawn("link[7]/presence-in", |s| PresenceIn::new(s, 7, authors));
    let (table_in, mut table) = tap::<PresenceInput>(&graph, "presence");
    canopy_axon::link(&presence_in.outbox("outbox").unwrap(), &table_in).unwrap();
    let mut input = driver::<Vec<u8>>(&graph, "datagrams-in", &presence_in.inbox("inbox").unwrap());
    input.send(vec![0, 0xff, 0xff]).await.unwrap();
    let presence = Presence {
        node: viewer.node,
        seq: 1,
        name: "bo".into(),
        color: canopy_canvas::Color::rgb(1, 1, 1),
        page: 0,
        cursor: None,
        role: Some(Role::Editor),
        muted: false,
    };
    let impostor = new_key();
    input
        .send(Datagram::presence(&presence, &impostor, &session))
        .await
        .unwrap();
    let stranger = Presence {
        node: canopy_protocol::AuthorKey(canopy_protocol::public_key(&impostor)).node_id(),
        ..presence.clone()
    };
    input
        .send(Datagram::presence(&stranger, &impostor, &session))
        .await
        .unwrap();
    input
        .send(Datagram::presence(&presence, &viewer.key, &session))
        .await
        .unwrap();
    match next(&mut table).await {
        PresenceInput::FromLink {
            link: 7,
            presence: p,
            ..
        } => assert_eq!(
            p,
            Presence {
                role: Some(Role::Viewer),
                ..presence
            }
        ),
        other => panic!("{other:?}"),
    }
    quiet(&mut table).await;
}

#[tokio::test]
async fn presence_out_keeps_only_the_latest_news_once_over_budget() {
    use canopy_node::link::presence_out::{PresenceNews, PresenceOut, PRESENCE_OUT_PER_SECOND};
    let graph = Graph::new("test");
    let out = graph.spawn("link[7]/presence-out", PresenceOut::new);
    let (datagrams_in, mut datagrams) = tap::<Vec<u8>>(&graph, "datagrams-out");
    canopy_axon::link(&out.outbox("outbox").unwrap(), &datagrams_in).unwrap();
    let mut table = driver::<PresenceNews>(&graph, "presence", &out.inbox("inbox").unwrap());
    // A cursor flood from one participant: far more than the burst, sent at once.
    let burst = (PRESENCE_OUT_PER_SECOND * 2.0) as usize;
    for i in 0..burst + 500 {
        table
            .send(PresenceNews {
                node: NodeId(3),
                bytes: (i as u32).to_le_bytes().to_vec(),
            })
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    while let Ok(Some(bytes)) =
        tokio::time::timeout(std::time::Duration::from_millis(300), datagrams.recv()).await
    {
        seen.push(u32::from_le_bytes(bytes.try_into().unwrap()));
    }
    assert!(
        seen.len() <= burst + 40,
        "{} datagrams: the budget was not kept",
        seen.len()
    );
    assert_eq!(
        seen.last().copied(),
        Some((burst + 499) as u32),
        "the latest news gets through"
    );
}

/// A revoked author's log ends where its revocation says, whoever brings its ops: the
/// checker passes its ops up to the cut-off (the op there verified with the author's
/// signature the revocation carries, so a copy of the log signed further on still
/// proves the kept part) and drops the rest, without closing the link that passed
/// them on. An author its grant minted, which the revocation does not name, keeps
/// nothing.
#[tokio::test]
async fn a_revoked_authors_ops_past_its_cut_off_go_nowhere_whoever_brings_them() {
    let graph = Graph::new("test");
    let session_key = new_key();
    let mut author = TestAuthor::editor(&session_key);
    let authors = table_with(&author);
    let (mut input, mut document, mut router) = spawn_checker(&graph, &authors);
    let session = author.session;
    let ops: Vec<_> = (1..=6).map(|seq| author.start(seq)).collect();
    let kept_run = author.run(&ops[..3]);
    let (_, head, signature) = *kept_run.verified.keep.last().unwrap();
    let later_run = author.run(&ops[3..]);
    let grant = *author.authority.grant_ids(&session).last().unwrap();
    let kept = canopy_protocol::Kept {
        author: canopy_protocol::public_key(&author.key),
        seq: 3,
        head,
        signature: Some(signature),
    };
    let revocation = canopy_protocol::Revocation::sign(&session_key, &session, grant, vec![kept]);
    assert_eq!(revocation.verify(&session), Ok(()));
    assert!(Authors::write(&authors).revoke(&revocation).is_empty());

    // Ops 1–6 as signed before the revocation: only op 6 carries a signature.
    let mut wire: Vec<WireOp> = kept_run
        .ops
        .iter()
        .chain(&later_run.ops)
        .map(|c| c.wire.clone())
        .collect();
    wire[2].signature = None;
    input.send(Inbound::Ops(wire)).await.unwrap();
    assert_eq!(run_seqs(&next(&mut document).await), vec![1, 2, 3]);
    quiet(&mut document).await;
    quiet(&mut router).await;

    // An author the revoked one mints after: not named, so nothing of it is kept.
    let minted_key = new_key();
    let minted_authority = author.authority.delegate(
        &session,
        &author.key,
        canopy_protocol::public_key(&minted_key),
        Role::Editor,
        None,
        99,
    );
    let mut minted = TestAuthor::with_key(minted_key, minted_authority, session);
    minted.introduce(&authors);
    let minted_ops = minted.sign(&[minted.start(1)]);
    input.send(Inbound::Ops(minted_ops)).await.unwrap();
    quiet(&mut document).await;
    quiet(&mut router).await;
}
