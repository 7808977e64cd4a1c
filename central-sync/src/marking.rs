//! Marking: the items no rule can score (short answers) are scored by a marker at central.
//!
//! `results marking SESSION` lists the answers waiting, by admission number (never names or ID
//! numbers), each with its question, the reference answer and the points it is worth;
//! `results mark SESSION ADMISSION_NO ITEM POINTS --by NAME` scores one. A mark is kept in
//! `marks`, the result is scored again from its stored body and every mark (total, sections,
//! pass or fail once nothing waits), and the audit log keeps who gave what and what it replaced —
//! all in one transaction. A mark may be changed; it never changes the sealed result itself.

use std::collections::BTreeMap;

use anyhow::Context;
use exam_domain::score::{ItemScore, score_item};
use exam_domain::{ItemKind, Response};
use exam_protocol::central::ResultBody;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::plans;
use crate::results::{self, Definitions, Score};

/// Longest marker name accepted.
pub const MARKER_NAME_CHARS_MAX: usize = 64;

/// One answer a marker scores.
#[derive(Debug, Clone, Serialize)]
pub struct ToMark {
    pub admission_no: String,
    pub item: String,
    pub prompt: String,
    pub reference: String,
    pub answer: String,
    pub max_centipoints: u32,
    /// The mark given so far, if any.
    pub centipoints: Option<u32>,
    pub marked_by: Option<String>,
}

/// A result of the session as stored: its bundle, body and the marks given so far.
struct Stored {
    bundle_id: String,
    body: ResultBody,
    marks: BTreeMap<String, (u32, String)>,
}

