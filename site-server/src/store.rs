//! The site's SQLite store: one file (`site.db`) in WAL mode with `synchronous=FULL`, written by
//! one writer thread that commits every change queued meanwhile in one transaction (group commit),
//! and read by connections of their own.
//!
//! The file is marked with an application id; a file that is not an SQLite database, belongs to
//! another program, fails its integrity check or was written by a newer version stops the server
//! with a message. It is never reset.
//!
//! The data directory is private to its owner (`0700`) and `site.db` with its `-wal` and `-shm`
//! files `0600`, from the moment they are created; looser ones are tightened with a warning.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use exam_domain::{AdmissionNo, AttemptId, IdNumber, ItemId, Paper, Response};
use exam_protocol::SubmitReason;
use exam_site_core::{CandidateRecord, Restored, RestoredAttempt, RestoredChange, StoreOp};
use rusqlite::{Connection, OptionalExtension, params};

/// Marks `site.db` as ours: "EXMS".
const APPLICATION_ID: i32 = 0x4558_4D53;
pub const DB_FILE: &str = "site.db";

const SCHEMA: exam_sqlite::Schema = exam_sqlite::Schema {
    application_id: APPLICATION_ID,
    migrations: MIGRATIONS,
};

/// Schema migrations, applied in order; `PRAGMA user_version` is how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE session (
         id INTEGER PRIMARY KEY CHECK (id = 1),
         site_name TEXT NOT NULL,
         title TEXT NOT NULL,
         paper_json TEXT NOT NULL,
         grace_secs INTEGER NOT NULL,
         starts_at_unix_ms INTEGER,
         started INTEGER NOT NULL DEFAULT 0,
         paused INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE candidates (
         admission_no TEXT PRIMARY KEY,
         id_number TEXT NOT NULL UNIQUE,
         name TEXT NOT NULL,
         seat TEXT NOT NULL,
         photo BLOB,
         attempt_id INTEGER NOT NULL UNIQUE,
         seed INTEGER NOT NULL
     );
     CREATE TABLE attempts (
         id INTEGER PRIMARY KEY,
         started INTEGER NOT NULL DEFAULT 0,
         remaining_ms INTEGER NOT NULL DEFAULT 0,
         running INTEGER NOT NULL DEFAULT 0,
         submitted TEXT,
         submitted_at_unix_ms INTEGER
     );
     CREATE TABLE answer_changes (
         attempt_id INTEGER NOT NULL,
         seq INTEGER NOT NULL,
         item_id TEXT NOT NULL,
         response TEXT NOT NULL,
         saved_at_unix_ms INTEGER NOT NULL,
         PRIMARY KEY (attempt_id, seq)
     ) WITHOUT ROWID;
     CREATE TABLE time_log (
         id INTEGER PRIMARY KEY,
         attempt_id INTEGER NOT NULL,
         at_unix_ms INTEGER NOT NULL,
         event TEXT NOT NULL,
         remaining_ms INTEGER NOT NULL,
         given_back_ms INTEGER NOT NULL,
         by_whom TEXT NOT NULL,
         reason TEXT NOT NULL
     );
     CREATE TABLE session_log (
         id INTEGER PRIMARY KEY,
         at_unix_ms INTEGER NOT NULL,
         event TEXT NOT NULL,
         by_whom TEXT NOT NULL,
         reason TEXT NOT NULL
     );",
    // 2: answer changes refused for good keep their number (and content) with the reason;
    // alarms an operator must look at.
    "ALTER TABLE answer_changes ADD COLUMN refused TEXT;
     CREATE TABLE alarms (
         id INTEGER PRIMARY KEY,
         at_unix_ms INTEGER NOT NULL,
         attempt_id INTEGER,
         kind TEXT NOT NULL,
         detail TEXT NOT NULL
     );",
    // 3: sessions from central: their QTI content (after the paper key was released), which
    // session and package they are, and results sealed at submission waiting to be delivered.
    "CREATE TABLE content (
         id INTEGER PRIMARY KEY CHECK (id = 1),
         qti_zip BLOB NOT NULL
     );
     CREATE TABLE central_session (
         id INTEGER PRIMARY KEY CHECK (id = 1),
         session_id TEXT NOT NULL,
         site_code TEXT NOT NULL,
         package_version INTEGER NOT NULL
     );
     CREATE TABLE outbox (
         bundle_id TEXT PRIMARY KEY,
         attempt_id INTEGER NOT NULL UNIQUE,
         bytes BLOB NOT NULL,
         sealed_at_unix_ms INTEGER NOT NULL
     );",
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{path} is not a site database (it is damaged or another kind of file: {why}); restore it from backup or choose another data directory — it was left untouched"
    )]
    NotADatabase { path: PathBuf, why: String },
    #[error(
        "{path} belongs to another program (application id {found:#x}); choose another data directory — it was left untouched"
    )]
    Foreign { path: PathBuf, found: i32 },
    #[error(
        "{path} failed its integrity check ({detail}); restore it from backup — it was left untouched"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "{path} was written by a newer site-server (schema {found}, this one knows {known}); install the newer version"
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error(
        "{dir} holds files but no {DB_FILE}: it is not a site data directory; choose an empty directory or the site's own"
    )]
    ForeignDir { dir: PathBuf },
    #[error("no site in {dir}: run `site-server demo --data {dir}` first")]
    NoSite { dir: PathBuf },
    #[error("the site has no exam session yet")]
    NoSession,
    #[error("stored data is inconsistent: {0}")]
    Inconsistent(String),
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("could not use {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Private(#[from] exam_fs::PrivateFsError),
}

