//! `door`: this node's authority in the session. It judges joiners' hellos (the rules
//! are `canopy_protocol::admit`, a pure function; this component holds what it is
//! judged against and signs the welcome), mints invites, keeps revocations, learns a
//! new authority and ancestors when the node joins or rejoins, and makes the hello
//! for rejoining. The invite URLs status shows are minted once per authority and
//! reused until they near expiry, so a window glancing ten times a second signs
//! nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use canopy_axon::{BoxError, Component, Context, Inbox, Outbox, Scope};
use canopy_canvas::{NodeId, VersionVector};
use canopy_protocol::{
    admit, Ancestor, Authority, Door, Fingerprint, Hello, JoinUrl, Refusal, Role, SessionId,
    Welcome, PROTOCOL_VERSION,
};
use ring::signature::Ed25519KeyPair;
use tokio::sync::oneshot;

use super::document::DocumentInput;
use super::presence::PresenceInput;
use super::{now_seconds, split_address};

/// Who this node is in its session, fixed at start except for what joining changes.
pub struct Identity {
    /// The node key.
    pub key: Arc<Ed25519KeyPair>,
    /// Its document identity.
    pub node: NodeId,
    /// Display name.
    pub name: String,
    /// Certificate fingerprint.
    pub fingerprint: Fingerprint,
    /// `host:port` that invites carry.
    pub public_address: String,
    /// The session.
    pub session: SessionId,
    /// This node's authority (a host's own; a joiner's from its parent's welcome).
    pub authority: Option<Authority>,
    /// Nodes above this one, nearest first (empty for the root).
    pub ancestors: Vec<Ancestor>,
    /// How long the invites this node hands out stay valid (`None`: until revoked).
    pub invite_ttl: Option<Duration>,
    /// Print `invite ROLE URL` lines on stdout once the node can invite.
    pub print_invites: bool,
    /// Children allowed at most (`None`: no limit).
    pub max_children: Option<usize>,
    /// Invite tokens refused at the door.
    pub revoked: BTreeSet<String>,
}

/// What the door knows, for status.
#[derive(Debug, Clone)]
pub struct DoorGlance {
    /// This node's role.
    pub role: Option<Role>,
    /// True for the root of the tree.
    pub root: bool,
    /// The invite URLs this node hands out, by role.
    pub invites: BTreeMap<String, String>,
}

/// What the door is told or asked.
pub enum DoorInput {
    /// A joiner's hello, to be judged. The welcome's `seen` is left for the caller.
    Admit {
        /// The hello.
        hello: Box<Hello>,
        /// The answer.
        reply: oneshot::Sender<Result<Box<Welcome>, Refusal>>,
    },
    /// This node joined (or rejoined) a parent.
    Joined {
        /// What the parent said.
        welcome: Box<Welcome>,
        /// The parent's address and fingerprint.
        parent: Ancestor,
    },
    /// A new invite URL (`ttl`: how long it stays valid; `None`: until revoked).
    Invite {
        /// Editor or viewer.
        role: Role,
        /// Validity.
        ttl: Option<Duration>,
        /// The URL, or `None` if this node cannot invite with that role.
        reply: oneshot::Sender<Option<String>>,
    },
    /// Refuse joins presenting this invite token from now on.
    Revoke(String),
    /// A hello for rejoining after losing the parent (an invite of this node's own;
    /// `seen` is left for the caller), and the ancestors to try.
    Rejoin(oneshot::Sender<Option<(Box<Hello>, Vec<Ancestor>)>>),
    /// How many children are linked here (from the router).
    Children(usize),
    /// Role and invites, for status.
    Glance(oneshot::Sender<DoorGlance>),
}

/// The door component.
pub struct DoorComponent {
    inbox: Inbox<DoorInput>,
    /// To the document and presence: this node's role when it changes.
    document: Outbox<DocumentInput>,
    presence: Outbox<PresenceInput>,
    me: Identity,
    children: usize,
    nonce: u64,
    invites_printed: bool,
    /// Invite URLs for status, with when each stops being worth showing.
    shown: BTreeMap<Role, (String, Option<u64>)>,
}

impl DoorComponent {
    /// Makes the boxes.
    pub fn new(scope: &Scope, me: Identity) -> Self {
        Self {
            inbox: scope.inbox("inbox"),
            document: scope.outbox("document"),
            presence: scope.outbox("presence"),
            me,
            children: 0,
            nonce: 0,
            invites_printed: false,
            shown: BTreeMap::new(),
        }
    }

    fn node_key(&self) -> [u8; 32] {
        canopy_protocol::public_key(&self.me.key)
    }

    fn next_nonce(&mut self) -> u64 {
        self.nonce += 1;
        now_seconds()
            .wrapping_mul(1_000_003)
            .wrapping_add(self.nonce)
    }

    fn invite_url(&mut self, role: Role, ttl: Option<Duration>) -> Option<String> {
        let nonce = self.next_nonce();
        let authority = self.me.authority.as_ref()?;
        if role > authority.role() {
            return None;
        }
        let expires = ttl.map(|ttl| now_seconds().saturating_add(ttl.as_secs().max(1)));
        let invite = authority.invite(&self.me.session, &self.me.key, role, expires, nonce);
        let (host, port) = split_address(&self.me.public_address)?;
        Some(
            JoinUrl {
                host,
                port,
                session: self.me.session,
                fingerprint: Some(self.me.fingerprint),
                invite,
            }
            .to_string(),
        )
    }

