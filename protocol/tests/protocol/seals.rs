//! Seals in signed logs: a seal hashes on from the head before its stroke's start,
//! so a joiner that holds the log up to there verifies it without the chunks it
//! stands for, and a holder of some of them takes it too, ending where both agree.

use canopy_canvas::{
    Action, Color, Document, Op, OpId, Point, Shape, StrokeRule, Tool, FIRST_PAGE,
};
use canopy_protocol::*;
use ring::signature::Ed25519KeyPair;

use super::key;

fn session() -> SessionId {
    SessionId(*b"sealed strokes session id 32 by!")
}

struct Author {
    key: Ed25519KeyPair,
    public: AuthorKey,
    document: Document,
    signer: Signer,
}

impl Author {
    fn new() -> Author {
        let key = key();
        let public = AuthorKey(public_key(&key));
        Author {
            document: Document::new(public.node_id()),
            signer: Signer::fresh(session(), public),
            key,
            public,
        }
    }

    /// A stroke drawn live, `chunks` chunks of one point: its start, chunks, end
    /// and seal, in order.
    fn stroke(&mut self, chunks: usize) -> Vec<Op> {
        stroke_of(self, &vec![1; chunks])
    }

    /// Signs `ops` as the next batch.
    fn sign(&mut self, ops: &[Op]) -> Vec<WireOp> {
        self.signer.sign_batch(&self.key, ops).unwrap().0
    }
}

fn entries<'a>(wires: &'a [WireOp], ops: &[Op]) -> Vec<Entry<'a>> {
    wires
        .iter()
        .zip(ops)
        .map(|(wire, op)| Entry::of(wire, &op.action))
        .collect()
}

/// What a holder serves of a log with seals: the seals in place of the ops they
/// stand for, each signed as the author signed it.
fn served(live: &[(Vec<WireOp>, Vec<Op>)]) -> (Vec<WireOp>, Vec<Op>) {
    let mut wires = Vec::new();
    let mut ops: Vec<Op> = Vec::new();
    for (batch_wires, batch_ops) in live {
        for (wire, op) in batch_wires.iter().zip(batch_ops) {
            if let Action::StrokeSealed { stroke, .. } = &op.action {
                while ops.last().is_some_and(|held| held.id.seq >= stroke.seq) {
                    ops.pop();
                    wires.pop();
                }
            }
            wires.push(wire.clone());
            ops.push(op.clone());
        }
    }
    (wires, ops)
}

#[test]
fn a_joiner_takes_seals_without_the_chunks_they_stand_for() {
    let mut author = Author::new();
    let mut live = Vec::new();
    for chunks in [5, 1, 12] {
        let ops = author.stroke(chunks);
        // Drawn as people draw: a batch of chunks at a time, the seal on its own.
        let (drawn, seal) = ops.split_at(ops.len() - 1);
        for part in drawn.chunks(3) {
            live.push((author.sign(part), part.to_vec()));
        }
        live.push((author.sign(seal), seal.to_vec()));
    }
    let page = vec![author.document.new_page().unwrap()];
    live.push((author.sign(&page), page));

    // A holder takes the log as it was drawn.
    let mut holder = AuthorLog::new(&session(), author.public);
    for (wires, ops) in &live {
        let verified = holder.verify(&session(), &entries(wires, ops)).unwrap();
        holder.accept(verified);
    }
    // A joiner takes the seals alone, in one run, and ends where the holder is.
    let (wires, ops) = served(&live);
    assert_eq!(ops.len(), 4, "three seals and the page");
    let mut joiner = AuthorLog::new(&session(), author.public);
    let verified = joiner.verify(&session(), &entries(&wires, &ops)).unwrap();
    assert_eq!(
        verified.sealed,
        vec![(1, 8), (9, 12), (13, 27)],
        "each seal stands for its stroke"
    );
    joiner.accept(verified);
    assert_eq!(joiner.tail(), holder.tail());
    assert_eq!(joiner.head(), author.signer.head());

    // What follows verifies at both.
    let next = author.stroke(2);
    let (wires, _) = author.signer.sign_batch(&author.key, &next).unwrap();
    for log in [&holder, &joiner] {
        assert!(log.verify(&session(), &entries(&wires, &next)).is_ok());
    }
}

