//! Signed imports. Ops that cannot carry their authors' signatures here — a session
//! file from before signed authorship, a saved document opened as a new session, the
//! part of a recording before the point it is played from — enter a session as this
//! node's own ops, made again ([`Reauthor`]) and signed with its key. Nobody's
//! unsigned ops are ever served.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use canopy_canvas::{Document, NodeId, Reauthor, VersionVector};
use canopy_protocol::{OpaqueReplica, Role, SessionId, Signer, WireOp};
use ring::signature::Ed25519KeyPair;

use crate::session::authors::{Authors, SharedAuthors};
use crate::storage::{now_ms, session_file, Meta, Store, StoreError};

/// Opens (resuming) or creates this node's file for `session`, whose ops this node
/// makes as `me`. A file from before signed authorship is set aside, renamed
/// `SESSION.unsigned-TIME.canopy`, and a new one made: its path is returned so a host
/// can import its drawing.
pub fn open_session(
    data: &Path,
    session: &SessionId,
    me: NodeId,
) -> Result<(Store, Option<PathBuf>)> {
    let path = session_file(data, session);
    let mut aside = None;
    if path.exists() {
        let store = Store::open(&path).with_context(|| format!("resuming {}", path.display()))?;
        if store.meta.session != *session {
            return Err(StoreError::WrongSession {
                path,
                found: store.meta.session.to_string(),
                expected: session.to_string(),
            }
            .into());
        }
        if store.meta.signed {
            return Ok((store, None));
        }
        drop(store);
        let renamed = path.with_file_name(format!("{session}.unsigned-{}.canopy", now_ms()));
        std::fs::rename(&path, &renamed).with_context(|| {
            format!("setting {} aside as {}", path.display(), renamed.display())
        })?;
        tracing::warn!(
            file = %renamed.display(),
            "this session's file is from before signed authorship: set aside (a host imports its drawing as its own)"
        );
        aside = Some(renamed);
    }
    let meta = Meta {
        session: *session,
        node: me,
        created_ms: now_ms(),
        title: String::new(),
        signed: true,
    };
    Ok((Store::create(&path, &meta)?, aside))
}

/// The authors table of a session as its file keeps it, with this node's authority.
pub fn load_authors(
    store: &Store,
    session: SessionId,
    own: Option<&canopy_protocol::Authority>,
) -> Result<SharedAuthors> {
    let authors = Authors::shared(session);
    {
        let mut table = Authors::write(&authors);
        table.restore(&store.logs()?);
        if let Some(own) = own {
            table
                .learn(own)
                .map_err(|e| anyhow!("this node's authority does not verify: {e}"))?;
        }
    }
    Ok(authors)
}

/// A file's document and authors table made to agree: `document` without the ops of
/// authors the table holds proof against (kept in the file), which is what every
/// replica that has the proof shows; and each author's log told where it stands
/// towards the stroke rule (inside a stroke, or right after one's end), which the
/// file's signed heads alone do not say.
pub fn reconcile(authors: &SharedAuthors, mut document: Document) -> Document {
    let mut table = Authors::write(authors);
    for author in table.cut_off() {
        document = document.without_author(author);
    }
    table.take_stroke_rules(&document);
    document
}

/// [`reconcile`] for a blind session's ops, held unread.
pub fn reconcile_blind(authors: &SharedAuthors, mut held: OpaqueReplica) -> OpaqueReplica {
    let mut table = Authors::write(authors);
    for author in table.cut_off() {
        held.without_author(author);
    }
    table.take_stroke_rules(&held);
    held
}

/// Makes the ops `source` holds (those that arrived before `until_ms`) this node's
/// own: applied to `document` in clock order, signed, committed to `authors` and
/// written to `store`. `reauthor` remembers old ids, so ops replayed later that refer
/// to them follow. Returns how many ops were made.
pub fn import_file(
    source: &Store,
    until_ms: u64,
    store: &mut Store,
    document: &mut Document,
    authors: &SharedAuthors,
    key: &Ed25519KeyPair,
    reauthor: &mut Reauthor,
) -> Result<usize> {
    let from = source.document_as_of(until_ms, NodeId(0))?;
    let mut ops = from.ops_missing_from(&VersionVector::new());
    ops.sort_by_key(|op| (op.lamport, op.id));
    let me = document.local_node();
    let (session, tip, authority) = {
        let table = Authors::read(authors);
        (
            *table.session(),
            table.tip(me),
            table.authority(me).cloned(),
        )
    };
    let (tip, authority) = match (tip, authority) {
        (Some(tip), Some(authority)) if tip.role == Role::Editor => (tip, authority),
        _ => {
            return Err(anyhow!(
                "only an editor of the session can import a drawing into it"
            ))
        }
    };
    let mut made = Vec::with_capacity(ops.len());
    for op in &ops {
        made.extend(
            reauthor
                .adopt(document, op)
                .with_context(|| format!("importing {}", source.path().display()))?,
        );
    }
    // No stroke of the import is left open: the importer's next op may be anything.
    made.extend(reauthor.finish(document)?);
    made.extend(reauthor.follow_page_order(document, &from.pages())?);
    let mut signer = Signer::from_tail(session, tip.key, tip.tail);
    let (wires, verified) = signer.sign_batch(key, &made)?;
    let now = now_ms();
    let timed: Vec<(u64, WireOp)> = wires.into_iter().map(|wire| (now, wire)).collect();
    let signed = Authors::write(authors).commit(me, verified);
    store.append_log(&timed, &signed, &[(me, authority.to_bytes())])?;
    Ok(made.len())
}
