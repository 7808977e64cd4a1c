//! QTI content-package import of arbitrary bytes taken as a zip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = exam_content::qti::import_package(data) {
        // What was imported must convert without panicking too.
        let _ = exam_content::qti::to_paper(&report);
    }
});
