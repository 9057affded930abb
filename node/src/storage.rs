//! `.canopy` files: one SQLite database (WAL) per session, holding the op log with
//! each op's arrival time and the session's metadata. It is the document, the autosave
//! and the recording at once. The schema is in `docs/FILE-FORMAT.md`.
//!
//! A file is checked before anything is written to it: one that is not a Canopy
//! document, is damaged or truncated, or comes from a newer format is refused with a
//! clear error and left exactly as it was.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use canopy_canvas::{Document, NodeId, OpId};
use canopy_protocol::{Head, SessionId, Signature, WireOp};
use rusqlite::config::DbConfig;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

/// `PRAGMA application_id` of Canopy files ("CNPY").
pub const APPLICATION_ID: i32 = 0x434E_5059;

/// The format this build writes; older ones are migrated forward when opened.
/// 6: logs may hold sealed strokes (builds of format 5 refuse them).
pub const FORMAT_VERSION: i32 = 6;

/// Why a file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such file.
    #[error("{0} does not exist")]
    Missing(PathBuf),
    /// Not SQLite, or SQLite but not Canopy's.
    #[error("{0} is not a Canopy document")]
    NotCanopy(PathBuf),
    /// Written by a newer Canopy.
    #[error("{path} was written by a newer Canopy (format {found}; this build reads up to {FORMAT_VERSION})")]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its format version.
        found: i32,
    },
    /// Damaged or cut short.
    #[error("{path} is damaged or truncated: {reason}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        reason: String,
    },
    /// Holds another session than expected.
    #[error("{path} holds session {found}, not {expected}")]
    WrongSession {
        /// The file.
        path: PathBuf,
        /// What it holds.
        found: String,
        /// What was expected.
        expected: String,
    },
    /// Any other SQLite failure (disk full, permissions, …).
    #[error("{path}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: rusqlite::Error,
    },
}

/// What a file says about its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The session.
    pub session: SessionId,
    /// The document identity of the node that writes this file.
    pub node: NodeId,
    /// When the file was created (Unix milliseconds).
    pub created_ms: u64,
    /// A title, if given.
    pub title: String,
    /// True if its ops are signed by their authors (format 3 on, made so); false for
    /// a file from before signing, whose ops can only be imported.
    pub signed: bool,
}

/// A signed head kept for an author's op: `(op, head, signature)`.
pub type KeptSignature = (OpId, Head, Signature);

/// What a batch changes in the signed heads a file keeps: heads to keep, and heads
/// kept before that are no longer needed (their authors' logs thin what they keep
/// to checkpoints, ends, and one head a span of bytes: `AuthorLog::accept`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignedHeads {
    /// Signed heads to keep.
    pub kept: Vec<KeptSignature>,
    /// Signed heads to drop (written before, or in the same batch).
    pub forgotten: Vec<OpId>,
}

impl SignedHeads {
    /// True if nothing changes.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.forgotten.is_empty()
    }

    /// Adds a later batch's changes.
    pub fn extend(&mut self, later: SignedHeads) {
        self.kept.extend(later.kept);
        self.forgotten.extend(later.forgotten);
    }
}

/// Where a revoked author's log now ends: its last op kept (0: none) and the
/// author's signed head there, if anything is kept.
pub type CutLog = (NodeId, u64, Option<(Head, Signature)>);

/// An author's log as a file keeps it: its authority (bincode) and kept signed heads.
#[derive(Debug, Default)]
pub struct StoredLogs {
    /// Authorities of the file's authors, bincode of `canopy_protocol::Authority`.
    pub authorities: Vec<Vec<u8>>,
    /// Signed heads kept: checkpoints and each author's last.
    pub signed: Vec<KeptSignature>,
    /// Proof against authors that split their logs, bincode of
    /// `canopy_protocol::Evidence`.
    pub evidence: Vec<Vec<u8>>,
}

/// An open, checked `.canopy` file.
pub struct Store {
    path: PathBuf,
    connection: Connection,
    /// The file's metadata.
    pub meta: Meta,
    /// True for a file read as it is from before format 4, whose payloads code
    /// actions as protocol 4 did: they are read with the old decoder and handed out
    /// in the current encoding.
    legacy_payloads: bool,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Where a node keeps the file of `session`.
pub fn session_file(data: &Path, session: &SessionId) -> PathBuf {
    data.join("sessions").join(format!("{session}.canopy"))
}

fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| {
        let reason = source.to_string();
        if reason.contains("malformed")
            || reason.contains("not a database")
            || reason.contains("disk image")
        {
            StoreError::Damaged {
                path: path.to_path_buf(),
                reason,
            }
        } else {
            StoreError::Sqlite {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// Largest op payload or audio packet a file may hold: what a peer could send in one
/// frame. A file with a larger one is refused instead of read into memory.
pub const MAX_ROW_BYTES: i64 = canopy_protocol::MAX_FRAME as i64;

/// Opens `path` as a `.canopy` file may be opened, whoever made it: SQLite's
/// defensive mode (no writes to the schema or shadow tables through SQL) and an
/// untrusted schema (views and triggers may not call functions with side effects).
fn connect(path: &Path, flags: Option<OpenFlags>) -> Result<Connection, StoreError> {
    let connection = match flags {
        Some(flags) => Connection::open_with_flags(path, flags),
        None => Connection::open(path),
    }
    .map_err(sqlite(path))?;
    for (setting, on) in [
        (DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true),
        (DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false),
    ] {
        connection
            .set_db_config(setting, on)
            .map_err(sqlite(path))?;
    }
    Ok(connection)
}

/// Flags for reading a file without ever writing to it.
const READ_ONLY: OpenFlags =
    OpenFlags::SQLITE_OPEN_READ_ONLY.union(OpenFlags::SQLITE_OPEN_NO_MUTEX);

/// Checks a file without writing to it; returns its format version.
fn check(path: &Path) -> Result<i32, StoreError> {
    let connection = connect(path, Some(READ_ONLY))?;
    let application: i32 = match connection.query_row("PRAGMA application_id", [], |r| r.get(0)) {
        Ok(id) => id,
        Err(error) if error.to_string().contains("not a database") => {
            return Err(StoreError::NotCanopy(path.to_path_buf()))
        }
        Err(error) => return Err(sqlite(path)(error)),
    };
    if application != APPLICATION_ID {
        return Err(StoreError::NotCanopy(path.to_path_buf()));
    }
    let version: i32 = connection
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sqlite(path))?;
    if version > FORMAT_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: version,
        });
    }
    let verdict: String = connection
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(sqlite(path))?;
    if verdict != "ok" {
        return Err(StoreError::Damaged {
            path: path.to_path_buf(),
            reason: verdict,
        });
    }
    let damaged = |reason: String| StoreError::Damaged {
        path: path.to_path_buf(),
        reason,
    };
    // Canopy never writes views or triggers: a file with any was made to run them.
    let code: i64 = connection
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type IN ('view', 'trigger')",
            [],
            |r| r.get(0),
        )
        .map_err(sqlite(path))?;
    if code > 0 {
        return Err(damaged(
            "it holds views or triggers, which Canopy files never do".into(),
        ));
    }
    let mut largest = "SELECT coalesce(max(length(payload)), 0) FROM ops".to_string();
    if version >= 2 {
        largest = format!(
            "SELECT max(({largest}), (SELECT coalesce(max(length(packet)), 0) FROM audio))"
        );
    }
    let largest: i64 = connection
        .query_row(&largest, [], |r| r.get(0))
        .map_err(sqlite(path))?;
    if largest > MAX_ROW_BYTES {
        return Err(damaged(format!(
            "a row of {largest} bytes (at most {MAX_ROW_BYTES})"
        )));
    }
    Ok(version)
}