#[test]
fn a_holder_inside_a_stroke_takes_its_seal_and_ends_where_the_author_is() {
    let mut author = Author::new();
    let ops = author.stroke(6);
    let first = author.sign(&ops[..3]);
    let rest = author.sign(&ops[3..8]);
    let seal = author.sign(&ops[8..]);
    let mut holder = AuthorLog::new(&session(), author.public);
    let verified = holder
        .verify(&session(), &entries(&first, &ops[..3]))
        .unwrap();
    holder.accept(verified);
    assert_eq!(
        holder.strokes(),
        StrokeRule::open_at(Some(1)).with_points(2)
    );
    // The rest of the chunks never came; the seal did.
    let verified = holder
        .verify(&session(), &entries(&seal, &ops[8..]))
        .unwrap();
    assert_eq!(verified.sealed, vec![(1, 9)]);
    holder.accept(verified);
    assert_eq!((holder.seq(), holder.head()), (9, author.signer.head()));
    assert_eq!(holder.strokes(), StrokeRule::default());
    // The chunks coming late are held already.
    assert!(matches!(
        holder.verify(&session(), &entries(&rest, &ops[3..8])),
        Err(RunError::Gap { .. })
    ));
}

#[test]
fn a_seal_is_taken_only_from_before_or_inside_its_stroke() {
    let mut author = Author::new();
    let page = vec![author.document.new_page().unwrap()];
    let page_wire = author.sign(&page);
    let ops = author.stroke(2);
    let drawn = author.sign(&ops[..4]);
    let seal = author.sign(&ops[4..]);
    let seal_entries = entries(&seal, &ops[4..]);
    let refused = |log: &AuthorLog| log.verify(&session(), &seal_entries);
    let out_of_place = Err(RunError::StrokeRule {
        author: author.public.node_id(),
        error: canopy_canvas::StrokeRuleError::SealOutOfPlace { seq: 6, stroke: 2 },
    });
    // A log standing before the page lacks an op the seal does not stand for.
    let fresh = AuthorLog::new(&session(), author.public);
    assert_eq!(refused(&fresh), out_of_place);
    // One standing just before the stroke takes it.
    let mut before = AuthorLog::new(&session(), author.public);
    let verified = before
        .verify(&session(), &entries(&page_wire, &page))
        .unwrap();
    before.accept(verified);
    assert!(refused(&before).is_ok());
    // One that took the seal takes no second one.
    let verified = before.verify(&session(), &seal_entries).unwrap();
    before.accept(verified);
    assert!(matches!(
        refused(&before),
        Err(RunError::NotConsecutive { .. } | RunError::StrokeRule { .. })
    ));
    // One that holds the stroke to its end takes it, as on the live path.
    let mut holder = AuthorLog::new(&session(), author.public);
    for (wires, ops) in [(&page_wire, &page[..]), (&drawn, &ops[..4])] {
        let verified = holder.verify(&session(), &entries(wires, ops)).unwrap();
        holder.accept(verified);
    }
    assert_eq!(holder.strokes().open(), Some(2));
    assert!(refused(&holder).is_ok(), "right after its end, live");
    // Restored from a file, it does not know the head before the stroke: it waits
    // for what its store keeps (docs/SEALED-STROKES.md, step 3).
    let mut restored = AuthorLog::new(&session(), author.public);
    let mut taken = before_seal(&drawn, &ops[..4], &page_wire, &page, &author);
    assert!(taken.base.is_some());
    taken.base = None;
    restored.accept(taken);
    assert_eq!(restored.strokes().open(), Some(2));
    assert_eq!(refused(&restored), out_of_place);
}

#[test]
fn a_seal_signed_over_a_head_chained_from_its_chunks_is_refused() {
    let mut author = Author::new();
    let ops = author.stroke(3);
    let (mut wires, _) = author.signer.sign_batch(&author.key, &ops).unwrap();
    // The same seal, signed as if it followed its end like any op.
    let mut linear = Signer::fresh(session(), author.public);
    for (wire, op) in wires.iter().zip(&ops) {
        linear.extend(op.id.seq, op.lamport, &wire.payload).unwrap();
    }
    let last = wires.len() - 1;
    wires[last].signature = Some(linear.sign_head(&author.key));
    let held = AuthorLog::new(&session(), author.public);
    assert!(matches!(
        held.verify(&session(), &entries(&wires, &ops)),
        Err(RunError::BadSignature { seq: 6, .. })
    ));
}

