//! A session's per-node components, wired as a node wires them, driven through their
//! boxes: the store, links and tools are taps and drivers.

use std::sync::Arc;
use std::time::Duration;

use canopy_axon::Graph;
use canopy_canvas::{Action, Color, Document, NodeId, Op, OpId, Point, Tool, VersionVector};
use canopy_node::link::encoder::{queued_bytes, Queued};
use canopy_node::link::presence_out::PresenceNews;
use canopy_node::session::sync::SYNC_BATCH;
use canopy_node::session::{
    self, Credit, DocumentInput, DoorInput, Edit, LinkUp, NodeSetup, PageRef, PresenceInput,
    RouterInput, Session, SessionLimits, StatusInput, SyncInput,
};
use canopy_node::store::StoreInput;
use canopy_protocol::{
    public_key, Authority, Datagram, Fingerprint, Hello, Message, Presence, Refusal, Role,
    PROTOCOL_VERSION,
};
use ring::rand::SystemRandom;
use ring::signature::Ed25519KeyPair;
use tokio::sync::{mpsc, oneshot};

use crate::{driver, next, quiet, stroke_start, tap, TestAuthor};

fn key() -> Ed25519KeyPair {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
}

/// The host's key: fixed, so a test can make the host's document first.
fn host_key() -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[1; 32]).unwrap()
}

/// The host's document identity (its ops are named after its key).
fn host() -> NodeId {
    session::author_id(&host_key())
}

struct Running {
    graph: Graph,
    session: Session,
    store: mpsc::UnboundedReceiver<StoreInput>,
    session_key: Arc<Ed25519KeyPair>,
    authority: Authority,
    node_key: Arc<Ed25519KeyPair>,
}

fn start(document: Document) -> Running {
    start_with(document, SessionLimits::default())
}

fn start_with(document: Document, limits: SessionLimits) -> Running {
    start_holding(document, None, limits)
}

/// A blind session (a relay's that reads nothing of a payload past its header),
/// holding nothing yet.
fn start_blind() -> Running {
    start_holding(
        Document::new(host()),
        Some(canopy_protocol::OpaqueReplica::new()),
        SessionLimits::default(),
    )
}

fn start_holding(
    document: Document,
    blind: Option<canopy_protocol::OpaqueReplica>,
    limits: SessionLimits,
) -> Running {
    let graph = Graph::new("test");
    let session_key = Arc::new(key());
    let node_key = Arc::new(host_key());
    let (id, authority) = Authority::root(&session_key, &node_key, 1);
    let setup = NodeSetup {
        print_invites: false,
        invite_ttl: None,
        name: "host".into(),
        key: Arc::clone(&node_key),
        fingerprint: Fingerprint([7; 32]),
        public_address: "127.0.0.1:7447".into(),
        session: id,
        authority: Some(authority.clone()),
        ancestors: Vec::new(),
        meters: None,
        document,
        blind,
        limits,
        stored_bytes: 0,
        metrics: None,
        revoked: canopy_node::session::door::Revoked::in_memory(),
        session_key: Some(Arc::clone(&session_key)),
        file: None,
        authors: session::Authors::shared(id),
        reauthor: canopy_canvas::Reauthor::new(),
        imported: Vec::new(),
        own_ops_upstream: 0,
    };
    let (store_in, store) = tap::<StoreInput>(&graph, "store");
    let session = session::spawn(&graph, "", setup, &store_in, None).unwrap();
    Running {
        graph,
        session,
        store,
        session_key,
        authority,
        node_key,
    }
}

/// A link as the router sees it: its encoder and datagram sender are taps. The tap
/// takes messages off at once but, unlike an encoder, never counts their bytes off
/// `queued`: a peer that has stopped reading.
struct FakeLink {
    messages: mpsc::UnboundedReceiver<Message>,
    datagrams: mpsc::UnboundedReceiver<PresenceNews>,
    queued: Queued,
}

async fn link_up(r: &Running, id: u64, seen: VersionVector) -> FakeLink {
    link_up_with(r, id, seen, Vec::new()).await
}

/// [`link_up`] for a peer that came in with `grants`.
async fn link_up_with(
    r: &Running,
    id: u64,
    seen: VersionVector,
    grants: Vec<canopy_protocol::GrantId>,
) -> FakeLink {
    let (writer, messages) = tap::<Message>(&r.graph, &format!("link[{id}]/encoder"));
    let queued = Queued::default();
    let (datagrams_in, datagrams) =
        tap::<PresenceNews>(&r.graph, &format!("link[{id}]/presence-out"));
    let mut router = driver(
        &r.graph,
        &format!("link[{id}]/handshake"),
        &r.session.ports.router,
    );
    router
        .send(RouterInput::LinkUp(Box::new(LinkUp {
            link: id,
            writer,
            queued: queued.clone(),
            presence: datagrams_in,
            audio: None,
            seen,
            is_parent: false,
            role: Role::Editor,
            name: format!("peer{id}"),
            address: "127.0.0.1:1".into(),
            rtt: Arc::new(|| Duration::from_millis(3)),
            grants,
        })))
        .await
        .unwrap();
    // Once the router has answered, it has handed the link to the sync server and the
    // presence table: whatever the test sends next queues behind that.
    let (reply, answer) = oneshot::channel();
    router.send(RouterInput::Links(reply)).await.unwrap();
    assert!(answer.await.unwrap().iter().any(|l| l.link == id));
    FakeLink {
        messages,
        datagrams,
        queued,
    }
}

/// The next message to a link that is not about authors (every new link hears of
/// the session's authors first, and of new ones as they come).
async fn message(link: &mut FakeLink) -> Message {
    loop {
        match next(&mut link.messages).await {
            Message::Authors(_) => continue,
            other => return other,
        }
    }
}

/// Nothing but news of authors comes to a link for a while.
async fn quiet_link(link: &mut FakeLink) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, link.messages.recv()).await {
        assert!(
            matches!(message, Message::Authors(_)),
            "expected nothing, got {message:?}"
        );
    }
}

async fn ops_of(link: &mut FakeLink) -> Vec<canopy_protocol::WireOp> {
    match message(link).await {
        Message::Ops(ops) => ops,
        other => panic!("expected ops, got {other:?}"),
    }
}

impl Running {
    /// An editor of this session that the session knows.
    fn author(&self) -> TestAuthor {
        let author = TestAuthor::editor(&self.session_key);
        author.introduce(&self.session.ports.authors);
        author
    }
}

fn stroke_on_first_page() -> Edit {
    Edit::Stroke {
        page: PageRef::Nth(0),
        color: Color::rgb(9, 9, 9),
        width: 3.0,
        points: vec![Point::new(1.0, 1.0), Point::new(20.0, 30.0)],
        tool: Tool::Pen,
    }
}

#[tokio::test]
async fn a_local_edit_is_saved_then_reaches_every_link() {
    let mut r = start(Document::new(host()));
    let mut a = link_up(&r, 1, VersionVector::default()).await;
    let mut b = link_up(&r, 2, VersionVector::default()).await;
    let mut edits = driver(&r.graph, "script", &r.session.ports.document);
    edits
        .send(DocumentInput::Local(stroke_on_first_page()))
        .await
        .unwrap();
    match next(&mut r.store).await {
        StoreInput::Ops(_, ops, _) => assert_eq!(ops.len(), 3, "start, points, end"),
        other => panic!("{other:?}"),
    }
    assert_eq!(ops_of(&mut a).await.len(), 3);
    assert_eq!(ops_of(&mut b).await.len(), 3);
}

