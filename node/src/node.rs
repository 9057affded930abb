//! Starting a node: identity, QUIC endpoint, the component graph (the session's
//! components, listener, control, parent link supervisor, drawing script), and a clean
//! stop on SIGINT or SIGTERM.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};
use canopy_axon::{link, ComponentHandle, Graph, InboxRef, Outbox};
use canopy_protocol::{
    public_key, Ancestor, Authority, Fingerprint, Hello, JoinUrl, Refusal, Role, SessionId,
    PROTOCOL_VERSION,
};

use crate::audio::AudioInput;
use crate::import::{import_file, load_authors, open_session, reconcile};
use crate::link::{
    admit, answer_created, channel_binding, join_handshake, next_link_id, read_opening, refuse,
    spawn_link, Greeting, JoinRefused, Opening, Peer, Streams,
};
use crate::metrics::Metrics;
use crate::script::Step;
use crate::session::{
    author_id, split_address, DocumentInput, DoorInput, LinkUp, NodeSetup, RouterInput,
    SessionPorts, SyncInput,
};
use crate::storage::Store;
use crate::{control, identity, tls};
use ring::signature::Ed25519KeyPair;

/// What finding a session's ports may take (a relay loads idle sessions from disk).
pub type RouteFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<SessionPorts, Refusal>> + Send>>;

/// Finds the session a joiner's hello asks for: a node has one, a relay many.
pub type Router = Arc<dyn Fn(SessionId) -> RouteFuture + Send + Sync>;

/// What creating a session for a host token may take: (editor, viewer) invite URLs.
pub type CreateFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(String, String), Refusal>> + Send>>;

/// Creates sessions for holders of a relay host token (`token`, `title`).
pub type Creator = Arc<dyn Fn(String, String) -> CreateFuture + Send + Sync>;

/// How a node is started.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Data directory (identity, control socket).
    pub data: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// What invites carry, `host[:port]`.
    pub public_address: Option<String>,
    /// Display name.
    pub name: String,
    /// Drawing script to play.
    pub draw: Option<PathBuf>,
    /// Join this session instead of hosting one.
    pub join: Option<String>,
    /// Host a new session even if the data directory has one.
    pub fresh: bool,
    /// How long to wait for a node to answer.
    pub timeout: Duration,
    /// A link silent this long is dead (QUIC idle timeout).
    pub idle_timeout: Duration,
    /// Print `invite ROLE URL` lines on stdout once the node can invite.
    pub print_invites: bool,
    /// Validity of the invites this node hands out.
    pub invite_ttl: Option<Duration>,
    /// Host the document in this `.canopy` file.
    pub open: Option<PathBuf>,
    /// Replay this recording into the session (a new one, or the one joined).
    pub play: Option<Playback>,
    /// Audio in and out; `None` runs without audio (`--no-audio`).
    pub audio: Option<crate::audio::AudioConfig>,
}

impl NodeConfig {
    /// A node in `data` named `name` that hosts its session on a free loopback port,
    /// with audio off and invites not printed: what tools and benchmarks start from
    /// (set the fields that differ).
    pub fn new(data: PathBuf, name: &str) -> NodeConfig {
        NodeConfig {
            data,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_address: None,
            name: name.to_string(),
            draw: None,
            join: None,
            fresh: false,
            timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(20),
            print_invites: false,
            invite_ttl: None,
            open: None,
            play: None,
            audio: None,
        }
    }
}

/// What `canopy play` replays, and how.
#[derive(Debug, Clone)]
pub struct Playback {
    /// The recording.
    pub file: PathBuf,
    /// 1.0 is the original pace, 10.0 ten times faster.
    pub speed: f64,
    /// Start this far into the recording (what comes before appears at once).
    pub from: Duration,
}

/// Why joining failed, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// Nothing answered.
    #[error("could not reach {address}: no answer within {seconds} s (is a canopy node running there, and is UDP open?)")]
    Unreachable {
        /// Where.
        address: String,
        /// How long we waited.
        seconds: u64,
    },
    /// The host name does not resolve.
    #[error("cannot resolve {0}")]
    Unresolvable(String),
    /// Someone else's certificate.
    #[error("the node at {address} presented certificate fingerprint {actual}, but the URL expects {expected}: the URL is wrong, or someone is in the middle")]
    FingerprintMismatch {
        /// Where.
        address: String,
        /// What the URL pinned.
        expected: Fingerprint,
        /// What was presented.
        actual: Fingerprint,
    },
    /// The URL has no pin.
    #[error("the URL has no fp= certificate fingerprint; joining without one is not supported")]
    NoFingerprint,
    /// The node said no.
    #[error("{address} refused to let this node join: {reason}")]
    Refused {
        /// Where.
        address: String,
        /// Its reason.
        reason: canopy_protocol::Refusal,
    },
    /// The link broke.
    #[error("joining {address} failed: {reason}")]
    Broken {
        /// Where.
        address: String,
        /// What happened.
        reason: String,
    },
}

