//! Roster spreadsheets (考生名单): read `.xlsx`, `.xls`, `.ods` and `.csv` rosters into checked
//! [`RosterEntry`]s, with every refused row reported by its sheet row number and a reason a clerk
//! understands; write a report workbook of the refused rows the clerk can fix and re-import, and
//! a blank template with filling instructions.
//!
//! Read first: [`read`] / [`read_path`], [`RosterReport`], [`RosterEntry`], [`Fault`].
//!
//! Rules (see the fixtures README): required columns are found by their header text, in any
//! order; typing slips (surrounding spaces, full-width digits, a lower-case `x`, real date cells)
//! are normalised; an ID number destroyed by a number-formatted cell is named as such; a repeated
//! ID number is refused naming the first row; ID numbers the caller already has (see
//! [`KnownIds`]) are reported as already present and not imported again.
//!
//! Every input is bounded: [`FILE_BYTES_MAX`], [`UNPACKED_BYTES_MAX`], [`ROWS_MAX`],
//! [`COLUMNS_MAX`], [`CELL_CHARS_MAX`], [`SHEET_CELL_CHARS_MAX`], [`GRID_CELLS_MAX`],
//! [`GRID_TEXT_BYTES_MAX`]. Nothing here panics on input or touches the network.
//!
//! Spreadsheet files are checked *before* calamine reads them, because calamine lays out every
//! sheet from sizes the file declares (see `sheet`): xlsx and ods entries go through
//! [`crate::archive::Archive`] and calamine reads a fresh in-memory copy of exactly those
//! entries; an ods `content.xml` is scanned for repeat counts and text; an xls file's streams
//! are checked chain by chain, its records scanned for declared dimensions, cell positions and
//! shared-string use, and calamine reads a fresh compound file holding only the checked stream.

mod cfb;
mod ods_scan;
mod output;
mod rules;
mod sheet;
mod xls_scan;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::archive::ArchiveError;

pub use output::{report_xlsx_bytes, template_xlsx_bytes, write_report_xlsx, write_template_xlsx};
pub use rules::{Col, Fault, Problem, normalise_id_text};

/// Largest roster file accepted, in bytes.
pub const FILE_BYTES_MAX: u64 = 32 * 1024 * 1024;
/// Largest total of an xlsx/ods file's unpacked parts, in bytes.
pub const UNPACKED_BYTES_MAX: u64 = 256 * 1024 * 1024;
/// Most candidate rows in one file.
pub const ROWS_MAX: usize = 50_000;
/// Columns beyond this many are ignored.
pub const COLUMNS_MAX: usize = 64;
/// Longest value of a free-text roster field (作业类别, 准操项目, …), in characters; a longer one
/// refuses its row.
pub const CELL_CHARS_MAX: usize = 200;
/// Longest text of any cell read from a file, in characters (Excel's own limit, so no cell that
/// Excel, WPS or LibreOffice can hold is refused); a longer one refuses the whole file, in every
/// format, before the cell is kept.
pub const SHEET_CELL_CHARS_MAX: usize = 32_767;
/// Most cells the spreadsheet reader may lay out, over all sheets of an xls or ods file (their
/// used areas, counted from the first to the last non-empty row and from column A to the last
/// non-empty column) and in the kept grid of any format: the rows and columns a roster can fill.
pub const GRID_CELLS_MAX: u64 = ((ROWS_MAX + HEADER_SEARCH_ROWS) * COLUMNS_MAX) as u64;
/// Most text, in bytes (UTF-8), the spreadsheet reader may lay out over all cells: checked from
/// the file before the reader copies a repeated cell or a shared string into every place it is
/// used, and again while cells are kept.
pub const GRID_TEXT_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Longest name, in characters.
pub const NAME_CHARS_MAX: usize = 50;
/// The header row must be among this many first non-empty rows.
pub const HEADER_SEARCH_ROWS: usize = 20;
/// The sheet read when present; otherwise the first sheet.
pub const SHEET_NAME: &str = "考生信息";
/// The column the report workbook adds; the importer ignores it.
pub const REASON_COLUMN: &str = "错误原因";

