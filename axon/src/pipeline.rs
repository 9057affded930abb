//! Pipelines and graphlines: Kamaelia's two wiring shapes, as helpers over `link`.
//!
//! A pipeline links each stage's `outbox` to the next stage's `inbox`; a graphline
//! names its components and links whichever boxes a table says. Both keep the
//! handles, so the shape can be stopped and awaited as a whole.
//!
//! Components run from the moment they are spawned. An inbox fed by several
//! outboxes ends when the writers linked *so far* have all finished, so producers
//! that may finish quickly should wait for a start signal until the fan-in is wired.

use std::collections::BTreeMap;

use crate::graph::{ComponentHandle, Exit};
use crate::link::{link_named, LinkError};

/// Conventional name of a component's main inbox.
pub const INBOX: &str = "inbox";
/// Conventional name of a component's main outbox.
pub const OUTBOX: &str = "outbox";

/// Stages linked in a line, `outbox` to `inbox`.
pub struct Pipeline {
    stages: Vec<ComponentHandle>,
}

impl Pipeline {
    /// Links consecutive stages. The first stage's `inbox` and the last stage's
    /// `outbox`, if they exist, stay free for linking to the outside.
    pub fn new(stages: Vec<ComponentHandle>) -> Result<Self, LinkError> {
        for pair in stages.windows(2) {
            link_named((&pair[0], OUTBOX), (&pair[1], INBOX))?;
        }
        Ok(Self { stages })
    }

    /// The stages, in order.
    pub fn stages(&self) -> &[ComponentHandle] {
        &self.stages
    }

    /// Asks every stage to stop.
    pub fn stop(&self) {
        for stage in &self.stages {
            stage.stop();
        }
    }

    /// Waits for every stage to end; their exits in stage order.
    pub async fn join(&self) -> Vec<Exit> {
        let mut exits = Vec::with_capacity(self.stages.len());
        for stage in &self.stages {
            exits.push(stage.join().await);
        }
        exits
    }
}

/// One link of a graphline: `((component, outbox), (component, inbox))`.
pub type Linkage<'a> = ((&'a str, &'a str), (&'a str, &'a str));

/// Named components wired by a table of links.
pub struct Graphline {
    components: BTreeMap<String, ComponentHandle>,
}

impl Graphline {
    /// Links the named boxes of the named components.
    pub fn new(
        components: impl IntoIterator<Item = (String, ComponentHandle)>,
        linkages: &[Linkage<'_>],
    ) -> Result<Self, LinkError> {
        let components: BTreeMap<String, ComponentHandle> = components.into_iter().collect();
        let find = |name: &str| {
            components
                .get(name)
                .ok_or_else(|| LinkError::NoSuchComponent(name.to_string()))
        };
        for ((from, outbox), (to, inbox)) in linkages {
            link_named((find(from)?, outbox), (find(to)?, inbox))?;
        }
        Ok(Self { components })
    }

    /// A component of the graphline by name.
    pub fn get(&self, name: &str) -> Option<&ComponentHandle> {
        self.components.get(name)
    }

    /// Asks every component to stop.
    pub fn stop(&self) {
        for component in self.components.values() {
            component.stop();
        }
    }

    /// Waits for every component to end; exits by name.
    pub async fn join(&self) -> BTreeMap<String, Exit> {
        let mut exits = BTreeMap::new();
        for (name, component) in &self.components {
            exits.insert(name.clone(), component.join().await);
        }
        exits
    }
}