impl From<exam_sqlite::OpenError> for StoreError {
    fn from(e: exam_sqlite::OpenError) -> Self {
        use exam_sqlite::OpenError as E;
        match e {
            E::NotADatabase { path, why } => StoreError::NotADatabase { path, why },
            E::Foreign { path, found } => StoreError::Foreign { path, found },
            E::Corrupt { path, detail } => StoreError::Corrupt { path, detail },
            E::TooNew { path, found, known } => StoreError::TooNew { path, found, known },
            E::NoWal { path, mode } => {
                StoreError::Inconsistent(format!("{} refused WAL mode ({mode})", path.display()))
            }
            E::Sql(e) => StoreError::Sql(e),
            E::Private(e) => StoreError::Private(e),
        }
    }
}

/// Milliseconds since the Unix epoch, for timestamps that go into logs and exports only.
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How a data directory looks before we touch it.
pub enum DirState {
    /// Missing or empty: a new site may be made there.
    Empty,
    /// Has a `site.db`.
    Site,
}

/// Checks a data directory without changing anything.
pub fn inspect_dir(dir: &Path) -> Result<DirState, StoreError> {
    if dir.join(DB_FILE).exists() {
        return Ok(DirState::Site);
    }
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DirState::Empty),
        Err(source) => Err(StoreError::Io {
            path: dir.to_path_buf(),
            source,
        }),
        Ok(mut entries) => {
            if entries.next().is_some() {
                Err(StoreError::ForeignDir {
                    dir: dir.to_path_buf(),
                })
            } else {
                Ok(DirState::Empty)
            }
        }
    }
}

/// Opens `site.db` in `dir` for writing, creating it (and `dir`, mode `0700`) when `create` and it
/// does not exist, checking that it is ours and intact, and running pending migrations. A `dir`
/// others could read is made private with a warning.
pub fn open_writer(dir: &Path, create: bool) -> Result<Connection, StoreError> {
    let path = dir.join(DB_FILE);
    if !create && !path.exists() {
        return Err(StoreError::NoSite {
            dir: dir.to_path_buf(),
        });
    }
    exam_fs::ensure_private_dir(dir)?;
    Ok(exam_sqlite::open_writer(&path, &SCHEMA)?)
}

/// Opens `site.db` read-only (exports, inspection). Never creates or migrates anything.
pub fn open_reader(dir: &Path) -> Result<Connection, StoreError> {
    let path = dir.join(DB_FILE);
    if !path.exists() {
        return Err(StoreError::NoSite {
            dir: dir.to_path_buf(),
        });
    }
    Ok(exam_sqlite::open_reader(&path, &SCHEMA)?)
}

/// The stored session settings.
#[derive(Debug, Clone)]
pub struct StoredSession {
    pub site_name: String,
    pub title: String,
    pub paper: Paper,
    pub grace_secs: u32,
    pub starts_at_unix_ms: Option<i64>,
    pub started: bool,
    pub paused: bool,
}

