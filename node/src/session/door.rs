//! `door`: this node's authority in the session. It judges joiners' hellos (the rules
//! are `canopy_protocol::admit`, a pure function; this component holds what it is
//! judged against and signs the welcome), mints invites, keeps revocations, learns a
//! new authority and ancestors when the node joins or rejoins, and makes the hello
//! for rejoining. It keeps the session's revocations: a host (holding the session
//! key) signs them, every node checks those passed on by its links, keeps them in
//! its data directory and has the router pass them on and close the links they
//! cover. The invite URLs status shows are minted once per authority and
//! reused until they near expiry, so a window glancing ten times a second signs
//! nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use canopy_axon::{BoxError, Component, Context, Inbox, Outbox, Scope};
use canopy_canvas::{NodeId, VersionVector};
use canopy_protocol::{
    admit, Ancestor, Authority, Door, Fingerprint, GrantId, Hello, Invite, InviteError, JoinUrl,
    Kept, Refusal, Revocation, Revocations, Role, SessionId, Welcome, MAX_CHAIN, PROTOCOL_VERSION,
};
use ring::signature::Ed25519KeyPair;
use tokio::sync::oneshot;

use super::authors::Authors;
use super::document::DocumentInput;
use super::presence::PresenceInput;
use super::router::RouterInput;
use super::{now_seconds, split_address, LinkId};
use crate::lines::LineFile;

/// A session's revoked grants, and the file that keeps them across restarts.
pub struct Revoked {
    /// The grants.
    pub grants: Revocations,
    /// The revocations known with their signatures: what every new link is told.
    signed: Vec<Revocation>,
    /// `DATA/revoked/SESSION`, one `GRANT SIGNATURE` per line (`None`: in memory).
    pub file: Option<LineFile>,
}

impl Revoked {
    /// Nothing revoked, nothing kept.
    pub fn in_memory() -> Self {
        Revoked {
            grants: Revocations::new(),
            signed: Vec::new(),
            file: None,
        }
    }

    /// Reads the revocations kept in `path`: `GRANT SIGNATURE kept=CUT-OFFS` lines
    /// ([`kept_text`]), or `GRANT SIGNATURE` (signed before cut-offs), or a grant id or
    /// an invite token alone (as older nodes and relays kept them). Anything else, or
    /// a signature that does not verify, is an error: revocations fail closed.
    pub fn load(path: &std::path::Path, session: &SessionId) -> anyhow::Result<Self> {
        let file = LineFile::open(path).context("the session's revoked invites")?;
        let mut grants = Revocations::new();
        let mut signed = Vec::new();
        for (index, line) in file.lines().iter().enumerate() {
            let bad =
                |what: &str| anyhow::anyhow!("line {} of {} {what}", index + 1, path.display());
            let mut fields = line.split(' ');
            let name = fields.next().unwrap_or_default();
            let signature = fields.next();
            let kept = match fields.next() {
                Some(text) => Some(
                    text.strip_prefix("kept=")
                        .and_then(kept_from_text)
                        .ok_or_else(|| bad("has cut-offs that do not read"))?,
                ),
                None => None,
            };
            if fields.next().is_some() {
                return Err(bad("has more than a grant, a signature and cut-offs"));
            }
            let grant = match name.parse::<GrantId>() {
                Ok(grant) => grant,
                Err(_) => Invite::from_token(name)
                    .map(|invite| invite.grant_id(session))
                    .map_err(|_| bad("is neither a grant id nor an invite token"))?,
            };
            if let Some(signature) = signature {
                let revocation = Revocation {
                    grant,
                    kept,
                    signature: data_encoding::HEXLOWER
                        .decode(signature.as_bytes())
                        .map_err(|_| bad("has a signature that is not hex"))?,
                };
                revocation
                    .verify(session)
                    .map_err(|_| bad("has a revocation the session key did not sign"))?;
                signed.push(revocation);
            }
            grants.insert(grant);
        }
        Ok(Revoked {
            grants,
            signed,
            file: Some(file),
        })
    }

    /// The revocations known with their signatures.
    pub fn signed(&self) -> &[Revocation] {
        &self.signed
    }

