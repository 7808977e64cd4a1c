//! What each roster column means and when a value is acceptable: header recognition, typing
//! slips to normalise, and the faults a clerk must fix (each with a message in Chinese, then
//! English, that says what is wrong and what to do).

use exam_domain::{IdError, IdNumber};
use serde::Serialize;

use super::sheet::{Cell, number_text};
use super::{CELL_CHARS_MAX, Date, ExamType, Gender, IdType, NAME_CHARS_MAX, RosterEntry};

/// The roster columns the importer knows. The header text is the first name in [`Col::names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Col {
    Seq,
    Name,
    Gender,
    IdType,
    IdNumber,
    Mobile,
    Employer,
    Category,
    Item,
    ExamType,
    Expiry,
}

impl Col {
    /// Every column, in template order.
    pub const ALL: [Col; 11] = [
        Col::Seq,
        Col::Name,
        Col::Gender,
        Col::IdType,
        Col::IdNumber,
        Col::Mobile,
        Col::Employer,
        Col::Category,
        Col::Item,
        Col::ExamType,
        Col::Expiry,
    ];

    /// Header texts accepted for the column; the first is the one the template writes.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Col::Seq => &["序号"],
            Col::Name => &["姓名"],
            Col::Gender => &["性别"],
            Col::IdType => &["证件类型", "证件类别"],
            Col::IdNumber => &["证件号码", "身份证号码", "身份证号"],
            Col::Mobile => &["手机号码", "手机号", "手机"],
            Col::Employer => &["工作单位", "单位名称"],
            Col::Category => &["作业类别"],
            Col::Item => &["准操项目", "操作项目"],
            Col::ExamType => &["考核类型"],
            Col::Expiry => &["证书到期日期", "证书有效期至"],
        }
    }

    /// The header text in the template.
    pub fn header(self) -> &'static str {
        self.names().first().copied().unwrap_or("")
    }

    /// A short English name for messages.
    pub fn english(self) -> &'static str {
        match self {
            Col::Seq => "row number",
            Col::Name => "name",
            Col::Gender => "gender",
            Col::IdType => "ID type",
            Col::IdNumber => "ID number",
            Col::Mobile => "mobile number",
            Col::Employer => "employer",
            Col::Category => "operation category",
            Col::Item => "operation item",
            Col::ExamType => "exam type",
            Col::Expiry => "certificate expiry date",
        }
    }

    /// Columns a roster file must have; the others may be left out.
    pub fn required(self) -> bool {
        !matches!(self, Col::Seq | Col::Employer | Col::Expiry)
    }

    pub(crate) fn from_header(text: &str) -> Option<Col> {
        let key: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '*' | '＊'))
            .collect();
        Col::ALL
            .into_iter()
            .find(|c| c.names().contains(&key.as_str()))
    }
}

