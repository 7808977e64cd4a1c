//! `exam-sqlite`: the one careful way the platform's programs open their SQLite files (the site's
//! `site.db`, central's `central.db`): an application id that marks the file as ours, an integrity
//! check, WAL with `synchronous=FULL`, and schema migrations counted by `PRAGMA user_version`.
//!
//! It must never reset, truncate or "repair" a file it cannot read: a foreign, damaged or newer
//! file is an [`OpenError`] for the program to explain, and the file is left as it was.
//!
//! Database files are private to their owner from the moment they exist: a new file is created
//! with mode `0600` (through `exam-fs`) before SQLite opens it, and SQLite gives its `-wal` and
//! `-shm` files the mode of the database file. An existing file, WAL or shared-memory file that
//! others could read is tightened with a warning.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// What a program's database must look like.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// Written into the file's header; a file with another id belongs to another program.
    pub application_id: i32,
    /// Applied in order; `PRAGMA user_version` is how many have run.
    pub migrations: &'static [&'static str],
}

impl Schema {
    fn version(&self) -> u32 {
        self.migrations.len() as u32
    }
}

/// Why a database could not be opened. The file is untouched in every case.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{path} is not a database: {why}")]
    NotADatabase { path: PathBuf, why: String },
    #[error("{path} belongs to another program (application id {found:#x})")]
    Foreign { path: PathBuf, found: i32 },
    #[error("{path} failed its integrity check: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path} has schema version {found}; this program knows up to {known}")]
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error("{path} refused write-ahead logging (journal mode {mode})")]
    NoWal { path: PathBuf, mode: String },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Private(#[from] exam_fs::PrivateFsError),
}

/// The files SQLite keeps beside a database `path` in WAL mode (and a rollback journal, should
/// one be left from before).
pub fn companion_files(path: &Path) -> [PathBuf; 3] {
    ["-wal", "-shm", "-journal"].map(|suffix| {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        PathBuf::from(name)
    })
}

/// Opens `path` for writing, creating it if missing, after checking that an existing file is ours,
/// intact and not newer than `schema`; then runs the pending migrations, each in a transaction.
///
/// A missing file is created empty with mode `0600` first; an empty file (left by a crash right
/// after that) is taken as new. A file or companion file others could read is made `0600`.
pub fn open_writer(path: &Path, schema: &Schema) -> Result<Connection, OpenError> {
    let exists = match std::fs::metadata(path) {
        Ok(meta) => meta.len() > 0,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            drop(exam_fs::create_private_file(path)?);
            false
        }
        // Let SQLite say what is wrong with it.
        Err(_) => true,
    };
    for file in std::iter::once(path.to_path_buf()).chain(companion_files(path)) {
        exam_fs::tighten_file(&file)?;
    }
    let not_db = |e: rusqlite::Error| OpenError::NotADatabase {
        path: path.to_path_buf(),
        why: e.to_string(),
    };
    let mut conn = Connection::open(path).map_err(not_db)?;
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(not_db)?;
    let version: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(not_db)?;
    if exists {
        if app_id != schema.application_id {
            return Err(OpenError::Foreign {
                path: path.to_path_buf(),
                found: app_id,
            });
        }
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(not_db)?;
        if check != "ok" {
            return Err(OpenError::Corrupt {
                path: path.to_path_buf(),
                detail: check,
            });
        }
        if version > schema.version() {
            return Err(OpenError::TooNew {
                path: path.to_path_buf(),
                found: version,
                known: schema.version(),
            });
        }
    }
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::NoWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    for (i, sql) in schema.migrations.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as u32 + 1)?;
        tx.pragma_update(None, "application_id", schema.application_id)?;
        tx.commit()?;
    }
    Ok(conn)
}

