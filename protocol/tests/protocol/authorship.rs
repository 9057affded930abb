//! Signed, hash-chained author logs: what verifies, what is refused, what is proof.

use canopy_canvas::Shape;
use canopy_protocol::*;
use proptest::prelude::*;
use ring::signature::Ed25519KeyPair;

use super::key;

/// An author's log as it travels: `(seq, lamport, payload, signature)` per op.
struct Log {
    key: Ed25519KeyPair,
    author: AuthorKey,
    session: SessionId,
    ops: Vec<(u64, u64, Vec<u8>, Signature)>,
}

impl Log {
    fn new(session: SessionId) -> Log {
        let key = key();
        let author = AuthorKey(public_key(&key));
        Log {
            key,
            author,
            session,
            ops: Vec::new(),
        }
    }

    /// `count` ops, payload `salt, n`, each signed.
    fn write(session: SessionId, count: u64, salt: u8) -> Log {
        let mut log = Log::new(session);
        log.extend(count, salt);
        log
    }

    fn extend(&mut self, count: u64, salt: u8) {
        let mut signer = match self.ops.last() {
            None => Signer::fresh(self.session, self.author),
            Some(_) => {
                let mut head = Head::genesis(&self.session, &self.author);
                for (seq, lamport, payload, _) in &self.ops {
                    head = head.next(*seq, *lamport, payload);
                }
                Signer::new(self.session, self.author, self.ops.len() as u64, head)
            }
        };
        for _ in 0..count {
            let seq = signer.seq() + 1;
            let payload = vec![salt, seq as u8, (seq >> 8) as u8];
            let (_, signature) = signer.sign(&self.key, seq, seq * 3, &payload).unwrap();
            self.ops.push((seq, seq * 3, payload, signature));
        }
    }

    /// Entries for ops `from..=to` (1-based), each with its signature.
    fn entries(&self, from: u64, to: u64) -> Vec<Entry<'_>> {
        self.ops[(from - 1) as usize..to as usize]
            .iter()
            .map(|(seq, lamport, payload, signature)| Entry {
                seq: *seq,
                lamport: *lamport,
                payload,
                signature: Some(signature),
                shape: Shape::Other,
            })
            .collect()
    }
}

fn session() -> SessionId {
    SessionId(*b"a session id of thirty-two bytes")
}

#[test]
fn an_author_is_named_by_its_key() {
    let a = AuthorKey(public_key(&key()));
    let b = AuthorKey(public_key(&key()));
    assert_ne!(a.node_id(), b.node_id());
    assert_eq!(a.node_id(), AuthorKey(a.0).node_id());
    assert_ne!(a.node_id().0, 0, "0 names the first page");
}