/// A new session with its candidates, written in one transaction.
pub struct NewSession<'a> {
    pub site_name: &'a str,
    pub title: &'a str,
    pub paper: &'a Paper,
    pub grace_secs: u32,
    pub starts_at_unix_ms: Option<i64>,
    pub candidates: Vec<CandidateRecord>,
    /// For a session from central: its content (candidates' papers are assembled from it) and
    /// which session and package it is.
    pub central: Option<CentralSession<'a>>,
}

/// Which central session a store holds.
#[derive(Debug, Clone)]
pub struct CentralSession<'a> {
    pub session_id: &'a str,
    pub site_code: &'a str,
    pub package_version: u64,
    pub content_zip: &'a [u8],
}

pub fn create_session(conn: &mut Connection, new: &NewSession<'_>) -> Result<(), StoreError> {
    let paper_json =
        serde_json::to_string(new.paper).map_err(|e| StoreError::Inconsistent(e.to_string()))?;
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO session (id, site_name, title, paper_json, grace_secs, starts_at_unix_ms) VALUES (1, ?1, ?2, ?3, ?4, ?5)",
        params![new.site_name, new.title, paper_json, new.grace_secs, new.starts_at_unix_ms],
    )?;
    if let Some(c) = &new.central {
        tx.execute(
            "INSERT INTO content (id, qti_zip) VALUES (1, ?1)",
            params![c.content_zip],
        )?;
        tx.execute(
            "INSERT INTO central_session (id, session_id, site_code, package_version) VALUES (1, ?1, ?2, ?3)",
            params![c.session_id, c.site_code, c.package_version as i64],
        )?;
    }
    {
        let mut cand = tx.prepare(
            "INSERT INTO candidates (admission_no, id_number, name, seat, photo, attempt_id, seed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut att = tx.prepare("INSERT INTO attempts (id) VALUES (?1)")?;
        for c in &new.candidates {
            let attempt = c.attempt.0 as i64;
            cand.execute(params![
                c.admission_no.as_str(),
                c.id_number.as_str(),
                c.name,
                c.seat,
                c.photo,
                attempt,
                c.seed as i64
            ])?;
            att.execute(params![attempt])?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub fn load_session(conn: &Connection) -> Result<StoredSession, StoreError> {
    let row = conn
        .query_row(
            "SELECT site_name, title, paper_json, grace_secs, starts_at_unix_ms, started, paused FROM session WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, u32>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, bool>(5)?,
                    r.get::<_, bool>(6)?,
                ))
            },
        )
        .optional()?;
    let Some((site_name, title, paper_json, grace_secs, starts_at_unix_ms, started, paused)) = row
    else {
        return Err(StoreError::NoSession);
    };
    let paper: Paper = serde_json::from_str(&paper_json)
        .map_err(|e| StoreError::Inconsistent(format!("stored paper: {e}")))?;
    paper
        .validate()
        .map_err(|e| StoreError::Inconsistent(format!("stored paper: {e}")))?;
    Ok(StoredSession {
        site_name,
        title,
        paper,
        grace_secs,
        starts_at_unix_ms,
        started,
        paused,
    })
}

fn reason_str(r: SubmitReason) -> &'static str {
    match r {
        SubmitReason::Candidate => "candidate",
        SubmitReason::TimeUp => "time_up",
        SubmitReason::Proctor => "proctor",
    }
}

fn reason_from(s: &str) -> Option<SubmitReason> {
    match s {
        "candidate" => Some(SubmitReason::Candidate),
        "time_up" => Some(SubmitReason::TimeUp),
        "proctor" => Some(SubmitReason::Proctor),
        _ => None,
    }
}

