//! A node's components tested alone, in process, through their own boxes: no sockets,
//! no files. Each test wires a component (or a session's per-node components) to
//! taps and drivers and checks what comes out.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod audio;
mod links;
mod session;

use std::time::Duration;

use canopy_axon::{link, Graph, InboxRef, Outbox};
use canopy_canvas::{Action, Color, NodeId, Op, OpId, Tool, FIRST_PAGE};
use canopy_protocol::WireOp;
use tokio::sync::mpsc;

/// An inbox whose messages come out of the returned channel.
pub fn tap<T: Send + 'static>(
    graph: &Graph,
    name: &str,
) -> (InboxRef<T>, mpsc::UnboundedReceiver<T>) {
    let scope = graph.component(name);
    let mut inbox = scope.inbox_with_capacity::<T>("inbox", 65_536);
    let handle = inbox.handle();
    let (tx, rx) = mpsc::unbounded_channel();
    scope.spawn_fn(move |_| async move {
        while let Some(message) = inbox.recv().await {
            let _ = tx.send(message);
        }
        Ok(())
    });
    (handle, rx)
}

/// An outbox linked into `target`.
pub fn driver<T: Send + 'static>(graph: &Graph, name: &str, target: &InboxRef<T>) -> Outbox<T> {
    let outbox = graph.component(name).outbox::<T>("outbox");
    link(&outbox.handle(), target).unwrap();
    outbox
}

/// The next message, or a failure after a few seconds.
pub async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("nothing came out in time")
        .expect("the tap ended")
}

/// Nothing comes out for a while.
pub async fn quiet<T: std::fmt::Debug>(rx: &mut mpsc::UnboundedReceiver<T>) {
    if let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
        panic!("expected nothing, got {message:?}");
    }
}

/// A stroke start by `node`, op number `seq`, on the first page.
pub fn stroke_start(node: u64, seq: u64) -> Op {
    Op {
        id: OpId {
            node: NodeId(node),
            seq,
        },
        lamport: seq,
        action: Action::StrokeStart {
            page: FIRST_PAGE,
            tool: Tool::Pen,
            color: Color::rgb(1, 2, 3),
            width: 2.0,
        },
    }
}

/// The same on the wire.
pub fn wire_start(node: u64, seq: u64) -> WireOp {
    WireOp::from_op(&stroke_start(node, seq))
}

/// A participant with a key of its own: its ops are named after the key and signed as
/// an author signs them.
pub struct TestAuthor {
    pub key: ring::signature::Ed25519KeyPair,
    pub node: NodeId,
    pub authority: canopy_protocol::Authority,
    pub session: canopy_protocol::SessionId,
    signer: canopy_protocol::Signer,
}

impl TestAuthor {
    /// An editor of the session whose key is `session_key`.
    pub fn editor(session_key: &ring::signature::Ed25519KeyPair) -> Self {
        Self::with_role(session_key, canopy_protocol::Role::Editor)
    }

    /// The session's host: the session key made it an editor.
    pub fn host(session_key: &ring::signature::Ed25519KeyPair) -> Self {
        let key = new_key();
        let (session, authority) = canopy_protocol::Authority::root(session_key, &key, 1);
        Self::with_key(key, authority, session)
    }

    /// A participant of `role`, admitted by a node the session key made an editor.
    pub fn with_role(
        session_key: &ring::signature::Ed25519KeyPair,
        role: canopy_protocol::Role,
    ) -> Self {
        let key = new_key();
        let parent = new_key();
        let (session, parent_authority) = canopy_protocol::Authority::root(session_key, &parent, 1);
        let authority = parent_authority.delegate(
            &session,
            &parent,
            canopy_protocol::public_key(&key),
            role,
            None,
            2,
        );
        Self::with_key(key, authority, session)
    }

    /// An editor `minter` made with a grant of its own (as any editor can, as many
    /// times as it likes).
    pub fn minted_by(minter: &TestAuthor, nonce: u64) -> Self {
        let key = new_key();
        let authority = minter.authority.delegate(
            &minter.session,
            &minter.key,
            canopy_protocol::public_key(&key),
            canopy_protocol::Role::Editor,
            None,
            nonce,
        );
        Self::with_key(key, authority, minter.session)
    }

