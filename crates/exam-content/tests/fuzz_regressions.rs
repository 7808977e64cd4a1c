//! Inputs the fuzzer (crates/exam-fuzz) found, kept as ordinary tests. Each file in
//! tests/data/fuzz is named `<target>-<what it showed>`; for `roster_sheet` the first byte picks
//! the claimed format as in the fuzz target (0 csv, 1 xlsx, 2 xls, 3 ods).

use std::path::Path;

use exam_content::roster::{self, Format, NoneKnown};

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("tests/data/fuzz")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&format!("{target}-")))
        .map(|name| {
            let bytes = std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/data/fuzz")
                    .join(&name),
            )
            .expect("input");
            (name, bytes)
        })
        .collect();
    found.sort();
    found
}

/// Every input is refused with an error, by exam-content's own checks: none reaches a panic in
/// calamine (the guard around it would report "stopped on a damaged part").
///
/// calamine 0.38 panicked on all of them (run the fuzz target with `EXAM_FUZZ_STRICT=1` to see
/// its panics). `formula-longer-than-record`: a FORMULA record whose token length runs past the
/// record (xls.rs:1531); the xls scan refuses it, naming the record. `formula-token-past-end`: a
/// 3-D reference token cut short inside a formula (xls.rs:1580); calamine no longer sees formula
/// tokens at all (the copy it reads has them emptied), so the file is read and refused for what
/// its sheet holds.
#[test]
fn roster_sheet_inputs_are_refused() {
    let found = inputs("roster_sheet");
    assert!(found.len() >= 3, "{} inputs", found.len());
    for (name, data) in found {
        let Some((first, file)) = data.split_first() else {
            continue;
        };
        let format = match first % 4 {
            0 => Format::Csv,
            1 => Format::Xlsx,
            2 => Format::Xls,
            _ => Format::Ods,
        };
        match roster::read(file, format, &NoneKnown) {
            Ok(r) => panic!("{name}: accepted {:?}", r.counts),
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    !msg.contains("stopped on a damaged part"),
                    "{name}: only the guard around calamine stopped it: {msg}"
                );
                if name.contains("formula-longer-than-record") {
                    assert!(msg.contains("FORMULA record"), "{name}: {msg}");
                }
            }
        }
    }
}
