//! Crafted hostile files, built here byte by byte: zips that name one entry twice or not
//! plainly, spreadsheets that declare huge grids, repeat a cell or a shared string into millions
//! of places, or hold one giant cell. Each must be refused with its own error, before the reader
//! lays anything out, while the files LibreOffice and Excel really write keep working.

use std::io::{Cursor, Write};

use exam_content::archive::{Archive, ArchiveError};
use exam_content::roster::{self, Format, NoneKnown, RosterError};

// ---------------------------------------------------------------------------------------------
// Zip files written by hand (the zip crate refuses to write two entries with one name).

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A zip of stored entries, names exactly as given (a name ending in `/` is a folder entry).
fn raw_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let fixed = |sig: u32, central: bool| {
            let mut h = sig.to_le_bytes().to_vec();
            if central {
                h.extend_from_slice(&20u16.to_le_bytes()); // made by
            }
            h.extend_from_slice(&20u16.to_le_bytes()); // needed
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&0u16.to_le_bytes()); // stored
            h.extend_from_slice(&0u32.to_le_bytes()); // time, date
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // extra
            h
        };
        out.extend(fixed(0x0403_4b50, false));
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend(fixed(0x0201_4b50, true));
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn archive_error(zip: &[u8]) -> Option<ArchiveError> {
    Archive::new(Cursor::new(zip)).err()
}

/// Refused for its names, with a message that says what to do.
fn assert_names_refused(zip: &[u8], what: &str) {
    match archive_error(zip) {
        Some(e) => assert!(
            e.to_string().contains("pack the files again"),
            "{what}: {e}"
        ),
        None => panic!("{what}: accepted"),
    }
}

#[test]
fn the_same_name_twice_is_refused() {
    let zip = raw_zip(&[("xl/a.xml", b"one"), ("xl/a.xml", b"two")]);
    assert_names_refused(&zip, "xl/a.xml twice");
}

#[test]
fn names_that_are_not_plain_are_refused() {
    for name in [
        "./xl/sharedStrings.xml",
        "xl//sharedStrings.xml",
        "xl/./a.xml",
    ] {
        assert_names_refused(&raw_zip(&[(name, b"x")]), name);
    }
    assert_names_refused(&raw_zip(&[("a\u{1}b.xml", b"x")]), "control character");
    // A folder entry that holds data.
    assert_names_refused(&raw_zip(&[("photos/", b"hidden")]), "folder with data");
    // An empty folder entry is fine.
    let zip = raw_zip(&[("photos/", b""), ("photos/a.jpg", b"x")]);
    assert!(archive_error(&zip).is_none());
}

#[test]
fn names_equal_but_for_case_or_separator_are_refused() {
    for (a, b) in [
        ("xl/sharedStrings.xml", "XL/SharedStrings.xml"),
        ("items\\a.xml", "items/a.xml"),
        ("./xl/sharedStrings.xml", "xl/sharedStrings.xml"),
        ("xl/sharedStrings.xml", "./xl/sharedStrings.xml"),
    ] {
        assert_names_refused(&raw_zip(&[(a, b"small"), (b, b"other")]), a);
    }
    // Backslashes alone are read as folders (Windows PowerShell writes them).
    let zip = raw_zip(&[("photos\\a.jpg", b"x")]);
    let mut archive = Archive::new(Cursor::new(&zip)).expect("accepted");
    assert_eq!(archive.names().collect::<Vec<_>>(), ["photos/a.jpg"]);
    assert_eq!(
        archive.read("photos/a.jpg", 10).expect("reads").as_deref(),
        Some(b"x".as_slice())
    );
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(name);
    std::fs::read(path).expect("fixture present")
}

/// Every entry of a real zip, unpacked, plus `extra` (by the zip crate's reader).
fn entries_plus(zip: &[u8], extra: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).expect("zip");
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).expect("entry");
        let mut data = Vec::new();
        f.read_to_end(&mut data).expect("read");
        entries.push((f.name().expect("name").to_string(), data));
    }
    let mut all: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    all.extend_from_slice(extra);
    raw_zip(&all)
}