/// Why one value of a row was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    #[error("{column}为空，请填写 / the {english} is empty: fill it in")]
    Missing {
        column: &'static str,
        english: &'static str,
    },
    #[error(
        "{column}过长（最多 {max} 个字），请核对 / the {english} is longer than {max} characters: check it"
    )]
    TooLong {
        column: &'static str,
        english: &'static str,
        max: usize,
    },
    #[error("性别应填写“男”或“女” / the gender must be 男 (male) or 女 (female)")]
    Gender,
    #[error(
        "性别与身份证号不符：号码第 17 位表示{by_id}，请核对性别或号码 / the gender does not match the ID number (its 17th digit means {by_id}): check both"
    )]
    GenderMismatch { by_id: &'static str },
    #[error(
        "证件类型应为代码 1–4：1 居民身份证，2 港澳台居民居住证，3 外国人永久居留身份证，4 护照 / the ID type must be a code 1–4: 1 resident ID card, 2 HK/Macao/Taiwan residence permit, 3 foreigner's permanent residence card, 4 passport"
    )]
    IdType,
    #[error(
        "证件号码所在单元格是数值格式，号码最后几位已丢失（Excel 数值只保留 15 位有效数字）。请把“证件号码”列设置为“文本”格式，再重新输入完整号码 / the ID number was typed into a cell in number format, so its last digits are lost (Excel keeps only 15 significant digits): set the ID number column to Text (文本) format and type the number again"
    )]
    IdNumberFormat,
    #[error("{message}")]
    IdNumber { message: String },
    #[error(
        "证件号码应为 5–30 位字母或数字，请核对 / the document number must be 5–30 letters or digits: check it"
    )]
    DocumentNumber,
    #[error(
        "手机号码应为以 1 开头的 11 位数字，请核对 / the mobile number must be 11 digits starting with 1: check it"
    )]
    Mobile,
    #[error(
        "考核类型应填写“新取证”或“复审” / the exam type must be 新取证 (first certificate) or 复审 (renewal)"
    )]
    ExamType,
    #[error(
        "考核类型为“复审”时必须填写证书到期日期（格式 YYYY-MM-DD，如 2027-03-05）/ a renewal (复审) needs the certificate expiry date, written YYYY-MM-DD, e.g. 2027-03-05"
    )]
    ExpiryMissing,
    #[error(
        "日期格式不对，请写成 YYYY-MM-DD（如 2027-03-05）或使用日期格式的单元格 / the date is not in a usable form: write it as YYYY-MM-DD (e.g. 2027-03-05) or use a date cell"
    )]
    DateFormat,
    #[error("日期 {date} 不存在，请核对 / the date {date} does not exist: check it")]
    DateNotReal { date: String },
    #[error(
        "证件号码与第 {first_row} 行重复，同一考生只能出现一次；请删除重复行或核对号码 / the ID number repeats row {first_row}: a candidate may appear once; delete the repeated row or check the number"
    )]
    Duplicate { first_row: u32 },
    #[error(
        "单元格含有公式错误 {value}，请填写实际内容 / the cell shows the error {value}: type the real value"
    )]
    CellError { value: String },
}

impl Fault {
    fn missing(col: Col) -> Self {
        Fault::Missing {
            column: col.header(),
            english: col.english(),
        }
    }
}

/// One refused value: the column, the cell as the clerk sees it, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The header text of the column, as in the file.
    pub column: String,
    /// The cell as the clerk sees it.
    pub value: String,
    /// The message for the clerk (Chinese, then English).
    pub reason: String,
    pub fault: Fault,
}

/// Where each known column is in the sheet (0-based), and the header row.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) header_row: u32,
    pub(crate) positions: Vec<(Col, usize)>,
    /// Header texts as in the file, up to the last named column (a `错误原因` column excluded).
    pub(crate) columns: Vec<String>,
    /// For each entry of `columns`, its position in the sheet.
    pub(crate) column_positions: Vec<usize>,
}

impl Layout {
    pub(crate) fn position(&self, col: Col) -> Option<usize> {
        self.positions
            .iter()
            .find(|(c, _)| *c == col)
            .map(|(_, p)| *p)
    }

    pub(crate) fn header_text(&self, col: Col, header: &[Cell]) -> String {
        self.position(col)
            .and_then(|p| header.get(p))
            .map(|c| c.display().trim().to_owned())
            .unwrap_or_else(|| col.header().to_owned())
    }
}

