//! `status`: answers `canopy status`, the window's glances and the relay's listings by
//! asking the components that own each part — the door (role, invites), the router
//! (links), the sync server (counts, digest) and the presence table — and reading the
//! audio meters. It holds no state of its own, so a glance never touches the document.

use std::collections::BTreeMap;

use canopy_axon::{BoxError, Component, Context, Inbox, Outbox, Scope};
use canopy_protocol::Role;
use serde::Serialize;
use tokio::sync::oneshot;

use super::door::DoorInput;
use super::presence::PresenceInput;
use super::router::RouterInput;
use super::sync::SyncInput;
use super::LinkId;
use crate::audio::SharedMeters;

/// The answer to `canopy status`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Status {
    /// Session id.
    pub session: String,
    /// This node's document identity.
    pub node: String,
    /// Display name.
    pub name: String,
    /// Role in the session.
    pub role: Option<Role>,
    /// Certificate fingerprint.
    pub fingerprint: String,
    /// True for the root of the tree (the host): it has no parent to reconnect to.
    pub root: bool,
    /// The parent link, if joined.
    pub parent: Option<LinkStatus>,
    /// Child links.
    pub children: Vec<LinkStatus>,
    /// Ops in the document.
    pub ops: u64,
    /// Per author: ops seen without gaps.
    pub version_vector: BTreeMap<String, u64>,
    /// Digest of the visible document (`None` in a glance).
    pub digest: Option<String>,
    /// Digest of what is drawn, ids left out (`None` in a glance): equal for a
    /// drawing and its signed import.
    pub picture: Option<String>,
    /// Visible pages.
    pub pages: usize,
    /// Visible strokes.
    pub strokes: usize,
    /// Authors whose ops are left out (proven to have signed two logs, or an op no
    /// node takes).
    pub left_out: usize,
    /// Times a revocation cut an author's log short here (ops held past its cut-off
    /// were dropped).
    pub cut_short: usize,
    /// Page shown (presenter).
    pub current_page: usize,
    /// Live components in this node.
    pub components: usize,
    /// Invite URLs this node hands out.
    pub invites: BTreeMap<String, String>,
    /// True where this node holds the session key: it can revoke invites.
    #[serde(default)]
    pub can_revoke: bool,
    /// Everyone present in the session as this node hears it (itself included).
    pub participants: Vec<ParticipantStatus>,
    /// Audio, when it runs: is this node speaking, and how loud.
    pub audio: Option<AudioStatus>,
    /// The session's `.canopy` file.
    pub file: Option<String>,
    /// Files whose drawing this node imported as its own signed ops when it started
    /// (their authors' signatures could not come along).
    pub imported: Vec<String>,
}

/// This node's own audio in `Status`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AudioStatus {
    /// The local voice is speaking.
    pub speaking: bool,
    /// RMS level of the local voice.
    pub level: f32,
    /// Streams encoded for the last frame.
    pub streams: usize,
    /// The local voice is muted.
    pub muted: bool,
    /// Master playback volume.
    pub master: f32,
    /// Opus complexity in use (lowered under load).
    pub complexity: i32,
    /// The microphone in use, if any.
    #[serde(default)]
    pub input_device: Option<String>,
    /// The speaker in use, if any.
    #[serde(default)]
    pub output_device: Option<String>,
}

/// One participant in `Status`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ParticipantStatus {
    /// Document identity.
    pub node: String,
    /// Display name.
    pub name: String,
    /// Colour, `#rrggbb`.
    pub color: String,
    /// Page shown.
    pub page: u32,
    /// Cursor, if over the page.
    pub cursor: Option<(f32, f32)>,
    /// Role, as the participant says.
    pub role: Option<Role>,
    /// Microphone muted (as the participant says).
    pub muted: bool,
    /// Milliseconds since last heard (0 for this node).
    pub last_seen_ms: u64,
}

/// One link in `Status`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct LinkStatus {
    /// Link id (as in `link[N]/…` components).
    pub link: LinkId,
    /// Peer name.
    pub name: String,
    /// Peer address.
    pub address: String,
    /// Peer role.
    pub role: Role,
    /// Smoothed round-trip time.
    pub rtt_ms: f64,
    /// Someone is speaking on this link (its incoming audio).
    pub speaking: bool,
    /// RMS level of its incoming audio.
    pub audio_level: f32,
    /// Playback volume of what arrives on this link.
    pub volume: f32,
}

/// What status says that never changes.
pub struct StatusFacts {
    /// Session id.
    pub session: String,
    /// Display name.
    pub name: String,
    /// Certificate fingerprint.
    pub fingerprint: String,
    /// The session's `.canopy` file.
    pub file: Option<String>,
    /// Files imported as this node's own signed ops at the start.
    pub imported: Vec<String>,
    /// The audio component's meters, when audio runs.
    pub meters: Option<SharedMeters>,
}