fn stored(conn: &Connection, session: &str, admission_no: &str) -> anyhow::Result<Option<Stored>> {
    let row: Option<(String, String)> = conn
        .query_row(
            "SELECT bundle_id, body_json FROM results WHERE session_id = ?1 AND admission_no = ?2",
            params![session, admission_no],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((bundle_id, body)) = row else {
        return Ok(None);
    };
    let body: ResultBody = serde_json::from_str(&body)
        .with_context(|| format!("the stored result {bundle_id} is damaged"))?;
    let mut stmt =
        conn.prepare("SELECT item_id, centipoints, by_whom FROM marks WHERE bundle_id = ?1")?;
    let marks = stmt
        .query_map([&bundle_id], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
        .collect::<Result<_, _>>()?;
    Ok(Some(Stored {
        bundle_id,
        body,
        marks,
    }))
}

/// The answers of `session` a marker scores, in admission-number order; with `all`, those
/// marked already too.
pub fn to_mark(conn: &Connection, session: &str, all: bool) -> anyhow::Result<Vec<ToMark>> {
    let s = plans::session_for_site(conn, session)?;
    let mut definitions = Definitions::default();
    let mut out = Vec::new();
    for c in &s.candidates {
        let Some(r) = stored(conn, session, &c.admission_no)? else {
            continue;
        };
        let paper = definitions
            .paper(conn, &s.content_id, r.body.paper_seed)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for item in paper.items() {
            let response = answer(&r.body, item.id.as_str());
            if !waits_for_marker(item, response.as_ref()) {
                continue;
            }
            let reference = match &item.kind {
                ItemKind::ShortAnswer { reference } => reference.clone(),
                _ => String::new(),
            };
            let mark = r.marks.get(item.id.as_str());
            if mark.is_some() && !all {
                continue;
            }
            out.push(ToMark {
                admission_no: c.admission_no.clone(),
                item: item.id.as_str().to_owned(),
                prompt: item.prompt.clone(),
                reference,
                answer: match response {
                    Some(Response::Essay(text)) => text,
                    Some(other) => format!("{other:?}"),
                    None => String::new(),
                },
                max_centipoints: item.weight * 100,
                centipoints: mark.map(|m| m.0),
                marked_by: mark.map(|m| m.1.clone()),
            });
        }
    }
    Ok(out)
}

/// Points as typed by a marker ("7", "7.5", "7.25") in centipoints.
pub fn parse_points(text: &str) -> anyhow::Result<u32> {
    let bad = || {
        anyhow::anyhow!(
            "分数“{text}”无效 / “{text}” is not a number of points: write e.g. 7 or 7.5 (at most two decimals)"
        )
    };
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty()
        || whole.len() > 6
        || frac.len() > 2
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: u32 = whole.parse().map_err(|_| bad())?;
    let frac: u32 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    Ok(whole * 100 + frac)
}

/// Gives `centipoints` to `item` of the result of `admission_no` in `session`, and scores the
/// result again. Returns the new score.
pub fn mark(
    conn: &mut Connection,
    session: &str,
    admission_no: &str,
    item: &str,
    centipoints: u32,
    by: &str,
    now_unix_ms: i64,
) -> anyhow::Result<Score> {
    let by = by.trim();
    anyhow::ensure!(
        !by.is_empty() && by.chars().count() <= MARKER_NAME_CHARS_MAX,
        "--by must name the marker (at most {MARKER_NAME_CHARS_MAX} characters)"
    );
    let s = plans::session_for_site(conn, session)?;
    // Immediate: two markers at once wait for each other instead of failing half-way.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let r = stored(&tx, session, admission_no)?.ok_or_else(|| {
        anyhow::anyhow!(
            "场次 {session} 没有准考证号 {admission_no} 的成绩 / no result of {admission_no} in session {session}: see `central-sync results status {session}`"
        )
    })?;
    let paper = Definitions::default()
        .paper(&tx, &s.content_id, r.body.paper_seed)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let to_mark = paper
        .items()
        .find(|i| i.id.as_str() == item && waits_for_marker(i, answer(&r.body, item).as_ref()))
        .ok_or_else(|| {
        anyhow::anyhow!(
            "第 {item} 题不需要阅卷 / item {item} of {admission_no} is not one a marker scores (not on the paper, scored by its key, or not answered): see `central-sync results marking {session}`"
        )
    })?;
    anyhow::ensure!(
        centipoints <= to_mark.weight * 100,
        "第 {item} 题满分 {} 分 / item {item} is worth at most {} points; nothing was changed",
        to_mark.weight,
        to_mark.weight
    );
    let before = r.marks.get(item).map(|m| m.0);
    tx.execute(
        "INSERT INTO marks (bundle_id, item_id, centipoints, by_whom, at_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (bundle_id, item_id) DO UPDATE SET centipoints = excluded.centipoints, by_whom = excluded.by_whom, at_unix_ms = excluded.at_unix_ms",
        params![r.bundle_id, item, centipoints, by, now_unix_ms],
    )?;
    let mut marks: BTreeMap<String, u32> = r.marks.into_iter().map(|(i, (c, _))| (i, c)).collect();
    marks.insert(item.to_owned(), centipoints);
    let score = results::score(&paper, &r.body, &marks, s.pass_mark_percent);
    tx.execute(
        "UPDATE results SET total_centipoints = ?2, passed = ?3, needs_marking = ?4, sections_json = ?5, items_json = ?6 WHERE bundle_id = ?1",
        params![
            r.bundle_id,
            score.total_centipoints,
            score.passed,
            score.needs_marking,
            serde_json::to_string(&score.sections)?,
            serde_json::to_string(&score.items)?,
        ],
    )?;
    let detail = match before {
        Some(b) => format!(
            "item {item}: {} points (was {})",
            points(centipoints),
            points(b)
        ),
        None => format!("item {item}: {} points", points(centipoints)),
    };
    crate::store::audit(
        &tx,
        by,
        "mark",
        &format!("{session}/{admission_no}"),
        &detail,
    )?;
    tx.commit()?;
    Ok(score)
}

/// The result's final answer to `item`, if any.
fn answer(body: &ResultBody, item: &str) -> Option<Response> {
    body.final_answers
        .iter()
        .find(|(i, _)| i == item)
        .and_then(|(_, a)| serde_json::from_str(a).ok())
}

/// Whether `response` to `item` is one no rule scores (an answered short answer).
fn waits_for_marker(item: &exam_domain::Item, response: Option<&Response>) -> bool {
    matches!(score_item(item, response), ItemScore::NeedsMarker)
}

/// Centipoints as points for people: "7", "7.5", "7.25".
pub fn points(centipoints: u32) -> String {
    let (whole, frac) = (centipoints / 100, centipoints % 100);
    match frac {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_read_and_written_in_hundredths() {
        for (text, centi) in [
            ("7", 700),
            ("7.5", 750),
            ("7.25", 725),
            ("0", 0),
            ("0.05", 5),
        ] {
            assert_eq!(parse_points(text).expect(text), centi);
            assert_eq!(points(centi), text);
        }
        for bad in ["", "-1", "7.255", "7,5", "1e3", ".5", "abc", "9999999"] {
            assert!(parse_points(bad).is_err(), "{bad}");
        }
    }
}