/// Finds the header row among the first rows: the first with at least three known column
/// names. `Err(None)` when there is none; `Err(Some(missing))` when required columns lack.
pub(crate) fn locate_header<'a>(
    rows: impl Iterator<Item = (u32, &'a Vec<Cell>)>,
) -> Result<(Layout, &'a Vec<Cell>), Option<Vec<Col>>> {
    for (row, cells) in rows {
        let mut positions: Vec<(Col, usize)> = Vec::new();
        for (i, cell) in cells.iter().enumerate() {
            let Cell::Text(t) = cell else { continue };
            if let Some(col) = Col::from_header(t)
                && !positions.iter().any(|(c, _)| *c == col)
            {
                positions.push((col, i));
            }
        }
        if positions.len() < 3 {
            continue;
        }
        let missing: Vec<Col> = Col::ALL
            .into_iter()
            .filter(|c| c.required() && !positions.iter().any(|(p, _)| p == c))
            .collect();
        if !missing.is_empty() {
            return Err(Some(missing));
        }
        let mut columns = Vec::new();
        let mut column_positions = Vec::new();
        let last = cells.iter().rposition(|c| !c.is_blank()).unwrap_or(0);
        for (i, cell) in cells.iter().enumerate().take(last + 1) {
            let text = cell.display().trim().to_owned();
            if text == super::REASON_COLUMN {
                continue;
            }
            columns.push(text);
            column_positions.push(i);
        }
        return Ok((
            Layout {
                header_row: row,
                positions,
                columns,
                column_positions,
            },
            cells,
        ));
    }
    Err(None)
}

