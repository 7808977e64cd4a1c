//! `Archive` over arbitrary bytes: open, list, read every entry (with a small per-entry cap so
//! that a run stays fast; the limits themselves are tested in exam-content).
#![no_main]

use std::io::Cursor;

use exam_content::archive::Archive;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut archive) = Archive::new(Cursor::new(data)) else {
        return;
    };
    let names: Vec<String> = archive.names().map(str::to_owned).collect();
    for name in names {
        assert!(archive.contains(&name));
        if let Ok(Some(bytes)) = archive.read(&name, 1 << 20) {
            assert!(bytes.len() <= 1 << 20);
        }
    }
});
