//! Per-link ordering, no loss under backpressure, relinking mid-stream, link errors.

use canopy_axon::{link, link_named, relink, unlink, Graph, Inbox, LinkError, Outbox};
use proptest::prelude::*;

use crate::util::{collector, counter, runtime};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// A fast producer and a consumer that stalls now and then: every message arrives,
    /// once, in order, whatever the queue length.
    #[test]
    fn ordered_and_lossless_under_backpressure(
        capacity in 1usize..8,
        count in 0u64..3_000,
        stall_every in 1u64..200,
    ) {
        let seen = runtime().block_on(async move {
            let graph = Graph::new("backpressure");
            let producer = counter(&graph, "producer", count);
            let scope = graph.component("slow-consumer");
            let mut inbox: Inbox<u64> = scope.inbox_with_capacity("inbox", capacity);
            let (tx, rx) = tokio::sync::oneshot::channel();
            let consumer = scope.spawn_fn(move |_ctx| async move {
                let mut seen = Vec::new();
                while let Some(x) = inbox.recv().await {
                    if x % stall_every == 0 {
                        tokio::task::yield_now().await;
                    }
                    seen.push(x);
                }
                let _ = tx.send(seen);
                Ok(())
            });
            link_named((&producer, "outbox"), (&consumer, "inbox")).unwrap();
            rx.await.unwrap()
        });
        prop_assert_eq!(seen, (0..count).collect::<Vec<_>>());
    }

    /// While a producer streams, the link is re-pointed between two consumers (and
    /// sometimes removed for a while): every message reaches exactly one consumer, and
    /// each consumer sees an increasing sequence.
    #[test]
    fn relinking_mid_stream_loses_and_duplicates_nothing(
        capacity in 1usize..6,
        switches in proptest::collection::vec((0u8..3, 0u32..40), 1..30),
    ) {
        const COUNT: u64 = 5_000;
        let (a, b) = runtime().block_on(async move {
            let graph = Graph::new("relink");
            let producer = counter(&graph, "producer", COUNT);
            let outbox = producer.outbox::<u64>("outbox").unwrap();
            let (consumer_a, inbox_a, rx_a) = collector(&graph, "a", capacity);
            let (_consumer_b, inbox_b, rx_b) = collector(&graph, "b", capacity);
            link(&outbox, &inbox_a).unwrap();
            let mut linked = true;
            for (target, yields) in switches {
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                match target {
                    0 => relink(&outbox, &inbox_a).unwrap(),
                    1 => relink(&outbox, &inbox_b).unwrap(),
                    _ => {
                        if linked {
                            unlink(&outbox).unwrap();
                        }
                        linked = false;
                        continue;
                    }
                }
                linked = true;
            }
            // End with a link so the producer can finish.
            relink(&outbox, &inbox_b).unwrap();
            producer.join().await;
            // The producer's end reaches only its last target; a stop ends the other
            // one after it has drained what it was sent.
            consumer_a.stop();
            (rx_a.await.unwrap(), rx_b.await.unwrap())
        });
        for seen in [&a, &b] {
            prop_assert!(seen.windows(2).all(|w| w[0] < w[1]), "out of order: {:?}", seen);
        }
        let mut all: Vec<u64> = a.iter().chain(b.iter()).copied().collect();
        all.sort_unstable();
        prop_assert_eq!(all, (0..COUNT).collect::<Vec<_>>());
    }
}

#[test]
fn fan_in_ends_only_after_every_producer_finished() {
    runtime().block_on(async {
        let graph = Graph::new("fan-in");
        let (go, gate) = tokio::sync::watch::channel(false);
        let first = crate::util::gated_counter(&graph, "first", 1_000, gate.clone());
        let second = crate::util::gated_counter(&graph, "second", 1_000, gate);
        let (sink, _inbox, rx) = collector(&graph, "sink", 4);
        link_named((&first, "outbox"), (&sink, "inbox")).unwrap();
        link_named((&second, "outbox"), (&sink, "inbox")).unwrap();
        go.send(true).unwrap();
        let mut seen = rx.await.unwrap();
        assert_eq!(seen.len(), 2_000);
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(
            seen.len(),
            1_000,
            "each value arrives once from each producer"
        );
    });
}

