//! `presence`: the table of who is here (name, colour, page shown, cursor, mute). It
//! announces this node on every change and every [`PRESENCE_HEARTBEAT`] otherwise,
//! passes news (a newer `seq`) from one link to every other, tells a new link who is
//! here at once, and forgets participants silent for [`PRESENCE_TIMEOUT`]. Datagrams
//! are decoded and rate-limited by each link's `presence-in`; here they are only
//! compared and forwarded.
//!
//! Each participant signs its own presence with its key (each link's `presence-in`
//! checks it against the authors table), so nobody else can wear its name, move its
//! cursor or silence it with a `seq` of 2^64−1. In a tree a participant's presence
//! also always comes the same way, so each one is bound to the link it was first heard
//! on: while it is heard there, news about it from any other link is ignored. When
//! that link goes down its participants go with it, and may be heard again by another
//! way at once (after a rejoin).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use canopy_axon::{link, BoxError, Component, Context, Inbox, InboxRef, Outbox, Scope};
use canopy_canvas::{Color, NodeId, Point};
use canopy_protocol::{Datagram, Presence, Role, SessionId};
use ring::signature::Ed25519KeyPair;
use tokio::sync::oneshot;

use super::LinkId;
use crate::audio::{AudioControl, AudioInput, SharedMeters};
use crate::link::presence_out::PresenceNews;

/// How often the table looks at mute and forgets the silent.
pub const PRESENCE_INTERVAL: Duration = Duration::from_secs(1);
/// How often a node that has nothing new says it is here anyway. Every receiver
/// checks each presence's signature, hop by hop, and a session of a hundred hears a
/// hundred of them per heartbeat: three missed in a row are still within
/// [`PRESENCE_TIMEOUT`].
pub const PRESENCE_HEARTBEAT: Duration = Duration::from_secs(3);
/// Silence after which a participant is gone.
pub const PRESENCE_TIMEOUT: Duration = Duration::from_secs(10);
/// Participants remembered at most (each is a small record).
pub const MAX_PARTICIPANTS: usize = 10_000;

/// What the presence table is told or asked.
pub enum PresenceInput {
    /// A decoded presence datagram from a link (and its bytes, to pass on as they are).
    FromLink {
        /// Which link.
        link: LinkId,
        /// What it says.
        presence: Presence,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// A link is up: its datagram sender.
    LinkUp {
        /// Which.
        link: LinkId,
        /// Its `presence-out`.
        presence_out: InboxRef<PresenceNews>,
    },
    /// A link ended.
    LinkDown {
        /// Which.
        link: LinkId,
    },
    /// The local person shows this page.
    Page(usize),
    /// The local cursor moved (`None`: off the page).
    Cursor(Option<Point>),
    /// This node's role changed (it joined).
    Role(Option<Role>),
    /// Mute and volumes: mute shows in presence; all of it goes on to audio.
    Audio(AudioControl),
    /// Everyone present, for status.
    Glance(oneshot::Sender<PresenceGlance>),
}

/// Who is here, for status.
#[derive(Debug, Clone)]
pub struct PresenceGlance {
    /// The page the local person shows.
    pub current_page: usize,
    /// Everyone (this node first) and how long since each was heard.
    pub participants: Vec<(Presence, Duration)>,
}

/// This node as a participant: what its presence says of it and the key that signs it.
pub struct Participant {
    /// The node key (its document identity is named after it).
    pub key: Arc<Ed25519KeyPair>,
    /// The session its presence is signed for.
    pub session: SessionId,
    /// Display name.
    pub name: String,
    /// Its role, once it has one.
    pub role: Option<Role>,
}

/// The presence component.
pub struct PresenceTable {
    inbox: Inbox<PresenceInput>,
    /// To audio: mute and volumes.
    audio: Outbox<AudioInput>,
    links: BTreeMap<LinkId, Outbox<PresenceNews>>,
    own: Presence,
    /// Signs this node's presence.
    key: Arc<Ed25519KeyPair>,
    session: SessionId,
    current_page: usize,
    /// Everyone heard.
    participants: BTreeMap<NodeId, Heard>,
    meters: Option<SharedMeters>,
    /// When this node last said it is here.
    announced: Option<Instant>,
}

/// A participant heard: what it said (and the bytes it signed, to tell a new link),
/// when, and the link it is heard on.
struct Heard {
    presence: Presence,
    at: Instant,
    link: LinkId,
    bytes: Vec<u8>,
}

impl PresenceTable {
    /// Makes the boxes for this node as `me`.
    pub fn new(scope: &Scope, me: Participant, meters: Option<SharedMeters>) -> Self {
        let Participant {
            key,
            session,
            name,
            role,
        } = me;
        Self {
            inbox: scope.inbox_with_capacity("inbox", 1024),
            audio: scope.outbox("audio"),
            links: BTreeMap::new(),
            own: Presence {
                node: super::author_id(&key),
                seq: 0,
                color: color_for(&name),
                name,
                page: 0,
                cursor: None,
                role,
                muted: false,
            },
            key,
            session,
            current_page: 0,
            participants: BTreeMap::new(),
            meters,
            announced: None,
        }
    }

    /// Sends this node's presence to every link (a new `seq` each time).
    fn announce(&mut self) {
        self.own.seq += 1;
        self.announced = Some(Instant::now());
        let bytes = Datagram::presence(&self.own, &self.key, &self.session);
        for outbox in self.links.values_mut() {
            // Unreliable by design: a lost datagram is replaced by the next one.
            let _ = outbox.try_send(PresenceNews {
                node: self.own.node,
                bytes: bytes.clone(),
            });
        }
    }

