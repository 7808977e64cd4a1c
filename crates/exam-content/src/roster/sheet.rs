//! From file bytes to a bounded grid of cells: format detection (extension, then content),
//! spreadsheet reading with calamine (xlsx streamed cell by cell; xls and ods as ranges), CSV
//! decoding (UTF-8 with or without BOM, UTF-16 with BOM, else GB18030), sheet choice.
//!
//! calamine trusts the file: it lays out every sheet of an xls or ods file as a full rectangle,
//! copies a repeated ods cell into every place it repeats, a shared string into every cell that
//! uses it, reserves from declared counts, and opens the zip itself. So nothing reaches it
//! unchecked:
//!
//! - xlsx/ods: every entry is unpacked through [`Archive`] (names, sizes) and calamine reads a
//!   fresh, stored, in-memory zip of exactly those entries ([`checked_copy`]); an xlsx
//!   `sharedStrings.xml` may not declare more strings than it holds ([`check_shared_strings`]);
//!   an ods `content.xml` is scanned for repeats and text first ([`super::ods_scan`]).
//! - xls: [`super::xls_scan`] takes the workbook stream out of the compound file chain by
//!   chain, scans its records, and calamine reads a new compound file holding only that stream,
//!   with formula tokens emptied (values kept).
//! - calamine's own panics on malformed input (it indexes freely) are caught and reported as an
//!   unreadable file ([`guarded`]); the scans above keep it from allocating what cannot be caught.
//! - every kept cell is at most [`SHEET_CELL_CHARS_MAX`] characters, all kept text at most
//!   [`GRID_TEXT_BYTES_MAX`] bytes, in every format.
//!
//! Nothing here knows what a roster column means; [`super::rules`] does.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};

use calamine::{Data, DataRef, Reader};

use super::{
    COLUMNS_MAX, Date, Format, GRID_CELLS_MAX, GRID_TEXT_BYTES_MAX, HEADER_SEARCH_ROWS, ROWS_MAX,
    RosterError, SHEET_CELL_CHARS_MAX, SHEET_NAME, UNPACKED_BYTES_MAX, ods_scan, xls_scan,
};
use crate::archive::{self, Archive};

/// One cell's value, reduced to what the roster rules need.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Empty,
    Text(String),
    /// Any numeric cell (calamine `Int` and `Float`).
    Number(f64),
    /// A cell Excel shows as a date (date format, or an ISO date in ODS).
    Date(Date),
    Bool(bool),
    /// `#N/A` and friends.
    Error(String),
}

impl Cell {
    pub(crate) fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }

    /// The value as a clerk sees it in the cell (numbers without exponent where possible).
    pub(crate) fn display(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.clone(),
            Cell::Number(n) if n.abs() >= 1e15 => excel_general(*n),
            Cell::Number(n) => number_text(*n),
            Cell::Date(d) => d.to_string(),
            Cell::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
            Cell::Error(e) => e.clone(),
        }
    }
}

/// How Excel's General format shows a number too long for its 15 significant digits:
/// `4.403051979010859e17` → `4.40305E+17`.
fn excel_general(n: f64) -> String {
    let sci = format!("{n:.5E}");
    let Some((mantissa, exponent)) = sci.split_once('E') else {
        return sci;
    };
    let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
    match exponent.strip_prefix('-') {
        Some(e) => format!("{mantissa}E-{e:0>2}"),
        None => format!("{mantissa}E+{exponent:0>2}"),
    }
}

/// `12.0` → `12`, `4.403051979010859e17` → `440305197901085900`, `1.5` → `1.5`.
pub(crate) fn number_text(n: f64) -> String {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{n:.0}")
    } else {
        format!("{n}")
    }
}

