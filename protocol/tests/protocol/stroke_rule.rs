//! The stroke rule at every checker: an author's stroke's points and end follow its
//! start with nothing else between, whichever runs the log travels in.

use canopy_canvas::{Action, Document, NodeId, Op, Point, Shape, StrokeRule, FIRST_PAGE};
use canopy_protocol::*;
use ring::signature::Ed25519KeyPair;

use super::key;

fn session() -> SessionId {
    SessionId(*b"another session id of 32 bytes!!")
}

/// An author drawing in its own document (so its ops are valid ones).
struct Author {
    key: Ed25519KeyPair,
    public: AuthorKey,
    document: Document,
}

impl Author {
    fn new() -> Author {
        let key = key();
        let public = AuthorKey(public_key(&key));
        let document = Document::new(public.node_id());
        Author {
            key,
            public,
            document,
        }
    }

    fn start(&mut self) -> Op {
        self.document
            .begin_stroke(
                FIRST_PAGE,
                canopy_canvas::Tool::Pen,
                canopy_canvas::Color::rgb(1, 2, 3),
                2.0,
            )
            .unwrap()
    }

    fn points(&mut self, stroke: &Op) -> Op {
        self.document
            .extend_stroke(stroke.id, vec![Point::new(4.0, 5.0)])
            .unwrap()
    }

    fn end(&mut self, stroke: &Op) -> Op {
        self.document.end_stroke(stroke.id).unwrap()
    }

    fn page(&mut self) -> Op {
        self.document.new_page().unwrap()
    }

    /// Signs `ops` one by one, as a hostile author would (no rule), each signed.
    fn sign_anything(&self, ops: &[Op]) -> Vec<WireOp> {
        let mut signer = Signer::fresh(session(), self.public);
        ops.iter()
            .map(|op| {
                let mut wire = WireOp::from_op(op);
                let (_, signature) = signer
                    .sign(&self.key, op.id.seq, op.lamport, &wire.payload)
                    .unwrap();
                wire.signature = Some(signature);
                wire
            })
            .collect()
    }
}

fn entries(wires: &[WireOp]) -> Vec<Entry<'_>> {
    wires
        .iter()
        .map(|wire| {
            let op = wire.to_op().unwrap();
            Entry::of(wire, &op.action)
        })
        .collect()
}

/// Points of a stroke after another op of its author's: the stroke was left
/// unfinished, so they are refused, signed or not, and the signer will not sign them.
#[test]
fn points_after_another_op_are_refused_and_never_signed() {
    let mut author = Author::new();
    let stroke = author.start();
    let first = author.points(&stroke);
    let page = author.page();
    // The document takes more points (its rules know nothing of logs)...
    let late = Op {
        id: canopy_canvas::OpId {
            node: author.public.node_id(),
            seq: 4,
        },
        lamport: 4,
        action: Action::StrokePoints {
            stroke: stroke.id,
            offset: 1,
            points: vec![Point::new(6.0, 7.0)],
        },
    };
    let ops = [stroke, first, page, late];
    // ...but no checker does.
    let wires = author.sign_anything(&ops);
    let held = AuthorLog::new(&session(), author.public);
    assert_eq!(
        held.verify(&session(), &entries(&wires)),
        Err(RunError::StrokeRule {
            author: author.public.node_id(),
            error: canopy_canvas::StrokeRuleError::NotOpen { seq: 4, stroke: 1 },
        })
    );
    // The ops before it verify.
    assert!(held.verify(&session(), &entries(&wires[..3])).is_ok());
    // And the author's own signer refuses to sign it.
    let mut signer = Signer::fresh(session(), author.public);
    assert!(matches!(
        signer.sign_batch(&author.key, &ops),
        Err(SignError::StrokeRule(_))
    ));
}