    fn news_from_link(&mut self, link: LinkId, presence: Presence, bytes: Vec<u8>) {
        if presence.node == self.own.node {
            return;
        }
        if let Some(known) = self.participants.get(&presence.node) {
            if known.link != link || known.presence.seq >= presence.seq {
                return;
            }
        } else if self.participants.len() >= MAX_PARTICIPANTS {
            return;
        }
        let node = presence.node;
        self.participants.insert(
            node,
            Heard {
                presence,
                at: Instant::now(),
                link,
                bytes: bytes.clone(),
            },
        );
        for (id, outbox) in self.links.iter_mut() {
            if *id != link {
                let _ = outbox.try_send(PresenceNews {
                    node,
                    bytes: bytes.clone(),
                });
            }
        }
    }

    /// Once a second: say we are here if a heartbeat is due or mute changed, forget
    /// who has gone quiet.
    fn tick(&mut self) {
        let was_muted = self.own.muted;
        if let Some(meters) = &self.meters {
            self.own.muted = meters
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .muted;
        }
        let due = self
            .announced
            .is_none_or(|at| at.elapsed() >= PRESENCE_HEARTBEAT);
        if due || self.own.muted != was_muted {
            self.announce();
        }
        self.participants
            .retain(|_, heard| heard.at.elapsed() < PRESENCE_TIMEOUT);
    }

    /// Tells a new link who is here: this node (anew) and everyone heard.
    fn introduce(&mut self, outbox: &mut Outbox<PresenceNews>) {
        self.own.seq += 1;
        let bytes = Datagram::presence(&self.own, &self.key, &self.session);
        let _ = outbox.try_send(PresenceNews {
            node: self.own.node,
            bytes,
        });
        for (node, heard) in &self.participants {
            let _ = outbox.try_send(PresenceNews {
                node: *node,
                bytes: heard.bytes.clone(),
            });
        }
    }

    fn glance(&self) -> PresenceGlance {
        PresenceGlance {
            current_page: self.current_page,
            participants: std::iter::once((self.own.clone(), Duration::ZERO))
                .chain(
                    self.participants
                        .values()
                        .map(|heard| (heard.presence.clone(), heard.at.elapsed())),
                )
                .collect(),
        }
    }
}

impl Component for PresenceTable {
    async fn run(mut self, ctx: Context) -> Result<(), BoxError> {
        let mut ticker = tokio::time::interval(PRESENCE_INTERVAL);
        loop {
            let input = tokio::select! {
                input = self.inbox.recv() => match input {
                    Some(input) => input,
                    None => break,
                },
                _ = ticker.tick() => {
                    self.tick();
                    continue;
                }
            };
            match input {
                PresenceInput::FromLink {
                    link,
                    presence,
                    bytes,
                } => self.news_from_link(link, presence, bytes),
                PresenceInput::LinkUp {
                    link: id,
                    presence_out,
                } => {
                    let mut outbox = ctx.outbox::<PresenceNews>(&format!("to-link[{id}]"));
                    if link(&outbox.handle(), &presence_out).is_ok() {
                        self.introduce(&mut outbox);
                        self.links.insert(id, outbox);
                    }
                }
                PresenceInput::LinkDown { link } => {
                    if let Some(outbox) = self.links.remove(&link) {
                        outbox.close();
                    }
                    // Who was heard that way is gone from here (or comes another way).
                    self.participants.retain(|_, heard| heard.link != link);
                }
                PresenceInput::Page(page) => {
                    self.current_page = page;
                    self.own.page = u32::try_from(page).unwrap_or(u32::MAX);
                    self.announce();
                }
                PresenceInput::Cursor(cursor) => {
                    self.own.cursor = cursor;
                    self.announce();
                }
                PresenceInput::Role(role) => self.own.role = role,
                PresenceInput::Audio(control) => {
                    if let AudioControl::Mute(on) = control {
                        self.own.muted = on;
                        self.announce();
                    }
                    if self.audio.try_send(AudioInput::Control(control)).is_err() {
                        tracing::info!("audio is off on this node: {control:?} ignored");
                    }
                }
                PresenceInput::Glance(reply) => {
                    let _ = reply.send(self.glance());
                }
            }
        }
        Ok(())
    }
}

/// A stable colour for a name, so a participant looks the same everywhere.
pub fn color_for(name: &str) -> Color {
    const PALETTE: [Color; 8] = [
        Color::rgb(208, 48, 48),
        Color::rgb(32, 96, 208),
        Color::rgb(32, 160, 80),
        Color::rgb(224, 140, 0),
        Color::rgb(140, 60, 200),
        Color::rgb(0, 150, 160),
        Color::rgb(200, 60, 140),
        Color::rgb(100, 100, 100),
    ];
    let hash = name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    PALETTE[hash as usize % PALETTE.len()]
}

impl std::fmt::Debug for PresenceInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PresenceInput::FromLink { link, presence, .. } => {
                write!(f, "FromLink({link}, {})", presence.node)
            }
            PresenceInput::LinkUp { link, .. } => write!(f, "LinkUp({link})"),
            PresenceInput::LinkDown { link } => write!(f, "LinkDown({link})"),
            PresenceInput::Page(page) => write!(f, "Page({page})"),
            PresenceInput::Cursor(cursor) => write!(f, "Cursor({cursor:?})"),
            PresenceInput::Role(role) => write!(f, "Role({role:?})"),
            PresenceInput::Audio(control) => write!(f, "Audio({control:?})"),
            PresenceInput::Glance(_) => f.write_str("Glance"),
        }
    }
}