/// What the status component is asked.
pub enum StatusInput {
    /// Everything, the digest included.
    Full(oneshot::Sender<Status>),
    /// Everything but the digest (a pass over the whole document), for a window that
    /// asks several times a second.
    Glance(oneshot::Sender<Status>),
}

/// The status component.
pub struct StatusComponent {
    inbox: Inbox<StatusInput>,
    door: Outbox<DoorInput>,
    router: Outbox<RouterInput>,
    sync: Outbox<SyncInput>,
    presence: Outbox<PresenceInput>,
    facts: StatusFacts,
}

/// Sends a request made with a reply channel and waits for the answer.
async fn ask<T: Send + 'static, R>(
    outbox: &mut Outbox<T>,
    request: impl FnOnce(oneshot::Sender<R>) -> T,
) -> Option<R> {
    let (reply, answer) = oneshot::channel();
    outbox.send(request(reply)).await.ok()?;
    answer.await.ok()
}

impl StatusComponent {
    /// Makes the boxes.
    pub fn new(scope: &Scope, facts: StatusFacts) -> Self {
        Self {
            inbox: scope.inbox("inbox"),
            door: scope.outbox("door"),
            router: scope.outbox("router"),
            sync: scope.outbox("sync"),
            presence: scope.outbox("presence"),
            facts,
        }
    }

    async fn status(&mut self, ctx: &Context, digest: bool) -> Option<Status> {
        let door = ask(&mut self.door, DoorInput::Glance).await?;
        let links = ask(&mut self.router, RouterInput::Links).await?;
        let doc = ask(&mut self.sync, |reply| SyncInput::Glance { digest, reply }).await?;
        let presence = ask(&mut self.presence, PresenceInput::Glance).await?;
        let meters = self.facts.meters.as_ref().map(|m| {
            m.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        });
        let meter_of = |link: LinkId| {
            meters
                .as_ref()
                .and_then(|m| m.links.get(&link).copied())
                .unwrap_or_default()
        };
        let link_status = |info: &super::router::LinkInfo| LinkStatus {
            link: info.link,
            speaking: meter_of(info.link).speaking,
            audio_level: meter_of(info.link).level,
            volume: meters
                .as_ref()
                .and_then(|m| m.volumes.get(&info.link).copied())
                .unwrap_or(1.0),
            name: info.name.clone(),
            address: info.address.clone(),
            role: info.role,
            rtt_ms: info.rtt.as_secs_f64() * 1000.0,
        };
        Some(Status {
            session: self.facts.session.clone(),
            node: doc.node.to_string(),
            name: self.facts.name.clone(),
            role: door.role,
            fingerprint: self.facts.fingerprint.clone(),
            root: door.root,
            parent: links.iter().find(|l| l.is_parent).map(link_status),
            children: links
                .iter()
                .filter(|l| !l.is_parent)
                .map(link_status)
                .collect(),
            ops: doc.ops,
            version_vector: doc
                .version_vector
                .0
                .iter()
                .map(|(node, seq)| (node.to_string(), *seq))
                .collect(),
            digest: doc.digest,
            picture: doc.picture,
            pages: doc.pages,
            strokes: doc.strokes,
            left_out: doc.left_out,
            cut_short: doc.cut_short,
            current_page: presence.current_page,
            components: ctx.graph().len(),
            invites: door.invites,
            can_revoke: door.can_revoke,
            participants: presence
                .participants
                .iter()
                .map(|(p, age)| ParticipantStatus {
                    node: p.node.to_string(),
                    name: p.name.clone(),
                    color: p.color.to_hex_rgb(),
                    page: p.page,
                    cursor: p.cursor.map(|c| (c.x, c.y)),
                    role: p.role,
                    muted: p.muted,
                    last_seen_ms: u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
                })
                .collect(),
            audio: meters.as_ref().map(|m| AudioStatus {
                speaking: m.local.speaking,
                level: m.local.level,
                streams: m.streams,
                muted: m.muted,
                master: m.master,
                complexity: m.complexity,
                input_device: m.input_device.clone(),
                output_device: m.output_device.clone(),
            }),
            file: self.facts.file.clone(),
            imported: self.facts.imported.clone(),
        })
    }
}

impl Component for StatusComponent {
    async fn run(mut self, ctx: Context) -> Result<(), BoxError> {
        while let Some(input) = self.inbox.recv().await {
            let (reply, digest) = match input {
                StatusInput::Full(reply) => (reply, true),
                StatusInput::Glance(reply) => (reply, false),
            };
            // A part that is gone means the node is stopping: the asker sees the
            // reply dropped.
            if let Some(status) = self.status(&ctx, digest).await {
                let _ = reply.send(status);
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for StatusInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StatusInput::Full(_) => "Full",
            StatusInput::Glance(_) => "Glance",
        })
    }
}
