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

#[test]
fn roster_import_rejects_with_reasons_adds_nothing_twice_and_respects_the_cutoff() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, _, err) = run(
        dir.path(),
        &[
            "plan",
            "add",
            "S1",
            "--title",
            "低压电工",
            "--starts-at",
            "2026-12-20 09:00",
        ],
    );
    assert!(ok, "{err}");
    let faults = fixture("roster-sample-faults.xlsx");
    let faults = faults.to_str().expect("utf-8");
    let report = dir.path().join("fix.xlsx");
    let before_cutoff = ["--now", "2026-12-18 08:59"];
    let mut args = vec![
        "roster",
        "import",
        faults,
        "--session",
        "S1",
        "--json",
        "--report",
        report.to_str().expect("utf-8"),
    ];
    args.extend(before_cutoff);
    let (ok, out, err) = run(dir.path(), &args);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["counts"]["accepted"], 31);
    let rejected: Vec<u64> = v["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .filter_map(|r| r["row"].as_u64())
        .collect();
    assert_eq!(rejected, vec![7, 8, 18, 21, 22, 25, 28, 30, 32, 34]);
    assert!(report.exists(), "the report workbook was written");

    // The same file again: nothing added, the rows reported as already present.
    let mut again = vec!["roster", "import", faults, "--session", "S1", "--json"];
    again.extend(before_cutoff);
    let (ok, out, _) = run(dir.path(), &again);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["counts"]["accepted"], 0);
    assert!(v["counts"]["already_present"].as_u64().unwrap_or(0) >= 31);

    // After the cutoff (48 h before the start) the roster is frozen.
    let sample = fixture("roster-sample.xlsx");
    let (ok, _, err) = run(
        dir.path(),
        &[
            "roster",
            "import",
            sample.to_str().expect("utf-8"),
            "--session",
            "S1",
            "--now",
            "2026-12-18 09:00",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("截止") && err.contains("2026-12-18 09:00"),
        "{err}"
    );
    let (ok, _, err) = run(
        dir.path(),
        &["roster", "import", faults, "--session", "NOPE"],
    );
    assert!(!ok && err.contains("plan add"), "{err}");
}

#[test]
fn photos_are_matched_to_the_roster_and_the_template_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(
        dir.path(),
        &[
            "plan",
            "add",
            "S1",
            "--title",
            "低压电工",
            "--starts-at",
            "2099-12-20 09:00",
        ],
    );
    let sample = fixture("roster-sample.xlsx");
    let (ok, _, err) = run(
        dir.path(),
        &[
            "roster",
            "import",
            sample.to_str().expect("utf-8"),
            "--session",
            "S1",
        ],
    );
    assert!(ok, "{err}");
    let photos = fixture("photos-sample.zip");
    let (ok, out, err) = run(
        dir.path(),
        &[
            "photos",
            "import",
            photos.to_str().expect("utf-8"),
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["counts"]["accepted"], 120);
    assert_eq!(v["counts"]["rejected"], 0);
    assert_eq!(v["counts"]["without_photo"], 0);

    let template = dir.path().join("template.xlsx");
    let (ok, _, err) = run(
        dir.path(),
        &["roster", "template", template.to_str().expect("utf-8")],
    );
    assert!(ok, "{err}");
    assert!(
        std::fs::read(&template)
            .expect("written")
            .starts_with(b"PK")
    );
}

#[cfg(unix)]
#[test]
fn the_data_directory_and_database_are_private_from_creation_and_loose_ones_are_tightened() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("central");
    // Under umask 000 anything created with a default mode would be world-readable.
    let out = Command::new("sh")
        .args(["-c", r#"umask 000 && exec "$0" "$@""#, BIN])
        .arg("--data")
        .arg(&data)
        .args(["plan", "list"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("central.db")), 0o600);

    for (p, m) in [(data.clone(), 0o755), (data.join("central.db"), 0o644)] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).expect("chmod");
    }
    let (ok, _, err) = run(&data, &["plan", "list"]);
    assert!(ok, "{err}");
    assert!(err.contains("now private"), "a warning: {err}");
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("central.db")), 0o600);
}