    /// Signs the grants known without a signature (kept by an older version), where
    /// this node holds the session key, so they can be passed on too: each keeps of
    /// its authors what this node holds.
    fn sign_missing(
        &mut self,
        session_key: &Ed25519KeyPair,
        session: &SessionId,
        authors: &super::authors::SharedAuthors,
    ) {
        for grant in self.grants.iter() {
            if !self.signed.iter().any(|r| r.grant == *grant) {
                let kept = Authors::read(authors).cut_offs(*grant);
                self.signed
                    .push(Revocation::sign(session_key, session, *grant, kept));
            }
        }
    }

    /// Adds a checked revocation, kept in the file first; `Ok(false)` if it was known.
    fn add(&mut self, revocation: &Revocation) -> Result<bool, String> {
        if self.grants.contains(&revocation.grant) {
            return Ok(false);
        }
        if let Some(file) = &self.file {
            let name = revocation.grant.to_string();
            let mut line = format!(
                "{name} {}",
                data_encoding::HEXLOWER.encode(&revocation.signature)
            );
            if let Some(kept) = &revocation.kept {
                line.push_str(" kept=");
                line.push_str(&kept_text(kept));
            }
            file.update(|lines| {
                if !lines
                    .iter()
                    .any(|l| l.split(' ').next() == Some(name.as_str()))
                {
                    lines.push(line.clone());
                }
                Ok::<_, crate::lines::LinesError>(())
            })
            .map_err(|e| format!("the revocation could not be kept: {e}"))?;
        }
        self.signed.push(revocation.clone());
        Ok(self.grants.insert(revocation.grant))
    }
}