/// A node that joined: what it needs to keep going.
pub struct Joined {
    streams: Streams,
    /// The parent's welcome: the session's authority and who the ancestors are.
    pub welcome: Box<canopy_protocol::Welcome>,
    parent: Ancestor,
}

/// Runs a node until SIGINT/SIGTERM.
pub async fn run(config: NodeConfig) -> Result<()> {
    // Watched before anything starts: once the node prints its invites, whoever read
    // them may signal it at once.
    let signal = shutdown_signal();
    let node = start(config).await?;
    wait_for_signal(signal, &node.document, &node.store).await;
    tracing::info!("stopping");
    node.stop().await;
    Ok(())
}

/// A node started in this process (the CLI runs one; benchmarks run many).
pub struct RunningNode {
    /// Its components.
    pub graph: Graph,
    /// The document component (its end means the session has stopped).
    pub document: ComponentHandle,
    /// The component writing the session file.
    pub store: ComponentHandle,
    /// The session's components' inboxes, to send edits and queries.
    pub session: SessionPorts,
    /// The bound UDP address.
    pub local_address: SocketAddr,
    /// The audio component's meters, when audio runs.
    pub audio_meters: Option<crate::audio::SharedMeters>,
    endpoint: quinn::Endpoint,
    data: PathBuf,
}

impl RunningNode {
    /// Stops the components (links closed with a reason), then the endpoint.
    pub async fn stop(self) {
        let report = self.graph.stop(Duration::from_secs(5)).await;
        if !report.aborted.is_empty() {
            tracing::warn!(aborted = ?report.aborted, "components did not stop in time");
        }
        self.endpoint.close(0u32.into(), b"node stopped");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
        let _ = std::fs::remove_file(control::socket_path(&self.data));
    }
}