#[test]
fn a_signer_seals_only_strokes_it_saw_begin() {
    let mut author = Author::new();
    let ops = author.stroke(2);
    let (_, verified) = author.signer.sign_batch(&author.key, &ops[..3]).unwrap();
    // A signer made again while the stroke is open (a restart) does not know the
    // head before its start.
    let mut again = Signer::new(session(), author.public, verified.seq, verified.head)
        .with_strokes(verified.strokes, None);
    assert_eq!(
        again.sign_batch(&author.key, &ops[3..]).map(|_| ()),
        Err(SignError::NoBase { seq: 5 })
    );
    // Told it, it does.
    let mut told = Signer::new(session(), author.public, verified.seq, verified.head)
        .with_strokes(verified.strokes, verified.base);
    assert!(told.sign_batch(&author.key, &ops[3..]).is_ok());
    assert_eq!(told.head(), {
        author.signer.sign_batch(&author.key, &ops[3..]).unwrap();
        author.signer.head()
    });
}

#[test]
fn a_split_before_a_seal_is_not_taken_for_proof() {
    let mut author = Author::new();
    let ops = author.stroke(2);
    let (wires, verified) = Signer::fresh(session(), author.public)
        .sign_batch(&author.key, &ops)
        .unwrap();
    let mut holder = AuthorLog::new(&session(), author.public);
    holder.accept(verified);
    // Other points at op 2, then the same end and seal: the seal's head does not
    // depend on them, so nothing here proves the author signed two logs.
    let mut other_points = ops[1].clone();
    if let Action::StrokePoints { points, .. } = &mut other_points.action {
        points[0] = Point::new(99.0, 99.0);
    }
    let other_wire = WireOp::from_op(&other_points);
    let theirs = vec![
        Entry::of(&other_wire, &other_points.action),
        Entry::of(&wires[2], &ops[2].action),
        Entry::of(&wires[3], &ops[3].action),
        Entry::of(&wires[4], &ops[4].action),
    ];
    let ours = entries(&wires, &ops);
    assert_eq!(holder.conflict(&session(), &theirs, &ours), None);
    assert_eq!(Shape::of(&ops[4].action), Shape::Seal(1));
}

/// The page and the drawn ops of a stroke, verified from the log's start: what a
/// holder took before the seal.
fn before_seal(
    drawn: &[WireOp],
    drawn_ops: &[Op],
    page_wire: &[WireOp],
    page: &[Op],
    author: &Author,
) -> Verified {
    let mut wires = page_wire.to_vec();
    wires.extend_from_slice(drawn);
    let mut ops = page.to_vec();
    ops.extend_from_slice(drawn_ops);
    AuthorLog::new(&session(), author.public)
        .verify(&session(), &entries(&wires, &ops))
        .unwrap()
}

/// A stroke of chunks of the given sizes (in points), drawn live, ended, and sealed
/// if it fits one op.
/// While a stroke is open, its log keeps the signed head just before its start, however
/// many signed ops follow: a revocation cuts there, before a stroke that some replicas
/// may hold as its seal and others as its ops. Once the stroke is sealed, that head
/// may go as any other.
#[test]
fn the_signed_head_before_an_open_stroke_is_kept_until_it_is_sealed() {
    let mut author = Author::new();
    let mut log = AuthorLog::new(&session(), author.public);
    let take = |log: &mut AuthorLog, author: &mut Author, ops: &[Op]| {
        let wires = author.sign(ops);
        let verified = log.verify(&session(), &entries(&wires, ops)).unwrap();
        log.accept(verified);
    };
    let page = vec![author.document.new_page().unwrap()];
    take(&mut log, &mut author, &page);
    let ops = author.stroke(4);
    // The start and each chunk signed on their own, as a pen's batches are.
    for op in &ops[..5] {
        take(&mut log, &mut author, std::slice::from_ref(op));
    }
    assert!(
        log.signature(1).is_some(),
        "the head before the open stroke was forgotten"
    );
    take(&mut log, &mut author, &ops[5..]);
    assert!(
        log.signature(1).is_none(),
        "kept after its stroke was sealed"
    );
    let next = author.stroke(2);
    take(&mut log, &mut author, &next[..2]);
    // Now the head before the new open stroke is the last seal's.
    assert!(log.signature(next[0].id.seq - 1).is_some());
}

