//! Introspection: what runs, what is linked to what, and how busy each box is,
//! as JSON (for tools) and Graphviz DOT (for people).

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// A picture of a graph at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The graph's name.
    pub graph: String,
    /// Live components, in start order.
    pub components: Vec<ComponentInfo>,
    /// Every outbox → inbox link between live components.
    pub links: Vec<LinkInfo>,
}

/// One live component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentInfo {
    /// Process-unique id.
    pub id: u64,
    /// Role and instance, e.g. `link[3]/reader`.
    pub name: String,
    /// Its inboxes.
    pub inboxes: Vec<InboxInfo>,
    /// Its outboxes.
    pub outboxes: Vec<OutboxInfo>,
}

/// Counters of one inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxInfo {
    /// Box name.
    pub name: String,
    /// Rust type of its messages.
    pub message_type: String,
    /// Messages received so far.
    pub received: u64,
    /// Messages waiting in the queue now.
    pub queued: usize,
    /// Queue length limit.
    pub capacity: usize,
}

/// Counters and target of one outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxInfo {
    /// Box name.
    pub name: String,
    /// Rust type of its messages.
    pub message_type: String,
    /// Messages sent so far.
    pub sent: u64,
    /// `component.inbox` it feeds, if linked.
    pub linked_to: Option<String>,
    /// Id of the component it feeds, if linked.
    pub linked_to_component: Option<u64>,
    /// Name of the inbox it feeds within that component, if linked.
    pub linked_to_box: Option<String>,
}

/// One link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkInfo {
    /// `component.outbox`.
    pub from: String,
    /// `component.inbox`.
    pub to: String,
    /// Name of the outbox within its component.
    pub from_box: String,
    /// Name of the inbox within its component.
    pub to_box: String,
    /// Id of the sending component.
    pub from_component: u64,
    /// Id of the receiving component.
    pub to_component: u64,
}

impl Snapshot {
    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain structs of strings and numbers cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Graphviz DOT: one node per component (labelled with its name and box counters),
    /// one edge per link (labelled `outbox → inbox`). Render with `dot -Tsvg`.
    /// Nodes are numbered by position, so the same shape always gives the same text.
    pub fn to_dot(&self) -> String {
        let node: HashMap<u64, usize> = self
            .components
            .iter()
            .enumerate()
            .map(|(index, c)| (c.id, index))
            .collect();
        let mut dot = String::new();
        let _ = writeln!(dot, "digraph {} {{", quote(&self.graph));
        let _ = writeln!(dot, "  rankdir=LR;");
        let _ = writeln!(dot, "  node [shape=box, fontname=\"monospace\"];");
        for (index, component) in self.components.iter().enumerate() {
            let mut label = component.name.clone();
            for inbox in &component.inboxes {
                let _ = write!(
                    label,
                    "\nin {}: {} recv, {}/{} queued",
                    inbox.name, inbox.received, inbox.queued, inbox.capacity
                );
            }
            for outbox in &component.outboxes {
                let _ = write!(label, "\nout {}: {} sent", outbox.name, outbox.sent);
            }
            let _ = writeln!(dot, "  n{index} [label={}];", quote(&label));
        }
        for link in &self.links {
            // Links into components that ended since are not drawn.
            let (Some(from), Some(to)) =
                (node.get(&link.from_component), node.get(&link.to_component))
            else {
                continue;
            };
            let _ = writeln!(
                dot,
                "  n{from} -> n{to} [label={}];",
                quote(&format!("{} → {}", link.from_box, link.to_box))
            );
        }
        dot.push_str("}\n");
        dot
    }
}

/// A DOT double-quoted string, with quotes, backslashes and newlines escaped.
fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}