proptest! {
    /// A head is SHA-256 of the domain, the previous head, the op's number and clock
    /// and its payload, however long the payload (short ones are hashed from the
    /// stack, long ones in parts): every log ever signed hashes the same.
    #[test]
    fn a_head_is_the_hash_of_its_op_whatever_the_payload_length(
        previous in any::<[u8; 32]>(),
        seq in any::<u64>(),
        lamport in any::<u64>(),
        payload in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut input = b"canopy-op-v1".to_vec();
        input.extend_from_slice(&previous);
        input.extend_from_slice(&seq.to_be_bytes());
        input.extend_from_slice(&lamport.to_be_bytes());
        input.extend_from_slice(&payload);
        let expected = ring::digest::digest(&ring::digest::SHA256, &input);
        let head = Head(previous).next(seq, lamport, &payload);
        prop_assert_eq!(&head.0[..], expected.as_ref());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// However a log is cut into runs, it verifies to the same end, and what is kept
    /// is every checkpoint and the last end, so it can be served on in pieces.
    #[test]
    fn a_signed_log_verifies_in_any_runs(count in 1u64..600, cuts in prop::collection::vec(1u64..600, 0..6)) {
        let log = Log::write(session(), count, 1);
        let mut ends: Vec<u64> = cuts.into_iter().filter(|c| *c < count).collect();
        ends.push(count);
        ends.sort_unstable();
        ends.dedup();
        let mut held = AuthorLog::new(&session(), log.author);
        let mut from = 1;
        for end in &ends {
            let verified = held.verify(&session(), &log.entries(from, *end)).unwrap();
            held.accept(verified);
            from = end + 1;
        }
        prop_assert_eq!(held.seq(), count);
        let whole = AuthorLog::new(&session(), log.author)
            .verify(&session(), &log.entries(1, count))
            .unwrap();
        prop_assert_eq!(held.head(), whole.head);
        for seq in 1..=count {
            let kept = held.signature(seq).is_some();
            prop_assert_eq!(kept, seq == count || seq.is_multiple_of(CHECKPOINT), "op {}", seq);
        }
        // Every piece a holder serves ends at a kept signature and verifies again.
        let mut next = AuthorLog::new(&session(), log.author);
        let mut from = 1;
        while from <= count {
            let to = held.signed_at_or_before((from + 99).min(count)).filter(|to| *to >= from)
                .unwrap_or(count);
            let piece: Vec<Entry<'_>> = log.entries(from, to).into_iter().map(|mut entry| {
                entry.signature = held.signature(entry.seq);
                entry
            }).collect();
            let verified = next.verify(&session(), &piece).unwrap();
            next.accept(verified);
            from = to + 1;
        }
        prop_assert_eq!(next.head(), held.head());
    }

    /// Changing any op of a run — its number, clock or any byte of its action — makes
    /// the run fail.
    #[test]
    fn a_changed_op_is_refused(count in 1u64..40, which in 0usize..40, field in 0u8..3, byte in 0usize..3, xor in 1u8..=255) {
        let log = Log::write(session(), count, 2);
        let which = which % count as usize;
        let held = AuthorLog::new(&session(), log.author);
        let mut payloads: Vec<Vec<u8>> = log.ops.iter().map(|op| op.2.clone()).collect();
        let mut entries = log.entries(1, count);
        match field {
            0 => entries[which].seq ^= u64::from(xor),
            1 => entries[which].lamport ^= u64::from(xor),
            _ => payloads[which][byte] ^= xor,
        }
        for (entry, payload) in entries.iter_mut().zip(&payloads) {
            entry.payload = payload;
        }
        prop_assert!(held.verify(&session(), &entries).is_err());
    }
}

#[test]
fn ops_signed_by_another_key_or_for_another_session_are_refused() {
    let log = Log::write(session(), 5, 3);
    let impostor = Log::write(session(), 5, 3);
    let held = AuthorLog::new(&session(), log.author);
    assert!(matches!(
        held.verify(&session(), &impostor.entries(1, 5)),
        Err(RunError::BadSignature { seq: 5, .. })
    ));
    // The same log replayed into another session.
    let elsewhere = SessionId([9; 32]);
    assert!(matches!(
        AuthorLog::new(&elsewhere, log.author).verify(&elsewhere, &log.entries(1, 5)),
        Err(RunError::BadSignature { .. })
    ));
    assert!(held.verify(&session(), &log.entries(1, 5)).is_ok());
}

#[test]
fn numbers_are_consecutive_from_what_is_held() {
    let log = Log::write(session(), 10, 4);
    let mut held = AuthorLog::new(&session(), log.author);
    assert_eq!(
        held.verify(&session(), &log.entries(3, 5)),
        Err(RunError::Gap {
            author: log.author.node_id(),
            expected: 1,
            got: 3
        })
    );
    let mut skipping = log.entries(1, 5);
    skipping.remove(2);
    assert!(matches!(
        held.verify(&session(), &skipping),
        Err(RunError::NotConsecutive {
            after: 2,
            got: 4,
            ..
        })
    ));
    assert_eq!(held.verify(&session(), &[]), Err(RunError::Empty));
    held.accept(held.verify(&session(), &log.entries(1, 5)).unwrap());
    assert!(held.verify(&session(), &log.entries(6, 10)).is_ok());
    assert!(matches!(
        held.verify(&session(), &log.entries(5, 10)),
        Err(RunError::Gap { expected: 6, .. })
    ));
}