/// A seal may stand for at most `MAX_SEALED_OPS` ops: its number bounds its clock, and
/// a joiner takes it without the ops before it, so one far past its stroke would jump
/// its author's log and clock as far as it liked.
#[test]
fn a_seal_is_taken_only_within_its_span_of_its_stroke() {
    use canopy_canvas::MAX_SEALED_OPS;
    let author = Author::new();
    let joiner = Tail::genesis(&session(), &author.public);
    assert!(joiner.seal_base(1, 1 + MAX_SEALED_OPS).is_some());
    assert_eq!(joiner.seal_base(1, 2 + MAX_SEALED_OPS), None);
    assert_eq!(joiner.seal_base(1, u64::MAX), None);
}

/// Proof that an author split its log runs through a seal that follows the split:
/// the seal hashes on from the head before its stroke's start, which lies within
/// that side of the proof.
#[test]
fn proof_of_a_split_runs_through_a_seal_after_it() {
    let mut author = Author::new();
    let first = vec![author.document.new_page().unwrap()];
    let first_wires = author.sign(&first);
    // Two logs from here. One makes a page, then draws a stroke and seals it, signed
    // once at the seal; the other clears the first page, signed.
    let (mut other_document, mut other_signer) = (author.document.clone(), author.signer.clone());
    let mut one = vec![author.document.new_page().unwrap()];
    one.extend(author.stroke(3));
    let one_wires = author.sign(&one);
    assert!(matches!(
        one.last().map(|op| &op.action),
        Some(Action::StrokeSealed { .. })
    ));
    let other = vec![other_document.clear_page(FIRST_PAGE).unwrap()];
    let (_, other_verified) = other_signer.sign_batch(&author.key, &other).unwrap();

    let split = 2;
    let common = Head::genesis(&session(), &author.public).next(
        1,
        first_wires[0].lamport,
        &first_wires[0].payload,
    );
    let their_head = common.next(split, one_wires[0].lamport, &one_wires[0].payload);
    let theirs = Fork {
        head: their_head,
        ops: one_wires[1..]
            .iter()
            .map(|wire| (wire.lamport, wire.payload.clone()))
            .collect(),
        signature: one_wires.last().unwrap().signature.unwrap(),
        jumps: Vec::new(),
    };
    let (_, our_head, our_signature) = other_verified.keep[0];
    let ours = Fork {
        head: our_head,
        ops: Vec::new(),
        signature: our_signature,
        jumps: Vec::new(),
    };
    let evidence = Evidence::new(&session(), author.public, split, theirs, ours)
        .expect("a proof through the seal");
    assert!(evidence.verify(&session()));
}

/// The author's first op, a page, signed: the head after it, where the logs of the
/// split tests part.
fn page_first(author: &mut Author) -> Head {
    let first = vec![author.document.new_page().unwrap()];
    let first_wires = author.sign(&first);
    Head::genesis(&session(), &author.public).next(
        1,
        first_wires[0].lamport,
        &first_wires[0].payload,
    )
}

/// Checks that `evidence` verifies, reads back the same from its bytes, and cuts
/// the author's log off at op `at`.
fn proves_a_split_at(author: &Author, evidence: &Evidence, at: u64) {
    assert!(evidence.verify(&session()));
    assert_eq!(
        Evidence::from_bytes(&evidence.to_bytes()).as_ref(),
        Some(evidence)
    );
    let mut holder = AuthorLog::new(&session(), author.public);
    assert!(holder.cut(&session(), evidence));
    assert_eq!(holder.cut_at(), Some(at));
}