/// Why a whole file was refused (a single row's problems are in [`RosterReport::rejected`]).
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    #[error("文件为空，请选择正确的名单文件 / the file is empty: choose the right roster file")]
    Empty,
    #[error(
        "文件过大（{bytes} 字节，最多 {max} 字节），请拆分成几个文件分别导入 / the file is too large ({bytes} bytes, at most {max}): split it into several files"
    )]
    TooLarge { bytes: u64, max: u64 },
    #[error("无法读取文件 {path}：{source} / cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "不支持的文件类型“{0}”，请另存为 .xlsx、.xls、.ods 或 .csv / unsupported file type “{0}”: save the roster as .xlsx, .xls, .ods or .csv"
    )]
    UnknownFormat(String),
    #[error(
        "文件不是有效的表格（{0}），请用 Excel/WPS 打开确认后另存为 .xlsx 再导入 / the file is not a valid spreadsheet ({0}): open it in Excel/WPS, save as .xlsx and import again"
    )]
    Archive(ArchiveError),
    #[error(
        "表格解压后超过 {max} 字节，已拒绝；请拆分名单 / the spreadsheet unpacks to more than {max} bytes and was refused: split the roster"
    )]
    TooManyUnpacked { max: u64 },
    #[error(
        "无法读取 {format} 文件（{why}），请用 Excel/WPS 打开确认后另存为 .xlsx 再导入 / cannot read the {format} file ({why}): open it in Excel/WPS, save as .xlsx and import again"
    )]
    Unreadable { format: Format, why: String },
    #[error(
        "CSV 文件编码无法识别，请在 Excel 中另存为“CSV UTF-8”或 .xlsx / the CSV file's text encoding is not recognised: save it from Excel as “CSV UTF-8” or as .xlsx"
    )]
    Encoding,
    #[error("表格中没有工作表 / the spreadsheet has no sheet")]
    NoSheet,
    #[error(
        "工作表“{sheet}”前 {HEADER_SEARCH_ROWS} 行中找不到表头（姓名、性别、证件类型、证件号码……），请使用名单模板 / no header row (姓名, 性别, 证件类型, 证件号码, …) in the first {HEADER_SEARCH_ROWS} rows of sheet “{sheet}”: use the roster template"
    )]
    NoHeader { sheet: String },
    #[error(
        "表头缺少必填列：{missing}，请按名单模板补上这些列 / the header lacks required columns: {missing}; add them as in the roster template"
    )]
    MissingColumns { missing: String },
    #[error(
        "名单超过 {max} 行，请拆分成几个文件分别导入 / the roster has more than {max} rows: split it into several files"
    )]
    TooManyRows { max: usize },
    #[error(
        "工作表“{sheet}”中 {cell} 单元格的文字超过 {max} 个字符，整个文件已拒绝；请检查该单元格，或确认选择的是名单文件 / the cell {cell} of sheet “{sheet}” holds more than {max} characters: the whole file was refused; check that cell, or whether this is the roster file at all"
    )]
    CellTooLong {
        sheet: String,
        cell: String,
        max: usize,
    },
    #[error(
        "表格各工作表的已用区域合计 {cells} 个单元格（最多 {max} 个），超出名单所需；请删除多余的行、列和工作表，或把名单复制到新工作簿后再导入 / the sheets' used areas hold {cells} cells in all (at most {max}), more than a roster needs: delete the extra rows, columns and sheets, or copy the roster into a new workbook and import that"
    )]
    GridTooLarge { cells: u64, max: u64 },
    #[error(
        "表格中的文字合计超过 {max} 字节，超出名单所需；请把名单复制到新工作簿，或拆分成几个文件 / the spreadsheet's text adds up to more than {max} bytes, more than a roster needs: copy the roster into a new workbook, or split it into several files"
    )]
    TextTooLarge { max: u64 },
    #[error(
        "表格文件声明的大小不合理（{what}），文件已损坏或被改动；请用 Excel/WPS 打开后另存为 .xlsx 再导入 / the spreadsheet declares an impossible size ({what}): it is damaged or was tampered with; open it in Excel/WPS, save it as .xlsx and import again"
    )]
    ImpossibleSize { what: String },
    #[error("无法生成表格文件：{0} / could not write the spreadsheet: {0}")]
    Write(String),
}

/// The spreadsheet kinds the importer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Xlsx,
    Xls,
    Ods,
    Csv,
}