fn from_data(d: Data) -> Cell {
    match d {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::Text(s),
        Data::Int(i) => Cell::Number(i as f64),
        Data::Float(f) => Cell::Number(f),
        Data::Bool(b) => Cell::Bool(b),
        Data::DateTime(dt) => {
            if dt.is_datetime() {
                let (y, m, d, ..) = dt.to_ymd_hms_milli();
                match Date::new(u32::from(y), u32::from(m), u32::from(d)) {
                    Some(date) => Cell::Date(date),
                    None => Cell::Number(dt.as_f64()),
                }
            } else {
                Cell::Number(dt.as_f64())
            }
        }
        Data::DateTimeIso(s) => match s.get(..10).and_then(Date::parse_iso) {
            Some(date) => Cell::Date(date),
            None => Cell::Text(s),
        },
        Data::DurationIso(s) => Cell::Text(s),
        Data::Error(e) => Cell::Error(format!("#{e:?}")),
    }
}

/// A sheet's non-empty rows, keyed by 1-based sheet row number, each at most [`COLUMNS_MAX`]
/// cells wide.
#[derive(Debug, Default)]
pub(crate) struct Grid {
    pub(crate) sheet: String,
    pub(crate) rows: BTreeMap<u32, Vec<Cell>>,
    /// Text kept so far, in bytes.
    text_bytes: u64,
}

/// `A1`-style name of a 0-based cell position, as the clerk sees it.
pub(crate) fn cell_name(row0: u64, col0: u64) -> String {
    let mut letters = Vec::new();
    let mut n = col0.saturating_add(1);
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    letters.reverse();
    let letters: String = letters.into_iter().collect();
    format!("{letters}{}", row0.saturating_add(1))
}

impl Grid {
    fn new(sheet: String) -> Self {
        Self {
            sheet,
            rows: BTreeMap::new(),
            text_bytes: 0,
        }
    }

    /// Refuses a cell text over [`SHEET_CELL_CHARS_MAX`] or one that takes the kept text over
    /// [`GRID_TEXT_BYTES_MAX`]; checked before the text is copied.
    fn check_text(&mut self, row0: u32, col0: u32, text: &str) -> Result<(), RosterError> {
        if text.len() > SHEET_CELL_CHARS_MAX && text.chars().count() > SHEET_CELL_CHARS_MAX {
            return Err(RosterError::CellTooLong {
                sheet: self.sheet.clone(),
                cell: cell_name(row0.into(), col0.into()),
                max: SHEET_CELL_CHARS_MAX,
            });
        }
        self.text_bytes = self.text_bytes.saturating_add(text.len() as u64);
        if self.text_bytes > GRID_TEXT_BYTES_MAX {
            return Err(RosterError::TextTooLarge {
                max: GRID_TEXT_BYTES_MAX,
            });
        }
        Ok(())
    }

    /// Places a text cell, checking it before it is copied.
    fn put_text(&mut self, row0: u32, col0: u32, text: &str) -> Result<(), RosterError> {
        if text.trim().is_empty() || col0 as usize >= COLUMNS_MAX {
            return Ok(());
        }
        self.check_text(row0, col0, text)?;
        self.place(row0, col0, Cell::Text(text.to_owned()))
    }

    /// Places one cell (0-based position); enforces the row, column and text limits.
    fn put(&mut self, row0: u32, col0: u32, cell: Cell) -> Result<(), RosterError> {
        if cell.is_blank() || col0 as usize >= COLUMNS_MAX {
            return Ok(());
        }
        if let Cell::Text(text) | Cell::Error(text) = &cell {
            self.check_text(row0, col0, text)?;
        }
        self.place(row0, col0, cell)
    }

    fn place(&mut self, row0: u32, col0: u32, cell: Cell) -> Result<(), RosterError> {
        let row = row0.saturating_add(1);
        if !self.rows.contains_key(&row) && self.rows.len() >= ROWS_MAX + HEADER_SEARCH_ROWS {
            return Err(RosterError::TooManyRows { max: ROWS_MAX });
        }
        let cells = self.rows.entry(row).or_default();
        let col = col0 as usize;
        if cells.len() <= col {
            cells.resize(col + 1, Cell::Empty);
        }
        if let Some(slot) = cells.get_mut(col) {
            *slot = cell;
        }
        Ok(())
    }
}

