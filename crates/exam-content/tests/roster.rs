//! Roster import against the shared fixtures, the report round trip, CSV encodings, and
//! malformed input.

use std::collections::BTreeSet;
use std::path::PathBuf;

use exam_content::roster::{
    self, Date, ExamType, Fault, Format, Gender, IdType, NoneKnown, RosterError, RosterReport,
};
use exam_domain::IdNumber;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(name)
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture present")
}

fn sample() -> RosterReport {
    roster::read_path(&fixture("roster-sample.xlsx"), &NoneKnown).expect("sample reads")
}

fn faults() -> RosterReport {
    roster::read_path(&fixture("roster-sample-faults.xlsx"), &NoneKnown).expect("faults file reads")
}

/// `(sheet_row, case, outcome)` from the expected file.
fn expected_faults() -> Vec<(u32, String, String)> {
    let text = std::fs::read_to_string(fixture("roster-sample-faults.expected.csv")).expect("csv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let parts: Vec<&str> = l.split(',').map(str::trim).collect();
            assert_eq!(parts.len(), 3, "line {l}");
            (
                parts[0].parse().expect("row"),
                parts[1].to_owned(),
                parts[2].to_owned(),
            )
        })
        .collect()
}

#[test]
fn sample_accepts_all_120_rows() {
    let report = sample();
    assert_eq!(report.sheet, "考生信息");
    assert_eq!(report.header_row, 1);
    assert_eq!(report.counts.rows, 120);
    assert_eq!(
        report.accepted.len(),
        120,
        "rejected: {:#?}",
        report.rejected
    );
    assert!(report.rejected.is_empty());
    assert!(report.already_present.is_empty());
    let rows: Vec<u32> = report.accepted.iter().map(|a| a.row).collect();
    assert_eq!(rows, (2..=121).collect::<Vec<_>>());

    let first = &report.accepted[0].entry;
    assert_eq!(first.name, "孟超");
    assert_eq!(first.gender, Gender::Female);
    assert_eq!(first.id_type, IdType::ResidentCard);
    assert_eq!(first.id_number, "140581197106190788");
    assert_eq!(first.mobile, "13801661318");
    assert_eq!(first.employer, "阳泉市华远制冷设备公司");
    assert_eq!(first.category, "电工作业");
    assert_eq!(first.item, "高压电工作业");
    assert_eq!(first.exam_type, ExamType::New);
    assert_eq!(first.expiry, None);

    let renewal = &report.accepted[2];
    assert_eq!(renewal.row, 4);
    assert_eq!(renewal.entry.name, "侯蓓");
    assert_eq!(renewal.entry.id_number, "14010520001203721X");
    assert_eq!(renewal.entry.exam_type, ExamType::Renewal);
    assert_eq!(renewal.entry.expiry, Date::new(2028, 8, 7));

    for a in &report.accepted {
        let e = &a.entry;
        assert_eq!(e.name, e.name.trim());
        let id = e.resident_id().expect("type 1 numbers are GB 11643");
        assert_eq!(id.is_male(), e.gender == Gender::Male, "row {}", a.row);
        assert!(
            e.exam_type == ExamType::New || e.expiry.is_some(),
            "row {}",
            a.row
        );
    }
    let ids: BTreeSet<&str> = report
        .accepted
        .iter()
        .map(|a| a.entry.id_number.as_str())
        .collect();
    assert_eq!(ids.len(), 120);
}