/// `evidence` (its sides without jumps) as protocol 9 encoded it: sides had no
/// jumps then, and files keep such proofs.
fn before_jumps(evidence: &Evidence) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Side<'a> {
        head: &'a Head,
        ops: &'a Vec<(u64, Vec<u8>)>,
        signature: &'a Signature,
    }
    #[derive(serde::Serialize)]
    struct Before<'a> {
        author: &'a AuthorKey,
        seq: u64,
        first: Side<'a>,
        second: Side<'a>,
        seal_at: Option<u64>,
        first_seal_at: Option<u64>,
    }
    fn side(fork: &Fork) -> Side<'_> {
        assert!(fork.jumps.is_empty());
        Side {
            head: &fork.head,
            ops: &fork.ops,
            signature: &fork.signature,
        }
    }
    let before = Before {
        author: &evidence.author,
        seq: evidence.seq,
        first: side(&evidence.first),
        second: side(&evidence.second),
        seal_at: evidence.seal_at,
        first_seal_at: evidence.first_seal_at,
    };
    bincode::serde::encode_to_vec(&before, bincode::config::standard()).unwrap()
}

fn side(head: Head, wires: &[WireOp]) -> Fork {
    Fork {
        head,
        ops: wires
            .iter()
            .map(|wire| (wire.lamport, wire.payload.clone()))
            .collect(),
        signature: wires.last().unwrap().signature.unwrap(),
        jumps: Vec::new(),
    }
}

/// An author that signs, from one head, a stroke and its seal to some nodes and other
/// ops to others has split its log, though no number holds two signed heads a node
/// sent the seal alone could compare: the proof is the head before the stroke, the
/// seal from it and the other ops from it, each signed. Ops that may be the stroke
/// the seal stands for prove nothing.
#[test]
fn a_split_hidden_under_a_seal_is_proven_from_the_head_before_its_stroke() {
    let mut author = Author::new();
    let common = page_first(&mut author);
    let (mut other_document, mut other_signer) = (author.document.clone(), author.signer.clone());
    // One log: a stroke of three chunks (ops 2..=6) and its seal (7), signed after
    // its second chunk and at the seal.
    let stroke = author.stroke(3);
    let stroke_wires: Vec<WireOp> = [author.sign(&stroke[..3]), author.sign(&stroke[3..])].concat();
    let seal_at = stroke.last().unwrap().id.seq;
    assert_eq!(seal_at, 7);
    // The other: a clear and a page from op 2 on, signed at op 3.
    let other = vec![
        other_document.clear_page(FIRST_PAGE).unwrap(),
        other_document.new_page().unwrap(),
    ];
    let (other_wires, _) = other_signer.sign_batch(&author.key, &other).unwrap();
    let seal_side = side(common, &stroke_wires[5..]);

    let evidence = Evidence::under_seal(
        &session(),
        author.public,
        2,
        seal_at,
        seal_side.clone(),
        side(common, &other_wires),
    )
    .expect("proof of a split under a seal");
    proves_a_split_at(&author, &evidence, 2);

    // The stroke's own ops prove nothing: a prefix, or all of it to the seal.
    for honest in [&stroke_wires[..3], &stroke_wires[..]] {
        assert_eq!(
            Evidence::under_seal(
                &session(),
                author.public,
                2,
                seal_at,
                seal_side.clone(),
                side(common, honest),
            ),
            None
        );
    }
    // Nor does a seal under another number, or signed by nobody, or a made-up head.
    let wrong = [
        (seal_at + 1, seal_side.clone(), common),
        (
            seal_at,
            Fork {
                signature: other_wires[1].signature.unwrap(),
                ..seal_side.clone()
            },
            common,
        ),
        (
            seal_at,
            Fork {
                head: Head([7; 32]),
                ..seal_side.clone()
            },
            Head([7; 32]),
        ),
    ];
    for (at, seal, head) in wrong {
        assert_eq!(
            Evidence::under_seal(
                &session(),
                author.public,
                2,
                at,
                seal,
                side(head, &other_wires)
            ),
            None
        );
    }

    // The same split seen as two heads at op 2 (the stroke signed at op 4): proofs
    // of that form, kept before the form under a seal existed, still read.
    let theirs = side(
        common.next(2, stroke_wires[0].lamport, &stroke_wires[0].payload),
        &stroke_wires[1..3],
    );
    let ours = side(
        common.next(2, other_wires[0].lamport, &other_wires[0].payload),
        &other_wires[1..],
    );
    let two_heads = Evidence::new(&session(), author.public, 2, theirs, ours).unwrap();
    let bytes = before_jumps(&two_heads);
    assert_eq!(
        bytes.last(),
        Some(&0),
        "no seal number: the old layout, then None"
    );
    assert_eq!(
        Evidence::from_bytes(&bytes[..bytes.len() - 1]),
        Some(two_heads)
    );
}