/// What the bytes really are, whatever the name says; `None` when they could be text (CSV).
pub(crate) fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"PK\x03\x04") {
        // ODF puts an uncompressed `mimetype` entry first.
        let head = bytes.get(..bytes.len().min(200)).unwrap_or_default();
        let ods = b"application/vnd.oasis.opendocument.spreadsheet";
        if head.windows(ods.len()).any(|w| w == ods) {
            return Some(Format::Ods);
        }
        return Some(Format::Xlsx);
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Some(Format::Xls);
    }
    None
}

/// Reads the roster sheet of a file in `format` into a grid.
pub(crate) fn read_grid(bytes: &[u8], format: Format) -> Result<Grid, RosterError> {
    match format {
        Format::Xlsx => read_xlsx(bytes),
        Format::Ods => {
            let copy = checked_copy(bytes, format)?;
            guarded(format, || {
                let ods: calamine::Ods<_> = calamine::Ods::new(Cursor::new(copy.as_slice()))
                    .map_err(|e| unreadable(format, e.to_string()))?;
                read_range_workbook(ods, format)
            })
        }
        Format::Xls => {
            let copy = xls_scan::checked_copy(bytes)?;
            guarded(format, || {
                let xls: calamine::Xls<_> = calamine::Xls::new(Cursor::new(copy.as_slice()))
                    .map_err(|e| unreadable(format, e.to_string()))?;
                read_range_workbook(xls, format)
            })
        }
        Format::Csv => read_csv(bytes),
    }
}

pub(crate) fn unreadable(format: Format, why: String) -> RosterError {
    RosterError::Unreadable { format, why }
}

/// Runs calamine, turning a panic inside it (it indexes into records it has not measured) into
/// an unreadable-file error. Allocation failures cannot be caught: the scans before keep
/// calamine from asking for more than the limits allow.
fn guarded<T>(
    format: Format,
    read: impl FnOnce() -> Result<T, RosterError>,
) -> Result<T, RosterError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|_| {
        Err(unreadable(
            format,
            String::from("the spreadsheet reader stopped on a damaged part of the file"),
        ))
    })
}

/// xlsx and ods are zip files: every entry is unpacked once through [`Archive`] (sizes and
/// names checked), checked for what calamine would trust in it, and written, stored, into a new
/// zip in memory. calamine reads that copy, so it never inflates an entry that was not checked,
/// whatever the original's directory says.
fn checked_copy(bytes: &[u8], format: Format) -> Result<Vec<u8>, RosterError> {
    let mut zip = Archive::new(Cursor::new(bytes)).map_err(RosterError::Archive)?;
    let names: Vec<String> = zip.names().map(str::to_owned).collect();
    let write_fault = |e: zip::result::ZipError| unreadable(format, e.to_string());
    let mut copy = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    let mut total: u64 = 0;
    for name in names {
        let Some(data) = zip
            .read(&name, archive::ENTRY_BYTES_MAX)
            .map_err(RosterError::Archive)?
        else {
            continue;
        };
        total = total.saturating_add(data.len() as u64);
        if total > UNPACKED_BYTES_MAX {
            return Err(RosterError::TooManyUnpacked {
                max: UNPACKED_BYTES_MAX,
            });
        }
        let file_name = name.rsplit('/').next().unwrap_or(&name).to_lowercase();
        match format {
            // calamine looks `sharedStrings.xml` up case-insensitively, under any folder the
            // package relationships name.
            Format::Xlsx if file_name == "sharedstrings.xml" => check_shared_strings(&data)?,
            Format::Ods if name == "content.xml" => ods_scan::check_content(&data)?,
            _ => {}
        }
        copy.start_file(name.as_str(), stored)
            .map_err(write_fault)?;
        copy.write_all(&data)
            .map_err(|e| unreadable(format, e.to_string()))?;
    }
    Ok(copy.finish().map_err(write_fault)?.into_inner())
}

