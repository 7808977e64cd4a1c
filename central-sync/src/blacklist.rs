//! The blacklist (黑名单): people barred from exams for a penalty period, by ID number.
//!
//! `--until YYYY-MM-DD` is the last day of the ban, inclusive (China Standard Time): the ban ends
//! at 00:00 of the next day, stored as `until_unix_ms`. A ban is never deleted: lifting it records
//! who lifted it, when and why beside who added it, when and why, so the table is its own log.
//! A person has at most one ban in force at a time.
//!
//! Effects: a roster import rejects a person banned at the session's start ("banned until …"),
//! approving a plan is refused while one of its candidates is banned at their session's start,
//! and a ban added after approval goes to the site with the session's next package version
//! (the blacklist is part of it): the site keeps that candidate from logging in and logs why.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::check::{self, TextError};
use crate::time;

/// Shortest and longest document number accepted (passports and permits included).
pub const ID_NUMBER_CHARS: std::ops::RangeInclusive<usize> = 5..=30;
/// Longest ban, in days (10 years).
pub const BAN_DAYS_MAX: i64 = 3660;

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, thiserror::Error)]
pub enum BlacklistError {
    #[error(transparent)]
    Text(#[from] TextError),
    #[error(
        "证件号码“{0}”不可用：应为 5–30 位字母或数字，居民身份证号须校验正确 / the ID number “{0}” cannot be used: write 5–30 letters or digits, and a resident ID number must pass its check digit"
    )]
    IdNumber(String),
    #[error(
        "日期“{0}”不可用：请写成 YYYY-MM-DD（如 2027-06-30），且不早于今天、不超过 {BAN_DAYS_MAX} 天 / the date “{0}” cannot be used: write YYYY-MM-DD (e.g. 2027-06-30), today or later and at most {BAN_DAYS_MAX} days ahead"
    )]
    Until(String),
    #[error(
        "{id} 已被禁考至 {until}（{reason}），未做任何修改；如需改变期限，请先解除再重新登记 / {id} is banned until {until} already ({reason}); nothing changed: to change the period, lift that ban first and add a new one"
    )]
    AlreadyBanned {
        id: String,
        until: String,
        reason: String,
    },
    #[error(
        "{0} 目前不在黑名单中，未做任何修改 / {0} is not banned now; nothing changed (see `central-sync blacklist list`)"
    )]
    NotBanned(String),
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// One ban, in force or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ban {
    pub id_number: String,
    pub reason: String,
    /// Last day of the ban, `YYYY-MM-DD`, inclusive.
    pub until_date: String,
    /// The ban ends at this moment (00:00 CST of the day after `until_date`).
    pub until_unix_ms: i64,
    pub added_by: String,
    pub added_at_unix_ms: i64,
    pub lifted_at_unix_ms: Option<i64>,
    pub lifted_by: Option<String>,
    pub lift_reason: Option<String>,
}

impl Ban {
    /// In force at `unix_ms`: not lifted and not ended.
    pub fn active_at(&self, unix_ms: i64) -> bool {
        self.lifted_at_unix_ms.is_none() && unix_ms < self.until_unix_ms
    }
}

/// The clerk's message for a row of a banned person.
pub fn banned_reason(ban: &Ban) -> String {
    format!(
        "此人已被列入黑名单，禁考至 {}（{}），不能报名本场次 / banned until {} ({}): this person may not sit this session",
        ban.until_date, ban.reason, ban.until_date, ban.reason
    )
}

/// An ID number as the roster importer normalises it; a resident ID number must be valid.
pub fn normalise_id(raw: &str) -> Result<String, BlacklistError> {
    let id = exam_content::roster::normalise_id_text(raw);
    let n = id.chars().count();
    if !ID_NUMBER_CHARS.contains(&n) || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(BlacklistError::IdNumber(raw.trim().to_owned()));
    }
    let looks_resident = n == 18 && id.chars().take(17).all(|c| c.is_ascii_digit());
    if looks_resident && exam_domain::IdNumber::parse(&id).is_err() {
        return Err(BlacklistError::IdNumber(raw.trim().to_owned()));
    }
    Ok(id)
}