/// Starts a node: binds, joins (or hosts), spawns its components, and returns.
pub async fn start(config: NodeConfig) -> Result<RunningNode> {
    let script = match &config.draw {
        Some(path) => crate::script::load(path)?,
        None => Vec::new(),
    };
    // Read the recording first, so a bad file is refused before anything starts.
    // Ops from another file — a recording before its starting point, a saved document
    // being opened, this session's file from before signed authorship — become this
    // node's own signed ops before the session starts (`crate::import`).
    // (source, ops that arrived before)
    let mut imports: Vec<(Store, u64)> = Vec::new();
    let mut audio_import: Option<crate::store::Import> = None;
    let recording = match &config.play {
        Some(play) => {
            let store = Store::open_read_only(&play.file)
                .with_context(|| format!("opening {}", play.file.display()))?;
            // Seeking: what came before the starting point becomes the session's
            // document at once; the rest keeps its timing.
            let first = store.first_arrival()?.unwrap_or(0);
            let seek_ms = first.saturating_add(play.from.as_millis() as u64);
            // Audio plays at speed 1 (sped-up speech is noise) into a node with
            // audio on; otherwise it is not read at all.
            if config.audio.is_some() && play.speed != 1.0 {
                tracing::info!(
                    "a recording's audio plays at --speed 1 only: this replay is silent"
                );
            }
            let recording = Recording {
                file: play.file.clone(),
                with_audio: config.audio.is_some() && play.speed == 1.0,
                seek_ms,
            };
            if !play.from.is_zero() {
                imports.push((store, seek_ms));
            }
            Some((recording, play.clone()))
        }
        None => None,
    };
    let identity = identity::load_or_create(&config.data)?;
    let endpoint = quinn::Endpoint::server(
        tls::server_config(&identity, config.idle_timeout)?,
        config.listen,
    )
    .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local = endpoint.local_addr().context("reading the bound address")?;
    let public_address = public_address(config.public_address.as_deref(), local);
    let control = control::bind(&config.data).await?;
    let key = Arc::new(identity.key);
    // This node's ops are named after its key.
    let me = author_id(&key);

    let (session, authority, ancestors, joined, store, document, session_key) = match &config.join {
        Some(text) => {
            let url: JoinUrl = text
                .parse()
                .with_context(|| format!("bad join URL {text:?}"))?;
            // Resume this session's file if there is one: the parent then sends only
            // what is missing, and takes whatever was drawn here while apart. (A file
            // from before signing is set aside: the session comes from the parent.)
            let (store, _) = open_session(&config.data, &url.session, me)?;
            let document = store.document_as_of(u64::MAX, me)?;
            let hello = Hello {
                protocol: PROTOCOL_VERSION,
                session: url.session,
                node: me,
                node_key: public_key(&key),
                name: canopy_protocol::bounded_name(&config.name),
                invite: url.invite.clone(),
                seen: document.version_vector(),
            };
            let fingerprint = url.fingerprint.ok_or(JoinError::NoFingerprint)?;
            let address = format!("{}:{}", host_for_address(&url.host), url.port);
            let joined = join(
                &endpoint,
                &address,
                fingerprint,
                &hello,
                &key,
                config.timeout,
                config.idle_timeout,
            )
            .await?;
            let mut ancestors = joined.welcome.ancestors.clone();
            if ancestors.is_empty() {
                ancestors.push(joined.parent.clone());
            }
            (
                url.session,
                Some(joined.welcome.authority.clone()),
                ancestors,
                Some(joined),
                store,
                document,
                identity::session_key_for(&config.data, &url.session)?,
            )
        }
        None => {
            let source = match &config.open {
                // Read only: the file is someone's, and is copied in, never changed.
                Some(path) => Some(
                    Store::open_read_only(path)
                        .with_context(|| format!("opening {}", path.display()))?,
                ),
                None => None,
            };
            // A saved file is hosted as its own session when this node holds that
            // session's key, otherwise as a new session; a replay is always a session
            // of its own; `--new` makes a new default.
            let session_key = match &source {
                Some(source) => {
                    match identity::session_key_for(&config.data, &source.meta.session)? {
                        Some(key) => key,
                        None => identity::new_session_key(&config.data, false)?,
                    }
                }
                None if config.play.is_some() => identity::new_session_key(&config.data, false)?,
                None if config.fresh => identity::new_session_key(&config.data, true)?,
                None => identity::current_session_key(&config.data)?,
            };
            let (session, authority) =
                Authority::root(&session_key, &key, crate::session::now_seconds());
            let (store, unsigned) = open_session(&config.data, &session, me)?;
            if let Some(unsigned) = unsigned {
                let old = Store::open_read_only(&unsigned)
                    .with_context(|| format!("opening {}", unsigned.display()))?;
                imports.insert(0, (old, u64::MAX));
            }
            if let Some(source) = source.filter(|s| s.path() != store.path()) {
                audio_import = Some(crate::store::Import {
                    from: source.path().to_path_buf(),
                    until_ms: u64::MAX,
                });
                imports.push((source, u64::MAX));
            }
            let document = store.document_as_of(u64::MAX, me)?;
            (
                session,
                Some(authority),
                Vec::new(),
                None,
                store,
                document,
                Some(session_key),
            )
        }
    };
    let mut store = store;
    let authors = load_authors(&store, session, authority.as_ref())?;
    let mut document = reconcile(&authors, document);
    let mut reauthor = canopy_canvas::Reauthor::new();
    let mut imported = Vec::new();
    for (source, until_ms) in imports {
        let made = import_file(
            &source,
            until_ms,
            &mut store,
            &mut document,
            &authors,
            &key,
            &mut reauthor,
        )?;
        tracing::info!(
            from = %source.path().display(),
            ops = made,
            "imported as this node's own signed ops"
        );
        imported.push(source.path().display().to_string());
    }
    tracing::info!(file = %store.path().display(), ops = document.op_count(), "session file");

    let graph = Graph::new("node");
    let audio = match &config.audio {
        Some(audio) => Some(crate::audio::spawn(&graph, "audio", audio)?),
        None => None,
    };
    let audio_meters = audio.as_ref().map(|(_, _, meters)| Arc::clone(meters));
    // A joiner whose file is gone may find its parent holding ops it made before:
    // edits made from the start (a drawing script) wait for them.
    let own_ops_upstream = joined
        .as_ref()
        .map_or(0, |joined| joined.welcome.seen.get(me));
    let setup = NodeSetup {
        meters: audio_meters.clone(),
        own_ops_upstream,
        print_invites: config.print_invites,
        invite_ttl: config.invite_ttl,
        name: config.name.clone(),
        key: Arc::clone(&key),
        fingerprint: identity.fingerprint,
        public_address,
        session,
        authority,
        ancestors,
        document,
        blind: None,
        limits: crate::session::SessionLimits::default(),
        stored_bytes: 0,
        metrics: None,
        revoked: crate::session::door::Revoked::load(
            &crate::session::door::revoked_file(&config.data, &session),
            &session,
        )?,
        session_key: session_key.map(Arc::new),
        file: Some(store.path().to_path_buf()),
        authors,
        reauthor,
        imported,
    };
    let (store_handle, store_inbox) = crate::store::spawn(&graph, "store", store, audio_import)?;
    let audio = match audio {
        Some((component, inbox, _)) => {
            crate::audio::record_into(&graph, "recorder", &component, &store_inbox)?;
            Some(inbox)
        }
        None => None,
    };
    let session = crate::session::spawn(&graph, "", setup, &store_inbox, audio.as_ref())?;
    let ports = session.ports.clone();
    // One session here: every hello goes to its door, which refuses other sessions.
    let router: Router = Arc::new(move |_| {
        let ports = ports.clone();
        Box::pin(async move { Ok(ports) })
    });
    spawn_listener(&graph, endpoint.clone(), router, None, None)?;
    control::spawn(&graph, control, &session.ports)?;
    if let Some(joined) = joined {
        spawn_parent(
            &graph,
            "parent",
            endpoint.clone(),
            &session.ports,
            config.clone(),
            Arc::clone(&key),
            joined,
        )?;
    }
    if !script.is_empty() {
        spawn_script(&graph, &session.ports.document, script)?;
    }
    if let Some((ops, play)) = recording {
        spawn_player(&graph, &session.ports, ops, &play)?;
    }
    tracing::info!(listen = %local, "node running");
    Ok(RunningNode {
        graph,
        document: session.document,
        store: store_handle,
        session: session.ports,
        local_address: local,
        audio_meters,
        endpoint,
        data: config.data.clone(),
    })
}