#[test]
fn a_run_ends_and_passes_checkpoints_signed() {
    let log = Log::write(session(), CHECKPOINT + 3, 5);
    let held = AuthorLog::new(&session(), log.author);
    let mut unsigned_end = log.entries(1, 4);
    unsigned_end[3].signature = None;
    assert!(matches!(
        held.verify(&session(), &unsigned_end),
        Err(RunError::Unsigned { seq: 4, .. })
    ));
    // Signatures inside a run are not needed, except at checkpoints.
    let mut entries = log.entries(1, CHECKPOINT + 3);
    for entry in &mut entries[..CHECKPOINT as usize + 2] {
        entry.signature = None;
    }
    assert_eq!(
        held.verify(&session(), &entries),
        Err(RunError::Unsigned {
            author: log.author.node_id(),
            seq: CHECKPOINT
        })
    );
    let mut entries = log.entries(1, CHECKPOINT + 3);
    for entry in &mut entries[..CHECKPOINT as usize - 1] {
        entry.signature = None;
    }
    assert!(held.verify(&session(), &entries).is_ok());
}

#[test]
fn clocks_cannot_run_far_ahead_of_numbers() {
    let key = key();
    let author = AuthorKey(public_key(&key));
    let mut signer = Signer::fresh(session(), author);
    assert!(matches!(
        signer.sign(&key, 1, u64::MAX - 1, b"x"),
        Err(SignError::ClockJump { .. })
    ));
    assert!(matches!(
        signer.sign(&key, 2, 1, b"x"),
        Err(SignError::OutOfTurn {
            expected: 1,
            got: 2
        })
    ));
    let (head, signature) = signer.sign(&key, 1, LAMPORT_PER_SEQ, b"x").unwrap();
    let held = AuthorLog::new(&session(), author);
    let at_the_bound = Entry {
        seq: 1,
        lamport: LAMPORT_PER_SEQ,
        payload: b"x",
        signature: Some(&signature),
        shape: Shape::Other,
    };
    assert_eq!(held.verify(&session(), &[at_the_bound]).unwrap().head, head);
    // Past it: refused before any signature is checked.
    let ahead = Entry {
        lamport: LAMPORT_PER_SEQ + 1,
        ..at_the_bound
    };
    assert!(matches!(
        held.verify(&session(), &[ahead]),
        Err(RunError::ClockJump { seq: 1, .. })
    ));
}

#[test]
fn two_signed_logs_from_one_author_are_evidence_that_cuts_it_off() {
    // The author signs 10 ops, then a second version of ops 6..=10.
    let mut honest = Log::write(session(), 5, 6);
    let mut split = Log {
        key: Ed25519KeyPair::from_pkcs8(
            Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                .unwrap()
                .as_ref(),
        )
        .unwrap(),
        author: honest.author,
        session: honest.session,
        ops: honest.ops.clone(),
    };
    std::mem::swap(&mut split.key, &mut honest.key);
    // Both logs now share the first five ops and the author's key.
    split.extend(5, 7);
    std::mem::swap(&mut split.key, &mut honest.key);
    honest.extend(5, 8);

    let mut a = AuthorLog::new(&session(), honest.author);
    a.accept(a.verify(&session(), &honest.entries(1, 10)).unwrap());
    let mut b = AuthorLog::new(&session(), honest.author);
    b.accept(b.verify(&session(), &split.entries(1, 10)).unwrap());
    // A holds the first log, signed at its end only; the second arrives signed at its
    // end only too: A judges it with its own ops since the last head it kept.
    assert_eq!(a.needed_to_judge(6, 10), (1, 10));
    let mut theirs = split.entries(6, 10);
    for entry in &mut theirs[..4] {
        entry.signature = None;
    }
    let found_by_a = a
        .conflict(&session(), &theirs, &honest.entries(1, 10))
        .unwrap();
    assert_eq!(found_by_a.seq, 6);
    assert!(found_by_a.verify(&session()));
    assert!(!found_by_a.verify(&SessionId([1; 32])));
    let found_by_b = b
        .conflict(&session(), &honest.entries(6, 10), &split.entries(1, 10))
        .unwrap();
    assert_eq!(found_by_b.seq, 6);
    assert!(found_by_b.verify(&session()));
    // The same ops again are no conflict.
    assert_eq!(
        a.conflict(&session(), &honest.entries(6, 10), &honest.entries(1, 10)),
        None
    );
    // Evidence cannot be made of one log twice, nor forged by moving a signature.
    let one = found_by_a.first.clone();
    assert_eq!(
        Evidence::new(&session(), honest.author, 6, one.clone(), one),
        None
    );
    let mut forged = found_by_a.clone();
    forged.second.signature = forged.first.signature;
    assert!(!forged.verify(&session()));
    let mut forged = found_by_a.clone();
    forged.seq = 5;
    assert!(!forged.verify(&session()));

    // Once cut off, nothing more of the author is taken; evidence that does not
    // verify cuts nothing; the earliest cut holds.
    let made_up = Evidence {
        seq: 3,
        ..found_by_a.clone()
    };
    assert!(!a.cut(&session(), &made_up));
    assert_eq!(a.cut_at(), None);
    assert!(a.cut(&session(), &found_by_a));
    assert!(a.cut(&session(), &found_by_b));
    assert_eq!(a.cut_at(), Some(6));
    honest.extend(1, 8);
    assert!(matches!(
        a.verify(&session(), &honest.entries(11, 11)),
        Err(RunError::CutOff { seq: 6, .. })
    ));
    let stranger = Log::write(session(), 1, 9);
    assert!(!AuthorLog::new(&session(), stranger.author).cut(&session(), &found_by_a));
}

