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
    // 2: sites and rooms, plans with a state and a log, seats and admission numbers, bans.
    //
    // Existing sessions become sessions of one implicit plan, `LEGACY` (created only when there
    // are sessions): a draft that cannot be submitted, whose sessions keep their candidates and
    // take roster imports as before. `plan session add PLAN SESSION …` moves such a session into
    // a real plan, giving it a site, rooms and times (see `plans::add_session`). Sessions are
    // numbered (`seq`, for admission numbers) by start time, then id.
    "CREATE TABLE sites (
         code TEXT PRIMARY KEY,
         name TEXT NOT NULL,
         address TEXT,
         created_at_unix_ms INTEGER NOT NULL
     );
     CREATE TABLE rooms (
         site_code TEXT NOT NULL REFERENCES sites(code),
         code TEXT NOT NULL,
         name TEXT NOT NULL,
         capacity INTEGER NOT NULL,
         created_at_unix_ms INTEGER NOT NULL,
         disabled_at_unix_ms INTEGER,
         disabled_reason TEXT,
         PRIMARY KEY (site_code, code)
     );
     CREATE TABLE disabled_seats (
         site_code TEXT NOT NULL,
         room_code TEXT NOT NULL,
         seat INTEGER NOT NULL,
         reason TEXT NOT NULL,
         at_unix_ms INTEGER NOT NULL,
         PRIMARY KEY (site_code, room_code, seat),
         FOREIGN KEY (site_code, room_code) REFERENCES rooms(site_code, code)
     );
     CREATE TABLE plans (
         id TEXT PRIMARY KEY,
         plan_type TEXT,
         category TEXT NOT NULL DEFAULT '',
         work_type TEXT NOT NULL DEFAULT '',
         title TEXT NOT NULL,
         content_id TEXT REFERENCES content(id),
         pass_mark_percent INTEGER NOT NULL,
         state TEXT NOT NULL CHECK (state IN ('draft', 'submitted', 'approved')),
         legacy INTEGER NOT NULL DEFAULT 0,
         created_at_unix_ms INTEGER NOT NULL
     );
     CREATE TABLE plan_log (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         plan_id TEXT NOT NULL REFERENCES plans(id),
         at_unix_ms INTEGER NOT NULL,
         by_name TEXT NOT NULL,
         action TEXT NOT NULL,
         reason TEXT,
         detail TEXT NOT NULL DEFAULT ''
     );
     INSERT INTO plans (id, plan_type, title, content_id, pass_mark_percent, state, legacy, created_at_unix_ms)
         SELECT 'LEGACY', NULL, '迁移前的场次 / sessions from before plans', NULL, 60, 'draft', 1,
                CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
         WHERE EXISTS (SELECT 1 FROM sessions);
     INSERT INTO plan_log (plan_id, at_unix_ms, by_name, action, detail)
         SELECT 'LEGACY', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), 'central-sync',
                'migrated', (SELECT count(*) FROM sessions) || ' sessions from before plans'
         WHERE EXISTS (SELECT 1 FROM sessions);
     ALTER TABLE sessions ADD COLUMN plan_id TEXT REFERENCES plans(id);
     ALTER TABLE sessions ADD COLUMN seq INTEGER;
     ALTER TABLE sessions ADD COLUMN site_code TEXT REFERENCES sites(code);
     ALTER TABLE sessions ADD COLUMN duration_min INTEGER;
     ALTER TABLE sessions ADD COLUMN latest_login_min INTEGER;
     ALTER TABLE sessions ADD COLUMN seat_seed INTEGER;
     ALTER TABLE sessions ADD COLUMN last_admission INTEGER NOT NULL DEFAULT 0;
     UPDATE sessions SET plan_id = 'LEGACY',
         seq = (SELECT count(*) FROM sessions s2
                WHERE s2.starts_at_unix_ms < sessions.starts_at_unix_ms
                   OR (s2.starts_at_unix_ms = sessions.starts_at_unix_ms AND s2.id <= sessions.id));
     CREATE UNIQUE INDEX sessions_seq ON sessions(seq);
     CREATE TABLE session_rooms (
         session_id TEXT NOT NULL REFERENCES sessions(id),
         position INTEGER NOT NULL,
         site_code TEXT NOT NULL,
         room_code TEXT NOT NULL,
         PRIMARY KEY (session_id, room_code),
         UNIQUE (session_id, position),
         FOREIGN KEY (site_code, room_code) REFERENCES rooms(site_code, code)
     );
     ALTER TABLE candidates ADD COLUMN admission_no TEXT;
     ALTER TABLE candidates ADD COLUMN room_code TEXT;
     ALTER TABLE candidates ADD COLUMN seat INTEGER;
     ALTER TABLE candidates ADD COLUMN paper_seed INTEGER;
     CREATE UNIQUE INDEX candidates_admission_no ON candidates(admission_no);
     CREATE UNIQUE INDEX candidates_seat ON candidates(session_id, room_code, seat);
     CREATE TABLE bans (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         id_number TEXT NOT NULL,
         reason TEXT NOT NULL,
         until_date TEXT NOT NULL,
         until_unix_ms INTEGER NOT NULL,
         added_by TEXT NOT NULL,
         added_at_unix_ms INTEGER NOT NULL,
         lifted_at_unix_ms INTEGER,
         lifted_by TEXT,
         lift_reason TEXT
     );
     CREATE INDEX bans_id_number ON bans(id_number);",
    // 3: the site API: enrolment, paper keys, packages, sealed results, alarms, an audit log.
    "CREATE TABLE enroll_tokens (
         token_sha256 TEXT PRIMARY KEY,
         site_code TEXT NOT NULL,
         expires_at_unix_ms INTEGER NOT NULL,
         used_at_unix_ms INTEGER
     );
     CREATE TABLE site_keys (
         site_code TEXT PRIMARY KEY,
         cert_sha256 TEXT NOT NULL UNIQUE,
         signing_public TEXT NOT NULL,
         enrolled_at_unix_ms INTEGER NOT NULL
     );
     CREATE TABLE site_keys_before (
         site_code TEXT NOT NULL,
         signing_public TEXT NOT NULL,
         enrolled_at_unix_ms INTEGER NOT NULL,
         replaced_at_unix_ms INTEGER NOT NULL
     );
     CREATE TABLE session_keys (
         session_id TEXT PRIMARY KEY,
         paper_key BLOB NOT NULL,
         release_code TEXT NOT NULL,
         wrapped_key BLOB NOT NULL,
         created_at_unix_ms INTEGER NOT NULL
     );
     CREATE TABLE packages (
         session_id TEXT PRIMARY KEY,
         site_code TEXT NOT NULL,
         version INTEGER NOT NULL,
         input_sha256 TEXT NOT NULL,
         bytes BLOB NOT NULL,
         created_at_unix_ms INTEGER NOT NULL
     );
     CREATE TABLE results (
         bundle_id TEXT PRIMARY KEY,
         site_code TEXT NOT NULL,
         session_id TEXT NOT NULL,
         admission_no TEXT NOT NULL,
         id_number TEXT NOT NULL,
         sealed_sha256 TEXT NOT NULL,
         sealed BLOB NOT NULL,
         body_json TEXT NOT NULL,
         submitted_reason TEXT NOT NULL,
         received_at_unix_ms INTEGER NOT NULL,
         via TEXT NOT NULL,
         total_centipoints INTEGER NOT NULL,
         max_centipoints INTEGER NOT NULL,
         passed INTEGER NOT NULL,
         needs_marking INTEGER NOT NULL,
         sections_json TEXT NOT NULL,
         items_json TEXT NOT NULL
     );
     CREATE INDEX results_by_session ON results (session_id, admission_no);
     CREATE TABLE result_rejections (
         id INTEGER PRIMARY KEY,
         at_unix_ms INTEGER NOT NULL,
         bundle_id TEXT NOT NULL,
         sender TEXT NOT NULL,
         via TEXT NOT NULL,
         reason TEXT NOT NULL
     );
     CREATE TABLE alarms (
         id INTEGER PRIMARY KEY,
         at_unix_ms INTEGER NOT NULL,
         kind TEXT NOT NULL,
         detail TEXT NOT NULL
     );
     CREATE TABLE audit_log (
         id INTEGER PRIMARY KEY,
         at_unix_ms INTEGER NOT NULL,
         by_whom TEXT NOT NULL,
         what TEXT NOT NULL,
         subject TEXT NOT NULL,
         detail TEXT NOT NULL
     );",
    // 4: a repeated enrolment (the key a token enrolled; whether its certificate was ever
    // used), and marks of short answers.
    "ALTER TABLE enroll_tokens ADD COLUMN used_by_key_sha256 TEXT;
     ALTER TABLE site_keys ADD COLUMN first_call_at_unix_ms INTEGER;
     CREATE TABLE marks (
         bundle_id TEXT NOT NULL REFERENCES results (bundle_id),
         item_id TEXT NOT NULL,
         centipoints INTEGER NOT NULL,
         by_whom TEXT NOT NULL,
         at_unix_ms INTEGER NOT NULL,
         PRIMARY KEY (bundle_id, item_id)
     );",
];