#[test]
fn faults_file_matches_expected_outcomes() {
    let report = faults();
    let expected = expected_faults();
    assert_eq!(expected.len(), 41);
    assert_eq!(report.counts.rows, 41);
    for (row, case, outcome) in &expected {
        let accepted = report.accepted.iter().any(|a| a.row == *row);
        let rejected = report.rejected.iter().find(|r| r.row == *row);
        match outcome.as_str() {
            "ok" => assert!(
                accepted && rejected.is_none(),
                "row {row} ({case}) should be accepted: {rejected:#?}"
            ),
            "reject" => {
                let r = rejected.unwrap_or_else(|| panic!("row {row} ({case}) should be rejected"));
                assert!(!accepted);
                assert!(
                    r.reason.contains("/ ") && !r.reason.starts_with(|c: char| c.is_ascii()),
                    "row {row}: {}",
                    r.reason
                );
                let fits = match case.as_str() {
                    "duplicate_id" => matches!(r.fault, Fault::Duplicate { first_row: 2 }),
                    "gender_mismatch" => {
                        matches!(r.fault, Fault::GenderMismatch { .. }) && r.column == "性别"
                    }
                    "id_as_number" => matches!(r.fault, Fault::IdNumberFormat),
                    "bad_mobile" => matches!(r.fault, Fault::Mobile) && r.value == "1391234",
                    "bad_check_digit" => {
                        matches!(&r.fault, Fault::IdNumber { message } if message.contains("校验位"))
                    }
                    "bad_date_text" => {
                        matches!(r.fault, Fault::DateFormat) && r.value == "2027年3月5日"
                    }
                    "bad_id_type" => matches!(r.fault, Fault::IdType) && r.value == "9",
                    "bad_birth_date" => {
                        matches!(&r.fault, Fault::IdNumber { message } if message.contains("出生日期"))
                    }
                    "missing_name" => matches!(
                        r.fault,
                        Fault::Missing {
                            column: "姓名", ..
                        }
                    ),
                    "missing_expiry" => matches!(r.fault, Fault::ExpiryMissing),
                    other => panic!("unknown case {other}"),
                };
                assert!(
                    fits,
                    "row {row} ({case}) rejected for another reason: {r:#?}"
                );
            }
            other => panic!("unknown outcome {other}"),
        }
    }
    let ok = expected.iter().filter(|e| e.2 == "ok").count();
    assert_eq!(report.accepted.len(), ok);
    assert_eq!(report.rejected.len(), expected.len() - ok);

    // The destroyed number: the message says what happened and what to do.
    let lost = report
        .rejected
        .iter()
        .find(|r| r.row == 18)
        .expect("row 18");
    assert!(
        lost.reason.contains("数值格式") && lost.reason.contains("文本"),
        "{}",
        lost.reason
    );
    assert!(
        lost.reason.contains("number format") && lost.reason.contains("Text"),
        "{}",
        lost.reason
    );
    assert_eq!(lost.column, "证件号码");
    assert_eq!(lost.value, "4.40305E+17", "shown as Excel shows it");

    // Typing slips normalised.
    let row = |n: u32| {
        &report
            .accepted
            .iter()
            .find(|a| a.row == n)
            .expect("accepted")
            .entry
    };
    assert_eq!(row(31).name, "高娜");
    assert_eq!(row(31).id_number, "140202198403179457");
    assert_eq!(row(33).id_number, "140581199702174564");
    // A real date cell (number format yyyy/m/d, serial 46568).
    assert_eq!(row(24).expiry, Date::from_excel_serial(46568.0));
    assert_eq!(
        row(24).expiry.map(|d| d.to_string()).as_deref(),
        Some("2027-06-30")
    );
}

#[test]
fn importing_again_adds_nothing() {
    let first = faults();
    let again = roster::read_path(&fixture("roster-sample-faults.xlsx"), &first.known_ids())
        .expect("reads");
    assert!(again.accepted.is_empty(), "{:#?}", again.accepted);
    let mut present: Vec<u32> = again.already_present.iter().map(|p| p.row).collect();
    present.sort_unstable();
    let mut expected: Vec<u32> = first.accepted.iter().map(|a| a.row).collect();
    // The duplicate of row 2 is already present too: there is nothing more to import.
    expected.push(7);
    expected.sort_unstable();
    assert_eq!(present, expected);
    let rejected: Vec<u32> = again.rejected.iter().map(|r| r.row).collect();
    let before: Vec<u32> = first
        .rejected
        .iter()
        .map(|r| r.row)
        .filter(|r| *r != 7)
        .collect();
    assert_eq!(rejected, before);

    // A closure over the caller's own store works as the lookup too.
    let set: BTreeSet<String> = first
        .accepted
        .iter()
        .map(|a| a.entry.id_number.clone())
        .collect();
    let lookup = |id: &str| set.contains(id);
    let with_set =
        roster::read_path(&fixture("roster-sample-faults.xlsx"), &lookup).expect("reads");
    assert_eq!(with_set.counts.accepted, 0);
    assert_eq!(
        with_set.counts.already_present,
        again.counts.already_present
    );
}

#[test]
fn report_serialises_to_json() {
    let report = faults();
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["counts"]["rejected"], 10);
    assert_eq!(json["rejected"][0]["row"], 7);
    assert_eq!(json["rejected"][0]["fault"]["kind"], "duplicate");
    assert_eq!(json["accepted"][0]["entry"]["id_type"], "resident_card");
}

