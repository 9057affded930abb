//! The relay's admin HTTP API, on its own address.
//!
//! Open (for probes and Prometheus): `GET /healthz`, `GET /readyz`, `GET /metrics`.
//! Behind `Authorization: Bearer TOKEN`:
//!
//! | request | does |
//! | --- | --- |
//! | `GET /sessions` | list sessions: peers, ops, bytes, age, state |
//! | `POST /sessions` `{"title": …}` | create one; answers its id and invite URLs |
//! | `GET /sessions/{id}` | one session, with its live status when loaded |
//! | `DELETE /sessions/{id}` | close it for good (peers told, key deleted) |
//! | `POST /sessions/{id}/invites` `{"role": "editor"\|"viewer", "ttl_seconds": n}` | a new invite |
//! | `POST /sessions/{id}/revoke` `{"invite": URL, token or grant id, "remove_edits": bool}` | refuse that invite and all admitted with it (and, with `remove_edits`, remove everything they did) |
//! | `POST /upstreams` `{"url": …}` | serve a session of another relay here |
//! | `POST /host-tokens` `{"label": …}` | a `canopy-host://` URL that lets its holder create sessions |
//! | `DELETE /host-tokens/{label}` | revoke it |

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use canopy_protocol::{Role, SessionId};
use serde::Deserialize;
use serde_json::json;

use crate::{Relay, RelayError};
use canopy_node::metrics::Metrics;

/// An error as the API answers it: a status and `{"error": message}`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<RelayError> for ApiError {
    fn from(error: RelayError) -> Self {
        let status = match &error {
            RelayError::NoSuchSession(_) | RelayError::NotFound(_) => StatusCode::NOT_FOUND,
            RelayError::Limit(_) => StatusCode::TOO_MANY_REQUESTS,
            RelayError::BadRequest(_) => StatusCode::BAD_REQUEST,
            RelayError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = format!("{error:#}"), "admin request failed");
        }
        ApiError(status, error.to_string())
    }
}

fn session_id(id: &str) -> Result<SessionId, ApiError> {
    id.parse()
        .map_err(|_| ApiError(StatusCode::NOT_FOUND, format!("no session {id}")))
}

/// The API's routes over a running relay.
pub fn router(relay: Arc<Relay>, token: String) -> Router {
    let token = Arc::new(token);
    let guarded = Router::new()
        .route("/sessions", get(list).post(create))
        .route("/sessions/{id}", get(inspect).delete(close))
        .route("/sessions/{id}/invites", post(issue_invite))
        .route("/sessions/{id}/revoke", post(revoke))
        .route("/upstreams", post(add_upstream))
        .route("/host-tokens", post(issue_host_token))
        .route(
            "/host-tokens/{label}",
            axum::routing::delete(revoke_host_token),
        )
        .layer(middleware::from_fn_with_state(token, require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .merge(guarded)
        .with_state(relay)
}

/// Serves the API until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    relay: Arc<Relay>,
    token: String,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(relay, token))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Compares in time independent of where the strings differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(State(token): State<Arc<String>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(given) if same_secret(given.trim().as_bytes(), token.as_bytes()) => {
            next.run(request).await
        }
        Some(_) => ApiError(StatusCode::FORBIDDEN, "wrong admin token".into()).into_response(),
        None => {
            let mut response = ApiError(
                StatusCode::UNAUTHORIZED,
                "this endpoint needs Authorization: Bearer <admin token>".into(),
            )
            .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            response
        }
    }
}

async fn ready(State(relay): State<Arc<Relay>>) -> Response {
    if relay.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    }
}

async fn list(State(relay): State<Arc<Relay>>) -> Result<Response, ApiError> {
    let sessions = relay.list().await.map_err(RelayError::from)?;
    Ok(Json(json!({ "sessions": sessions })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateSession {
    #[serde(default)]
    title: String,
}

async fn create(
    State(relay): State<Arc<Relay>>,
    Json(body): Json<CreateSession>,
) -> Result<Response, ApiError> {
    let (id, invites) = relay.create_session(&body.title).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id.to_string(), "title": body.title, "invites": invites })),
    )
        .into_response())
}

async fn inspect(
    State(relay): State<Arc<Relay>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (info, status) = relay.inspect(&session_id(&id)?).await?;
    Ok(Json(json!({ "session": info, "status": status })).into_response())
}