/// An author that seals one stroke under two numbers, each for other nodes, has
/// split its log: one log holds one seal of a stroke, right after its end. A node
/// that holds one seal in place of the stroke's ops proves it with both seals from
/// the head before the stroke, each signed. One seal twice, or seals of two
/// strokes, prove nothing.
#[test]
fn two_seals_of_one_stroke_under_two_numbers_are_proof() {
    let mut author = Author::new();
    let common = page_first(&mut author);
    let (other_document, other_signer) = (author.document.clone(), author.signer.clone());
    // One log: the stroke started at op 2 in three chunks, sealed at op 7.
    let short = author.stroke(3);
    let short_wires = author.sign(&short);
    // The other: the same stroke in four chunks, sealed at op 8, then a page,
    // signed there.
    author.document = other_document;
    author.signer = other_signer;
    let mut long = author.stroke(4);
    long.push(author.document.new_page().unwrap());
    let long_wires = author.sign(&long);
    let short_at = short.last().unwrap().id.seq;
    let long_at = long[long.len() - 2].id.seq;
    assert_eq!((short_at, long_at), (7, 8));
    let short_side = side(common, &short_wires[5..]);
    let long_side = side(common, &long_wires[6..]);

    let evidence = Evidence::two_seals(
        &session(),
        author.public,
        2,
        (long_at, long_side.clone()),
        (short_at, short_side.clone()),
    )
    .expect("proof of two seals");
    proves_a_split_at(&author, &evidence, 2);
    assert_eq!(
        (evidence.first_seal_at, evidence.seal_at),
        (Some(short_at), Some(long_at)),
        "in canonical order"
    );

    // One seal twice proves nothing; nor a seal under a number it was not signed
    // at, a seal of another stroke, or sides from a made-up head.
    let made_up = |fork: &Fork| Fork {
        head: Head([7; 32]),
        ..fork.clone()
    };
    let wrong = [
        (
            2,
            (short_at, short_side.clone()),
            (short_at, short_side.clone()),
        ),
        (
            2,
            (short_at, short_side.clone()),
            (long_at + 1, long_side.clone()),
        ),
        (
            3,
            (short_at, short_side.clone()),
            (long_at, long_side.clone()),
        ),
        (
            2,
            (short_at, made_up(&short_side)),
            (long_at, made_up(&long_side)),
        ),
        (
            2,
            (short_at, short_side.clone()),
            (long_at, made_up(&long_side)),
        ),
    ];
    for (stroke, one, other) in wrong {
        assert_eq!(
            Evidence::two_seals(&session(), author.public, stroke, one, other),
            None
        );
    }
    // Out of canonical order, or with a first seal but no second, it does not
    // verify either.
    let swapped = Evidence {
        first: evidence.second.clone(),
        second: evidence.first.clone(),
        first_seal_at: evidence.seal_at,
        seal_at: evidence.first_seal_at,
        ..evidence.clone()
    };
    assert!(!swapped.verify(&session()));
    let half = Evidence {
        seal_at: None,
        ..evidence.clone()
    };
    assert!(!half.verify(&session()));

    // Proofs kept before this form (protocol 8) read as the form under a seal or
    // two heads: this layout without its trailing `None`.
    let under_seal = Evidence {
        first_seal_at: None,
        ..evidence.clone()
    };
    let bytes = before_jumps(&under_seal);
    assert_eq!(bytes.last(), Some(&0));
    assert_eq!(
        Evidence::from_bytes(&bytes[..bytes.len() - 1]),
        Some(under_seal)
    );
}