/// Reads every cell of the first sheet of an xlsx as text (for checking written workbooks).
fn sheet_text(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    use calamine::{Data, Reader};
    let mut book: calamine::Xlsx<_> =
        calamine::Xlsx::new(std::io::Cursor::new(bytes)).expect("xlsx");
    let names = book.sheet_names();
    let range = book.worksheet_range(&names[0]).expect("sheet");
    let mut rows = range.rows().map(|r| {
        r.iter()
            .map(|c| match c {
                Data::String(s) => s.clone(),
                Data::Empty => String::new(),
                other => panic!("a non-text cell {other:?} in the report"),
            })
            .collect::<Vec<_>>()
    });
    let header = rows.next().expect("header");
    (header, rows.collect())
}

#[test]
fn report_workbook_round_trip() {
    let first = faults();
    let bytes = roster::report_xlsx_bytes(&first).expect("report");
    let (header, rows) = sheet_text(&bytes);
    let mut expected_header = first.columns.clone();
    expected_header.push("错误原因".into());
    assert_eq!(header, expected_header);
    assert_eq!(rows.len(), first.rejected.len());
    let id_col = header
        .iter()
        .position(|h| h == "证件号码")
        .expect("id column");
    for (row, rejection) in rows.iter().zip(&first.rejected) {
        assert_eq!(&row[..row.len() - 1], rejection.cells.as_slice());
        assert!(row[row.len() - 1].contains(&rejection.reason));
        assert!(row[row.len() - 1].contains(&format!("第 {} 行", rejection.row)));
    }
    // ID numbers are text cells with every digit.
    assert_eq!(rows[0][id_col], "310104197303229079");

    // Read the report back as a roster: the importer ignores 错误原因, sees the same refusals
    // (the duplicate of row 2 is now already present).
    let back = roster::read(&bytes, Format::Xlsx, &first.known_ids()).expect("report re-reads");
    assert_eq!(back.columns, first.columns);
    assert_eq!(back.already_present.len(), 1);
    assert_eq!(back.rejected.len(), first.rejected.len() - 1);
    for (b, f) in back.rejected.iter().zip(first.rejected.iter().skip(1)) {
        assert_eq!(
            b.fault, f.fault,
            "report row {} vs sheet row {}",
            b.row, f.row
        );
        assert_eq!(b.value, f.value);
    }

    // The clerk fixes every row (here: a fresh valid candidate in each) and imports the file.
    let mut fixed = rust_xlsxwriter::Workbook::new();
    let sheet = fixed.add_worksheet();
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, h).expect("write");
    }
    let col = |name: &str| header.iter().position(|h| h == name).expect("column") as u16;
    for (i, row) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        for (c, v) in row.iter().enumerate() {
            sheet.write_string(r, c as u16, v).expect("write");
        }
        let id =
            IdNumber::with_check_char(&format!("11010119900101{:03}", i * 2 + 1)).expect("valid");
        sheet
            .write_string(r, col("证件号码"), id.as_str())
            .expect("write");
        sheet.write_string(r, col("性别"), "男").expect("write");
        sheet.write_string(r, col("姓名"), "改正").expect("write");
        sheet.write_string(r, col("证件类型"), "1").expect("write");
        sheet
            .write_string(r, col("手机号码"), "13800000000")
            .expect("write");
        sheet
            .write_string(r, col("证书到期日期"), "2028-01-31")
            .expect("write");
    }
    let fixed = fixed.save_to_buffer().expect("save");
    let imported = roster::read(&fixed, Format::Xlsx, &first.known_ids()).expect("fixed reads");
    assert_eq!(
        imported.counts.accepted,
        rows.len(),
        "{:#?}",
        imported.rejected
    );
    assert!(imported.rejected.is_empty());
}

