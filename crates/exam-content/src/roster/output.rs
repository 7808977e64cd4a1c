//! Workbooks for the clerk: the report of refused rows (fix and re-import) and the blank
//! template with filling instructions. Every cell is written as text so ID numbers survive.

use std::path::Path;

use rust_xlsxwriter::{Color, DataValidation, Format, FormatBorder, Workbook, Worksheet};

use super::rules::Col;
use super::{
    CELL_CHARS_MAX, NAME_CHARS_MAX, REASON_COLUMN, ROWS_MAX, RosterError, RosterReport, SHEET_NAME,
};

fn write_err(e: rust_xlsxwriter::XlsxError) -> RosterError {
    RosterError::Write(e.to_string())
}

fn column_width(header: &str) -> f64 {
    match Col::from_header(header) {
        Some(Col::Seq | Col::Gender | Col::IdType) => 8.0,
        Some(Col::Name) => 12.0,
        Some(Col::IdNumber) => 22.0,
        Some(Col::Mobile | Col::ExamType) => 14.0,
        Some(Col::Employer) => 30.0,
        Some(Col::Category | Col::Item) => 22.0,
        Some(Col::Expiry) => 14.0,
        None => 14.0,
    }
}

fn header_format() -> Format {
    Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xDDEBF7))
        .set_border(FormatBorder::Thin)
        .set_num_format("@")
}

fn text_format() -> Format {
    Format::new().set_num_format("@")
}

/// The report workbook of `report`'s refused rows, as bytes.
///
/// Same columns as the input, one row per refused row (in sheet order), every cell as text, the
/// cells at fault highlighted, and a last column `错误原因` with the original row number and
/// every reason. Fixing the rows and importing the file again works: the importer ignores
/// `错误原因`.
pub fn report_xlsx_bytes(report: &RosterReport) -> Result<Vec<u8>, RosterError> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(SHEET_NAME).map_err(write_err)?;
    let text = text_format();
    let bad = Format::new()
        .set_num_format("@")
        .set_background_color(Color::RGB(0xFFC7CE))
        .set_font_color(Color::RGB(0x9C0006));
    let reason = Format::new()
        .set_num_format("@")
        .set_font_color(Color::RGB(0xC00000))
        .set_text_wrap();
    let head = header_format();
    let reason_head = header_format().set_background_color(Color::RGB(0xFFC7CE));

    let reason_col =
        u16::try_from(report.columns.len()).map_err(|e| RosterError::Write(e.to_string()))?;
    for (i, name) in report.columns.iter().enumerate() {
        let col = u16::try_from(i).map_err(|e| RosterError::Write(e.to_string()))?;
        sheet
            .write_string_with_format(0, col, name, &head)
            .map_err(write_err)?;
        sheet
            .set_column_width(col, column_width(name))
            .map_err(write_err)?;
        sheet.set_column_format(col, &text).map_err(write_err)?;
    }
    sheet
        .write_string_with_format(0, reason_col, REASON_COLUMN, &reason_head)
        .map_err(write_err)?;
    sheet
        .set_column_width(reason_col, 60.0)
        .map_err(write_err)?;
    sheet.set_freeze_panes(1, 0).map_err(write_err)?;

    for (n, rejection) in report.rejected.iter().enumerate() {
        let row = u32::try_from(n + 1).map_err(|e| RosterError::Write(e.to_string()))?;
        for (i, value) in rejection.cells.iter().enumerate() {
            let col = u16::try_from(i).map_err(|e| RosterError::Write(e.to_string()))?;
            let at_fault = report
                .columns
                .get(i)
                .is_some_and(|h| rejection.columns_at_fault().any(|c| c == h));
            let format = if at_fault { &bad } else { &text };
            sheet
                .write_string_with_format(row, col, value, format)
                .map_err(write_err)?;
        }
        let why = format!(
            "第 {} 行 / row {}：\n{}",
            rejection.row,
            rejection.row,
            rejection.all_reasons()
        );
        sheet
            .write_string_with_format(row, reason_col, &why, &reason)
            .map_err(write_err)?;
    }
    book.save_to_buffer().map_err(write_err)
}

