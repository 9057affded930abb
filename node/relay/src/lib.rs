//! `canopy relay`: the always-on root of many sessions, operated like a service.
//!
//! One QUIC endpoint serves every session: a joiner's hello names its session and the
//! listener routes it to that session's door. Each session is the same components a
//! peer runs (`session[ID]/document`, `/router`, `/sync`, … and `/store`, on one graph),
//! durable in `DATA/sessions/ID.canopy`. Sessions with nobody connected are unloaded
//! after a while and loaded again when someone joins, so a relay restart loses
//! nothing: peers reconnect by themselves and resume by version vector.
//!
//! A relay can also serve a session of another relay (`--upstream URL`): it joins it
//! as a child, exactly as a peer does, and peers near it attach here.

pub mod admin;
pub mod cli;
pub mod config;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use canopy_axon::{link, ComponentHandle, Graph, Outbox};
use canopy_protocol::{
    public_key, Authority, Fingerprint, Hello, JoinUrl, Refusal, Role, SessionId, PROTOCOL_VERSION,
};
use ring::signature::Ed25519KeyPair;
use serde::Serialize;
use tokio::sync::oneshot;

use canopy_node::lines::{LineFile, LinesError};
use canopy_node::session::door::{revoked_file, RevokeError, Revoked};

use canopy_node::import::{import_file, load_authors, open_session, reconcile, reconcile_blind};
use canopy_node::metrics::Metrics;
use canopy_node::node::{self, Router};
use canopy_node::session::{author_id, SharedAuthors};
use canopy_node::session::{
    now_seconds, DoorInput, NodeSetup, SessionLimits, SessionPorts, Status, StatusInput,
};
use canopy_node::storage::{now_ms, session_file, Meta, Store};

/// A session's file opened: the store, its document, its authors' logs.
/// A session's file, what it holds (a document; in a blind relay, the ops unread
/// as well) and its authors.
type Opened = (
    Store,
    canopy_canvas::Document,
    Option<canopy_protocol::OpaqueReplica>,
    SharedAuthors,
);
use canopy_node::{identity, tls};
pub use config::{LogFormat, RelayArgs, RelayConfig};

/// How often idle sessions are looked for.
const EXPIRY_CHECK: Duration = Duration::from_secs(5);

/// How long a glance at one session may take: a stuck session answers nothing, and
/// listings, metrics and expiry go on without it.
const GLANCE_DEADLINE: Duration = Duration::from_secs(2);

/// One session held in memory.
struct Session {
    /// The session's components.
    running: canopy_node::session::Session,
    /// The admin component's way to this session (status, invites, revocations); a
    /// lock of this session's own, so one stuck session holds up no other.
    control: tokio::sync::Mutex<Control>,
    store: ComponentHandle,
    parent: std::sync::Mutex<Option<ComponentHandle>>,
    upstream: Option<String>,
    title: String,
    created_ms: u64,
    /// Since when nobody has been connected.
    idle_since: std::sync::Mutex<Option<Instant>>,
}

impl Session {
    /// The session's status, or `None` if it does not answer in time.
    async fn glance(&self) -> Option<Status> {
        tokio::time::timeout(GLANCE_DEADLINE, async {
            let mut control = self.control.lock().await;
            glance(&mut control.status).await
        })
        .await
        .ok()
        .flatten()
    }

    /// A new invite URL, or `None` if the session cannot (or does not answer).
    async fn invite(&self, role: Role, ttl: Option<Duration>) -> Option<String> {
        tokio::time::timeout(GLANCE_DEADLINE, async {
            let mut control = self.control.lock().await;
            invite(&mut control.door, role, ttl).await
        })
        .await
        .ok()
        .flatten()
    }
}

/// The admin component's outboxes to one session.
struct Control {
    status: Outbox<StatusInput>,
    door: Outbox<DoorInput>,
}

/// A session as the admin API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    /// Session id.
    pub id: String,
    /// Title given at creation.
    pub title: String,
    /// `loaded` (in memory) or `idle` (on disk only).
    pub state: &'static str,
    /// Peers connected directly to this relay for the session.
    pub peers: usize,
    /// Ops in the document (loaded sessions).
    pub ops: Option<u64>,
    /// Size of the session's file.
    pub bytes: u64,
    /// Seconds since the session was created.
    pub age_seconds: u64,
    /// The relay this session is joined to, if it is served from upstream.
    pub upstream: Option<String>,
}