#[test]
fn template_has_header_and_instructions() {
    let bytes = roster::template_xlsx_bytes().expect("template");
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> =
        calamine::Xlsx::new(std::io::Cursor::new(bytes.clone())).expect("xlsx");
    assert_eq!(
        book.sheet_names(),
        vec!["考生信息".to_owned(), "填写说明".to_owned()]
    );
    let notes = book.worksheet_range("填写说明").expect("notes");
    let text: String = notes.cells().map(|(_, _, c)| c.to_string()).collect();
    for needle in [
        "文本",
        "1 居民身份证",
        "4 护照",
        "YYYY-MM-DD",
        "1.10105E+17",
    ] {
        assert!(text.contains(needle), "instructions lack {needle}");
    }
    // An empty template reads as a roster with no rows.
    let report = roster::read(&bytes, Format::Xlsx, &NoneKnown).expect("template reads");
    assert_eq!(report.counts.rows, 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("模板.xlsx");
    roster::write_template_xlsx(&path).expect("write");
    assert!(roster::read_path(&path, &NoneKnown).is_ok());
}

/// The sample as CSV text (all cells as the clerk sees them).
fn sample_csv() -> String {
    let (header, rows) = {
        use calamine::{Data, Reader};
        let mut book: calamine::Xlsx<_> =
            calamine::Xlsx::new(std::io::Cursor::new(fixture_bytes("roster-sample.xlsx")))
                .expect("xlsx");
        let range = book.worksheet_range("考生信息").expect("sheet");
        let rows: Vec<Vec<String>> = range
            .rows()
            .map(|r| {
                r.iter()
                    .map(|c| match c {
                        Data::Float(f) => format!("{f}"),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect();
        (rows[0].clone(), rows[1..].to_vec())
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&header).expect("csv");
    for r in rows {
        w.write_record(&r).expect("csv");
    }
    String::from_utf8(w.into_inner().expect("csv")).expect("utf-8")
}

#[test]
fn csv_in_utf8_bom_and_gb18030_gives_the_same_entries() {
    let xlsx = sample();
    let text = sample_csv();
    let mut utf8 = vec![0xEF, 0xBB, 0xBF];
    utf8.extend_from_slice(text.as_bytes());
    let (gb, _, unmappable) = encoding_rs::GB18030.encode(&text);
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&gb).is_err(),
        "GB18030 bytes must not pass as UTF-8"
    );
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in text.replace(',', "\t").encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    for (label, bytes) in [
        ("utf-8 bom", utf8.clone()),
        ("gb18030", gb.into_owned()),
        ("utf-16 tabs", utf16),
    ] {
        let report = roster::read(&bytes, Format::Csv, &NoneKnown)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(report.accepted, xlsx.accepted, "{label}");
        assert!(report.rejected.is_empty(), "{label}");
    }
    // A CSV named .xlsx is still read (content sniffing).
    let report = roster::read(&utf8, Format::Xlsx, &NoneKnown).expect("mislabelled csv");
    assert_eq!(report.counts.accepted, 120);
}

#[test]
fn lower_case_x_and_number_cells_in_a_written_workbook() {
    let mut book = rust_xlsxwriter::Workbook::new();
    let other = book.add_worksheet();
    other.set_name("说明").expect("name");
    other.write_string(0, 0, "这不是名单").expect("write");
    let sheet = book.add_worksheet();
    sheet.set_name("考生信息").expect("name");
    // A title row above the header, columns in another order, an extra column.
    sheet
        .write_string(0, 0, "2026 年第 3 期考生名单")
        .expect("write");
    let header = [
        "备注",
        "证件号码",
        "姓名",
        "性别",
        "证件类型",
        "手机号码",
        "作业类别",
        "准操项目",
        "考核类型",
        "证书到期日期",
    ];
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(1, c as u16, *h).expect("write");
    }
    let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2027, 3, 5).expect("date");
    let date_format = rust_xlsxwriter::Format::new().set_num_format("yyyy/m/d");
    let rows: [[&str; 10]; 4] = [
        [
            "",
            " 11010519491231002x ",
            " 张三 ",
            "女",
            "1",
            "13800138000",
            "电工作业",
            "低压电工作业",
            "复审",
            "",
        ],
        [
            "",
            "E12345678",
            "John Smith",
            "男",
            "4",
            "13900139000",
            "电工作业",
            "低压电工作业",
            "新取证",
            "",
        ],
        [
            "",
            "1.10105E+17",
            "李四",
            "男",
            "1",
            "13700137000",
            "电工作业",
            "低压电工作业",
            "新取证",
            "",
        ],
        [
            "",
            "110101202311012176",
            "王五",
            "男",
            "１",
            "137 0013 7001",
            "电工作业",
            "低压电工作业",
            "复审",
            "2027/3/5",
        ],
    ];
    for (i, row) in rows.iter().enumerate() {
        let r = i as u32 + 2;
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                sheet.write_string(r, c as u16, *v).expect("write");
            }
        }
    }
    sheet
        .write_datetime_with_format(2, 9, &date, &date_format)
        .expect("date cell");
    sheet.write_number(3, 5, 13900139000.0).expect("number");
    sheet
        .write_number(5, 1, 110101202311012176.0)
        .expect("number");
    let bytes = book.save_to_buffer().expect("save");

    let report = roster::read(&bytes, Format::Xlsx, &NoneKnown).expect("reads");
    assert_eq!(report.header_row, 2);
    let by_row = |n: u32| {
        report
            .accepted
            .iter()
            .find(|a| a.row == n)
            .map(|a| &a.entry)
    };
    let zhang = by_row(3).expect("row 3 accepted");
    assert_eq!(zhang.name, "张三");
    assert_eq!(zhang.id_number, "11010519491231002X");
    assert_eq!(zhang.expiry, Date::new(2027, 3, 5));
    let smith = by_row(4).expect("row 4 accepted");
    assert_eq!(
        (
            smith.id_type,
            smith.id_number.as_str(),
            smith.mobile.as_str()
        ),
        (IdType::Passport, "E12345678", "13900139000")
    );
    let li = report
        .rejected
        .iter()
        .find(|r| r.row == 5)
        .expect("row 5 refused");
    assert_eq!(li.fault, Fault::IdNumberFormat);
    assert_eq!(li.value, "1.10105E+17");
    let wang = report
        .rejected
        .iter()
        .find(|r| r.row == 6)
        .expect("row 6 refused");
    assert_eq!(
        wang.fault,
        Fault::IdNumberFormat,
        "a number cell, however it looks"
    );
}

