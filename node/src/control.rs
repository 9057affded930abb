//! The local control socket (`DATA/control.sock`): `canopy status`, `introspect` and
//! `export` talk to a running node through it, one JSON line each way.
//!
//! The socket is the owner's alone (mode 0600 from the moment it has its name). Each
//! connection is served on its own, with a deadline for its request line, so a client
//! that connects and says nothing — or asks for a slow export — holds up no other;
//! at most [`MAX_CLIENTS`] are served at once.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use canopy_axon::{link, ComponentHandle, Graph, Outbox};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;

use crate::session::{DoorInput, ExportRequest, PresenceInput, SessionPorts, Status, StatusInput};

/// A request to a running node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// The node's status.
    Status,
    /// The live component graph.
    Introspect {
        /// Graphviz DOT instead of JSON.
        dot: bool,
    },
    /// Mute, master or link volume (`canopy audio`).
    Audio(crate::audio::AudioControl),
    /// Revoke an invite (URL, token or grant id) and everyone admitted with it
    /// (`canopy revoke`; the session's host only).
    Revoke {
        /// The invite.
        invite: String,
        /// Also remove everything its holders did, on every replica.
        #[serde(default)]
        remove_edits: bool,
    },
    /// A rendering of the document.
    Export {
        /// `png`, `svg` or `pdf`.
        format: String,
        /// Page index (PNG, SVG).
        page: usize,
    },
}

/// The answer: `ok` with a value or `error` with a message.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Success.
    Ok(serde_json::Value),
    /// Failure, in words.
    Error(String),
}

/// Longest request line read from the control socket.
const MAX_REQUEST: u64 = 64 * 1024;

/// How long a client has to send its request line.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);

/// Clients served at once; more wait to be accepted.
pub const MAX_CLIENTS: usize = 16;

/// Where a node's control socket lives.
pub fn socket_path(data: &Path) -> PathBuf {
    data.join("control.sock")
}