/// What an admin can ask that may fail in the caller's terms.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// No such session.
    #[error("no session {0}")]
    NoSuchSession(String),
    /// No such thing (a host token label).
    #[error("{0} not found")]
    NotFound(String),
    /// A configured limit stops the request.
    #[error("{0}")]
    Limit(String),
    /// The request itself is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// Anything else (disk, a component gone).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<LinesError> for RelayError {
    fn from(error: LinesError) -> Self {
        RelayError::Internal(error.into())
    }
}

/// A running relay.
pub struct Relay {
    config: RelayConfig,
    graph: Graph,
    /// The `admin` component: owns outboxes to every loaded session (status, door).
    admin: ComponentHandle,
    endpoint: quinn::Endpoint,
    key: Arc<Ed25519KeyPair>,
    fingerprint: Fingerprint,
    public_address: String,
    /// Shared by every session and the listener.
    pub metrics: Arc<Metrics>,
    /// Loaded sessions. Never locked across an await: take what is needed and let go.
    sessions: std::sync::Mutex<BTreeMap<SessionId, Arc<Session>>>,
    /// One gate per session being loaded, so two joins never load it twice and a
    /// slow load holds up joins to that session only.
    loading: std::sync::Mutex<BTreeMap<SessionId, Arc<tokio::sync::Mutex<()>>>>,
    /// Host tokens: one `label<TAB>sha256(token)` line each.
    host_tokens: LineFile,
    draining: AtomicBool,
    started: Instant,
}

fn short(session: &SessionId) -> String {
    session.to_string().chars().take(8).collect()
}

fn upstream_file(data: &Path, session: &SessionId) -> PathBuf {
    data.join("upstreams").join(session.to_string())
}

/// Host tokens: one `label<TAB>sha256(token)` line each (tokens themselves are not kept).
fn host_tokens_file(data: &Path) -> PathBuf {
    data.join("host-tokens")
}