#[test]
fn a_second_copy_of_a_part_refuses_the_roster_photos_and_packages() {
    let xlsx = fixture_bytes("roster-sample.xlsx");
    // The unchanged copy reads.
    let plain = entries_plus(&xlsx, &[]);
    let report = roster::read(&plain, Format::Xlsx, &NoneKnown).expect("plain copy reads");
    assert_eq!(report.accepted.len(), 120);
    // A second sheet part calamine might read instead of the one checked.
    for extra in [
        "./xl/worksheets/sheet1.xml",
        "XL/Worksheets/Sheet1.xml",
        "xl\\worksheets\\sheet1.xml",
    ] {
        let bomb = entries_plus(&xlsx, &[(extra, b"<worksheet/>")]);
        match roster::read(&bomb, Format::Xlsx, &NoneKnown) {
            Err(e @ RosterError::Archive(_)) => {
                assert!(e.to_string().contains("pack the files again"), "{e}")
            }
            other => panic!("{extra}: {:?}", other.map(|r| r.counts)),
        }
    }
    let photos = fixture_bytes("photos-sample.zip");
    let bomb = entries_plus(&photos, &[("./x.jpg", b"x")]);
    assert!(exam_content::photos::import(&bomb, ["x"]).is_err());
    let qti = raw_zip(&[
        ("imsmanifest.xml", b"<manifest/>"),
        ("IMSmanifest.xml", b"<manifest/>"),
    ]);
    assert!(exam_content::qti::import_package(&qti).is_err());
}

// ---------------------------------------------------------------------------------------------
// OpenDocument spreadsheets.

/// An ods whose one table is `rows` (raw `<table:table-row>` XML).
fn ods_with_rows(rows: &str) -> Vec<u8> {
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="考生信息">{rows}</table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    let manifest = br#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default();
    w.start_file("mimetype", stored).expect("entry");
    w.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .expect("write");
    w.start_file("META-INF/manifest.xml", deflated)
        .expect("entry");
    w.write_all(manifest).expect("write");
    w.start_file("content.xml", deflated).expect("entry");
    w.write_all(content.as_bytes()).expect("write");
    w.finish().expect("zip").into_inner()
}

