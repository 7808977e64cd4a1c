//! Rosters and photos of planned sessions. A roster import adds the accepted rows of a
//! spreadsheet to one session in one transaction; rows already there are reported, not added
//! again. After the session's cutoff its roster is frozen, and while its plan is submitted or
//! approved it is locked (unlock the plan first).
//!
//! Besides the spreadsheet's own rules, a row is rejected by the plan's rules (see
//! [`crate::eligibility`]: a birth date in the future, an age outside the certificate
//! category's limits on the session's start date) and when the person is banned at the session's
//! start (see [`crate::blacklist`]). Such rows are moved to the report's rejected rows, with the
//! ID number column at fault and the reason, so the report workbook shows them like any other
//! rejection (their cells are written back from the checked entry, normalised).

use std::collections::BTreeSet;
use std::path::Path;

use exam_content::photos::{self, PhotoReport};
use exam_content::roster::{self, AcceptedRow, Col, Fault, Rejection, RosterEntry, RosterReport};
use rusqlite::{Connection, params};

use crate::plans::{self, CANDIDATES_PER_SESSION_MAX, Plan, PlanError};
use crate::store::{self, Session};
use crate::time::format_cst;
use crate::{blacklist, check, eligibility};

/// Largest photo archive accepted.
pub const PHOTO_ARCHIVE_BYTES_MAX: u64 = 2 * 1024 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RosterCmdError {
    #[error(
        "没有场次 {0}；请先用 `central-sync plan session add` 建立场次 / no session {0}: add it first with `central-sync plan session add` (see `central-sync plan list`)"
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
    #[error(
        "场次 {session} 将有 {count} 名考生，超过每场 {CANDIDATES_PER_SESSION_MAX} 名的上限，未导入任何考生；请拆分到几个场次 / session {session} would have {count} candidates, more than {CANDIDATES_PER_SESSION_MAX}, so nothing was imported: split them over several sessions"
    )]
    TooMany { session: String, count: usize },
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Text(#[from] check::TextError),
    #[error(transparent)]
    Roster(#[from] roster::RosterError),
    #[error(transparent)]
    Photos(#[from] photos::PhotoError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// The session and its plan, if its roster may still change at `now_unix_ms`: the plan is a
/// draft and the cutoff has not passed.
pub fn open_session(
    conn: &Connection,
    id: &str,
    now_unix_ms: i64,
) -> Result<(Session, Plan), RosterCmdError> {
    let s = store::session(conn, id)?.ok_or_else(|| RosterCmdError::NoSession(id.to_owned()))?;
    let plan = plans::ensure_editable(conn, &s.plan_id)?;
    if now_unix_ms >= s.roster_cutoff_unix_ms() {
        return Err(RosterCmdError::CutoffPassed {
            id: s.id.clone(),
            cutoff: format_cst(s.roster_cutoff_unix_ms()),
            hours: s.roster_cutoff_hours,
        });
    }
    Ok((s, plan))
}

/// The cells of a roster row as the report shows them, from its checked entry.
fn entry_cells(columns: &[String], e: &RosterEntry) -> Vec<String> {
    columns
        .iter()
        .map(|h| {
            let key: String = h
                .chars()
                .filter(|c| !c.is_whitespace() && !matches!(c, '*' | '＊'))
                .collect();
            let col = Col::ALL
                .into_iter()
                .find(|c| c.names().contains(&key.as_str()));
            match col {
                Some(Col::Name) => e.name.clone(),
                Some(Col::Gender) => e.gender.chinese().to_owned(),
                Some(Col::IdType) => e.id_type.code().to_string(),
                Some(Col::IdNumber) => e.id_number.clone(),
                Some(Col::Mobile) => e.mobile.clone(),
                Some(Col::Employer) => e.employer.clone(),
                Some(Col::Category) => e.category.clone(),
                Some(Col::Item) => e.item.clone(),
                Some(Col::ExamType) => e.exam_type.chinese().to_owned(),
                Some(Col::Expiry) => e.expiry.map(|d| d.to_string()).unwrap_or_default(),
                Some(Col::Seq) | None => String::new(),
            }
        })
        .collect()
}

/// Moves the accepted rows the plan does not allow (age, future birth date, bans) to the
/// rejected rows, with the reason.
pub fn apply_plan_rules(
    conn: &Connection,
    plan: &Plan,
    session: &Session,
    report: &mut RosterReport,
    now_unix_ms: i64,
) -> Result<(), RosterCmdError> {
    let id_column = report
        .columns
        .iter()
        .find(|h| Col::IdNumber.names().contains(&h.trim()))
        .cloned()
        .unwrap_or_else(|| Col::IdNumber.header().to_owned());
    let mut kept: Vec<AcceptedRow> = Vec::with_capacity(report.accepted.len());
    for a in std::mem::take(&mut report.accepted) {
        let why = match blacklist::ban_at(conn, &a.entry.id_number, session.starts_at_unix_ms)? {
            Some(ban) => Some(blacklist::banned_reason(&ban)),
            None => eligibility::refusal(
                &a.entry,
                &plan.category,
                session.starts_at_unix_ms,
                now_unix_ms,
            ),
        };
        match why {
            None => kept.push(a),
            Some(message) => report.rejected.push(Rejection {
                row: a.row,
                column: id_column.clone(),
                value: a.entry.id_number.clone(),
                reason: message.clone(),
                fault: Fault::IdNumber { message },
                more: Vec::new(),
                cells: entry_cells(&report.columns, &a.entry),
            }),
        }
    }
    report.accepted = kept;
    report.rejected.sort_by_key(|r| r.row);
    report.counts.accepted = report.accepted.len();
    report.counts.rejected = report.rejected.len();
    Ok(())
}

fn session_ids(conn: &Connection, session: &str) -> Result<BTreeSet<String>, rusqlite::Error> {
    let mut stmt = conn.prepare("SELECT id_number FROM candidates WHERE session_id = ?1")?;
    let rows = stmt.query_map([session], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// Imports a roster file into a session: every accepted row is added in one transaction, and
/// the import is written to the plan's log.
pub fn import(
    conn: &mut Connection,
    session: &str,
    path: &Path,
    now_unix_ms: i64,
    by: &str,
) -> Result<RosterReport, RosterCmdError> {
    let by = check::who(by)?;
    let (s, plan) = open_session(conn, session, now_unix_ms)?;
    let known = session_ids(conn, session)?;
    let mut report = roster::read_path(path, &known)?;
    apply_plan_rules(conn, &plan, &s, &mut report, now_unix_ms)?;
    let count = known.len() + report.accepted.len();
    if count > CANDIDATES_PER_SESSION_MAX as usize {
        return Err(RosterCmdError::TooMany {
            session: s.id,
            count,
        });
    }
    let source = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tx = conn.transaction()?;
    // The plan is read again inside the transaction: it may have been submitted meanwhile.
    plans::ensure_editable(&tx, &plan.id)?;
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
    let c = report.counts;
    plans::log(
        &tx,
        &plan.id,
        &by,
        "roster_imported",
        None,
        &format!(
            "session {session}: {source}: {} rows, {} imported, {} already present, {} rejected",
            c.rows, c.accepted, c.already_present, c.rejected
        ),
        now_unix_ms,
    )?;
    tx.commit()?;
    Ok(report)
}

/// Removes one candidate from a session's roster (before the cutoff, in a draft plan), with
/// who and why in the plan's log. Their admission number is not given to anyone else.
pub fn remove(
    conn: &mut Connection,
    session: &str,
    id_number: &str,
    by: &str,
    reason: &str,
    now_unix_ms: i64,
) -> Result<(), RosterCmdError> {
    let by = check::who(by)?;
    let reason = check::reason(reason)?;
    let id = roster::normalise_id_text(id_number);
    let tx = conn.transaction()?;
    let (s, plan) = open_session(&tx, session, now_unix_ms)?;
    let row: Option<(String, Option<String>)> = {
        use rusqlite::OptionalExtension;
        tx.query_row(
            "SELECT name, admission_no FROM candidates WHERE session_id = ?1 AND id_number = ?2",
            params![s.id, id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
    };
    let Some((name, admission_no)) = row else {
        return Err(PlanError::NoCandidate { session: s.id, id }.into());
    };
    tx.execute(
        "DELETE FROM candidates WHERE session_id = ?1 AND id_number = ?2",
        params![s.id, id],
    )?;
    plans::log(
        &tx,
        &plan.id,
        &by,
        "candidate_removed",
        Some(&reason),
        &format!(
            "session {}: {id} {name}{}",
            s.id,
            admission_no.map_or(String::new(), |a| format!(" (admission no. {a})"))
        ),
        now_unix_ms,
    )?;
    tx.commit()?;
    Ok(())
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
