//! A streaming scan of an ods `content.xml` before calamine reads it.
//!
//! calamine (0.38) reads every table of the file and lays each one out as a full rectangle:
//! a row with `table:number-rows-repeated` is copied that many times, a cell with
//! `table:number-columns-repeated` is copied into every column it covers, `<text:s text:c=…>`
//! becomes that many spaces, and empty rows between non-empty ones are filled in. It caps a
//! table at 1,048,576 rows and 16,384 columns, which is still far more than memory holds.
//!
//! This scan works out, from the same declarations, what calamine would lay out: for each table
//! the rows from the first to the last non-empty row (repeats included) times the columns from A
//! to the last non-empty column, and the text copied into them. The file is refused when the
//! cells over all tables exceed [`GRID_CELLS_MAX`], the text exceeds [`GRID_TEXT_BYTES_MAX`], or
//! one cell's text exceeds [`SHEET_CELL_CHARS_MAX`].
//!
//! Empty repeats cost calamine nothing (it drops empty rows after the last non-empty one and
//! empty cells after the last non-empty cell of a row), so the trailing
//! `number-rows-repeated="1048553"` of empty rows and the `number-columns-repeated="1024"` of
//! empty cells LibreOffice writes into every sheet are accepted as they are.
//!
//! A cell counts as non-empty when calamine would keep it: it has a value attribute, is of
//! string type, or has a formula. The scan errs on the side of counting: text is counted in
//! every cell, whatever its type, and rows and tables calamine would skip are counted too.

use quick_xml::events::{BytesStart, Event};

use super::sheet::{cell_name, unreadable};
use super::{Format, GRID_CELLS_MAX, GRID_TEXT_BYTES_MAX, RosterError, SHEET_CELL_CHARS_MAX};

/// calamine's cap on one table's rows.
const CALAMINE_ROWS_MAX: u64 = 1_048_576;
/// calamine's cap on one row's columns.
const CALAMINE_COLUMNS_MAX: u64 = 16_384;

/// Attributes that give a cell a value in calamine (with `office:value-type="string"` and a
/// non-empty `table:formula`, the cells it keeps).
const VALUE_ATTRS: [&str; 5] = [
    "office:value",
    "office:string-value",
    "office:date-value",
    "office:time-value",
    "office:boolean-value",
];

/// Attributes whose text calamine copies into every repeat of the cell.
const TEXT_ATTRS: [&str; 4] = [
    "office:string-value",
    "office:date-value",
    "office:time-value",
    "table:formula",
];

#[derive(Default)]
struct Table {
    name: String,
    /// Rows so far, repeats included.
    rows: u64,
    /// First non-empty row (0-based) and the row after the last one.
    first_used: Option<u64>,
    end_used: u64,
    /// Columns from A to the last non-empty one.
    width: u64,
    text_bytes: u64,
}

impl Table {
    fn cells(&self) -> u64 {
        self.first_used.map_or(0, |first| {
            self.end_used
                .saturating_sub(first)
                .saturating_mul(self.width)
        })
    }
}

#[derive(Default)]
struct Row {
    repeats: u64,
    /// Next column (0-based), repeats included.
    col: u64,
    /// The column after the last non-empty cell.
    width: u64,
    text_bytes: u64,
}

#[derive(Default)]
struct CellScan {
    repeats: u64,
    used: bool,
    chars: u64,
    bytes: u64,
    /// Elements open inside the cell.
    depth: u32,
}

#[derive(Default)]
struct Scan {
    table: Option<Table>,
    row: Option<Row>,
    cell: Option<CellScan>,
    /// Cells and text of the tables already finished.
    cells: u64,
    text_bytes: u64,
}

fn attr_u64(e: &BytesStart<'_>, key: &str) -> Option<u64> {
    let attr = e
        .attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.as_ref() == key)?;
    attr.value.parse().ok()
}

fn chars_in(text: &str) -> u64 {
    text.chars().count() as u64
}

