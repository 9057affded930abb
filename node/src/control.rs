//! The local control socket (`DATA/control.sock`): `canopy status`, `introspect` and
//! `export` talk to a running node through it, one JSON line each way.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use canopy_axon::{link, ComponentHandle, Graph, Outbox};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::session::{ExportRequest, PresenceInput, SessionPorts, StatusInput};

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
    UnixListener::bind(&path).with_context(|| format!("listening on {}", path.display()))
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
    };
    link(&ports.status.handle(), &session.status)?;
    link(&ports.presence.handle(), &session.presence)?;
    link(&ports.exporter.handle(), &session.exporter)?;
    Ok(scope.spawn_fn(move |ctx| async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = ctx.stopped() => return Ok(()),
            };
            let Ok((stream, _)) = accepted else { continue };
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            // Requests are one short line; a longer one is cut and fails to parse.
            if BufReader::new(read.take(MAX_REQUEST))
                .read_line(&mut line)
                .await
                .is_err()
            {
                continue;
            }
            let response = match serde_json::from_str::<Request>(&line) {
                Ok(request) => answer(request, &mut ports, ctx.graph()).await,
                Err(error) => Response::Error(format!("bad request: {error}")),
            };
            let mut text = serde_json::to_string(&response)?;
            text.push('\n');
            let _ = write.write_all(text.as_bytes()).await;
        }
    }))
}

/// The control component's outboxes, one to each part of the session it asks.
struct Ports {
    status: Outbox<StatusInput>,
    presence: Outbox<PresenceInput>,
    exporter: Outbox<ExportRequest>,
}

async fn answer(request: Request, ports: &mut Ports, graph: &Graph) -> Response {
    let gone = || Response::Error("the node is shutting down".into());
    match request {
        Request::Status => {
            let (reply, answer) = tokio::sync::oneshot::channel();
            if ports.status.send(StatusInput::Full(reply)).await.is_err() {
                return gone();
            }
            match answer.await {
                Ok(status) => serde_json::to_value(status)
                    .map_or_else(|e| Response::Error(e.to_string()), Response::Ok),
                Err(_) => gone(),
            }
        }
        Request::Introspect { dot } => {
            let snapshot = graph.snapshot();
            if dot {
                Response::Ok(serde_json::Value::String(snapshot.to_dot()))
            } else {
                serde_json::to_value(snapshot)
                    .map_or_else(|e| Response::Error(e.to_string()), Response::Ok)
            }
        }
        Request::Audio(control) => {
            if ports
                .presence
                .send(PresenceInput::Audio(control))
                .await
                .is_err()
            {
                return gone();
            }
            Response::Ok(serde_json::Value::Null)
        }
        Request::Export { format, page } => {
            let (reply, answer) = tokio::sync::oneshot::channel();
            if ports
                .exporter
                .send(ExportRequest {
                    format,
                    page,
                    reply,
                })
                .await
                .is_err()
            {
                return gone();
            }
            match answer.await {
                Ok(Ok(bytes)) => Response::Ok(serde_json::Value::String(
                    data_encoding::BASE64.encode(&bytes),
                )),
                Ok(Err(error)) => Response::Error(error),
                Err(_) => gone(),
            }
        }
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