/// Everything the engine needs at start-up.
pub fn load_restored(conn: &Connection) -> Result<Restored, StoreError> {
    let bad =
        |what: &str, e: &dyn std::fmt::Display| StoreError::Inconsistent(format!("{what}: {e}"));
    let mut candidates = Vec::new();
    let mut stmt = conn.prepare("SELECT admission_no, id_number, name, seat, photo, attempt_id, seed FROM candidates ORDER BY attempt_id")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let adm: String = r.get(0)?;
        let id: String = r.get(1)?;
        candidates.push(CandidateRecord {
            admission_no: AdmissionNo::parse(&adm)
                .map_err(|e| bad("candidate admission number", &e))?,
            id_number: IdNumber::parse(&id).map_err(|e| bad("candidate ID number", &e))?,
            name: r.get(2)?,
            seat: r.get(3)?,
            photo: r.get(4)?,
            attempt: AttemptId(r.get::<_, i64>(5)? as u64),
            seed: r.get::<_, i64>(6)? as u64,
            items: None,
        });
    }
    let mut attempts: std::collections::BTreeMap<u64, RestoredAttempt> =
        std::collections::BTreeMap::new();
    let mut stmt =
        conn.prepare("SELECT id, started, remaining_ms, running, submitted FROM attempts")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let submitted: Option<String> = r.get(4)?;
        attempts.insert(
            r.get::<_, i64>(0)? as u64,
            RestoredAttempt {
                started: r.get(1)?,
                remaining_ms: r.get::<_, i64>(2)? as u64,
                stopped: !r.get::<_, bool>(3)?,
                submitted: submitted.as_deref().and_then(reason_from),
                changes: Vec::new(),
            },
        );
    }
    let mut stmt =
        conn.prepare("SELECT attempt_id, seq, item_id, response, refused FROM answer_changes")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let attempt = r.get::<_, i64>(0)? as u64;
        let item: String = r.get(2)?;
        let response: String = r.get(3)?;
        let item = ItemId::parse(&item).map_err(|e| bad("stored item id", &e))?;
        let response: Response =
            serde_json::from_str(&response).map_err(|e| bad("stored response", &e))?;
        if let Some(a) = attempts.get_mut(&attempt) {
            a.changes.push(RestoredChange {
                seq: r.get::<_, i64>(1)? as u64,
                item,
                response,
                refused: r.get(4)?,
            });
        }
    }
    Ok(Restored {
        candidates,
        attempts: attempts
            .into_iter()
            .map(|(id, a)| (AttemptId(id), a))
            .collect(),
    })
}

/// The central session a store holds, if it came from central: `(session, site, package version)`.
pub fn central_session(conn: &Connection) -> Result<Option<(String, String, u64)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT session_id, site_code, package_version FROM central_session WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64)),
        )
        .optional()?)
}

/// The session's content package, for a session from central.
pub fn content_zip(conn: &Connection) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .query_row("SELECT qti_zip FROM content WHERE id = 1", [], |r| r.get(0))
        .optional()?)
}

/// One sealed result in the outbox.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub bundle_id: String,
    pub bytes: Vec<u8>,
}