fn text_row(cells: &[&str]) -> String {
    let mut row = String::from("<table:table-row>");
    for c in cells {
        row.push_str(&format!(
            r#"<table:table-cell office:value-type="string"><text:p>{c}</text:p></table:table-cell>"#
        ));
    }
    row.push_str(r#"<table:table-cell table:number-columns-repeated="1015"/></table:table-row>"#);
    row
}

const HEADER: [&str; 8] = [
    "姓名",
    "性别",
    "证件类型",
    "证件号码",
    "手机号码",
    "作业类别",
    "准操项目",
    "考核类型",
];

const CANDIDATE: [&str; 8] = [
    "张三",
    "男",
    "1",
    "110101202311012176",
    "13800138000",
    "电工作业",
    "低压电工作业",
    "新取证",
];

#[test]
fn libre_office_trailing_empty_repeats_are_accepted() {
    // As LibreOffice writes every sheet: the used rows, each padded with empty cells to column
    // AMJ, then the rest of the sheet's 1,048,576 rows as one repeated empty row.
    let rows = format!(
        r#"{}{}<table:table-row table:number-rows-repeated="1048574"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>"#,
        text_row(&HEADER),
        text_row(&CANDIDATE)
    );
    let report =
        roster::read(&ods_with_rows(&rows), Format::Ods, &NoneKnown).expect("LibreOffice layout");
    assert_eq!(report.accepted.len(), 1, "{:?}", report.rejected);
    // Empty rows between the header and a candidate, repeated, are fine too while small.
    let rows = format!(
        r#"{}<table:table-row table:number-rows-repeated="5"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>{}"#,
        text_row(&HEADER),
        text_row(&CANDIDATE)
    );
    let report = roster::read(&ods_with_rows(&rows), Format::Ods, &NoneKnown).expect("reads");
    assert_eq!(report.accepted.first().map(|a| a.row), Some(7));
}

#[test]
fn ods_huge_non_empty_repeats_are_refused_before_reading() {
    // One non-empty row repeated to the end of the sheet, 16 cells wide: 16.7 million cells
    // (calamine 0.38 lays them all out, about 1 GB, before the row limit could be checked).
    let rows = format!(
        r#"{}<table:table-row table:number-rows-repeated="1048575"><table:table-cell table:number-columns-repeated="16" office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row>"#,
        text_row(&HEADER)
    );
    let err = roster::read(&ods_with_rows(&rows), Format::Ods, &NoneKnown).expect_err("refused");
    assert!(
        err.to_string().contains("more than a roster needs"),
        "{err}"
    );
    // A cell repeated across the row, in many rows.
    let rows = r#"<table:table-row table:number-rows-repeated="300"><table:table-cell table:number-columns-repeated="16384" office:value-type="float" office:value="1"/></table:table-row>"#;
    let err = roster::read(&ods_with_rows(rows), Format::Ods, &NoneKnown).expect_err("refused");
    assert!(
        err.to_string().contains("more than a roster needs"),
        "{err}"
    );
    // Empty rows between two non-empty ones are laid out too.
    let rows = format!(
        r#"{}<table:table-row table:number-rows-repeated="1000000"><table:table-cell/></table:table-row>{}"#,
        text_row(&["a"; 8]),
        text_row(&["b"; 8])
    );
    let err = roster::read(&ods_with_rows(&rows), Format::Ods, &NoneKnown).expect_err("refused");
    assert!(
        err.to_string().contains("more than a roster needs"),
        "{err}"
    );
}

#[test]
fn ods_repeated_text_and_space_runs_are_refused() {
    // A 1,000-character cell repeated into 100,000 places: 100 MB of text from a few bytes.
    let long = "长".repeat(1000);
    let rows = format!(
        r#"<table:table-row table:number-rows-repeated="10000"><table:table-cell table:number-columns-repeated="10" office:value-type="string"><text:p>{long}</text:p></table:table-cell></table:table-row>"#
    );
    let err = roster::read(&ods_with_rows(&rows), Format::Ods, &NoneKnown).expect_err("refused");
    assert!(err.to_string().contains("text adds up"), "{err}");
    // `<text:s text:c=…/>` is that many spaces in calamine.
    let rows = r#"<table:table-row><table:table-cell office:value-type="string"><text:p>a<text:s text:c="2000000000"/>b</text:p></table:table-cell></table:table-row>"#;
    let err = roster::read(&ods_with_rows(rows), Format::Ods, &NoneKnown).expect_err("refused");
    assert!(err.to_string().contains("32767"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Giant cells, in every format.

/// One character more than `roster::SHEET_CELL_CHARS_MAX` (Excel's own limit).
fn giant() -> String {
    "名".repeat(32_767 + 1)
}

fn assert_giant_cell_refused(result: Result<roster::RosterReport, RosterError>, format: &str) {
    match result {
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("32767") && msg.contains("I2"),
                "{format}: {msg}"
            );
        }
        Ok(r) => panic!("{format}: accepted {} rows", r.counts.rows),
    }
}

#[test]
fn a_giant_cell_refuses_the_file_in_every_format() {
    let giant = giant();
    // In a column the importer does not use, where no row check would see it.
    let mut header: Vec<&str> = HEADER.to_vec();
    header.push("备注");
    let mut row: Vec<&str> = CANDIDATE.to_vec();
    row.push(&giant);

    let csv = format!("{}\n{}\n", header.join(","), row.join(","));
    assert_giant_cell_refused(roster::read(csv.as_bytes(), Format::Csv, &NoneKnown), "csv");

    let ods = ods_with_rows(&format!("{}{}", text_row(&header), text_row(&row)));
    assert_giant_cell_refused(roster::read(&ods, Format::Ods, &NoneKnown), "ods");

    let xlsx = xlsx_of(&[header.clone(), row.clone()]);
    assert_giant_cell_refused(roster::read(&xlsx, Format::Xlsx, &NoneKnown), "xlsx");

    let xls = xls_of(&[header, row], &[]);
    assert_giant_cell_refused(roster::read(&xls, Format::Xls, &NoneKnown), "xls");
}

// ---------------------------------------------------------------------------------------------
// Office Open XML, written by hand (rust_xlsxwriter refuses what Excel would).

/// An xlsx whose sheet's cells are shared strings; `uses` repeats the last row's strings in
/// that many more rows.
fn xlsx_with(rows: &[Vec<&str>], uses: usize, unique_count: Option<u64>) -> Vec<u8> {
    let mut strings: Vec<&str> = Vec::new();
    let mut sheet = String::new();
    let cell = |r: usize, c: usize, s: usize| {
        let mut col = String::new();
        let mut n = c + 1;
        while n > 0 {
            col.insert(0, char::from(b'A' + ((n - 1) % 26) as u8));
            n = (n - 1) / 26;
        }
        format!(r#"<c r="{col}{}" t="s"><v>{s}</v></c>"#, r + 1)
    };
    let mut all_rows: Vec<Vec<usize>> = Vec::new();
    for row in rows {
        let mut ids = Vec::new();
        for s in row {
            let i = strings.iter().position(|x| x == s).unwrap_or_else(|| {
                strings.push(s);
                strings.len() - 1
            });
            ids.push(i);
        }
        all_rows.push(ids);
    }
    if let Some(last) = all_rows.last().cloned() {
        all_rows.extend(std::iter::repeat_n(last, uses));
    }
    for (r, ids) in all_rows.iter().enumerate() {
        sheet.push_str(&format!(r#"<row r="{}">"#, r + 1));
        for (c, s) in ids.iter().enumerate() {
            sheet.push_str(&cell(r, c, *s));
        }
        sheet.push_str("</row>");
    }
    let sst: String = strings
        .iter()
        .map(|s| format!("<si><t>{s}</t></si>"))
        .collect();
    let count = unique_count.unwrap_or(strings.len() as u64);
    let parts: Vec<(&str, String)> = vec![
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#.to_owned(),
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_owned(),
        ),
        (
            "xl/workbook.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="考生信息" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_owned(),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#.to_owned(),
        ),
        (
            "xl/worksheets/sheet1.xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{sheet}</sheetData></worksheet>"#
            ),
        ),
        (
            "xl/sharedStrings.xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{count}" uniqueCount="{count}">{sst}</sst>"#
            ),
        ),
    ];
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, text) in parts {
        w.start_file(name, zip::write::SimpleFileOptions::default())
            .expect("entry");
        w.write_all(text.as_bytes()).expect("write");
    }
    w.finish().expect("zip").into_inner()
}

fn xlsx_of(rows: &[Vec<&str>]) -> Vec<u8> {
    xlsx_with(rows, 0, None)
}

#[test]
fn hand_written_xlsx_reads() {
    let report = roster::read(
        &xlsx_of(&[HEADER.to_vec(), CANDIDATE.to_vec()]),
        Format::Xlsx,
        &NoneKnown,
    )
    .expect("reads");
    assert_eq!(report.accepted.len(), 1, "{:?}", report.rejected);
}

#[test]
fn xlsx_shared_string_copied_into_many_cells_is_refused() {
    // One 30,000-character string in 3,000 cells: 270 MB of text from a 200 kB file.
    let long = "长".repeat(30_000);
    let row: Vec<&str> = std::iter::repeat_n(long.as_str(), 10).collect();
    let xlsx = xlsx_with(&[HEADER.to_vec(), row], 300, None);
    let err = roster::read(&xlsx, Format::Xlsx, &NoneKnown).expect_err("refused");
    assert!(err.to_string().contains("text adds up"), "{err}");
}

#[test]
fn xlsx_shared_strings_declaring_too_many_are_refused() {
    // calamine reserves room for uniqueCount strings before reading one.
    let xlsx = xlsx_with(
        &[HEADER.to_vec(), CANDIDATE.to_vec()],
        0,
        Some(1_000_000_000_000),
    );
    let err = roster::read(&xlsx, Format::Xlsx, &NoneKnown).expect_err("refused");
    assert!(err.to_string().contains("impossible size"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Excel 97–2003 (BIFF8 in a compound file), written by hand.

fn record(typ: u16, data: &[u8]) -> Vec<u8> {
    let mut r = typ.to_le_bytes().to_vec();
    r.extend_from_slice(&(data.len() as u16).to_le_bytes());
    r.extend_from_slice(data);
    r
}

/// The SST record with its strings, split into CONTINUE records of at most 8,224 bytes the way
/// Excel splits them (a string cut inside its characters goes on after a flags byte).
fn sst_records(strings: &[&str]) -> Vec<u8> {
    const MAX: usize = 8224;
    let mut parts: Vec<Vec<u8>> = vec![Vec::new()];
    let total = strings.len() as u32;
    parts[0].extend_from_slice(&total.to_le_bytes());
    parts[0].extend_from_slice(&total.to_le_bytes());
    for s in strings {
        let units: Vec<u16> = s.encode_utf16().collect();
        let head = (units.len() as u16).to_le_bytes();
        if parts.last().map_or(0, Vec::len) + 5 > MAX {
            parts.push(Vec::new());
        }
        let cur = parts.last_mut().expect("part");
        cur.extend_from_slice(&head);
        cur.push(1);
        let mut rest: &[u16] = &units;
        loop {
            let cur = parts.last_mut().expect("part");
            let room = (MAX - cur.len()) / 2;
            let n = room.min(rest.len());
            for u in &rest[..n] {
                cur.extend_from_slice(&u.to_le_bytes());
            }
            rest = &rest[n..];
            if rest.is_empty() {
                break;
            }
            parts.push(vec![1]);
        }
    }
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        out.extend(record(if i == 0 { 0x00FC } else { 0x003C }, p));
    }
    out
}

/// A one-sheet BIFF8 workbook stream whose cells are shared strings; `extra` records go into
/// the sheet after DIMENSIONS (to craft cells and declarations).
fn xls_stream(rows: &[Vec<&str>], dims: Option<[u32; 4]>, extra: &[Vec<u8>]) -> Vec<u8> {
    let mut strings: Vec<&str> = Vec::new();
    let mut cells = Vec::new();
    let mut max_col = 0u32;
    for (r, row) in rows.iter().enumerate() {
        for (c, s) in row.iter().enumerate() {
            let i = strings.iter().position(|x| x == s).unwrap_or_else(|| {
                strings.push(s);
                strings.len() - 1
            });
            let mut d = Vec::new();
            d.extend_from_slice(&(r as u16).to_le_bytes());
            d.extend_from_slice(&(c as u16).to_le_bytes());
            d.extend_from_slice(&0u16.to_le_bytes());
            d.extend_from_slice(&(i as u32).to_le_bytes());
            cells.extend(record(0x00FD, &d));
            max_col = max_col.max(c as u32 + 1);
        }
    }
    let [r0, r1, c0, c1] = dims.unwrap_or([0, rows.len() as u32, 0, max_col]);
    let mut dim = Vec::new();
    dim.extend_from_slice(&r0.to_le_bytes());
    dim.extend_from_slice(&r1.to_le_bytes());
    dim.extend_from_slice(&(c0 as u16).to_le_bytes());
    dim.extend_from_slice(&(c1 as u16).to_le_bytes());
    dim.extend_from_slice(&0u16.to_le_bytes());
    let bof = |dt: u16| {
        let mut b = 0x0600u16.to_le_bytes().to_vec();
        b.extend_from_slice(&dt.to_le_bytes());
        b.extend_from_slice(&[0; 12]);
        record(0x0809, &b)
    };
    let name = "考生信息";
    let globals = |offset: u32| {
        let mut g = bof(0x0005);
        g.extend(record(0x0042, &1200u16.to_le_bytes()));
        let mut bs = offset.to_le_bytes().to_vec();
        bs.extend_from_slice(&[0, 0]);
        let units: Vec<u16> = name.encode_utf16().collect();
        bs.push(units.len() as u8);
        bs.push(1);
        for u in units {
            bs.extend_from_slice(&u.to_le_bytes());
        }
        g.extend(record(0x0085, &bs));
        g.extend(sst_records(&strings));
        g.extend(record(0x000A, &[]));
        g
    };
    let len = globals(0).len() as u32;
    let mut stream = globals(len);
    stream.extend(bof(0x0010));
    stream.extend(record(0x0200, &dim));
    stream.extend(cells);
    for e in extra {
        stream.extend_from_slice(e);
    }
    stream.extend(record(0x000A, &[]));
    stream
}

/// A version-3 compound file holding `stream` as `Workbook` (padded to 4096 bytes so that it is
/// kept in normal sectors; calamine stops at the EOF record).
fn compound_file(stream: &[u8]) -> Vec<u8> {
    let mut stream = stream.to_vec();
    if stream.len() < 4096 {
        stream.resize(4096, 0);
    }
    let body = stream.len().div_ceil(512);
    let mut fat_sectors = 1;
    while fat_sectors * 128 < fat_sectors + 1 + body {
        fat_sectors += 1;
    }
    assert!(fat_sectors <= 109, "test files stay small");
    let dir = fat_sectors;
    let mut header = vec![0u8; 512];
    header[..8].copy_from_slice(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]);
    let put16 =
        |h: &mut Vec<u8>, at: usize, v: u16| h[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put32 =
        |h: &mut Vec<u8>, at: usize, v: u32| h[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put16(&mut header, 24, 0x3E);
    put16(&mut header, 26, 3);
    put16(&mut header, 28, 0xFFFE);
    put16(&mut header, 30, 9);
    put16(&mut header, 32, 6);
    put32(&mut header, 44, fat_sectors as u32);
    put32(&mut header, 48, dir as u32);
    put32(&mut header, 56, 4096);
    put32(&mut header, 60, 0xFFFF_FFFE);
    put32(&mut header, 68, 0xFFFF_FFFE);
    for i in 0..109 {
        let v = if i < fat_sectors {
            i as u32
        } else {
            0xFFFF_FFFF
        };
        put32(&mut header, 76 + i * 4, v);
    }
    let mut fat = vec![0xFFFF_FFFFu32; fat_sectors * 128];
    for f in fat.iter_mut().take(fat_sectors) {
        *f = 0xFFFF_FFFD;
    }
    fat[dir] = 0xFFFF_FFFE;
    let first = dir + 1;
    for i in 0..body {
        fat[first + i] = if i + 1 == body {
            0xFFFF_FFFE
        } else {
            (first + i + 1) as u32
        };
    }
    let entry = |name: &str, kind: u8, child: u32, start: u32, size: u32| {
        let mut e = vec![0u8; 128];
        let units: Vec<u16> = name.encode_utf16().collect();
        for (i, u) in units.iter().enumerate() {
            e[i * 2..i * 2 + 2].copy_from_slice(&u.to_le_bytes());
        }
        if kind != 0 {
            e[64..66].copy_from_slice(&(((units.len() + 1) * 2) as u16).to_le_bytes());
        }
        e[66] = kind;
        e[67] = 1;
        e[68..72].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
        e[72..76].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
        e[76..80].copy_from_slice(&child.to_le_bytes());
        e[116..120].copy_from_slice(&start.to_le_bytes());
        e[120..124].copy_from_slice(&size.to_le_bytes());
        e
    };
    let mut out = header;
    for v in fat {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend(entry("Root Entry", 5, 1, 0xFFFF_FFFE, 0));
    out.extend(entry(
        "Workbook",
        2,
        0xFFFF_FFFF,
        first as u32,
        stream.len() as u32,
    ));
    out.extend(entry("", 0, 0xFFFF_FFFF, 0, 0));
    out.extend(entry("", 0, 0xFFFF_FFFF, 0, 0));
    out.extend_from_slice(&stream);
    out.resize(512 + (fat_sectors + 1 + body) * 512, 0);
    out
}

fn xls_of(rows: &[Vec<&str>], extra: &[Vec<u8>]) -> Vec<u8> {
    compound_file(&xls_stream(rows, None, extra))
}

/// A LabelSst cell at `row`, `col` using string 0.
fn label_sst(row: u16, col: u16) -> Vec<u8> {
    let mut d = row.to_le_bytes().to_vec();
    d.extend_from_slice(&col.to_le_bytes());
    d.extend_from_slice(&0u16.to_le_bytes());
    d.extend_from_slice(&0u32.to_le_bytes());
    record(0x00FD, &d)
}

#[test]
fn hand_written_xls_reads() {
    let report = roster::read(
        &xls_of(&[HEADER.to_vec(), CANDIDATE.to_vec()], &[]),
        Format::Xls,
        &NoneKnown,
    )
    .expect("reads");
    assert_eq!(report.accepted.len(), 1, "{:?}", report.rejected);
}

#[test]
fn xls_huge_declared_dimensions_are_refused() {
    // calamine 0.38 reserves rows × columns cells (40 bytes each) for DIMENSIONS: here about
    // 44 TB, which aborts the process.
    let rows = [HEADER.to_vec(), CANDIDATE.to_vec()];
    let stream = xls_stream(&rows, Some([0, u32::MAX, 0, 255]), &[]);
    let err = roster::read(&compound_file(&stream), Format::Xls, &NoneKnown).expect_err("refused");
    assert!(
        err.to_string().contains("more than a roster needs"),
        "{err}"
    );
    // A last row before the first: calamine subtracts without a check.
    let stream = xls_stream(&rows, Some([10, 5, 0, 8]), &[]);
    let err = roster::read(&compound_file(&stream), Format::Xls, &NoneKnown).expect_err("refused");
    assert!(err.to_string().contains("impossible size"), "{err}");
}

#[test]
fn xls_cells_far_apart_are_refused() {
    // Two cells at A1 and IV65536: calamine lays out the 16.8 million cells between them.
    let rows = [HEADER.to_vec(), CANDIDATE.to_vec()];
    let err = roster::read(
        &xls_of(&rows, &[label_sst(65_535, 255)]),
        Format::Xls,
        &NoneKnown,
    )
    .expect_err("refused");
    assert!(
        err.to_string().contains("more than a roster needs"),
        "{err}"
    );
}

#[test]
fn xls_shared_string_copied_into_many_cells_is_refused() {
    let long = "长".repeat(30_000);
    let row: Vec<&str> = std::iter::repeat_n(long.as_str(), 10).collect();
    let extra: Vec<Vec<u8>> = (2..302u16)
        .flat_map(|r| (0..10u16).map(move |c| (r, c)))
        .map(|(r, c)| {
            let mut d = r.to_le_bytes().to_vec();
            d.extend_from_slice(&c.to_le_bytes());
            d.extend_from_slice(&0u16.to_le_bytes());
            // The long string is the ninth (after the eight header texts).
            d.extend_from_slice(&8u32.to_le_bytes());
            record(0x00FD, &d)
        })
        .collect();
    let xls = xls_of(&[HEADER.to_vec(), row], &extra);
    let err = roster::read(&xls, Format::Xls, &NoneKnown).expect_err("refused");
    assert!(err.to_string().contains("text adds up"), "{err}");
}

#[test]
fn xls_looping_sector_chain_is_refused() {
    let mut file = xls_of(&[HEADER.to_vec(), CANDIDATE.to_vec()], &[]);
    // The directory sector's chain points back to itself: calamine 0.38 would read it forever.
    let dir = u32::from_le_bytes(file[48..52].try_into().expect("4 bytes")) as usize;
    let at = 512 + dir * 4;
    file[at..at + 4].copy_from_slice(&(dir as u32).to_le_bytes());
    let err = roster::read(&file, Format::Xls, &NoneKnown).expect_err("refused");
    assert!(err.to_string().contains("loop"), "{err}");
}

#[test]
fn xls_formula_tokens_never_reach_calamine() {
    // A formula in an unused column whose 3-D reference token is cut short: calamine 0.38's
    // formula parser slices past it. The value Excel stored with the formula is what counts.
    let mut d = 1u16.to_le_bytes().to_vec();
    d.extend_from_slice(&9u16.to_le_bytes());
    d.extend_from_slice(&0u16.to_le_bytes());
    d.extend_from_slice(&2.0f64.to_le_bytes());
    d.extend_from_slice(&[0; 6]);
    d.extend_from_slice(&1u16.to_le_bytes());
    d.push(0x3a);
    let xls = xls_of(
        &[HEADER.to_vec(), CANDIDATE.to_vec()],
        &[record(0x0006, &d)],
    );
    let report = roster::read(&xls, Format::Xls, &NoneKnown).expect("read, formula ignored");
    assert_eq!(report.accepted.len(), 1, "{:?}", report.rejected);
}