/// The plan that holds the sessions created before plans existed (see migration 2).
pub const LEGACY_PLAN_ID: &str = "LEGACY";

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

/// Writes one line of the audit log (who did what to which subject).
pub fn audit(
    conn: &Connection,
    by: &str,
    what: &str,
    subject: &str,
    detail: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO audit_log (at_unix_ms, by_whom, what, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![unix_ms(), by, what, subject, detail],
    )?;
    Ok(())
}

/// Milliseconds since the Unix epoch (import timestamps only).
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An exam session of a plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Session {
    pub id: String,
    pub plan_id: String,
    /// Central-wide number of the session, the first part of its admission numbers.
    pub seq: u32,
    pub title: String,
    pub starts_at_unix_ms: i64,
    pub roster_cutoff_hours: u32,
    /// `None` only for a session of the legacy plan.
    pub site_code: Option<String>,
    pub duration_min: Option<u32>,
    pub latest_login_min: Option<u32>,
}

impl Session {
    /// The moment after which its roster may no longer change.
    pub fn roster_cutoff_unix_ms(&self) -> i64 {
        self.starts_at_unix_ms - i64::from(self.roster_cutoff_hours) * 3_600_000
    }
}

const SESSION_COLUMNS: &str = "id, plan_id, seq, title, starts_at_unix_ms, roster_cutoff_hours, site_code, duration_min, latest_login_min";

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: r.get(0)?,
        plan_id: r.get(1)?,
        seq: r.get(2)?,
        title: r.get(3)?,
        starts_at_unix_ms: r.get(4)?,
        roster_cutoff_hours: r.get(5)?,
        site_code: r.get(6)?,
        duration_min: r.get(7)?,
        latest_login_min: r.get(8)?,
    })
}

pub fn session(conn: &Connection, id: &str) -> Result<Option<Session>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"),
            [id],
            session_row,
        )
        .optional()?)
}

/// Every session, by start time.
pub fn sessions(conn: &Connection) -> Result<Vec<Session>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions ORDER BY starts_at_unix_ms, id"
    ))?;
    let rows = stmt.query_map([], session_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The sessions of a plan, by start time.
pub fn plan_sessions(conn: &Connection, plan_id: &str) -> Result<Vec<Session>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE plan_id = ?1 ORDER BY starts_at_unix_ms, id"
    ))?;
    let rows = stmt.query_map([plan_id], session_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