/// Resolves on SIGINT or SIGTERM (SIGINT only where there is no SIGTERM). The
/// handlers are installed when this is called, not when it is first awaited, so a
/// signal that comes while the node is still starting is not the default death.
#[cfg(unix)]
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (terminate, interrupt) {
            (Ok(mut terminate), Ok(mut interrupt)) => tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            },
            (Ok(mut only), Err(error)) | (Err(error), Ok(mut only)) => {
                tracing::warn!(%error, "cannot watch one of SIGTERM and SIGINT");
                only.recv().await;
            }
            (Err(error), Err(_)) => {
                tracing::warn!(%error, "cannot watch SIGTERM or SIGINT");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// Resolves on Ctrl+C.
#[cfg(not(unix))]
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn wait_for_signal(
    signal: impl std::future::Future<Output = ()>,
    document: &ComponentHandle,
    store: &ComponentHandle,
) {
    tokio::select! {
        () = signal => {}
        exit = document.join() => tracing::error!(?exit, "the document ended"),
        exit = store.join() => tracing::error!(?exit, "the session file cannot be written: stopping"),
    }
}

/// What invites should carry: the given address, or the bound one (with the machine's
/// primary address when bound to all interfaces).
pub fn public_address(given: Option<&str>, bound: SocketAddr) -> String {
    if let Some(given) = given {
        return if split_address(given).is_some() && !given.ends_with(']') {
            given.to_string()
        } else {
            format!("{}:{}", given, bound.port())
        };
    }
    let ip = if bound.ip().is_unspecified() {
        primary_address(bound.ip()).unwrap_or(bound.ip())
    } else {
        bound.ip()
    };
    SocketAddr::new(ip, bound.port()).to_string()
}

/// The address the system would use for outgoing traffic: a UDP socket "connected" to
/// a documentation-only address (no packet is sent) reveals it.
fn primary_address(family: IpAddr) -> Option<IpAddr> {
    let (bind, probe): (&str, &str) = if family.is_ipv4() {
        ("0.0.0.0:0", "192.0.2.1:9")
    } else {
        ("[::]:0", "[2001:db8::1]:9")
    };
    let socket = std::net::UdpSocket::bind(bind).ok()?;
    socket.connect(probe).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

/// IPv6 literals need brackets in `host:port`.
pub fn host_for_address(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

async fn connect(
    endpoint: &quinn::Endpoint,
    address: &str,
    fingerprint: Fingerprint,
    timeout: Duration,
    idle: Duration,
) -> Result<quinn::Connection, JoinError> {
    let target = tokio::net::lookup_host(address)
        .await
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| JoinError::Unresolvable(address.to_string()))?;
    let (config, seen) = tls::client_config(fingerprint, idle).map_err(|e| JoinError::Broken {
        address: address.to_string(),
        reason: e.to_string(),
    })?;
    let connecting = endpoint
        .connect_with(config, target, "canopy")
        .map_err(|e| JoinError::Broken {
            address: address.to_string(),
            reason: e.to_string(),
        })?;
    match tokio::time::timeout(timeout, connecting).await {
        Err(_) => Err(JoinError::Unreachable {
            address: address.to_string(),
            seconds: timeout.as_secs(),
        }),
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(error)) => {
            let actual = seen.lock().ok().and_then(|s| *s);
            match actual {
                Some(actual) if actual != fingerprint => Err(JoinError::FingerprintMismatch {
                    address: address.to_string(),
                    expected: fingerprint,
                    actual,
                }),
                _ => Err(JoinError::Broken {
                    address: address.to_string(),
                    reason: error.to_string(),
                }),
            }
        }
    }
}

/// Connects to `address` (pinned to `fingerprint`), says `hello` and waits for the
/// welcome: a link to a parent that has judged this node, or why not.
pub async fn join(
    endpoint: &quinn::Endpoint,
    address: &str,
    fingerprint: Fingerprint,
    hello: &Hello,
    key: &Ed25519KeyPair,
    timeout: Duration,
    idle: Duration,
) -> Result<Joined, JoinError> {
    let connection = connect(endpoint, address, fingerprint, timeout, idle).await?;
    let (welcome, send, recv, decoder) =
        join_handshake(&connection, hello, key)
            .await
            .map_err(|e| match e {
                JoinRefused::Refused(reason) => JoinError::Refused {
                    address: address.to_string(),
                    reason,
                },
                JoinRefused::Io(reason) => JoinError::Broken {
                    address: address.to_string(),
                    reason,
                },
            })?;
    let parent = Ancestor {
        node_key: welcome.ancestors.first().map_or([0; 32], |a| a.node_key),
        address: address.to_string(),
        fingerprint,
    };
    Ok(Joined {
        streams: Streams {
            link: next_link_id(),
            connection,
            send,
            recv,
            decoder,
            peer: Some(canopy_protocol::AuthorKey(parent.node_key).node_id()),
        },
        welcome,
        parent,
    })
}

/// Creates a session on a relay with a `canopy-host://` URL (a relay host token);
/// returns its (editor, viewer) invite URLs.
pub async fn create_on_relay(
    host_url: &str,
    title: &str,
    timeout: Duration,
) -> Result<(String, String)> {
    let url: canopy_protocol::HostUrl = host_url
        .trim()
        .parse()
        .with_context(|| format!("bad relay host URL {:?}", host_url.trim()))?;
    let address = format!("{}:{}", host_for_address(&url.host), url.port);
    let bind: SocketAddr = if url.host.contains(':') {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let endpoint = quinn::Endpoint::client(bind).context("opening a UDP socket")?;
    let connection = connect(
        &endpoint,
        &address,
        url.fingerprint,
        timeout,
        Duration::from_secs(20),
    )
    .await?;
    let result = crate::link::request_session(&connection, &url.token, title).await;
    connection.close(0u32.into(), b"done");
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
    result.with_context(|| format!("creating a session on {address}"))
}

/// `listener`: accepts connections; each gets a `link[N]/handshake` component, which
/// reads the hello, finds its session through `router` and lets that session's door
/// judge it.
pub fn spawn_listener(
    graph: &Graph,
    endpoint: quinn::Endpoint,
    router: Router,
    creator: Option<Creator>,
    metrics: Option<Arc<Metrics>>,
) -> Result<()> {
    graph.component("listener").spawn_fn(move |ctx| async move {
        let slots = crate::link::slots::HandshakeSlots::default();
        loop {
            let incoming = tokio::select! {
                incoming = endpoint.accept() => incoming,
                () = ctx.stopped() => return Ok(()),
            };
            let Some(incoming) = incoming else {
                return Ok(());
            };
            // Bound the handshakes in progress, in all and per address, so a flood of
            // connections cannot pile up components or lock others out; past a bound
            // new connections are refused at once.
            let address = incoming.remote_address();
            let slot = match slots.take(address.ip()) {
                Ok(slot) => slot,
                Err(full) => {
                    tracing::warn!(%address, %full, "connection refused");
                    incoming.refuse();
                    continue;
                }
            };
            let id = next_link_id();
            let scope = ctx.graph().component(&format!("link[{id}]/handshake"));
            let mut to_door: Outbox<DoorInput> = scope.outbox("door");
            let mut to_sync: Outbox<SyncInput> = scope.outbox("sync");
            let mut to_router: Outbox<RouterInput> = scope.outbox("router");
            let router = Arc::clone(&router);
            let creator = creator.clone();
            let metrics = metrics.clone();
            let graph = ctx.graph().clone();
            scope.spawn_fn(move |_ctx| async move {
                // Held until the handshake ends: admitted, refused or timed out.
                let _slot = slot;
                let connection = incoming.await?;
                let address = connection.remote_address().to_string();
                let refused = |refusal: &Refusal| {
                    tracing::info!(%address, %refusal, "join refused");
                    if let Some(metrics) = &metrics {
                        metrics.refused(refusal.kind());
                    }
                };
                let mut greeting = match read_opening(&connection).await {
                    Ok(Opening::Join(greeting)) => greeting,
                    Ok(Opening::Create {
                        token,
                        title,
                        mut send,
                    }) => {
                        let created = match &creator {
                            Some(create) => create(token, title).await,
                            None => Err(Refusal::Protocol(
                                "this node does not create sessions for others (a relay does)"
                                    .into(),
                            )),
                        };
                        match created {
                            Ok((editor, viewer)) => {
                                answer_created(&mut send, editor, viewer).await?;
                                let _ = tokio::time::timeout(
                                    Duration::from_secs(2),
                                    connection.closed(),
                                )
                                .await;
                            }
                            Err(refusal) => {
                                refused(&refusal);
                                refuse(&connection, &mut send, &refusal).await;
                            }
                        }
                        return Ok(());
                    }
                    Err(error) => {
                        tracing::info!(%address, %error, "join abandoned");
                        return Ok(());
                    }
                };
                // The invite must verify for the session it names before that session
                // is looked up: a relay loads idle sessions from disk.
                let checked = channel_binding(&connection)
                    .map_err(|e| Refusal::Protocol(e.to_string()))
                    .and_then(|binding| {
                        canopy_protocol::precheck(
                            &greeting.hello,
                            &greeting.proof,
                            &binding,
                            crate::session::now_seconds(),
                        )
                    });
                if let Err(refusal) = checked {
                    refused(&refusal);
                    refuse(&connection, &mut greeting.send, &refusal).await;
                    return Ok(());
                }
                let ports = match router(greeting.hello.session).await {
                    Ok(ports) => ports,
                    Err(refusal) => {
                        refused(&refusal);
                        refuse(&connection, &mut greeting.send, &refusal).await;
                        return Ok(());
                    }
                };
                link(&to_door.handle(), &ports.door)?;
                link(&to_sync.handle(), &ports.sync)?;
                link(&to_router.handle(), &ports.router)?;
                let welcome =
                    match admit(&connection, &mut greeting, &mut to_door, &mut to_sync).await {
                        Ok(welcome) => welcome,
                        Err(error) => {
                            match error.downcast_ref::<Refusal>() {
                                Some(refusal) => refused(refusal),
                                None => tracing::info!(%address, %error, "join abandoned"),
                            }
                            return Ok(());
                        }
                    };
                let Greeting {
                    hello,
                    send,
                    recv,
                    decoder,
                    ..
                } = greeting;
                // Admitted: now the link may have a link's window, not a stranger's.
                connection.set_receive_window(crate::tls::LINK_RECEIVE_WINDOW.into());
                let streams = Streams {
                    link: id,
                    connection: connection.clone(),
                    send,
                    recv,
                    decoder,
                    peer: Some(hello.node),
                };
                let peer = Peer {
                    is_parent: false,
                    role: welcome.role,
                };
                let started = spawn_link(&graph, &ports, streams, peer)?;
                if let Some(metrics) = &metrics {
                    Metrics::add(&metrics.links_opened, 1);
                }
                let up = LinkUp {
                    link: id,
                    writer: started.writer,
                    queued: started.queued,
                    presence: started.presence,
                    audio: started.audio,
                    seen: hello.seen.clone(),
                    is_parent: false,
                    role: welcome.role,
                    name: hello.name.clone(),
                    address,
                    rtt: started.rtt,
                    grants: hello.invite.grant_ids(&hello.session),
                };
                to_router
                    .send(RouterInput::LinkUp(Box::new(up)))
                    .await
                    .map_err(|_| anyhow!("the node is shutting down"))?;
                let _ = started.start.send(());
                Ok(())
            });
        }
    });
    Ok(())
}

/// `parent`: keeps this node joined. When the parent link is lost it retries with
/// backoff, then tries each ancestor in turn (nearest first), so the session heals.
pub fn spawn_parent(
    graph: &Graph,
    name: &str,
    endpoint: quinn::Endpoint,
    session: &SessionPorts,
    config: NodeConfig,
    key: Arc<Ed25519KeyPair>,
    first: Joined,
) -> Result<ComponentHandle> {
    let ports = session.clone();
    let scope = graph.component(name);
    let mut to_door: Outbox<DoorInput> = scope.outbox("door");
    let mut to_sync: Outbox<SyncInput> = scope.outbox("sync");
    let mut to_router: Outbox<RouterInput> = scope.outbox("router");
    link(&to_door.handle(), &session.door)?;
    link(&to_sync.handle(), &session.sync)?;
    link(&to_router.handle(), &session.router)?;
    Ok(scope.spawn_fn(move |ctx| async move {
        let mut current = first;
        loop {
            let Joined {
                streams,
                welcome,
                parent,
            } = current;
            let connection = streams.connection.clone();
            let link_id = streams.link;
            to_door
                .send(DoorInput::Joined {
                    welcome: welcome.clone(),
                    parent: parent.clone(),
                })
                .await?;
            let peer = Peer {
                is_parent: true,
                role: Role::Editor,
            };
            let started = spawn_link(ctx.graph(), &ports, streams, peer)?;
            let up = LinkUp {
                link: link_id,
                writer: started.writer,
                queued: started.queued,
                presence: started.presence,
                audio: started.audio,
                seen: welcome.seen.clone(),
                is_parent: true,
                role: Role::Editor,
                name: welcome.name.clone(),
                address: parent.address.clone(),
                rtt: started.rtt,
                grants: Vec::new(),
            };
            to_router.send(RouterInput::LinkUp(Box::new(up))).await?;
            let _ = started.start.send(());
            tokio::select! {
                _ = connection.closed() => {}
                () = ctx.stopped() => return Ok(()),
            }
            tracing::warn!(parent = %parent.address, "lost the parent link; rejoining");
            current = loop {
                let attempt = tokio::select! {
                    joined = rejoin(&endpoint, &mut to_door, &mut to_sync, &config, &key, &parent) => joined,
                    () = ctx.stopped() => return Ok(()),
                };
                if let Some(joined) = attempt {
                    break joined;
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                    () = ctx.stopped() => return Ok(()),
                }
            };
        }
    }))
}

/// One round of rejoining: the lost parent with backoff, then each higher ancestor.
async fn rejoin(
    endpoint: &quinn::Endpoint,
    door: &mut Outbox<DoorInput>,
    sync: &mut Outbox<SyncInput>,
    config: &NodeConfig,
    key: &Ed25519KeyPair,
    parent: &Ancestor,
) -> Option<Joined> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    door.send(DoorInput::Rejoin(reply)).await.ok()?;
    let (mut hello, ancestors) = answer.await.ok()??;
    let (reply, answer) = tokio::sync::oneshot::channel();
    sync.send(SyncInput::Seen(reply)).await.ok()?;
    hello.seen = answer.await.ok()?;
    let mut targets = vec![parent.clone()];
    targets.extend(
        ancestors
            .into_iter()
            .filter(|a| a.node_key != parent.node_key),
    );
    for target in targets {
        let attempts = if target.address == parent.address {
            4
        } else {
            2
        };
        let mut backoff = Duration::from_millis(250);
        for _ in 0..attempts {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(4));
            match join(
                endpoint,
                &target.address,
                target.fingerprint,
                &hello,
                key,
                config.timeout.min(Duration::from_secs(3)),
                config.idle_timeout,
            )
            .await
            {
                Ok(mut joined) => {
                    joined.parent = target.clone();
                    tracing::info!(parent = %target.address, "rejoined");
                    return Some(joined);
                }
                Err(JoinError::Refused { reason, .. }) => {
                    tracing::warn!(target = %target.address, %reason, "rejoin refused");
                    break;
                }
                Err(error) => {
                    tracing::info!(target = %target.address, %error, "rejoin attempt failed")
                }
            }
        }
    }
    None
}

