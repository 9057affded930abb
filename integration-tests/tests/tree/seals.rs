//! Sealed strokes between real nodes: a stroke drawn a point an op is sealed after its
//! end, so a backlog serves one op for it, and every node shows the same stroke
//! whether it took the points one by one or the seal alone.

use std::io::Write as _;
use std::time::Duration;

use canopy_canvas::{Action, Color, OpId, Point, Tool, FIRST_PAGE};

use crate::hostile::Attacker;
use crate::util::{assert_converged, block_on, wait_until, Node};

fn ops_of(node: &Node) -> u64 {
    node.try_status()
        .and_then(|s| s["ops"].as_u64())
        .unwrap_or(0)
}

/// A script of `strokes` strokes of twelve points each, drawn a point an op.
pub(crate) fn pen_script(dir: &std::path::Path, strokes: usize) -> std::path::PathBuf {
    let path = dir.join("pen.jsonl");
    let mut file = std::fs::File::create(&path).unwrap();
    for i in 0..strokes {
        let points: Vec<String> = (0..12)
            .map(|n| format!("[{},{}]", 10 + i * 30 + n * 2, 10 + n * 3))
            .collect();
        writeln!(
            file,
            r#"{{"stroke":{{"points":[{}],"points_per_op":1}}}}"#,
            points.join(",")
        )
        .unwrap();
    }
    path
}

/// Strokes drawn a point an op (fourteen ops each) are sealed by the node that drew
/// them: it, a node that took their points live and a node that joins later (and takes
/// the seals alone) all hold one op a stroke and show the same drawing.
#[test]
fn strokes_drawn_point_by_point_are_sealed_and_joined_as_one_op_each() {
    const STROKES: u64 = 20;
    let scripts = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", crate::util::free_port());
    // The host waits for the live peer before it draws.
    let pen = pen_script(scripts.path(), STROKES as usize);
    let script = scripts.path().join("later.jsonl");
    std::fs::write(
        &script,
        format!(
            "{{\"sleep_ms\":1500}}\n{}",
            std::fs::read_to_string(&pen).unwrap()
        ),
    )
    .unwrap();
    let host = Node::host(
        "host",
        &[
            "--no-audio",
            "--listen",
            &listen,
            "--draw",
            script.to_str().unwrap(),
        ],
    );
    let live = Node::join("live", host.editor_url(), &["--no-audio"]);
    assert!(
        wait_until(Duration::from_secs(20), || host
            .try_status()
            .is_some_and(|s| s["strokes"] == STROKES)),
        "the host did not draw its strokes"
    );
    let late = Node::join("late", host.viewer_url(), &["--no-audio"]);
    assert_converged(&[&host, &live, &late], STROKES, Duration::from_secs(20));
    for node in [&host, &live, &late] {
        assert!(
            wait_until(Duration::from_secs(10), || ops_of(node) == STROKES),
            "{} holds {} ops for {STROKES} sealed strokes",
            node.name,
            ops_of(node)
        );
    }
}

/// A node that stopped inside another author's stroke (holding its start and some
/// points) takes the stroke's seal when it comes back: it hashes the head before the
/// stroke again from its file, since the seal is chained from there.
#[test]
fn a_node_restarted_inside_anothers_stroke_takes_its_seal() {
    let host = Node::host("host", &["--no-audio"]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let mut b = Node::start_in(
        "b",
        &["join", host.editor_url()],
        &["--no-audio"],
        data.clone(),
    );
    let url = host.editor_url().to_string();
    let (go_on, told) = std::sync::mpsc::channel::<()>();
    let author = std::thread::spawn(move || {
        block_on(async move {
            let mut author = Attacker::join(&url).await;
            let stroke = OpId {
                node: author.node,
                seq: 1,
            };
            let points: Vec<Point> = (0..5).map(|n| Point::new(10.0 + n as f32, 20.0)).collect();
            let mut first = vec![author.op(
                1,
                Action::StrokeStart {
                    page: FIRST_PAGE,
                    tool: Tool::Pen,
                    color: Color::rgb(0, 90, 200),
                    width: 2.0,
                },
            )];
            for (n, point) in points.iter().take(3).enumerate() {
                first.push(author.op(
                    n as u64 + 2,
                    Action::StrokePoints {
                        stroke,
                        offset: n as u32,
                        points: vec![*point],
                    },
                ));
            }
            author.send(&first, 2).await;
            while told.try_recv().is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let rest = vec![
                author.op(
                    5,
                    Action::StrokePoints {
                        stroke,
                        offset: 3,
                        points: points[3..].to_vec(),
                    },
                ),
                author.op(6, Action::StrokeEnd { stroke, points: 5 }),
                author.op(
                    7,
                    Action::StrokeSealed {
                        stroke,
                        page: FIRST_PAGE,
                        tool: Tool::Pen,
                        color: Color::rgb(0, 90, 200),
                        width: 2.0,
                        start_lamport: 1,
                        points,
                    },
                ),
            ];
            author.send(&rest, 3).await;
            // Connected while b comes back.
            tokio::time::sleep(Duration::from_secs(8)).await;
        })
    });
    assert!(
        wait_until(Duration::from_secs(10), || ops_of(&b) == 4),
        "b did not take the stroke's start and first points"
    );
    b.kill();
    go_on.send(()).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || ops_of(&host) == 1),
        "the host did not take the seal in place of the stroke's ops"
    );
    b = Node::start_in("b", &["join", host.editor_url()], &["--no-audio"], data);
    assert_converged(&[&host, &b], 1, Duration::from_secs(20));
    assert!(
        wait_until(Duration::from_secs(5), || ops_of(&b) == 1),
        "b holds {} ops for the sealed stroke",
        ops_of(&b)
    );
    author.join().unwrap();
}