impl Format {
    /// From a file name's extension (case-insensitive).
    pub fn from_path(path: &Path) -> Result<Format, RosterError> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "xlsx" | "xlsm" => Ok(Format::Xlsx),
            "xls" => Ok(Format::Xls),
            "ods" => Ok(Format::Ods),
            "csv" | "txt" => Ok(Format::Csv),
            _ => Err(RosterError::UnknownFormat(ext)),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Xlsx => "xlsx",
            Format::Xls => "xls",
            Format::Ods => "ods",
            Format::Csv => "csv",
        })
    }
}

/// A calendar date (no time, no zone), serialised as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// A real date between 1900-01-01 and 2100-12-31, or `None`.
    pub fn new(year: u32, month: u32, day: u32) -> Option<Date> {
        if !(1900..=2100).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return None;
        }
        let leap =
            (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days = match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        if day > days {
            return None;
        }
        Some(Date {
            year: u16::try_from(year).ok()?,
            month: u8::try_from(month).ok()?,
            day: u8::try_from(day).ok()?,
        })
    }

    /// Strictly `YYYY-MM-DD`.
    pub fn parse_iso(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
            return None;
        }
        let y = s.get(0..4)?.parse().ok()?;
        let m = s.get(5..7)?.parse().ok()?;
        let d = s.get(8..10)?.parse().ok()?;
        Date::new(y, m, d)
    }

    /// From an Excel serial day number (1900 date system).
    pub fn from_excel_serial(serial: f64) -> Option<Date> {
        let dt = calamine::ExcelDateTime::new(serial, calamine::ExcelDateTimeType::DateTime, false);
        let (y, m, d, ..) = dt.to_ymd_hms_milli();
        Date::new(u32::from(y), u32::from(m), u32::from(d))
    }

    pub fn year(self) -> u16 {
        self.year
    }
    pub fn month(self) -> u8 {
        self.month
    }
    pub fn day(self) -> u8 {
        self.day
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl TryFrom<String> for Date {
    type Error = String;
    fn try_from(s: String) -> Result<Date, String> {
        Date::parse_iso(&s).ok_or_else(|| format!("not a real YYYY-MM-DD date: {s}"))
    }
}

impl From<Date> for String {
    fn from(d: Date) -> String {
        d.to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    /// 男 / 女.
    pub fn chinese(self) -> &'static str {
        match self {
            Gender::Male => "男",
            Gender::Female => "女",
        }
    }
}

/// 证件类型, by its code in the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    /// 1 居民身份证
    ResidentCard,
    /// 2 港澳台居民居住证
    ResidencePermit,
    /// 3 外国人永久居留身份证
    ForeignPermanentResident,
    /// 4 护照
    Passport,
}

impl IdType {
    pub const ALL: [IdType; 4] = [
        IdType::ResidentCard,
        IdType::ResidencePermit,
        IdType::ForeignPermanentResident,
        IdType::Passport,
    ];

    pub fn code(self) -> u8 {
        match self {
            IdType::ResidentCard => 1,
            IdType::ResidencePermit => 2,
            IdType::ForeignPermanentResident => 3,
            IdType::Passport => 4,
        }
    }

    pub fn chinese(self) -> &'static str {
        match self {
            IdType::ResidentCard => "居民身份证",
            IdType::ResidencePermit => "港澳台居民居住证",
            IdType::ForeignPermanentResident => "外国人永久居留身份证",
            IdType::Passport => "护照",
        }
    }
}

/// 考核类型.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExamType {
    /// 新取证: first certificate.
    New,
    /// 复审: renewal; needs the expiry date of the current certificate.
    Renewal,
}

impl ExamType {
    pub fn chinese(self) -> &'static str {
        match self {
            ExamType::New => "新取证",
            ExamType::Renewal => "复审",
        }
    }
}

/// One checked candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEntry {
    /// Without surrounding spaces.
    pub name: String,
    /// Agrees with the ID number for [`IdType::ResidentCard`].
    pub gender: Gender,
    pub id_type: IdType,
    /// Normalised: ASCII, upper case, no surrounding spaces. For types 1 and 2 a valid GB 11643
    /// number (see [`RosterEntry::resident_id`]).
    pub id_number: String,
    /// 11 ASCII digits starting with 1.
    pub mobile: String,
    /// May be empty.
    pub employer: String,
    /// 作业类别.
    pub category: String,
    /// 准操项目.
    pub item: String,
    pub exam_type: ExamType,
    /// Present for every [`ExamType::Renewal`]; may be present for a new certificate.
    pub expiry: Option<Date>,
}

