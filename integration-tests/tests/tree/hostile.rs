//! The hostile-peer suite: an attacker client of our own (linking `canopy-node`'s TLS
//! settings and `canopy-protocol`) against real `canopy` processes. First strangers
//! speaking raw QUIC before any invite, then admitted editors sending ops built to
//! hurt.

use std::time::Duration;

use canopy_canvas::{Action, Color, NodeId, Op, OpId, Point, Tool, VersionVector, FIRST_PAGE};
use canopy_protocol::{encode, public_key, Hello, JoinUrl, Message, WireOp, PROTOCOL_VERSION};

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

/// An admitted editor that sends whatever it likes.
struct Attacker {
    node: NodeId,
    send: quinn::SendStream,
    _recv: quinn::RecvStream,
    _connection: quinn::Connection,
    _endpoint: quinn::Endpoint,
}

impl Attacker {
    /// Joins `url`'s node with its (editor) invite, as node `node`.
    async fn join(url: &str, node: NodeId) -> Attacker {
        let url: JoinUrl = url.parse().unwrap();
        let (endpoint, connection) = crate::util::raw_connection(&url).await;
        let pkcs8 =
            ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                .unwrap();
        let key = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let hello = Hello {
            protocol: PROTOCOL_VERSION,
            session: url.session,
            node,
            node_key: public_key(&key),
            name: "attacker".into(),
            invite: url.invite.clone(),
            seen: VersionVector::new(),
        };
        let (welcome, send, recv, _decoder) =
            canopy_node::link::join_handshake(&connection, &hello)
                .await
                .unwrap();
        assert_eq!(welcome.role, canopy_protocol::Role::Editor);
        Attacker {
            node,
            send,
            _recv: recv,
            _connection: connection,
            _endpoint: endpoint,
        }
    }

    /// Sends `ops`, `per_message` to a message.
    async fn send(&mut self, ops: &[Op], per_message: usize) {
        for batch in ops.chunks(per_message) {
            let wire = batch.iter().map(WireOp::from_op).collect();
            self.send
                .write_all(&encode(&Message::Ops(wire)).unwrap())
                .await
                .unwrap();
        }
    }

    /// The attacker's op number `seq` (Lamport clock the same).
    fn op(&self, seq: u64, action: Action) -> Op {
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
    let scripts = tempfile::tempdir().unwrap();
    let host = Node::host("host", &["--no-audio"]);
    let honest = Node::join(
        "honest",
        host.editor_url(),
        &[
            "--no-audio",
            "--draw",
            script(scripts.path(), "h", 60, 100, r#"{"sleep_ms":1000}"#)
                .to_str()
                .unwrap(),
        ],
    );
    let url = host.editor_url().to_string();
    let attack = std::thread::spawn(move || {
        block_on(async move {
            let mut attacker = Attacker::join(&url, NodeId(0xbad)).await;
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
        let mut attacker = Attacker::join(&url, NodeId(0xbad)).await;
        let ops: Vec<Op> = (1..=1_500u64)
            .map(|seq| {
                let ghost = OpId {
                    node: NodeId(0xbad),
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