    /// A participant `admitter` let in with `invite` (minted by whoever: the
    /// admitter vouches for the marks of everyone the invite came through).
    pub fn admitted_with(admitter: &TestAuthor, invite: &canopy_protocol::Invite) -> Self {
        let key = new_key();
        let authority = admitter
            .authority
            .admit(
                &admitter.session,
                &admitter.key,
                invite,
                canopy_protocol::public_key(&key),
                canopy_protocol::Role::Editor,
                None,
            )
            .expect("a chain short enough to admit");
        Self::with_key(key, authority, admitter.session)
    }

    /// The author whose key is `key`, made one by `authority` (a node's own: what it
    /// signed before it lost its file, as the tree still holds it).
    pub fn with_key(
        key: ring::signature::Ed25519KeyPair,
        authority: canopy_protocol::Authority,
        session: canopy_protocol::SessionId,
    ) -> Self {
        let author = canopy_protocol::AuthorKey(canopy_protocol::public_key(&key));
        TestAuthor {
            node: author.node_id(),
            signer: canopy_protocol::Signer::fresh(session, author),
            key,
            authority,
            session,
        }
    }

    /// Starts the author's log over, as an author that signs a second log does.
    pub fn restart(&mut self) {
        self.signer = canopy_protocol::Signer::fresh(
            self.session,
            canopy_protocol::AuthorKey(canopy_protocol::public_key(&self.key)),
        );
    }

    /// The author's stroke start number `seq` (clock the same).
    pub fn start(&self, seq: u64) -> Op {
        Op {
            id: OpId {
                node: self.node,
                seq,
            },
            ..stroke_start(0, seq)
        }
    }

    /// The author's new page, number `seq` (clock the same): an op outside any stroke.
    pub fn page(&self, seq: u64) -> Op {
        Op {
            id: OpId {
                node: self.node,
                seq,
            },
            lamport: seq,
            action: Action::NewPage { position: 1.0 },
        }
    }

    /// A whole stroke of the author's from number `first`: its start, one point and
    /// its end (clocks the same as the numbers).
    pub fn stroke(&self, first: u64) -> Vec<Op> {
        let start = self.start(first);
        let op = |seq: u64, action: Action| Op {
            id: OpId {
                node: self.node,
                seq,
            },
            lamport: seq,
            action,
        };
        let points = op(
            first + 1,
            Action::StrokePoints {
                stroke: start.id,
                offset: 0,
                points: vec![canopy_canvas::Point::new(1.0, 2.0)],
            },
        );
        let end = op(
            first + 2,
            Action::StrokeEnd {
                stroke: start.id,
                points: 1,
            },
        );
        vec![start, points, end]
    }

    /// Signs the author's next `ops` (in order): the last and checkpoints carry the
    /// signature.
    pub fn sign(&mut self, ops: &[Op]) -> Vec<WireOp> {
        self.signer.sign_batch(&self.key, ops).unwrap().0
    }

    /// Signs each of `ops` as the author's next, with no rule checked: what a
    /// hostile author can sign.
    pub fn sign_anything(&mut self, ops: &[Op]) -> Vec<WireOp> {
        ops.iter()
            .map(|op| {
                let mut wire = WireOp::from_op(op);
                let (_, signature) = self
                    .signer
                    .sign(&self.key, op.id.seq, op.lamport, &wire.payload)
                    .unwrap();
                wire.signature = Some(signature);
                wire
            })
            .collect()
    }

    /// Signs `(seq, lamport, payload)` as the author's next ops, whatever the
    /// payloads say (a reader's content, scrambled past its header, as a blind
    /// relay carries it), each with its signature.
    pub fn sign_payloads(&mut self, ops: &[(u64, u64, Vec<u8>)]) -> Vec<WireOp> {
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

    /// The author's next `ops`, signed and verified: what a checker hands the document.
    pub fn run(&mut self, ops: &[Op]) -> canopy_node::session::Run {
        let (wire, verified) = self.signer.sign_batch(&self.key, ops).unwrap();
        canopy_node::session::Run {
            author: self.node,
            ops: wire
                .into_iter()
                .zip(ops)
                .map(|(wire, op)| canopy_node::session::Checked {
                    wire,
                    op: Some(op.clone()),
                    shape: canopy_canvas::Shape::of(&op.action),
                })
                .collect(),
            verified,
        }
    }

    /// Makes the author known to a session's authors table.
    pub fn introduce(&self, authors: &canopy_node::session::SharedAuthors) {
        canopy_node::session::Authors::write(authors)
            .learn(&self.authority)
            .unwrap();
    }
}

/// A fresh Ed25519 key.
pub fn new_key() -> ring::signature::Ed25519KeyPair {
    let pkcs8 =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
}