/// `player`: replays a recording's ops with their original timing (scaled by the
/// speed), and its audio in step with them (at speed 1; sped-up speech is noise).
/// What lies before the starting point is in the session's document already.
/// A recording to play from a starting point.
struct Recording {
    /// Its file (read a page at a time as it plays).
    file: PathBuf,
    /// Play its audio too.
    with_audio: bool,
    /// The starting point, in the recording's clock.
    seek_ms: u64,
}

/// One thing the player does at a point of the recording's timeline.
enum Cue {
    Op(canopy_protocol::WireOp),
    Audio(Vec<u8>),
}

/// Rows read from the recording at a time: what the player holds of it.
const PLAYBACK_PAGE: usize = 4096;

/// A recording's ops and audio merged by time (ops first at equal times), read from
/// its file a page of each at a time on the blocking pool.
struct Timeline {
    store: Arc<std::sync::Mutex<Store>>,
    from_ms: u64,
    ops: std::collections::VecDeque<(u64, canopy_protocol::WireOp)>,
    ops_after: Option<(u64, canopy_canvas::OpId)>,
    ops_done: bool,
    audio: std::collections::VecDeque<(u64, Vec<u8>)>,
    audio_after: i64,
    audio_done: bool,
}

impl Timeline {
    fn new(store: Store, from_ms: u64, with_audio: bool) -> Self {
        Timeline {
            store: Arc::new(std::sync::Mutex::new(store)),
            from_ms,
            ops: Default::default(),
            ops_after: None,
            ops_done: false,
            audio: Default::default(),
            audio_after: i64::MIN,
            audio_done: !with_audio,
        }
    }