impl RosterEntry {
    /// The GB 11643 number for ID types 1 and 2.
    pub fn resident_id(&self) -> Option<exam_domain::IdNumber> {
        match self.id_type {
            IdType::ResidentCard | IdType::ResidencePermit => {
                exam_domain::IdNumber::parse(&self.id_number).ok()
            }
            _ => None,
        }
    }
}

/// The ID numbers the caller already has (normalised, as in [`RosterEntry::id_number`]).
pub trait KnownIds {
    fn contains_id(&self, id_number: &str) -> bool;
}

/// Nothing imported yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoneKnown;

impl KnownIds for NoneKnown {
    fn contains_id(&self, _: &str) -> bool {
        false
    }
}

impl KnownIds for HashSet<String> {
    fn contains_id(&self, id_number: &str) -> bool {
        self.contains(id_number)
    }
}

impl KnownIds for BTreeSet<String> {
    fn contains_id(&self, id_number: &str) -> bool {
        self.contains(id_number)
    }
}

impl<F: Fn(&str) -> bool> KnownIds for F {
    fn contains_id(&self, id_number: &str) -> bool {
        self(id_number)
    }
}

/// An accepted row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedRow {
    /// Sheet row number, as Excel shows it (header = row 1 in a template file).
    pub row: u32,
    pub entry: RosterEntry,
}

/// A valid row whose ID number the caller already has: not an error, not imported again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlreadyPresent {
    pub row: u32,
    pub id_number: String,
}

/// A refused row: the first problem in `column`/`value`/`reason`, any others in `more`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// Sheet row number, as Excel shows it.
    pub row: u32,
    /// The header text of the column at fault.
    pub column: String,
    /// The cell as the clerk sees it.
    pub value: String,
    /// The message for the clerk (Chinese, then English).
    pub reason: String,
    pub fault: Fault,
    /// Further problems in the same row.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<Problem>,
    /// The row's cells as text, aligned with [`RosterReport::columns`] (for the report workbook).
    pub cells: Vec<String>,
}

