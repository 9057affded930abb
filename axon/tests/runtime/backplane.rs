//! The backplane fans every published message out to every subscriber.

use canopy_axon::{link, Graph, LinkError};

use crate::util::{collector, counter, runtime};

#[test]
fn every_subscriber_gets_every_message_in_order() {
    runtime().block_on(async {
        let graph = Graph::new("hub");
        let hub = graph.backplane::<u64>("strokes").unwrap();
        let mut receivers = Vec::new();
        let mut subscribers = Vec::new();
        for i in 0..5 {
            let (sub, inbox, rx) = collector(&graph, &format!("sub[{i}]"), 4);
            hub.subscribe(&inbox).unwrap();
            receivers.push(rx);
            subscribers.push(sub);
        }
        // A subscriber that leaves early must not disturb the others.
        let quitter = graph.component("quitter");
        let mut quitter_inbox = quitter.inbox::<u64>("inbox");
        hub.subscribe(&quitter_inbox.handle()).unwrap();
        quitter.spawn_fn(move |_ctx| async move {
            quitter_inbox.recv().await;
            Ok(())
        });

        let publisher = counter(&graph, "publisher", 2_000);
        link(&publisher.outbox("outbox").unwrap(), hub.publish_inbox()).unwrap();
        publisher.join().await;
        // The hub outlives its publishers; stopping it ends the subscribers' streams.
        hub.handle().stop();
        for rx in receivers {
            assert_eq!(rx.await.unwrap(), (0..2_000).collect::<Vec<_>>());
        }
    });
}

#[test]
fn one_hub_per_name_and_type() {
    runtime().block_on(async {
        let graph = Graph::new("hubs");
        let a = graph.backplane::<u64>("presence").unwrap();
        let b = graph.backplane::<u64>("presence").unwrap();
        assert_eq!(a.handle().id(), b.handle().id());
        assert!(matches!(
            graph.backplane::<String>("presence"),
            Err(LinkError::TypeMismatch { .. })
        ));
    });
}
