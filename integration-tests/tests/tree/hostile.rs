//! The hostile-peer suite: an attacker client of our own (linking `canopy-node`'s TLS
//! settings and `canopy-protocol`) against real `canopy` processes. First strangers
//! speaking raw QUIC before any invite, then admitted editors sending ops built to
//! hurt.

use std::time::Duration;

use canopy_canvas::{Action, Color, NodeId, Op, OpId, Point, Tool, VersionVector, FIRST_PAGE};
use canopy_protocol::{
    encode, public_key, AuthorKey, Datagram, Hello, JoinUrl, Message, Presence, Signer, WireOp,
    PROTOCOL_VERSION,
};

use crate::util::{assert_converged, block_on, script, wait_until, Node};

/// Connects to `url`'s node as a stranger would: TLS pinned to its fingerprint, no
/// hello.
async fn stranger(url: &str) -> (quinn::Endpoint, quinn::Connection) {
    let (endpoint, connection) = try_stranger(url).await;
    (endpoint, connection.unwrap())
}

/// [`stranger`], or why the node would not have it.
async fn try_stranger(
    url: &str,
) -> (
    quinn::Endpoint,
    Result<quinn::Connection, quinn::ConnectionError>,
) {
    let url: JoinUrl = url.parse().unwrap();
    let (config, _) =
        canopy_node::tls::client_config(url.fingerprint.unwrap(), Duration::from_secs(20)).unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(config);
    let address = format!("{}:{}", url.host, url.port).parse().unwrap();
    let connection = endpoint.connect(address, "canopy").unwrap().await;
    (endpoint, connection)
}

/// quinn's defaults would let one connection open a hundred streams and fill each
/// with a megabyte before saying anything; a link is one stream.
#[test]
fn a_stranger_gets_one_stream_and_a_hellos_worth_of_window() {
    let host = Node::host("host", &["--no-audio"]);
    let url = host.editor_url().to_string();
    block_on(async move {
        let (_endpoint, connection) = stranger(&url).await;
        // The one stream a link has: opened, and nothing said on it.
        let (mut first, _first_recv) = connection.open_bi().await.unwrap();
        first.write_all(&[0]).await.unwrap();
        // A second stream is not granted.
        let second = tokio::time::timeout(Duration::from_secs(2), connection.open_bi()).await;
        assert!(second.is_err(), "a second stream was opened");
        // On the first, a frame that announces a megabyte and never ends: the node
        // reads at most that frame and one connection window, then waits.
        first
            .write_all(&(1u32 << 20).to_be_bytes()[1..])
            .await
            .unwrap();
        let chunk = vec![7u8; 16 * 1024];
        let mut written = 0usize;
        let flooding = async {
            while let Ok(n) = first.write(&chunk).await {
                written += n;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(3), flooding).await;
        assert!(
            written < (1 << 20) + 256 * 1024,
            "a stranger got {written} bytes in before saying hello"
        );
    });
    // The node is none the worse: an honest joiner still gets in.
    let honest = Node::join("honest", host.editor_url(), &["--no-audio"]);
    assert_eq!(honest.status()["role"], "editor");
}

/// Strangers that connect and say nothing hold at most their address's share of the
/// handshake slots (joiners from other addresses keep the rest); more from the same
/// address are refused at once.
#[test]
fn silent_strangers_from_one_address_hold_only_its_share_of_the_slots() {
    let host = Node::host("host", &["--no-audio"]);
    let url = host.editor_url().to_string();
    block_on(async move {
        let mut held = Vec::new();
        for _ in 0..canopy_node::link::slots::MAX_PER_ADDRESS {
            held.push(stranger(&url).await);
        }
        let (_endpoint, refused) = try_stranger(&url).await;
        assert!(
            matches!(refused, Err(quinn::ConnectionError::ConnectionClosed(_))),
            "one stranger more than the share was let in: {refused:?}"
        );
        // Their slots come back when they leave (or at the handshake deadline).
        for (endpoint, connection) in held {
            connection.close(0u32.into(), b"bye");
            let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
        }
    });
    let honest = Node::join("honest", host.editor_url(), &["--no-audio"]);
    assert_eq!(honest.status()["role"], "editor");
}

/// A hello to `session` naming the node whose key is `node_key`, as `name`, with
/// `invite` (what it proves of that key is up to the handshake).
fn hello_as(
    session: canopy_protocol::SessionId,
    node_key: [u8; 32],
    name: &str,
    invite: canopy_protocol::Invite,
) -> Hello {
    Hello {
        protocol: PROTOCOL_VERSION,
        session,
        node: AuthorKey(node_key).node_id(),
        node_key,
        name: name.into(),
        invite,
        seen: VersionVector::new(),
    }
}

/// An admitted participant that sends whatever it likes: its own ops signed with its
/// own key (built to hurt), or anything at all on the wire.
pub(crate) struct Attacker {
    key: ring::signature::Ed25519KeyPair,
    pub(crate) node: NodeId,
    session: canopy_protocol::SessionId,
    signer: Signer,
    /// The authority its parent gave it.
    authority: canopy_protocol::Authority,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    /// What the node sent, read on from the handshake (which may have read past
    /// the welcome).
    decoder: canopy_protocol::FrameDecoder,
    _connection: quinn::Connection,
    _endpoint: quinn::Endpoint,
}

impl Attacker {
    /// Joins `url`'s node with its invite, with a fresh key.
    pub(crate) async fn join(url: &str) -> Attacker {
        let pkcs8 =
            ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                .unwrap();
        Self::join_with(url, pkcs8.as_ref()).await
    }

    /// Joins `url`'s node with its invite, with the key in `pkcs8` (the same key may
    /// join twice, at two places).
    async fn join_with(url: &str, pkcs8: &[u8]) -> Attacker {
        let url: JoinUrl = url.parse().unwrap();
        let (endpoint, connection) = crate::util::raw_connection(&url).await;
        let key = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8).unwrap();
        let author = AuthorKey(public_key(&key));
        let hello = hello_as(url.session, author.0, "attacker", url.invite.clone());
        let (welcome, send, recv, decoder) =
            canopy_node::link::join_handshake(&connection, &hello, &key)
                .await
                .unwrap();
        Attacker {
            node: author.node_id(),
            session: url.session,
            signer: Signer::fresh(url.session, author),
            authority: welcome.authority,
            key,
            send,
            recv,
            decoder,
            _connection: connection,
            _endpoint: endpoint,
        }
    }

    /// Sends `ops` (its own, in order) signed as an honest author would: each message
    /// ends at a signed op, and every checkpoint is signed.
    pub(crate) async fn send(&mut self, ops: &[Op], per_message: usize) {
        for batch in ops.chunks(per_message) {
            let (wire, _) = self.signer.sign_batch(&self.key, batch).unwrap();
            self.send_wire(wire).await;
        }
    }

    /// Signs `(seq, lamport, payload)` as its next ops, each with its signature,
    /// whatever the payloads hold (content scrambled past its header, say).
    pub(crate) fn sign_payloads(&mut self, ops: &[(u64, u64, Vec<u8>)]) -> Vec<WireOp> {
        ops.iter()
            .map(|(seq, lamport, payload)| {
                let (_, signature) = self
                    .signer
                    .sign(&self.key, *seq, *lamport, payload)
                    .unwrap();
                WireOp {
                    id: OpId {
                        node: self.node,
                        seq: *seq,
                    },
                    lamport: *lamport,
                    payload: payload.clone(),
                    signature: Some(signature),
                }
            })
            .collect()
    }

    /// The ops the node sends it (a backlog, then live ones), until `count` of
    /// `author`'s have come or `within` is over.
    pub(crate) async fn ops_of(
        &mut self,
        author: NodeId,
        count: usize,
        within: Duration,
    ) -> Vec<WireOp> {
        let decoder = &mut self.decoder;
        let mut buffer = vec![0u8; 64 * 1024];
        let deadline = tokio::time::Instant::now() + within;
        let mut ops = Vec::new();
        loop {
            while let Ok(Some(message)) = decoder.next_message() {
                if let Message::Ops(wires) = message {
                    ops.extend(wires.into_iter().filter(|w| w.id.node == author));
                }
            }
            if ops.len() >= count {
                return ops;
            }
            let read = tokio::time::timeout_at(deadline, self.recv.read(&mut buffer)).await;
            match read {
                Ok(Ok(Some(n))) => decoder.push(&buffer[..n]),
                _ => return ops,
            }
        }
    }

    /// Sends ops exactly as given (signed or not).
    pub(crate) async fn send_wire(&mut self, wire: Vec<WireOp>) {
        self.send_message(&Message::Ops(wire)).await;
    }

    async fn send_message(&mut self, message: &Message) {
        self.send
            .write_all(&encode(message).unwrap())
            .await
            .unwrap();
    }

    /// What the node says before closing the link (within `within`).
    pub(crate) async fn refusal(&mut self, within: Duration) -> Option<canopy_protocol::Refusal> {
        let decoder = &mut self.decoder;
        let mut buffer = vec![0u8; 64 * 1024];
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Ok(Some(message)) = decoder.next_message() {
                if let Message::Refused(refusal) = message {
                    return Some(refusal);
                }
            }
            let read = tokio::time::timeout_at(deadline, self.recv.read(&mut buffer)).await;
            match read {
                Ok(Ok(Some(n))) => decoder.push(&buffer[..n]),
                _ => return None,
            }
        }
    }

    /// The attacker's op number `seq` (Lamport clock the same).
    pub(crate) fn op(&self, seq: u64, action: Action) -> Op {
        Op {
            id: OpId {
                node: self.node,
                seq,
            },
            lamport: seq,
            action,
        }
    }
}

