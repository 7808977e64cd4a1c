//! The authority's embedded store: one SQLite file (`central.db`) in the data directory, WAL,
//! `synchronous=FULL`, marked with its own application id and migrated by `user_version`.
//! A file that is not ours, damaged or newer stops the command with a message; it is never reset.
//! The data directory is private to its owner (`0700`) and `central.db` with its WAL files
//! `0600`, from creation (looser ones are tightened with a warning).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

const APPLICATION_ID: i32 = 0x4558_4D43; // "EXMC"
pub const DB_FILE: &str = "central.db";

const MIGRATIONS: &[&str] = &[
    // 1: plans, rosters, photos, content.
    "CREATE TABLE sessions (
         id TEXT PRIMARY KEY,
         title TEXT NOT NULL,
         starts_at_unix_ms INTEGER NOT NULL,
         roster_cutoff_hours INTEGER NOT NULL
     );
     CREATE TABLE candidates (
         session_id TEXT NOT NULL REFERENCES sessions(id),
         id_number TEXT NOT NULL,
         name TEXT NOT NULL,
         entry_json TEXT NOT NULL,
         source_file TEXT NOT NULL,
         source_row INTEGER NOT NULL,
         imported_at_unix_ms INTEGER NOT NULL,
         PRIMARY KEY (session_id, id_number)
     );
     CREATE TABLE photos (
         id_number TEXT PRIMARY KEY,
         bytes BLOB NOT NULL,
         width INTEGER NOT NULL,
         height INTEGER NOT NULL,
         imported_at_unix_ms INTEGER NOT NULL
     );
     CREATE TABLE content (
         id TEXT PRIMARY KEY,
         title TEXT NOT NULL,
         package BLOB NOT NULL,
         imported_at_unix_ms INTEGER NOT NULL
     );",
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{path} is not a central database (damaged or another kind of file: {why}); restore it from backup or choose another --data directory — it was left untouched"
    )]
    NotADatabase { path: PathBuf, why: String },
    #[error(
        "{path} belongs to another program (application id {found:#x}); choose another --data directory — it was left untouched"
    )]
    Foreign { path: PathBuf, found: i32 },
    #[error(
        "{path} was written by a newer central-sync (schema {found}, this one knows {known}); install the newer version"
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Private(#[from] exam_fs::PrivateFsError),
}

/// Opens (creating when missing) the store in `dir`, making `dir` private to its owner.
pub fn open(dir: &Path) -> Result<Connection, StoreError> {
    exam_fs::ensure_private_dir(dir)?;
    Ok(exam_sqlite::open_writer(&dir.join(DB_FILE), &SCHEMA)?)
}

const SCHEMA: exam_sqlite::Schema = exam_sqlite::Schema {
    application_id: APPLICATION_ID,
    migrations: MIGRATIONS,
};

impl From<exam_sqlite::OpenError> for StoreError {
    fn from(e: exam_sqlite::OpenError) -> Self {
        use exam_sqlite::OpenError as E;
        match e {
            E::NotADatabase { path, why } => StoreError::NotADatabase { path, why },
            E::Corrupt { path, detail } => StoreError::NotADatabase {
                path,
                why: format!("integrity check: {detail}"),
            },
            E::NoWal { path, mode } => StoreError::NotADatabase {
                path,
                why: format!("refused WAL mode ({mode})"),
            },
            E::Foreign { path, found } => StoreError::Foreign { path, found },
            E::TooNew { path, found, known } => StoreError::TooNew { path, found, known },
            E::Sql(e) => StoreError::Sql(e),
            E::Private(e) => StoreError::Private(e),
        }
    }
}

/// Milliseconds since the Unix epoch (import timestamps only).
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An exam session in the plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Session {
    pub id: String,
    pub title: String,
    pub starts_at_unix_ms: i64,
    pub roster_cutoff_hours: u32,
}

impl Session {
    /// The moment after which its roster may no longer change.
    pub fn roster_cutoff_unix_ms(&self) -> i64 {
        self.starts_at_unix_ms - i64::from(self.roster_cutoff_hours) * 3_600_000
    }
}

pub fn session(conn: &Connection, id: &str) -> Result<Option<Session>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT id, title, starts_at_unix_ms, roster_cutoff_hours FROM sessions WHERE id = ?1",
            [id],
            |r| {
                Ok(Session {
                    id: r.get(0)?,
                    title: r.get(1)?,
                    starts_at_unix_ms: r.get(2)?,
                    roster_cutoff_hours: r.get(3)?,
                })
            },
        )
        .optional()?)
}

pub fn sessions(conn: &Connection) -> Result<Vec<Session>, StoreError> {
    let mut stmt = conn.prepare("SELECT id, title, starts_at_unix_ms, roster_cutoff_hours FROM sessions ORDER BY starts_at_unix_ms, id")?;
    let rows = stmt.query_map([], |r| {
        Ok(Session {
            id: r.get(0)?,
            title: r.get(1)?,
            starts_at_unix_ms: r.get(2)?,
            roster_cutoff_hours: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Adds a session; false if one with that id exists already (nothing changed).
pub fn add_session(conn: &Connection, s: &Session) -> Result<bool, StoreError> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO sessions (id, title, starts_at_unix_ms, roster_cutoff_hours) VALUES (?1, ?2, ?3, ?4)",
        params![s.id, s.title, s.starts_at_unix_ms, s.roster_cutoff_hours],
    )?;
    Ok(n == 1)
}