/// A holder that keeps a seal in place of its stroke's ops shows its log through it
/// as a jump: the seal numbered past the op after the one before it, hashed on from
/// the head before its stroke (right after that op). A side with the jump proves a
/// split; the same ops numbered one by one, a jump to another number, or a jump to
/// an op that is not a seal of the stroke starting there, do not.
#[test]
fn a_side_jumps_past_the_ops_a_seal_held_in_their_place_stands_for() {
    let mut author = Author::new();
    let (one_wires, theirs) = page_then_seal_against_another_page(&mut author);
    let genesis = Head::genesis(&session(), &author.public);
    // Held: the page, then the seal in place of the stroke's ops.
    let seal = &one_wires[4];
    let held = Fork::numbered(
        after_first_page(&author, &one_wires),
        1,
        vec![(5, seal.lamport, seal.payload.clone())],
        seal.signature.unwrap(),
    );
    assert_eq!(held.jumps, vec![(0, 5)]);
    let evidence = Evidence::new(&session(), author.public, 1, theirs.clone(), held.clone())
        .expect("a proof through the seal held");
    proves_a_split_at(&author, &evidence, 1);

    let wrong = [
        Fork {
            jumps: Vec::new(),
            ..held.clone()
        },
        Fork {
            jumps: vec![(0, 6)],
            ..held.clone()
        },
        Fork {
            jumps: vec![(1, 5)],
            ..held.clone()
        },
        Fork {
            jumps: vec![(0, 5), (0, 5)],
            ..held.clone()
        },
        // The page (op 1) as a jump: not a seal.
        Fork::numbered(
            genesis,
            0,
            vec![(3, one_wires[0].lamport, one_wires[0].payload.clone())],
            seal.signature.unwrap(),
        ),
    ];
    for held in wrong {
        assert_eq!(
            Evidence::new(&session(), author.public, 1, theirs.clone(), held.clone()),
            None,
            "{:?}",
            held.jumps
        );
    }
}

/// A proof's ops are read for their shapes from their payloads' headers, as a link's
/// runs read them: a side through a seal whose content does not decode (as a relay
/// that cannot read payloads would hold it) is walked as its author signed it.
#[test]
fn a_side_is_walked_by_the_shapes_its_headers_say() {
    let mut author = Author::new();
    let (one_wires, theirs) = page_then_seal_against_another_page(&mut author);
    // The seal's header, then bytes that are no action; the author signs the log
    // through it as a seal of the stroke from op 2.
    let seal = &one_wires[4];
    let seal_id = OpId {
        node: author.public.node_id(),
        seq: 5,
    };
    let header = (1..=seal.payload.len())
        .find(|end| shape_of(seal_id, &seal.payload[..*end]).is_ok())
        .unwrap();
    let mut payload = seal.payload[..header].to_vec();
    payload.extend([0xff; 8]);
    assert!(decode_action(seal_id, &payload).is_err());
    let base = after_first_page(&author, &one_wires);
    let signature = Signature::sign(
        &author.key,
        &session(),
        5,
        &base.next(5, seal.lamport, &payload),
    );
    let held = Fork::numbered(base, 1, vec![(5, seal.lamport, payload)], signature);
    let evidence = Evidence::new(&session(), author.public, 1, theirs, held)
        .expect("a proof through the seal its header says");
    proves_a_split_at(&author, &evidence, 1);
}

/// Two logs of `author` from its first op: a page, then a stroke from op 2 sealed at
/// op 5 (the wires, signed only at the seal); and another first page, signed, as
/// the side of a proof from op 1.
fn page_then_seal_against_another_page(author: &mut Author) -> (Vec<WireOp>, Fork) {
    let (other_document, other_signer) = (author.document.clone(), author.signer.clone());
    let mut one = vec![author.document.new_page().unwrap()];
    one.extend(author.stroke(1));
    let one_wires = author.sign(&one);
    assert_eq!(one.last().unwrap().id.seq, 5);
    assert!(one_wires[..4].iter().all(|wire| wire.signature.is_none()));
    author.document = other_document;
    author.signer = other_signer;
    let mut other = vec![author.document.new_page().unwrap()];
    if let Action::NewPage { position } = &mut other[0].action {
        *position += 7.0;
    }
    let other_wires = author.sign(&other);
    let theirs = Fork {
        head: after_first_page(author, &other_wires),
        ops: Vec::new(),
        signature: other_wires[0].signature.unwrap(),
        jumps: Vec::new(),
    };
    (one_wires, theirs)
}

