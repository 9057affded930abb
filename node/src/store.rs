//! The `store` component: writes every new op (and the audio the node hears) to the
//! session's `.canopy` file, in batched transactions so durability does not cost
//! throughput. SQLite calls block, so each batch is written on tokio's blocking pool;
//! the component waits for it, which gives the core backpressure when the disk is
//! slow. Audio from another file (`store::Import`) is copied in first.

use anyhow::{anyhow, Result};
use canopy_axon::{ComponentHandle, Graph, Inbox, InboxRef};
use canopy_canvas::NodeId;
use canopy_protocol::WireOp;

use crate::storage::{CutLog, SignedHeads, Store};

/// Ops per transaction at most.
const BATCH: usize = 20_000;

/// What the store is given.
pub enum StoreInput {
    /// New ops, when they arrived (Unix milliseconds), and the signed heads kept and
    /// dropped with them (written in the same transaction).
    Ops(u64, Vec<WireOp>, SignedHeads),
    /// An author's authority (bincode), kept before any of its ops.
    Author(NodeId, Vec<u8>),
    /// Proof that an author split its log (bincode): its ops are left out on load.
    Evidence(NodeId, Vec<u8>),
    /// Revoked authors' logs end here: their later ops leave the file.
    Cut(Vec<CutLog>),
    /// A frame of the node's mixed audio, as an Opus packet.
    Audio {
        /// When it was heard (Unix milliseconds, the ops' clock).
        at_ms: u64,
        /// The packet.
        packet: Vec<u8>,
    },
    /// A participant was seen.
    Participant {
        /// Document identity.
        node: NodeId,
        /// Name.
        name: String,
        /// When (Unix milliseconds).
        at_ms: u64,
    },
}

impl std::fmt::Debug for StoreInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreInput::Ops(_, ops, _) => write!(f, "Ops({})", ops.len()),
            StoreInput::Author(node, _) => write!(f, "Author({node})"),
            StoreInput::Evidence(node, _) => write!(f, "Evidence({node})"),
            StoreInput::Cut(cuts) => write!(f, "Cut({})", cuts.len()),
            StoreInput::Audio { at_ms, .. } => write!(f, "Audio({at_ms})"),
            StoreInput::Participant { name, .. } => write!(f, "Participant({name})"),
        }
    }
}

/// Audio to copy into the file before anything else (a saved document opened): from
/// which file, heard before when. Its ops come in as this node's own signed ops.
#[derive(Debug, Clone)]
pub struct Import {
    /// The file.
    pub from: std::path::PathBuf,
    /// Audio heard before this (its clock).
    pub until_ms: u64,
}

/// Spawns `store`; returns its handle and inbox. `import`'s audio is copied in first,
/// in the background.
pub fn spawn(
    graph: &Graph,
    name: &str,
    store: Store,
    import: Option<Import>,
) -> Result<(ComponentHandle, InboxRef<StoreInput>)> {
    let scope = graph.component(name);
    let mut inbox: Inbox<StoreInput> = scope.inbox_with_capacity("inbox", 1024);
    let inbox_ref = inbox.handle();
    let handle = scope.spawn_fn(move |_ctx| async move {
        let store = match import {
            Some(import) => {
                tokio::task::spawn_blocking(move || -> Result<Store> {
                    let mut store = store;
                    let source = Store::open_read_only(&import.from)?;
                    store.import_audio_from(&source, import.until_ms)?;
                    Ok(store)
                })
                .await??
            }
            None => store,
        };
        let mut store = Some(store);
        while let Some(first) = inbox.recv().await {
            let mut ops: Vec<(u64, WireOp)> = Vec::new();
            let mut signed = SignedHeads::default();
            let mut authors: Vec<(NodeId, Vec<u8>)> = Vec::new();
            let mut evidence: Vec<(NodeId, Vec<u8>)> = Vec::new();
            let mut cuts: Vec<CutLog> = Vec::new();
            let mut participants = Vec::new();
            let mut audio: Vec<(u64, Vec<u8>)> = Vec::new();
            let mut next = Some(first);
            // Everything already queued goes into the same transaction.
            while let Some(input) = next.take() {
                match input {
                    StoreInput::Ops(at, batch, kept) => {
                        ops.extend(batch.into_iter().map(|op| (at, op)));
                        signed.extend(kept);
                    }
                    StoreInput::Author(node, authority) => authors.push((node, authority)),
                    StoreInput::Evidence(node, proof) => evidence.push((node, proof)),
                    // Taken after the batch's ops: ops past a cut-off are never
                    // taken after it, so all of them are before it.
                    StoreInput::Cut(more) => cuts.extend(more),
                    StoreInput::Audio { at_ms, packet } => audio.push((at_ms, packet)),
                    StoreInput::Participant { node, name, at_ms } => participants.push((node, name, at_ms)),
                }
                if ops.len() < BATCH {
                    // Empty or ended: the batch is complete.
                    next = inbox.try_recv().ok();
                }
            }
            let mut owned = store.take().ok_or_else(|| anyhow!("the store was lost"))?;
            let (owned, result) = tokio::task::spawn_blocking(move || {
                let result = owned.append_all(&ops, &signed, &authors, &evidence).and_then(|()| owned.cut_logs(&cuts)).and_then(|()| owned.append_audio(&audio)).and_then(|()| {
                    participants
                        .iter()
                        .try_for_each(|(node, name, at)| owned.saw_participant(*node, name, *at))
                });
                (owned, result)
            })
            .await?;
            if let Err(error) = result {
                tracing::error!(file = %owned.path().display(), %error, "cannot write the session file");
                return Err(error.into());
            }
            store = Some(owned);
        }
        Ok(())
    });
    Ok((handle, inbox_ref))
}