impl Store {
    /// Opens an existing file to read it only (exports, inspection).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        Self::missing(path)?;
        let version = check(path)?;
        let connection = connect(path, Some(READ_ONLY))?;
        let meta = read_meta(&connection, path)?;
        Ok(Store {
            path: path.to_path_buf(),
            connection,
            meta,
            legacy_payloads: version < 4,
        })
    }

    fn missing(path: &Path) -> Result<(), StoreError> {
        if path.exists() {
            Ok(())
        } else {
            Err(StoreError::Missing(path.to_path_buf()))
        }
    }

    /// Opens an existing file (checked first, never changed if refused).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::missing(path)?;
        let version = check(path)?;
        let connection = connect(path, None)?;
        configure(&connection, path)?;
        migrate(&connection, path, version)?;
        let meta = read_meta(&connection, path)?;
        Ok(Store {
            path: path.to_path_buf(),
            connection,
            meta,
            legacy_payloads: false,
        })
    }

    /// Creates a new file for a session.
    pub fn create(path: &Path, meta: &Meta) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Sqlite {
                path: path.to_path_buf(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        }
        let connection = connect(path, None)?;
        configure(&connection, path)?;
        connection
            .execute_batch(&format!(
                "BEGIN;
                 PRAGMA application_id = {APPLICATION_ID};
                 PRAGMA user_version = {FORMAT_VERSION};
                 CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 CREATE TABLE ops (
                     node INTEGER NOT NULL, seq INTEGER NOT NULL, lamport INTEGER NOT NULL,
                     arrived_ms INTEGER NOT NULL, payload BLOB NOT NULL,
                     PRIMARY KEY (node, seq)) WITHOUT ROWID;
                 CREATE INDEX ops_by_arrival ON ops (arrived_ms, node, seq);
                 CREATE TABLE participants (
                     node INTEGER PRIMARY KEY, name TEXT NOT NULL,
                     first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL);
                 {AUDIO_TABLE}
                 {LOG_TABLES}
                 COMMIT;"
            ))
            .map_err(sqlite(path))?;
        let mut insert = connection
            .prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")
            .map_err(sqlite(path))?;
        for (key, value) in [
            ("session", meta.session.to_string()),
            ("node", meta.node.0.to_string()),
            ("created_ms", meta.created_ms.to_string()),
            ("title", meta.title.clone()),
            ("signed", if meta.signed { "1" } else { "0" }.to_string()),
        ] {
            insert.execute(params![key, value]).map_err(sqlite(path))?;
        }
        drop(insert);
        Ok(Store {
            path: path.to_path_buf(),
            connection,
            meta: meta.clone(),
            legacy_payloads: false,
        })
    }

    /// Writes a consistent copy of this file to `to` (SQLite's `VACUUM INTO`: a
    /// snapshot even while the node keeps writing). Refuses to overwrite a file.
    pub fn copy_to(&self, to: &Path) -> Result<(), StoreError> {
        if to.exists() {
            return Err(StoreError::Sqlite {
                path: to.to_path_buf(),
                source: rusqlite::Error::ToSqlConversionFailure(
                    format!("{} exists already", to.display()).into(),
                ),
            });
        }
        self.connection
            .execute("VACUUM INTO ?1", [to.to_string_lossy()])
            .map_err(sqlite(to))?;
        Ok(())
    }

    /// When the recording starts: the first op or audio packet, if any.
    pub fn first_arrival(&self) -> Result<Option<u64>, StoreError> {
        let first = |sql: &str| {
            self.connection
                .query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
                .map(|v| v.map(|ms| ms as u64))
                .map_err(sqlite(&self.path))
        };
        let op = first("SELECT MIN(arrived_ms) FROM ops")?;
        let audio = if self.has_audio_table()? {
            first("SELECT MIN(at_ms) FROM audio")?
        } else {
            None
        };
        Ok(op.into_iter().chain(audio).min())
    }

    /// Whether the file has the audio table (format 2 on; a format-1 file read
    /// without migrating has not).
    fn has_audio_table(&self) -> Result<bool, StoreError> {
        self.connection
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'audio'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(sqlite(&self.path))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of ops stored.
    pub fn op_count(&self) -> Result<u64, StoreError> {
        self.connection
            .query_row("SELECT COUNT(*) FROM ops", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(sqlite(&self.path))
    }

    /// Stored ops that arrived in `[from_ms, until_ms)`, in order of arrival (the
    /// arrival index makes a seek read only what it needs).
    pub fn ops_between(
        &self,
        from_ms: u64,
        until_ms: u64,
    ) -> Result<Vec<(u64, WireOp)>, StoreError> {
        self.select(
            "SELECT node, seq, lamport, arrived_ms, payload FROM ops
             WHERE arrived_ms >= ?1 AND arrived_ms < ?2 ORDER BY arrived_ms, node, seq",
            from_ms,
            until_ms,
        )
    }

    /// Up to `limit` ops that arrived from `from_ms` on, after `after` (the last of
    /// the previous page) in arrival order: a recording read a page at a time, so
    /// playing it holds one page, not the file. Empty when there are no more.
    pub fn ops_page(
        &self,
        from_ms: u64,
        after: Option<(u64, OpId)>,
        limit: usize,
    ) -> Result<Vec<(u64, WireOp)>, StoreError> {
        let clamp = |ms: u64| i64::try_from(ms).unwrap_or(i64::MAX);
        // Ids are stored as i64 (their bits): the order is SQLite's, on those.
        let (at, node, seq) = after.map_or((i64::MIN, i64::MIN, i64::MIN), |(at, id)| {
            (clamp(at), id.node.0 as i64, id.seq as i64)
        });
        let mut query = self
            .connection
            .prepare_cached(
                "SELECT node, seq, lamport, arrived_ms, payload FROM ops
                 WHERE arrived_ms >= ?1 AND (arrived_ms, node, seq) > (?2, ?3, ?4)
                 ORDER BY arrived_ms, node, seq LIMIT ?5",
            )
            .map_err(sqlite(&self.path))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = query
            .query_map(params![clamp(from_ms), at, node, seq, limit], timed_op)
            .map_err(sqlite(&self.path))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map(|ops| self.in_current_encoding(ops))
            .map_err(sqlite(&self.path))
    }

    /// `ops` with their payloads in the current encoding: those of a file read from
    /// before format 4 are decoded as they were coded then and coded again (one that
    /// does not decode is left as it is, and is reported where it is used).
    fn in_current_encoding(&self, mut ops: Vec<(u64, WireOp)>) -> Vec<(u64, WireOp)> {
        if self.legacy_payloads {
            for (_, wire) in &mut ops {
                if let Ok(op) = wire.to_op_legacy() {
                    wire.payload = WireOp::from_op(&op).payload;
                }
            }
        }
        ops
    }

    /// Up to `limit` audio packets recorded from `from_ms` on, after row
    /// `after_row`, in recording order: `(row, at_ms, packet)`. Empty when there are
    /// no more (or the file has no audio).
    pub fn audio_page(
        &self,
        from_ms: u64,
        after_row: i64,
        limit: usize,
    ) -> Result<Vec<(i64, u64, Vec<u8>)>, StoreError> {
        if !self.has_audio_table()? {
            return Ok(Vec::new());
        }
        let mut query = self
            .connection
            .prepare_cached(
                "SELECT rowid, at_ms, packet FROM audio WHERE rowid > ?1 AND at_ms >= ?2
                 ORDER BY rowid LIMIT ?3",
            )
            .map_err(sqlite(&self.path))?;
        let from = i64::try_from(from_ms).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = query
            .query_map(params![after_row, from, limit], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)? as u64,
                    row.get::<_, Vec<u8>>(2)?,
                ))
            })
            .map_err(sqlite(&self.path))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(sqlite(&self.path))
    }

    /// Every op that arrived before `until_ms`, in storage order: the document as it
    /// was then (ops merge in any order), read in one sequential pass — what seeking
    /// needs, faster than [`Store::ops_between`]'s arrival order.
    pub fn ops_before(&self, until_ms: u64) -> Result<Vec<(u64, WireOp)>, StoreError> {
        self.select(
            "SELECT node, seq, lamport, arrived_ms, payload FROM ops NOT INDEXED
             WHERE arrived_ms >= ?1 AND arrived_ms < ?2",
            0,
            until_ms,
        )
    }

    fn select(
        &self,
        sql: &str,
        from_ms: u64,
        until_ms: u64,
    ) -> Result<Vec<(u64, WireOp)>, StoreError> {
        let mut query = self.connection.prepare(sql).map_err(sqlite(&self.path))?;
        let clamp = |ms: u64| i64::try_from(ms).unwrap_or(i64::MAX);
        let rows = query
            .query_map([clamp(from_ms), clamp(until_ms)], timed_op)
            .map_err(sqlite(&self.path))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map(|ops| self.in_current_encoding(ops))
            .map_err(sqlite(&self.path))
    }

    /// The document the file holds (ops that do not decode or apply are reported).
    pub fn document(&self) -> Result<Document, StoreError> {
        self.load(u64::MAX, self.meta.node)
    }

    /// The document as it was at `until_ms` of the recording's clock (every op that
    /// arrived before then: they merge in any order), owned by `node`. What seeking
    /// into a recording needs.
    pub fn document_as_of(&self, until_ms: u64, node: NodeId) -> Result<Document, StoreError> {
        self.load(until_ms, node)
    }

    /// The ops stored, held as their authors signed them and read no further than
    /// their headers: what a blind session starts from. A file whose payloads are
    /// coded the old way (format 3) cannot be held so: it is refused with why.
    pub fn held_ops(&self) -> Result<canopy_protocol::OpaqueReplica, StoreError> {
        if self.legacy_payloads {
            return Err(StoreError::Damaged {
                path: self.path.clone(),
                reason: "its ops are coded as before protocol 5, which only a node that \
                         reads them can take (open it with canopy, not a blind relay)"
                    .into(),
            });
        }
        let path = &self.path;
        let connection = connect(path, Some(READ_ONLY))?;
        let mut query = connection
            .prepare("SELECT node, seq, lamport, payload FROM ops NOT INDEXED")
            .map_err(sqlite(path))?;
        let mut rows = query.query([]).map_err(sqlite(path))?;
        let mut held = canopy_protocol::OpaqueReplica::new();
        while let Some(row) = rows.next().map_err(sqlite(path))? {
            let wire = WireOp {
                id: OpId {
                    node: NodeId(row.get::<_, i64>(0).map_err(sqlite(path))? as u64),
                    seq: row.get::<_, i64>(1).map_err(sqlite(path))? as u64,
                },
                lamport: row.get::<_, i64>(2).map_err(sqlite(path))? as u64,
                payload: row.get(3).map_err(sqlite(path))?,
                signature: None,
            };
            let shape = canopy_protocol::shape_of(wire.id, &wire.payload).map_err(|error| {
                StoreError::Damaged {
                    path: path.clone(),
                    reason: format!("op {} cannot be read: {error}", wire.id),
                }
            })?;
            held.take(&wire, shape);
        }
        Ok(held)
    }

    /// Builds a document from the ops that arrived before `until_ms`, on two cores: a
    /// second, read-only connection reads them in storage order (one sequential
    /// pass; they merge in any order) and decodes them on another thread, while this
    /// one applies them as they come.
    fn load(&self, until_ms: u64, node: NodeId) -> Result<Document, StoreError> {
        /// Ops handed over at a time.
        const CHUNK: usize = 4096;
        type Decoded = (OpId, Result<canopy_canvas::Op, String>);
        let path = self.path.clone();
        let legacy = self.legacy_payloads;
        let until = i64::try_from(until_ms).unwrap_or(i64::MAX);
        let mut document = Document::new(node);
        std::thread::scope(|scope| {
            let (chunks, received) = std::sync::mpsc::sync_channel::<Vec<Decoded>>(8);
            let reader = scope.spawn(move || -> Result<(), StoreError> {
                let connection = connect(&path, Some(READ_ONLY))?;
                let mut query = connection
                    .prepare(
                        "SELECT node, seq, lamport, payload FROM ops NOT INDEXED WHERE arrived_ms < ?1",
                    )
                    .map_err(sqlite(&path))?;
                let mut rows = query.query([until]).map_err(sqlite(&path))?;
                let mut chunk = Vec::with_capacity(CHUNK);
                while let Some(row) = rows.next().map_err(sqlite(&path))? {
                    let wire = WireOp {
                        id: OpId {
                            node: NodeId(row.get::<_, i64>(0).map_err(sqlite(&path))? as u64),
                            seq: row.get::<_, i64>(1).map_err(sqlite(&path))? as u64,
                        },
                        lamport: row.get::<_, i64>(2).map_err(sqlite(&path))? as u64,
                        payload: row.get(3).map_err(sqlite(&path))?,
                        signature: None,
                    };
                    let op = if legacy {
                        wire.to_op_legacy()
                    } else {
                        wire.to_op()
                    };
                    chunk.push((wire.id, op.map_err(|e| e.to_string())));
                    if chunk.len() == CHUNK
                        && chunks
                            .send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))
                            .is_err()
                    {
                        return Ok(()); // the applier stopped at a bad op
                    }
                }
                let _ = chunks.send(chunk);
                Ok(())
            });
            let mut bad = None;
            'chunks: for chunk in received {
                for (id, op) in chunk {
                    let applied = op.and_then(|op| document.apply(op).map_err(|e| e.to_string()));
                    if let Err(reason) = applied {
                        bad = Some(StoreError::Damaged {
                            path: self.path.clone(),
                            reason: format!("op {id} cannot be read: {reason}"),
                        });
                        break 'chunks;
                    }
                }
            }
            // Reading reports errors, it does not panic; if it ever did, say so as is.
            let read = reader
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            match bad {
                Some(error) => Err(error),
                None => read,
            }
        })?;
        Ok(document)
    }

    /// Appends ops in one transaction (ops already stored are skipped).
    pub fn append(&mut self, batch: &[(u64, WireOp)]) -> Result<(), StoreError> {
        self.append_log(batch, &SignedHeads::default(), &[])
    }

    /// Appends ops, the signed heads kept for them and authors' authorities, in one
    /// transaction, so a file never holds an op past its author's last kept
    /// signature. Heads the batch forgets are dropped after its heads are written.
    pub fn append_log(
        &mut self,
        batch: &[(u64, WireOp)],
        signed: &SignedHeads,
        authors: &[(NodeId, Vec<u8>)],
    ) -> Result<(), StoreError> {
        self.append_all(batch, signed, authors, &[])
    }

    /// [`Store::append_log`], and proof against authors that split their logs.
    pub fn append_all(
        &mut self,
        batch: &[(u64, WireOp)],
        signed: &SignedHeads,
        authors: &[(NodeId, Vec<u8>)],
        evidence: &[(NodeId, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let transaction = self.connection.transaction().map_err(sqlite(&path))?;
        {
            let mut insert = transaction
                .prepare_cached(
                    "INSERT OR IGNORE INTO ops (node, seq, lamport, arrived_ms, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(sqlite(&path))?;
            for (arrived, op) in batch {
                insert
                    .execute(params![
                        op.id.node.0 as i64,
                        op.id.seq as i64,
                        op.lamport as i64,
                        *arrived as i64,
                        op.payload
                    ])
                    .map_err(sqlite(&path))?;
            }
            let mut author = transaction
                .prepare_cached("INSERT OR REPLACE INTO authors (node, authority) VALUES (?1, ?2)")
                .map_err(sqlite(&path))?;
            for (node, authority) in authors {
                author
                    .execute(params![node.0 as i64, authority])
                    .map_err(sqlite(&path))?;
            }
            let mut proof = transaction
                .prepare_cached("INSERT OR IGNORE INTO evidence (node, evidence) VALUES (?1, ?2)")
                .map_err(sqlite(&path))?;
            for (node, bytes) in evidence {
                proof
                    .execute(params![node.0 as i64, bytes])
                    .map_err(sqlite(&path))?;
            }
            let mut keep = transaction
                .prepare_cached(
                    "INSERT OR REPLACE INTO signatures (node, seq, head, signature) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(sqlite(&path))?;
            for (op, head, signature) in &signed.kept {
                let (node, seq) = (op.node.0 as i64, op.seq as i64);
                keep.execute(params![node, seq, &head.0[..], &signature.to_bytes()[..]])
                    .map_err(sqlite(&path))?;
            }
            let mut forget = transaction
                .prepare_cached("DELETE FROM signatures WHERE node = ?1 AND seq = ?2")
                .map_err(sqlite(&path))?;
            for op in &signed.forgotten {
                forget
                    .execute(params![op.node.0 as i64, op.seq as i64])
                    .map_err(sqlite(&path))?;
            }
        }
        transaction.commit().map_err(sqlite(&path))
    }

    /// Ends revoked authors' logs in the file as the document ends them: their ops
    /// past each cut-off leave it (so exports, copies and replays of the file do not
    /// bring them back), with signed heads past it, and the signed head at the
    /// cut-off is kept so the log still ends at a signed op. One transaction.
    pub fn cut_logs(&mut self, cuts: &[CutLog]) -> Result<(), StoreError> {
        if cuts.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let transaction = self.connection.transaction().map_err(sqlite(&path))?;
        {
            let mut ops = transaction
                .prepare_cached("DELETE FROM ops WHERE node = ?1 AND seq > ?2")
                .map_err(sqlite(&path))?;
            let mut signatures = transaction
                .prepare_cached("DELETE FROM signatures WHERE node = ?1 AND seq > ?2")
                .map_err(sqlite(&path))?;
            let mut keep = transaction
                .prepare_cached(
                    "INSERT OR REPLACE INTO signatures (node, seq, head, signature) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(sqlite(&path))?;
            for (node, last, signed) in cuts {
                let (node, last) = (node.0 as i64, i64::try_from(*last).unwrap_or(i64::MAX));
                ops.execute(params![node, last]).map_err(sqlite(&path))?;
                signatures
                    .execute(params![node, last])
                    .map_err(sqlite(&path))?;
                if let Some((head, signature)) = signed {
                    keep.execute(params![node, last, &head.0[..], &signature.to_bytes()[..]])
                        .map_err(sqlite(&path))?;
                }
            }
        }
        transaction.commit().map_err(sqlite(&path))
    }

    /// The authors' authorities and the signed heads the file keeps (none in a file
    /// from before format 3). Rows of the wrong size are reported as damage.
    pub fn logs(&self) -> Result<StoredLogs, StoreError> {
        let mut logs = StoredLogs::default();
        let has_tables: i64 = self
            .connection
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('authors', 'signatures', 'evidence')",
                [],
                |r| r.get(0),
            )
            .map_err(sqlite(&self.path))?;
        if has_tables < 3 {
            return Ok(logs);
        }
        let damaged = |what: &str| StoreError::Damaged {
            path: self.path.clone(),
            reason: format!("a kept signature has a {what} of the wrong size"),
        };
        let mut query = self
            .connection
            .prepare("SELECT authority FROM authors ORDER BY node")
            .map_err(sqlite(&self.path))?;
        let rows = query
            .query_map([], |row| row.get::<_, Vec<u8>>(0))
            .map_err(sqlite(&self.path))?;
        for row in rows {
            logs.authorities.push(row.map_err(sqlite(&self.path))?);
        }
        let mut query = self
            .connection
            .prepare("SELECT evidence FROM evidence ORDER BY node")
            .map_err(sqlite(&self.path))?;
        let rows = query
            .query_map([], |row| row.get::<_, Vec<u8>>(0))
            .map_err(sqlite(&self.path))?;
        for row in rows {
            logs.evidence.push(row.map_err(sqlite(&self.path))?);
        }
        let mut query = self
            .connection
            .prepare("SELECT node, seq, head, signature FROM signatures ORDER BY node, seq")
            .map_err(sqlite(&self.path))?;
        let mut rows = query.query([]).map_err(sqlite(&self.path))?;
        while let Some(row) = rows.next().map_err(sqlite(&self.path))? {
            let node = NodeId(row.get::<_, i64>(0).map_err(sqlite(&self.path))? as u64);
            let seq = row.get::<_, i64>(1).map_err(sqlite(&self.path))? as u64;
            let head: Vec<u8> = row.get(2).map_err(sqlite(&self.path))?;
            let signature: Vec<u8> = row.get(3).map_err(sqlite(&self.path))?;
            let head: [u8; 32] = head.try_into().map_err(|_| damaged("head"))?;
            if signature.len() != 64 {
                return Err(damaged("signature"));
            }
            let mut r = [0u8; 32];
            let mut s = [0u8; 32];
            r.copy_from_slice(&signature[..32]);
            s.copy_from_slice(&signature[32..]);
            logs.signed
                .push((OpId { node, seq }, Head(head), Signature { r, s }));
        }
        Ok(logs)
    }

    /// Copies the audio of another checked `.canopy` file into this one, in one
    /// transaction, inside SQLite (nothing is decoded): packets heard before
    /// `until_ms`, with their own times. (Its ops come in as the importer's own signed
    /// ops, through the document.)
    pub fn import_audio_from(&mut self, source: &Store, until_ms: u64) -> Result<(), StoreError> {
        if !source.has_audio_table()? {
            return Ok(());
        }
        let path = self.path.clone();
        // A URI, read-only, so the source cannot be changed; %, ? and # escaped.
        let mut uri = String::from("file:");
        for c in source.path().to_string_lossy().chars() {
            match c {
                '%' => uri.push_str("%25"),
                '?' => uri.push_str("%3f"),
                '#' => uri.push_str("%23"),
                c => uri.push(c),
            }
        }
        uri.push_str("?mode=ro");
        let until = i64::try_from(until_ms).unwrap_or(i64::MAX);
        self.connection
            .execute("ATTACH DATABASE ?1 AS source", [&uri])
            .map_err(sqlite(&path))?;
        let copied = (|| {
            let transaction = self.connection.transaction()?;
            transaction.execute(
                "INSERT INTO audio (at_ms, packet)
                 SELECT at_ms, packet FROM source.audio WHERE at_ms < ?1 ORDER BY at_ms",
                params![until],
            )?;
            transaction.commit()
        })();
        let detached = self.connection.execute("DETACH DATABASE source", []);
        copied.map_err(sqlite(&path))?;
        detached.map_err(sqlite(&path))?;
        Ok(())
    }

    /// Appends audio packets `(at_ms, Opus packet)` in one transaction.
    pub fn append_audio(&mut self, packets: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        if packets.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let transaction = self.connection.transaction().map_err(sqlite(&path))?;
        {
            let mut insert = transaction
                .prepare_cached("INSERT INTO audio (at_ms, packet) VALUES (?1, ?2)")
                .map_err(sqlite(&path))?;
            for (at, packet) in packets {
                insert
                    .execute(params![*at as i64, packet])
                    .map_err(sqlite(&path))?;
            }
        }
        transaction.commit().map_err(sqlite(&path))
    }

    /// The audio packets recorded from `from_ms` (inclusive) to `until_ms`, in time
    /// order. A file opened read-only in an older format has none.
    pub fn audio_between(
        &self,
        from_ms: u64,
        until_ms: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        if !self.has_audio_table()? {
            return Ok(Vec::new());
        }
        let mut statement = self
            .connection
            .prepare(
                "SELECT at_ms, packet FROM audio WHERE at_ms >= ?1 AND at_ms < ?2 ORDER BY at_ms, rowid",
            )
            .map_err(sqlite(&self.path))?;
        let rows = statement
            .query_map(
                params![
                    from_ms.min(i64::MAX as u64) as i64,
                    until_ms.min(i64::MAX as u64) as i64
                ],
                |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, Vec<u8>>(1)?)),
            )
            .map_err(sqlite(&self.path))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(sqlite(&self.path))
    }

    /// Records a participant seen in the session.
    pub fn saw_participant(
        &mut self,
        node: NodeId,
        name: &str,
        at_ms: u64,
    ) -> Result<(), StoreError> {
        self.connection
            .execute(
                "INSERT INTO participants (node, name, first_seen_ms, last_seen_ms) VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT (node) DO UPDATE SET name = excluded.name, last_seen_ms = excluded.last_seen_ms",
                params![node.0 as i64, name, at_ms as i64],
            )
            .map(|_| ())
            .map_err(sqlite(&self.path))
    }

    /// Runs SQLite's full integrity check.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.connection
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(sqlite(&self.path))
    }
}