/// The head of `author`'s log after the first of `wires`.
fn after_first_page(author: &Author, wires: &[WireOp]) -> Head {
    Head::genesis(&session(), &author.public).next(1, wires[0].lamport, &wires[0].payload)
}

fn stroke_of(author: &mut Author, chunks: &[usize]) -> Vec<Op> {
    let start = author
        .document
        .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(1, 2, 3), 2.0)
        .unwrap();
    let id = start.id;
    let mut ops = vec![start];
    for (i, points) in chunks.iter().enumerate() {
        ops.push(
            author
                .document
                .extend_stroke(id, vec![Point::new(i as f32, 1.5); *points])
                .unwrap(),
        );
    }
    ops.push(author.document.end_stroke(id).unwrap());
    ops.extend(author.document.seal_stroke(id).ok());
    ops
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// A live holder takes strokes as drawn (batches ending anywhere), then their
    /// seals: the heads it kept among the sealed ops go, each seal's is kept in their
    /// place, and what it serves (seals for sealed strokes) is signed within a span
    /// everywhere and verifies at a joiner in pieces ending at the heads it keeps.
    #[test]
    fn a_holder_of_sealed_strokes_serves_them_signed_within_a_span(
        strokes in proptest::collection::vec(
            proptest::collection::vec(1usize..2000, 1..12), 1..8),
        cuts in proptest::collection::vec(1usize..6, 1..8),
    ) {
        let mut author = Author::new();
        let mut holder = AuthorLog::new(&session(), author.public);
        let mut live: Vec<(Vec<WireOp>, Vec<Op>)> = Vec::new();
        let mut cut = cuts.iter().cycle();
        for chunks in &strokes {
            let ops = stroke_of(&mut author, chunks);
            let mut from = 0;
            while from < ops.len() {
                let to = (from + cut.next().copied().unwrap_or(3)).min(ops.len());
                let wires = author.sign(&ops[from..to]);
                let verified = holder.verify(&session(), &entries(&wires, &ops[from..to])).unwrap();
                holder.accept(verified);
                live.push((wires, ops[from..to].to_vec()));
                from = to;
            }
        }
        let (wires, ops) = served(&live);
        let served: Vec<WireOp> = wires
            .into_iter()
            .map(|mut wire| {
                wire.signature = holder.signature(wire.id.seq).copied();
                wire
            })
            .collect();
        let served_seqs: Vec<u64> = served.iter().map(|w| w.id.seq).collect();
        for seq in 1..=holder.seq() {
            if holder.signature(seq).is_some() {
                proptest::prop_assert!(served_seqs.contains(&seq), "head {} kept but not served", seq);
            }
        }
        let mut since = 0u64;
        for wire in &served {
            if wire.signature.is_some() {
                proptest::prop_assert!(since <= SIGNED_SPAN, "{} unsigned bytes before {}", since, wire.id.seq);
                since = 0;
            } else {
                since += op_weight(wire.payload.len());
            }
        }
        // A joiner takes it in pieces, each ending at a head the holder keeps.
        let mut joiner = AuthorLog::new(&session(), author.public);
        let mut from = 0usize;
        while from < served.len() {
            let reach = (from + 5).min(served.len() - 1);
            let to = (from..=reach)
                .rev()
                .find(|i| served[*i].signature.is_some())
                .or_else(|| (reach..served.len()).find(|i| served[*i].signature.is_some()))
                .unwrap();
            let verified = joiner
                .verify(&session(), &entries(&served[from..=to], &ops[from..=to]))
                .unwrap();
            joiner.accept(verified);
            from = to + 1;
        }
        proptest::prop_assert_eq!(joiner.head(), holder.head());
        proptest::prop_assert_eq!(joiner.seq(), holder.seq());
    }
}