/// A log of one stroke: its start, then point chunks of the given sizes (in points;
/// the first size stands for the start), signed by its author in batches ending at
/// `batch_ends` (and at its end), as wires carry it.
struct ChunkLog {
    author: AuthorKey,
    wires: Vec<WireOp>,
}

fn stroke_start() -> canopy_canvas::Action {
    canopy_canvas::Action::StrokeStart {
        page: canopy_canvas::FIRST_PAGE,
        tool: canopy_canvas::Tool::Pen,
        color: canopy_canvas::Color::rgb(1, 2, 3),
        width: 2.0,
    }
}

fn chunk_log(sizes: &[usize], batch_ends: &[usize]) -> ChunkLog {
    let key = key();
    let author = AuthorKey(public_key(&key));
    let node = author.node_id();
    // Op 1 starts a stroke, and so does any op whose points would take the stroke
    // past the most it may hold; the rest are its chunks.
    let (mut stroke, mut held) = (1, 0usize);
    let ops: Vec<canopy_canvas::Op> = sizes
        .iter()
        .enumerate()
        .map(|(index, points)| {
            let seq = index as u64 + 1;
            held += points;
            let action = if seq == 1 || held > canopy_canvas::MAX_POINTS_PER_STROKE as usize {
                (stroke, held) = (seq, 0);
                stroke_start()
            } else {
                canopy_canvas::Action::StrokePoints {
                    stroke: canopy_canvas::OpId { node, seq: stroke },
                    offset: 0,
                    points: vec![canopy_canvas::Point::new(1.5, -2.5); *points],
                }
            };
            canopy_canvas::Op {
                id: canopy_canvas::OpId { node, seq },
                lamport: seq,
                action,
            }
        })
        .collect();
    let mut signer = Signer::fresh(session(), author);
    let mut wires = Vec::new();
    let mut from = 0;
    let mut ends: Vec<usize> = batch_ends
        .iter()
        .copied()
        .filter(|end| *end > 0 && *end < ops.len())
        .collect();
    ends.push(ops.len());
    ends.sort_unstable();
    ends.dedup();
    for end in ends {
        let (batch, _) = signer.sign_batch(&key, &ops[from..end]).unwrap();
        wires.extend(batch);
        from = end;
    }
    ChunkLog { author, wires }
}

fn wire_entries(wires: &[WireOp]) -> Vec<Entry<'_>> {
    wires
        .iter()
        .map(|wire| {
            let op = wire.to_op().expect("a test op decodes");
            Entry::of(wire, &op.action)
        })
        .collect()
}