/// The ids of every sealed result of the store, oldest first (no bytes read).
pub fn outbox_ids(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT bundle_id FROM outbox ORDER BY sealed_at_unix_ms, bundle_id")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One sealed result.
pub fn outbox_entry(conn: &Connection, bundle_id: &str) -> Result<OutboxEntry, StoreError> {
    Ok(OutboxEntry {
        bundle_id: bundle_id.to_owned(),
        bytes: conn.query_row(
            "SELECT bytes FROM outbox WHERE bundle_id = ?1",
            [bundle_id],
            |r| r.get(0),
        )?,
    })
}

/// Every sealed result of the store, oldest first.
pub fn outbox(conn: &Connection) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT bundle_id, bytes FROM outbox ORDER BY sealed_at_unix_ms, bundle_id")?;
    let rows = stmt.query_map([], |r| {
        Ok(OutboxEntry {
            bundle_id: r.get(0)?,
            bytes: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Applies a group of engine operations in one transaction; a submission of a session from
/// central is sealed into the outbox in the same transaction by `sealer`.
pub fn apply(
    conn: &mut Connection,
    ops: &[StoreOp],
    sealer: Option<&crate::sealing::Sealer>,
) -> Result<(), rusqlite::Error> {
    let now = unix_ms();
    let tx = conn.transaction()?;
    for op in ops {
        match op {
            StoreOp::Answer {
                attempt,
                seq,
                item,
                response,
                refused,
            } => {
                let json = serde_json::to_string(response)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                let inserted = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO answer_changes (attempt_id, seq, item_id, response, saved_at_unix_ms, refused) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?
                    .execute(params![attempt.0 as i64, *seq as i64, item.as_str(), json, now, refused])?;
                if inserted == 0 {
                    // The engine decides each number once; a second row under it is a bug to
                    // see, never a change to drop silently.
                    tracing::error!(
                        attempt = attempt.0,
                        seq,
                        "an answer change was stored under a number already used; kept the first, raised an alarm"
                    );
                    tx.prepare_cached(
                        "INSERT INTO alarms (at_unix_ms, attempt_id, kind, detail) VALUES (?1, ?2, 'store_duplicate', ?3)",
                    )?
                    .execute(params![now, attempt.0 as i64, format!("number {seq} written twice; second content: {item} {json}")])?;
                }
            }
            StoreOp::Clock {
                attempt,
                remaining_ms,
                running,
            } => {
                tx.prepare_cached("UPDATE attempts SET started = 1, remaining_ms = ?2, running = ?3 WHERE id = ?1")?
                    .execute(params![attempt.0 as i64, *remaining_ms as i64, running])?;
            }
            StoreOp::TimeLog {
                attempt,
                event,
                remaining_ms,
                given_back_ms,
                by,
                reason,
            } => {
                tx.prepare_cached(
                    "INSERT INTO time_log (attempt_id, at_unix_ms, event, remaining_ms, given_back_ms, by_whom, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![attempt.0 as i64, now, event.as_str(), *remaining_ms as i64, *given_back_ms as i64, by, reason])?;
            }
            StoreOp::Submit {
                attempt,
                reason,
                remaining_ms,
            } => {
                tx.prepare_cached(
                    "UPDATE attempts SET started = 1, running = 0, remaining_ms = ?2, submitted = ?3, submitted_at_unix_ms = ?4 WHERE id = ?1",
                )?
                .execute(params![attempt.0 as i64, *remaining_ms as i64, reason_str(*reason), now])?;
                if let Some(sealer) = sealer {
                    sealer.seal_into(&tx, *attempt, reason_str(*reason), *remaining_ms, now)?;
                }
            }
            StoreOp::SessionStarted { by } => {
                tx.execute("UPDATE session SET started = 1 WHERE id = 1", [])?;
                tx.execute(
                    "INSERT INTO session_log (at_unix_ms, event, by_whom, reason) VALUES (?1, 'started', ?2, '')",
                    params![now, by],
                )?;
            }
            StoreOp::SessionPaused { by, reason, paused } => {
                tx.execute(
                    "UPDATE session SET paused = ?1 WHERE id = 1",
                    params![paused],
                )?;
                tx.execute(
                    "INSERT INTO session_log (at_unix_ms, event, by_whom, reason) VALUES (?1, ?2, ?3, ?4)",
                    params![now, if *paused { "paused" } else { "resumed" }, by, reason],
                )?;
            }
            StoreOp::Alarm {
                attempt,
                kind,
                detail,
            } => {
                tx.prepare_cached(
                    "INSERT INTO alarms (at_unix_ms, attempt_id, kind, detail) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![now, attempt.map(|a| a.0 as i64), kind.as_str(), detail])?;
            }
        }
    }
    tx.commit()
}

/// One stored answer change, as `export-answers` prints it. `refused` is the reason when the
/// change was refused for good (it keeps its number and content for review).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExportedAnswer {
    pub admission_no: String,
    pub item_id: String,
    pub seq: u64,
    pub response: Response,
    pub saved_at_unix_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// Every stored answer change, by candidate and sequence number.
pub fn for_each_answer(
    conn: &Connection,
    mut f: impl FnMut(ExportedAnswer) -> std::io::Result<()>,
) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT c.admission_no, a.item_id, a.seq, a.response, a.saved_at_unix_ms, a.refused
         FROM answer_changes a JOIN candidates c ON c.attempt_id = a.attempt_id
         ORDER BY c.admission_no, a.seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let response: String = r.get(3)?;
        let response = serde_json::from_str(&response)
            .map_err(|e| StoreError::Inconsistent(format!("stored response: {e}")))?;
        f(ExportedAnswer {
            admission_no: r.get(0)?,
            item_id: r.get(1)?,
            seq: r.get::<_, i64>(2)? as u64,
            response,
            saved_at_unix_ms: r.get(4)?,
            refused: r.get(5)?,
        })
        .map_err(|source| StoreError::Io {
            path: PathBuf::from("<stdout>"),
            source,
        })?;
        n += 1;
    }
    Ok(n)
}
