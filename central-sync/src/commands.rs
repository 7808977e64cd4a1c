//! The commands around the site API: `init`, `fingerprint`, `serve`, `site token`, `session
//! release-code`, `package export`, `results import|export|status`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;
use rust_xlsxwriter::{Format, Workbook};

use crate::keys::CentralKeys;
use crate::{api, marking, packages, plans, results, store};

pub fn init(data: &Path) -> anyhow::Result<()> {
    drop(store::open(data)?);
    let keys = CentralKeys::init(data, SystemTime::now())?;
    println!(
        "central's keys are in {}",
        data.join(crate::keys::KEYS_DIR).display()
    );
    println!("fingerprint for sites: {}", keys.fingerprint());
    println!("back that directory up: losing it means enrolling every site again");
    Ok(())
}

/// The operator's certificate, when both files are given.
pub fn operator_cert(
    cert: Option<&Path>,
    key: Option<&Path>,
) -> anyhow::Result<Option<crate::keys::OperatorCert>> {
    match (cert, key) {
        (Some(c), Some(k)) => Ok(Some(crate::keys::OperatorCert::load(c, k)?)),
        (None, None) => Ok(None),
        _ => anyhow::bail!(
            "give both --tls-cert and --tls-key, or neither (central's own certificate)"
        ),
    }
}

/// What sites pin: central's CA, or the last certificate of the operator's chain.
pub fn fingerprint(data: &Path, cert: Option<&Path>) -> anyhow::Result<()> {
    match cert {
        Some(c) => println!("{}", crate::keys::OperatorCert::chain_fingerprint(c)?),
        None => println!(
            "{}",
            CentralKeys::load(data, SystemTime::now())?.fingerprint()
        ),
    }
    Ok(())
}

pub fn serve(
    data: &Path,
    listen: SocketAddr,
    operator: Option<crate::keys::OperatorCert>,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let central = api::start_with(data, listen, operator).await?;
        println!(
            "central-sync: serving the site API on https://{}",
            central.addr
        );
        println!("fingerprint for sites: {}", central.fingerprint);
        println!("press Ctrl-C to stop");
        tokio::signal::ctrl_c().await?;
        eprintln!("central-sync: stopping");
        central.stop().await;
        Ok(())
    })
}

pub fn release_code(data: &Path, session: &str, by: &str) -> anyhow::Result<()> {
    let mut conn = store::open(data)?;
    let code = packages::release_code(&mut conn, session, by, store::unix_ms())?;
    println!("{code}");
    eprintln!(
        "release code of session {session}: read it to the site over the phone only at the start (`site-server release --session {session} --code …`); this was logged"
    );
    Ok(())
}

pub fn package_export(data: &Path, session: &str, out: &Path) -> anyhow::Result<()> {
    let keys = CentralKeys::load(data, SystemTime::now())?;
    let mut conn = store::open(data)?;
    let (version, bytes) = packages::current(&mut conn, &keys, session, store::unix_ms())?;
    exam_fs::write_private_atomic(out, &bytes)?;
    println!(
        "wrote version {version} of the package of session {session} to {} ({} bytes); the site takes it with `site-server import-package`",
        out.display(),
        bytes.len()
    );
    Ok(())
}

/// Largest result file read from a directory.
const RESULT_FILE_BYTES_MAX: u64 = exam_protocol::central::RESULT_BYTES_MAX as u64;
/// Most files one import reads.
const IMPORT_FILES_MAX: usize = 100_000;

pub fn results_import(data: &Path, dir: &Path) -> anyhow::Result<()> {
    let keys = CentralKeys::load(data, SystemTime::now())?;
    let mut conn = store::open(data)?;
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "exres"))
        .collect();
    anyhow::ensure!(
        files.len() <= IMPORT_FILES_MAX,
        "{} holds {} result files; at most {IMPORT_FILES_MAX} are read at once",
        dir.display(),
        files.len()
    );
    files.sort();
    let (mut accepted, mut duplicate, mut refused) = (0, 0, 0);
    for f in &files {
        let len = std::fs::metadata(f)?.len();
        if len > RESULT_FILE_BYTES_MAX {
            println!(
                "{}: refused: {len} bytes, larger than any result",
                f.display()
            );
            refused += 1;
            continue;
        }
        let bytes = std::fs::read(f)?;
        match results::ingest(&mut conn, &keys, &bytes, None, "file", store::unix_ms()) {
            Ok(r) => match r.outcome {
                exam_protocol::central::ReceiptOutcome::Accepted => accepted += 1,
                exam_protocol::central::ReceiptOutcome::Duplicate => duplicate += 1,
            },
            Err(e) => {
                println!("{}: refused: {e}", f.display());
                refused += 1;
            }
        }
    }
    println!(
        "{} files: {accepted} accepted, {duplicate} already received, {refused} refused",
        files.len()
    );
    Ok(())
}