/// Weight of the ops strictly between each two signed ops (and from the start to
/// the first), as `signed(seq)` says which are.
fn unsigned_stretches(wires: &[WireOp], signed: impl Fn(u64) -> bool) -> Vec<u64> {
    let mut stretches = Vec::new();
    let mut bytes = 0u64;
    for wire in wires {
        if signed(wire.id.seq) {
            stretches.push(bytes);
            bytes = 0;
        } else {
            bytes += op_weight(wire.payload.len());
        }
    }
    stretches
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Long ops are signed every span of bytes wherever they travel: by their author,
    /// by a holder that took them in any runs, and in what it serves on. So no piece
    /// of the log has more than a span of unsigned bytes, and proof from it fits a
    /// frame.
    #[test]
    fn signatures_lie_within_a_span_of_each_other(
        sizes in prop::collection::vec(0usize..4096, 1..200),
        batch_ends in prop::collection::vec(1usize..200, 0..5),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let log = chunk_log(&sizes, &batch_ends);
        let count = log.wires.len() as u64;
        let by_author = unsigned_stretches(&log.wires, |seq| {
            log.wires[seq as usize - 1].signature.is_some()
        });
        prop_assert!(by_author.iter().all(|bytes| *bytes <= SIGNED_SPAN), "{:?}", by_author);
        // A holder takes the log in runs ending at signed ops.
        let signed: Vec<u64> = log.wires.iter().filter(|w| w.signature.is_some()).map(|w| w.id.seq).collect();
        let mut ends: Vec<u64> = cuts.iter().map(|cut| signed[cut.index(signed.len())]).collect();
        ends.push(count);
        ends.sort_unstable();
        ends.dedup();
        let mut held = AuthorLog::new(&session(), log.author);
        let mut from = 1u64;
        let mut forgotten = Vec::new();
        for end in ends {
            let run = wire_entries(&log.wires[from as usize - 1..end as usize]);
            let verified = held.verify(&session(), &run).unwrap();
            forgotten.extend(held.accept(verified));
            from = end + 1;
        }
        prop_assert_eq!(held.seq(), count);
        prop_assert!(held.signature(count).is_some());
        for seq in (CHECKPOINT..=count).step_by(CHECKPOINT as usize) {
            prop_assert!(held.signature(seq).is_some(), "checkpoint {}", seq);
        }
        for seq in &forgotten {
            prop_assert!(held.signature(*seq).is_none(), "{} forgotten but kept", seq);
        }
        let stretches = unsigned_stretches(&log.wires, |seq| held.signature(seq).is_some());
        prop_assert!(stretches.iter().all(|bytes| *bytes <= SIGNED_SPAN), "{:?}", stretches);
        // Kept heads are about a span apart, not one per run.
        let total: u64 = log.wires.iter().map(|w| op_weight(w.payload.len())).sum();
        let kept = (1..=count).filter(|seq| held.signature(*seq).is_some()).count() as u64;
        prop_assert!(kept <= 2 * total / SIGNED_SPAN + count / CHECKPOINT + 2, "{} kept", kept);
        // What it serves, signed as it keeps them, verifies again in any pieces.
        let served: Vec<WireOp> = log.wires.iter().cloned().map(|mut wire| {
            wire.signature = held.signature(wire.id.seq).copied();
            wire
        }).collect();
        let mut next = AuthorLog::new(&session(), log.author);
        let mut from = 1u64;
        while from <= count {
            let to = held.signed_at_or_before((from + 30).min(count)).filter(|to| *to >= from)
                .unwrap_or(count);
            let verified = next.verify(&session(), &wire_entries(&served[from as usize - 1..to as usize])).unwrap();
            next.accept(verified);
            from = to + 1;
        }
        prop_assert_eq!(next.head(), held.head());
    }
}

#[test]
fn a_run_with_a_span_of_unsigned_bytes_is_refused() {
    // 80 chunks of 1,000 points (~8 KB each), signed as their author signs them.
    let log = chunk_log(&[1000; 80], &[]);
    let signed: Vec<u64> = log
        .wires
        .iter()
        .filter(|w| w.signature.is_some())
        .map(|w| w.id.seq)
        .collect();
    assert!(signed.len() >= 4, "{signed:?}");
    let fresh = || AuthorLog::new(&session(), log.author);
    assert!(fresh()
        .verify(&session(), &wire_entries(&log.wires))
        .is_ok());
    // Without the first signature inside the run, more than a span goes unsigned.
    let mut stripped = log.wires.clone();
    stripped[signed[0] as usize - 1].signature = None;
    assert!(matches!(
        fresh().verify(&session(), &wire_entries(&stripped)),
        Err(RunError::SpanUnsigned { .. })
    ));
    // Signed on every op, it costs the checks of a run signed where it must be.
    let every_op: Vec<usize> = (1..80).collect();
    let all_signed = chunk_log(&[1000; 80], &every_op);
    assert!(all_signed.wires.iter().all(|w| w.signature.is_some()));
    let verified = AuthorLog::new(&session(), all_signed.author)
        .verify(&session(), &wire_entries(&all_signed.wires))
        .unwrap();
    assert!(
        verified.keep.len() <= signed.len() + 1,
        "{} checked, {} needed",
        verified.keep.len(),
        signed.len()
    );
}

