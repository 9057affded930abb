//! Every join error, checked by its message.

use canopy_protocol::{Fingerprint, JoinUrl};

use crate::util::{join_error, Node};

#[test]
fn a_malformed_url_says_what_is_wrong() {
    let said = join_error("canopy://127.0.0.1:9/nothex?fp=00&invite=x", &[]);
    assert!(said.contains("bad join URL"), "{said}");
    assert!(
        said.contains("the URL's path must be the session id"),
        "{said}"
    );
    let said = join_error("https://example.org/", &[]);
    assert!(
        said.contains("a join URL starts with canopy://, not https://"),
        "{said}"
    );
}

#[test]
fn an_unreachable_host_times_out_with_a_clear_message() {
    let a = Node::host("a", &[]);
    let mut url: JoinUrl = a.editor_url().parse().unwrap();
    // A port where nothing listens.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    url.port = silent.local_addr().unwrap().port();
    let said = join_error(&url.to_string(), &["--timeout", "1"]);
    assert!(
        said.contains(&format!(
            "could not reach 127.0.0.1:{}: no answer within 1 s",
            url.port
        )),
        "{said}"
    );
}

#[test]
fn a_fingerprint_mismatch_shows_expected_and_actual() {
    let a = Node::host("a", &[]);
    let mut url: JoinUrl = a.editor_url().parse().unwrap();
    let actual = url.fingerprint.unwrap();
    url.fingerprint = Some(Fingerprint([7; 32]));
    let said = join_error(&url.to_string(), &[]);
    assert!(
        said.contains(&format!(
            "presented certificate fingerprint {actual}, but the URL expects {}",
            Fingerprint([7; 32])
        )),
        "{said}"
    );
}

#[test]
fn an_invite_for_another_session_is_refused() {
    let a = Node::host("a", &[]);
    let b = Node::host("b", &[]);
    let mut url: JoinUrl = a.editor_url().parse().unwrap();
    url.invite = b.editor_url().parse::<JoinUrl>().unwrap().invite;
    let said = join_error(&url.to_string(), &[]);
    assert!(said.contains("refused to let this node join: invite refused: the invite is not valid for this session"), "{said}");
}

#[test]
fn joining_a_node_of_your_own_tree_is_refused() {
    let a = Node::host("a", &[]);
    let b = Node::join("b", a.editor_url(), &[]);
    // A second process with a's identity (same key) tries to join a's child.
    let clone = tempfile::tempdir().unwrap();
    for file in ["node.key", "node.crt"] {
        std::fs::copy(a.data.join(file), clone.path().join(file)).unwrap();
    }
    let said = join_error(b.editor_url(), &["--data", clone.path().to_str().unwrap()]);
    assert!(
        said.contains("is already in this node's tree (joining would make a loop)"),
        "{said}"
    );
}

#[test]
fn a_protocol_version_mismatch_is_refused() {
    use canopy_protocol::{Hello, Refusal};
    let a = Node::host("a", &[]);
    let url: JoinUrl = a.editor_url().parse().unwrap();
    let answer = crate::util::block_on(async move {
        let (_endpoint, connection) = crate::util::raw_connection(&url).await;
        let hello = Hello {
            protocol: 99,
            session: url.session,
            node: canopy_canvas::NodeId(5),
            node_key: [5; 32],
            name: "future".into(),
            invite: url.invite.clone(),
            seen: canopy_canvas::VersionVector::new(),
        };
        let key = crate::util::fresh_key();
        canopy_node::link::join_handshake(&connection, &hello, &key)
            .await
            .err()
            .map(|e| e.to_string())
    });
    let expected = Refusal::VersionMismatch {
        ours: canopy_protocol::PROTOCOL_VERSION,
        theirs: 99,
    }
    .to_string();
    assert_eq!(answer, Some(expected));
}

#[test]
fn an_expired_invite_is_refused() {
    let a = Node::host("a", &["--invite-ttl", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let said = join_error(a.editor_url(), &[]);
    assert!(
        said.contains("refused to let this node join: invite refused: the invite expired at"),
        "{said}"
    );
}