fn token_digest(token: &str) -> String {
    data_encoding::HEXLOWER
        .encode(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

impl Relay {
    /// Binds the endpoint, starts the listener, and joins the configured upstreams.
    pub async fn start(config: RelayConfig) -> Result<Arc<Relay>> {
        std::fs::create_dir_all(&config.data)
            .with_context(|| format!("creating the data directory {}", config.data.display()))?;
        let identity = identity::load_or_create(&config.data)?;
        let endpoint = quinn::Endpoint::server(
            tls::server_config(&identity, Duration::from_secs(20))?,
            config.listen,
        )
        .with_context(|| format!("cannot listen on {}", config.listen))?;
        let local = endpoint.local_addr().context("reading the bound address")?;
        let public_address = node::public_address(config.public_host.as_deref(), local);
        let graph = Graph::new("relay");
        let admin = graph.component("admin").spawn_fn(|ctx| async move {
            ctx.stopped().await;
            Ok(())
        });
        let relay = Arc::new(Relay {
            graph,
            admin,
            endpoint: endpoint.clone(),
            key: Arc::new(identity.key),
            fingerprint: identity.fingerprint,
            public_address,
            metrics: Arc::new(Metrics::default()),
            sessions: std::sync::Mutex::new(BTreeMap::new()),
            loading: std::sync::Mutex::new(BTreeMap::new()),
            host_tokens: LineFile::open(&host_tokens_file(&config.data))
                .context("the relay's host tokens")?,
            draining: AtomicBool::new(false),
            started: Instant::now(),
            config,
        });
        let routing = Arc::clone(&relay);
        let router: Router = Arc::new(move |session| {
            let relay = Arc::clone(&routing);
            Box::pin(async move { relay.route(session).await })
        });
        let creating = Arc::clone(&relay);
        let creator: node::Creator = Arc::new(move |token, title| {
            let relay = Arc::clone(&creating);
            Box::pin(async move { relay.create_for_token(&token, &title).await })
        });
        node::spawn_listener(
            &relay.graph,
            endpoint,
            router,
            Some(creator),
            Some(Arc::clone(&relay.metrics)),
        )?;
        for url in relay.config.upstream.clone() {
            relay
                .join_upstream(&url)
                .await
                .with_context(|| format!("joining upstream {url}"))?;
        }
        let expiring = Arc::clone(&relay);
        tokio::spawn(async move { expiring.expire_idle_sessions().await });
        tracing::info!(listen = %local, public = %relay.public_address, "relay running");
        Ok(relay)
    }

    /// The address peers reach (`host:port`).
    pub fn public_address(&self) -> &str {
        &self.public_address
    }

    /// False while draining.
    pub fn is_ready(&self) -> bool {
        !self.draining.load(Ordering::Relaxed)
    }

    /// Seconds since start.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The loaded sessions (the lock is let go at once).
    fn loaded(&self) -> std::sync::MutexGuard<'_, BTreeMap<SessionId, Arc<Session>>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A loaded session.
    fn session(&self, id: &SessionId) -> Option<Arc<Session>> {
        self.loaded().get(id).cloned()
    }

    /// The ports of a session, loading it from disk if it is idle.
    async fn route(&self, session: SessionId) -> Result<SessionPorts, Refusal> {
        if self.draining.load(Ordering::Relaxed) {
            return Err(Refusal::ShuttingDown);
        }
        if let Some(found) = self.session(&session) {
            return Ok(found.running.ports.clone());
        }
        let gate = Arc::clone(
            self.loading
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(session)
                .or_default(),
        );
        let _loading = gate.lock().await;
        if let Some(found) = self.session(&session) {
            return Ok(found.running.ports.clone()); // loaded while we waited
        }
        let result = match self.load(&session).await {
            Ok(Some(loaded)) => {
                let ports = loaded.running.ports.clone();
                self.loaded().insert(session, Arc::new(loaded));
                Ok(ports)
            }
            Ok(None) => Err(Refusal::UnknownSession(session.to_string())),
            Err(error) => {
                tracing::error!(session = %session, error = format!("{error:#}"), "cannot load session");
                Err(Refusal::Protocol(format!(
                    "this relay cannot load session {}; its operator has been told",
                    short(&session)
                )))
            }
        };
        self.loading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&session);
        result
    }

    /// Loads a session held on disk (root sessions: its key is here).
    async fn load(&self, session: &SessionId) -> Result<Option<Session>> {
        let data = &self.config.data;
        let Some(session_key) = identity::session_key_for(data, session)? else {
            return Ok(None);
        };
        let path = session_file(data, session);
        if !path.exists() {
            return Ok(None);
        }
        let (found, authority) = Authority::root(&session_key, &self.key, now_seconds());
        if found != *session {
            bail!("the key stored for session {session} is for {found}");
        }
        // Reading a big file takes a while: on the blocking pool, not the runtime. A
        // file from before signed authorship becomes the relay's own signed import.
        let (data, session_id, key) = (data.clone(), *session, Arc::clone(&self.key));
        let own = authority.clone();
        let blind = self.config.blind;
        let opened = tokio::task::spawn_blocking(move || -> Result<Opened> {
            let me = author_id(&key);
            let (mut store, unsigned) = open_session(&data, &session_id, me)?;
            let authors = load_authors(&store, session_id, Some(&own))?;
            if blind {
                if unsigned.is_some() {
                    bail!(
                        "session {session_id} was written before signing: a blind relay \
                         cannot make its ops its own without reading them (serve it once \
                         without `blind`)"
                    );
                }
                let held = reconcile_blind(&authors, store.held_ops()?);
                return Ok((store, canopy_canvas::Document::new(me), Some(held), authors));
            }
            let mut document = reconcile(&authors, store.document_as_of(u64::MAX, me)?);
            if let Some(unsigned) = unsigned {
                let source = Store::open_read_only(&unsigned)?;
                let made = import_file(
                    &source,
                    u64::MAX,
                    &mut store,
                    &mut document,
                    &authors,
                    &key,
                    &mut canopy_canvas::Reauthor::new(),
                )?;
                tracing::info!(ops = made, "imported as the relay's own signed ops");
            }
            Ok((store, document, None, authors))
        })
        .await
        .map_err(|e| anyhow!("loading the session failed: {e}"))??;
        tracing::info!(session = %short(session), "session loaded");
        self.spawn_session(opened, Some(authority), Vec::new(), None)
            .map(Some)
    }

    /// Starts a session's components and store on the relay's graph.
    fn spawn_session(
        &self,
        (store, document, blind, authors): Opened,
        authority: Option<Authority>,
        ancestors: Vec<canopy_protocol::Ancestor>,
        upstream: Option<String>,
    ) -> Result<Session> {
        let session = store.meta.session;
        let name = format!("session[{}]", short(&session));
        if blind.is_some() {
            tracing::info!(session = %short(&session), "held blind: ops are verified, stored and served unread");
        }
        let path = store.path().to_path_buf();
        let stored_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        // Revocations that cannot be read keep the session closed (fail closed). The
        // door keeps them from here on, in `DATA/revoked/ID`.
        let revoked = Revoked::load(&revoked_file(&self.config.data, &session), &session)?;
        // The session key, for the relay's own sessions: it signs revocations.
        let session_key = identity::session_key_for(&self.config.data, &session)?.map(Arc::new);
        // A mixer per session, as in every node: no microphone or speakers here, only
        // mix-minus between the links.
        let (_, audio, meters) = canopy_node::audio::spawn(
            &self.graph,
            &format!("{name}/audio"),
            &canopy_node::audio::AudioConfig::default(),
        )?;
        let setup = NodeSetup {
            print_invites: false,
            invite_ttl: None,
            name: "relay".into(),
            key: Arc::clone(&self.key),
            fingerprint: self.fingerprint,
            public_address: self.public_address.clone(),
            session,
            authority,
            ancestors,
            meters: Some(meters),
            document,
            blind,
            limits: SessionLimits {
                ops_per_second: self.config.ops_per_second,
                ops_burst: self.config.ops_per_second * 20.0,
                max_children: Some(self.config.max_peers_per_session),
                max_bytes: Some(self.config.max_session_bytes),
                ..SessionLimits::default()
            },
            stored_bytes,
            metrics: Some(Arc::clone(&self.metrics)),
            revoked,
            session_key,
            file: Some(path.clone()),
            authors,
            reauthor: canopy_canvas::Reauthor::new(),
            imported: Vec::new(),
            own_ops_upstream: 0,
        };
        let title = store.meta.title.clone();
        let created_ms = store.meta.created_ms;
        let (store, store_inbox) =
            canopy_node::store::spawn(&self.graph, &format!("{name}/store"), store, None)?;
        let running =
            canopy_node::session::spawn(&self.graph, &name, setup, &store_inbox, Some(&audio))?;
        let stopping = || anyhow!("the relay is stopping");
        let control = Control {
            status: self
                .admin
                .new_outbox::<StatusInput>(&format!("to-{name}/status"))
                .ok_or_else(stopping)?,
            door: self
                .admin
                .new_outbox::<DoorInput>(&format!("to-{name}/door"))
                .ok_or_else(stopping)?,
        };
        link(&control.status.handle(), &running.ports.status)?;
        link(&control.door.handle(), &running.ports.door)?;
        Ok(Session {
            running,
            control: tokio::sync::Mutex::new(control),
            store,
            parent: std::sync::Mutex::new(None),
            upstream,
            title,
            created_ms,
            idle_since: std::sync::Mutex::new(None),
        })
    }

    /// Creates a new root session and returns its id and invites.
    pub async fn create_session(
        &self,
        title: &str,
    ) -> Result<(SessionId, BTreeMap<String, String>), RelayError> {
        if title.chars().count() > 200 {
            return Err(RelayError::BadRequest(
                "titles are at most 200 characters".into(),
            ));
        }
        let held = self.session_ids()?.len();
        if held >= self.config.max_sessions {
            return Err(RelayError::Limit(format!(
                "this relay holds its maximum of {} sessions",
                self.config.max_sessions
            )));
        }
        let data = &self.config.data;
        let session_key = identity::new_session_key(data, false)?;
        let (session, authority) = Authority::root(&session_key, &self.key, now_seconds());
        let meta = Meta {
            session,
            node: author_id(&self.key),
            created_ms: now_ms(),
            title: title.to_string(),
            signed: true,
        };
        let store =
            Store::create(&session_file(data, &session), &meta).map_err(anyhow::Error::from)?;
        let document = canopy_canvas::Document::new(meta.node);
        let held = self.config.blind.then(canopy_protocol::OpaqueReplica::new);
        let authors = load_authors(&store, session, Some(&authority))?;
        let loaded = self.spawn_session(
            (store, document, held, authors),
            Some(authority),
            Vec::new(),
            None,
        )?;
        let mut invites = BTreeMap::new();
        for role in [Role::Editor, Role::Viewer] {
            if let Some(url) = loaded.invite(role, None).await {
                invites.insert(role.to_string(), url);
            }
        }
        self.loaded().insert(session, Arc::new(loaded));
        tracing::info!(session = %short(&session), title, "session created");
        Ok((session, invites))
    }

    /// Issues a host token: its holder can create sessions here from the desktop or
    /// `canopy host --on-relay`. Returns the `canopy-host://` URL to hand over.
    pub fn issue_host_token(&self, label: &str) -> Result<String, RelayError> {
        let label = label.trim();
        if label.is_empty() || label.len() > 100 || label.contains(['\t', '\n']) {
            return Err(RelayError::BadRequest(
                "a host token needs a label of 1 to 100 characters (no tabs or newlines)".into(),
            ));
        }
        let mut secret = [0u8; 24];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
            .map_err(|_| anyhow!("no randomness for a token"))?;
        let token = data_encoding::BASE64URL_NOPAD.encode(&secret);
        self.host_tokens.update(|lines| {
            if lines.iter().any(|l| l.split('\t').next() == Some(label)) {
                return Err(RelayError::BadRequest(format!(
                    "a host token labelled {label:?} exists"
                )));
            }
            lines.push(format!("{label}\t{}", token_digest(&token)));
            Ok(())
        })?;
        let (host, port) =
            canopy_node::session::split_address(&self.public_address).ok_or_else(|| {
                anyhow!(
                    "the relay's public address {} has no port",
                    self.public_address
                )
            })?;
        Ok(canopy_protocol::HostUrl {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            fingerprint: self.fingerprint,
            token,
        }
        .to_string())
    }

    /// Revokes the host token with this label.
    pub fn revoke_host_token(&self, label: &str) -> Result<(), RelayError> {
        self.host_tokens.update(|lines| {
            let before = lines.len();
            lines.retain(|l| l.split('\t').next() != Some(label));
            if lines.len() == before {
                return Err(RelayError::NotFound(format!("host token {label:?}")));
            }
            Ok(())
        })
    }

    /// A session for the holder of a host token: its (editor, viewer) invite URLs.
    async fn create_for_token(
        &self,
        token: &str,
        title: &str,
    ) -> Result<(String, String), Refusal> {
        let digest = token_digest(token);
        let known = self
            .host_tokens
            .any(|l| l.split('\t').nth(1) == Some(digest.as_str()));
        if !known {
            return Err(Refusal::BadInvite(
                "this relay host token is not valid here (revoked, or for another relay)".into(),
            ));
        }
        match self.create_session(title).await {
            Ok((_, invites)) => match (invites.get("editor"), invites.get("viewer")) {
                (Some(editor), Some(viewer)) => Ok((editor.clone(), viewer.clone())),
                _ => Err(Refusal::Protocol("the session has no invites".into())),
            },
            Err(RelayError::Limit(message)) => Err(Refusal::Limit(message)),
            Err(error) => Err(Refusal::Protocol(error.to_string())),
        }
    }

    /// Joins a session of another relay and serves it here.
    pub async fn join_upstream(&self, url: &str) -> Result<SessionId> {
        let parsed: JoinUrl = url.parse().map_err(|e| anyhow!("bad upstream URL: {e}"))?;
        let session = parsed.session;
        if self.session(&session).is_some() {
            bail!("session {session} is already served here");
        }
        let data = &self.config.data;
        let me = author_id(&self.key);
        // A file from before signing is set aside: the session comes from upstream.
        let (store, _) = open_session(data, &session, me)?;
        let (document, held) = if self.config.blind {
            (canopy_canvas::Document::new(me), Some(store.held_ops()?))
        } else {
            (store.document_as_of(u64::MAX, me)?, None)
        };
        let seen = match &held {
            Some(held) => held.version_vector(),
            None => document.version_vector(),
        };
        let hello = Hello {
            protocol: PROTOCOL_VERSION,
            session,
            node: me,
            node_key: public_key(&self.key),
            name: "relay".into(),
            invite: parsed.invite.clone(),
            seen,
        };
        let fingerprint = parsed
            .fingerprint
            .ok_or_else(|| anyhow!("the upstream URL has no fingerprint"))?;
        let address = format!("{}:{}", node::host_for_address(&parsed.host), parsed.port);
        let joined = node::join(
            &self.endpoint,
            &address,
            fingerprint,
            &hello,
            &self.key,
            Duration::from_secs(10),
            Duration::from_secs(20),
        )
        .await?;
        let authority = Some(joined.welcome.authority.clone());
        let ancestors = joined.welcome.ancestors.clone();
        let authors = load_authors(&store, session, authority.as_ref())?;
        let (document, held) = match held {
            Some(held) => (document, Some(reconcile_blind(&authors, held))),
            None => (reconcile(&authors, document), None),
        };
        let loaded = self.spawn_session(
            (store, document, held, authors),
            authority,
            ancestors,
            Some(url.to_string()),
        )?;
        let name = format!("session[{}]/parent", short(&session));
        let config = canopy_node::node::NodeConfig {
            listen: self.config.listen,
            public_address: Some(self.public_address.clone()),
            join: Some(url.to_string()),
            ..canopy_node::node::NodeConfig::new(data.clone(), "relay")
        };
        let parent = node::spawn_parent(
            &self.graph,
            &name,
            self.endpoint.clone(),
            &loaded.running.ports,
            config,
            Arc::clone(&self.key),
            joined,
        )?;
        *loaded
            .parent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(parent);
        std::fs::create_dir_all(data.join("upstreams"))?;
        std::fs::write(upstream_file(data, &session), url)?;
        self.loaded().insert(session, Arc::new(loaded));
        tracing::info!(session = %short(&session), upstream = %address, "serving an upstream session");
        Ok(session)
    }

    /// Every session this relay holds, loaded or on disk.
    fn session_ids(&self) -> Result<Vec<SessionId>> {
        let keys = self.config.data.join("keys");
        let mut ids = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&keys) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if let Some(id) = name.strip_suffix(".key") {
                    if let Ok(session) = id.parse::<SessionId>() {
                        if session_file(&self.config.data, &session).exists() {
                            ids.push(session);
                        }
                    }
                }
            }
        }
        Ok(ids)
    }

    /// The sessions, loaded ones with their live numbers.
    pub async fn list(&self) -> Result<Vec<SessionInfo>> {
        let mut ids = self.session_ids()?;
        let loaded: Vec<SessionId> = self.loaded().keys().copied().collect();
        ids.extend(
            loaded
                .into_iter()
                .filter(|k| !ids.contains(k))
                .collect::<Vec<_>>(),
        );
        let mut infos = Vec::new();
        for id in ids {
            infos.push(self.info(&id).await.0);
        }
        Ok(infos)
    }

    async fn info(&self, id: &SessionId) -> (SessionInfo, Option<Status>) {
        let path = session_file(&self.config.data, id);
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        match self.session(id) {
            Some(session) => {
                let status = session.glance().await;
                let info = SessionInfo {
                    id: id.to_string(),
                    title: session.title.clone(),
                    state: "loaded",
                    peers: status.as_ref().map_or(0, |s| s.children.len()),
                    ops: status.as_ref().map(|s| s.ops),
                    bytes,
                    age_seconds: now_ms().saturating_sub(session.created_ms) / 1000,
                    upstream: session.upstream.clone(),
                };
                (info, status)
            }
            None => {
                let meta = Store::open_read_only(&path).ok().map(|s| s.meta);
                let info = SessionInfo {
                    id: id.to_string(),
                    title: meta.as_ref().map(|m| m.title.clone()).unwrap_or_default(),
                    state: "idle",
                    peers: 0,
                    ops: None,
                    bytes,
                    age_seconds: meta.map_or(0, |m| now_ms().saturating_sub(m.created_ms) / 1000),
                    upstream: None,
                };
                (info, None)
            }
        }
    }

    /// One session's details.
    pub async fn inspect(
        &self,
        id: &SessionId,
    ) -> Result<(SessionInfo, Option<Status>), RelayError> {
        if !self.session_ids()?.contains(id) && self.session(id).is_none() {
            return Err(RelayError::NoSuchSession(id.to_string()));
        }
        Ok(self.info(id).await)
    }

    /// A session, loaded from disk first if it is idle.
    async fn session_loading(&self, id: &SessionId) -> Result<Arc<Session>, RelayError> {
        self.route(*id)
            .await
            .map_err(|_| RelayError::NoSuchSession(id.to_string()))?;
        self.session(id)
            .ok_or_else(|| RelayError::NoSuchSession(id.to_string()))
    }

    /// A new invite to a session (loading it if idle).
    pub async fn issue_invite(
        &self,
        id: &SessionId,
        role: Role,
        ttl: Option<Duration>,
    ) -> Result<String, RelayError> {
        let session = self.session_loading(id).await?;
        session
            .invite(role, ttl)
            .await
            .ok_or_else(|| RelayError::BadRequest(format!("this relay cannot invite {role}s")))
    }

    /// Refuses joins with this invite (a URL, token or grant id) from now on, and
    /// everyone admitted with it, here and in the tree below (kept across restarts).
    /// With `remove_edits`, everything its holders did leaves every replica too.
    pub async fn revoke(
        &self,
        id: &SessionId,
        invite: &str,
        remove_edits: bool,
    ) -> Result<(), RelayError> {
        let session = self.session_loading(id).await?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        {
            let mut control = session.control.lock().await;
            control
                .door
                .send(DoorInput::Revoke {
                    named: invite.to_string(),
                    remove_edits,
                    reply,
                })
                .await
                .map_err(|_| anyhow::anyhow!("the session is stopping"))?;
        }
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the session is stopping"))?
            .map(|_| ())
            .map_err(|e| match e {
                RevokeError::BadName(_) | RevokeError::AlreadyRevoked(_) => {
                    RelayError::BadRequest(e.to_string())
                }
                RevokeError::NotHost => RelayError::BadRequest(format!(
                    "this relay serves session {} for another node: {e}",
                    short(id)
                )),
                RevokeError::NotKept(_) => RelayError::Internal(e.into()),
            })
    }

    /// Closes a session for good: peers are told, its key is deleted (no one can
    /// join again) and its file moved to `DATA/closed/`.
    pub async fn close(&self, id: &SessionId) -> Result<(), RelayError> {
        let known = self.session_ids()?.contains(id);
        let loaded = self.loaded().remove(id);
        if !known && loaded.is_none() {
            return Err(RelayError::NoSuchSession(id.to_string()));
        }
        if let Some(session) = loaded {
            unload(session).await;
        }
        let data = &self.config.data;
        let _ = std::fs::remove_file(data.join("keys").join(format!("{id}.key")));
        let _ = std::fs::remove_file(upstream_file(data, id));
        let closed = data.join("closed");
        std::fs::create_dir_all(&closed).map_err(anyhow::Error::from)?;
        let path = session_file(data, id);
        if path.exists() {
            std::fs::rename(&path, closed.join(path.file_name().unwrap_or_default()))
                .map_err(anyhow::Error::from)?;
        }
        tracing::info!(session = %short(id), "session closed");
        Ok(())
    }

    /// Loaded sessions' statuses (for metrics).
    pub async fn statuses(&self) -> Vec<Status> {
        let sessions: Vec<Arc<Session>> = self.loaded().values().cloned().collect();
        let mut all = Vec::new();
        for session in sessions {
            if let Some(status) = session.glance().await {
                all.push(status);
            }
        }
        all
    }

    /// Sessions held: in memory, and in all.
    pub async fn session_counts(&self) -> (usize, usize) {
        let loaded = self.loaded().len();
        (
            loaded,
            self.session_ids()
                .map_or(loaded, |ids| ids.len().max(loaded)),
        )
    }

    /// Messages waiting in each component's inboxes (sessions, stores, links).
    pub fn queue_depths(&self) -> Vec<(String, usize)> {
        self.graph
            .snapshot()
            .components
            .into_iter()
            .map(|c| (c.name, c.inboxes.iter().map(|i| i.queued).sum()))
            .collect()
    }

    /// Unloads sessions nobody has been connected to for the configured time.
    async fn expire_idle_sessions(self: Arc<Self>) {
        let expiry = Duration::from_secs(self.config.idle_session_expiry_secs.max(1));
        loop {
            tokio::time::sleep(EXPIRY_CHECK.min(expiry)).await;
            if self.draining.load(Ordering::Relaxed) {
                return;
            }
            let sessions: Vec<(SessionId, Arc<Session>)> = self
                .loaded()
                .iter()
                .map(|(id, s)| (*id, Arc::clone(s)))
                .collect();
            let mut expired = Vec::new();
            for (id, session) in sessions {
                if session.upstream.is_some() {
                    continue; // served from upstream: stays joined
                }
                // A session that does not answer is not judged idle.
                let Some(status) = session.glance().await else {
                    continue;
                };
                let mut idle_since = session
                    .idle_since
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if !status.children.is_empty() {
                    *idle_since = None;
                } else if idle_since.get_or_insert_with(Instant::now).elapsed() >= expiry {
                    expired.push(id);
                }
            }
            for id in expired {
                let removed = self.loaded().remove(&id);
                if let Some(session) = removed {
                    tracing::info!(session = %short(&id), "idle session unloaded");
                    unload(session).await;
                }
            }
        }
    }

    /// Graceful shutdown: refuse new joins, tell peers to come back later, flush every
    /// session file, close the endpoint — within the configured deadline.
    pub async fn shutdown(&self) {
        self.draining.store(true, Ordering::Relaxed);
        let deadline = Duration::from_secs(self.config.shutdown_deadline_secs.max(1));
        tracing::info!(?deadline, "draining");
        let report = self.graph.stop(deadline).await;
        if !report.aborted.is_empty() {
            tracing::warn!(aborted = ?report.aborted, "components did not stop in time");
        }
        self.loaded().clear();
        self.endpoint.close(0u32.into(), b"relay shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
        tracing::info!("relay stopped");
    }
}

