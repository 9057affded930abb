//! `exporter`: renders a page (PNG, SVG) or the whole document (PDF) for `canopy
//! export`. It takes a copy of the document from the sync server and draws it on a
//! low-priority thread of its own ([`crate::background`]), so an export of 100,000
//! strokes never runs on a task that live strokes wait for, nor takes the cores from
//! them on a busy machine.

use canopy_axon::{BoxError, Component, Context, Inbox, Outbox, Scope};
use canopy_canvas::Document;
use tokio::sync::oneshot;

use super::sync::SyncInput;

/// A rendering asked for.
#[derive(Debug)]
pub struct ExportRequest {
    /// `png`, `svg` or `pdf`.
    pub format: String,
    /// Page index for PNG and SVG.
    pub page: usize,
    /// The bytes, or why not.
    pub reply: oneshot::Sender<Result<Vec<u8>, String>>,
}

/// Why a blind session (a relay that holds the ops without reading them) exports
/// nothing.
pub const NOT_READ: &str =
    "this relay holds the session's ops without reading them (blind): export it from a peer";

/// The exporter component.
pub struct Exporter {
    inbox: Inbox<ExportRequest>,
    sync: Outbox<SyncInput>,
}

impl Exporter {
    /// Makes the boxes.
    pub fn new(scope: &Scope) -> Self {
        Self {
            inbox: scope.inbox("inbox"),
            sync: scope.outbox("sync"),
        }
    }
}

impl Component for Exporter {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        while let Some(request) = self.inbox.recv().await {
            let (reply, answer) = oneshot::channel();
            if self.sync.send(SyncInput::Snapshot(reply)).await.is_err() {
                break;
            }
            let ExportRequest {
                format,
                page,
                reply,
            } = request;
            let Ok(document) = answer.await else {
                // A blind session holds its ops unread: there is nothing to draw.
                let _ = reply.send(Err(NOT_READ.to_string()));
                continue;
            };
            let rendered = crate::background::run(move || render(&document, &format, page))
                .await
                .unwrap_or_else(|e| Err(format!("the export failed: {e}")));
            let _ = reply.send(rendered);
        }
        Ok(())
    }
}

/// Renders a document as `png` or `svg` (page `page`) or `pdf` (every page).
pub fn render(doc: &Document, format: &str, page: usize) -> Result<Vec<u8>, String> {
    let page_id = || {
        doc.pages().get(page).copied().ok_or_else(|| {
            format!(
                "there is no page {page} (the document has {})",
                doc.page_count()
            )
        })
    };
    match format {
        "png" => crate::pages::export_png(doc, page_id()?, 1.0).map_err(|e| e.to_string()),
        "svg" => canopy_canvas::export_svg(doc, page_id()?)
            .map(String::into_bytes)
            .map_err(|e| e.to_string()),
        "pdf" => Ok(canopy_canvas::export_pdf(doc)),
        other => Err(format!(
            "unknown export format {other:?}; use .png, .svg or .pdf"
        )),
    }
}
