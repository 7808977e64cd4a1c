//! Rosters and photos of planned sessions. A roster import adds the accepted rows of a
//! spreadsheet to one session in one transaction; rows already there are reported, not added
//! again. After the session's cutoff its roster is frozen.

use std::collections::BTreeSet;
use std::path::Path;

use exam_content::photos::{self, PhotoReport};
use exam_content::roster::{self, RosterReport};
use rusqlite::{Connection, params};

use crate::store::{self, Session};
use crate::time::format_cst;

/// Largest photo archive accepted.
pub const PHOTO_ARCHIVE_BYTES_MAX: u64 = 2 * 1024 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RosterCmdError {
    #[error(
        "没有场次 {0}；请先用 `central-sync plan add` 建立场次 / no session {0}: add it first with `central-sync plan add` (see `central-sync plan list`)"
    )]
    NoSession(String),
    #[error(
        "场次 {id} 的名单修改截止时间（{cutoff} 北京时间，开考前 {hours} 小时）已过，名单不能再修改；如确需变更，请联系考试中心 / the roster cutoff of session {id} ({cutoff} China Standard Time, {hours} hours before the start) has passed: its roster can no longer change; contact the exam centre if a change is unavoidable"
    )]
    CutoffPassed {
        id: String,
        cutoff: String,
        hours: u32,
    },
    #[error(transparent)]
    Roster(#[from] roster::RosterError),
    #[error(transparent)]
    Photos(#[from] photos::PhotoError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// The session, if its roster may still change at `now_unix_ms`.
pub fn open_session(
    conn: &Connection,
    id: &str,
    now_unix_ms: i64,
) -> Result<Session, RosterCmdError> {
    let s = store::session(conn, id)?.ok_or_else(|| RosterCmdError::NoSession(id.to_owned()))?;
    if now_unix_ms >= s.roster_cutoff_unix_ms() {
        return Err(RosterCmdError::CutoffPassed {
            id: s.id.clone(),
            cutoff: format_cst(s.roster_cutoff_unix_ms()),
            hours: s.roster_cutoff_hours,
        });
    }
    Ok(s)
}

fn session_ids(conn: &Connection, session: &str) -> Result<BTreeSet<String>, rusqlite::Error> {
    let mut stmt = conn.prepare("SELECT id_number FROM candidates WHERE session_id = ?1")?;
    let rows = stmt.query_map([session], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// Imports a roster file into a session: every accepted row is added in one transaction.
pub fn import(
    conn: &mut Connection,
    session: &str,
    path: &Path,
    now_unix_ms: i64,
) -> Result<RosterReport, RosterCmdError> {
    open_session(conn, session, now_unix_ms)?;
    let known = session_ids(conn, session)?;
    let report = roster::read_path(path, &known)?;
    let source = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT OR IGNORE INTO candidates (session_id, id_number, name, entry_json, source_file, source_row, imported_at_unix_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for a in &report.accepted {
            let json = serde_json::to_string(&a.entry)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            insert.execute(params![
                session,
                a.entry.id_number,
                a.entry.name,
                json,
                source,
                a.row,
                now_unix_ms
            ])?;
        }
    }
    tx.commit()?;
    Ok(report)
}

/// Number of candidates of a session.
pub fn count(conn: &Connection, session: &str) -> Result<i64, rusqlite::Error> {
    conn.query_row(
        "SELECT count(*) FROM candidates WHERE session_id = ?1",
        [session],
        |r| r.get(0),
    )
}

/// Imports a photo archive against every candidate of every session.
pub fn import_photos(
    conn: &mut Connection,
    zip_bytes: &[u8],
    now_unix_ms: i64,
) -> Result<PhotoReport, RosterCmdError> {
    let ids: BTreeSet<String> = {
        let mut stmt = conn.prepare("SELECT DISTINCT id_number FROM candidates")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let report = photos::import(zip_bytes, &ids)?;
    let tx = conn.transaction()?;
    {
        let mut put = tx.prepare(
            "INSERT OR REPLACE INTO photos (id_number, bytes, width, height, imported_at_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for p in report.accepted.values() {
            put.execute(params![
                p.id_number,
                p.bytes,
                p.width,
                p.height,
                now_unix_ms
            ])?;
        }
    }
    tx.commit()?;
    Ok(report)
}

/// The clerk's view of a roster report.
pub fn roster_summary(report: &RosterReport) -> String {
    use std::fmt::Write;
    let c = report.counts;
    let mut out = format!(
        "工作表“{}”：共 {} 行，导入 {} 行，已存在 {} 行，拒绝 {} 行 / sheet “{}”: {} rows, {} imported, {} already present, {} rejected\n",
        report.sheet,
        c.rows,
        c.accepted,
        c.already_present,
        c.rejected,
        report.sheet,
        c.rows,
        c.accepted,
        c.already_present,
        c.rejected
    );
    for r in &report.rejected {
        let _ = writeln!(
            out,
            "  第 {} 行 / row {} [{}] “{}”: {}",
            r.row,
            r.row,
            r.column,
            r.value,
            r.all_reasons().replace('\n', "; ")
        );
    }
    for a in &report.already_present {
        let _ = writeln!(
            out,
            "  第 {} 行 / row {}: 已导入过 / already present ({})",
            a.row, a.row, a.id_number
        );
    }
    out
}

/// The clerk's view of a photo report.
pub fn photo_summary(report: &PhotoReport) -> String {
    use std::fmt::Write;
    let c = report.counts;
    let mut out = format!(
        "{} 个文件：导入 {} 张，提醒 {} 条，拒绝 {} 个，{} 名考生没有照片 / {} files: {} photos imported, {} warnings, {} rejected, {} candidates without a photo\n",
        c.files,
        c.accepted,
        c.warnings,
        c.rejected,
        c.without_photo,
        c.files,
        c.accepted,
        c.warnings,
        c.rejected,
        c.without_photo
    );
    for w in &report.warnings {
        let _ = writeln!(out, "  提醒 / warning {}: {}", w.file, w.message);
    }
    for r in &report.rejected {
        let _ = writeln!(out, "  拒绝 / rejected {}: {}", r.file, r.reason);
    }
    for id in &report.without_photo {
        let _ = writeln!(out, "  无照片 / no photo: {id}");
    }
    out
}