/// Stops a session's components; the store flushes when the document's end reaches it.
async fn unload(session: Arc<Session>) {
    let parent = session
        .parent
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if let Some(parent) = parent {
        parent.stop();
        parent.join().await;
    }
    session.running.stop().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), session.store.join()).await;
}

async fn glance(status: &mut Outbox<StatusInput>) -> Option<Status> {
    let (reply, answer) = oneshot::channel();
    status.send(StatusInput::Glance(reply)).await.ok()?;
    tokio::time::timeout(Duration::from_secs(5), answer)
        .await
        .ok()?
        .ok()
}

async fn invite(door: &mut Outbox<DoorInput>, role: Role, ttl: Option<Duration>) -> Option<String> {
    let (reply, answer) = oneshot::channel();
    door.send(DoorInput::Invite { role, ttl, reply })
        .await
        .ok()?;
    tokio::time::timeout(Duration::from_secs(5), answer)
        .await
        .ok()?
        .ok()?
}

/// Runs a relay until SIGINT/SIGTERM: peers on QUIC, the admin API on HTTP, and a
/// clean drain at the end. Prints `relay HOST:PORT` and `admin http://ADDR` first.
pub async fn run(config: RelayConfig) -> Result<()> {
    // Watched before anything is printed: an operator may signal at once.
    let signal = canopy_node::node::shutdown_signal();
    let token = config.admin_token.clone().context(
        "the admin API needs a token: set --admin-token or CANOPY_ADMIN_TOKEN (16+ characters)",
    )?;
    let admin_listener = tokio::net::TcpListener::bind(config.admin)
        .await
        .with_context(|| format!("cannot listen for the admin API on {}", config.admin))?;
    let admin_address = admin_listener.local_addr()?;
    let relay = Relay::start(config).await?;
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "relay {}", relay.public_address());
        let _ = writeln!(stdout, "admin http://{admin_address}");
        let _ = stdout.flush();
    }
    tracing::info!(admin = %admin_address, "admin API listening");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(admin::serve(
        admin_listener,
        Arc::clone(&relay),
        token,
        async move {
            let _ = stopped.await;
        },
    ));
    signal.await;
    relay.shutdown().await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    Ok(())
}