#[tokio::test]
async fn ops_from_a_link_go_to_every_other_link_once() {
    let mut r = start(Document::new(host()));
    let mut a = link_up(&r, 1, VersionVector::default()).await;
    let mut b = link_up(&r, 2, VersionVector::default()).await;
    let mut checker = driver(&r.graph, "link[1]/checker", &r.session.ports.document);
    let mut author = r.author();
    let run = author.run(&[author.start(1)]);
    let wire = run.ops[0].wire.clone();
    checker
        .send(DocumentInput::FromLink {
            link: 1,
            runs: vec![run.clone()],
            credit: Credit::free(),
        })
        .await
        .unwrap();
    assert_eq!(ops_of(&mut b).await, vec![wire]);
    quiet_link(&mut a).await; // never back to where it came from
                              // A duplicate is applied once and forwarded never.
    checker
        .send(DocumentInput::FromLink {
            link: 2,
            runs: vec![run],
            credit: Credit::free(),
        })
        .await
        .unwrap();
    quiet_link(&mut a).await;
    assert!(matches!(next(&mut r.store).await, StoreInput::Ops(_, ops, _) if ops.len() == 1));
    quiet(&mut r.store).await;
}

#[tokio::test]
async fn a_new_link_gets_its_backlog_from_the_sync_server() {
    let mut document = Document::new(host());
    for seq in 1..=5 {
        document.apply(stroke_start(4, seq)).unwrap();
    }
    let r = start(document);
    let mut seen = VersionVector::default();
    seen.0.insert(NodeId(4), 2);
    let mut late = link_up(&r, 9, seen).await;
    let backlog = ops_of(&mut late).await;
    let seqs: Vec<u64> = backlog.iter().map(|w| w.id.seq).collect();
    assert_eq!(seqs, vec![3, 4, 5], "only what it lacks");
}

#[tokio::test]
async fn a_large_backlog_comes_in_pieces_in_order_with_live_ops_alongside_once() {
    let held = 3 * SYNC_BATCH as u64 + 7;
    let mut document = Document::new(host());
    for seq in 1..=held {
        document.apply(stroke_start(4, seq)).unwrap();
    }
    let r = start(document);
    let mut late = link_up(&r, 9, VersionVector::default()).await;
    // A live op while the backlog is under way comes through the router; the backlog
    // stops where the replica stood when it was asked, so the op comes once.
    let mut checker = driver(&r.graph, "link[1]/checker", &r.session.ports.document);
    let mut author = r.author();
    let live_op = author.start(1);
    checker
        .send(DocumentInput::FromLink {
            link: 1,
            runs: vec![author.run(std::slice::from_ref(&live_op))],
            credit: Credit::free(),
        })
        .await
        .unwrap();
    let mut from_backlog = Vec::new();
    let mut live = Vec::new();
    while (from_backlog.len() as u64) < held || live.is_empty() {
        let ops = ops_of(&mut late).await;
        assert!(ops.len() <= SYNC_BATCH, "a piece of {} ops", ops.len());
        for op in ops {
            if op.id.node == NodeId(4) {
                from_backlog.push(op.id.seq);
            } else {
                live.push(op.id);
            }
        }
    }
    assert_eq!(from_backlog, (1..=held).collect::<Vec<_>>());
    assert_eq!(live, vec![live_op.id], "the live op, once");
    quiet_link(&mut late).await;
}

/// The numbers of the next `count` ops to a link, checking that every message they
/// come in fits a frame.
async fn seqs_in_frames(link: &mut FakeLink, count: usize) -> Vec<u64> {
    let mut seqs = Vec::new();
    while seqs.len() < count {
        let message = message(link).await;
        assert!(
            canopy_protocol::encode(&message).is_ok(),
            "a message that fits no frame"
        );
        let Message::Ops(ops) = message else {
            panic!("expected ops, got {message:?}");
        };
        seqs.extend(ops.into_iter().map(|w| w.id.seq));
    }
    seqs
}

/// A batch of new ops bigger than a frame (a replay, a burst of long strokes)
/// reaches each link as messages that each fit a frame, in order, none lost.
#[tokio::test]
async fn a_batch_bigger_than_a_frame_is_forwarded_in_messages_that_fit() {
    let r = start(Document::new(host()));
    let mut a = link_up(&r, 1, VersionVector::default()).await;
    let mut router = driver(&r.graph, "document", &r.session.ports.router);
    let ops: Vec<canopy_protocol::WireOp> = (1..=5u64)
        .map(|seq| canopy_protocol::WireOp {
            id: OpId {
                node: NodeId(4),
                seq,
            },
            lamport: seq,
            payload: vec![1; 300_000],
            signature: None,
        })
        .collect();
    router
        .send(RouterInput::Forward {
            origin: None,
            ops: Arc::new(ops),
        })
        .await
        .unwrap();
    assert_eq!(seqs_in_frames(&mut a, 5).await, vec![1, 2, 3, 4, 5]);
}

/// Proof of a split log whose forks are long ops (up to the author's next
/// signature) may fit no frame: it is not passed on, since the link's encoder would
/// fail and the link be lost (every link, on every reconnect); what follows still
/// goes through.
#[tokio::test]
async fn proof_that_fits_no_frame_is_kept_not_sent() {
    let r = start(Document::new(host()));
    let mut a = link_up(&r, 1, VersionVector::default()).await;
    let mut router = driver(&r.graph, "document", &r.session.ports.router);
    let fork = |byte: u8| canopy_protocol::Fork {
        head: canopy_protocol::Head([byte; 32]),
        ops: vec![(1, vec![byte; 300_000]); 2],
        signature: canopy_protocol::Signature {
            r: [byte; 32],
            s: [byte; 32],
        },
        jumps: Vec::new(),
    };
    let evidence = canopy_protocol::Evidence {
        author: canopy_protocol::AuthorKey([3; 32]),
        seq: 1,
        first: fork(1),
        second: fork(2),
        seal_at: None,
        first_seal_at: None,
        refused: None,
    };
    router
        .send(RouterInput::Evidence {
            origin: None,
            evidence: Arc::new(evidence),
        })
        .await
        .unwrap();
    let op = canopy_protocol::WireOp {
        id: OpId {
            node: NodeId(4),
            seq: 1,
        },
        lamport: 1,
        payload: vec![1; 10],
        signature: None,
    };
    router
        .send(RouterInput::Forward {
            origin: None,
            ops: Arc::new(vec![op]),
        })
        .await
        .unwrap();
    assert_eq!(seqs_in_frames(&mut a, 1).await, vec![1]);
}

/// A backlog of long chunks (thousands of points each) comes in pieces that each
/// fit a frame: a piece of `SYNC_BATCH` such ops would be many megabytes, which no
/// frame carries, and the link would be lost.
#[tokio::test]
async fn a_backlog_of_long_chunks_comes_in_pieces_that_fit_a_frame() {
    let mut document = Document::new(host());
    let per_op = document.limits().max_points_per_op;
    let mut seq = 0;
    let mut next_op = |action: Action| {
        seq += 1;
        Op {
            id: OpId {
                node: NodeId(4),
                seq,
            },
            lamport: seq,
            action,
        }
    };
    let mut held = Vec::new();
    for _ in 0..3 {
        let start = next_op(stroke_start(4, 0).action);
        let stroke = start.id;
        held.push(start);
        for chunk in 0..20u32 {
            held.push(next_op(Action::StrokePoints {
                stroke,
                offset: chunk * per_op as u32,
                points: vec![Point::new(1.0, 2.0); per_op],
            }));
        }
        held.push(next_op(Action::StrokeEnd {
            stroke,
            points: 20 * per_op as u32,
        }));
    }
    for op in &held {
        document.apply(op.clone()).unwrap();
    }
    let r = start(document);
    let mut late = link_up(&r, 9, VersionVector::default()).await;
    assert_eq!(
        seqs_in_frames(&mut late, held.len()).await,
        (1..=held.len() as u64).collect::<Vec<_>>()
    );
}