/// calamine reserves room for as many strings as `<sst uniqueCount=…>` declares before reading
/// any: refuse a count above both the strings really there and [`GRID_CELLS_MAX`] (Excel writes
/// the true count, so no saved file is refused).
pub(crate) fn check_shared_strings(xml: &[u8]) -> Result<(), RosterError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let config = reader.config_mut();
    config.check_end_names = false;
    config.check_comments = false;
    let mut declared: Option<u64> = None;
    let mut present: u64 = 0;
    let impossible = |what: String| RosterError::ImpossibleSize { what };
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => match e.local_name().as_ref() {
                "sst" if declared.is_none() => {
                    let count = e
                        .attributes()
                        .with_checks(false)
                        .flatten()
                        .find(|a| a.key.as_ref() == "uniqueCount");
                    let value = match count {
                        Some(a) => {
                            let text = a.value.trim().to_owned();
                            text.parse::<u64>().map_err(|_| {
                                impossible(format!("shared strings uniqueCount=\"{text}\""))
                            })?
                        }
                        None => 0,
                    };
                    declared = Some(value);
                }
                "si" => present = present.saturating_add(1),
                _ => {}
            },
            Ok(Event::Eof) => break,
            // Before `<sst>`: calamine's own XML reader might get further and trust a count not
            // seen here. After it, a fault only leaves strings uncounted (more refusals, never
            // fewer); calamine reports the fault itself.
            Err(e) if declared.is_none() => {
                return Err(unreadable(
                    Format::Xlsx,
                    format!("the shared strings are not well-formed XML: {e}"),
                ));
            }
            Err(_) => break,
            Ok(_) => {}
        }
    }
    let declared = declared.unwrap_or(0);
    if declared > present.max(GRID_CELLS_MAX) {
        return Err(impossible(format!(
            "the shared strings declare {declared} strings but hold {present}"
        )));
    }
    Ok(())
}

fn pick_sheet(names: &[String]) -> Result<String, RosterError> {
    names
        .iter()
        .find(|n| n.trim() == SHEET_NAME)
        .or_else(|| names.first())
        .cloned()
        .ok_or(RosterError::NoSheet)
}

fn read_xlsx(bytes: &[u8]) -> Result<Grid, RosterError> {
    let format = Format::Xlsx;
    let copy = checked_copy(bytes, format)?;
    guarded(format, || read_xlsx_copy(&copy))
}

fn read_xlsx_copy(copy: &[u8]) -> Result<Grid, RosterError> {
    let format = Format::Xlsx;
    let mut book: calamine::Xlsx<_> =
        calamine::Xlsx::new(Cursor::new(copy)).map_err(|e| unreadable(format, e.to_string()))?;
    let sheet = pick_sheet(&book.sheet_names())?;
    let mut grid = Grid::new(sheet.clone());
    let mut cells = book
        .worksheet_cells_reader(&sheet)
        .map_err(|e| unreadable(format, e.to_string()))?;
    while let Some(cell) = cells
        .next_cell()
        .map_err(|e| unreadable(format, e.to_string()))?
    {
        let (row0, col0) = cell.get_position();
        let value = match cell.get_value() {
            DataRef::Empty => continue,
            // One shared string may be used by every cell: check it before it is copied.
            DataRef::SharedString(s) => {
                grid.put_text(row0, col0, s)?;
                continue;
            }
            other => from_data(Data::from(other.clone())),
        };
        grid.put(row0, col0, value)?;
    }
    Ok(grid)
}