/// `canopy relay new-session`: asks a running relay's admin API for a new session and
/// returns the lines to print (`session ID`, `invite editor URL`, `invite viewer URL`).
pub fn request_new_session(admin: &str, token: &str, title: &str) -> Result<String> {
    let base = if admin.starts_with("http://") || admin.starts_with("https://") {
        admin.trim_end_matches('/').to_string()
    } else {
        format!("http://{admin}")
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut response = agent
        .post(&format!("{base}/sessions"))
        .header("Authorization", &format!("Bearer {token}"))
        .send_json(serde_json::json!({ "title": title }))
        .with_context(|| format!("cannot reach the relay's admin API at {base}"))?;
    let status = response.status();
    let body: serde_json::Value = response
        .body_mut()
        .read_json()
        .with_context(|| format!("the admin API at {base} answered {status} with no JSON"))?;
    if !status.is_success() {
        let message = body["error"].as_str().unwrap_or("no reason given");
        bail!("the relay refused ({status}): {message}");
    }
    let mut lines = format!("session {}\n", body["id"].as_str().unwrap_or_default());
    for role in ["editor", "viewer"] {
        if let Some(url) = body["invites"][role].as_str() {
            lines.push_str(&format!("invite {role} {url}\n"));
        }
    }
    Ok(lines)
}