/// Cut-offs as a revocations file keeps them: `AUTHOR.SEQ.HEAD.SIGNATURE` (hex; `-`
/// for no signature), separated by commas.
fn kept_text(kept: &[Kept]) -> String {
    let hex = |bytes: &[u8]| data_encoding::HEXLOWER.encode(bytes);
    kept.iter()
        .map(|k| {
            let signature = k.signature.map_or("-".to_string(), |s| hex(&s.to_bytes()));
            format!(
                "{}.{:x}.{}.{signature}",
                hex(&k.author),
                k.seq,
                hex(&k.head.0)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads [`kept_text`]; `None` if any of it is not what that writes.
fn kept_from_text(text: &str) -> Option<Vec<Kept>> {
    let bytes = |hex: &str| data_encoding::HEXLOWER.decode(hex.as_bytes()).ok();
    let array = |hex: &str| -> Option<[u8; 32]> { bytes(hex)?.try_into().ok() };
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split(',')
        .map(|item| {
            let mut parts = item.split('.');
            let author = array(parts.next()?)?;
            let seq = u64::from_str_radix(parts.next()?, 16).ok()?;
            let head = canopy_protocol::Head(array(parts.next()?)?);
            let signature = match parts.next()? {
                "-" => None,
                hex => {
                    let signature = bytes(hex)?;
                    (signature.len() == 64)
                        .then(|| canopy_protocol::Signature::from_bytes(&signature))?
                        .into()
                }
            };
            parts.next().is_none().then_some(Kept {
                author,
                seq,
                head,
                signature,
            })
        })
        .collect()
}

/// The grant a user names to revoke: an invite URL (of this session), an invite
/// token, or a grant id as the log prints it.
pub fn grant_named(text: &str, session: &SessionId) -> Result<GrantId, String> {
    let text = text.trim();
    if let Ok(grant) = text.parse::<GrantId>() {
        return Ok(grant);
    }
    if let Ok(url) = text.parse::<JoinUrl>() {
        if url.session != *session {
            return Err(format!(
                "that invite is for session {}, not {session}",
                url.session
            ));
        }
        return Ok(url.invite.grant_id(session));
    }
    Invite::from_token(text)
        .map(|invite| invite.grant_id(session))
        .map_err(|_| "not an invite URL, invite token or grant id".to_string())
}

/// Why a revocation asked for here was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevokeError {
    /// The text names no grant.
    #[error("{0}")]
    BadName(String),
    /// This node does not hold the session key.
    #[error("only the session's host (the holder of its session key) can revoke")]
    NotHost,
    /// It is in force here but could not be written down.
    #[error("the revocation is in force but could not be kept: {0}")]
    NotKept(String),
    /// Asked to remove the edits of a grant revoked before: a grant is revoked once,
    /// and that revocation said what its authors keep.
    #[error("{0} was revoked before, keeping its authors' edits up to then; a grant is revoked only once")]
    AlreadyRevoked(GrantId),
}

/// Where a session keeps its revocations: `DATA/revoked/SESSION`.
pub fn revoked_file(data: &std::path::Path, session: &SessionId) -> std::path::PathBuf {
    data.join("revoked").join(session.to_string())
}

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
    /// Grants refused at the door.
    pub revoked: Revoked,
    /// The session key, on the node that holds it (a host, a relay's own sessions):
    /// what signs revocations.
    pub session_key: Option<Arc<Ed25519KeyPair>>,
    /// The session's authors: a child admitted here is one (of its role) from then on.
    pub authors: super::authors::SharedAuthors,
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
    /// True where this node holds the session key: it can revoke invites.
    pub can_revoke: bool,
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
    /// Revoke a grant (an invite) from now on, here and everywhere in the tree: only
    /// the holder of the session key can. Answers once the revocation is kept.
    Revoke {
        /// The grant: an invite URL or token, or a grant id ([`grant_named`]).
        named: String,
        /// Also remove, on every replica, every op of every author under the grant
        /// (otherwise each keeps what this node holds of it).
        remove_edits: bool,
        /// The grant revoked, or why not.
        reply: oneshot::Sender<Result<GrantId, RevokeError>>,
    },
    /// A revocation a link passed on (checked here).
    Revoked {
        /// It.
        revocation: Box<Revocation>,
        /// The link it came on.
        from: LinkId,
    },
    /// A hello for rejoining after losing the parent (an invite of this node's own;
    /// `seen` is left for the caller), and the ancestors to try.
    Rejoin(oneshot::Sender<Option<(Box<Hello>, Vec<Ancestor>)>>),
    /// How many children are linked here (from the router).
    Children(usize),
    /// A link is up (from the router): it is told every revocation known here, so a
    /// node that was away when one travelled learns it on joining.
    LinkUp(LinkId),
    /// Role and invites, for status.
    Glance(oneshot::Sender<DoorGlance>),
}

/// The door component.
pub struct DoorComponent {
    inbox: Inbox<DoorInput>,
    /// To the document and presence: this node's role when it changes.
    document: Outbox<DocumentInput>,
    presence: Outbox<PresenceInput>,
    /// To the router: revocations to pass on and links they close.
    router: Outbox<RouterInput>,
    me: Identity,
    children: usize,
    nonce: u64,
    invites_printed: bool,
    /// Invite URLs for status, with when each stops being worth showing.
    shown: BTreeMap<Role, (String, Option<u64>)>,
}

impl DoorComponent {
    /// Makes the boxes.
    pub fn new(scope: &Scope, mut me: Identity) -> Self {
        if let Some(key) = &me.session_key {
            let authors = Arc::clone(&me.authors);
            me.revoked.sign_missing(key, &me.session, &authors);
        }
        Self {
            inbox: scope.inbox("inbox"),
            document: scope.outbox("document"),
            presence: scope.outbox("presence"),
            router: scope.outbox("router"),
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

    /// A fresh random nonce (a grant's name in revocations: nobody may guess the next
    /// one, and two nodes must not pick the same).
    fn next_nonce(&mut self) -> u64 {
        use ring::rand::SecureRandom;
        let mut bytes = [0u8; 8];
        if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
            // No randomness from the system: still distinct per node and call.
            self.nonce += 1;
            return now_seconds()
                .wrapping_mul(1_000_003)
                .wrapping_add(self.nonce)
                ^ u64::from_be_bytes(self.node_key()[..8].try_into().unwrap_or([0; 8]));
        }
        u64::from_be_bytes(bytes)
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
                revoked: &self.me.revoked.grants,
                children: self.children,
                max_children: self.me.max_children,
            },
        )?;
        let authority =
            self.me.authority.as_ref().ok_or_else(|| {
                Refusal::Protocol("this node has not joined its session yet".into())
            })?;
        // Marked with the invite it came in with and the marks of everyone that
        // invite came through, so revoking any of them reaches it.
        let delegated = authority
            .admit(
                &self.me.session,
                &self.me.key,
                &hello.invite,
                hello.node_key,
                admitted.role,
                admitted.expires,
            )
            .map_err(|error| match error {
                InviteError::TooLong(grants) => Refusal::Limit(format!(
                    "this invite cannot be admitted here: it was minted so far down another \
                     part of the tree that the joiner's chain would hold {grants} grants \
                     (at most {MAX_CHAIN}); join at the node that minted it, or one nearer it"
                )),
                error => Refusal::Limit(format!("this invite cannot be admitted here: {error}")),
            })?;
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
        // The parent's word is checked: a chain from the session key to this node.
        let own = canopy_protocol::public_key(&self.me.key);
        match welcome.authority.author(&self.me.session) {
            Ok((key, _)) if key == own => {}
            Ok(_) => {
                tracing::error!("the parent granted its authority to another key");
                return;
            }
            Err(error) => {
                tracing::error!(%error, "the parent's grant to this node does not verify");
                return;
            }
        }
        let role = Some(welcome.authority.role());
        let _ = self
            .document
            .send(DocumentInput::Authority(Box::new(
                welcome.authority.clone(),
            )))
            .await;
        // The parent may hold ops this node made before its file was lost: edits
        // wait for them, so its log goes on from them rather than splitting.
        let upstream = welcome.seen.get(super::author_id(&self.me.key));
        let _ = self
            .document
            .send(DocumentInput::OwnOpsUpstream(upstream))
            .await;
        self.me.authority = Some(welcome.authority);
        self.me.ancestors = welcome.ancestors;
        if self.me.ancestors.first().map(|a| a.node_key) != Some(parent.node_key) {
            self.me.ancestors.insert(0, parent);
        }
        self.shown.clear();
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

    /// Signs and applies a revocation of `grant` (session key holders only). With
    /// `remove_edits`, the authors under it keep nothing: their ops leave every
    /// replica, as a vandal's should.
    async fn revoke(&mut self, named: &str, remove_edits: bool) -> Result<GrantId, RevokeError> {
        let grant = grant_named(named, &self.me.session).map_err(RevokeError::BadName)?;
        let Some(session_key) = &self.me.session_key else {
            return Err(RevokeError::NotHost);
        };
        let kept = if remove_edits {
            if self.me.revoked.grants.contains(&grant) {
                return Err(RevokeError::AlreadyRevoked(grant));
            }
            // Authors a revocation does not name keep nothing.
            Vec::new()
        } else {
            // Each author under the grant keeps what this node holds of it, no more.
            Authors::read(&self.me.authors).cut_offs(grant)
        };
        let revocation = Revocation::sign(session_key, &self.me.session, grant, kept);
        self.apply_revocation(revocation, None).await?;
        Ok(grant)
    }

    /// A revocation from link `from`: one not signed by the session key closes it.
    async fn revoked(&mut self, revocation: Revocation, from: LinkId) {
        if self.me.revoked.grants.contains(&revocation.grant) {
            return;
        }
        if revocation.verify(&self.me.session).is_err() {
            let refusal = Refusal::Protocol("a revocation not signed by the session key".into());
            let _ = self
                .router
                .send(RouterInput::Misbehaved {
                    link: from,
                    refusal,
                })
                .await;
            return;
        }
        if let Err(error) = self.apply_revocation(revocation, Some(from)).await {
            tracing::error!(%error, "a revocation passed on could not be kept");
        }
    }

    /// Keeps a checked revocation and has the router pass it on and close the links
    /// it covers. The door refuses the grant from now on even if keeping it fails.
    async fn apply_revocation(
        &mut self,
        revocation: Revocation,
        origin: Option<LinkId>,
    ) -> Result<(), RevokeError> {
        let kept = self.me.revoked.add(&revocation);
        if matches!(kept, Ok(false)) {
            return Ok(());
        }
        // In force even if it could not be written down.
        if self.me.revoked.grants.insert(revocation.grant) {
            self.me.revoked.signed.push(revocation.clone());
        }
        // Invites shown for copying that it covers are minted afresh when next shown.
        let (session, revoked) = (self.me.session, &self.me.revoked.grants);
        self.shown.retain(|_, (url, _)| {
            url.parse::<JoinUrl>()
                .is_ok_and(|url| !revoked.refuses(&url.invite.grant_ids(&session)))
        });
        tracing::warn!(grant = %revocation.grant, "grant revoked");
        let own = self
            .me
            .authority
            .as_ref()
            .map(|a| a.grant_ids(&self.me.session));
        if own.is_some_and(|own| own.iter().any(|g| revocation.grant.covers(g))) {
            tracing::error!(
                "this node's own invite was revoked: the session will not take it back"
            );
        }
        // The document ends the logs of the authors under the grant where it says.
        let _ = self
            .document
            .send(DocumentInput::Revoked(Box::new(revocation.clone())))
            .await;
        let _ = self
            .router
            .send(RouterInput::Revoke {
                origin,
                revocation: Box::new(revocation),
            })
            .await;
        kept.map(|_| ()).map_err(RevokeError::NotKept)
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
            can_revoke: self.me.session_key.is_some(),
        }
    }
}

impl Component for DoorComponent {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        self.print_invites();
        // Revocations kept from earlier runs end their authors' logs here too (the
        // session's file may hold ops past their cut-offs).
        for revocation in self.me.revoked.signed().to_vec() {
            let _ = self
                .document
                .send(DocumentInput::Revoked(Box::new(revocation)))
                .await;
        }
        while let Some(input) = self.inbox.recv().await {
            match input {
                DoorInput::Admit { hello, reply } => {
                    let admitted = self.admit(&hello);
                    // The child is an author (of its role) before any op of its
                    // arrives: in the table now, passed on through the document.
                    if let Ok(welcome) = &admitted {
                        let learned = Authors::write(&self.me.authors).learn(&welcome.authority);
                        if let Ok(true) = learned {
                            let _ = self
                                .document
                                .send(DocumentInput::Authors {
                                    origin: None,
                                    authorities: vec![welcome.authority.clone()],
                                })
                                .await;
                        }
                    }
                    let _ = reply.send(admitted);
                }
                DoorInput::Joined { welcome, parent } => self.joined(welcome, parent).await,
                DoorInput::Invite { role, ttl, reply } => {
                    let _ = reply.send(self.invite_url(role, ttl));
                }
                DoorInput::Revoke {
                    named,
                    remove_edits,
                    reply,
                } => {
                    let _ = reply.send(self.revoke(&named, remove_edits).await);
                }
                DoorInput::Revoked { revocation, from } => {
                    self.revoked(*revocation, from).await;
                }
                DoorInput::Rejoin(reply) => {
                    let _ = reply.send(self.rejoin());
                }
                DoorInput::Children(children) => self.children = children,
                DoorInput::LinkUp(link) => {
                    let revocations = self.me.revoked.signed().to_vec();
                    if !revocations.is_empty() {
                        let _ = self
                            .router
                            .send(RouterInput::Revocations { link, revocations })
                            .await;
                    }
                }
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
            DoorInput::Revoke { .. } => "Revoke",
            DoorInput::Revoked { .. } => "Revoked",
            DoorInput::Rejoin(_) => "Rejoin",
            DoorInput::Children(_) => "Children",
            DoorInput::LinkUp(_) => "LinkUp",
            DoorInput::Glance(_) => "Glance",
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn new_key() -> Ed25519KeyPair {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    /// A revocation's cut-offs are kept with it, so after a restart the node still
    /// ends the revoked authors' logs where every other replica does; a file whose
    /// cut-offs do not read, or were changed, keeps the session closed.
    #[test]
    fn cut_offs_are_kept_across_restarts_and_bad_ones_fail_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked");
        let session_key = new_key();
        let session = SessionId(canopy_protocol::public_key(&session_key));
        let editor = new_key();
        let author = canopy_protocol::AuthorKey(canopy_protocol::public_key(&editor));
        let head = canopy_protocol::Head::genesis(&session, &author).next(1, 1, b"op");
        let kept = vec![
            Kept {
                author: author.0,
                seq: 1,
                head,
                signature: Some(canopy_protocol::Signature::sign(
                    &editor, &session, 1, &head,
                )),
            },
            Kept::nothing(&session, canopy_protocol::public_key(&new_key())),
        ];
        let grant = GrantId {
            issuer: session.0,
            nonce: 5,
        };
        let revocation = Revocation::sign(&session_key, &session, grant, kept);
        let mut revoked = Revoked::load(&path, &session).unwrap();
        assert_eq!(revoked.add(&revocation), Ok(true));

        let again = Revoked::load(&path, &session).unwrap();
        assert_eq!(again.signed(), std::slice::from_ref(&revocation));

        let text = std::fs::read_to_string(&path).unwrap();
        for damaged in [
            text.replace(" kept=", " kept=zz"),
            text.replacen(".1.", ".2.", 1),
            format!("{} extra", text.trim_end()),
        ] {
            std::fs::write(&path, damaged).unwrap();
            assert!(Revoked::load(&path, &session).is_err());
        }
    }
}