/// One candidate's line in the results of a session.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ResultLine {
    pub admission_no: String,
    pub id_number: String,
    pub name: String,
    pub site_code: String,
    pub room: String,
    pub seat: u32,
    /// `missing`, `received`, `needs marking`.
    pub status: String,
    pub sections: Vec<(String, u32, u32)>,
    pub total_centipoints: Option<u32>,
    pub max_centipoints: Option<u32>,
    pub passed: Option<bool>,
}

pub fn result_lines(conn: &rusqlite::Connection, session: &str) -> anyhow::Result<Vec<ResultLine>> {
    let s = plans::session_for_site(conn, session)?;
    let mut out = Vec::new();
    for c in &s.candidates {
        let row: Option<(u32, u32, bool, u32, String)> = rusqlite::OptionalExtension::optional(
            conn.query_row(
                "SELECT total_centipoints, max_centipoints, passed, needs_marking, sections_json FROM results WHERE session_id = ?1 AND admission_no = ?2",
                rusqlite::params![session, c.admission_no],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            ),
        )?;
        let mut line = ResultLine {
            admission_no: c.admission_no.clone(),
            id_number: c.id_number.clone(),
            name: c.name.clone(),
            site_code: s.site_code.clone(),
            room: c.room.clone(),
            seat: c.seat,
            status: "missing".into(),
            sections: Vec::new(),
            total_centipoints: None,
            max_centipoints: None,
            passed: None,
        };
        if let Some((total, max, passed, marking, sections)) = row {
            let sections: Vec<results::SectionScore> = serde_json::from_str(&sections)?;
            line.status = if marking > 0 {
                "needs marking".into()
            } else {
                "received".into()
            };
            line.sections = sections
                .into_iter()
                .map(|x| (x.title, x.centipoints, x.max_centipoints))
                .collect();
            line.total_centipoints = Some(total);
            line.max_centipoints = Some(max);
            line.passed = (marking == 0).then_some(passed);
        }
        out.push(line);
    }
    Ok(out)
}

fn points(centi: u32) -> f64 {
    f64::from(centi) / 100.0
}

pub fn results_export(data: &Path, session: &str, out: &Path) -> anyhow::Result<()> {
    let conn = store::open(data)?;
    let lines = result_lines(&conn, session)?;
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("成绩 results")?;
    let bold = Format::new().set_bold();
    let section_titles: Vec<String> = lines
        .iter()
        .find(|l| !l.sections.is_empty())
        .map(|l| l.sections.iter().map(|s| s.0.clone()).collect())
        .unwrap_or_default();
    let mut headers = vec![
        "准考证号 admission no".to_owned(),
        "姓名 name".into(),
        "身份证号 ID number".into(),
        "考点 site".into(),
        "考场 room".into(),
        "座位 seat".into(),
    ];
    headers.extend(section_titles.iter().cloned());
    headers.extend([
        "总分 total".into(),
        "满分 max".into(),
        "是否合格 pass".into(),
        "状态 status".into(),
    ]);
    for (i, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, i as u16, h, &bold)?;
    }
    for (r, l) in lines.iter().enumerate() {
        let r = r as u32 + 1;
        ws.write_string(r, 0, &l.admission_no)?;
        ws.write_string(r, 1, &l.name)?;
        // Text, never a number: an 18-digit ID loses digits as a number.
        ws.write_string(r, 2, &l.id_number)?;
        ws.write_string(r, 3, &l.site_code)?;
        ws.write_string(r, 4, &l.room)?;
        ws.write_number(r, 5, f64::from(l.seat))?;
        let mut col = 6u16;
        for (_, got, _) in &l.sections {
            ws.write_number(r, col, points(*got))?;
            col += 1;
        }
        col = 6 + section_titles.len() as u16;
        if let (Some(t), Some(m)) = (l.total_centipoints, l.max_centipoints) {
            ws.write_number(r, col, points(t))?;
            ws.write_number(r, col + 1, points(m))?;
        }
        ws.write_string(
            r,
            col + 2,
            match l.passed {
                Some(true) => "合格 pass",
                Some(false) => "不合格 fail",
                None => "",
            },
        )?;
        ws.write_string(
            r,
            col + 3,
            match l.status.as_str() {
                "missing" => "缺成绩 missing",
                "needs marking" => "待阅卷 needs marking",
                _ => "已收到 received",
            },
        )?;
    }
    ws.autofit();
    wb.save(out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    let received = lines.iter().filter(|l| l.status != "missing").count();
    println!(
        "wrote {} ({} candidates, {received} results)",
        out.display(),
        lines.len()
    );
    Ok(())
}