#[test]
fn an_op_larger_than_any_payload_is_refused() {
    let key = key();
    let author = AuthorKey(public_key(&key));
    let mut signer = Signer::fresh(session(), author);
    let big = vec![7u8; MAX_PAYLOAD + 1];
    assert!(matches!(
        signer.sign(&key, 1, 1, &big),
        Err(SignError::TooLarge { .. })
    ));
    let mut other = Signer::fresh(session(), author);
    let head = other.extend(1, 1, &big[..MAX_PAYLOAD]).unwrap();
    let signature = Signature::sign(&key, &session(), 1, &head);
    let fits = [Entry {
        seq: 1,
        lamport: 1,
        payload: &big[..MAX_PAYLOAD],
        signature: Some(&signature),
        shape: Shape::Other,
    }];
    assert!(AuthorLog::new(&session(), author)
        .verify(&session(), &fits)
        .is_ok());
    let signature = Signature::sign(
        &key,
        &session(),
        1,
        &Head::genesis(&session(), &author).next(1, 1, &big),
    );
    let too_big = [Entry {
        seq: 1,
        lamport: 1,
        payload: &big,
        signature: Some(&signature),
        shape: Shape::Other,
    }];
    assert!(matches!(
        AuthorLog::new(&session(), author).verify(&session(), &too_big),
        Err(RunError::TooLarge { .. })
    ));
}

#[test]
fn the_largest_ops_the_document_takes_fit_a_payload() {
    let node = canopy_canvas::NodeId(u64::MAX);
    let limits = canopy_canvas::Limits::default();
    let id = |seq| canopy_canvas::OpId { node, seq };
    let mut seen = canopy_canvas::VersionVector::new();
    for author in 0..limits.max_items_per_op as u64 {
        seen.0
            .insert(canopy_canvas::NodeId(u64::MAX - author), u64::MAX - author);
    }
    let actions = [
        canopy_canvas::Action::Erase {
            strokes: (0..limits.max_items_per_op as u64)
                .map(|n| id(u64::MAX - n))
                .collect(),
        },
        canopy_canvas::Action::ClearPage {
            page: id(u64::MAX),
            seen,
        },
        canopy_canvas::Action::StrokePoints {
            stroke: id(u64::MAX),
            offset: u32::MAX,
            points: vec![canopy_canvas::Point::new(-1e6, 1e6); limits.max_points_per_op],
        },
    ];
    for action in actions {
        let op = canopy_canvas::Op {
            id: id(u64::MAX),
            lamport: u64::MAX,
            action,
        };
        let wire = WireOp::from_op(&op);
        assert!(
            wire.payload.len() <= MAX_PAYLOAD,
            "{} bytes",
            wire.payload.len()
        );
    }
}

