//! Checks an `.xls` (BIFF) workbook before calamine reads it.
//!
//! calamine (0.38) reads every sheet when it opens the file. For each it reserves room for the
//! rows × columns a DIMENSIONS record declares (up to 2³² × 2¹⁶), then lays the cells out as the
//! full rectangle from the smallest to the largest row and column any cell record names, and
//! copies a shared string (SST) into every cell that uses it. Its compound-file reader follows
//! sector chains without loop or bound checks.
//!
//! So the workbook stream is taken out of the compound file by [`super::cfb`] (every chain
//! checked), its records are scanned the way calamine walks them, and the file is refused when
//! a DIMENSIONS record is impossible (last row before the first), when the sheets' laid-out
//! cells — for each sheet the largest of the declared rectangle, the used rectangle and the
//! number of cells its records hold — exceed
//! [`GRID_CELLS_MAX`], or when the text calamine would copy exceeds [`GRID_TEXT_BYTES_MAX`].
//! calamine then reads a new compound file holding only the checked workbook stream, in which
//! every FORMULA record's tokens are emptied (its stored value kept): the roster needs the values,
//! and calamine's formula parser slices tokens without checks (fuzzing found two such panics).

use super::cfb::{self, u16_at, u32_at};
use super::sheet::unreadable;
use super::{Format, GRID_CELLS_MAX, GRID_TEXT_BYTES_MAX, RosterError};

/// UTF-8 bytes one stored character can become (a UTF-16 unit or a legacy code-page byte).
const UTF8_BYTES_PER_CHAR: u64 = 3;
/// Bytes of the text calamine writes for a formula it cannot decode (all of them here, their
/// tokens being emptied): "Unrecognised formula for cell (…): InvalidFormula { … }".
const FORMULA_TEXT_BYTES: u64 = 128;
/// Offset of a FORMULA record's token length (`cce`) in its data.
const FORMULA_TOKENS_AT: usize = 20;

const BOF: u16 = 0x0809;
const EOF: u16 = 0x000A;
const CONTINUE: u16 = 0x003C;
const BOUND_SHEET: u16 = 0x0085;
const SST: u16 = 0x00FC;
const DIMENSIONS: u16 = 0x0200;
const NUMBER: u16 = 0x0203;
const LABEL: u16 = 0x0204;
const RSTRING: u16 = 0x00D6;
const BOOL_ERR: u16 = 0x0205;
const STRING: u16 = 0x0207;
const RK: u16 = 0x027E;
const LABEL_SST: u16 = 0x00FD;
const MUL_RK: u16 = 0x00BD;
const FORMULA: u16 = 0x0006;

fn damaged(what: &str) -> RosterError {
    unreadable(
        Format::Xls,
        format!("the workbook stream is damaged: {what}"),
    )
}

/// One record with the CONTINUE records after it, split exactly as calamine splits them.
struct Record<'a> {
    /// Offset of the record's header in the bytes iterated.
    start: usize,
    typ: u16,
    data: &'a [u8],
    cont: Vec<&'a [u8]>,
}

struct Records<'a> {
    rest: &'a [u8],
    /// Bytes consumed so far.
    done: usize,
}

impl<'a> Records<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            done: 0,
        }
    }

    fn advance(&mut self, next: &'a [u8]) {
        self.done += self.rest.len() - next.len();
        self.rest = next;
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, RosterError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let (Some(typ), Some(len)) = (u16_at(self.rest, 0), u16_at(self.rest, 2)) else {
            self.rest = &[];
            return Some(Err(damaged("a record is cut short")));
        };
        let end = 4 + usize::from(len);
        let (Some(data), Some(next)) = (self.rest.get(4..end), self.rest.get(end..)) else {
            self.rest = &[];
            return Some(Err(damaged("a record is cut short")));
        };
        let start = self.done;
        self.advance(next);
        let mut cont = Vec::new();
        while self.rest.len() > 4 && u16_at(self.rest, 0) == Some(CONTINUE) {
            let len = u16_at(self.rest, 2).map_or(0, usize::from);
            let end = 4 + len;
            let (Some(part), Some(next)) = (self.rest.get(4..end), self.rest.get(end..)) else {
                self.rest = &[];
                return Some(Err(damaged("a continued record is cut short")));
            };
            cont.push(part);
            self.advance(next);
        }
        Some(Ok(Record {
            start,
            typ,
            data,
            cont,
        }))
    }
}

