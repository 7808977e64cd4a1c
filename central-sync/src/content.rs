//! Question content: QTI packages imported into the store, each kept as the package itself (the
//! source of truth) under an id, and shown from it.

use exam_content::qti::{self, ImportReport, Problem};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// Largest content package accepted.
pub const PACKAGE_BYTES_MAX: usize = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error(transparent)]
    Qti(#[from] qti::QtiError),
    #[error("the package is {0} bytes; at most {PACKAGE_BYTES_MAX} are accepted")]
    TooLarge(usize),
    #[error(
        "{} 个题目无法导入，未导入任何内容。请修正题库包，或加 --accept-problems 只导入其余题目 / {} item(s) cannot be imported, so nothing was imported: fix the package, or run again with --accept-problems to import the rest:\n{}",
        .0.len(), .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
    )]
    Problems(Vec<Problem>),
    #[error(
        "题库 {0} 已存在且内容不同；未做修改 / content {0} exists already with other content; nothing changed"
    )]
    Exists(String),
    #[error("没有编号为 {0} 的题库 / no content with id {0} (see `central-sync content list`)")]
    NotFound(String),
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// What `content import` did.
#[derive(Debug, Serialize)]
pub struct Imported {
    pub id: String,
    /// False when the very same package was imported before (nothing changed).
    pub added: bool,
    pub report: ImportReport,
}

/// The id a package is stored under: its test's identifier, else the file name without `.zip`,
/// kept to letters, digits, `-`, `_` and `.`.
pub fn content_id(report: &ImportReport, file_stem: &str) -> String {
    let raw = report
        .test
        .as_ref()
        .map_or(file_stem, |t| t.identifier.as_str());
    let id: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if id.is_empty() { "content".into() } else { id }
}

/// Imports a package. Problems that leave items out stop the import unless `accept_problems`.
pub fn import(
    conn: &mut Connection,
    bytes: &[u8],
    file_stem: &str,
    accept_problems: bool,
) -> Result<Imported, ContentError> {
    if bytes.len() > PACKAGE_BYTES_MAX {
        return Err(ContentError::TooLarge(bytes.len()));
    }
    let report = qti::import_package(bytes)?;
    let dropping: Vec<Problem> = report
        .problems
        .iter()
        .filter(|p| p.kind.drops_item())
        .cloned()
        .collect();
    if !dropping.is_empty() && !accept_problems {
        return Err(ContentError::Problems(dropping));
    }
    let id = content_id(&report, file_stem);
    let tx = conn.transaction()?;
    let existing: Option<Vec<u8>> = tx
        .query_row("SELECT package FROM content WHERE id = ?1", [&id], |r| {
            r.get(0)
        })
        .optional()?;
    let added = match existing {
        Some(old) if old == bytes => false,
        Some(_) => return Err(ContentError::Exists(id)),
        None => {
            let title = report
                .test
                .as_ref()
                .map_or_else(|| file_stem.to_owned(), |t| t.title.clone());
            tx.execute(
                "INSERT INTO content (id, title, package, imported_at_unix_ms) VALUES (?1, ?2, ?3, ?4)",
                params![id, title, bytes, crate::store::unix_ms()],
            )?;
            true
        }
    };
    tx.commit()?;
    Ok(Imported { id, added, report })
}

/// The stored package of `id`, imported again (so what is shown is what the importer reads now).
pub fn show(conn: &Connection, id: &str) -> Result<ImportReport, ContentError> {
    let bytes: Option<Vec<u8>> = conn
        .query_row("SELECT package FROM content WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    let bytes = bytes.ok_or_else(|| ContentError::NotFound(id.to_owned()))?;
    Ok(qti::import_package(&bytes)?)
}

/// `(id, title)` of every stored package.
pub fn list(conn: &Connection) -> Result<Vec<(String, String)>, ContentError> {
    let mut stmt = conn.prepare("SELECT id, title FROM content ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A clerk's summary: sections with item counts, selection and weights; items with type and
/// correct response; problems.
pub fn summary(report: &ImportReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if let Some(t) = &report.test {
        let limit = t
            .time_limit_secs
            .map_or("none".to_owned(), |s| format!("{} min", s / 60));
        let _ = writeln!(
            out,
            "test {} — {} (time limit {limit})",
            t.identifier, t.title
        );
        for s in t.sections() {
            let weights: std::collections::BTreeSet<String> = s
                .item_refs()
                .iter()
                .map(|r| format!("{}", r.weight()))
                .collect();
            let select = s
                .selection
                .map_or("all".to_owned(), |sel| format!("select {}", sel.select));
            let _ = writeln!(
                out,
                "  section {} — {}: {} items, {select}, weight {}{}",
                s.identifier,
                s.title,
                s.item_count,
                weights.into_iter().collect::<Vec<_>>().join("/"),
                if s.shuffle { ", shuffled" } else { "" }
            );
        }
    }
    let _ = writeln!(
        out,
        "{} items, {} media files",
        report.items.len(),
        report.media.len()
    );
    for i in &report.items {
        let correct: Vec<String> = i
            .responses
            .iter()
            .filter(|r| !r.correct.is_empty())
            .map(|r| r.correct.join(","))
            .collect();
        let _ = writeln!(
            out,
            "  {} [{:?}] correct: {}",
            i.key,
            i.item_type,
            if correct.is_empty() {
                "(scored by a person)".into()
            } else {
                correct.join("; ")
            }
        );
    }
    if !report.problems.is_empty() {
        let _ = writeln!(out, "{} problems:", report.problems.len());
        for p in &report.problems {
            let _ = writeln!(out, "  - {p}");
        }
    }
    out
}
