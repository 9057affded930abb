//! Shutdown travels along links; a graph stops as a whole.

use std::time::Duration;

use canopy_axon::{Exit, Graph, Pipeline};

use crate::util::{collector, counter, pass_through, runtime};

const STAGES: usize = 150;

#[test]
fn a_finished_source_ends_every_stage_of_a_150_component_pipeline() {
    runtime().block_on(async {
        let graph = Graph::new("long");
        let mut stages = vec![counter(&graph, "source", 10_000)];
        stages.extend((0..STAGES - 2).map(|i| pass_through(&graph, &format!("stage[{i}]"))));
        let (sink, _, rx) = collector(&graph, "sink", 64);
        stages.push(sink);
        let pipeline = Pipeline::new(stages).unwrap();
        assert_eq!(graph.len(), STAGES);

        assert_eq!(rx.await.unwrap(), (0..10_000).collect::<Vec<_>>());
        let exits = pipeline.join().await;
        assert_eq!(exits.len(), STAGES);
        assert!(exits.iter().all(Exit::is_finished), "{exits:?}");
        graph.join().await;
        assert!(graph.is_empty());
    });
}

#[test]
fn stopping_a_graph_reaches_every_component_and_drains_queues() {
    runtime().block_on(async {
        let graph = Graph::new("endless");
        let scope = graph.component("ticker");
        let mut outbox = scope.outbox::<u64>("outbox");
        // A source that would run forever: it must notice the stop itself.
        let ticker = scope.spawn_fn(move |ctx| async move {
            let mut i = 0;
            loop {
                tokio::select! {
                    () = ctx.stopped() => return Ok(()),
                    sent = outbox.send(i) => sent?,
                }
                i += 1;
            }
        });
        let mut stages = vec![ticker];
        stages.extend((0..STAGES - 2).map(|i| pass_through(&graph, &format!("stage[{i}]"))));
        let (sink, _, rx) = collector(&graph, "sink", 64);
        stages.push(sink);
        let _pipeline = Pipeline::new(stages).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;

        let report = graph.stop(Duration::from_secs(10)).await;
        assert_eq!(report.stopped, STAGES, "{report:?}");
        assert!(report.aborted.is_empty());
        assert!(graph.is_empty());
        let seen = rx.await.unwrap();
        assert!(!seen.is_empty());
        assert_eq!(
            seen,
            (0..seen.len() as u64).collect::<Vec<_>>(),
            "a gap or reorder"
        );
    });
}

#[test]
fn a_component_that_ignores_stop_is_aborted_at_the_deadline() {
    runtime().block_on(async {
        let graph = Graph::new("stubborn");
        graph.component("sleeper").spawn_fn(|_ctx| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        });
        let (_sink, _, _rx) = collector(&graph, "polite", 4);
        let report = graph.stop(Duration::from_millis(100)).await;
        assert_eq!(report.stopped, 1);
        assert_eq!(report.aborted, vec!["sleeper".to_string()]);
    });
}
