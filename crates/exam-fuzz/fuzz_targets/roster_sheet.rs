//! Roster reading of arbitrary bytes in each format. The first byte picks the format the
//! caller claims (the content may still win, as in the real import); the rest is the file.
#![no_main]

use exam_content::roster::{self, Format, NoneKnown};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    exam_fuzz::let_calamine_panics_unwind();
    let Some((first, file)) = data.split_first() else {
        return;
    };
    let format = match first % 4 {
        0 => Format::Csv,
        1 => Format::Xlsx,
        2 => Format::Xls,
        _ => Format::Ods,
    };
    if let Ok(report) = roster::read(file, format, &NoneKnown) {
        assert_eq!(
            report.counts.rows,
            report.counts.accepted + report.counts.already_present + report.counts.rejected
        );
        // The report workbook of whatever was refused must be writable.
        let _ = roster::report_xlsx_bytes(&report);
    }
});