/// `(arrived_ms, op)` from a row of `node, seq, lamport, arrived_ms, payload`.
fn timed_op(row: &rusqlite::Row<'_>) -> rusqlite::Result<(u64, WireOp)> {
    Ok((
        row.get::<_, i64>(3)? as u64,
        WireOp {
            id: OpId {
                node: NodeId(row.get::<_, i64>(0)? as u64),
                seq: row.get::<_, i64>(1)? as u64,
            },
            lamport: row.get::<_, i64>(2)? as u64,
            payload: row.get(4)?,
            signature: None,
        },
    ))
}

fn configure(connection: &Connection, path: &Path) -> Result<(), StoreError> {
    // WAL with full sync: a committed batch survives a crash or a power cut.
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(sqlite(path))
}

/// Format 2: the node's mixed audio, one Opus packet per 20 ms frame that was not
/// silent, stamped on the ops' clock (Unix ms) so playback keeps them in sync.
const AUDIO_TABLE: &str = "CREATE TABLE audio (at_ms INTEGER NOT NULL, packet BLOB NOT NULL);
     CREATE INDEX audio_by_time ON audio (at_ms);";

/// Format 3: what proves who made each op. `signatures` keeps, per author, the signed
/// head of every 256th op and of its last op (what a node needs to serve the log on);
/// `authors` keeps each author's authority (its grant chain from the session key).
const LOG_TABLES: &str = "CREATE TABLE signatures (
         node INTEGER NOT NULL, seq INTEGER NOT NULL,
         head BLOB NOT NULL, signature BLOB NOT NULL,
         PRIMARY KEY (node, seq)) WITHOUT ROWID;
     CREATE TABLE authors (node INTEGER PRIMARY KEY, authority BLOB NOT NULL);
     CREATE TABLE evidence (node INTEGER PRIMARY KEY, evidence BLOB NOT NULL);";