/// A stroke drawn across several runs goes on from where the log stands, also when
/// that is restored from a file (the document says where) rather than run by run.
#[test]
fn a_stroke_goes_on_across_runs_and_restarts() {
    let mut author = Author::new();
    let stroke = author.start();
    let first = author.points(&stroke);
    let second = author.points(&stroke);
    let end = author.end(&stroke);
    let mut signer = Signer::fresh(session(), author.public);
    let (run_a, _) = signer
        .sign_batch(&author.key, &[stroke.clone(), first.clone()])
        .unwrap();
    let (run_b, _) = signer.sign_batch(&author.key, &[second, end]).unwrap();

    let mut live = AuthorLog::new(&session(), author.public);
    let verified = live.verify(&session(), &entries(&run_a)).unwrap();
    assert_eq!(
        verified.strokes,
        StrokeRule::open_at(Some(1)).with_points(1)
    );
    live.accept(verified);
    assert_eq!(live.strokes(), StrokeRule::open_at(Some(1)).with_points(1));
    let verified = live.verify(&session(), &entries(&run_b)).unwrap();
    live.accept(verified);
    assert_eq!(live.strokes(), StrokeRule::ended_at(1, 4).with_points(2));

    // A node restarted after run A: its log is restored from signed heads alone.
    let mut restarted = AuthorLog::new(&session(), author.public);
    let head_a = Head::genesis(&session(), &author.public)
        .next(1, stroke.lamport, &run_a[0].payload)
        .next(2, first.lamport, &run_a[1].payload);
    restarted.accept(Verified {
        seq: 2,
        head: head_a,
        keep: vec![(2, head_a, run_a[1].signature.unwrap())],
        heads: Vec::new(),
        sizes: Vec::new(),
        strokes: StrokeRule::default(),
        base: None,
        sealed: Vec::new(),
    });
    // Not told where the stroke stands, it refuses the rest of the stroke...
    assert!(matches!(
        restarted.verify(&session(), &entries(&run_b)),
        Err(RunError::StrokeRule { .. })
    ));
    // ...and told by its document, takes it.
    let mut document = Document::new(NodeId(99));
    document.apply(stroke).unwrap();
    document.apply(first).unwrap();
    restarted.set_strokes(document.stroke_rule(author.public.node_id()), None);
    assert!(restarted.verify(&session(), &entries(&run_b)).is_ok());
}

/// Where a run leaves the log is where the rule stepped over its ops stands, for the
/// checker and the signer alike; a run cut short stands where its caller says.
#[test]
fn a_run_leaves_the_log_where_the_rule_stands_after_it() {
    let mut author = Author::new();
    let one = author.start();
    let p1 = author.points(&one);
    let e1 = author.end(&one);
    let page = author.page();
    let two = author.start();
    let p2 = author.points(&two);
    let ops = [one, p1, e1, page, two, p2];
    let mut signer = Signer::fresh(session(), author.public);
    let (wires, signed) = signer.sign_batch(&author.key, &ops).unwrap();
    let verified = AuthorLog::new(&session(), author.public)
        .verify(&session(), &entries(&wires))
        .unwrap();
    assert_eq!(verified, signed, "the signer's view is the checker's");
    assert_eq!(
        verified.strokes,
        StrokeRule::open_at(Some(5)).with_points(1)
    );
    for (count, rule) in [
        (3, StrokeRule::ended_at(1, 3).with_points(1)),
        (4, StrokeRule::default()),
        (6, StrokeRule::open_at(Some(5)).with_points(1)),
    ] {
        let (part, _) = Signer::fresh(session(), author.public)
            .sign_batch(&author.key, &ops[..count])
            .unwrap();
        let held = AuthorLog::new(&session(), author.public);
        let verified = held.verify(&session(), &entries(&part)).unwrap();
        assert_eq!(verified.strokes, rule, "after {count} ops");
        let cut = signed.clone().up_to(count as u64, rule, None).unwrap();
        assert_eq!((cut.seq, cut.strokes), (count as u64, rule));
    }
    assert_eq!(Shape::of(&ops[3].action), Shape::Other);
}
