//! Viewers receive everything and can change nothing.

use std::time::Duration;

use canopy_canvas::{Action, Color, NodeId, Op, OpId, Tool, VersionVector, FIRST_PAGE};
use canopy_protocol::{
    encode, public_key, FrameDecoder, Hello, JoinUrl, Message, Refusal, WireOp, PROTOCOL_VERSION,
};

use crate::util::{assert_converged, block_on, script, wait_until, Node};

#[test]
fn a_viewer_stays_a_correct_read_only_copy() {
    let scripts = tempfile::tempdir().unwrap();
    let a = Node::host(
        "a",
        &[
            "--draw",
            script(scripts.path(), "a", 20, 20, r#"{"sleep_ms":500}"#)
                .to_str()
                .unwrap(),
        ],
    );
    // The viewer's own script is refused locally: it sends nothing.
    let v = Node::join(
        "v",
        a.viewer_url(),
        &[
            "--draw",
            script(scripts.path(), "v", 5, 0, "").to_str().unwrap(),
        ],
    );
    assert_eq!(v.status()["role"], "viewer");
    assert!(
        !v.invites.contains_key("editor"),
        "a viewer hands out viewer invites only"
    );
    assert_converged(&[&a, &v], 20, Duration::from_secs(30));
    assert!(
        wait_until(Duration::from_secs(10), || v
            .log()
            .contains("this node is a viewer: it cannot edit")),
        "{}",
        v.log()
    );
}

/// A client that ignores the rules: it joins as a viewer and sends an op anyway. The
/// link is closed with a typed reason and the document is untouched.
#[test]
fn a_viewers_op_closes_its_link() {
    let a = Node::host("a", &[]);
    let url: JoinUrl = a.viewer_url().parse().unwrap();
    let refusal = block_on(async move {
        let (_endpoint, connection) = crate::util::raw_connection(&url).await;
        let key = crate::util::fresh_key();
        let hello = Hello {
            protocol: PROTOCOL_VERSION,
            session: url.session,
            node: canopy_protocol::AuthorKey(public_key(&key)).node_id(),
            node_key: public_key(&key),
            name: "rogue".into(),
            invite: url.invite.clone(),
            seen: VersionVector::new(),
        };
        let (welcome, mut send, mut recv, mut decoder) =
            canopy_node::link::join_handshake(&connection, &hello, &key)
                .await
                .unwrap();
        assert_eq!(welcome.role, canopy_protocol::Role::Viewer);
        let op = Op {
            id: OpId {
                node: NodeId(77),
                seq: 1,
            },
            lamport: 1,
            action: Action::StrokeStart {
                page: FIRST_PAGE,
                tool: Tool::Pen,
                color: Color::rgb(0, 0, 0),
                width: 2.0,
            },
        };
        send.write_all(&encode(&Message::Ops(vec![WireOp::from_op(&op)])).unwrap())
            .await
            .unwrap();
        next_refusal(&mut recv, &mut decoder).await
    });
    assert_eq!(
        refusal,
        Some(Refusal::ViewerEdit(format!("{}:1", NodeId(77))))
    );
    assert_eq!(a.status()["ops"], 0, "the viewer's op was not applied");
}

async fn next_refusal(recv: &mut quinn::RecvStream, decoder: &mut FrameDecoder) -> Option<Refusal> {
    let mut buffer = vec![0u8; 4096];
    loop {
        while let Ok(Some(message)) = decoder.next_message() {
            if let Message::Refused(refusal) = message {
                return Some(refusal);
            }
        }
        match tokio::time::timeout(Duration::from_secs(10), recv.read(&mut buffer)).await {
            Ok(Ok(Some(n))) => decoder.push(&buffer[..n]),
            _ => return None,
        }
    }
}