/// Brings an older format forward, in one transaction (a crash leaves the old one).
/// A file from before format 3 gains the log tables but stays unsigned: its ops have
/// no signatures, so it can be read and imported, not served as it is.
fn migrate(connection: &Connection, path: &Path, version: i32) -> Result<(), StoreError> {
    debug_assert!(version <= FORMAT_VERSION);
    if version < 2 {
        connection
            .execute_batch(&format!(
                "BEGIN; {AUDIO_TABLE} PRAGMA user_version = 2; COMMIT;"
            ))
            .map_err(sqlite(path))?;
        tracing::info!(file = %path.display(), "session file migrated from format {version} to 2");
    }
    if version < 3 {
        connection
            .execute_batch(&format!(
                "BEGIN; {LOG_TABLES} PRAGMA user_version = 3; COMMIT;"
            ))
            .map_err(sqlite(path))?;
        tracing::info!(file = %path.display(), "session file migrated to format 3 (its ops stay unsigned)");
    }
    if version < 4 {
        transcode_to_format_4(connection, path)?;
    }
    if version < 5 {
        check_stroke_rule_for_format_5(connection, path)?;
    }
    if version < 6 {
        // Nothing to change: older files hold no seals. The number keeps builds
        // that refuse seals from opening a file that may hold them.
        connection
            .execute_batch("PRAGMA user_version = 6;")
            .map_err(sqlite(path))?;
        tracing::info!(file = %path.display(), "session file migrated to format 6");
    }
    Ok(())
}