async fn close(
    State(relay): State<Arc<Relay>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    relay.close(&session_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewInvite {
    role: Role,
    ttl_seconds: Option<u64>,
}

async fn issue_invite(
    State(relay): State<Arc<Relay>>,
    Path(id): Path<String>,
    Json(body): Json<NewInvite>,
) -> Result<Response, ApiError> {
    let ttl = body.ttl_seconds.map(Duration::from_secs);
    let url = relay
        .issue_invite(&session_id(&id)?, body.role, ttl)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "role": body.role, "url": url })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Revoke {
    invite: String,
    /// Also remove everything its holders did, on every replica.
    #[serde(default)]
    remove_edits: bool,
}

async fn revoke(
    State(relay): State<Arc<Relay>>,
    Path(id): Path<String>,
    Json(body): Json<Revoke>,
) -> Result<Response, ApiError> {
    relay
        .revoke(&session_id(&id)?, &body.invite, body.remove_edits)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Upstream {
    url: String,
}

async fn add_upstream(
    State(relay): State<Arc<Relay>>,
    Json(body): Json<Upstream>,
) -> Result<Response, ApiError> {
    let id = relay
        .join_upstream(&body.url)
        .await
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, format!("{e:#}")))?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id.to_string() }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostToken {
    label: String,
}

async fn issue_host_token(
    State(relay): State<Arc<Relay>>,
    Json(body): Json<HostToken>,
) -> Result<Response, ApiError> {
    let url = relay.issue_host_token(&body.label)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "label": body.label, "url": url })),
    )
        .into_response())
}

async fn revoke_host_token(
    State(relay): State<Arc<Relay>>,
    Path(label): Path<String>,
) -> Result<Response, ApiError> {
    relay.revoke_host_token(&label)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Prometheus text exposition of the relay's state.
async fn metrics(State(relay): State<Arc<Relay>>) -> Response {
    let statuses = relay.statuses().await;
    let (loaded, stored) = relay.session_counts().await;
    let peers: usize = statuses.iter().map(|s| s.children.len()).sum();
    let links: usize = statuses
        .iter()
        .map(|s| s.children.len() + usize::from(s.parent.is_some()))
        .sum();
    let m = &relay.metrics;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let one = |v: f64| vec![(String::new(), v)];
    metric(
        "canopy_sessions",
        "gauge",
        "Sessions held, by state (loaded in memory, or all including idle on disk).",
        &[
            ("{state=\"loaded\"}".to_string(), loaded as f64),
            ("{state=\"all\"}".to_string(), stored as f64),
        ],
    );
    metric(
        "canopy_peers",
        "gauge",
        "Peers connected directly to this relay.",
        &one(peers as f64),
    );
    metric(
        "canopy_links",
        "gauge",
        "QUIC links up (peers plus upstream parents).",
        &one(links as f64),
    );
    metric(
        "canopy_ops_in_total",
        "counter",
        "Ops received from links.",
        &one(Metrics::get(&m.ops_in) as f64),
    );
    metric(
        "canopy_ops_out_total",
        "counter",
        "Ops sent to links.",
        &one(Metrics::get(&m.ops_out) as f64),
    );
    metric(
        "canopy_op_bytes_in_total",
        "counter",
        "Op payload bytes received from links.",
        &one(Metrics::get(&m.bytes_in) as f64),
    );
    metric(
        "canopy_links_opened_total",
        "counter",
        "Links that passed their handshake.",
        &one(Metrics::get(&m.links_opened) as f64),
    );
    metric(
        "canopy_audio_streams_mixed",
        "gauge",
        "Audio streams mixed by this relay (relays forward drawing only for now).",
        &one(statuses
            .iter()
            .filter_map(|s| s.audio.as_ref())
            .map(|a| a.streams)
            .sum::<usize>() as f64),
    );
    let refusals: Vec<(String, f64)> = m
        .refusals()
        .into_iter()
        .map(|(kind, n)| (format!("{{reason=\"{kind}\"}}"), n as f64))
        .collect();
    metric(
        "canopy_refusals_total",
        "counter",
        "Joins refused and links closed, by reason.",
        &refusals,
    );
    let depths = relay.queue_depths();
    let deepest = depths.iter().map(|(_, d)| *d).max().unwrap_or(0);
    let cores: Vec<(String, f64)> = depths
        .iter()
        .filter(|(name, _)| {
            ["/document", "/router", "/sync"]
                .iter()
                .any(|part| name.ends_with(part))
        })
        .map(|(name, d)| (format!("{{component=\"{name}\"}}"), *d as f64))
        .collect();
    metric(
        "canopy_core_queue_depth",
        "gauge",
        "Messages waiting in each session's document, router and sync server inboxes.",
        &cores,
    );
    metric(
        "canopy_max_queue_depth",
        "gauge",
        "Messages waiting in the fullest inbox of any component.",
        &one(deepest as f64),
    );
    metric(
        "canopy_uptime_seconds",
        "gauge",
        "Seconds since the relay started.",
        &one(relay.uptime().as_secs_f64().floor()),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