    /// Reads the next page of whichever stream has run dry.
    async fn refill(&mut self) -> Result<()> {
        if self.ops.is_empty() && !self.ops_done {
            let (store, from, after) = (Arc::clone(&self.store), self.from_ms, self.ops_after);
            let page = tokio::task::spawn_blocking(move || {
                let store = store
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                store.ops_page(from, after, PLAYBACK_PAGE)
            })
            .await??;
            self.ops_done = page.len() < PLAYBACK_PAGE;
            self.ops_after = page.last().map(|(at, op)| (*at, op.id));
            self.ops.extend(page);
        }
        if self.audio.is_empty() && !self.audio_done {
            let (store, from, after) = (Arc::clone(&self.store), self.from_ms, self.audio_after);
            let page = tokio::task::spawn_blocking(move || {
                let store = store
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                store.audio_page(from, after, PLAYBACK_PAGE)
            })
            .await??;
            self.audio_done = page.len() < PLAYBACK_PAGE;
            if let Some((row, _, _)) = page.last() {
                self.audio_after = *row;
            }
            self.audio
                .extend(page.into_iter().map(|(_, at, packet)| (at, packet)));
        }
        Ok(())
    }

    /// The next cue in time order, `None` at the end.
    async fn next(&mut self) -> Result<Option<(u64, Cue)>> {
        self.refill().await?;
        let audio_first = match (self.ops.front(), self.audio.front()) {
            (Some((op_at, _)), Some((audio_at, _))) => audio_at < op_at,
            (None, Some(_)) => true,
            _ => false,
        };
        Ok(if audio_first {
            self.audio.pop_front().map(|(at, p)| (at, Cue::Audio(p)))
        } else {
            self.ops.pop_front().map(|(at, op)| (at, Cue::Op(op)))
        })
    }
}