impl Rejection {
    /// Every problem's reason, one per line.
    pub fn all_reasons(&self) -> String {
        std::iter::once(self.reason.as_str())
            .chain(self.more.iter().map(|p| p.reason.as_str()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The headers of every column at fault.
    pub fn columns_at_fault(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.column.as_str()).chain(self.more.iter().map(|p| p.column.as_str()))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Non-empty data rows.
    pub rows: usize,
    pub accepted: usize,
    pub already_present: usize,
    pub rejected: usize,
}

/// The outcome of reading one roster file.
#[derive(Debug, Clone, Serialize)]
pub struct RosterReport {
    /// The sheet read (`CSV` for a CSV file).
    pub sheet: String,
    /// Sheet row number of the header.
    pub header_row: u32,
    /// The header texts as in the file (a `错误原因` column left out).
    pub columns: Vec<String>,
    pub accepted: Vec<AcceptedRow>,
    pub already_present: Vec<AlreadyPresent>,
    pub rejected: Vec<Rejection>,
    pub counts: Counts,
}

impl RosterReport {
    /// Every ID number this import accepted or found already present: pass it as the
    /// [`KnownIds`] of the next import of the same roster.
    pub fn known_ids(&self) -> BTreeSet<String> {
        self.accepted
            .iter()
            .map(|a| a.entry.id_number.clone())
            .chain(self.already_present.iter().map(|a| a.id_number.clone()))
            .collect()
    }
}

/// Reads a roster file; the format comes from the extension, corrected by the content when the
/// file is mislabelled (an `.xls` that is really `.xlsx`, say).
pub fn read_path(path: &Path, known: &impl KnownIds) -> Result<RosterReport, RosterError> {
    let io = |source| RosterError::Io {
        path: path.display().to_string(),
        source,
    };
    let bytes_len = std::fs::metadata(path).map_err(io)?.len();
    if bytes_len > FILE_BYTES_MAX {
        return Err(RosterError::TooLarge {
            bytes: bytes_len,
            max: FILE_BYTES_MAX,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let format = match Format::from_path(path) {
        Ok(f) => f,
        Err(e) => sheet::sniff(&bytes).ok_or(e)?,
    };
    read(&bytes, format, known)
}

/// Reads a roster from memory. `format` is what the file claims to be; the content wins when
/// it clearly is another spreadsheet kind.
pub fn read(
    bytes: &[u8],
    format: Format,
    known: &impl KnownIds,
) -> Result<RosterReport, RosterError> {
    if bytes.is_empty() {
        return Err(RosterError::Empty);
    }
    let bytes_len = bytes.len() as u64;
    if bytes_len > FILE_BYTES_MAX {
        return Err(RosterError::TooLarge {
            bytes: bytes_len,
            max: FILE_BYTES_MAX,
        });
    }
    let format = sheet::sniff(bytes).unwrap_or(match format {
        // Not a zip or OLE file: a spreadsheet name on a text file (a common export habit).
        Format::Xlsx | Format::Ods | Format::Xls if looks_like_text(bytes) => Format::Csv,
        other => other,
    });
    let grid = sheet::read_grid(bytes, format)?;
    check_grid(&grid, known)
}

fn looks_like_text(bytes: &[u8]) -> bool {
    let head = bytes.get(..bytes.len().min(4096)).unwrap_or_default();
    encoding_rs::Encoding::for_bom(head).is_some()
        || (!head.contains(&0) && sheet::decode_text(head).is_ok())
}

fn check_grid(grid: &sheet::Grid, known: &impl KnownIds) -> Result<RosterReport, RosterError> {
    let (layout, header) = rules::locate_header(
        grid.rows
            .iter()
            .take(HEADER_SEARCH_ROWS)
            .map(|(r, c)| (*r, c)),
    )
    .map_err(|missing| match missing {
        None => RosterError::NoHeader {
            sheet: grid.sheet.clone(),
        },
        Some(cols) => RosterError::MissingColumns {
            missing: cols
                .iter()
                .map(|c| c.header())
                .collect::<Vec<_>>()
                .join("、"),
        },
    })?;
    let data_rows = grid.rows.range(layout.header_row.saturating_add(1)..);
    let mut report = RosterReport {
        sheet: grid.sheet.clone(),
        header_row: layout.header_row,
        columns: layout.columns.clone(),
        accepted: Vec::new(),
        already_present: Vec::new(),
        rejected: Vec::new(),
        counts: Counts::default(),
    };
    // ID number → first row it appeared in (whatever the rest of that row).
    let mut first_seen: BTreeMap<String, u32> = BTreeMap::new();
    for (&row, cells) in data_rows {
        // A row with nothing in the known columns (a note under the table, say) is not a candidate.
        if layout
            .positions
            .iter()
            .filter(|(c, _)| *c != Col::Seq)
            .all(|(_, p)| cells.get(*p).is_none_or(sheet::Cell::is_blank))
        {
            continue;
        }
        report.counts.rows += 1;
        if report.counts.rows > ROWS_MAX {
            return Err(RosterError::TooManyRows { max: ROWS_MAX });
        }
        let id = rules::row_id(&layout, cells);
        if let Some(id) = &id
            && known.contains_id(id)
        {
            report.already_present.push(AlreadyPresent {
                row,
                id_number: id.clone(),
            });
            first_seen.entry(id.clone()).or_insert(row);
            continue;
        }
        let mut outcome = rules::check_row(&layout, header, cells);
        if let Some(id) = id {
            match first_seen.get(&id) {
                Some(&first_row) => {
                    let fault = Fault::Duplicate { first_row };
                    let problem = Problem {
                        column: layout.header_text(Col::IdNumber, header),
                        value: id.clone(),
                        reason: fault.to_string(),
                        fault,
                    };
                    match &mut outcome {
                        Ok(_) => outcome = Err(vec![problem]),
                        Err(problems) => problems.insert(0, problem),
                    }
                }
                None => {
                    first_seen.insert(id, row);
                }
            }
        }
        match outcome {
            Ok(entry) => report.accepted.push(AcceptedRow { row, entry }),
            Err(problems) => {
                let mut problems = problems.into_iter();
                let Some(first) = problems.next() else {
                    continue;
                };
                report.rejected.push(Rejection {
                    row,
                    column: first.column,
                    value: first.value,
                    reason: first.reason,
                    fault: first.fault,
                    more: problems.collect(),
                    cells: layout
                        .column_positions
                        .iter()
                        .map(|p| cells.get(*p).map(sheet::Cell::display).unwrap_or_default())
                        .collect(),
                });
            }
        }
    }
    report.counts.accepted = report.accepted.len();
    report.counts.already_present = report.already_present.len();
    report.counts.rejected = report.rejected.len();
    Ok(report)
}