/// Writes [`report_xlsx_bytes`] to `path`.
pub fn write_report_xlsx(report: &RosterReport, path: &Path) -> Result<(), RosterError> {
    let bytes = report_xlsx_bytes(report)?;
    std::fs::write(path, bytes).map_err(|source| RosterError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// The blank roster template, as bytes: sheet `考生信息` with the header row (every column in
/// text format, so ID numbers keep their digits), drop-down lists for the coded columns, and a
/// second sheet `填写说明` with the rules of each column.
pub fn template_xlsx_bytes() -> Result<Vec<u8>, RosterError> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(SHEET_NAME).map_err(write_err)?;
    let head = header_format();
    let text = text_format();
    let last_row = u32::try_from(ROWS_MAX).unwrap_or(50_000);
    for (i, col) in Col::ALL.into_iter().enumerate() {
        let c = u16::try_from(i).map_err(|e| RosterError::Write(e.to_string()))?;
        sheet
            .write_string_with_format(0, c, col.header(), &head)
            .map_err(write_err)?;
        sheet
            .set_column_width(c, column_width(col.header()))
            .map_err(write_err)?;
        sheet.set_column_format(c, &text).map_err(write_err)?;
        if let Some(list) = match col {
            Col::Gender => Some(&["男", "女"][..]),
            Col::IdType => Some(&["1", "2", "3", "4"][..]),
            Col::ExamType => Some(&["新取证", "复审"][..]),
            _ => None,
        } {
            let rule = DataValidation::new()
                .allow_list_strings(list)
                .map_err(write_err)?
                .set_error_message(format!("请从列表中选择：{}", list.join("、")))
                .map_err(write_err)?;
            sheet
                .add_data_validation(1, c, last_row, c, &rule)
                .map_err(write_err)?;
        }
    }
    sheet.set_freeze_panes(1, 0).map_err(write_err)?;
    instructions(book.add_worksheet())?;
    book.save_to_buffer().map_err(write_err)
}

/// Writes [`template_xlsx_bytes`] to `path`.
pub fn write_template_xlsx(path: &Path) -> Result<(), RosterError> {
    let bytes = template_xlsx_bytes()?;
    std::fs::write(path, bytes).map_err(|source| RosterError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn instructions(sheet: &mut Worksheet) -> Result<(), RosterError> {
    sheet.set_name("填写说明").map_err(write_err)?;
    let head = header_format();
    let wrap = Format::new().set_text_wrap();
    let warn = Format::new()
        .set_text_wrap()
        .set_bold()
        .set_font_color(Color::RGB(0xC00000));
    sheet.set_column_width(0, 16.0).map_err(write_err)?;
    sheet.set_column_width(1, 10.0).map_err(write_err)?;
    sheet.set_column_width(2, 90.0).map_err(write_err)?;
    for (c, h) in [
        "列名 / column",
        "必填 / required",
        "填写要求 / how to fill it in",
    ]
    .into_iter()
    .enumerate()
    {
        let c = u16::try_from(c).map_err(|e| RosterError::Write(e.to_string()))?;
        sheet
            .write_string_with_format(0, c, h, &head)
            .map_err(write_err)?;
    }
    let name_max = NAME_CHARS_MAX.to_string();
    let cell_max = CELL_CHARS_MAX.to_string();
    let rows: [(Col, &str, String); 11] = [
        (Col::Seq, "否 / no", "序号，仅供核对，导入时不使用 / row number, for your own checking only".into()),
        (Col::Name, "是 / yes", format!("考生姓名，最多 {name_max} 个字；前后空格会自动去掉 / the candidate's name, at most {name_max} characters; surrounding spaces are removed")),
        (Col::Gender, "是 / yes", "男 或 女；证件类型为 1 时须与身份证号第 17 位一致（奇数为男）/ 男 or 女; for ID type 1 it must agree with the 17th digit of the ID number (odd = 男)".into()),
        (Col::IdType, "是 / yes", "填代码：1 居民身份证，2 港澳台居民居住证，3 外国人永久居留身份证，4 护照 / a code: 1 resident ID card, 2 HK/Macao/Taiwan residence permit, 3 foreigner's permanent residence card, 4 passport".into()),
        (Col::IdNumber, "是 / yes", "证件类型 1、2：18 位，最后一位可为 X，须通过校验、出生日期真实；其他证件 5–30 位字母或数字。同一号码只能出现一次 / types 1 and 2: 18 characters, the last may be X, with a valid check character and a real birth date; other documents 5–30 letters or digits. Each number may appear once".into()),
        (Col::Mobile, "是 / yes", "以 1 开头的 11 位数字 / 11 digits starting with 1".into()),
        (Col::Employer, "否 / no", format!("工作单位全称，最多 {cell_max} 个字 / the employer's full name, at most {cell_max} characters")),
        (Col::Category, "是 / yes", "作业类别，如 电工作业 / the operation category, e.g. 电工作业".into()),
        (Col::Item, "是 / yes", "准操项目，如 低压电工作业 / the operation item, e.g. 低压电工作业".into()),
        (Col::ExamType, "是 / yes", "新取证 或 复审 / 新取证 (first certificate) or 复审 (renewal)".into()),
        (Col::Expiry, "复审必填 / for 复审", "现有证书的到期日期，写成 YYYY-MM-DD，如 2027-03-05（不要写成 2027年3月5日）/ the current certificate's expiry date, written YYYY-MM-DD, e.g. 2027-03-05 (not 2027年3月5日)".into()),
    ];
    let mut r: u32 = 1;
    for (col, required, rule) in rows {
        sheet.write_string(r, 0, col.header()).map_err(write_err)?;
        sheet.write_string(r, 1, required).map_err(write_err)?;
        sheet
            .write_string_with_format(r, 2, &rule, &wrap)
            .map_err(write_err)?;
        r += 1;
    }
    r += 1;
    let warnings = [
        "重要：证件号码列必须是“文本”格式。如果在“常规”或“数值”格式的单元格里输入 18 位号码，Excel 会显示成 1.10105E+17 并永久丢掉最后几位，导入时会被拒绝。本模板已设为文本格式；从别的表格粘贴时请用“选择性粘贴 → 数值”，或先把该列设为“文本”再重新输入号码。 / Important: the ID number column must be in Text (文本) format. An 18-digit number typed into a General or Number cell is shown as 1.10105E+17 and its last digits are lost for good; such rows are refused. This template's columns are already Text; when pasting from another sheet use Paste Special → Values, or set the column to Text first and type the numbers again.",
        "日期可以写成文本 YYYY-MM-DD，也可以使用 Excel 的日期单元格。 / Dates may be text YYYY-MM-DD or real Excel date cells.",
        "名单放在“考生信息”工作表中，第一行为表头，列的顺序可以调整，多余的列会被忽略。 / Keep the roster on sheet 考生信息 with the header in the first row; columns may be in any order and extra columns are ignored.",
    ];
    for (i, text) in warnings.into_iter().enumerate() {
        let format = if i == 0 { &warn } else { &wrap };
        sheet
            .merge_range(r, 0, r, 2, text, format)
            .map_err(write_err)?;
        sheet
            .set_row_height(r, if i == 0 { 96.0 } else { 32.0 })
            .map_err(write_err)?;
        r += 1;
    }
    Ok(())
}