const BAN_COLUMNS: &str = "id_number, reason, until_date, until_unix_ms, added_by, added_at_unix_ms, lifted_at_unix_ms, lifted_by, lift_reason";

fn ban_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Ban> {
    Ok(Ban {
        id_number: r.get(0)?,
        reason: r.get(1)?,
        until_date: r.get(2)?,
        until_unix_ms: r.get(3)?,
        added_by: r.get(4)?,
        added_at_unix_ms: r.get(5)?,
        lifted_at_unix_ms: r.get(6)?,
        lifted_by: r.get(7)?,
        lift_reason: r.get(8)?,
    })
}

/// The ban of `id_number` in force at `unix_ms`, if any.
pub fn ban_at(
    conn: &Connection,
    id_number: &str,
    unix_ms: i64,
) -> Result<Option<Ban>, rusqlite::Error> {
    conn.query_row(
        &format!(
            "SELECT {BAN_COLUMNS} FROM bans WHERE id_number = ?1 AND lifted_at_unix_ms IS NULL AND until_unix_ms > ?2
             ORDER BY until_unix_ms DESC LIMIT 1"
        ),
        params![id_number, unix_ms],
        ban_row,
    )
    .optional()
}

/// Bans `id_number` through the day `until` (`YYYY-MM-DD`, inclusive).
pub fn add(
    conn: &mut Connection,
    id_number: &str,
    reason: &str,
    until: &str,
    by: &str,
    now_unix_ms: i64,
) -> Result<Ban, BlacklistError> {
    let id = normalise_id(id_number)?;
    let reason = check::reason(reason)?;
    let by = check::who(by)?;
    let bad_until = || BlacklistError::Until(until.trim().chars().take(40).collect());
    let start = time::parse_cst(&format!("{} 00:00", until.trim())).map_err(|_| bad_until())?;
    let until_unix_ms = start + DAY_MS;
    if until_unix_ms <= now_unix_ms || until_unix_ms - now_unix_ms > BAN_DAYS_MAX * DAY_MS {
        return Err(bad_until());
    }
    let tx = conn.transaction()?;
    if let Some(b) = ban_at(&tx, &id, now_unix_ms)? {
        return Err(BlacklistError::AlreadyBanned {
            id,
            until: b.until_date,
            reason: b.reason,
        });
    }
    let until_date = time::format_cst(start)
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    tx.execute(
        "INSERT INTO bans (id_number, reason, until_date, until_unix_ms, added_by, added_at_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, reason, until_date, until_unix_ms, by, now_unix_ms],
    )?;
    tx.commit()?;
    Ok(Ban {
        id_number: id,
        reason,
        until_date,
        until_unix_ms,
        added_by: by,
        added_at_unix_ms: now_unix_ms,
        lifted_at_unix_ms: None,
        lifted_by: None,
        lift_reason: None,
    })
}

/// Lifts the ban of `id_number` in force now.
pub fn lift(
    conn: &mut Connection,
    id_number: &str,
    reason: &str,
    by: &str,
    now_unix_ms: i64,
) -> Result<Ban, BlacklistError> {
    let id = normalise_id(id_number)?;
    let reason = check::reason(reason)?;
    let by = check::who(by)?;
    let tx = conn.transaction()?;
    let Some(mut ban) = ban_at(&tx, &id, now_unix_ms)? else {
        return Err(BlacklistError::NotBanned(id));
    };
    tx.execute(
        "UPDATE bans SET lifted_at_unix_ms = ?3, lifted_by = ?4, lift_reason = ?5
          WHERE id_number = ?1 AND until_unix_ms = ?2 AND lifted_at_unix_ms IS NULL",
        params![id, ban.until_unix_ms, now_unix_ms, by, reason],
    )?;
    tx.commit()?;
    ban.lifted_at_unix_ms = Some(now_unix_ms);
    ban.lifted_by = Some(by);
    ban.lift_reason = Some(reason);
    Ok(ban)
}