pub fn results_status(data: &Path, session: &str, json: bool) -> anyhow::Result<()> {
    let conn = store::open(data)?;
    let lines = result_lines(&conn, session)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&lines)?);
        return Ok(());
    }
    let received = lines.iter().filter(|l| l.status != "missing").count();
    let site = lines.first().map(|l| l.site_code.as_str()).unwrap_or("-");
    println!(
        "session {session}, site {site}: {} expected, {received} received, {} missing",
        lines.len(),
        lines.len() - received
    );
    for l in lines.iter().filter(|l| l.status == "missing") {
        println!(
            "  missing: {} {} ({}-{})",
            l.admission_no, l.name, l.room, l.seat
        );
    }
    let rejected: i64 = conn.query_row(
        "SELECT count(*) FROM result_rejections WHERE bundle_id LIKE ?1",
        [format!("%/{session}/%")],
        |r| r.get(0),
    )?;
    if rejected > 0 {
        println!("refused results for this session: {rejected} (see the log)");
    }
    let alarms: i64 = conn.query_row("SELECT count(*) FROM alarms", [], |r| r.get(0))?;
    if alarms > 0 {
        println!("ALARMS: {alarms} (a different result arrived under an accepted id)");
    }
    Ok(())
}

pub fn results_marking(data: &Path, session: &str, all: bool, json: bool) -> anyhow::Result<()> {
    let conn = store::open(data)?;
    let list = marking::to_mark(&conn, session, all)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    for m in &list {
        let given = match (&m.centipoints, &m.marked_by) {
            (Some(c), Some(by)) => format!(
                "（已评 {} 分，{by}）/ marked {} by {by}",
                marking::points(*c),
                marking::points(*c)
            ),
            _ => "待评 / to mark".to_owned(),
        };
        println!(
            "{} {} — 满分 {} 分 / worth {} — {given}",
            m.admission_no,
            m.item,
            marking::points(m.max_centipoints),
            marking::points(m.max_centipoints)
        );
        println!("  题目 / question: {}", shown(&m.prompt));
        let reference = match m.reference.trim() {
            "" => "（无）/ none".to_owned(),
            r => shown(r),
        };
        println!("  参考答案 / reference: {reference}");
        println!("  考生答案 / answer: {}", shown(&m.answer));
    }
    println!(
        "{} 份答案 / {} answers{}",
        list.len(),
        list.len(),
        if all { "" } else { " to mark" }
    );
    Ok(())
}

pub fn results_mark(
    data: &Path,
    session: &str,
    admission_no: &str,
    item: &str,
    points: &str,
    by: &str,
) -> anyhow::Result<()> {
    let centipoints = marking::parse_points(points)?;
    let mut conn = store::open(data)?;
    let score = marking::mark(
        &mut conn,
        session,
        admission_no,
        item,
        centipoints,
        by,
        store::unix_ms(),
    )?;
    let verdict = match (score.needs_marking, score.passed) {
        (0, true) => "合格 / pass".to_owned(),
        (0, false) => "不合格 / fail".to_owned(),
        (n, _) => format!("还有 {n} 题待评 / {n} more to mark"),
    };
    println!(
        "{admission_no} {item}: {} — 总分 / total {} / {} — {verdict}",
        marking::points(centipoints),
        marking::points(score.total_centipoints),
        marking::points(score.max_centipoints)
    );
    Ok(())
}

/// Text a candidate or an author typed, for a terminal: control characters (escape sequences
/// that could redraw the screen) shown escaped, and every further line indented, so an answer
/// can never pass for another entry of a listing.
fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\n    | "),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn typed_text_cannot_redraw_the_terminal_or_pass_for_another_entry() {
        let typed = "答案\nA0002 Q7 — 满分 10 分\u{1b}[2J\r\t";
        let out = shown(typed);
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
        assert!(
            out.lines().skip(1).all(|l| l.starts_with("    | ")),
            "{out}"
        );
        assert!(out.contains("\\u{1b}[2J"), "{out}");
    }
}