/// Two links bring two versions of an author's op, both signed by it: the document
/// finds the proof, leaves the author's ops out (the replica too) and passes the
/// proof on; neither link is closed (a refusal would come before anything else).
#[tokio::test]
async fn an_author_proven_to_split_its_log_is_left_out_and_the_proof_passed_on() {
    let r = start(Document::new(host()));
    let mut a = link_up(&r, 1, VersionVector::default()).await;
    let mut b = link_up(&r, 2, VersionVector::default()).await;
    let mut checker = driver(&r.graph, "link[1]/checker", &r.session.ports.document);
    let mut author = r.author();
    let first = author.run(&[author.start(1)]);
    checker
        .send(DocumentInput::FromLink {
            link: 1,
            runs: vec![first],
            credit: Credit::free(),
        })
        .await
        .unwrap();
    assert_eq!(ops_of(&mut b).await.len(), 1);
    author.restart();
    let mut other = author.start(1);
    other.action = canopy_canvas::Action::NewPage { position: 9.0 };
    checker
        .send(DocumentInput::FromLink {
            link: 2,
            runs: vec![author.run(&[other])],
            credit: Credit::free(),
        })
        .await
        .unwrap();
    // Found here: every link is told, the one that brought the other log too (its
    // peer may hold that log and needs the proof as much).
    for link in [&mut a, &mut b] {
        match message(link).await {
            Message::Evidence(evidence) => assert!(evidence.verify(&r.session_key_id())),
            other => panic!("expected the proof, got {other:?}"),
        }
        quiet_link(link).await;
    }
    let mut status = driver(&r.graph, "control", &r.session.ports.status);
    let (reply, answer) = oneshot::channel();
    status.send(StatusInput::Full(reply)).await.unwrap();
    let status = answer.await.unwrap();
    assert_eq!(
        (status.strokes, status.ops),
        (0, 0),
        "the author is left out"
    );
    // A link that comes up later is told.
    let mut late = link_up(&r, 3, VersionVector::default()).await;
    assert!(matches!(message(&mut late).await, Message::Evidence(_)));
}

/// `count` authors each sign two logs, one brought by link 1 and one by link 2 (an
/// editor that minted them, making every node rebuild its document once per proof,
/// would hold it for as long as it liked). Returns once link 2 has every proof.
async fn authors_split_their_logs(r: &Running, count: usize) {
    let mut b = link_up(r, 2, VersionVector::default()).await;
    let mut checker = driver(&r.graph, "link[1]/checker", &r.session.ports.document);
    for _ in 0..count {
        let mut author = r.author();
        let first = author.run(&[author.start(1)]);
        author.restart();
        let mut other = author.start(1);
        other.action = canopy_canvas::Action::NewPage { position: 9.0 };
        let second = author.run(&[other]);
        for (link, run) in [(1, first), (2, second)] {
            checker
                .send(DocumentInput::FromLink {
                    link,
                    runs: vec![run],
                    credit: Credit::free(),
                })
                .await
                .unwrap();
        }
    }
    let mut proofs = 0;
    while proofs < count {
        if let Message::Evidence(evidence) = message(&mut b).await {
            assert!(evidence.verify(&r.session_key_id()));
            proofs += 1;
        }
    }
}

/// (ops held, authors left out) as the status reports them.
async fn held_and_left_out(status: &mut canopy_axon::Outbox<StatusInput>) -> (u64, usize) {
    let (reply, answer) = oneshot::channel();
    status.send(StatusInput::Full(reply)).await.unwrap();
    let status = answer.await.unwrap();
    (status.ops, status.left_out)
}

/// Proofs against many authors cost one rebuild, not one each: the first author is
/// left out at once, the others are taken no further and wait for the next rebuild.
#[tokio::test]
async fn proofs_against_many_authors_wait_for_one_rebuild() {
    let limits = SessionLimits {
        proof_rebuild_pause: Duration::from_secs(3600),
        ..SessionLimits::default()
    };
    let r = start_with(Document::new(host()), limits);
    let _a = link_up(&r, 1, VersionVector::default()).await;
    authors_split_their_logs(&r, 40).await;
    let mut status = driver(&r.graph, "control", &r.session.ports.status);
    assert_eq!(
        held_and_left_out(&mut status).await,
        (39, 1),
        "one rebuild so far: the first author's op is gone, the 39 others' wait"
    );
}

/// After the pause, every author proven meanwhile is left out together.
#[tokio::test]
async fn authors_proven_meanwhile_are_left_out_after_the_pause() {
    let limits = SessionLimits {
        proof_rebuild_pause: Duration::from_millis(100),
        ..SessionLimits::default()
    };
    let r = start_with(Document::new(host()), limits);
    let _a = link_up(&r, 1, VersionVector::default()).await;
    authors_split_their_logs(&r, 40).await;
    let mut status = driver(&r.graph, "control", &r.session.ports.status);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while held_and_left_out(&mut status).await != (0, 40) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        held_and_left_out(&mut status).await,
        (0, 40),
        "every author left out"
    );
}

#[tokio::test]
async fn a_link_that_stops_reading_is_dropped_once_its_queue_holds_too_many_bytes() {
    let limits = SessionLimits {
        max_queued_bytes: 400,
        ..SessionLimits::default()
    };
    let r = start_with(Document::new(host()), limits);
    let mut slow = link_up(&r, 1, VersionVector::default()).await;
    let mut drawing = driver(&r.graph, "window", &r.session.ports.document);
    let mut counted = 0;
    let refusal = loop {
        drawing
            .send(DocumentInput::Local(stroke_on_first_page()))
            .await
            .unwrap();
        match message(&mut slow).await {
            Message::Ops(ops) => {
                counted += queued_bytes(&Message::Ops(ops));
                assert!(counted <= 400, "more queued than allowed");
                assert_eq!(slow.queued.get(), counted);
            }
            Message::Refused(refusal) => break refusal,
            other => panic!("{other:?}"),
        }
    };
    assert!(matches!(refusal, Refusal::Limit(reason) if reason.contains("too slow")));
    // A reader that keeps up (its encoder counts bytes off) is never dropped.
    let r = start_with(
        Document::new(host()),
        SessionLimits {
            max_queued_bytes: 400,
            ..SessionLimits::default()
        },
    );
    let mut keeping_up = link_up(&r, 2, VersionVector::default()).await;
    let mut drawing = driver(&r.graph, "window", &r.session.ports.document);
    for _ in 0..20 {
        drawing
            .send(DocumentInput::Local(stroke_on_first_page()))
            .await
            .unwrap();
        let sent = message(&mut keeping_up).await;
        assert!(matches!(sent, Message::Ops(_)), "{sent:?}");
        keeping_up.queued.take(queued_bytes(&sent));
    }
}