/// Full-width digits and letters to ASCII, `x` to `X`, spaces removed at the ends.
pub fn normalise_id_text(raw: &str) -> String {
    raw.trim()
        .chars()
        .map(|c| match c {
            '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ' => {
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            }
            other => other,
        })
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Checks one data row. `Ok` with the entry, or every problem found.
pub(crate) fn check_row(
    layout: &Layout,
    header: &[Cell],
    cells: &[Cell],
) -> Result<RosterEntry, Vec<Problem>> {
    let mut problems = Vec::new();
    let empty = Cell::Empty;
    let cell = |col: Col| -> &Cell {
        layout
            .position(col)
            .and_then(|p| cells.get(p))
            .unwrap_or(&empty)
    };
    let mut fault = |col: Col, f: Fault| {
        problems.push(Problem {
            column: layout.header_text(col, header),
            value: cell(col).display(),
            reason: f.to_string(),
            fault: f,
        });
    };

    let name =
        text_field(cell(Col::Name), Col::Name, NAME_CHARS_MAX).map_err(|f| fault(Col::Name, f));
    let gender = text_field(cell(Col::Gender), Col::Gender, CELL_CHARS_MAX)
        .and_then(|g| match g.as_str() {
            "男" | "男性" => Ok(Gender::Male),
            "女" | "女性" => Ok(Gender::Female),
            _ => Err(Fault::Gender),
        })
        .map_err(|f| fault(Col::Gender, f));
    let id_type = id_type(cell(Col::IdType)).map_err(|f| fault(Col::IdType, f));
    let id_number = match &id_type {
        Ok(t) => id_number(cell(Col::IdNumber), *t).map_err(|f| fault(Col::IdNumber, f)),
        Err(()) => Err(()),
    };
    if let (Ok(IdType::ResidentCard), Ok((_, Some(id))), Ok(g)) = (&id_type, &id_number, &gender) {
        let by_id = if id.is_male() {
            Gender::Male
        } else {
            Gender::Female
        };
        if by_id != *g {
            fault(
                Col::Gender,
                Fault::GenderMismatch {
                    by_id: by_id.chinese(),
                },
            );
        }
    }
    let mobile = mobile(cell(Col::Mobile)).map_err(|f| fault(Col::Mobile, f));
    let employer =
        optional_text(cell(Col::Employer), Col::Employer).map_err(|f| fault(Col::Employer, f));
    let category = text_field(cell(Col::Category), Col::Category, CELL_CHARS_MAX)
        .map_err(|f| fault(Col::Category, f));
    let item =
        text_field(cell(Col::Item), Col::Item, CELL_CHARS_MAX).map_err(|f| fault(Col::Item, f));
    let exam_type = text_field(cell(Col::ExamType), Col::ExamType, CELL_CHARS_MAX)
        .and_then(|t| match t.as_str() {
            "新取证" => Ok(ExamType::New),
            "复审" => Ok(ExamType::Renewal),
            _ => Err(Fault::ExamType),
        })
        .map_err(|f| fault(Col::ExamType, f));
    let expiry = date(cell(Col::Expiry)).map_err(|f| fault(Col::Expiry, f));
    if let (Ok(ExamType::Renewal), Ok(None)) = (&exam_type, &expiry) {
        fault(Col::Expiry, Fault::ExpiryMissing);
    }

    match (
        name, gender, id_type, id_number, mobile, employer, category, item, exam_type, expiry,
    ) {
        (
            Ok(name),
            Ok(gender),
            Ok(id_type),
            Ok((id_number, _)),
            Ok(mobile),
            Ok(employer),
            Ok(category),
            Ok(item),
            Ok(exam_type),
            Ok(expiry),
        ) if problems.is_empty() => Ok(RosterEntry {
            name,
            gender,
            id_type,
            id_number,
            mobile,
            employer,
            category,
            item,
            exam_type,
            expiry,
        }),
        _ => Err(problems),
    }
}

/// The normalised ID number of a row if it is valid on its own (for duplicate checks), without
/// looking at the other columns.
pub(crate) fn row_id(layout: &Layout, cells: &[Cell]) -> Option<String> {
    let at = |col: Col| layout.position(col).and_then(|p| cells.get(p));
    let t = id_type(at(Col::IdType)?).ok()?;
    id_number(at(Col::IdNumber)?, t).ok().map(|(s, _)| s)
}

fn cell_text(cell: &Cell) -> Result<String, Fault> {
    match cell {
        Cell::Error(e) => Err(Fault::CellError { value: e.clone() }),
        other => Ok(other.display().trim().to_owned()),
    }
}

fn text_field(cell: &Cell, col: Col, max: usize) -> Result<String, Fault> {
    let text = cell_text(cell)?;
    if text.is_empty() {
        return Err(Fault::missing(col));
    }
    too_long(text, col, max)
}

fn optional_text(cell: &Cell, col: Col) -> Result<String, Fault> {
    too_long(cell_text(cell)?, col, CELL_CHARS_MAX)
}

fn too_long(text: String, col: Col, max: usize) -> Result<String, Fault> {
    if text.chars().count() > max {
        return Err(Fault::TooLong {
            column: col.header(),
            english: col.english(),
            max,
        });
    }
    Ok(text)
}

fn id_type(cell: &Cell) -> Result<IdType, Fault> {
    let text = match cell {
        Cell::Number(n) => number_text(*n),
        other => normalise_id_text(&cell_text(other)?),
    };
    if text.is_empty() {
        return Err(Fault::missing(Col::IdType));
    }
    IdType::ALL
        .into_iter()
        .find(|t| text == t.code().to_string() || text == t.chinese())
        .ok_or(Fault::IdType)
}

/// The normalised number, and the parsed resident ID for types 1 and 2.
fn id_number(cell: &Cell, id_type: IdType) -> Result<(String, Option<IdNumber>), Fault> {
    let gb11643 = matches!(id_type, IdType::ResidentCard | IdType::ResidencePermit);
    let text = match cell {
        Cell::Number(n) => {
            // 18 digits cannot survive a number cell; a passport number of digits only can.
            if gb11643 || n.abs() >= 1e15 || n.fract() != 0.0 {
                return Err(Fault::IdNumberFormat);
            }
            number_text(*n)
        }
        other => normalise_id_text(&cell_text(other)?),
    };
    if text.is_empty() {
        return Err(Fault::missing(Col::IdNumber));
    }
    if looks_like_scientific(&text) {
        return Err(Fault::IdNumberFormat);
    }
    if gb11643 {
        match IdNumber::parse(&text) {
            Ok(id) => Ok((id.as_str().to_owned(), Some(id))),
            Err(IdError::IdCheckDigit { .. }) if text.len() == 18 && text.ends_with("000") => {
                Err(Fault::IdNumberFormat)
            }
            Err(e) => Err(Fault::IdNumber {
                message: e.to_string(),
            }),
        }
    } else if (5..=30).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok((text, None))
    } else {
        Err(Fault::DocumentNumber)
    }
}

