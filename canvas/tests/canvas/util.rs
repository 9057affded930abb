//! Simulated peers that make random but valid edits, and a seeded shuffle.

use canopy_canvas::{Color, Document, NodeId, Op, PageId, Point, Tool};
use proptest::prelude::*;

/// One thing a simulated user does.
#[derive(Debug, Clone)]
pub enum Step {
    Draw {
        who: usize,
        points: usize,
        seed: u32,
        highlighter: bool,
    },
    Erase {
        who: usize,
        pick: usize,
    },
    Clear {
        who: usize,
    },
    NewPage {
        who: usize,
    },
    DeletePage {
        who: usize,
        pick: usize,
    },
    MovePage {
        who: usize,
        pick: usize,
        to: usize,
    },
    Undo {
        who: usize,
    },
    Redo {
        who: usize,
    },
    Sync {
        from: usize,
        to: usize,
    },
}

pub const PEERS: usize = 3;

pub fn step() -> impl Strategy<Value = Step> {
    let who = 0..PEERS;
    prop_oneof![
        6 => (who.clone(), 1usize..40, any::<u32>(), any::<bool>())
            .prop_map(|(who, points, seed, highlighter)| Step::Draw { who, points, seed, highlighter }),
        1 => (who.clone(), any::<usize>()).prop_map(|(who, pick)| Step::Erase { who, pick }),
        1 => who.clone().prop_map(|who| Step::Clear { who }),
        1 => who.clone().prop_map(|who| Step::NewPage { who }),
        1 => (who.clone(), any::<usize>()).prop_map(|(who, pick)| Step::DeletePage { who, pick }),
        1 => (who.clone(), any::<usize>(), 0usize..4).prop_map(|(who, pick, to)| Step::MovePage { who, pick, to }),
        2 => who.clone().prop_map(|who| Step::Undo { who }),
        1 => who.clone().prop_map(|who| Step::Redo { who }),
        3 => (who.clone(), 0..PEERS).prop_map(|(from, to)| Step::Sync { from, to }),
    ]
}

/// Peers 1..=PEERS, each with its own document, and every op any of them made.
pub struct Simulation {
    pub peers: Vec<Document>,
    pub ops: Vec<Op>,
    /// Strokes drawn live, a few points an op, and sealed after their end.
    pub sealing: bool,
}

impl Simulation {
    pub fn run(steps: &[Step]) -> Simulation {
        Self::run_with(steps, false)
    }

    /// [`Simulation::run`], drawing as people do: a few points an op, each stroke
    /// sealed after its end.
    pub fn run_sealed(steps: &[Step]) -> Simulation {
        Self::run_with(steps, true)
    }

    fn run_with(steps: &[Step], sealing: bool) -> Simulation {
        let mut sim = Simulation {
            peers: (0..PEERS)
                .map(|i| Document::new(NodeId(i as u64 + 1)))
                .collect(),
            ops: Vec::new(),
            sealing,
        };
        for step in steps {
            sim.step(step);
        }
        sim
    }

    fn current_page(doc: &Document, pick: usize) -> PageId {
        let pages = doc.pages();
        pages[pick % pages.len()]
    }