#[test]
fn link_errors_name_the_boxes() {
    runtime().block_on(async {
        let graph = Graph::new("errors");
        let scope = graph.component("talker");
        let mut words: Outbox<String> = scope.outbox("outbox");
        let talker = scope.spawn_fn(move |ctx| async move {
            ctx.stopped().await;
            words.send("bye".into()).await.ok();
            Ok(())
        });
        let (sink, sink_inbox, _rx) = collector(&graph, "numbers", 4);

        let mismatch = link_named((&talker, "outbox"), (&sink, "inbox")).unwrap_err();
        assert!(matches!(mismatch, LinkError::TypeMismatch { .. }));
        assert!(mismatch
            .to_string()
            .contains("talker.outbox sends alloc::string::String"));

        let missing = link_named((&talker, "nope"), (&sink, "inbox")).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "component talker has no outbox named \"nope\""
        );

        let producer = graph.component("producer");
        let numbers: Outbox<u64> = producer.outbox("outbox");
        let numbers_ref = numbers.handle();
        link(&numbers_ref, &sink_inbox).unwrap();
        let twice = link(&numbers_ref, &sink_inbox).unwrap_err();
        assert_eq!(
            twice.to_string(),
            "outbox producer.outbox is already linked to numbers.inbox; use relink to re-point it"
        );
        unlink(&numbers_ref).unwrap();
        assert!(matches!(
            unlink(&numbers_ref),
            Err(LinkError::NotLinked { .. })
        ));

        sink.stop();
        sink.join().await;
        let closed = link(&numbers_ref, &sink_inbox).unwrap_err();
        assert_eq!(
            closed.to_string(),
            "inbox numbers.inbox is closed: its component has ended or is stopping"
        );
        drop(numbers);
        assert!(matches!(
            link(&numbers_ref, &sink_inbox),
            Err(LinkError::OutboxFinished { .. })
        ));
        talker.stop();
        talker.join().await;
    });
}

#[test]
fn components_run_on_more_than_one_core() {
    let threads = runtime().block_on(async {
        let graph = Graph::new("cores");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..8 {
            let tx = tx.clone();
            graph
                .component(&format!("busy[{i}]"))
                .spawn_fn(move |_ctx| async move {
                    // Busy work that does not yield, so the other worker must pick up tasks.
                    let start = std::time::Instant::now();
                    while start.elapsed() < std::time::Duration::from_millis(30) {
                        std::hint::spin_loop();
                    }
                    let _ = tx.send(std::thread::current().id());
                    Ok(())
                });
        }
        drop(tx);
        let mut threads = std::collections::HashSet::new();
        while let Some(id) = rx.recv().await {
            threads.insert(id);
        }
        threads
    });
    assert!(threads.len() >= 2, "all components ran on one thread");
}

#[test]
fn a_graphline_wires_named_components_from_a_table() {
    use canopy_axon::Graphline;
    runtime().block_on(async {
        let graph = Graph::new("graphline");
        let (go, gate) = tokio::sync::watch::channel(false);
        let evens = crate::util::gated_counter(&graph, "evens", 100, gate.clone());
        let odds = crate::util::gated_counter(&graph, "odds", 100, gate);
        let (sink, _, rx) = collector(&graph, "sink", 8);
        let shape = Graphline::new(
            [
                ("evens".to_string(), evens),
                ("odds".to_string(), odds),
                ("sink".to_string(), sink),
            ],
            &[
                (("evens", "outbox"), ("sink", "inbox")),
                (("odds", "outbox"), ("sink", "inbox")),
            ],
        )
        .unwrap();
        go.send(true).unwrap();
        assert_eq!(rx.await.unwrap().len(), 200);
        let exits = shape.join().await;
        assert!(exits.values().all(|e| e.is_finished()), "{exits:?}");

        let unknown = Graphline::new(Vec::new(), &[(("ghost", "outbox"), ("sink", "inbox"))]);
        assert_eq!(
            unknown.err().map(|e| e.to_string()),
            Some("no component named \"ghost\" in this graphline".to_string())
        );
    });
}

#[test]
fn try_send_never_waits() {
    runtime().block_on(async {
        let graph = Graph::new("try");
        let scope = graph.component("router");
        let mut out: Outbox<u64> = scope.outbox("outbox");
        assert_eq!(out.try_send(1), Err(canopy_axon::TrySendError::Unlinked(1)));
        let sink = graph.component("slow");
        let inbox: Inbox<u64> = sink.inbox_with_capacity("inbox", 2);
        link(&out.handle(), &inbox.handle()).unwrap();
        assert_eq!(out.try_send(1), Ok(()));
        assert_eq!(out.try_send(2), Ok(()));
        assert_eq!(out.try_send(3), Err(canopy_axon::TrySendError::Full(3)));
        drop(inbox);
        assert_eq!(out.try_send(4), Err(canopy_axon::TrySendError::Closed(4)));
    });
}

#[test]
fn closing_an_outbox_ends_the_stream_while_its_component_runs() {
    runtime().block_on(async {
        let graph = Graph::new("close");
        let (_sink, inbox, rx) = collector(&graph, "sink", 4);
        let scope = graph.component("router");
        let mut out: Outbox<u64> = scope.outbox("outbox");
        link(&out.handle(), &inbox).unwrap();
        let router = scope.spawn_fn(move |ctx| async move {
            out.send(1).await?;
            out.close();
            ctx.stopped().await;
            Ok(())
        });
        assert_eq!(
            rx.await.unwrap(),
            vec![1],
            "the sink ended while the router runs"
        );
        assert!(router.exit().is_none());
        router.stop();
        router.join().await;
    });
}