fn read_range_workbook<R: Reader<Cursor<B>>, B: AsRef<[u8]>>(
    mut book: R,
    format: Format,
) -> Result<Grid, RosterError>
where
    R::Error: std::fmt::Display,
{
    let sheet = pick_sheet(&book.sheet_names())?;
    let range = book
        .worksheet_range(&sheet)
        .map_err(|e| unreadable(format, e.to_string()))?;
    let (row_start, col_start) = range.start().unwrap_or((0, 0));
    let mut grid = Grid::new(sheet);
    for (r, c, value) in range.used_cells() {
        let (Ok(r), Ok(c)) = (u32::try_from(r), u32::try_from(c)) else {
            continue;
        };
        grid.put(
            row_start.saturating_add(r),
            col_start.saturating_add(c),
            from_data(value.clone()),
        )?;
    }
    Ok(grid)
}

/// Decodes CSV bytes: UTF-8 (BOM or not), UTF-16 with a BOM, else GB18030 (what Chinese Excel
/// writes as "CSV").
pub(crate) fn decode_text(bytes: &[u8]) -> Result<String, RosterError> {
    if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let body = bytes.get(bom_len..).unwrap_or_default();
        let (text, had_errors) = enc.decode_without_bom_handling(body);
        if had_errors {
            return Err(RosterError::Encoding);
        }
        return Ok(text.into_owned());
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok(s.to_owned());
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(RosterError::Encoding);
    }
    Ok(text.into_owned())
}

fn read_csv(bytes: &[u8]) -> Result<Grid, RosterError> {
    let text = decode_text(bytes)?;
    if text.contains('\0') {
        return Err(RosterError::Encoding);
    }
    // Excel's "CSV" is comma-separated; its "Unicode text" is tab-separated.
    let first_line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let delimiter = [b',', b'\t', b';']
        .into_iter()
        .max_by_key(|d| first_line.bytes().filter(|b| b == d).count())
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut grid = Grid::new(String::from("CSV"));
    let mut record = csv::StringRecord::new();
    let mut row0: u32 = 0;
    loop {
        let more = reader
            .read_record(&mut record)
            .map_err(|e| RosterError::Unreadable {
                format: Format::Csv,
                why: e.to_string(),
            })?;
        if !more {
            break;
        }
        for (col0, field) in record.iter().enumerate().take(COLUMNS_MAX) {
            let Ok(col0) = u32::try_from(col0) else { break };
            grid.put_text(row0, col0, field)?;
        }
        row0 = row0.saturating_add(1);
    }
    Ok(grid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_string_counts_are_checked_before_calamine_reserves() {
        let sst = |count: &str, items: usize| {
            format!(
                r#"<?xml version="1.0"?><sst xmlns="x" uniqueCount="{count}">{}</sst>"#,
                "<si><t>a</t></si>".repeat(items)
            )
        };
        assert!(check_shared_strings(sst("3", 3).as_bytes()).is_ok());
        // A count above what is there but within the grid limit is only sloppy.
        assert!(check_shared_strings(sst("1000", 3).as_bytes()).is_ok());
        for bad in ["99999999999", "-1", "1e9", "18446744073709551616"] {
            assert!(
                matches!(
                    check_shared_strings(sst(bad, 3).as_bytes()),
                    Err(RosterError::ImpossibleSize { .. })
                ),
                "{bad}"
            );
        }
        // Bytes this reader cannot read before `<sst>`: refused, not skipped.
        let mut broken = b"<?xml version=\"1.0\"?><!-- \xff\xfe -->".to_vec();
        broken.extend_from_slice(br#"<sst uniqueCount="99999999999"/>"#);
        assert!(check_shared_strings(&broken).is_err());
    }

    #[test]
    fn cell_names_are_as_excel_shows_them() {
        assert_eq!(cell_name(0, 0), "A1");
        assert_eq!(cell_name(1, 25), "Z2");
        assert_eq!(cell_name(9, 26), "AA10");
        assert_eq!(cell_name(0, 16_383), "XFD1");
    }
}