/// An `Erase` naming 16k strokes by small ids is ~2 bytes per id on the wire and ~100
/// in memory: the session's byte budget counts the memory.
#[tokio::test]
async fn an_erase_of_many_small_ids_counts_what_it_holds_not_its_wire_bytes() {
    let r = start(Document::new(host()));
    let mut watcher = link_up(&r, 2, VersionVector::default()).await;
    let mut checker = driver(&r.graph, "link[1]/checker", &r.session.ports.document);
    let ids: Vec<canopy_canvas::OpId> = (1..=16_000u64)
        .map(|n| canopy_canvas::OpId {
            node: NodeId(n % 100),
            seq: n % 50 + 1,
        })
        .collect();
    let mut author = r.author();
    let mut erase = author.start(1);
    erase.action = canopy_canvas::Action::Erase { strokes: ids };
    let wire = canopy_protocol::WireOp::from_op(&erase);
    assert!(
        wire.payload.len() < 16_000 * 4,
        "{} bytes",
        wire.payload.len()
    );
    let before = r
        .session
        .ports
        .held_bytes
        .load(std::sync::atomic::Ordering::Relaxed);
    checker
        .send(DocumentInput::FromLink {
            link: 1,
            runs: vec![author.run(&[erase])],
            credit: Credit::free(),
        })
        .await
        .unwrap();
    assert_eq!(ops_of(&mut watcher).await.len(), 1, "applied and passed on");
    let held = r
        .session
        .ports
        .held_bytes
        .load(std::sync::atomic::Ordering::Relaxed)
        - before;
    assert!(
        held >= 16_000 * canopy_canvas::ERASED_ID_BYTES as u64,
        "counted {held} bytes"
    );
}