    fn step(&mut self, step: &Step) {
        match *step {
            Step::Sync { from, to } => {
                let missing = self.peers[from].ops_missing_from(&self.peers[to].version_vector());
                for op in missing {
                    self.peers[to].apply(op).unwrap();
                }
            }
            Step::Draw {
                who,
                points,
                seed,
                highlighter,
            } => {
                let doc = &mut self.peers[who];
                if doc.page_count() == 0 {
                    return;
                }
                let page = Self::current_page(doc, seed as usize);
                let tool = if highlighter {
                    Tool::Highlighter
                } else {
                    Tool::Pen
                };
                let color = Color::rgb(seed as u8, (seed >> 8) as u8, (seed >> 16) as u8);
                let path = wiggle(seed, points);
                let width = 1.0 + (seed % 20) as f32;
                if !self.sealing {
                    let ops = doc.draw_stroke(page, tool, color, width, &path).unwrap();
                    self.ops.extend(ops);
                    return;
                }
                let start = doc.begin_stroke(page, tool, color, width).unwrap();
                let stroke = start.id;
                self.ops.push(start);
                for part in path.chunks(1 + seed as usize % 3) {
                    self.ops
                        .push(doc.extend_stroke(stroke, part.to_vec()).unwrap());
                }
                self.ops.push(doc.end_stroke(stroke).unwrap());
                self.ops.push(doc.seal_stroke(stroke).unwrap());
            }
            Step::Erase { who, pick } => {
                let doc = &mut self.peers[who];
                let strokes: Vec<_> = doc
                    .pages()
                    .iter()
                    .flat_map(|p| doc.strokes(*p))
                    .map(|s| s.id())
                    .collect();
                if strokes.is_empty() {
                    return;
                }
                let op = doc.erase(vec![strokes[pick % strokes.len()]]).unwrap();
                self.ops.push(op);
            }
            Step::Clear { who } => {
                let doc = &mut self.peers[who];
                if let Some(page) = doc.pages().first().copied() {
                    self.ops.push(doc.clear_page(page).unwrap());
                }
            }
            Step::NewPage { who } => self.ops.push(self.peers[who].new_page().unwrap()),
            Step::DeletePage { who, pick } => {
                let doc = &mut self.peers[who];
                if doc.page_count() > 1 {
                    let page = Self::current_page(doc, pick);
                    self.ops.push(doc.delete_page(page).unwrap());
                }
            }
            Step::MovePage { who, pick, to } => {
                let doc = &mut self.peers[who];
                if doc.page_count() > 0 {
                    let page = Self::current_page(doc, pick);
                    self.ops.push(doc.move_page(page, to).unwrap());
                }
            }
            Step::Undo { who } => self.ops.extend(self.peers[who].undo().unwrap()),
            Step::Redo { who } => self.ops.extend(self.peers[who].redo().unwrap()),
        }
    }
}

/// A deterministic scribble of `n` points.
pub fn wiggle(seed: u32, n: usize) -> Vec<Point> {
    let base_x = (seed % 1500) as f32 + 20.0;
    let base_y = ((seed / 1500) % 900) as f32 + 20.0;
    (0..n)
        .map(|i| {
            let t = i as f32;
            Point::new(
                base_x + t * 7.0,
                base_y + (t * 0.7 + seed as f32).sin() * 25.0,
            )
        })
        .collect()
}

/// Fisher–Yates with a small LCG, so proptest's seed decides the order.
pub fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (seed >> 33) as usize % (i + 1);
        items.swap(i, j);
    }
}

/// A document made by applying `ops` in the given order.
pub fn replay(ops: impl IntoIterator<Item = Op>) -> Document {
    let mut doc = Document::new(NodeId(99));
    for op in ops {
        doc.apply(op).unwrap();
    }
    doc
}

/// `ops` with the picked ones repeated, in the order `order` decides.
pub fn scrambled(ops: &[Op], duplicates: &[prop::sample::Index], order: u64) -> Vec<Op> {
    let mut scrambled = ops.to_vec();
    for pick in duplicates {
        if !ops.is_empty() {
            scrambled.push(pick.get(ops).clone());
        }
    }
    shuffle(&mut scrambled, order);
    scrambled
}

/// Every peer sends every other what it lacks, by version vector, twice over.
pub fn sync_everyone(peers: &mut [Document]) {
    for _ in 0..2 {
        for from in 0..peers.len() {
            for to in 0..peers.len() {
                let missing = peers[from].ops_missing_from(&peers[to].version_vector());
                for op in missing {
                    peers[to].apply(op).unwrap();
                }
            }
        }
    }
}

/// Checks that each author's ops in `ops` keep the stroke rule, in sequence order.
pub fn keep_the_stroke_rule(ops: &[Op]) -> Result<(), canopy_canvas::StrokeRuleError> {
    use canopy_canvas::{Shape, StrokeRule};
    let mut by_author: std::collections::BTreeMap<NodeId, Vec<&Op>> = Default::default();
    for op in ops {
        by_author.entry(op.id.node).or_default().push(op);
    }
    for (_, mut ops) in by_author {
        ops.sort_by_key(|op| op.id.seq);
        let mut rule = StrokeRule::default();
        for op in ops {
            rule.step(op.id.seq, Shape::of(&op.action))?;
        }
    }
    Ok(())
}