/// A host, and an honest editor joined to it that draws `strokes` strokes, `gap_ms`
/// apart, after the script steps in `before` (the scripts' folder is returned to
/// outlive them).
fn host_and_honest(strokes: usize, gap_ms: u64, before: &str) -> (tempfile::TempDir, Node, Node) {
    let scripts = tempfile::tempdir().unwrap();
    let host = Node::host("host", &["--no-audio"]);
    let honest = Node::join(
        "honest",
        host.editor_url(),
        &[
            "--no-audio",
            "--draw",
            script(scripts.path(), "h", strokes, gap_ms, before)
                .to_str()
                .unwrap(),
        ],
    );
    (scripts, host, honest)
}

fn strokes_of(node: &Node) -> u64 {
    node.try_status()
        .and_then(|s| s["strokes"].as_u64())
        .unwrap_or(0)
}

/// While `honest` draws a stroke every 100 ms, its strokes keep reaching `host`
/// within 2 s (`extra` strokes on the host are the attacker's): sampled a few times.
fn honest_strokes_keep_arriving(host: &Node, honest: &Node, extra: u64) {
    for _ in 0..3 {
        let drawn = strokes_of(honest);
        assert!(
            wait_until(Duration::from_secs(2), || strokes_of(host) >= drawn + extra),
            "the host fell behind the honest editor: {} strokes there, {drawn} drawn",
            strokes_of(host).saturating_sub(extra)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// 100,000 one-point chunks of one stroke, last first: each used to shift every chunk
/// held before it, holding the node's document for seconds (minutes in a debug build).
#[test]
fn point_chunks_sent_backwards_do_not_freeze_the_node() {
    const CHUNKS: u32 = 100_000;
    let (_scripts, host, honest) = host_and_honest(60, 100, r#"{"sleep_ms":1000}"#);
    let url = host.editor_url().to_string();
    let attack = std::thread::spawn(move || {
        block_on(async move {
            let mut attacker = Attacker::join(&url).await;
            let stroke = OpId {
                node: attacker.node,
                seq: 1,
            };
            let mut ops = vec![attacker.op(
                1,
                Action::StrokeStart {
                    page: FIRST_PAGE,
                    tool: Tool::Pen,
                    color: Color::rgb(200, 0, 0),
                    width: 2.0,
                },
            )];
            for (n, offset) in (0..CHUNKS).rev().enumerate() {
                ops.push(attacker.op(
                    n as u64 + 2,
                    Action::StrokePoints {
                        stroke,
                        offset,
                        points: vec![Point::new(offset as f32 / 100.0, 10.0)],
                    },
                ));
            }
            attacker.send(&ops, 2_000).await;
            // Stay connected while the honest editor draws.
            tokio::time::sleep(Duration::from_secs(6)).await;
        })
    });
    std::thread::sleep(Duration::from_millis(1500));
    honest_strokes_keep_arriving(&host, &honest, 1);
    attack.join().unwrap();
    assert_converged(&[&host, &honest], 61, Duration::from_secs(30));
    assert_eq!(
        host.status()["ops"].as_u64().unwrap(),
        60 * 3 + 1 + u64::from(CHUNKS),
        "every chunk was taken"
    );
}

/// A stroke ended twice, with two point counts: a holder kept the last count and
/// served the first end with it, so every backlog holding it failed its author's
/// signature at the joiner, and no one could join the session again.
#[test]
fn a_stroke_ended_twice_is_served_as_it_was_signed() {
    let host = Node::host("host", &["--no-audio"]);
    let url = host.editor_url().to_string();
    block_on(async move {
        let mut attacker = Attacker::join(&url).await;
        let stroke = OpId {
            node: attacker.node,
            seq: 1,
        };
        let ops = [
            attacker.op(
                1,
                Action::StrokeStart {
                    page: FIRST_PAGE,
                    tool: Tool::Pen,
                    color: Color::rgb(200, 0, 0),
                    width: 2.0,
                },
            ),
            attacker.op(
                2,
                Action::StrokePoints {
                    stroke,
                    offset: 0,
                    points: vec![Point::new(10.0, 10.0)],
                },
            ),
            attacker.op(3, Action::StrokeEnd { stroke, points: 1 }),
            attacker.op(4, Action::StrokeEnd { stroke, points: 7 }),
        ];
        attacker.send(&ops, 4).await;
        // Stay until the host holds them.
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    assert!(wait_until(Duration::from_secs(10), || host
        .try_status()
        .is_some_and(|s| s["ops"] == 4)));
    let joiner = Node::join("joiner", host.editor_url(), &["--no-audio"]);
    assert_converged(&[&host, &joiner], 1, Duration::from_secs(20));
}

/// 1,500 ops naming pages that never existed (moves, deletes, clears) used to fill
/// the page cap with placeholders, and then nobody could add a page.
#[test]
fn ops_naming_pages_that_never_existed_do_not_fill_the_page_cap() {
    let scripts = tempfile::tempdir().unwrap();
    let host = Node::host("host", &["--no-audio"]);
    let script_path = scripts.path().join("pages.jsonl");
    std::fs::write(
        &script_path,
        "{\"sleep_ms\":2500}\n{\"new_page\":{}}\n{\"new_page\":{}}\n",
    )
    .unwrap();
    let honest = Node::join(
        "honest",
        host.editor_url(),
        &["--no-audio", "--draw", script_path.to_str().unwrap()],
    );
    let url = host.editor_url().to_string();
    block_on(async move {
        let mut attacker = Attacker::join(&url).await;
        let ops: Vec<Op> = (1..=1_500u64)
            .map(|seq| {
                let ghost = OpId {
                    node: attacker.node,
                    seq: 1_000_000 + seq,
                };
                let action = match seq % 3 {
                    0 => Action::MovePage {
                        page: ghost,
                        position: seq as f64,
                    },
                    1 => Action::DeletePage { page: ghost },
                    _ => Action::ClearPage {
                        page: ghost,
                        seen: VersionVector::new(),
                    },
                };
                attacker.op(seq, action)
            })
            .collect();
        attacker.send(&ops, 500).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    let pages = |node: &Node| node.try_status().and_then(|s| s["pages"].as_u64());
    assert!(
        wait_until(Duration::from_secs(20), || pages(&host) == Some(3)
            && pages(&honest) == Some(3)),
        "pages: host {:?}, honest {:?}\n{}",
        pages(&host),
        pages(&honest),
        honest.log()
    );
    assert_converged(&[&host, &honest], 0, Duration::from_secs(10));
}

/// An editor fills the page cap with 1,200 new pages of its own (the lowest clocks,
/// so they rank first): nobody can add a page. The host revokes its invite with
/// `--remove-edits`: its pages leave every replica, and an honest editor adds pages
/// again; every node agrees.
#[test]
fn an_editor_that_fills_the_page_cap_is_removed_with_its_pages() {
    let host = Node::host("host", &["--no-audio"]);
    let viewer = Node::join("viewer", host.viewer_url(), &["--no-audio"]);
    let url = host.editor_url().to_string();
    block_on(async move {
        let mut attacker = Attacker::join(&url).await;
        let ops: Vec<Op> = (1..=1_200u64)
            .map(|seq| {
                attacker.op(
                    seq,
                    Action::NewPage {
                        position: seq as f64,
                    },
                )
            })
            .collect();
        attacker.send(&ops, 400).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    let pages = |node: &Node| node.try_status().and_then(|s| s["pages"].as_u64());
    assert!(
        wait_until(Duration::from_secs(20), || pages(&host) == Some(1_000)
            && pages(&viewer) == Some(1_000)),
        "the cap is full: host {:?}, viewer {:?}",
        pages(&host),
        pages(&viewer)
    );

    let done = crate::revocation::revoke_with(&host, host.editor_url(), &["--remove-edits"]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(
        wait_until(Duration::from_secs(20), || pages(&host) == Some(1)
            && pages(&viewer) == Some(1)),
        "the vandal's pages are gone: host {:?}, viewer {:?}",
        pages(&host),
        pages(&viewer)
    );

    // An honest editor, with the editor invite that took the revoked one's place,
    // adds pages again.
    let renewed = host.status()["invites"]["editor"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(renewed, host.editor_url());
    let scripts = tempfile::tempdir().unwrap();
    let adding = scripts.path().join("pages.jsonl");
    std::fs::write(&adding, "{\"new_page\":{}}\n{\"new_page\":{}}\n").unwrap();
    let honest = Node::join(
        "honest",
        &renewed,
        &["--no-audio", "--draw", adding.to_str().unwrap()],
    );
    assert!(
        wait_until(Duration::from_secs(20), || [&host, &viewer, &honest]
            .iter()
            .all(|n| pages(n) == Some(3))),
        "pages: host {:?}, viewer {:?}, honest {:?}\n{}",
        pages(&host),
        pages(&viewer),
        pages(&honest),
        honest.log()
    );
    assert_converged(&[&host, &viewer, &honest], 0, Duration::from_secs(10));
}

/// `node`'s document identity and how many ops of its own the host holds.
fn identity_of(node: &Node, seen_at: &Node) -> (NodeId, u64) {
    let hex = node.status()["node"].as_str().unwrap().to_string();
    let id = NodeId(u64::from_str_radix(&hex, 16).unwrap());
    let held = seen_at.status()["version_vector"][&hex]
        .as_u64()
        .unwrap_or(0);
    (id, held)
}

/// An editor sends an `Undo` of someone else's stroke in that person's name: it used
/// to be taken and the stroke vanished everywhere. Now an op counts only with its
/// author's signature: the forger's link is closed and the stroke stays.
#[test]
fn an_undo_in_someone_elses_name_is_refused() {
    let (_scripts, host, honest) = host_and_honest(5, 0, "");
    assert_converged(&[&host, &honest], 5, Duration::from_secs(20));
    let (victim, held) = identity_of(&honest, &host);
    let url = host.editor_url().to_string();
    let refusal = block_on(async move {
        let mut attacker = Attacker::join(&url).await;
        let undo = Op {
            id: OpId {
                node: victim,
                seq: held + 1,
            },
            lamport: 1_000,
            action: Action::Undo {
                target: OpId {
                    node: victim,
                    seq: 1,
                },
            },
        };
        // Unsigned, then signed with the forger's own key: neither is the victim's.
        let mut wire = WireOp::from_op(&undo);
        attacker.send_wire(vec![wire.clone()]).await;
        let head = canopy_protocol::Head::genesis(&attacker.session, &AuthorKey([0; 32])).next(
            undo.id.seq,
            undo.lamport,
            &wire.payload,
        );
        wire.signature = Some(canopy_protocol::Signature::sign(
            &attacker.key,
            &attacker.session,
            undo.id.seq,
            &head,
        ));
        attacker.send_wire(vec![wire]).await;
        attacker.refusal(Duration::from_secs(10)).await
    });
    let refusal = refusal.expect("the forger's link stayed open");
    assert!(
        refusal.to_string().contains("not what its author signed"),
        "{refusal}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_converged(&[&host, &honest], 5, Duration::from_secs(10));
}

/// The same author's op 1, in two versions it signed both (different colours).
fn two_versions(attacker: &Attacker, red: u8) -> Vec<Op> {
    vec![attacker.op(
        1,
        Action::StrokeStart {
            page: FIRST_PAGE,
            tool: Tool::Pen,
            color: Color::rgb(red, 0, 0),
            width: 2.0,
        },
    )]
}

/// Both nodes show none of the author's strokes and agree, each says the author
/// signed two logs, and the child still has its parent (no honest link closed).
fn assert_left_out_everywhere(host: &Node, child: &Node) {
    assert_converged(&[host, child], 0, Duration::from_secs(10));
    for node in [host, child] {
        assert!(
            node.log().contains("signed two different logs"),
            "{}",
            node.log()
        );
    }
    assert!(has_parent(child), "an honest link was closed");
}

/// The author's second log (`ops`) sent to `url`'s node with its key, then 2 s for
/// it to spread.
fn second_log_at(url: &str, key: &[u8], ops: fn(&Attacker) -> Vec<Op>) {
    block_on(async move {
        let mut second = Attacker::join_with(url, key).await;
        let ops = ops(&second);
        second.send(&ops, 10).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
}

fn has_parent(node: &Node) -> bool {
    node.try_status().is_some_and(|s| !s["parent"].is_null())
}

/// One author signs two different ops with the same number and gives one to each of
/// two nodes, the second after the first has spread: the node that holds the first
/// finds the proof, every node leaves that author out, and no honest link is closed.
/// A host and a child, and an author whose first log (`first_log`, one stroke) went
/// in at the host and reached both: where each split-log test starts. The first
/// link stays open for 8 s.
struct FirstLogSpread {
    host: Node,
    child: Node,
    key: Vec<u8>,
    first: std::thread::JoinHandle<()>,
}

fn first_log_spread(first_log: fn(&Attacker) -> Vec<Op>) -> FirstLogSpread {
    let host = Node::host("host", &["--no-audio"]);
    let child = Node::join("child", host.editor_url(), &["--no-audio"]);
    let pkcs8 =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let key = pkcs8.as_ref().to_vec();
    let (host_url, first_key) = (host.editor_url().to_string(), key.clone());
    let first = std::thread::spawn(move || {
        block_on(async move {
            let mut first = Attacker::join_with(&host_url, &first_key).await;
            let ops = first_log(&first);
            first.send(&ops, 10).await;
            tokio::time::sleep(Duration::from_secs(8)).await;
        })
    });
    assert_converged(&[&host, &child], 1, Duration::from_secs(10));
    FirstLogSpread {
        host,
        child,
        key,
        first,
    }
}

#[test]
fn an_author_that_signs_two_logs_is_left_out_everywhere() {
    let FirstLogSpread {
        host,
        child,
        key,
        first,
    } = first_log_spread(|attacker| two_versions(attacker, 200));
    let child_url = child.editor_url().to_string();
    block_on(async move {
        let mut second = Attacker::join_with(&child_url, &key).await;
        let ops = two_versions(&second, 10);
        second.send(&ops, 10).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    assert_left_out_everywhere(&host, &child);
    first.join().unwrap();
}

/// The same, where the second log goes on past the split with a sealed stroke, all
/// signed once at the seal: the proof runs through the seal (hashed on from the head
/// before its stroke, which the proof holds), so the author is still left out
/// everywhere.
#[test]
fn an_author_that_signs_two_logs_is_left_out_even_through_a_seal() {
    let FirstLogSpread {
        host,
        child,
        key,
        first,
    } = first_log_spread(|attacker| two_versions(attacker, 200));
    let child_url = child.editor_url().to_string();
    block_on(async move {
        let mut second = Attacker::join_with(&child_url, &key).await;
        let stroke = OpId {
            node: second.node,
            seq: 2,
        };
        let points = vec![Point::new(1.0, 1.0), Point::new(2.0, 2.0)];
        let ops = vec![
            second.op(1, Action::NewPage { position: 2.0 }),
            second.op(
                2,
                Action::StrokeStart {
                    page: FIRST_PAGE,
                    tool: Tool::Pen,
                    color: Color::rgb(10, 0, 0),
                    width: 2.0,
                },
            ),
            second.op(
                3,
                Action::StrokePoints {
                    stroke,
                    offset: 0,
                    points: points[..1].to_vec(),
                },
            ),
            second.op(
                4,
                Action::StrokePoints {
                    stroke,
                    offset: 1,
                    points: points[1..].to_vec(),
                },
            ),
            second.op(5, Action::StrokeEnd { stroke, points: 2 }),
            second.op(
                6,
                Action::StrokeSealed {
                    stroke,
                    page: FIRST_PAGE,
                    tool: Tool::Pen,
                    color: Color::rgb(10, 0, 0),
                    width: 2.0,
                    start_lamport: 2,
                    points,
                },
            ),
        ];
        second.send(&ops, 10).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    assert_left_out_everywhere(&host, &child);
    first.join().unwrap();
}

/// The same split live: the other ops (a page, then a stroke's start, signed at the
/// second) spread first; then the stroke and its seal, signed only at the seal, go
/// in at the child. Their heads differ from op 1 on, but the only signature on that
/// side is the seal's, which hashes on from before the split: the child proves it
/// under the seal, and every node leaves the author out.
#[test]
fn a_split_hidden_under_a_seal_is_proven_live() {
    let FirstLogSpread {
        host,
        child,
        key,
        first,
    } = first_log_spread(page_then_stroke);
    let child_url = child.editor_url().to_string();
    second_log_at(&child_url, &key, sealed_stroke_from_one);
    assert_left_out_everywhere(&host, &child);
    first.join().unwrap();
}

/// A bare seal numbered within the ops a node holds, of a stroke at op 1 that is not
/// there (a page is): a node that took the other ops drops it as held unless it
/// judges it; it proves the split under it.
#[test]
fn a_bare_seal_over_other_ops_held_proves_a_split() {
    let FirstLogSpread {
        host,
        child,
        key,
        first,
    } = first_log_spread(page_then_stroke);
    let child_url = child.editor_url().to_string();
    block_on(async move {
        let mut second = Attacker::join_with(&child_url, &key).await;
        let mut seal = sealed_stroke_from_one(&second).pop().unwrap();
        (seal.id.seq, seal.lamport) = (2, 2);
        // Signed as a seal is: hashed on from the head before its stroke.
        let mut wire = WireOp::from_op(&seal);
        let author = AuthorKey(public_key(&second.key));
        let head = canopy_protocol::Head::genesis(&second.session, &author).next(
            2,
            seal.lamport,
            &wire.payload,
        );
        wire.signature = Some(canopy_protocol::Signature::sign(
            &second.key,
            &second.session,
            2,
            &head,
        ));
        second.send_wire(vec![wire]).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    assert_left_out_everywhere(&host, &child);
    first.join().unwrap();
}

/// A page (op 1), then a stroke's start (op 2).
fn page_then_stroke(attacker: &Attacker) -> Vec<Op> {
    vec![
        attacker.op(1, Action::NewPage { position: 2.0 }),
        attacker.op(
            2,
            Action::StrokeStart {
                page: FIRST_PAGE,
                tool: Tool::Pen,
                color: Color::rgb(0, 0, 200),
                width: 2.0,
            },
        ),
    ]
}

/// A stroke from op 1: its start, two points, its end and its seal (op 4).
fn sealed_stroke_from_one(attacker: &Attacker) -> Vec<Op> {
    sealed_stroke_from(attacker, 1, Color::rgb(200, 0, 0))
}

/// A stroke in `color` from op `first`: its start, two points, its end and its seal
/// (op `first + 3`).
fn sealed_stroke_from(attacker: &Attacker, first: u64, color: Color) -> Vec<Op> {
    let stroke = OpId {
        node: attacker.node,
        seq: first,
    };
    let points = vec![Point::new(1.0, 1.0), Point::new(2.0, 2.0)];
    let (page, tool, width) = (FIRST_PAGE, Tool::Pen, 2.0);
    vec![
        attacker.op(
            first,
            Action::StrokeStart {
                page,
                tool,
                color,
                width,
            },
        ),
        attacker.op(
            first + 1,
            Action::StrokePoints {
                stroke,
                offset: 0,
                points: points.clone(),
            },
        ),
        attacker.op(first + 2, Action::StrokeEnd { stroke, points: 2 }),
        attacker.op(
            first + 3,
            Action::StrokeSealed {
                stroke,
                page,
                tool,
                color,
                width,
                start_lamport: first,
                points,
            },
        ),
    ]
}

/// An author signs, from one head, a stroke and its seal and gives them to one node,
/// and other ops and gives them to another, while the two are apart. When they meet,
/// the first serves the seal alone (in place of the ops it stands for), so no number
/// holds two signed heads the second could compare: the second proves the split from
/// the head before the stroke ([`canopy_protocol::Evidence`] under a seal). Both
/// leave the author out, and the honest link between them stays open (it used to
/// close on every reconnect, each node keeping its own version for good).
#[test]
fn a_split_hidden_under_a_seal_is_proven_and_no_honest_link_closes() {
    let apart = logs_given_apart(sealed_stroke_from_one, two_pages);
    let (host, child) = (&apart.host, &apart.child);
    assert_converged(&[host, child], 0, Duration::from_secs(15));
    assert!(wait_until(Duration::from_secs(10), || host.status()
        ["pages"]
        == 1));
    assert_left_out_everywhere(host, child);
    assert!(
        !host.log().contains("whose end is not the op before"),
        "the host refused the seal: {}",
        host.log()
    );
}

/// Two versions of an author's first op, given to a host and its child while they
/// are apart: their logs are as long as each other, so when they meet their version
/// vectors agree and no op of the author passes between them. The signed heads each
/// sends as the link comes up differ: that is the proof, and both leave the author
/// out (they kept different drawings for good before).
#[test]
fn two_logs_as_long_as_each_other_given_apart_are_proven_when_they_meet() {
    let apart = logs_given_apart(red_first, dark_first);
    assert_left_out_everywhere(&apart.host, &apart.child);
}

/// A stroke and its seal (op 4) at the child, five pages at the host: the host's
/// log is the longer, so the child's backlog sends it nothing of the author, and the
/// host's sends the child a page the child cannot take (it does not continue the
/// seal): a forger's doing, or a split. The child's signed head at the seal reaches
/// the host as the link comes up; the host hashes its own head there again from its
/// ops, finds another, and proves the split — within the moment the child waits
/// before closing the link as a forger's, so the honest link stays.
#[test]
fn a_seal_holders_head_proves_a_longer_log_split_from_it() {
    let apart = logs_given_apart(sealed_stroke_from_one, five_pages);
    let (host, child) = (&apart.host, &apart.child);
    assert!(wait_until(Duration::from_secs(10), || host.status()
        ["pages"]
        == 1));
    assert_left_out_everywhere(host, child);
    assert!(
        !child.log().contains("not what its author signed"),
        "the child closed its honest parent's link: {}",
        child.log()
    );
}

/// One stroke sealed under two numbers: drawn in one chunk for the child (sealed at
/// op 4) and in two for the host (sealed at op 5), while they are apart. Each node
/// then holds its seal in place of the stroke's ops, so neither can show the ops to
/// set against the other's seal: the proof is both seals from the head before the
/// stroke. Whichever log is the longer, both nodes leave the author out, and the
/// honest link stays (each kept its own drawing of that stroke for good before).
#[test]
fn one_stroke_sealed_under_two_numbers_is_proven_when_they_meet() {
    for (at_child, at_host) in [
        (
            sealed_stroke_from_one as fn(&Attacker) -> Vec<Op>,
            sealed_stroke_from_one_in_two_chunks as fn(&Attacker) -> Vec<Op>,
        ),
        (sealed_stroke_from_one_in_two_chunks, sealed_stroke_from_one),
    ] {
        let apart = logs_given_apart(at_child, at_host);
        assert_left_out_everywhere(&apart.host, &apart.child);
    }
}

/// The stroke of [`sealed_stroke_from_one`] drawn in two chunks, in another
/// colour: its start, a point, a point, its end and its seal (op 5).
fn sealed_stroke_from_one_in_two_chunks(attacker: &Attacker) -> Vec<Op> {
    let mut ops = sealed_stroke_from_one(attacker);
    let stroke = ops[0].id;
    let Action::StrokeSealed { points, .. } = &mut ops[3].action else {
        unreachable!("the fourth op is the seal")
    };
    let points = points.clone();
    for op in &mut ops {
        match &mut op.action {
            Action::StrokeStart { color, .. } | Action::StrokeSealed { color, .. } => {
                *color = Color::rgb(0, 120, 0)
            }
            _ => {}
        }
    }
    let mut seal = ops[3].clone();
    (seal.id.seq, seal.lamport) = (5, 5);
    vec![
        ops[0].clone(),
        attacker.op(
            2,
            Action::StrokePoints {
                stroke,
                offset: 0,
                points: points[..1].to_vec(),
            },
        ),
        attacker.op(
            3,
            Action::StrokePoints {
                stroke,
                offset: 1,
                points: points[1..].to_vec(),
            },
        ),
        attacker.op(4, Action::StrokeEnd { stroke, points: 2 }),
        seal,
    ]
}

/// A page and a stroke sealed after it (the seal, op 5, the only signed op) at the
/// child; another first page at the host. The child's log is the longer, so it is
/// sent the host's signed head at op 1, and holds no head of its own there: it
/// hashes its head there again and shows its side to its signature, the seal held
/// in place of the stroke's ops (a jump in the side). The host, sent the seal,
/// cannot tell a split from a forgery and waits a moment for that proof, so the
/// honest link stays (it closed before: the child could not show a side through a
/// seal held in place of ops).
#[test]
fn a_side_through_a_seal_held_in_place_of_its_stroke_proves_a_split() {
    let apart = logs_given_apart(page_then_sealed_stroke, one_other_page);
    let (host, child) = (&apart.host, &apart.child);
    assert_left_out_everywhere(host, child);
    assert!(
        !host.log().contains("not what its author signed"),
        "the host closed its honest child's link: {}",
        host.log()
    );
}

/// A page (op 1), then a stroke from op 2: its start, two points, its end and its
/// seal (op 5).
fn page_then_sealed_stroke(attacker: &Attacker) -> Vec<Op> {
    let mut ops = vec![attacker.op(1, Action::NewPage { position: 2.0 })];
    ops.extend(sealed_stroke_from(attacker, 2, Color::rgb(0, 90, 0)));
    ops
}

/// A page (op 1), placed elsewhere than [`page_then_sealed_stroke`]'s.
fn one_other_page(attacker: &Attacker) -> Vec<Op> {
    vec![attacker.op(1, Action::NewPage { position: 9.0 })]
}

/// Five pages (ops 1 to 5).
fn five_pages(attacker: &Attacker) -> Vec<Op> {
    (1..=5)
        .map(|seq| {
            attacker.op(
                seq,
                Action::NewPage {
                    position: seq as f64,
                },
            )
        })
        .collect()
}

fn red_first(attacker: &Attacker) -> Vec<Op> {
    two_versions(attacker, 200)
}

fn dark_first(attacker: &Attacker) -> Vec<Op> {
    two_versions(attacker, 10)
}

/// Two pages (ops 1 and 2).
fn two_pages(attacker: &Attacker) -> Vec<Op> {
    vec![
        attacker.op(1, Action::NewPage { position: 2.0 }),
        attacker.op(2, Action::NewPage { position: 3.0 }),
    ]
}

/// A host and its child that met again after one author gave each a log of its
/// own while they were apart: `at_child` to the child while the host was down,
/// then `at_host` to the host (restarted) while the child was down; then the child
/// rejoins.
struct Apart {
    host: Node,
    child: Node,
    /// The first runs of both (their data directories live with them).
    _before: (Node, Node),
    _child_dir: tempfile::TempDir,
}

fn logs_given_apart(
    at_child: fn(&Attacker) -> Vec<Op>,
    at_host: fn(&Attacker) -> Vec<Op>,
) -> Apart {
    let listen = format!("127.0.0.1:{}", crate::util::free_port());
    let mut host = Node::host("host", &["--no-audio", "--listen", &listen]);
    let child_dir = tempfile::tempdir().unwrap();
    let child_data = child_dir.path().to_path_buf();
    let mut child = Node::start_in(
        "child",
        &["join", host.editor_url()],
        &["--no-audio"],
        child_data.clone(),
    );
    assert!(wait_until(Duration::from_secs(10), || has_parent(&child)));
    let pkcs8 =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let send = |url: String, ops: fn(&Attacker) -> Vec<Op>| {
        block_on(async {
            let mut attacker = Attacker::join_with(&url, pkcs8.as_ref()).await;
            let ops = ops(&attacker);
            attacker.send(&ops, 10).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        })
    };
    let held = |node: &Node| node.status()["ops"].as_u64().unwrap_or(0);
    host.kill();
    let before = held(&child);
    send(child.editor_url().to_string(), at_child);
    assert!(wait_until(Duration::from_secs(10), || held(&child) > before));
    child.kill();
    let host_again = Node::start_in(
        "host-again",
        &["host"],
        &["--no-audio", "--listen", &listen],
        host.data.clone(),
    );
    let before = held(&host_again);
    send(host_again.editor_url().to_string(), at_host);
    assert!(wait_until(Duration::from_secs(10), || held(&host_again) > before));
    let child_again = Node::start_in(
        "child-again",
        &["join", host_again.editor_url()],
        &["--no-audio"],
        child_data,
    );
    Apart {
        host: host_again,
        child: child_again,
        _before: (host, child),
        _child_dir: child_dir,
    }
}

/// The same, with both versions sent at once: each node takes one, then finds the
/// other is a second log; the proof meets in the middle and both leave the author
/// out — the tree does not split.
#[test]
fn two_logs_sent_at_once_do_not_split_the_tree() {
    let host = Node::host("host", &["--no-audio"]);
    let child = Node::join("child", host.editor_url(), &["--no-audio"]);
    let pkcs8 =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let (host_url, child_url) = (
        host.editor_url().to_string(),
        child.editor_url().to_string(),
    );
    block_on(async move {
        let mut at_host = Attacker::join_with(&host_url, pkcs8.as_ref()).await;
        let mut at_child = Attacker::join_with(&child_url, pkcs8.as_ref()).await;
        let (red, dark) = (two_versions(&at_host, 200), two_versions(&at_child, 10));
        tokio::join!(at_host.send(&red, 10), at_child.send(&dark, 10));
        tokio::time::sleep(Duration::from_secs(3)).await;
    });
    assert_converged(&[&host, &child], 0, Duration::from_secs(10));
    assert!(has_parent(&child), "the tree split");
    // A node that joins later is told the proof and takes neither version.
    let late = Node::join("late", child.editor_url(), &["--no-audio"]);
    assert_converged(&[&host, &child, &late], 0, Duration::from_secs(10));
}

/// A stroke of `chunks` chunks of 1,000 points (~8 KB each) from op `first` on, in
/// colour `red`, ended.
fn long_stroke(attacker: &Attacker, first: u64, chunks: u64, red: u8) -> Vec<Op> {
    let stroke = OpId {
        node: attacker.node,
        seq: first,
    };
    let mut ops = vec![attacker.op(
        first,
        Action::StrokeStart {
            page: FIRST_PAGE,
            tool: Tool::Pen,
            color: Color::rgb(red, 0, 0),
            width: 2.0,
        },
    )];
    for chunk in 0..chunks {
        ops.push(attacker.op(
            first + 1 + chunk,
            Action::StrokePoints {
                stroke,
                offset: (chunk * 1000) as u32,
                points: vec![Point::new(chunk as f32, 1.0); 1000],
            },
        ));
    }
    ops.push(attacker.op(
        first + 1 + chunks,
        Action::StrokeEnd {
            stroke,
            points: (chunks * 1000) as u32,
        },
    ));
    ops
}

/// `ops` chained as their author's log from its start, signed only at `signed`.
fn signed_only_at(attacker: &Attacker, ops: &[Op], signed: &[u64]) -> Vec<WireOp> {
    let mut signer = Signer::fresh(attacker.session, AuthorKey(public_key(&attacker.key)));
    ops.iter()
        .map(|op| {
            let mut wire = WireOp::from_op(op);
            signer.extend(op.id.seq, op.lamport, &wire.payload).unwrap();
            if signed.contains(&op.id.seq) {
                wire.signature = Some(signer.sign_head(&attacker.key));
            }
            wire
        })
        .collect()
}

/// An author that splits its log can make the proof of it too large for a frame if
/// its second log goes unsigned for long: each side of a proof runs to the author's
/// next signature. Then only the node that found the proof left the author out, and
/// the rest of the tree kept its ops: the replicas parted. A log whose signatures lie
/// more than a span of bytes apart is refused instead, so honest nodes keep one
/// version and agree, and every proof an honest node can find fits a frame.
#[test]
fn a_second_log_too_long_unsigned_for_its_proof_to_travel_is_refused() {
    let FirstLogSpread {
        host,
        child,
        key,
        first,
    } = first_log_spread(|attacker| long_stroke(attacker, 1, 40, 200));
    let child_url = child.editor_url().to_string();
    let refusal = block_on(async move {
        let mut second = Attacker::join_with(&child_url, &key).await;
        // The same 42 ops in another colour, then 158 more, signed only at the last:
        // 1.3 MB from any head the child holds to the next signature.
        let mut ops = long_stroke(&second, 1, 40, 10);
        ops.extend(long_stroke(&second, 43, 78, 10));
        ops.extend(long_stroke(&second, 123, 76, 10));
        let wire = signed_only_at(&second, &ops, &[200]);
        for part in [&wire[..42], &wire[42..120], &wire[120..]] {
            second.send_wire(part.to_vec()).await;
        }
        second.refusal(Duration::from_secs(10)).await
    });
    let refusal = refusal.expect("the second log was taken");
    assert!(
        refusal.to_string().contains("without a signature"),
        "{refusal}"
    );
    assert_converged(&[&host, &child], 1, Duration::from_secs(10));
    assert!(has_parent(&child), "an honest link was closed");
    first.join().unwrap();
}

/// The other side of the same rule, end to end: an author's long strokes, sent in
/// batches longer than a span (so its signer puts signatures inside them), are taken
/// by the host, which keeps only some of the signatures it checked, and a late joiner
/// takes the host's backlog signed as the host kept it.
#[test]
fn a_late_joiner_takes_long_strokes_signed_every_span() {
    let host = Node::host("host", &["--no-audio"]);
    let url = host.editor_url().to_string();
    block_on(async move {
        let mut author = Attacker::join(&url).await;
        // Two strokes of 60 chunks of 1,000 points (~8 KB each): ~960 KB in batches
        // of 30 chunks (~240 KB), about two spans each.
        let mut ops = long_stroke(&author, 1, 60, 30);
        ops.extend(long_stroke(&author, 63, 60, 90));
        author.send(&ops, 30).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    });
    assert_converged(&[&host], 2, Duration::from_secs(10));
    let joiner = Node::join("late", host.editor_url(), &["--no-audio"]);
    assert_converged(&[&host, &joiner], 2, Duration::from_secs(20));
    assert!(has_parent(&joiner), "the joiner's link was closed");
}

/// An editor that slips another op between its stroke's start and its points (a new
/// page here) could later seal the stroke and hide that op from every joiner, while
/// the nodes that saw it live keep it: the replicas would part for good. Every
/// checker refuses the points that follow such an op (the stroke rule): the ops
/// before them are taken, the attacker's link is closed saying why, and honest
/// nodes, late joiners included, agree.
#[test]
fn points_after_another_op_inside_a_stroke_are_refused() {
    let (_scripts, host, honest) = host_and_honest(3, 300, r#"{"sleep_ms":1500}"#);
    let url = host.editor_url().to_string();
    let refusal = block_on(async move {
        let mut attacker = Attacker::join(&url).await;
        let stroke = OpId {
            node: attacker.node,
            seq: 1,
        };
        let ops = [
            attacker.op(
                1,
                Action::StrokeStart {
                    page: FIRST_PAGE,
                    tool: Tool::Pen,
                    color: Color::rgb(0, 0, 200),
                    width: 2.0,
                },
            ),
            attacker.op(
                2,
                Action::StrokePoints {
                    stroke,
                    offset: 0,
                    points: vec![Point::new(10.0, 10.0)],
                },
            ),
            attacker.op(3, Action::NewPage { position: 9.0 }),
            attacker.op(
                4,
                Action::StrokePoints {
                    stroke,
                    offset: 1,
                    points: vec![Point::new(20.0, 20.0)],
                },
            ),
            attacker.op(5, Action::StrokeEnd { stroke, points: 2 }),
        ];
        // Signed as the author's log, in two messages: up to the page, then the rest.
        let wire = signed_only_at(&attacker, &ops, &[3, 5]);
        attacker.send_wire(wire[..3].to_vec()).await;
        // Taken on its own (a run is judged whole: one that held the refused points
        // would be refused whole).
        tokio::time::sleep(Duration::from_secs(1)).await;
        attacker.send_wire(wire[3..].to_vec()).await;
        attacker.refusal(Duration::from_secs(10)).await
    });
    let refusal = refusal.expect("the points after the page were taken");
    assert!(refusal.to_string().contains("not open"), "{refusal}");
    // The attacker's stroke is there as far as it went (one point, unfinished), at
    // the honest editor too.
    honest_strokes_keep_arriving(&host, &honest, 0);
    let joiner = Node::join("late", host.editor_url(), &["--no-audio"]);
    assert_converged(&[&host, &honest, &joiner], 4, Duration::from_secs(20));
    let pages = |node: &Node| node.status()["pages"].as_u64();
    assert_eq!(
        pages(&host),
        Some(2),
        "the ops before the points were taken"
    );
    assert_eq!(pages(&joiner), pages(&host));
}

/// Chunks of one stroke whose points overlap (each at offset 0) pass every check of
/// one op, but together take the stroke past the most it may hold. Only the
/// document used to refuse the last one, for what it held already, so a relay
/// that cannot read payloads would have passed it on and had its own link closed
/// downstream. The stroke rule counts a stroke's points from the ops' headers, so
/// the attacker's first hop refuses it, saying so; the chunks before it are taken.
#[test]
fn points_past_a_strokes_limit_are_refused_at_the_first_hop() {
    let (_scripts, host, honest) = host_and_honest(3, 300, r#"{"sleep_ms":1500}"#);
    let url = host.editor_url().to_string();
    let refusal = block_on(async move {
        let mut attacker = Attacker::join(&url).await;
        let stroke = OpId {
            node: attacker.node,
            seq: 1,
        };
        let chunk = |seq: u64| {
            attacker.op(
                seq,
                Action::StrokePoints {
                    stroke,
                    offset: 0,
                    points: vec![Point::new(seq as f32, 10.0); 4096],
                },
            )
        };
        let mut ops = vec![stroke_start(&attacker, 1, 2.0)];
        // 24 chunks of 4,096 points: 98,304, all taken.
        ops.extend((2..=25).map(chunk));
        let past = chunk(26);
        attacker.send(&ops, 5).await;
        // One more makes 102,400: signed by its author all the same.
        let mut wire = WireOp::from_op(&past);
        attacker
            .signer
            .extend(26, past.lamport, &wire.payload)
            .unwrap();
        wire.signature = Some(attacker.signer.sign_head(&attacker.key));
        attacker.send_wire(vec![wire]).await;
        attacker.refusal(Duration::from_secs(10)).await
    });
    let refusal = refusal.expect("the points past the stroke's limit were taken");
    assert!(
        refusal
            .to_string()
            .contains("takes stroke 1 to 102400 points"),
        "{refusal}"
    );
    // The attacker's stroke (as far as it went) is at the honest editor too.
    honest_strokes_keep_arriving(&host, &honest, 0);
    let joiner = Node::join("late", host.editor_url(), &["--no-audio"]);
    assert_converged(&[&host, &honest, &joiner], 4, Duration::from_secs(20));
}

/// One op with a Lamport clock of 2^64 − 2 used to leave every node that took it
/// unable to edit again. A clock may run at most 2^32 per op of its author ahead.
#[test]
fn a_clock_at_the_end_of_its_range_is_refused_and_editing_goes_on() {
    let scripts = tempfile::tempdir().unwrap();
    let host = Node::host("host", &["--no-audio"]);
    let url = host.editor_url().to_string();
    let refusal = block_on(async move {
        let mut attacker = Attacker::join(&url).await;
        let mut op = attacker.op(1, Action::NewPage { position: 1.0 });
        op.lamport = u64::MAX - 1;
        // Signed by its author: the rule is about the number, not the signature.
        let mut wire = WireOp::from_op(&op);
        let head = canopy_protocol::Head::genesis(
            &attacker.session,
            &AuthorKey(public_key(&attacker.key)),
        )
        .next(1, op.lamport, &wire.payload);
        wire.signature = Some(canopy_protocol::Signature::sign(
            &attacker.key,
            &attacker.session,
            1,
            &head,
        ));
        attacker.send_wire(vec![wire]).await;
        attacker.refusal(Duration::from_secs(10)).await
    });
    let refusal = refusal.expect("the clock was taken");
    assert!(refusal.to_string().contains("clock"), "{refusal}");
    let honest = Node::join(
        "honest",
        host.editor_url(),
        &[
            "--no-audio",
            "--draw",
            script(scripts.path(), "h", 3, 0, "").to_str().unwrap(),
        ],
    );
    assert_converged(&[&host, &honest], 3, Duration::from_secs(20));
}

/// Ops far ahead of their author's log (`seq` 2^64 − 1, in the attacker's own name
/// or a victim's) used to exhaust that author's numbers. They wait for the ops
/// before them, which never come, bounded in bytes; the victim goes on editing.
#[test]
fn ops_far_ahead_of_their_authors_log_exhaust_no_one() {
    let (_scripts, host, honest) = host_and_honest(6, 700, "");
    assert!(wait_until(Duration::from_secs(20), || strokes_of(&host) >= 1));
    let (victim, _) = identity_of(&honest, &host);
    let url = host.editor_url().to_string();
    block_on(async move {
        let mut attacker = Attacker::join(&url).await;
        let far = |node: NodeId| Op {
            id: OpId {
                node,
                seq: u64::MAX,
            },
            lamport: 5,
            action: Action::NewPage { position: 2.0 },
        };
        let mut own = WireOp::from_op(&far(attacker.node));
        own.signature = Some(canopy_protocol::Signature {
            r: [1; 32],
            s: [2; 32],
        });
        let theirs = WireOp::from_op(&far(victim));
        attacker.send_wire(vec![own, theirs]).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    assert_converged(&[&host, &honest], 6, Duration::from_secs(30));
    assert_eq!(host.status()["pages"], 1, "no far-ahead op was taken");
}

/// A viewer's ops are refused whatever link brings them: here an editor passes on a
/// viewer's authority and ops the viewer signed (what a viewer that became a parent,
/// or a colluding editor, would do).
#[test]
fn a_viewers_ops_are_refused_even_from_an_editor() {
    let host = Node::host("host", &["--no-audio"]);
    let (viewer_url, editor_url) = (host.viewer_url().to_string(), host.editor_url().to_string());
    let refusal = block_on(async move {
        let mut viewer = Attacker::join(&viewer_url).await;
        let ops = [viewer.op(1, Action::NewPage { position: 3.0 })];
        // The viewer's own link refuses it outright; an editor's link must too.
        let mut carrier = Attacker::join(&editor_url).await;
        carrier
            .send_message(&Message::Authors(vec![viewer.authority.clone()]))
            .await;
        let (wire, _) = viewer.signer.sign_batch(&viewer.key, &ops).unwrap();
        carrier.send_wire(wire).await;
        carrier.refusal(Duration::from_secs(10)).await
    });
    let refusal = refusal.expect("the viewer's op was taken");
    assert!(
        matches!(refusal, canopy_protocol::Refusal::ViewerEdit(_)),
        "{refusal}"
    );
    assert_eq!(host.status()["pages"], 1);
}

/// A joiner proves, on its own connection, that it holds the key its hello names: a
/// stranger naming a participant's key (its ops would go by that name, and its
/// presence would be heard as that participant's) with a proof made by a key of its
/// own is refused with that reason, and the participant stays linked.
#[test]
fn a_hello_in_another_nodes_name_is_refused() {
    let host = Node::host("host", &["--no-audio"]);
    let victim = Node::join("victim", host.editor_url(), &["--no-audio"]);
    let victims_url: JoinUrl = victim.editor_url().parse().unwrap();
    // The victim's invites are signed by its key: anyone it invited knows it.
    let victims_key = victims_url.invite.grant_id(&victims_url.session).issuer;
    let url: JoinUrl = host.editor_url().parse().unwrap();
    let answer = block_on(async move {
        let (_endpoint, connection) = crate::util::raw_connection(&url).await;
        let hello = hello_as(url.session, victims_key, "victim", url.invite.clone());
        let own_key = crate::util::fresh_key();
        canopy_node::link::join_handshake(&connection, &hello, &own_key)
            .await
            .err()
    });
    assert!(
        matches!(
            answer,
            Some(canopy_node::link::JoinRefused::Refused(
                canopy_protocol::Refusal::UnprovenKey
            ))
        ),
        "{answer:?}"
    );
    let children = host.status()["children"].as_array().map(Vec::len);
    assert_eq!(children, Some(1), "the victim's link is as it was");
    assert_eq!(victim.status()["role"], "editor");
}

/// An editor delegates to keys of its own, one below the other, past the depth at which
/// a node admitting with an invite from the bottom could vouch for every mark on the
/// way, and brings that invite to the host's door: refused, with a typed reason,
/// before the host signs anything; the session goes on.
#[test]
fn an_invite_minted_too_deep_to_admit_is_refused_at_the_door() {
    let (_scripts, host, honest) = host_and_honest(40, 100, "");
    let url: JoinUrl = host.editor_url().parse().unwrap();
    let answer = block_on(async move {
        let attacker = Attacker::join(&url.to_string()).await;
        let mut deepest = (attacker.key, attacker.authority);
        while deepest.1.chain.len() <= canopy_protocol::MAX_CHAIN / 2 {
            let next = crate::util::fresh_key();
            let authority = deepest.1.delegate(
                &url.session,
                &deepest.0,
                public_key(&next),
                canopy_protocol::Role::Editor,
                None,
                1000 + deepest.1.chain.len() as u64,
            );
            deepest = (next, authority);
        }
        let invite = deepest.1.invite(
            &url.session,
            &deepest.0,
            canopy_protocol::Role::Editor,
            None,
            7,
        );
        assert!(invite.verify(&url.session, 0).is_ok(), "a valid invite");
        let joiner = crate::util::fresh_key();
        let (_endpoint, connection) = crate::util::raw_connection(&url).await;
        let hello = hello_as(url.session, public_key(&joiner), "deep", invite);
        canopy_node::link::join_handshake(&connection, &hello, &joiner)
            .await
            .err()
    });
    match answer {
        Some(canopy_node::link::JoinRefused::Refused(canopy_protocol::Refusal::Limit(why))) => {
            assert!(
                why.contains("cannot be admitted here") && why.contains("join at the node"),
                "{why}"
            )
        }
        other => panic!("refused for a limit expected: {other:?}"),
    }
    honest_strokes_keep_arriving(&host, &honest, 0);
}

/// An editor whose invite is revoked stops there: the revocation names where its log
/// ends, and its later ops — signed with its key and passed on by a colluding editor
/// elsewhere in the tree — are taken nowhere, without closing the colluder's link.
/// What it drew before stays, the same everywhere.
#[test]
fn a_revoked_editors_later_ops_are_taken_nowhere_even_through_a_colluder() {
    let host = Node::host("host", &["--no-audio"]);
    let b = Node::join("b", host.editor_url(), &["--no-audio"]);
    let (b_invite, host_invite) = (b.editor_url().to_string(), host.editor_url().to_string());
    let stroke = |attacker: &Attacker, seq: u64| {
        attacker.op(
            seq,
            Action::StrokeStart {
                page: FIRST_PAGE,
                tool: Tool::Pen,
                color: Color::rgb(200, 0, 0),
                width: 2.0,
            },
        )
    };
    // The editor joins b with b's invite and draws three strokes.
    let (revoked_key, mut revoked_signer, later) = block_on(async move {
        let pkcs8 =
            ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                .unwrap();
        let mut editor = Attacker::join_with(&b_invite, pkcs8.as_ref()).await;
        // Three strokes, then a page: a revocation cuts a log before a stroke it
        // ends inside (one that may still be sealed), and here it ends after them.
        let mut drawn: Vec<Op> = (1..=3).map(|seq| stroke(&editor, seq)).collect();
        drawn.push(editor.op(4, Action::NewPage { position: 2.0 }));
        editor.send(&drawn, 4).await;
        let later: Vec<Op> = (5..=7).map(|seq| stroke(&editor, seq)).collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        (pkcs8, editor.signer.clone(), later)
    });
    assert_converged(&[&host, &b], 3, Duration::from_secs(10));

    let done = crate::revocation::revoke(&host, b.editor_url());
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );

    // A colluder joined elsewhere passes on the revoked editor's next ops, then draws
    // one stroke of its own.
    let kept_open = block_on(async move {
        let mut colluder = Attacker::join(&host_invite).await;
        let key = ring::signature::Ed25519KeyPair::from_pkcs8(revoked_key.as_ref()).unwrap();
        let (wire, _) = revoked_signer.sign_batch(&key, &later).unwrap();
        colluder.send_wire(wire).await;
        let own = stroke(&colluder, 1);
        colluder.send(&[own], 1).await;
        colluder.refusal(Duration::from_secs(2)).await.is_none()
    });
    assert!(
        kept_open,
        "the colluder's link was closed for passing the ops on"
    );
    assert_converged(&[&host, &b], 4, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        strokes_of(&host),
        4,
        "the revoked editor's later strokes were taken"
    );
}

/// Presence is signed by its participant and shows the role its authority gives: a
/// viewer that announces itself as an editor shows as a viewer, and presence in the
/// names of participants the session does not know (each would take a place in every
/// node's participants list) is dropped.
#[test]
fn presence_shows_only_what_its_participant_may_say() {
    let host = Node::host("host", &["--no-audio"]);
    let url = host.viewer_url().to_string();
    let participants = |node: &Node| -> Vec<(String, String)> {
        let mut seen: Vec<(String, String)> = node.status()["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or_default().to_string(),
                    p["role"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        seen.sort();
        seen
    };
    let expected = vec![
        ("host".to_string(), "editor".to_string()),
        ("mallory".to_string(), "viewer".to_string()),
    ];
    // The attacker stays linked (its presence with it) while the host is looked at.
    let attack = std::thread::spawn(move || {
        block_on(async move {
            let attacker = Attacker::join(&url).await;
            let session = attacker.session;
            let announce = |node: NodeId, name: &str, seq: u64| {
                Datagram::presence(
                    &Presence {
                        node,
                        seq,
                        name: name.into(),
                        color: Color::rgb(1, 2, 3),
                        page: 0,
                        cursor: None,
                        role: Some(canopy_protocol::Role::Editor),
                        muted: false,
                    },
                    &attacker.key,
                    &session,
                )
            };
            for seq in 1..=40 {
                let mut datagrams = vec![announce(attacker.node, "mallory", seq)];
                datagrams.extend((0..50).map(|n| announce(NodeId(1000 + n), "ghost", seq)));
                for datagram in datagrams {
                    let _ = attacker
                        ._connection
                        .send_datagram(bytes::Bytes::from(datagram));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    });
    assert!(
        wait_until(Duration::from_secs(4), || participants(&host) == expected),
        "{:?}",
        participants(&host)
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(participants(&host), expected, "no ghost came later");
    attack.join().unwrap();
}

/// A seal numbered far past its stroke's start would jump its author's log, and its
/// clock with it (a joiner takes a seal without the ops before it): every checker
/// refuses it and closes the link; the attacker's stroke stays as drawn, and the
/// session's clocks and everyone's strokes go on.
#[test]
fn a_seal_far_past_its_stroke_is_refused() {
    let (_scripts, host, honest) = host_and_honest(20, 100, r#"{"sleep_ms":1000}"#);
    let url = host.editor_url().to_string();
    let refusal = block_on(async move {
        let mut attacker = Attacker::join(&url).await;
        let stroke = OpId {
            node: attacker.node,
            seq: 1,
        };
        let drawn = [
            attacker.op(
                1,
                Action::StrokeStart {
                    page: FIRST_PAGE,
                    tool: Tool::Pen,
                    color: Color::rgb(200, 0, 0),
                    width: 2.0,
                },
            ),
            attacker.op(
                2,
                Action::StrokePoints {
                    stroke,
                    offset: 0,
                    points: vec![Point::new(5.0, 5.0)],
                },
            ),
            attacker.op(3, Action::StrokeEnd { stroke, points: 1 }),
        ];
        attacker.send(&drawn, 3).await;
        let far = u64::MAX / 2;
        let seal = attacker.op(
            far,
            Action::StrokeSealed {
                stroke,
                page: FIRST_PAGE,
                tool: Tool::Pen,
                color: Color::rgb(200, 0, 0),
                width: 2.0,
                start_lamport: 1,
                points: vec![Point::new(5.0, 5.0)],
            },
        );
        // Signed as a seal is: hashed on from the head before its stroke.
        let mut wire = WireOp::from_op(&seal);
        let author = AuthorKey(public_key(&attacker.key));
        let head = canopy_protocol::Head::genesis(&attacker.session, &author).next(
            far,
            seal.lamport,
            &wire.payload,
        );
        wire.signature = Some(canopy_protocol::Signature::sign(
            &attacker.key,
            &attacker.session,
            far,
            &head,
        ));
        attacker.send_wire(vec![wire]).await;
        attacker.refusal(Duration::from_secs(3)).await
    });
    assert!(
        matches!(&refusal, Some(canopy_protocol::Refusal::Protocol(why)) if why.contains("seals a stroke")),
        "{refusal:?}"
    );
    honest_strokes_keep_arriving(&host, &honest, 1);
    assert_converged(&[&host, &honest], 21, Duration::from_secs(30));
}

/// The attacker's op `seq`: a stroke start `width` wide (wider than 256, no node
/// takes it).
pub(crate) fn stroke_start(attacker: &Attacker, seq: u64, width: f32) -> Op {
    attacker.op(
        seq,
        Action::StrokeStart {
            page: FIRST_PAGE,
            tool: Tool::Pen,
            color: Color::rgb(0, 0, 200),
            width,
        },
    )
}

/// Each of `nodes` comes to leave out one author, and says it was for signing an op
/// no node takes.
pub(crate) fn assert_left_out_for_content(nodes: &[&Node]) {
    for node in nodes {
        let left_out = || {
            node.try_status().is_some_and(|s| s["left_out"] == 1)
                && node.log().contains("signed an op no node takes")
        };
        assert!(
            wait_until(Duration::from_secs(10), left_out),
            "{} did not leave the author out:\n{}",
            node.name,
            node.log()
        );
    }
}

/// An author that signs an op no node takes (a stroke far wider than any allowed) is
/// cut off everywhere, not only where it sent it: that node closes the author's own
/// link with the reason, proves that the author signed it, and every node leaves
/// the author out. Honest strokes keep arriving and no honest link closes.
#[test]
fn an_author_that_signs_an_op_no_node_takes_is_cut_off_everywhere() {
    let (_scripts, mut host, honest) = host_and_honest(40, 100, r#"{"sleep_ms":1000}"#);
    let url = host.editor_url().to_string();
    let refusal = block_on(async move {
        let mut attacker = Attacker::join(&url).await;
        let good = stroke_start(&attacker, 1, 2.0);
        attacker.send(&[good], 1).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let bad = stroke_start(&attacker, 2, 1e9);
        attacker.send(&[bad], 1).await;
        attacker.refusal(Duration::from_secs(10)).await
    });
    let refusal = refusal.expect("the op was taken");
    assert!(refusal.to_string().contains("width"), "{refusal}");
    assert_left_out_for_content(&[&host, &honest]);
    honest_strokes_keep_arriving(&host, &honest, 0);
    assert!(has_parent(&honest), "an honest link was closed");
    assert_converged(&[&host, &honest], 40, Duration::from_secs(30));

    // The proof is kept in the file: the host started again leaves the author out.
    host.kill();
    let again = Node::start_in("host-again", &["host"], &["--no-audio"], host.data.clone());
    let status = again.status();
    assert_eq!(status["left_out"], 1, "{}", again.log());
    assert_eq!(status["strokes"], 40);
}

/// A participant that passes on another author's signed op that no node takes (as a
/// relay that cannot read payloads would), its signature in the next message, keeps
/// its link: the author is to blame, and is cut off everywhere.
#[test]
fn passing_on_an_op_its_author_signed_and_no_node_takes_closes_no_link() {
    let (_scripts, host, honest) = host_and_honest(40, 100, r#"{"sleep_ms":1000}"#);
    let url = host.editor_url().to_string();
    let kept_open = block_on(async move {
        let mut author = Attacker::join(&url).await;
        let good = stroke_start(&author, 1, 2.0);
        author.send(&[good], 1).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut carrier = Attacker::join(&url).await;
        let bad = [stroke_start(&author, 2, 1e9), stroke_start(&author, 3, 2.0)];
        let (mut wire, _) = author.signer.sign_batch(&author.key, &bad).unwrap();
        let signed = wire.split_off(1);
        carrier.send_wire(wire).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        carrier.send_wire(signed).await;
        let own = stroke_start(&carrier, 1, 2.0);
        carrier.send(&[own], 1).await;
        carrier.refusal(Duration::from_secs(2)).await.is_none()
    });
    assert!(
        kept_open,
        "the carrier's link was closed for passing the op on"
    );
    assert_left_out_for_content(&[&host, &honest]);
    honest_strokes_keep_arriving(&host, &honest, 1);
    assert!(has_parent(&honest), "an honest link was closed");
    assert_converged(&[&host, &honest], 41, Duration::from_secs(30));
}