/// Every ban, newest first; only those in force at `now_unix_ms` unless `all`.
pub fn list(conn: &Connection, now_unix_ms: i64, all: bool) -> Result<Vec<Ban>, BlacklistError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {BAN_COLUMNS} FROM bans
          WHERE ?2 OR (lifted_at_unix_ms IS NULL AND until_unix_ms > ?1)
          ORDER BY added_at_unix_ms DESC, seq DESC"
    ))?;
    let rows = stmt.query_map(params![now_unix_ms, all], ban_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `(ID number, until_unix_ms, reason)` of every ban not lifted that still runs at `unix_ms`,
/// by ID number: what a site must refuse at check-in on that day.
pub fn active_at(
    conn: &Connection,
    unix_ms: i64,
) -> Result<Vec<(String, i64, String)>, BlacklistError> {
    let mut stmt = conn.prepare(
        "SELECT id_number, max(until_unix_ms), reason FROM bans
          WHERE lifted_at_unix_ms IS NULL AND until_unix_ms > ?1
          GROUP BY id_number ORDER BY id_number",
    )?;
    let rows = stmt.query_map([unix_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `(plan, session)` of the approved plans' sessions that seat the person of `ban` and start
/// while it runs: they must be unlocked and the person removed.
pub fn seated_in_approved(
    conn: &Connection,
    ban: &Ban,
) -> Result<Vec<(String, String)>, BlacklistError> {
    let mut stmt = conn.prepare(
        "SELECT p.id, s.id FROM candidates c JOIN sessions s ON s.id = c.session_id JOIN plans p ON p.id = s.plan_id
          WHERE c.id_number = ?1 AND p.state = 'approved' AND s.starts_at_unix_ms < ?2
          ORDER BY s.starts_at_unix_ms",
    )?;
    let rows = stmt.query_map(params![ban.id_number, ban.until_unix_ms], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The clerk's view of bans.
pub fn summary(bans: &[Ban]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for b in bans {
        let _ = write!(
            out,
            "{}\t禁考至 / until {}\t{}\t登记 / added by {} {}",
            b.id_number,
            b.until_date,
            b.reason,
            b.added_by,
            time::format_cst(b.added_at_unix_ms)
        );
        if let (Some(at), Some(by)) = (b.lifted_at_unix_ms, &b.lifted_by) {
            let _ = write!(
                out,
                "\t已解除 / lifted by {by} {}: {}",
                time::format_cst(at),
                b.lift_reason.as_deref().unwrap_or_default()
            );
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "140581197106190788";

    #[test]
    fn add_list_lift_and_active_at() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = crate::store::open(dir.path()).expect("open");
        let now = time::parse_cst("2026-12-03 10:00").expect("time");
        assert!(matches!(
            add(
                &mut conn,
                "140581197106190789",
                "x",
                "2027-06-30",
                "王",
                now
            ),
            Err(BlacklistError::IdNumber(_))
        ));
        assert!(matches!(
            add(&mut conn, ID, "x", "2026-12-02", "王", now),
            Err(BlacklistError::Until(_))
        ));
        let b = add(&mut conn, ID, "替考", "2027-06-30", "王", now).expect("add");
        assert_eq!(
            b.until_unix_ms,
            time::parse_cst("2027-07-01 00:00").expect("time")
        );
        assert!(matches!(
            add(&mut conn, ID, "x", "2028-01-01", "王", now),
            Err(BlacklistError::AlreadyBanned { .. })
        ));
        let last_day = time::parse_cst("2027-06-30 23:59").expect("time");
        assert_eq!(
            active_at(&conn, last_day).expect("active"),
            vec![(ID.to_owned(), b.until_unix_ms, "替考".to_owned())]
        );
        assert!(
            active_at(&conn, b.until_unix_ms)
                .expect("active")
                .is_empty()
        );
        lift(&mut conn, ID, "复议撤销", "李", now).expect("lift");
        assert!(active_at(&conn, now).expect("active").is_empty());
        assert!(matches!(
            lift(&mut conn, ID, "x", "李", now),
            Err(BlacklistError::NotBanned(_))
        ));
        let all = list(&conn, now, true).expect("list");
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].lifted_by.as_deref(), Some("李"));
        assert!(list(&conn, now, false).expect("list").is_empty());
    }
}