impl Scan {
    fn start(&mut self, e: &BytesStart<'_>, empty: bool) -> Result<(), RosterError> {
        let name = e.name();
        let name = name.as_ref();
        if let Some(cell) = &mut self.cell {
            match name {
                "text:s" => {
                    let spaces = attr_u64(e, "text:c").unwrap_or(1);
                    cell.chars = cell.chars.saturating_add(spaces);
                    cell.bytes = cell.bytes.saturating_add(spaces);
                }
                "text:p" | "text:tab" | "text:line-break" => {
                    cell.chars = cell.chars.saturating_add(1);
                    cell.bytes = cell.bytes.saturating_add(1);
                }
                _ => {}
            }
            if !empty {
                cell.depth = cell.depth.saturating_add(1);
            }
            return self.check_cell_text();
        }
        match name {
            "table:table" if !empty => {
                self.end_table()?;
                let name = e
                    .attributes()
                    .with_checks(false)
                    .flatten()
                    .find(|a| a.key.as_ref() == "table:name")
                    .map(|a| a.value.into_owned())
                    .unwrap_or_default();
                self.table = Some(Table {
                    name,
                    ..Table::default()
                });
            }
            "table:table-row" if self.table.is_some() => {
                self.row = Some(Row {
                    repeats: attr_u64(e, "table:number-rows-repeated").unwrap_or(1),
                    ..Row::default()
                });
                if empty {
                    self.end_row()?;
                }
            }
            "table:table-cell" | "table:covered-table-cell" if self.row.is_some() => {
                let mut cell = CellScan {
                    repeats: attr_u64(e, "table:number-columns-repeated").unwrap_or(1),
                    ..CellScan::default()
                };
                for attr in e.attributes().with_checks(false).flatten() {
                    let key = attr.key.as_ref();
                    let value = attr.value.as_ref();
                    if VALUE_ATTRS.contains(&key)
                        || (key == "office:value-type" && value == "string")
                        || (key == "table:formula" && !value.is_empty())
                    {
                        cell.used = true;
                    }
                    if TEXT_ATTRS.contains(&key) {
                        let len = attr.value.len() as u64;
                        cell.chars = cell.chars.saturating_add(len);
                        cell.bytes = cell.bytes.saturating_add(len);
                    }
                }
                self.cell = Some(cell);
                self.check_cell_text()?;
                if empty {
                    self.end_cell()?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self, name: &str) -> Result<(), RosterError> {
        if let Some(cell) = &mut self.cell {
            if cell.depth > 0 {
                cell.depth -= 1;
                return Ok(());
            }
            return self.end_cell();
        }
        match name {
            "table:table-row" if self.row.is_some() => self.end_row(),
            "table:table" => self.end_table(),
            _ => Ok(()),
        }
    }

    fn text(&mut self, chars: u64, bytes: u64) -> Result<(), RosterError> {
        if let Some(cell) = &mut self.cell {
            cell.chars = cell.chars.saturating_add(chars);
            cell.bytes = cell.bytes.saturating_add(bytes);
            self.check_cell_text()?;
        }
        Ok(())
    }

    /// The position of the cell being scanned, as the clerk sees it.
    fn here(&self) -> (String, String) {
        let sheet = self
            .table
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let row0 = self.table.as_ref().map_or(0, |t| t.rows);
        let col0 = self.row.as_ref().map_or(0, |r| r.col);
        (sheet, cell_name(row0, col0))
    }

    fn check_cell_text(&self) -> Result<(), RosterError> {
        let Some(cell) = &self.cell else {
            return Ok(());
        };
        if cell.chars > SHEET_CELL_CHARS_MAX as u64 {
            let (sheet, cell) = self.here();
            return Err(RosterError::CellTooLong {
                sheet,
                cell,
                max: SHEET_CELL_CHARS_MAX,
            });
        }
        Ok(())
    }

    fn end_cell(&mut self) -> Result<(), RosterError> {
        let Some(cell) = self.cell.take() else {
            return Ok(());
        };
        let Some(row) = &mut self.row else {
            return Ok(());
        };
        let repeats = cell
            .repeats
            .min(CALAMINE_COLUMNS_MAX.saturating_sub(row.col));
        row.col = row.col.saturating_add(repeats);
        if cell.used && repeats > 0 {
            row.width = row.col;
            row.text_bytes = row
                .text_bytes
                .saturating_add(cell.bytes.saturating_mul(repeats));
        }
        Ok(())
    }

    fn end_row(&mut self) -> Result<(), RosterError> {
        self.cell = None;
        let Some(row) = self.row.take() else {
            return Ok(());
        };
        let Some(table) = &mut self.table else {
            return Ok(());
        };
        let repeats = row
            .repeats
            .min(CALAMINE_ROWS_MAX.saturating_sub(table.rows));
        if row.width > 0 {
            // calamine keeps a row element even when it repeats it zero times.
            let laid_out = repeats.max(1);
            table.first_used.get_or_insert(table.rows);
            table.end_used = table.rows.saturating_add(laid_out);
            table.width = table.width.max(row.width);
            table.text_bytes = table
                .text_bytes
                .saturating_add(row.text_bytes.saturating_mul(laid_out));
        }
        table.rows = table.rows.saturating_add(repeats);
        let (cells, text_bytes) = (table.cells(), table.text_bytes);
        self.check(cells, text_bytes)
    }

    fn end_table(&mut self) -> Result<(), RosterError> {
        self.row = None;
        self.cell = None;
        let Some(table) = self.table.take() else {
            return Ok(());
        };
        self.cells = self.cells.saturating_add(table.cells());
        self.text_bytes = self.text_bytes.saturating_add(table.text_bytes);
        self.check(0, 0)
    }

    /// The finished tables plus the open one against the limits.
    fn check(&self, open_cells: u64, open_text_bytes: u64) -> Result<(), RosterError> {
        let cells = self.cells.saturating_add(open_cells);
        if cells > GRID_CELLS_MAX {
            return Err(RosterError::GridTooLarge {
                cells,
                max: GRID_CELLS_MAX,
            });
        }
        if self.text_bytes.saturating_add(open_text_bytes) > GRID_TEXT_BYTES_MAX {
            return Err(RosterError::TextTooLarge {
                max: GRID_TEXT_BYTES_MAX,
            });
        }
        Ok(())
    }
}

/// Refuses a `content.xml` whose tables would make calamine lay out more than the limits allow,
/// and one that is not well-formed (calamine's XML reader might read past what this scan
/// cannot).
pub(crate) fn check_content(xml: &[u8]) -> Result<(), RosterError> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let config = reader.config_mut();
    config.check_end_names = false;
    config.check_comments = false;
    let mut scan = Scan::default();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => scan.start(&e, false)?,
            Ok(Event::Empty(e)) => scan.start(&e, true)?,
            Ok(Event::End(e)) => scan.end(e.name().as_ref())?,
            Ok(Event::Text(t)) => scan.text(chars_in(&t), t.len() as u64)?,
            Ok(Event::CData(t)) => scan.text(chars_in(&t), t.len() as u64)?,
            // An entity or character reference is one character of up to four bytes.
            Ok(Event::GeneralRef(_)) => scan.text(1, 4)?,
            Ok(Event::Eof) => break,
            Err(e) => {
                return Err(unreadable(
                    Format::Ods,
                    format!(
                        "content.xml is not well-formed XML near byte {}: {e}",
                        reader.error_position()
                    ),
                ));
            }
            Ok(_) => {}
        }
    }
    scan.end_table()
}