#[tokio::test]
async fn an_op_the_document_refuses_closes_its_link_with_the_reason() {
    let limits = canopy_canvas::Limits {
        max_points_per_stroke: 4,
        ..canopy_canvas::Limits::default()
    };
    let r = start(Document::with_limits(host(), limits));
    let mut a = link_up(&r, 1, VersionVector::default()).await;
    let mut checker = driver(&r.graph, "link[1]/checker", &r.session.ports.document);
    // Two chunks of one stroke over the same points: each passes the stateless
    // checks, but together they would give the stroke more points than it may have.
    let mut author = r.author();
    let start_op = author.start(1);
    let chunk = |seq| {
        let mut op = author.start(seq);
        op.action = canopy_canvas::Action::StrokePoints {
            stroke: start_op.id,
            offset: 0,
            points: vec![canopy_canvas::Point::new(1.0, 1.0); 3],
        };
        op
    };
    let ops = [start_op.clone(), chunk(2), chunk(3)];
    checker
        .send(DocumentInput::FromLink {
            link: 1,
            runs: vec![author.run(&ops)],
            credit: Credit::free(),
        })
        .await
        .unwrap();
    match message(&mut a).await {
        Message::Refused(Refusal::Limit(reason)) => {
            assert!(reason.contains("points"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A replica at its page cap takes an honest new page all the same (others may not be
/// at the cap yet): the link stays, and the cap decides what shows.
#[tokio::test]
async fn a_new_page_at_a_full_replica_keeps_its_link() {
    let limits = canopy_canvas::Limits {
        max_pages: 1,
        ..canopy_canvas::Limits::default()
    };
    let r = start(Document::with_limits(host(), limits));
    let mut sender = link_up(&r, 1, VersionVector::default()).await;
    let mut watcher = link_up(&r, 2, VersionVector::default()).await;
    let mut checker = driver(&r.graph, "link[1]/checker", &r.session.ports.document);
    let mut author = r.author();
    let mut page = author.start(1);
    page.action = canopy_canvas::Action::NewPage { position: 1.0 };
    checker
        .send(DocumentInput::FromLink {
            link: 1,
            runs: vec![author.run(&[page])],
            credit: Credit::free(),
        })
        .await
        .unwrap();
    assert_eq!(ops_of(&mut watcher).await.len(), 1, "taken and passed on");
    quiet_link(&mut sender).await;
}

#[tokio::test]
async fn the_door_admits_with_a_valid_invite_and_signs_nothing_per_glance() {
    let r = start(Document::new(host()));
    let mut door = driver(&r.graph, "link[1]/handshake", &r.session.ports.door);
    let invite = r
        .authority
        .invite(&r.session_key_id(), &r.node_key, Role::Viewer, None, 5);
    let joiner_key = key();
    let hello = Hello {
        protocol: PROTOCOL_VERSION,
        session: r.session_key_id(),
        node: canopy_protocol::AuthorKey(public_key(&joiner_key)).node_id(),
        node_key: public_key(&joiner_key),
        name: "joiner".into(),
        invite,
        seen: VersionVector::default(),
    };
    let (reply, answer) = oneshot::channel();
    door.send(DoorInput::Admit {
        hello: Box::new(hello.clone()),
        reply,
    })
    .await
    .unwrap();
    let welcome = answer.await.unwrap().unwrap();
    assert_eq!(welcome.role, Role::Viewer);
    assert_eq!(welcome.ancestors.len(), 1, "this node, for rejoining");

    let mut wrong = hello;
    wrong.protocol += 1;
    let (reply, answer) = oneshot::channel();
    door.send(DoorInput::Admit {
        hello: Box::new(wrong),
        reply,
    })
    .await
    .unwrap();
    assert!(matches!(
        answer.await.unwrap(),
        Err(Refusal::VersionMismatch { .. })
    ));

    // Glances show the same invite each time: minted once, not per glance.
    let mut status = driver(&r.graph, "window", &r.session.ports.status);
    let mut glance = || {
        let (reply, answer) = oneshot::channel();
        let sent = status.try_send(StatusInput::Glance(reply)).is_ok();
        async move {
            assert!(sent);
            answer.await.unwrap()
        }
    };
    let first = glance().await;
    let second = glance().await;
    assert_eq!(first.invites.len(), 2);
    assert_eq!(first.invites, second.invites);
    assert!(first.digest.is_none());
}

#[tokio::test]
async fn status_gathers_links_counts_and_digest() {
    let mut document = Document::new(host());
    document.apply(stroke_start(4, 1)).unwrap();
    let expected_digest = document.digest().to_string();
    let r = start(document);
    let _a = link_up(&r, 1, VersionVector::default()).await;
    let mut status = driver(&r.graph, "control", &r.session.ports.status);
    let (reply, answer) = oneshot::channel();
    status.send(StatusInput::Full(reply)).await.unwrap();
    let status = answer.await.unwrap();
    assert_eq!(status.ops, 1);
    assert_eq!(status.digest, Some(expected_digest));
    assert_eq!(status.children.len(), 1);
    assert_eq!(status.children[0].name, "peer1");
    assert!((status.children[0].rtt_ms - 3.0).abs() < 1e-9);
    assert_eq!(status.role, Some(Role::Editor));
    assert!(status.root);
}

/// Glances (a window's, ten a second) may reuse a stroke count made a moment ago
/// while ops keep coming — counting walks every stroke, on the task that serves
/// backlogs — but a full status always counts what is there.
#[tokio::test]
async fn a_full_status_counts_strokes_even_right_after_a_glance() {
    let r = start(Document::new(host()));
    let mut window = driver(&r.graph, "window", &r.session.ports.status);
    let mut glance = || {
        let (reply, answer) = oneshot::channel();
        let sent = window.try_send(StatusInput::Glance(reply)).is_ok();
        async move {
            assert!(sent);
            answer.await.unwrap()
        }
    };
    assert_eq!(glance().await.strokes, 0);
    let mut edits = driver(&r.graph, "script", &r.session.ports.document);
    edits
        .send(DocumentInput::Local(stroke_on_first_page()))
        .await
        .unwrap();
    while glance().await.ops < 3 {
        tokio::task::yield_now().await;
    }
    let mut control = driver(&r.graph, "control", &r.session.ports.status);
    let (reply, answer) = oneshot::channel();
    control.send(StatusInput::Full(reply)).await.unwrap();
    assert_eq!(answer.await.unwrap().strokes, 1);
}

/// Participant "cy"'s presence number `seq`.
fn cy_says(node: NodeId, seq: u64) -> Presence {
    Presence {
        node,
        seq,
        name: "cy".into(),
        color: Color::rgb(5, 5, 5),
        page: 0,
        cursor: None,
        role: None,
        muted: false,
    }
}

#[tokio::test]
async fn presence_news_goes_to_the_other_links_and_old_news_nowhere() {
    let r = start(Document::new(host()));
    let mut a = link_up(&r, 1, VersionVector::default()).await;
    let mut b = link_up(&r, 2, VersionVector::default()).await;
    let mut presence_in = driver(&r.graph, "link[1]/presence-in", &r.session.ports.presence);
    let cy = key();
    let session = r.session_key_id();
    let cy_node = session::author_id(&cy);
    let news = |seq| cy_says(cy_node, seq);
    // Skip this node's own announcements (heartbeats, and on link up).
    let others = |rx: &mut mpsc::UnboundedReceiver<PresenceNews>| {
        let mut found = Vec::new();
        while let Ok(PresenceNews { bytes, .. }) = rx.try_recv() {
            if let Ok(Datagram::Presence(p)) = Datagram::parse(&bytes) {
                if p.presence.node == cy_node {
                    found.push(p.presence.seq);
                }
            }
        }
        found
    };
    for seq in [2, 1, 3] {
        presence_in
            .send(PresenceInput::FromLink {
                link: 1,
                presence: news(seq),
                bytes: Datagram::presence(&news(seq), &cy, &session),
            })
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(others(&mut b.datagrams), vec![2, 3], "seq 1 was old news");
    assert_eq!(
        others(&mut a.datagrams),
        Vec::<u64>::new(),
        "not back to its origin"
    );

    // Someone on another link sends news of cy with the largest seq (it would silence
    // cy for good; its link's presence-in would drop it, unsigned by cy): cy is heard
    // on link 1, so this is ignored here too, and cy's own next news still goes
    // through.
    let mut forged = news(u64::MAX);
    forged.name = "impostor".into();
    presence_in
        .send(PresenceInput::FromLink {
            link: 2,
            presence: forged.clone(),
            bytes: Datagram::presence(&forged, &key(), &session),
        })
        .await
        .unwrap();
    presence_in
        .send(PresenceInput::FromLink {
            link: 1,
            presence: news(4),
            bytes: Datagram::presence(&news(4), &cy, &session),
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        others(&mut a.datagrams),
        Vec::<u64>::new(),
        "the forgery went nowhere"
    );
    assert_eq!(others(&mut b.datagrams), vec![4]);

    // Asking for a copy: the sync server answers from its replica.
    let mut sync = driver(&r.graph, "window", &r.session.ports.sync);
    let (reply, answer) = oneshot::channel();
    sync.send(SyncInput::Snapshot(reply)).await.unwrap();
    assert_eq!(answer.await.unwrap().local_node(), host());
}

/// A new link is told at once who is here — this node and everyone heard — rather
/// than at each participant's next heartbeat (every few seconds).
#[tokio::test]
async fn a_new_link_is_told_who_is_here_at_once() {
    let r = start(Document::new(host()));
    let _a = link_up(&r, 1, VersionVector::default()).await;
    let mut presence_in = driver(&r.graph, "link[1]/presence-in", &r.session.ports.presence);
    let cy = key();
    let session = r.session_key_id();
    let cy_node = session::author_id(&cy);
    let news = cy_says(cy_node, 5);
    presence_in
        .send(PresenceInput::FromLink {
            link: 1,
            presence: news.clone(),
            bytes: Datagram::presence(&news, &cy, &session),
        })
        .await
        .unwrap();
    let mut late = link_up(&r, 2, VersionVector::default()).await;
    let mut heard = std::collections::BTreeSet::new();
    while heard.len() < 2 {
        let PresenceNews { bytes, .. } = next(&mut late.datagrams).await;
        if let Ok(Datagram::Presence(p)) = Datagram::parse(&bytes) {
            if p.presence.node == cy_node {
                let cy_key = canopy_protocol::AuthorKey(public_key(&cy));
                assert!(p.verify(&cy_key, &session), "passed on as cy signed it");
            }
            heard.insert(p.presence.node);
        }
    }
    assert_eq!(heard, std::collections::BTreeSet::from([host(), cy_node]));
}

/// The door revokes an invite only with the session key; the router passes the
/// revocation to every link and closes those that came in with it. A revocation a
/// link passes on that the session key did not sign closes that link.
#[tokio::test]
async fn a_revocation_closes_the_links_it_covers_and_travels_to_the_rest() {
    let r = start(Document::new(host()));
    let session = r.session_key_id();
    let invite = r
        .authority
        .invite(&session, &r.node_key, Role::Editor, None, 77);
    let mut holder = link_up_with(&r, 1, VersionVector::new(), invite.grant_ids(&session)).await;
    let other = r
        .authority
        .invite(&session, &r.node_key, Role::Editor, None, 78);
    let mut bystander = link_up_with(&r, 2, VersionVector::new(), other.grant_ids(&session)).await;
    let mut door = driver(&r.graph, "control", &r.session.ports.door);

    assert!(matches!(
        revoke(&mut door, "no such thing").await,
        Err(canopy_node::session::door::RevokeError::BadName(_))
    ));

    assert_eq!(
        revoke(&mut door, &invite.to_token()).await,
        Ok(invite.grant_id(&session))
    );
    for link in [&mut holder, &mut bystander] {
        match message(link).await {
            Message::Revoke(revocation) => {
                assert_eq!(revocation.grant, invite.grant_id(&session));
                assert!(revocation.verify(&session).is_ok());
            }
            other => panic!("expected the revocation, got {other:?}"),
        }
    }
    assert_eq!(
        message(&mut holder).await,
        Message::Refused(Refusal::Revoked)
    );

    // The bystander passes on a revocation signed with some other key.
    let forged =
        canopy_protocol::Revocation::sign(&key(), &session, other.grant_id(&session), Vec::new());
    door.send(DoorInput::Revoked {
        revocation: Box::new(forged),
        from: 2,
    })
    .await
    .unwrap();
    match message(&mut bystander).await {
        Message::Refused(Refusal::Protocol(reason)) => {
            assert!(reason.contains("session key"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    // A link that comes up later is told what was revoked before.
    let mut newcomer = link_up(&r, 3, VersionVector::new()).await;
    let revoked = next_revocation(&mut newcomer).await;
    assert_eq!(revoked.grant, invite.grant_id(&session));
    assert!(revoked.verify(&session).is_ok());
}

/// The next revocation a link is sent, past any ops (a backlog) before it.
async fn next_revocation(link: &mut FakeLink) -> canopy_protocol::Revocation {
    loop {
        match message(link).await {
            Message::Revoke(revocation) => return revocation,
            Message::Ops(_) => continue,
            other => panic!("expected the revocation, got {other:?}"),
        }
    }
}

/// Asks the door to revoke what `named` names, as `canopy revoke` does.
async fn revoke(
    door: &mut canopy_axon::Outbox<DoorInput>,
    named: &str,
) -> Result<canopy_protocol::GrantId, canopy_node::session::door::RevokeError> {
    revoke_removing(door, named, false).await
}

/// [`revoke`], removing everything the grant's authors did if `remove_edits`.
async fn revoke_removing(
    door: &mut canopy_axon::Outbox<DoorInput>,
    named: &str,
    remove_edits: bool,
) -> Result<canopy_protocol::GrantId, canopy_node::session::door::RevokeError> {
    let (reply, answer) = oneshot::channel();
    door.send(DoorInput::Revoke {
        named: named.to_string(),
        remove_edits,
        reply,
    })
    .await
    .unwrap();
    answer.await.unwrap()
}

impl Running {
    fn session_key_id(&self) -> canopy_protocol::SessionId {
        canopy_protocol::SessionId(public_key(&self.session_key))
    }
}

/// The window asks to clear the page it shows; before that reaches the document,
/// someone adds a page in front of it. The clear must still land on the page the
/// person saw (by index it landed on the newcomer).
#[tokio::test]
async fn a_page_edit_lands_on_its_page_when_others_add_pages_meanwhile() {
    let page_op = |node: u64, position: f64| {
        let mut op = stroke_start(node, 1);
        op.action = canopy_canvas::Action::NewPage { position };
        op
    };
    let mut document = Document::new(host());
    let shown = page_op(4, 10.0);
    document.apply(shown.clone()).unwrap();
    let shown = shown.id;
    let mut r = start(document);
    let _a = link_up(&r, 1, VersionVector::default()).await;

    // Someone's new page, placed between the first page and the one shown.
    let mut checker = driver(&r.graph, "link[1]/checker", &r.session.ports.document);
    let mut author = r.author();
    let mut inserted = author.start(1);
    inserted.action = canopy_canvas::Action::NewPage { position: 5.0 };
    checker
        .send(DocumentInput::FromLink {
            link: 1,
            runs: vec![author.run(&[inserted.clone()])],
            credit: Credit::free(),
        })
        .await
        .unwrap();
    assert!(matches!(next(&mut r.store).await, StoreInput::Ops(..)));

    // The window asked when the page shown was second in the order.
    let mut window = driver(&r.graph, "window", &r.session.ports.document);
    window
        .send(DocumentInput::Local(Edit::ClearPage(PageRef::Id(shown))))
        .await
        .unwrap();
    let cleared = match next(&mut r.store).await {
        StoreInput::Ops(_, ops, _) => ops[0].to_op().unwrap(),
        other => panic!("{other:?}"),
    };
    match cleared.action {
        canopy_canvas::Action::ClearPage { page, .. } => assert_eq!(page, shown),
        other => panic!("expected a clear, got {other:?}"),
    }
    // What an index would have meant now: the newcomer.
    let mut copy = Document::new(host());
    copy.apply(page_op(4, 10.0)).unwrap();
    copy.apply(inserted.clone()).unwrap();
    assert_eq!(PageRef::Nth(1).resolve(&copy), Ok(inserted.id));

    // A page that is gone is said so, and nothing is made.
    window
        .send(DocumentInput::Local(Edit::DeletePage(PageRef::Id(
            canopy_canvas::OpId {
                node: NodeId(77),
                seq: 1,
            },
        ))))
        .await
        .unwrap();
    quiet(&mut r.store).await;
}

#[tokio::test]
async fn the_exporter_renders_a_copy_from_the_sync_server() {
    let mut document = Document::new(host());
    let mut live = session::LiveStroke::default();
    stroke_on_first_page()
        .apply(&mut document, &mut live, &|_| false)
        .unwrap();
    let r = start(document);
    let mut exporter = driver(&r.graph, "control", &r.session.ports.exporter);
    let export = |format: &str, page: usize| {
        let (reply, answer) = oneshot::channel();
        (
            session::ExportRequest {
                format: format.into(),
                page,
                reply,
            },
            answer,
        )
    };
    let (request, answer) = export("svg", 0);
    exporter.send(request).await.unwrap();
    let svg = String::from_utf8(answer.await.unwrap().unwrap()).unwrap();
    assert!(svg.contains("<svg") && svg.contains("path"), "{svg}");
    let (request, answer) = export("svg", 3);
    exporter.send(request).await.unwrap();
    assert!(answer.await.unwrap().unwrap_err().contains("no page 3"));
    let (request, answer) = export("gif", 0);
    exporter.send(request).await.unwrap();
    assert!(answer
        .await
        .unwrap()
        .unwrap_err()
        .contains("unknown export format"));
}

/// A blind session takes runs its links' checkers did not read (no decoded op),
/// saves them and passes them on as they came, serves them to a late link with
/// their signatures, and leaves out a proven author's; it makes no edit, draws no
/// export, and its status shows a digest of what it holds, marked as such.
#[tokio::test]
async fn a_blind_session_holds_and_serves_ops_it_never_reads() {
    let mut r = start_blind();
    let mut bystander = link_up(&r, 2, VersionVector::new()).await;
    let mut author = r.author();
    let mut ops = vec![author.page(1)];
    ops.extend(author.stroke(2));
    let mut run = author.run(&ops);
    for checked in &mut run.ops {
        checked.op = None;
    }
    let sent: Vec<canopy_protocol::WireOp> = run.ops.iter().map(|c| c.wire.clone()).collect();
    from_link(&mut r, vec![run]).await;
    assert_eq!(saved_seqs(&mut r).await, vec![1, 2, 3, 4]);
    match message(&mut bystander).await {
        Message::Ops(ops) => assert_eq!(ops, sent, "passed on as they came"),
        other => panic!("expected the ops, got {other:?}"),
    }
    let mut late = link_up(&r, 3, VersionVector::new()).await;
    let mut backlog = Vec::new();
    while backlog.len() < sent.len() {
        if let Message::Ops(ops) = message(&mut late).await {
            backlog.extend(ops);
        }
    }
    assert_eq!(backlog, sent, "served as signed, signature and all");

    // No edits, no exports.
    let mut window = driver(&r.graph, "window", &r.session.ports.document);
    window
        .send(DocumentInput::Local(stroke_on_first_page()))
        .await
        .unwrap();
    quiet(&mut r.store).await;
    let mut exporter = driver(&r.graph, "control", &r.session.ports.exporter);
    let (reply, answer) = oneshot::channel();
    exporter
        .send(session::ExportRequest {
            format: "svg".into(),
            page: 0,
            reply,
        })
        .await
        .unwrap();
    let refused = answer.await.unwrap().unwrap_err();
    assert!(refused.contains("blind"), "{refused}");

    let mut status = driver(&r.graph, "control", &r.session.ports.status);
    let (reply, answer) = oneshot::channel();
    status.send(StatusInput::Full(reply)).await.unwrap();
    let status = answer.await.unwrap();
    assert_eq!(status.ops, 4);
    assert!(status.digest.unwrap().starts_with("held:"));

    // Proof that an author split its log (two signed heads at one op, found by
    // headers alone): its ops leave the replica.
    let unread = |mut run: session::Run| {
        for checked in &mut run.ops {
            checked.op = None;
        }
        run
    };
    let mut splitter = r.author();
    let first = unread(splitter.run(&[splitter.page(1)]));
    from_link(&mut r, vec![first]).await;
    assert_eq!(saved_seqs(&mut r).await, vec![1]);
    splitter.restart();
    let mut other = splitter.page(1);
    other.action = canopy_canvas::Action::NewPage { position: 9.0 };
    let second = unread(splitter.run(&[other]));
    from_link(&mut r, vec![second]).await;
    let seen = r
        .replica_seen_once(|seen| seen.get(splitter.node) == 0)
        .await;
    assert_eq!(seen.get(splitter.node), 0, "the author is left out");
    assert_eq!(seen.get(author.node), 4, "and no one else");
}

impl Running {
    /// This node itself, signing as it did before its file was lost.
    fn earlier_self(&self) -> TestAuthor {
        TestAuthor::with_key(host_key(), self.authority.clone(), self.session_key_id())
    }
}

/// Sends `runs` as if from link 1, and waits until they are saved.
async fn from_link(r: &mut Running, runs: Vec<session::Run>) {
    let mut checker = driver(&r.graph, "link[1]/checker", &r.session.ports.document);
    checker
        .send(DocumentInput::FromLink {
            link: 1,
            runs,
            credit: Credit::free(),
        })
        .await
        .unwrap();
}

/// The sequence numbers of the next ops saved.
async fn saved_seqs(r: &mut Running) -> Vec<u64> {
    match next(&mut r.store).await {
        StoreInput::Ops(_, ops, _) => ops.iter().map(|op| op.id.seq).collect(),
        other => panic!("expected ops, got {other:?}"),
    }
}

/// A node's own earlier ops come back from the tree (it lost its file): its log goes
/// on from them. Before, its signer stayed at 0 and every edit was refused.
#[tokio::test]
async fn own_ops_that_come_back_from_the_tree_are_where_the_log_goes_on() {
    let mut r = start(Document::new(host()));
    let mut earlier = r.earlier_self();
    // A whole stroke: a log that ended inside one would have it ended first.
    let ops = earlier.stroke(1);
    let run = earlier.run(&ops);
    from_link(&mut r, vec![run]).await;
    assert_eq!(saved_seqs(&mut r).await, vec![1, 2, 3]);
    let mut edits = driver(&r.graph, "script", &r.session.ports.document);
    edits
        .send(DocumentInput::Local(stroke_on_first_page()))
        .await
        .unwrap();
    assert_eq!(saved_seqs(&mut r).await, vec![4, 5, 6]);
    let table = session::Authors::read(&r.session.ports.authors);
    let tip = table.tip(host()).unwrap();
    assert_eq!((tip.tail.seq, tip.cut), (6, None), "one log, going on");
}

/// The parent says it holds ops of this node's that the node does not: an edit made
/// meanwhile waits for them, so it is numbered after them rather than a second log.
#[tokio::test]
async fn local_edits_wait_for_own_ops_the_parent_holds() {
    let mut r = start(Document::new(host()));
    let mut edits = driver(&r.graph, "script", &r.session.ports.document);
    edits.send(DocumentInput::OwnOpsUpstream(3)).await.unwrap();
    edits
        .send(DocumentInput::Local(stroke_on_first_page()))
        .await
        .unwrap();
    quiet(&mut r.store).await;
    let mut earlier = r.earlier_self();
    // A whole stroke: a log that ended inside one would have it ended first.
    let ops = earlier.stroke(1);
    let run = earlier.run(&ops);
    from_link(&mut r, vec![run]).await;
    assert_eq!(saved_seqs(&mut r).await, vec![1, 2, 3]);
    assert_eq!(
        saved_seqs(&mut r).await,
        vec![4, 5, 6],
        "the edit that waited"
    );
    let table = session::Authors::read(&r.session.ports.authors);
    assert_eq!(table.cut_off(), Vec::<NodeId>::new());
}

/// A parent that claims ops it never sends holds local edits for the deadline only.
#[tokio::test]
async fn local_edits_wait_for_own_ops_no_longer_than_the_deadline() {
    let wait = Duration::from_millis(400);
    let limits = SessionLimits {
        own_ops_wait: wait,
        ..SessionLimits::default()
    };
    let mut r = start_with(Document::new(host()), limits);
    let mut edits = driver(&r.graph, "script", &r.session.ports.document);
    edits
        .send(DocumentInput::OwnOpsUpstream(1_000))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    edits
        .send(DocumentInput::Local(stroke_on_first_page()))
        .await
        .unwrap();
    assert_eq!(saved_seqs(&mut r).await, vec![1, 2, 3]);
    assert!(started.elapsed() >= wait, "the edit waited");
    edits
        .send(DocumentInput::Local(stroke_on_first_page()))
        .await
        .unwrap();
    assert_eq!(saved_seqs(&mut r).await, vec![4, 5, 6], "no more waiting");
}

/// Edits queued behind one another (a script, a window drawing faster than the
/// document applies) are signed as one batch: every receiver checks one signature,
/// not one per edit. (The test's runtime runs one task at a time, so all fifty are
/// queued before the document looks.)
#[tokio::test]
async fn local_edits_queued_together_are_signed_as_one_batch() {
    let mut r = start(Document::new(host()));
    let mut edits = driver(&r.graph, "script", &r.session.ports.document);
    for _ in 0..50 {
        edits
            .send(DocumentInput::Local(stroke_on_first_page()))
            .await
            .unwrap();
    }
    match next(&mut r.store).await {
        StoreInput::Ops(_, ops, kept) => {
            assert_eq!(ops.len(), 150, "fifty strokes in one batch");
            let signed = ops.iter().filter(|op| op.signature.is_some()).count();
            assert_eq!(
                (signed, kept.kept.len()),
                (1, 1),
                "one signature for the batch"
            );
        }
        other => panic!("{other:?}"),
    }
}

impl Running {
    /// How far the sync replica holds each author's ops, once `settled` says so (a
    /// revocation reaches the replica through the document, after the door).
    async fn replica_seen_once(&self, settled: impl Fn(&VersionVector) -> bool) -> VersionVector {
        let mut sync = driver(&self.graph, "control", &self.session.ports.sync);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let (reply, answer) = oneshot::channel();
            sync.send(SyncInput::Seen(reply)).await.unwrap();
            let seen = answer.await.unwrap();
            if settled(&seen) || tokio::time::Instant::now() > deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The host revokes an editor's grant: the revocation names where the editor's log
/// ends (what the host holds, with the editor's signature there), and whatever of its
/// log comes after, by any link, is taken nowhere. A link that comes up later gets the
/// kept ops, the last carrying that signature.
#[tokio::test]
async fn a_revoked_editors_log_ends_where_the_host_held_it() {
    let mut r = start(Document::new(host()));
    let session = r.session_key_id();
    let mut bystander = link_up(&r, 2, VersionVector::new()).await;
    let mut author = r.author();
    // Pages: a log that ends inside a stroke is cut before the stroke (the tests
    // after this one), and this one is about where the host held the log.
    let ops: Vec<_> = (1..=5).map(|seq| author.page(seq)).collect();
    let kept_run = author.run(&ops[..3]);
    let (_, head, signature) = *kept_run.verified.keep.last().unwrap();
    from_link(&mut r, vec![kept_run]).await;
    assert_eq!(saved_seqs(&mut r).await, vec![1, 2, 3]);

    let grant = *author.authority.grant_ids(&session).last().unwrap();
    let mut door = driver(&r.graph, "control", &r.session.ports.door);
    assert_eq!(revoke(&mut door, &grant.to_string()).await, Ok(grant));
    let revocation = next_revocation(&mut bystander).await;
    assert_eq!(revocation.verify(&session), Ok(()));
    assert_eq!(
        revocation.kept,
        Some(vec![canopy_protocol::Kept {
            author: public_key(&author.key),
            seq: 3,
            head,
            signature: Some(signature),
        }])
    );

    // The editor's next ops, passed on by some other link: taken nowhere.
    from_link(&mut r, vec![author.run(&ops[3..])]).await;
    let other = only_the_next_author_is_taken(&mut r).await;
    let seen = r.replica_seen_once(|seen| seen.get(other) == 1).await;
    assert_eq!(seen.get(author.node), 3);

    let mut late = link_up(&r, 3, VersionVector::new()).await;
    let mut backlog = Vec::new();
    while backlog
        .iter()
        .filter(|w: &&canopy_protocol::WireOp| w.id.node == author.node)
        .count()
        < 3
    {
        match message(&mut late).await {
            Message::Ops(ops) => backlog.extend(ops),
            _ => continue,
        }
    }
    let last = backlog.iter().rfind(|w| w.id.node == author.node).unwrap();
    assert_eq!((last.id.seq, last.signature), (3, Some(signature)));
}

/// A revocation never cuts inside a stroke that may still be sealed: one replica may
/// hold the stroke's ops and another its seal, and both must keep the same of it. The
/// editor's log ends before the open stroke's start, where its signature was kept.
#[tokio::test]
async fn a_revocation_cuts_before_a_stroke_still_open() {
    a_revocation_cuts_before_a_stroke_that_took(2, "the open stroke is left out").await;
}

/// A log that ends at a stroke's start is cut before it too: the stroke may be sealed
/// by the time the revocation arrives, and a holder of its seal that cannot read
/// content (a blind relay) could not keep the start alone, as readers would.
#[tokio::test]
async fn a_revocation_cuts_before_a_stroke_that_only_started() {
    a_revocation_cuts_before_a_stroke_that_took(1, "the start is left out").await;
}

/// An editor's page, then the first `ops` ops of a stroke; its grant revoked: the
/// cut-off keeps the page alone, at its signed head.
async fn a_revocation_cuts_before_a_stroke_that_took(ops: usize, why: &str) {
    let mut r = start(Document::new(host()));
    let session = r.session_key_id();
    let mut bystander = link_up(&r, 2, VersionVector::new()).await;
    let mut author = r.author();
    let page_run = author.run(&[author.page(1)]);
    let (_, head, signature) = *page_run.verified.keep.last().unwrap();
    let stroke = author.stroke(2);
    let open_run = author.run(&stroke[..ops]);
    from_link(&mut r, vec![page_run, open_run]).await;
    let saved: Vec<u64> = (1..=ops as u64 + 1).collect();
    assert_eq!(saved_seqs(&mut r).await, saved);

    let grant = *author.authority.grant_ids(&session).last().unwrap();
    let mut door = driver(&r.graph, "control", &r.session.ports.door);
    assert_eq!(revoke(&mut door, &grant.to_string()).await, Ok(grant));
    let revocation = next_revocation(&mut bystander).await;
    assert_eq!(
        revocation.kept,
        Some(vec![canopy_protocol::Kept {
            author: public_key(&author.key),
            seq: 1,
            head,
            signature: Some(signature),
        }])
    );
    let seen = r.replica_seen_once(|seen| seen.get(author.node) == 1).await;
    assert_eq!(seen.get(author.node), 1, "{why}");
}

/// A revocation reaches a replica that took more of the revoked author's log before
/// it: the ops past the cut-off leave the document and the replica, so it holds what
/// every other replica holds.
#[tokio::test]
async fn a_revocation_drops_what_a_replica_took_past_its_cut_off() {
    let mut r = start(Document::new(host()));
    let session = r.session_key_id();
    let _bystander = link_up(&r, 2, VersionVector::new()).await;
    let mut author = r.author();
    let ops: Vec<_> = (1..=6).map(|seq| author.start(seq)).collect();
    let kept_run = author.run(&ops[..3]);
    let (_, head, signature) = *kept_run.verified.keep.last().unwrap();
    let later_run = author.run(&ops[3..]);
    from_link(&mut r, vec![kept_run, later_run.clone()]).await;
    assert_eq!(saved_seqs(&mut r).await, (1..=6).collect::<Vec<_>>());

    let grant = *author.authority.grant_ids(&session).last().unwrap();
    let kept = canopy_protocol::Kept {
        author: public_key(&author.key),
        seq: 3,
        head,
        signature: Some(signature),
    };
    let revocation = canopy_protocol::Revocation::sign(&r.session_key, &session, grant, vec![kept]);
    let mut door = driver(&r.graph, "control", &r.session.ports.door);
    door.send(DoorInput::Revoked {
        revocation: Box::new(revocation),
        from: 2,
    })
    .await
    .unwrap();
    let seen = r.replica_seen_once(|seen| seen.get(author.node) == 3).await;
    assert_eq!(seen.get(author.node), 3, "the replica drops ops 4 to 6");
    // So does the file, keeping the signed head where the log now ends.
    match next(&mut r.store).await {
        StoreInput::Cut(cuts) => {
            assert_eq!(cuts, vec![(author.node, 3, Some((head, signature)))])
        }
        other => panic!("expected the file's cut, got {other:?}"),
    }

    // The document dropped them too: ops 4 to 6 come again, and are not taken.
    from_link(&mut r, vec![later_run]).await;
    only_the_next_author_is_taken(&mut r).await;
}

/// The host revokes an editor and removes its edits: the revocation keeps nothing of
/// its log, so every replica drops all of it (here: the document and the sync
/// replica), and its ops, brought again by any link, are taken nowhere. Asking again
/// for a grant already revoked is refused with the reason: a grant is revoked once.
#[tokio::test]
async fn a_revocation_that_removes_edits_drops_all_of_the_authors_ops() {
    let mut r = start(Document::new(host()));
    let session = r.session_key_id();
    let mut bystander = link_up(&r, 2, VersionVector::new()).await;
    let mut author = r.author();
    let ops: Vec<_> = (1..=4).map(|seq| author.start(seq)).collect();
    let run = author.run(&ops);
    from_link(&mut r, vec![run.clone()]).await;
    assert_eq!(saved_seqs(&mut r).await, vec![1, 2, 3, 4]);
    let seen = r.replica_seen_once(|seen| seen.get(author.node) == 4).await;
    assert_eq!(seen.get(author.node), 4);

    let grant = *author.authority.grant_ids(&session).last().unwrap();
    let mut door = driver(&r.graph, "control", &r.session.ports.door);
    assert_eq!(
        revoke_removing(&mut door, &grant.to_string(), true).await,
        Ok(grant)
    );
    let revocation = next_revocation(&mut bystander).await;
    assert_eq!(revocation.verify(&session), Ok(()));
    assert_eq!(revocation.kept, Some(Vec::new()), "nothing of anyone kept");
    let seen = r.replica_seen_once(|seen| seen.get(author.node) == 0).await;
    assert_eq!(seen.get(author.node), 0, "the replica drops all of it");
    match next(&mut r.store).await {
        StoreInput::Cut(cuts) => assert_eq!(cuts, vec![(author.node, 0, None)], "the file too"),
        other => panic!("expected the file's cut, got {other:?}"),
    }

    // The document dropped it too: the ops come again, and are not taken.
    from_link(&mut r, vec![run]).await;
    only_the_next_author_is_taken(&mut r).await;

    assert_eq!(
        revoke_removing(&mut door, &grant.to_string(), true).await,
        Err(canopy_node::session::door::RevokeError::AlreadyRevoked(
            grant
        ))
    );
}

/// A new author's op comes after ops sent before it: the next ops saved are its alone
/// (so those before were not taken). Returns that author.
async fn only_the_next_author_is_taken(r: &mut Running) -> NodeId {
    let mut other = r.author();
    from_link(r, vec![other.run(&[other.start(1)])]).await;
    assert_eq!(saved_seqs(r).await, vec![1], "only the other author's op");
    other.node
}