fn spawn_player(
    graph: &Graph,
    session: &SessionPorts,
    recording: Recording,
    play: &Playback,
) -> Result<()> {
    let audio = session.audio.as_ref().map(|a| &a.control);
    let scope = graph.component("player");
    let mut to_document: Outbox<DocumentInput> = scope.outbox("outbox");
    link(&to_document.handle(), &session.document)?;
    let mut to_audio: Outbox<AudioInput> = scope.outbox("audio");
    let speed = if play.speed.is_finite() && play.speed > 0.0 {
        play.speed
    } else {
        1.0
    };
    let Recording {
        file,
        with_audio,
        seek_ms,
    } = recording;
    let with_audio = match audio {
        Some(audio) if with_audio => {
            link(&to_audio.handle(), audio)?;
            true
        }
        _ => false,
    };
    let store =
        Store::open_read_only(&file).with_context(|| format!("opening {}", file.display()))?;
    let mut timeline = Timeline::new(store, seek_ms, with_audio);
    scope.spawn_fn(move |ctx| async move {
        let stopped = || anyhow!("the node stopped");
        let began = tokio::time::Instant::now();
        let mut pending: Vec<canopy_protocol::WireOp> = Vec::new();
        let mut pending_at = seek_ms;
        while let Some((at, cue)) = timeline.next().await? {
            if at != pending_at && !pending.is_empty() {
                to_document
                    .send(DocumentInput::Replay(std::mem::take(&mut pending)))
                    .await
                    .map_err(|_| stopped())?;
            }
            if at != pending_at {
                let due = began
                    + Duration::from_secs_f64(at.saturating_sub(seek_ms) as f64 / 1000.0 / speed);
                tokio::select! {
                    () = tokio::time::sleep_until(due) => {}
                    () = ctx.stopped() => return Ok(()),
                }
                pending_at = at;
            }
            match cue {
                Cue::Op(op) => pending.push(op),
                // Real time: if the mixer is behind, this frame is too late anyway.
                Cue::Audio(packet) => {
                    let _ = to_audio.try_send(AudioInput::Recorded(packet));
                }
            }
        }
        if !pending.is_empty() {
            to_document
                .send(DocumentInput::Replay(pending))
                .await
                .map_err(|_| stopped())?;
        }
        tracing::info!("playback finished");
        Ok(())
    });
    Ok(())
}

/// `script`: plays a drawing script into the document.
fn spawn_script(graph: &Graph, document: &InboxRef<DocumentInput>, steps: Vec<Step>) -> Result<()> {
    let scope = graph.component("script");
    let mut to_document: Outbox<DocumentInput> = scope.outbox("outbox");
    link(&to_document.handle(), document)?;
    scope.spawn_fn(move |ctx| async move {
        for step in steps {
            match step {
                Step::Sleep(pause) => tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = ctx.stopped() => return Ok(()),
                },
                Step::Edit(edit) => to_document
                    .send(DocumentInput::Local(edit))
                    .await
                    .map_err(|_| anyhow!("the node stopped"))?,
            }
        }
        tracing::info!("drawing script done");
        Ok(())
    });
    Ok(())
}
