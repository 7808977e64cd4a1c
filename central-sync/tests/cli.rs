//! The `central-sync` command line on the fixture files a clerk would feed it.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_central-sync");

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures")
        .join(rel)
}

fn run(data: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn content_import_reports_sections_and_items_as_json_and_is_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pkg = fixture("qti21-sample.zip");
    let pkg = pkg.to_str().expect("utf-8");
    let (ok, out, err) = run(dir.path(), &["content", "import", pkg, "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["added"], true);
    let id = v["id"].as_str().expect("id").to_owned();
    let sections = v["report"]["test"]["parts"][0]["sections"]
        .as_array()
        .expect("sections");
    assert_eq!(sections.len(), 5);
    assert_eq!(sections[0]["selection"]["select"], 10);
    assert_eq!(v["report"]["items"].as_array().expect("items").len(), 31);

    let (ok, out, _) = run(dir.path(), &["content", "import", pkg]);
    assert!(ok);
    assert!(
        out.contains("was imported before; nothing changed"),
        "{out}"
    );
    let (ok, out, _) = run(dir.path(), &["content", "show", &id]);
    assert!(ok);
    assert!(
        out.contains("select 10") && out.contains("31 items"),
        "{out}"
    );
    let (ok, _, err) = run(dir.path(), &["content", "show", "nope"]);
    assert!(!ok && err.contains("no content with id nope"), "{err}");
}

#[test]
fn a_package_with_unimportable_items_is_refused_unless_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pkg = fixture("qti-external/qti30/kennisnet/valid-package.zip");
    let pkg = pkg.to_str().expect("utf-8");
    let (ok, _, err) = run(dir.path(), &["content", "import", pkg]);
    assert!(!ok);
    assert!(
        err.contains("QUE_37_1") && err.contains("--accept-problems"),
        "{err}"
    );
    let (_, list, _) = run(dir.path(), &["content", "list"]);
    assert!(list.trim().is_empty(), "nothing was imported: {list}");
    let (ok, out, err) = run(dir.path(), &["content", "import", pkg, "--accept-problems"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("45 items") && out.contains("QUE_38_1"),
        "{out}"
    );
}

#[test]
fn a_broken_package_is_an_error_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.zip");
    std::fs::write(&junk, b"PK\x03\x04 this is not a zip").expect("write");
    let (ok, _, err) = run(
        &dir.path().join("data"),
        &["content", "import", junk.to_str().expect("utf-8")],
    );
    assert!(!ok);
    assert!(err.contains("zip"), "{err}");
    let (_, list, _) = run(&dir.path().join("data"), &["content", "list"]);
    assert!(list.trim().is_empty());
}

#[test]
fn plans_refuse_bad_times_and_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, out, err) = run(
        dir.path(),
        &[
            "plan",
            "add",
            "S1",
            "--title",
            "低压电工",
            "--starts-at",
            "2026-12-10 09:00",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("roster frozen from 2026-12-08 09:00"), "{out}");
    let (ok, _, err) = run(
        dir.path(),
        &[
            "plan",
            "add",
            "S1",
            "--title",
            "x",
            "--starts-at",
            "2026-12-10 09:00",
        ],
    );
    assert!(!ok && err.contains("exists already"), "{err}");
    let (ok, _, err) = run(
        dir.path(),
        &[
            "plan",
            "add",
            "S2",
            "--title",
            "x",
            "--starts-at",
            "2026-02-30 09:00",
        ],
    );
    assert!(!ok && err.contains("YYYY-MM-DD HH:MM"), "{err}");
}