/// Format 5's logs keep the stroke rule (protocol 6): nothing of an author's lies
/// between its stroke's start and its last points or end but that stroke's ops.
/// Nodes before it signed logs that may not (an undo pressed mid-stroke), and every
/// checker now refuses those, so a node serving one could not be joined. A signed
/// file whose logs all keep the rule stays signed; one with a log that breaks it is
/// marked unsigned, in the same transaction: a host imports its drawing as its own
/// signed ops (which keep the rule), a joiner syncs again from its parent.
fn check_stroke_rule_for_format_5(connection: &Connection, path: &Path) -> Result<(), StoreError> {
    /// Ops read at a time.
    const BATCH: i64 = 10_000;
    let signed: Option<String> = connection
        .query_row("SELECT value FROM meta WHERE key = 'signed'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sqlite(path))?;
    connection.execute_batch("BEGIN;").map_err(sqlite(path))?;
    let checked = (|| -> Result<Option<OpId>, StoreError> {
        if signed.as_deref() != Some("1") {
            return Ok(None);
        }
        let mut read = connection
            .prepare(
                "SELECT node, seq, payload FROM ops WHERE (node, seq) > (?1, ?2)
                 ORDER BY node, seq LIMIT ?3",
            )
            .map_err(sqlite(path))?;
        let (mut node, mut seq) = (i64::MIN, i64::MIN);
        let mut rule = (NodeId(0), 0u64, canopy_canvas::StrokeRule::default());
        loop {
            let rows: Vec<(i64, i64, Vec<u8>)> = read
                .query_map(params![node, seq, BATCH], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .map_err(sqlite(path))?
                .collect::<Result<_, _>>()
                .map_err(sqlite(path))?;
            let Some(last) = rows.last() else {
                return Ok(None);
            };
            (node, seq) = (last.0, last.1);
            for (row_node, row_seq, payload) in rows {
                let id = OpId {
                    node: NodeId(row_node as u64),
                    seq: row_seq as u64,
                };
                if rule.0 != id.node || rule.1.checked_add(1) != Some(id.seq) {
                    // Another author, or past a gap: where the log stood is not known,
                    // so its next points count as continuing nothing.
                    rule = (id.node, id.seq.saturating_sub(1), Default::default());
                }
                // A payload that does not decode breaks nothing here (a load reports it).
                let shape = canopy_protocol::decode_action(id, &payload)
                    .map_or(canopy_canvas::Shape::Other, |action| {
                        canopy_canvas::Shape::of(&action)
                    });
                if rule.2.step(id.seq, shape).is_err() {
                    return Ok(Some(id));
                }
                rule.1 = id.seq;
            }
        }
    })();
    let broken = match checked {
        Ok(broken) => broken,
        Err(error) => {
            let _ = connection.execute_batch("ROLLBACK;");
            return Err(error);
        }
    };
    let mark = if broken.is_some() {
        "DELETE FROM signatures; UPDATE meta SET value = '0' WHERE key = 'signed';"
    } else {
        ""
    };
    let done = connection.execute_batch(&format!("{mark} PRAGMA user_version = 5; COMMIT;"));
    if let Err(error) = done {
        let _ = connection.execute_batch("ROLLBACK;");
        return Err(sqlite(path)(error));
    }
    match broken {
        Some(op) => tracing::warn!(
            file = %path.display(),
            %op,
            "session file migrated to format 5: op {op} breaks the stroke rule (another op came between a stroke's start and its points or end), so its drawing can only be imported"
        ),
        None => tracing::info!(file = %path.display(), "session file migrated to format 5"),
    }
    Ok(())
}

/// Format 4 codes an op's references to its author's own ops as how far back they
/// are (protocol 5). A file's payloads are coded again, in one transaction; the
/// signatures over the old bytes then prove nothing, so they go and the file is
/// marked unsigned: a host imports its drawing as its own signed ops, a joiner syncs
/// again from its parent (`import::open_session`). A payload that does not decode is
/// left as it is (a load reports it).
fn transcode_to_format_4(connection: &Connection, path: &Path) -> Result<(), StoreError> {
    /// Ops read and written at a time.
    const BATCH: i64 = 10_000;
    let total: i64 = connection
        .query_row("SELECT count(*) FROM ops", [], |r| r.get(0))
        .map_err(sqlite(path))?;
    connection.execute_batch("BEGIN;").map_err(sqlite(path))?;
    let transcoded = (|| -> Result<u64, StoreError> {
        let mut read = connection
            .prepare(
                "SELECT node, seq, payload FROM ops WHERE (node, seq) > (?1, ?2)
                 ORDER BY node, seq LIMIT ?3",
            )
            .map_err(sqlite(path))?;
        let mut write = connection
            .prepare("UPDATE ops SET payload = ?3 WHERE node = ?1 AND seq = ?2")
            .map_err(sqlite(path))?;
        let (mut node, mut seq) = (i64::MIN, i64::MIN);
        let mut done = 0u64;
        loop {
            let rows: Vec<(i64, i64, Vec<u8>)> = read
                .query_map(params![node, seq, BATCH], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .map_err(sqlite(path))?
                .collect::<Result<_, _>>()
                .map_err(sqlite(path))?;
            let Some(last) = rows.last() else {
                break;
            };
            (node, seq) = (last.0, last.1);
            for (row_node, row_seq, payload) in rows {
                let id = OpId {
                    node: NodeId(row_node as u64),
                    seq: row_seq as u64,
                };
                let Ok(action) = canopy_protocol::decode_legacy_action(&payload) else {
                    continue;
                };
                let coded = canopy_protocol::encode_action(id, &action);
                write
                    .execute(params![row_node, row_seq, coded])
                    .map_err(sqlite(path))?;
            }
            done += BATCH as u64;
            if total > BATCH {
                tracing::info!(
                    file = %path.display(),
                    ops = done.min(total as u64),
                    of = total,
                    "coding the file's ops as format 4 does"
                );
            }
        }
        connection
            .execute_batch(
                "DELETE FROM signatures;
                 UPDATE meta SET value = '0' WHERE key = 'signed';
                 PRAGMA user_version = 4;",
            )
            .map_err(sqlite(path))?;
        Ok(total as u64)
    })();
    match transcoded {
        Ok(ops) => {
            connection.execute_batch("COMMIT;").map_err(sqlite(path))?;
            tracing::warn!(
                file = %path.display(),
                ops,
                "session file migrated to format 4: its ops were coded again, so its authors' signatures no longer hold and its drawing can only be imported"
            );
            Ok(())
        }
        Err(error) => {
            let _ = connection.execute_batch("ROLLBACK;");
            Err(error)
        }
    }
}

fn read_meta(connection: &Connection, path: &Path) -> Result<Meta, StoreError> {
    let get = |key: &str| -> Result<Option<String>, StoreError> {
        connection
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(sqlite(path))
    };
    let damaged = |what: &str| StoreError::Damaged {
        path: path.to_path_buf(),
        reason: format!("its metadata lacks a valid {what}"),
    };
    Ok(Meta {
        session: get("session")?
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| damaged("session"))?,
        node: NodeId(
            get("node")?
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| damaged("node"))?,
        ),
        created_ms: get("created_ms")?.and_then(|s| s.parse().ok()).unwrap_or(0),
        title: get("title")?.unwrap_or_default(),
        signed: get("signed")?.as_deref() == Some("1"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta {
            session: "0000000000000000000000000000000000000000000000000000000000000001"
                .parse()
                .unwrap(),
            node: NodeId(7),
            created_ms: 1,
            title: "t".into(),
            signed: true,
        }
    }

    #[test]
    fn audio_packets_are_kept_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.canopy");
        let mut store = Store::create(&path, &meta()).unwrap();
        store
            .append_audio(&[(120, vec![3]), (100, vec![1]), (110, vec![2])])
            .unwrap();
        assert_eq!(
            store.audio_between(105, 200).unwrap(),
            vec![(110, vec![2]), (120, vec![3])]
        );
    }

    /// A recording read a page at a time is the recording read at once.
    #[test]
    fn pages_of_ops_and_audio_add_up_to_the_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.canopy");
        let mut store = Store::create(&path, &meta()).unwrap();
        let op = |node: u64, seq: u64| WireOp {
            id: OpId {
                node: NodeId(node),
                seq,
            },
            lamport: seq,
            payload: vec![seq as u8],
            signature: None,
        };
        // Several ops per millisecond, ids from both ends of the u64 range.
        let batch: Vec<(u64, WireOp)> = (1..=50u64)
            .flat_map(|seq| [(seq / 3, op(7, seq)), (seq / 3, op(u64::MAX - 1, seq))])
            .collect();
        store.append(&batch).unwrap();
        let packets: Vec<(u64, Vec<u8>)> = (0..30u64).map(|at| (at * 2, vec![at as u8])).collect();
        store.append_audio(&packets).unwrap();

        for from in [0, 5] {
            let mut paged = Vec::new();
            let mut after = None;
            loop {
                let page = store.ops_page(from, after, 7).unwrap();
                let Some((at, last)) = page.last() else { break };
                after = Some((*at, last.id));
                paged.extend(page);
            }
            assert_eq!(paged, store.ops_between(from, u64::MAX).unwrap());

            let mut audio = Vec::new();
            let mut after_row = i64::MIN;
            loop {
                let page = store.audio_page(from, after_row, 4).unwrap();
                let Some((row, _, _)) = page.last() else {
                    break;
                };
                after_row = *row;
                audio.extend(page.into_iter().map(|(_, at, p)| (at, p)));
            }
            assert_eq!(audio, store.audio_between(from, u64::MAX).unwrap());
        }
    }

    #[test]
    fn documents_load_up_to_a_point_and_bad_ops_are_reported() {
        use canopy_canvas::{Color, Point, Tool, FIRST_PAGE};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.canopy");
        let mut store = Store::create(&path, &meta()).unwrap();
        let mut author = Document::new(NodeId(3));
        let mut ops = Vec::new();
        for i in 0..10_000u64 {
            let begin = author
                .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(1, 2, 3), 2.0)
                .unwrap();
            let id = begin.id;
            ops.push((i, WireOp::from_op(&begin)));
            let points = vec![Point::new(i as f32 % 500.0, 1.0), Point::new(5.0, 9.0)];
            ops.push((
                i,
                WireOp::from_op(&author.extend_stroke(id, points).unwrap()),
            ));
            ops.push((i, WireOp::from_op(&author.end_stroke(id).unwrap())));
        }
        store.append(&ops).unwrap();
        assert_eq!(store.document().unwrap().digest(), author.digest());
        // Seeking: the document as it was halfway (what a replay from there imports).
        let half = store.document_as_of(5_000, NodeId(9)).unwrap();
        assert_eq!(half.stroke_count(), 5_000);
        assert_eq!(half.local_node(), NodeId(9));
        // An op whose payload does not decode: the load says which, never panics.
        store
            .connection
            .execute("UPDATE ops SET payload = x'ff' WHERE seq = 7", [])
            .unwrap();
        let said = store.document().unwrap_err().to_string();
        assert!(said.contains("cannot be read"), "{said}");
    }

    /// A format-3 file coded actions as protocol 4 did. Read as it is, its ops come
    /// out in the current encoding; opened for writing, it is coded again, and since
    /// its authors' signatures were over the old bytes it is brought forward unsigned
    /// (its drawing is imported, never served as theirs).
    #[test]
    fn a_format_3_file_is_read_as_it_was_coded_and_brought_forward_unsigned() {
        use canopy_canvas::{Color, Point, Tool, FIRST_PAGE};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("three.canopy");
        let mut author = Document::new(NodeId(3));
        let mut ops = Vec::new();
        for i in 0..50u64 {
            let begin = author
                .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(1, 2, 3), 2.0)
                .unwrap();
            let id = begin.id;
            let points = author
                .extend_stroke(id, vec![Point::new(i as f32, 1.0)])
                .unwrap();
            let end = author.end_stroke(id).unwrap();
            ops.extend([begin, points, end]);
        }
        let as_protocol_4 = |op: &canopy_canvas::Op| WireOp {
            payload: bincode::serde::encode_to_vec(&op.action, bincode::config::standard())
                .unwrap(),
            ..WireOp::from_op(op)
        };
        let mut store = Store::create(&path, &meta()).unwrap();
        let rows: Vec<(u64, WireOp)> = ops.iter().map(|op| (1, as_protocol_4(op))).collect();
        let last = ops.last().unwrap().id;
        let kept = SignedHeads {
            kept: vec![(last, Head([2; 32]), Signature::from_bytes(&[5; 64]))],
            forgotten: Vec::new(),
        };
        store.append_log(&rows, &kept, &[]).unwrap();
        drop(store);
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA user_version = 3;")
            .unwrap();

        let read = Store::open_read_only(&path).unwrap();
        assert_eq!(read.document().unwrap().digest(), author.digest());
        let page = read.ops_page(0, None, 1000).unwrap();
        assert_eq!(page.len(), ops.len());
        for (_, wire) in &page {
            assert!(
                wire.to_op().is_ok(),
                "{} is not in the current encoding",
                wire.id
            );
        }
        assert!(read.meta.signed);
        drop(read);

        let store = Store::open(&path).unwrap();
        assert!(!store.meta.signed, "its signatures are over other bytes");
        assert!(store.logs().unwrap().signed.is_empty());
        assert_eq!(store.document().unwrap().digest(), author.digest());
        let stored: Vec<Vec<u8>> = store
            .connection
            .prepare("SELECT payload FROM ops ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let current: Vec<Vec<u8>> = ops.iter().map(|op| WireOp::from_op(op).payload).collect();
        assert_eq!(stored, current);
    }

    /// A format-4 file: logs signed before the stroke rule. One whose logs keep it
    /// stays signed; one where an op came between a stroke's start and its points
    /// (an undo pressed mid-stroke, as nodes did then) is brought forward unsigned,
    /// in the same step, since every checker would refuse that log now.
    #[test]
    fn a_format_4_file_stays_signed_only_if_its_logs_keep_the_stroke_rule() {
        use canopy_canvas::{Color, Point, Tool, FIRST_PAGE};
        let dir = tempfile::tempdir().unwrap();
        let format_4 = |name: &str, undo_mid_stroke: bool| -> PathBuf {
            let path = dir.path().join(name);
            let mut author = Document::new(NodeId(3));
            let mut ops = Vec::new();
            for i in 0..30u64 {
                let begin = author
                    .begin_stroke(FIRST_PAGE, Tool::Pen, Color::rgb(1, 2, 3), 2.0)
                    .unwrap();
                let id = begin.id;
                ops.push(begin);
                ops.push(
                    author
                        .extend_stroke(id, vec![Point::new(i as f32, 1.0)])
                        .unwrap(),
                );
                if undo_mid_stroke && i == 20 {
                    ops.extend(author.undo().unwrap());
                }
                ops.push(
                    author
                        .extend_stroke(id, vec![Point::new(i as f32, 2.0)])
                        .unwrap(),
                );
                ops.push(author.end_stroke(id).unwrap());
            }
            let mut store = Store::create(&path, &meta()).unwrap();
            let rows: Vec<(u64, WireOp)> = ops.iter().map(|op| (1, WireOp::from_op(op))).collect();
            let last = ops.last().unwrap().id;
            let kept = SignedHeads {
                kept: vec![(last, Head([2; 32]), Signature::from_bytes(&[5; 64]))],
                forgotten: Vec::new(),
            };
            store.append_log(&rows, &kept, &[]).unwrap();
            drop(store);
            Connection::open(&path)
                .unwrap()
                .execute_batch("PRAGMA user_version = 4;")
                .unwrap();
            path
        };
        let version = |path: &Path| -> i32 {
            Connection::open(path)
                .unwrap()
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap()
        };

        let keeps = format_4("keeps.canopy", false);
        let store = Store::open(&keeps).unwrap();
        assert!(store.meta.signed);
        assert_eq!(store.logs().unwrap().signed.len(), 1);
        drop(store);
        assert_eq!(version(&keeps), FORMAT_VERSION);

        let breaks = format_4("breaks.canopy", true);
        let read = Store::open_read_only(&breaks).unwrap();
        assert!(read.meta.signed, "reading changes nothing");
        drop(read);
        assert_eq!(version(&breaks), 4);
        let store = Store::open(&breaks).unwrap();
        assert!(!store.meta.signed, "a checker would refuse its log");
        assert!(store.logs().unwrap().signed.is_empty());
        drop(store);
        assert_eq!(version(&breaks), FORMAT_VERSION);
    }

    #[test]
    fn a_format_1_file_is_migrated_when_opened_for_writing_and_not_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.canopy");
        drop(Store::create(&path, &meta()).unwrap());
        // What format 1 was: no audio table (nor format 3's log tables or mark).
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "DROP TABLE audio; DROP TABLE signatures; DROP TABLE authors; DROP TABLE evidence;
                 DELETE FROM meta WHERE key = 'signed'; PRAGMA user_version = 1;",
            )
            .unwrap();
        let version = |path: &Path| -> i32 {
            Connection::open(path)
                .unwrap()
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap()
        };
        let read = Store::open_read_only(&path).unwrap();
        assert!(read.audio_between(0, u64::MAX).unwrap().is_empty());
        drop(read);
        assert_eq!(version(&path), 1, "reading changed the format");
        let mut store = Store::open(&path).unwrap();
        store.append_audio(&[(5, vec![9])]).unwrap();
        assert_eq!(version(&path), FORMAT_VERSION);
        assert_eq!(store.integrity_check().unwrap(), "ok");
        // Brought forward, but its ops stay unsigned: it can be imported, not served.
        assert!(!store.meta.signed);
        assert!(store.logs().unwrap().signed.is_empty());
    }

    #[test]
    fn files_with_views_triggers_or_huge_rows_are_refused_and_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let refused = |name: &str, sql: &str| -> String {
            let path = dir.path().join(name);
            drop(Store::create(&path, &meta()).unwrap());
            Connection::open(&path).unwrap().execute_batch(sql).unwrap();
            let read = Store::open_read_only(&path).err().map(|e| e.to_string());
            let opened = Store::open(&path).err().map(|e| e.to_string());
            assert_eq!(read, opened, "both ways of opening refuse alike");
            read.unwrap_or_else(|| panic!("{name} was opened"))
        };
        // A trigger that would write on every op saved, a view where a table was.
        let said = refused(
            "trigger.canopy",
            "CREATE TABLE seen (n INTEGER);
             CREATE TRIGGER spy AFTER INSERT ON ops BEGIN INSERT INTO seen VALUES (1); END;",
        );
        assert!(said.contains("views or triggers"), "{said}");
        let said = refused(
            "view.canopy",
            "DROP TABLE participants;
             CREATE VIEW participants AS SELECT 1 AS node, 'x' AS name, 0 AS first_seen_ms,
                 0 AS last_seen_ms;",
        );
        assert!(said.contains("views or triggers"), "{said}");
        // One op of more bytes than any frame could carry.
        let said = refused(
            "huge.canopy",
            &format!(
                "INSERT INTO ops VALUES (1, 1, 1, 0, zeroblob({}));",
                MAX_ROW_BYTES + 1
            ),
        );
        assert!(said.contains("bytes"), "{said}");
    }

    #[test]
    fn connections_are_defensive_and_do_not_trust_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.canopy");
        let store = Store::create(&path, &meta()).unwrap();
        for (setting, expected) in [
            (DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true),
            (DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false),
        ] {
            assert_eq!(store.connection.db_config(setting).unwrap(), expected);
        }
        // Defensive: the schema cannot be written behind SQLite's back.
        assert!(store
            .connection
            .execute_batch("PRAGMA writable_schema = ON; DELETE FROM sqlite_schema;")
            .is_err());
    }
}