/// An author that splits its log with long ops is still proven to, and the proof
/// fits one frame: each side carries its ops up to a signature at most a span of
/// bytes (and one op) away, not up to a checkpoint 255 ops away.
#[test]
fn proof_of_a_split_in_long_ops_fits_a_frame() {
    let key = key();
    let author = AuthorKey(public_key(&key));
    let node = author.node_id();
    // Every 25th op starts a stroke; the 24 after it are its chunks (a stroke holds
    // at most `MAX_POINTS_PER_STROKE` points).
    let chunk = |seq: u64, x: f32, points: usize| canopy_canvas::Op {
        id: canopy_canvas::OpId { node, seq },
        lamport: seq,
        action: canopy_canvas::Action::StrokePoints {
            stroke: canopy_canvas::OpId {
                node,
                seq: seq - (seq - 1) % 25,
            },
            offset: 0,
            points: vec![canopy_canvas::Point::new(x, 0.0); points],
        },
    };
    let op = |seq: u64, x: f32| match (seq - 1) % 25 {
        0 => canopy_canvas::Op {
            action: stroke_start(),
            ..chunk(seq, 0.0, 10)
        },
        _ => chunk(seq, x, 4096),
    };
    // Both logs share op 1 (the stroke's start), then part: 200 ops, all but 7 of
    // them chunks of 4,096 points each (~32 KiB).
    let common = [op(1, 0.0)];
    let one: Vec<_> = (2..=201).map(|seq| op(seq, 1.0)).collect();
    let other: Vec<_> = (2..=201).map(|seq| op(seq, 2.0)).collect();
    let mut first = Signer::fresh(session(), author);
    let (mut a, _) = first.sign_batch(&key, &common).unwrap();
    let mut second = first.clone();
    let (a_rest, _) = first.sign_batch(&key, &one).unwrap();
    a.extend(a_rest);
    let (mut b, _) = Signer::fresh(session(), author)
        .sign_batch(&key, &common)
        .unwrap();
    let (b_rest, _) = second.sign_batch(&key, &other).unwrap();
    b.extend(b_rest);

    let mut holder = AuthorLog::new(&session(), author);
    let verified = holder.verify(&session(), &wire_entries(&a)).unwrap();
    holder.accept(verified);
    let (from, to) = holder.needed_to_judge(2, 201);
    let ours = wire_entries(&a[from as usize - 1..to as usize]);
    let ours: Vec<Entry<'_>> = ours
        .into_iter()
        .map(|mut entry| {
            entry.signature = holder.signature(entry.seq);
            entry
        })
        .collect();
    let evidence = holder
        .conflict(&session(), &wire_entries(&b[1..]), &ours)
        .expect("proof of the split");
    assert_eq!(evidence.seq, 2);
    assert!(evidence.verify(&session()));
    let frame = encode(&Message::Evidence(Box::new(evidence.clone())));
    assert!(frame.is_ok(), "{frame:?}");
    assert!(holder.cut(&session(), &evidence));
}

/// The largest proof the rules allow — both sides at [`CHECKPOINT`] ops, a span of
/// bytes before the signed op and the largest payload at it, clocks at their widest,
/// every op a jump to the widest number — is one frame.
#[test]
fn the_largest_proof_allowed_fits_a_frame() {
    // Tiny ops up to a span of weight, then the largest payload at the signed op.
    let count = (CHECKPOINT as usize).min(SIGNED_SPAN as usize / 16);
    let before = SIGNED_SPAN as usize / (count - 1) - 16;
    let mut ops: Vec<(u64, Vec<u8>)> = (0..count - 1)
        .map(|_| (u64::MAX, vec![0xff; before]))
        .collect();
    ops.push((u64::MAX, vec![0xff; MAX_PAYLOAD]));
    let weight: u64 = ops
        .iter()
        .map(|(_, payload)| op_weight(payload.len()))
        .sum();
    assert!(
        weight <= MAX_FORK_BYTES && weight > MAX_FORK_BYTES - 1024,
        "{weight}"
    );
    let jumps = (0..ops.len())
        .map(|index| (u32::try_from(index).unwrap(), u64::MAX))
        .collect();
    let side = Fork {
        head: Head([0xff; 32]),
        ops,
        signature: Signature::from_bytes(&[0xff; 64]),
        jumps,
    };
    let evidence = Evidence {
        author: AuthorKey([0xff; 32]),
        seq: u64::MAX,
        first: side.clone(),
        second: side,
        // The form of two seals is the largest, by the seals' numbers.
        seal_at: Some(u64::MAX),
        first_seal_at: Some(u64::MAX),
        refused: None,
    };
    let frame = encode(&Message::Evidence(Box::new(evidence)));
    assert!(frame.is_ok(), "{:?}", frame.err());
}

/// The most signed heads one `Heads` message may carry, at their longest encoding,
/// fit a frame.
#[test]
fn the_largest_heads_message_fits_a_frame() {
    let head = SignedHead {
        author: canopy_canvas::NodeId(u64::MAX),
        seq: u64::MAX,
        head: Head([0xff; 32]),
        signature: Signature::from_bytes(&[0xff; 64]),
    };
    let frame = encode(&Message::Heads(vec![head; MAX_HEADS_PER_MESSAGE]));
    assert!(frame.is_ok(), "{:?}", frame.err());
}
