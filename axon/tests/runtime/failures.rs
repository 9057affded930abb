//! A failing component is reported by name and reason; the rest keeps running and
//! can react.

use canopy_axon::{link_named, relink_named, Exit, Graph, GraphEvent, Inbox, Outbox};

use crate::util::{collector, counter, pass_through, runtime};

#[test]
fn a_panic_is_contained_reported_and_routed_around() {
    runtime().block_on(async {
        let graph = Graph::new("fragile");
        let mut events = graph.events();

        // An unrelated pipeline that must finish untouched.
        let other_source = counter(&graph, "other/source", 5_000);
        let (other_sink, _, other_rx) = collector(&graph, "other/sink", 8);
        link_named((&other_source, "outbox"), (&other_sink, "inbox")).unwrap();

        // source -> fragile (panics on 100) -> sink
        let source = counter(&graph, "source", 1_000);
        let scope = graph.component("fragile");
        let mut inbox: Inbox<u64> = scope.inbox("inbox");
        let mut outbox: Outbox<u64> = scope.outbox("outbox");
        let fragile = scope.spawn_fn(move |_ctx| async move {
            while let Some(x) = inbox.recv().await {
                assert!(x != 100, "cannot digest {x}");
                outbox.send(x).await?;
            }
            Ok(())
        });
        let (sink, _, rx) = collector(&graph, "sink", 8);
        link_named((&source, "outbox"), (&fragile, "inbox")).unwrap();
        link_named((&fragile, "outbox"), (&sink, "inbox")).unwrap();

        // The supervisor reacts: route the source around the failed stage.
        loop {
            match events.recv().await.unwrap() {
                GraphEvent::Exited { name, exit, .. } if name == "fragile" => {
                    assert_eq!(exit, Exit::Panicked("cannot digest 100".into()));
                    break;
                }
                _ => {}
            }
        }
        let replacement = pass_through(&graph, "replacement");
        relink_named((&replacement, "outbox"), (&sink, "inbox")).unwrap();
        relink_named((&source, "outbox"), (&replacement, "inbox")).unwrap();

        assert_eq!(other_rx.await.unwrap(), (0..5_000).collect::<Vec<_>>());
        let seen = rx.await.unwrap();
        // 0..100 went through the fragile stage; 100 was moved into it and died with
        // it, as did whatever sat in its queue; the rest came through the replacement.
        // The sink did not end when the stage died (a failure detaches, it does not
        // finish), nothing arrives twice, and order holds.
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(&seen[..100], &(0..100).collect::<Vec<_>>()[..]);
        assert!(!seen.contains(&100));
        assert_eq!(*seen.last().unwrap(), 999);
        assert_eq!(
            fragile.exit(),
            Some(Exit::Panicked("cannot digest 100".into()))
        );
    });
}

#[test]
fn an_error_is_reported_with_the_components_name_and_detaches_its_links() {
    runtime().block_on(async {
        let graph = Graph::new("errors");
        let mut events = graph.events();
        let (sink, _, rx) = collector(&graph, "router", 8);
        let scope = graph.component("link[3]/reader");
        let mut outbox: Outbox<u64> = scope.outbox("outbox");
        let failing = scope.spawn_fn(|_ctx| async move {
            outbox.send(7).await?;
            Err("frame too large: 9000000 bytes".into())
        });
        link_named((&failing, "outbox"), (&sink, "inbox")).unwrap();
        assert_eq!(
            failing.join().await,
            Exit::Failed("frame too large: 9000000 bytes".into())
        );
        // The handle knows how the component ended before the event goes out, so
        // the event is waited for (it used to be looked for at once, and was
        // sometimes not there yet).
        let mut saw_exit = false;
        while !saw_exit {
            let event = tokio::time::timeout(std::time::Duration::from_secs(5), events.recv());
            match event.await {
                Ok(Ok(GraphEvent::Exited { name, exit, .. })) => {
                    assert_eq!(name, "link[3]/reader");
                    assert!(matches!(exit, Exit::Failed(_)));
                    saw_exit = true;
                }
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(_) => break,
            }
        }
        assert!(saw_exit);
        // The router did not end with the reader; a new reader can feed it.
        let again = counter(&graph, "link[4]/reader", 3);
        link_named((&again, "outbox"), (&sink, "inbox")).unwrap();
        assert_eq!(rx.await.unwrap(), vec![7, 0, 1, 2]);
    });
}