#[test]
fn file_level_errors_name_the_problem() {
    assert!(matches!(
        roster::read(b"", Format::Xlsx, &NoneKnown),
        Err(RosterError::Empty)
    ));
    // A sheet without the header.
    let csv = "a,b,c\n1,2,3\n";
    assert!(matches!(
        roster::read(csv.as_bytes(), Format::Csv, &NoneKnown),
        Err(RosterError::NoHeader { .. })
    ));
    // A header missing a required column.
    let csv = "姓名,性别,证件类型,手机号码,作业类别,准操项目,考核类型\n";
    match roster::read(csv.as_bytes(), Format::Csv, &NoneKnown) {
        Err(e @ RosterError::MissingColumns { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("证件号码") && msg.contains("required columns"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Too many rows.
    let mut csv = String::from("姓名,性别,证件类型,证件号码,手机号码,作业类别,准操项目,考核类型\n");
    for _ in 0..=roster::ROWS_MAX {
        csv.push_str("a,男,1,1,1,a,a,新取证\n");
    }
    assert!(matches!(
        roster::read(csv.as_bytes(), Format::Csv, &NoneKnown),
        Err(RosterError::TooManyRows { .. })
    ));
    // Unknown extension.
    assert!(matches!(
        roster::read_path(&fixture("README.md"), &NoneKnown),
        Err(RosterError::UnknownFormat(_))
    ));
    // Over-long cells are refused per row, with the limit.
    let long = "长".repeat(roster::NAME_CHARS_MAX + 1);
    let csv = format!(
        "姓名,性别,证件类型,证件号码,手机号码,作业类别,准操项目,考核类型\n{long},男,1,110101202311012176,13800138000,a,b,新取证\n"
    );
    let report = roster::read(csv.as_bytes(), Format::Csv, &NoneKnown).expect("reads");
    assert!(matches!(
        report.rejected[0].fault,
        Fault::TooLong { max: 50, .. }
    ));
}

#[test]
fn garbage_gives_errors_not_panics() {
    let junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for format in [Format::Xlsx, Format::Xls, Format::Ods, Format::Csv] {
        assert!(roster::read(&junk, format, &NoneKnown).is_err(), "{format}");
        let mut zipish = b"PK\x03\x04".to_vec();
        zipish.extend_from_slice(&junk);
        assert!(
            roster::read(&zipish, format, &NoneKnown).is_err(),
            "{format}"
        );
        let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        ole.extend_from_slice(&junk);
        assert!(roster::read(&ole, format, &NoneKnown).is_err(), "{format}");
    }
    // A truncated real workbook.
    let sample = fixture_bytes("roster-sample.xlsx");
    for cut in [10, sample.len() / 2, sample.len() - 10] {
        assert!(roster::read(&sample[..cut], Format::Xlsx, &NoneKnown).is_err());
    }
    // The photo zip is a zip, but not a workbook.
    assert!(
        roster::read(
            &fixture_bytes("photos-sample.zip"),
            Format::Xlsx,
            &NoneKnown
        )
        .is_err()
    );
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), f in 0usize..4) {
            let format = [Format::Xlsx, Format::Xls, Format::Ods, Format::Csv][f];
            let _ = roster::read(&bytes, format, &NoneKnown);
        }

        #[test]
        fn damaged_workbooks_never_panic(pos in 0usize..8547, byte in any::<u8>()) {
            let mut bytes = fixture_bytes("roster-sample-faults.xlsx");
            if let Some(b) = bytes.get_mut(pos) { *b = byte; }
            let _ = roster::read(&bytes, Format::Xlsx, &NoneKnown);
        }

        #[test]
        fn random_csv_rows_never_panic(cells in proptest::collection::vec("\\PC{0,24}", 8..16)) {
            let mut csv = String::from("姓名,性别,证件类型,证件号码,手机号码,作业类别,准操项目,考核类型,证书到期日期\n");
            csv.push_str(&cells.iter().map(|c| c.replace([',', '"', '\n', '\r'], "")).collect::<Vec<_>>().join(","));
            let report = roster::read(csv.as_bytes(), Format::Csv, &NoneKnown);
            if let Ok(r) = report {
                prop_assert!(r.counts.rows <= 1);
                prop_assert_eq!(r.counts.rows, r.counts.accepted + r.counts.rejected);
            }
        }
    }
}

/// A minimal OpenDocument spreadsheet with the given rows of text cells (a string starting
/// with `=` becomes a date cell), as LibreOffice would store it.
fn ods_of(sheet: &str, rows: &[Vec<&str>]) -> Vec<u8> {
    use std::io::Write;
    let mut body = String::new();
    for row in rows {
        body.push_str("<table:table-row>");
        for cell in row {
            if let Some(date) = cell.strip_prefix('=') {
                body.push_str(&format!(
                    r#"<table:table-cell office:value-type="date" office:date-value="{date}"><text:p>{date}</text:p></table:table-cell>"#
                ));
            } else {
                body.push_str(&format!(
                    r#"<table:table-cell office:value-type="string"><text:p>{cell}</text:p></table:table-cell>"#
                ));
            }
        }
        body.push_str("</table:table-row>");
    }
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="{sheet}">{body}</table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("mimetype", stored).expect("entry");
    w.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .expect("write");
    w.start_file(
        "META-INF/manifest.xml",
        zip::write::SimpleFileOptions::default(),
    )
    .expect("entry");
    w.write_all(
        br#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#,
    )
    .expect("write");
    w.start_file("content.xml", zip::write::SimpleFileOptions::default())
        .expect("entry");
    w.write_all(content.as_bytes()).expect("write");
    w.finish().expect("zip").into_inner()
}

#[test]
fn ods_rosters_are_read() {
    let header = vec![
        "姓名",
        "性别",
        "证件类型",
        "证件号码",
        "手机号码",
        "作业类别",
        "准操项目",
        "考核类型",
        "证书到期日期",
    ];
    let rows = vec![
        header,
        vec![
            "张三",
            "男",
            "1",
            "110101202311012176",
            "13800138000",
            "电工作业",
            "低压电工作业",
            "复审",
            "=2027-03-05",
        ],
        vec![
            "李四",
            "男",
            "1",
            "110101202311012177",
            "13800138001",
            "电工作业",
            "低压电工作业",
            "新取证",
            "",
        ],
    ];
    let bytes = ods_of("考生信息", &rows);
    // Named .xlsx by mistake: the content decides.
    for format in [Format::Ods, Format::Xlsx] {
        let report = roster::read(&bytes, format, &NoneKnown).expect("ods reads");
        assert_eq!(report.accepted.len(), 1, "{:#?}", report.rejected);
        assert_eq!(report.accepted[0].entry.expiry, Date::new(2027, 3, 5));
        assert_eq!(report.rejected[0].row, 3);
        assert!(
            matches!(&report.rejected[0].fault, Fault::IdNumber { message } if message.contains("校验位"))
        );
    }
}