/// Reads a record's data and then its CONTINUE parts, as calamine's string reader does.
struct Reader<'a> {
    data: &'a [u8],
    cont: std::slice::Iter<'a, &'a [u8]>,
}

impl<'a> Reader<'a> {
    fn next_part(&mut self) -> bool {
        match self.cont.next() {
            Some(part) => {
                self.data = part;
                true
            }
            None => false,
        }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.data.get(..n)?, self.data.get(n..)?);
        self.data = rest;
        Some(head)
    }

    fn skip(&mut self, mut n: usize) -> Option<()> {
        while n > 0 {
            if self.data.is_empty() && !self.next_part() {
                return None;
            }
            let l = n.min(self.data.len());
            self.data = self.data.get(l..)?;
            n -= l;
        }
        Some(())
    }
}

/// The length in characters of every string of a shared string table (SST), walked exactly as
/// calamine walks it (a string's characters may continue in the next CONTINUE record, which then
/// starts with its own flags byte).
fn sst_lengths(record: &Record<'_>) -> Result<Vec<u64>, RosterError> {
    let bad = || damaged("the shared string table is malformed");
    let mut r = Reader {
        data: record.data.get(8..).ok_or_else(bad)?,
        cont: record.cont.iter(),
    };
    let mut lengths = Vec::new();
    while !r.data.is_empty() || r.next_part() {
        if r.data.is_empty() {
            lengths.push(0);
            continue;
        }
        let head = r.take(3).ok_or_else(bad)?;
        let cch = u16_at(head, 0).ok_or_else(bad)?;
        let flags = head.get(2).copied().ok_or_else(bad)?;
        let runs = if flags & 0x8 != 0 {
            r.take(2).and_then(|b| u16_at(b, 0)).ok_or_else(bad)?
        } else {
            0
        };
        let ext = if flags & 0x4 != 0 {
            let raw = r.take(4).and_then(|b| u32_at(b, 0)).ok_or_else(bad)?;
            usize::try_from(i32::from_le_bytes(raw.to_le_bytes())).map_err(|_| bad())?
        } else {
            0
        };
        let mut left = usize::from(cch);
        let mut wide = flags & 0x1 != 0;
        while left > 0 {
            let unit = if wide { 2 } else { 1 };
            let n = (r.data.len() / unit).min(left);
            r.take(n * unit).ok_or_else(bad)?;
            left -= n;
            if left > 0 {
                if !r.next_part() {
                    return Err(bad());
                }
                let flags = r.take(1).ok_or_else(bad)?;
                wide = flags.first().is_some_and(|f| f & 0x1 != 0);
            }
        }
        r.skip(usize::from(runs) * 4).ok_or_else(bad)?;
        r.skip(ext).ok_or_else(bad)?;
        lengths.push(u64::from(cch));
    }
    Ok(lengths)
}

/// What one sheet makes calamine lay out.
#[derive(Default)]
struct SheetScan {
    /// The largest rectangle a DIMENSIONS record declares, in cells.
    declared_cells: u64,
    /// Smallest and largest row and column of any cell record.
    used: Option<(u32, u32, u32, u32)>,
    /// Cells calamine collects before laying them out (one per record, MULRK more).
    collected: u64,
    text_bytes: u64,
    /// Where FORMULA records with tokens start (their header, in the sheet's bytes).
    formulas: Vec<usize>,
}

impl SheetScan {
    fn cell(&mut self, row: u32, col: u32) {
        self.collected = self.collected.saturating_add(1);
        self.used = Some(match self.used {
            None => (row, row, col, col),
            Some((r0, r1, c0, c1)) => (r0.min(row), r1.max(row), c0.min(col), c1.max(col)),
        });
    }

