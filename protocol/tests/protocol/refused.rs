//! Proof that an author signed an op no node takes: one signed side that holds it.
//! A node that cannot read payloads passes such ops on, so the node that refuses one
//! shows every other that the author, not the link, is to blame.

use canopy_canvas::{Action, Color, OpId, Tool, FIRST_PAGE};
use canopy_protocol::*;
use proptest::prelude::*;
use ring::signature::Ed25519KeyPair;

use super::key;

fn session() -> SessionId {
    SessionId(*b"refused content session id 32 by")
}

/// A stroke start `width` wide.
fn start_of(width: f32) -> Action {
    Action::StrokeStart {
        page: FIRST_PAGE,
        tool: Tool::Pen,
        color: Color {
            r: 0,
            g: 0,
            b: 0,
            a: 255,
        },
        width,
    }
}

/// A stroke start every node takes.
fn start() -> Action {
    start_of(2.0)
}

/// The same, wider than any node takes.
fn too_wide() -> Action {
    start_of(1e9)
}

fn payload(author: &AuthorKey, seq: u64, action: &Action) -> Vec<u8> {
    encode_action(
        OpId {
            node: author.node_id(),
            seq,
        },
        action,
    )
}

/// Payloads for ops 1..=5 of `author`: `bad` at op 4, every node takes the rest.
fn with_at_four(author: &AuthorKey, bad: impl Fn(&AuthorKey) -> Vec<u8>) -> Vec<Vec<u8>> {
    (1..=5)
        .map(|seq| {
            if seq == 4 {
                bad(author)
            } else {
                payload(author, seq, &start())
            }
        })
        .collect()
}

/// Signs payloads that depend on the author's key (payloads name their op's id).
fn side_of(payloads: impl Fn(&AuthorKey) -> Vec<Vec<u8>>) -> (Fork, AuthorKey) {
    // The key is made first, then the payloads for it.
    let key: Ed25519KeyPair = key();
    let author = AuthorKey(public_key(&key));
    let mut signer = Signer::fresh(session(), author);
    let mut ops = Vec::new();
    for (index, payload) in payloads(&author).into_iter().enumerate() {
        let seq = index as u64 + 1;
        signer.extend(seq, seq * 2, &payload).unwrap();
        ops.push((seq, seq * 2, payload));
    }
    let signature = signer.sign_head(&key);
    let side = Fork::numbered(Head::genesis(&session(), &author), 0, ops, signature);
    (side, author)
}

#[test]
fn a_signed_op_no_node_takes_is_proof_against_its_author() {
    let (side, author) = side_of(|author| with_at_four(author, |a| payload(a, 4, &too_wide())));
    let evidence = Evidence::refused(&session(), author, 0, side.clone()).unwrap();
    assert_eq!(evidence.refused, Some(4));
    assert_eq!(evidence.what(), "signed an op no node takes");
    assert!(evidence.verify(&session()));
    assert!(!evidence.verify(&SessionId([1; 32])));
    // It travels and is kept as bytes.
    assert_eq!(
        Evidence::from_bytes(&evidence.to_bytes()),
        Some(evidence.clone())
    );

    // Naming an op every node takes proves nothing; nor does a second side, another
    // form, another starting point or a signature moved from elsewhere.
    for forged in [
        Evidence {
            refused: Some(3),
            ..evidence.clone()
        },
        Evidence {
            refused: Some(6),
            ..evidence.clone()
        },
        Evidence {
            second: side.clone(),
            ..evidence.clone()
        },
        Evidence {
            seal_at: Some(5),
            ..evidence.clone()
        },
        Evidence {
            seq: 1,
            ..evidence.clone()
        },
    ] {
        assert!(!forged.verify(&session()), "{forged:?}");
    }
    let (other, _) = side_of(|author| with_at_four(author, |a| payload(a, 4, &too_wide())));
    let mut moved = evidence.clone();
    moved.first.signature = other.signature;
    assert!(!moved.verify(&session()));
}

#[test]
fn a_payload_that_does_not_decode_is_proof_too() {
    let (side, author) = side_of(|author| with_at_four(author, |_| vec![0xff; 9]));
    let evidence = Evidence::refused(&session(), author, 0, side).unwrap();
    assert_eq!(evidence.refused, Some(4));
    assert!(evidence.verify(&session()));
}

#[test]
fn a_side_every_node_takes_is_no_proof() {
    let (side, author) = side_of(|author| with_at_four(author, |a| payload(a, 4, &start())));
    assert_eq!(Evidence::refused(&session(), author, 0, side), None);
    // Nor is a side its author did not sign.
    let (mut side, author) = side_of(|author| with_at_four(author, |a| payload(a, 4, &too_wide())));
    side.signature = Signature::from_bytes(&[7; 64]);
    assert_eq!(Evidence::refused(&session(), author, 0, side), None);
}

#[test]
fn proofs_kept_before_refused_content_was_proof_still_read() {
    // Protocols 10 and 11 encoded evidence without the last `None`.
    let (side, author) = side_of(|_| vec![vec![1, 2, 3]]);
    let (other, _) = side_of(|_| vec![vec![4, 5, 6]]);
    let old = Evidence {
        author,
        seq: 0,
        first: side,
        second: other,
        seal_at: None,
        first_seal_at: None,
        refused: None,
    };
    let bytes = old.to_bytes();
    assert_eq!(bytes.last(), Some(&0));
    assert_eq!(Evidence::from_bytes(&bytes[..bytes.len() - 1]), Some(old));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever op 4 is, a signed side holding it is proof exactly when no node
    /// takes it ([`read_op`]).
    #[test]
    fn proof_is_made_exactly_of_what_no_node_takes(
        bytes in prop::collection::vec(any::<u8>(), 0..48),
        width in prop_oneof![Just(2.0f32), Just(0.0f32), Just(1e9f32), any::<f32>()],
        decodable in any::<bool>(),
    ) {
        let (side, author) = side_of(|author| {
            with_at_four(author, |a| {
                if decodable {
                    payload(a, 4, &start_of(width))
                } else {
                    bytes.clone()
                }
            })
        });
        let op = side.ops[3].clone();
        let refused = read_op(
            OpId { node: author.node_id(), seq: 4 },
            op.0,
            &op.1,
        )
        .is_err();
        let evidence = Evidence::refused(&session(), author, 0, side);
        prop_assert_eq!(evidence.is_some(), refused);
        if let Some(evidence) = evidence {
            prop_assert_eq!(evidence.refused, Some(4));
            prop_assert!(evidence.verify(&session()));
        }
    }
}