    /// The invite URL status shows for `role`: minted once, renewed only when it is
    /// past half its validity.
    fn shown_invite(&mut self, role: Role) -> Option<String> {
        let now = now_seconds();
        if let Some((url, renew_at)) = self.shown.get(&role) {
            if renew_at.is_none_or(|at| now < at) {
                return Some(url.clone());
            }
        }
        let ttl = self.me.invite_ttl;
        let url = self.invite_url(role, ttl)?;
        let renew_at = ttl.map(|ttl| now.saturating_add(ttl.as_secs().max(1) / 2));
        self.shown.insert(role, (url.clone(), renew_at));
        Some(url)
    }

    fn print_invites(&mut self) {
        if !self.me.print_invites || self.invites_printed || self.me.authority.is_none() {
            return;
        }
        self.invites_printed = true;
        let mine = self
            .me
            .authority
            .as_ref()
            .map_or(Role::Viewer, Authority::role);
        let mut lines = String::new();
        for role in [Role::Editor, Role::Viewer] {
            if role > mine {
                continue;
            }
            if let Some(url) = self.shown_invite(role) {
                lines.push_str(&format!("invite {role} {url}\n"));
            }
        }
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(lines.as_bytes());
        let _ = stdout.flush();
    }

    fn admit(&mut self, hello: &Hello) -> Result<Box<Welcome>, Refusal> {
        let node_key = self.node_key();
        let admitted = admit(
            hello,
            now_seconds(),
            &Door {
                session: &self.me.session,
                authority: self.me.authority.as_ref(),
                node_key: &node_key,
                ancestors: &self.me.ancestors,
                revoked: &self.me.revoked,
                children: self.children,
                max_children: self.me.max_children,
            },
        )?;
        let nonce = self.next_nonce();
        let authority =
            self.me.authority.as_ref().ok_or_else(|| {
                Refusal::Protocol("this node has not joined its session yet".into())
            })?;
        let delegated = authority.delegate(
            &self.me.session,
            &self.me.key,
            hello.node_key,
            admitted.role,
            admitted.expires,
            nonce,
        );
        let mut ancestors = vec![Ancestor {
            node_key,
            address: self.me.public_address.clone(),
            fingerprint: self.me.fingerprint,
        }];
        ancestors.extend(self.me.ancestors.iter().cloned());
        Ok(Box::new(Welcome {
            session: self.me.session,
            node: self.me.node,
            name: canopy_protocol::bounded_name(&self.me.name),
            role: delegated.role(),
            authority: delegated,
            ancestors,
            seen: VersionVector::default(),
        }))
    }

    async fn joined(&mut self, welcome: Box<Welcome>, parent: Ancestor) {
        if welcome.session != self.me.session {
            tracing::error!("parent answered for another session");
            return;
        }
        let role = Some(welcome.authority.role());
        self.me.authority = Some(welcome.authority);
        self.me.ancestors = welcome.ancestors;
        if self.me.ancestors.first().map(|a| a.node_key) != Some(parent.node_key) {
            self.me.ancestors.insert(0, parent);
        }
        self.shown.clear();
        let _ = self.document.send(DocumentInput::Role(role)).await;
        let _ = self.presence.send(PresenceInput::Role(role)).await;
        self.print_invites();
    }

    fn rejoin(&mut self) -> Option<(Box<Hello>, Vec<Ancestor>)> {
        let nonce = self.next_nonce();
        let authority = self.me.authority.as_ref()?;
        let hello = Hello {
            protocol: PROTOCOL_VERSION,
            session: self.me.session,
            node: self.me.node,
            node_key: canopy_protocol::public_key(&self.me.key),
            name: canopy_protocol::bounded_name(&self.me.name),
            invite: authority.invite(
                &self.me.session,
                &self.me.key,
                authority.role(),
                None,
                nonce,
            ),
            seen: VersionVector::default(),
        };
        Some((Box::new(hello), self.me.ancestors.clone()))
    }

    fn glance(&mut self) -> DoorGlance {
        let role = self.me.authority.as_ref().map(Authority::role);
        let mut invites = BTreeMap::new();
        for candidate in [Role::Editor, Role::Viewer] {
            if Some(candidate) <= role {
                if let Some(url) = self.shown_invite(candidate) {
                    invites.insert(candidate.to_string(), url);
                }
            }
        }
        DoorGlance {
            role,
            root: self.me.ancestors.is_empty(),
            invites,
        }
    }
}

impl Component for DoorComponent {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        self.print_invites();
        while let Some(input) = self.inbox.recv().await {
            match input {
                DoorInput::Admit { hello, reply } => {
                    let _ = reply.send(self.admit(&hello));
                }
                DoorInput::Joined { welcome, parent } => self.joined(welcome, parent).await,
                DoorInput::Invite { role, ttl, reply } => {
                    let _ = reply.send(self.invite_url(role, ttl));
                }
                DoorInput::Revoke(token) => {
                    self.me.revoked.insert(token);
                }
                DoorInput::Rejoin(reply) => {
                    let _ = reply.send(self.rejoin());
                }
                DoorInput::Children(children) => self.children = children,
                DoorInput::Glance(reply) => {
                    let _ = reply.send(self.glance());
                }
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for DoorInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DoorInput::Admit { .. } => "Admit",
            DoorInput::Joined { .. } => "Joined",
            DoorInput::Invite { .. } => "Invite",
            DoorInput::Revoke(_) => "Revoke",
            DoorInput::Rejoin(_) => "Rejoin",
            DoorInput::Children(_) => "Children",
            DoorInput::Glance(_) => "Glance",
        })
    }
}