/// `1.10105E+17`, `4.40305197901085e17`: what a number cell shows once saved as text.
fn looks_like_scientific(text: &str) -> bool {
    let Some((mantissa, exponent)) = text.split_once(['E', 'e']) else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    !mantissa.is_empty()
        && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && mantissa.bytes().any(|b| b.is_ascii_digit())
        && !exponent.is_empty()
        && exponent.bytes().all(|b| b.is_ascii_digit())
}

fn mobile(cell: &Cell) -> Result<String, Fault> {
    let text: String = match cell {
        Cell::Number(n) => number_text(*n),
        other => normalise_id_text(&cell_text(other)?)
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect(),
    };
    if text.is_empty() {
        return Err(Fault::missing(Col::Mobile));
    }
    if text.len() == 11 && text.starts_with('1') && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text)
    } else {
        Err(Fault::Mobile)
    }
}

/// An optional date: a date cell, a date serial number, or text `YYYY-MM-DD` / `YYYY/M/D`.
fn date(cell: &Cell) -> Result<Option<Date>, Fault> {
    match cell {
        Cell::Date(d) => Ok(Some(*d)),
        Cell::Number(n) => {
            // A date typed in a cell left in General format keeps its serial number.
            if n.fract() != 0.0 || !(1.0..=73_050.0).contains(n) {
                return Err(Fault::DateFormat);
            }
            Date::from_excel_serial(*n)
                .map(Some)
                .ok_or(Fault::DateFormat)
        }
        other => {
            let text = normalise_id_text(&cell_text(other)?);
            if text.is_empty() {
                return Ok(None);
            }
            parse_date_text(&text).map(Some)
        }
    }
}

fn parse_date_text(text: &str) -> Result<Date, Fault> {
    let sep = if text.contains('-') { '-' } else { '/' };
    let parts: Vec<&str> = text.split(sep).collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(Fault::DateFormat);
    };
    let digits = |s: &str, lens: std::ops::RangeInclusive<usize>| {
        lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(y, 4..=4) || !digits(m, 1..=2) || !digits(d, 1..=2) {
        return Err(Fault::DateFormat);
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return Err(Fault::DateFormat);
    };
    Date::new(y, m, d).ok_or(Fault::DateNotReal {
        date: text.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scientific_text_is_recognised() {
        for s in ["1.10105E+17", "4.40305197901085e17", "1E+17"] {
            assert!(looks_like_scientific(s), "{s}");
        }
        for s in ["E12345678", "110101202311012176", "1.5", "E+17"] {
            assert!(!looks_like_scientific(s), "{s}");
        }
    }

    #[test]
    fn date_texts() {
        assert_eq!(
            parse_date_text("2027-03-05").map(|d| d.to_string()),
            Ok("2027-03-05".into())
        );
        assert_eq!(
            parse_date_text("2027/3/5").map(|d| d.to_string()),
            Ok("2027-03-05".into())
        );
        assert_eq!(parse_date_text("2027年3月5日"), Err(Fault::DateFormat));
        assert!(matches!(
            parse_date_text("2027-02-30"),
            Err(Fault::DateNotReal { .. })
        ));
        assert_eq!(parse_date_text("2027-3/5"), Err(Fault::DateFormat));
    }

    #[test]
    fn id_in_a_number_cell_is_named() {
        assert_eq!(
            id_number(&Cell::Number(4.403051979010859e17), IdType::ResidentCard),
            Err(Fault::IdNumberFormat)
        );
        assert_eq!(
            id_number(
                &Cell::Text("440305197901085000".into()),
                IdType::ResidentCard
            ),
            Err(Fault::IdNumberFormat)
        );
        assert_eq!(
            id_number(&Cell::Number(12_345_678.0), IdType::Passport).map(|r| r.0),
            Ok("12345678".to_owned())
        );
    }
}
