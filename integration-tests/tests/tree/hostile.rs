//! A stranger speaking raw QUIC to a real `canopy` node, before any invite: what the
//! node lets it hold. (The start of the hostile-peer suite: the attacker is our own
//! client, linking `canopy-node`'s TLS settings and `canopy-protocol`.)

use std::time::Duration;

use canopy_protocol::JoinUrl;

use crate::util::{block_on, Node};

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
