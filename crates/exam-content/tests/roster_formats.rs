//! The same roster saved as .xls and .ods (by LibreOffice, see tests/data/README.md) gives the
//! outcomes the fixture's expected file lists, row for row.

use std::path::Path;

use exam_content::roster::{self, NoneKnown};

fn expected() -> Vec<(u32, bool)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/roster-sample-faults.expected.csv");
    std::fs::read_to_string(path)
        .expect("expected outcomes")
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(',');
            let row = f.next()?.parse().ok()?;
            let outcome = f.nth(1)?;
            Some((row, outcome == "ok"))
        })
        .collect()
}

fn check(file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file);
    let report = roster::read_path(&path, &NoneKnown).expect("reads");
    let expected = expected();
    assert_eq!(expected.len(), 41);
    for (row, ok) in expected {
        let accepted = report.accepted.iter().any(|a| a.row == row);
        let rejected = report.rejected.iter().any(|r| r.row == row);
        assert_eq!((accepted, rejected), (ok, !ok), "{file}: sheet row {row}");
    }
    // The ID typed into a number cell is recognised as such in these formats too.
    let r18 = report
        .rejected
        .iter()
        .find(|r| r.row == 18)
        .expect("row 18");
    assert!(r18.reason.contains("文本"), "{}", r18.reason);
}

#[test]
fn xls_gives_the_expected_outcome_for_every_row() {
    check("roster-sample-faults.xls");
}

#[test]
fn ods_gives_the_expected_outcome_for_every_row() {
    check("roster-sample-faults.ods");
}