/// Opens an existing `path` read-only; never creates or migrates anything.
pub fn open_reader(path: &Path, schema: &Schema) -> Result<Connection, OpenError> {
    let not_db = |e: rusqlite::Error| OpenError::NotADatabase {
        path: path.to_path_buf(),
        why: e.to_string(),
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(not_db)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(not_db)?;
    if app_id != schema.application_id {
        return Err(OpenError::Foreign {
            path: path.to_path_buf(),
            found: app_id,
        });
    }
    let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version != schema.version() {
        return Err(OpenError::TooNew {
            path: path.to_path_buf(),
            found: version,
            known: schema.version(),
        });
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: Schema = Schema {
        application_id: 0x5445_5354,
        migrations: &[
            "CREATE TABLE t (x INTEGER);",
            "ALTER TABLE t ADD COLUMN y TEXT;",
        ],
    };

    #[test]
    fn creates_migrates_and_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.db");
        let conn = open_writer(&path, &SCHEMA).expect("create");
        conn.execute("INSERT INTO t (x, y) VALUES (1, 'a')", [])
            .expect("both migrations ran");
        drop(conn);
        let r = open_reader(&path, &SCHEMA).expect("reader");
        let n: i64 = r
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .expect("count");
        assert_eq!(n, 1);
        open_writer(&path, &SCHEMA).expect("reopen");
    }

    #[test]
    fn foreign_newer_and_garbage_files_are_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let other = dir.path().join("other.db");
        Connection::open(&other)
            .and_then(|c| c.execute_batch("CREATE TABLE z (q);"))
            .expect("other db");
        assert!(matches!(
            open_writer(&other, &SCHEMA),
            Err(OpenError::Foreign { .. })
        ));

        let newer = dir.path().join("newer.db");
        drop(open_writer(&newer, &SCHEMA).expect("create"));
        let short = Schema {
            migrations: &SCHEMA.migrations[..1],
            ..SCHEMA
        };
        assert!(matches!(
            open_writer(&newer, &short),
            Err(OpenError::TooNew {
                found: 2,
                known: 1,
                ..
            })
        ));

        let junk = dir.path().join("junk.db");
        let bytes: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        std::fs::write(&junk, &bytes).expect("write");
        assert!(matches!(
            open_writer(&junk, &SCHEMA),
            Err(OpenError::NotADatabase { .. })
        ));
        assert_eq!(std::fs::read(&junk).expect("read"), bytes);
    }

    /// Set in the child process [`database_files_are_private_under_a_permissive_umask`] starts.
    #[cfg(unix)]
    const UMASK_CHILD: &str = "EXAM_SQLITE_TEST_UMASK_CHILD";

    /// Runs in a child process started with umask 000, so a file SQLite or this crate created
    /// with a default mode would be world-readable.
    #[cfg(unix)]
    #[test]
    fn database_files_are_private_under_a_permissive_umask() {
        if std::env::var_os(UMASK_CHILD).is_none() {
            let me = std::env::current_exe().expect("test binary");
            let out = std::process::Command::new("sh")
                .args(["-c", r#"umask 000 && exec "$0" "$@""#])
                .arg(me)
                .args([
                    "--exact",
                    "tests::database_files_are_private_under_a_permissive_umask",
                    "--nocapture",
                ])
                .env(UMASK_CHILD, "1")
                .output()
                .expect("child");
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{text}");
            assert!(text.contains("1 passed"), "the child ran the test: {text}");
            return;
        }
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            assert!(status.contains("Umask:\t0000"), "{status}");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.db");
        let conn = open_writer(&path, &SCHEMA).expect("create");
        conn.execute("INSERT INTO t (x) VALUES (1)", [])
            .expect("insert");
        let [wal, shm, _] = companion_files(&path);
        for p in [&path, &wal, &shm] {
            assert_eq!(exam_fs::mode_of(p), Some(0o600), "{}", p.display());
        }
    }

    #[cfg(unix)]
    #[test]
    fn loose_database_wal_and_shm_files_are_tightened_on_open() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.db");
        // Keep one connection open so the WAL and shared-memory files stay.
        let first = open_writer(&path, &SCHEMA).expect("create");
        first
            .execute("INSERT INTO t (x) VALUES (1)", [])
            .expect("insert");
        let [wal, shm, _] = companion_files(&path);
        for p in [&path, &wal, &shm] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        let second = open_writer(&path, &SCHEMA).expect("reopen");
        for p in [&path, &wal, &shm] {
            assert_eq!(exam_fs::mode_of(p), Some(0o600), "{}", p.display());
        }
        let n: i64 = second
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 1, "nothing else changed");
    }

    #[test]
    fn an_empty_file_left_by_a_crash_is_taken_as_new() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.db");
        std::fs::write(&path, b"").expect("empty");
        open_writer(&path, &SCHEMA).expect("created in the empty file");
    }
}