    fn cells(&self) -> u64 {
        let used = self.used.map_or(0, |(r0, r1, c0, c1)| {
            (u64::from(r1 - r0) + 1).saturating_mul(u64::from(c1 - c0) + 1)
        });
        used.max(self.declared_cells).max(self.collected)
    }

    fn text(&mut self, bytes: u64) {
        self.text_bytes = self.text_bytes.saturating_add(bytes);
    }
}

/// The rectangle of a DIMENSIONS record, as calamine reads it, in cells.
fn declared_cells(data: &[u8]) -> Result<u64, RosterError> {
    let fields = match data.len() {
        10 => (
            u16_at(data, 0).map(u32::from),
            u16_at(data, 2).map(u32::from),
            u16_at(data, 4).map(u32::from),
            u16_at(data, 6).map(u32::from),
        ),
        14 | 16 => (
            u32_at(data, 0),
            u32_at(data, 4),
            u16_at(data, 8).map(u32::from),
            u16_at(data, 10).map(u32::from),
        ),
        _ => return Err(damaged("a DIMENSIONS record has the wrong length")),
    };
    let (Some(first_row), Some(row_end), Some(mut first_col), Some(col_end)) = fields else {
        return Err(damaged("a DIMENSIONS record is cut short"));
    };
    if first_col > 0xFF || col_end < first_col {
        first_col = 0;
    }
    if row_end == 0 || col_end == 0 {
        return Ok(1);
    }
    // calamine subtracts first from last without a check.
    if row_end <= first_row || col_end <= first_col {
        return Err(RosterError::ImpossibleSize {
            what: format!(
                "a sheet's DIMENSIONS record ends before it starts (rows {first_row}..{row_end}, columns {first_col}..{col_end})"
            ),
        });
    }
    let rows = u64::from(row_end - first_row);
    let cols = u64::from(col_end - first_col);
    Ok(rows.saturating_mul(cols))
}

/// Row and column at the start of a cell record.
fn position(data: &[u8]) -> Option<(u32, u32)> {
    Some((u32::from(u16_at(data, 0)?), u32::from(u16_at(data, 2)?)))
}

struct Globals {
    sheet_offsets: Vec<usize>,
    sst: Vec<u64>,
}

fn scan_globals(stream: &[u8]) -> Result<Globals, RosterError> {
    let mut globals = Globals {
        sheet_offsets: Vec::new(),
        sst: Vec::new(),
    };
    for record in Records::new(stream) {
        let record = record?;
        match record.typ {
            BOUND_SHEET => {
                // calamine reads the offset and two flag bytes unchecked.
                let (Some(offset), Some(_)) = (u32_at(record.data, 0), record.data.get(5)) else {
                    return Err(damaged("a sheet entry is cut short"));
                };
                globals.sheet_offsets.push(offset as usize);
            }
            SST => globals.sst = sst_lengths(&record)?,
            EOF => break,
            _ => {}
        }
    }
    Ok(globals)
}