/// Binds the control socket, refusing if another node already serves this directory.
pub async fn bind(data: &Path) -> Result<UnixListener> {
    let path = socket_path(data);
    if path.exists() {
        if UnixStream::connect(&path).await.is_ok() {
            bail!(
                "another canopy node is already running with data directory {}",
                data.display()
            );
        }
        std::fs::remove_file(&path)
            .with_context(|| format!("removing stale {}", path.display()))?;
    }
    // Bound under a temporary name and made the owner's before it gets its real one,
    // so no other user can ever connect to it.
    let temporary = data.join(format!("control.sock.{}", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    let listener = UnixListener::bind(&temporary)
        .with_context(|| format!("listening on {}", temporary.display()))?;
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("making {} private", temporary.display()))?;
    std::fs::rename(&temporary, &path)
        .with_context(|| format!("moving the control socket to {}", path.display()))?;
    Ok(listener)
}

/// A request read from a connection, handed to the control loop, which dispatches it
/// and hands back what to wait for.
struct Asked {
    request: Request,
    reply: oneshot::Sender<Pending>,
}

/// An answer, or where it will come from: the connection waits for it, not the loop.
enum Pending {
    Now(Response),
    Status(oneshot::Receiver<Status>),
    Export(oneshot::Receiver<Result<Vec<u8>, String>>),
    Revoke(oneshot::Receiver<Result<canopy_protocol::GrantId, crate::session::door::RevokeError>>),
}

/// The control component's outboxes, one to each part of the session it asks.
struct Ports {
    status: Outbox<StatusInput>,
    presence: Outbox<PresenceInput>,
    exporter: Outbox<ExportRequest>,
    door: Outbox<DoorInput>,
}

/// Spawns the `control` component serving requests from `listener`.
pub fn spawn(
    graph: &Graph,
    listener: UnixListener,
    session: &SessionPorts,
) -> Result<ComponentHandle> {
    let scope = graph.component("control");
    let mut ports = Ports {
        status: scope.outbox("status"),
        presence: scope.outbox("presence"),
        exporter: scope.outbox("exporter"),
        door: scope.outbox("door"),
    };
    link(&ports.status.handle(), &session.status)?;
    link(&ports.presence.handle(), &session.presence)?;
    link(&ports.exporter.handle(), &session.exporter)?;
    link(&ports.door.handle(), &session.door)?;
    Ok(scope.spawn_fn(move |ctx| async move {
        let room = Arc::new(tokio::sync::Semaphore::new(MAX_CLIENTS));
        let mut clients = tokio::task::JoinSet::new();
        let (asking, mut asked) = tokio::sync::mpsc::channel::<Asked>(MAX_CLIENTS);
        loop {
            tokio::select! {
                // Only this loop takes places, so one is free when accept is polled; a
                // finishing client (join_next) wakes the loop to accept again.
                accepted = listener.accept(), if room.available_permits() > 0 => {
                    let Ok((stream, _)) = accepted else { continue };
                    let Ok(place) = Arc::clone(&room).try_acquire_owned() else { continue };
                    let asking = asking.clone();
                    clients.spawn(async move {
                        serve(stream, asking).await;
                        drop(place);
                    });
                }
                Some(Asked { request, reply }) = asked.recv() => {
                    let _ = reply.send(dispatch(request, &mut ports, ctx.graph()).await);
                }
                Some(_) = clients.join_next(), if !clients.is_empty() => {}
                () = ctx.stopped() => return Ok(()),
            }
        }
    }))
}

/// One connection: its request line (within the deadline), the answer, closed.
async fn serve(stream: UnixStream, asking: tokio::sync::mpsc::Sender<Asked>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    // Requests are one short line; a longer one is cut and fails to parse.
    let mut reader = BufReader::new(read.take(MAX_REQUEST));
    let reading = reader.read_line(&mut line);
    let response = match tokio::time::timeout(REQUEST_DEADLINE, reading).await {
        Err(_) => Response::Error(format!(
            "no request within {} s",
            REQUEST_DEADLINE.as_secs()
        )),
        Ok(Err(error)) => Response::Error(format!("bad request: {error}")),
        Ok(Ok(_)) => match serde_json::from_str::<Request>(&line) {
            Ok(request) => {
                let (reply, pending) = oneshot::channel();
                if asking.send(Asked { request, reply }).await.is_err() {
                    return;
                }
                match pending.await {
                    Ok(pending) => resolve(pending).await,
                    Err(_) => gone(),
                }
            }
            Err(error) => Response::Error(format!("bad request: {error}")),
        },
    };
    if let Ok(mut text) = serde_json::to_string(&response) {
        text.push('\n');
        let _ = write.write_all(text.as_bytes()).await;
    }
}

fn gone() -> Response {
    Response::Error("the node is shutting down".into())
}

/// Asks the part of the session a request is for; quick, so the loop never waits on
/// an answer (a status or an export is awaited by its connection).
async fn dispatch(request: Request, ports: &mut Ports, graph: &Graph) -> Pending {
    match request {
        Request::Status => {
            let (reply, answer) = oneshot::channel();
            if ports.status.send(StatusInput::Full(reply)).await.is_err() {
                return Pending::Now(gone());
            }
            Pending::Status(answer)
        }
        Request::Introspect { dot } => {
            let snapshot = graph.snapshot();
            Pending::Now(if dot {
                Response::Ok(serde_json::Value::String(snapshot.to_dot()))
            } else {
                serde_json::to_value(snapshot)
                    .map_or_else(|e| Response::Error(e.to_string()), Response::Ok)
            })
        }
        Request::Audio(control) => {
            if ports
                .presence
                .send(PresenceInput::Audio(control))
                .await
                .is_err()
            {
                return Pending::Now(gone());
            }
            Pending::Now(Response::Ok(serde_json::Value::Null))
        }
        Request::Revoke {
            invite,
            remove_edits,
        } => {
            let (reply, answer) = oneshot::channel();
            let revoke = DoorInput::Revoke {
                named: invite,
                remove_edits,
                reply,
            };
            if ports.door.send(revoke).await.is_err() {
                return Pending::Now(gone());
            }
            Pending::Revoke(answer)
        }
        Request::Export { format, page } => {
            let (reply, answer) = oneshot::channel();
            let request = ExportRequest {
                format,
                page,
                reply,
            };
            if ports.exporter.send(request).await.is_err() {
                return Pending::Now(gone());
            }
            Pending::Export(answer)
        }
    }
}

/// Waits for a dispatched request's answer.
async fn resolve(pending: Pending) -> Response {
    match pending {
        Pending::Now(response) => response,
        Pending::Status(answer) => match answer.await {
            Ok(status) => serde_json::to_value(status)
                .map_or_else(|e| Response::Error(e.to_string()), Response::Ok),
            Err(_) => gone(),
        },
        Pending::Revoke(answer) => match answer.await {
            Ok(Ok(grant)) => Response::Ok(serde_json::json!({ "revoked": grant.to_string() })),
            Ok(Err(error)) => Response::Error(error.to_string()),
            Err(_) => gone(),
        },
        Pending::Export(answer) => match answer.await {
            Ok(Ok(bytes)) => Response::Ok(serde_json::Value::String(
                data_encoding::BASE64.encode(&bytes),
            )),
            Ok(Err(error)) => Response::Error(error),
            Err(_) => gone(),
        },
    }
}

/// Sends a request to the node running with `data` and returns its answer.
pub async fn request(data: &Path, request: &Request) -> Result<serde_json::Value> {
    let path = socket_path(data);
    let stream = UnixStream::connect(&path).await.with_context(|| {
        format!(
            "no canopy node is running with data directory {} (cannot connect to {})",
            data.display(),
            path.display()
        )
    })?;
    let (read, mut write) = stream.into_split();
    let mut text = serde_json::to_string(request)?;
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    match serde_json::from_str::<Response>(&line).context("the node's answer is not understood")? {
        Response::Ok(value) => Ok(value),
        Response::Error(error) => bail!(error),
    }
}
