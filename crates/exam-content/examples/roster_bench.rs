//! Roster import speed: writes a 10,000-row `.xlsx` roster (valid ID numbers) into a temp dir,
//! imports it and prints the elapsed time and rows per second.
//!
//! `cargo run --release -p exam-content --example roster_bench [rows]`

use std::time::Instant;

use exam_content::roster::{self, NoneKnown};
use exam_domain::IdNumber;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: u32 = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 10_000,
    };
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("roster-bench.xlsx");

    let started = Instant::now();
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(roster::SHEET_NAME)?;
    let header = [
        "序号",
        "姓名",
        "性别",
        "证件类型",
        "证件号码",
        "手机号码",
        "工作单位",
        "作业类别",
        "准操项目",
        "考核类型",
        "证书到期日期",
    ];
    for (c, h) in (0u16..).zip(header) {
        sheet.write_string(0, c, h)?;
    }
    for i in 0..rows {
        let r = i + 1;
        let day = 1 + i % 28;
        let month = 1 + (i / 28) % 12;
        let year = 1960 + (i / 336) % 45;
        let seq = i % 1000;
        let id = IdNumber::with_check_char(&format!("110101{year:04}{month:02}{day:02}{seq:03}"))?;
        let renewal = i % 3 == 0;
        sheet.write_number(r, 0, f64::from(r))?;
        sheet.write_string(r, 1, format!("考生{i}"))?;
        sheet.write_string(r, 2, if id.is_male() { "男" } else { "女" })?;
        sheet.write_string(r, 3, "1")?;
        sheet.write_string(r, 4, id.as_str())?;
        sheet.write_string(r, 5, format!("138{:08}", i))?;
        sheet.write_string(r, 6, "太原市安泰建筑工程有限公司")?;
        sheet.write_string(r, 7, "电工作业")?;
        sheet.write_string(r, 8, "低压电工作业")?;
        sheet.write_string(r, 9, if renewal { "复审" } else { "新取证" })?;
        if renewal {
            sheet.write_string(r, 10, "2027-03-05")?;
        }
    }
    book.save(&path)?;
    let written = started.elapsed();

    let started = Instant::now();
    let report = roster::read_path(&path, &NoneKnown)?;
    let elapsed = started.elapsed();
    let secs = elapsed.as_secs_f64();
    println!(
        "wrote {rows} rows in {:.3} s; imported {} rows ({} accepted, {} rejected) in {:.3} s = {:.0} rows/s",
        written.as_secs_f64(),
        report.counts.rows,
        report.counts.accepted,
        report.counts.rejected,
        secs,
        f64::from(rows) / secs.max(1e-9),
    );
    if report.counts.accepted != rows as usize {
        return Err(format!(
            "expected every row accepted, {} rejected",
            report.counts.rejected
        )
        .into());
    }
    Ok(())
}