fn scan_sheet(sheet: &[u8], globals: &Globals) -> Result<SheetScan, RosterError> {
    let mut scan = SheetScan::default();
    let mut formula_pos = (0u32, 0u32);
    let mut seen_bof = false;
    let mut depth = 0usize;
    for record in Records::new(sheet) {
        let record = record?;
        let data = record.data;
        if depth > 0 {
            match record.typ {
                BOF => depth += 1,
                EOF => depth -= 1,
                _ => {}
            }
            continue;
        }
        match record.typ {
            BOF if seen_bof => depth += 1,
            BOF => seen_bof = true,
            DIMENSIONS => scan.declared_cells = scan.declared_cells.max(declared_cells(data)?),
            NUMBER | BOOL_ERR | RK => {
                if let Some((row, col)) = position(data) {
                    scan.cell(row, col);
                }
            }
            LABEL | RSTRING => {
                if let Some((row, col)) = position(data) {
                    scan.cell(row, col);
                }
                scan.text(data.len() as u64 * UTF8_BYTES_PER_CHAR);
            }
            STRING => {
                scan.cell(formula_pos.0, formula_pos.1);
                scan.text(data.len() as u64 * UTF8_BYTES_PER_CHAR);
            }
            LABEL_SST => {
                let (Some((row, col)), Some(index)) = (position(data), u32_at(data, 6)) else {
                    continue;
                };
                if let Some(chars) = globals.sst.get(index as usize) {
                    scan.cell(row, col);
                    scan.text(chars * UTF8_BYTES_PER_CHAR);
                }
            }
            MUL_RK => {
                let (Some((row, first)), Some(last)) = (
                    position(data),
                    data.len().checked_sub(2).and_then(|at| u16_at(data, at)),
                ) else {
                    continue;
                };
                // calamine computes last - first + 1 in 16 bits.
                if u32::from(last) < first || u32::from(last) - first >= 0xFFFF {
                    return Err(damaged("a MULRK record ends before it starts"));
                }
                scan.cell(row, first);
                scan.cell(row, u32::from(last));
                scan.collected = scan
                    .collected
                    .saturating_add(u64::from(u32::from(last) - first).saturating_sub(1));
            }
            FORMULA => {
                // calamine reads the formula's token length at byte 20 and slices that many
                // bytes after it without a check.
                let tokens = u16_at(data, FORMULA_TOKENS_AT).map(usize::from);
                let Some(tokens) = tokens.filter(|n| FORMULA_TOKENS_AT + 2 + n <= data.len())
                else {
                    return Err(damaged("a FORMULA record is cut short"));
                };
                if tokens > 0 {
                    scan.formulas.push(record.start);
                }
                if let Some((row, col)) = position(data) {
                    formula_pos = (row, col);
                    scan.cell(row, col);
                }
                scan.text(FORMULA_TEXT_BYTES);
            }
            EOF => break,
            _ => {}
        }
    }
    Ok(scan)
}

/// Checks the workbook stream of an xls file and returns a new compound file holding only it,
/// with every formula's tokens emptied: the roster needs the values Excel stored with the
/// formulas, never the formulas, and calamine's formula parser slices tokens unchecked.
pub(crate) fn checked_copy(file: &[u8]) -> Result<Vec<u8>, RosterError> {
    let mut stream = cfb::read_stream(file, &["Workbook", "Book"])
        .map_err(|f| unreadable(Format::Xls, f.0))?
        .ok_or_else(|| {
            unreadable(
                Format::Xls,
                String::from("the file holds no workbook (no Workbook stream)"),
            )
        })?;
    // Emptying tokens changes bytes that sheets overlapping each other would read differently;
    // the second scan sees exactly what calamine will, and must find nothing left to empty.
    for pass in 0..2 {
        let formulas = scan_stream(&stream)?;
        if formulas.is_empty() {
            return Ok(cfb::write_single("Workbook", &stream));
        }
        if pass > 0 {
            break;
        }
        for at in formulas {
            let tokens_at = at + 4 + FORMULA_TOKENS_AT;
            if let Some(cce) = stream.get_mut(tokens_at..tokens_at + 2) {
                cce.copy_from_slice(&[0, 0]);
            }
        }
    }
    Err(damaged("its sheets overlap each other"))
}

/// Scans the whole workbook stream against the limits; returns where the FORMULA records with
/// tokens start, in the stream.
fn scan_stream(stream: &[u8]) -> Result<Vec<usize>, RosterError> {
    let globals = scan_globals(stream)?;
    let (mut cells, mut text_bytes) = (0u64, 0u64);
    let mut formulas = Vec::new();
    for &offset in &globals.sheet_offsets {
        let sheet = stream
            .get(offset..)
            .ok_or_else(|| damaged("a sheet starts past the end of the workbook stream"))?;
        let scan = scan_sheet(sheet, &globals)?;
        cells = cells.saturating_add(scan.cells());
        text_bytes = text_bytes.saturating_add(scan.text_bytes);
        if cells > GRID_CELLS_MAX {
            return Err(RosterError::GridTooLarge {
                cells,
                max: GRID_CELLS_MAX,
            });
        }
        if text_bytes > GRID_TEXT_BYTES_MAX {
            return Err(RosterError::TextTooLarge {
                max: GRID_TEXT_BYTES_MAX,
            });
        }
        formulas.extend(scan.formulas.iter().map(|at| offset + at));
    }
    Ok(formulas)
}
