//! The `central-sync` command line on the fixture files a clerk would feed it.

mod common;

use std::path::Path;
use std::process::Command;

use common::{BIN, fixture, ok, run};

/// Runs and insists on failure; returns stderr.
fn refused(data: &Path, args: &[&str]) -> String {
    let (ok, out, err) = run(data, args);
    assert!(!ok, "{args:?} should have been refused: {out}");
    err
}

/// The clock of the plan tests: a week before the sessions of 2026-12-20.
const NOW: [&str; 2] = ["--now", "2026-12-10 10:00"];

fn with_now<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(NOW);
    v
}

/// Site `TY` with `rooms` `(code, capacity)`, the QTI sample imported, plan `plan` of `category`
/// and its session `session` in all those rooms at `starts_at`. Returns the content id.
fn setup(
    data: &Path,
    plan: &str,
    category: &str,
    session: &str,
    starts_at: &str,
    rooms: &[(&str, u32)],
) -> String {
    let (_, sites, _) = run(data, &["site", "show", "TY"]);
    if sites.is_empty() {
        ok(
            data,
            &with_now(&["site", "add", "TY", "太原考点", "--address", "太原市小店区"]),
        );
    }
    for (code, capacity) in rooms {
        let (_, show, _) = run(data, &["site", "show", "TY"]);
        if !show.contains(&format!("room {code}\t")) {
            let cap = capacity.to_string();
            ok(
                data,
                &with_now(&[
                    "site",
                    "room",
                    "add",
                    "TY",
                    code,
                    "--name",
                    code,
                    "--capacity",
                    &cap,
                ]),
            );
        }
    }
    let pkg = fixture("qti21-sample.zip");
    let out = ok(
        data,
        &["content", "import", pkg.to_str().expect("utf-8"), "--json"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let content = v["id"].as_str().expect("id").to_owned();
    ok(
        data,
        &with_now(&[
            "plan",
            "create",
            plan,
            "--type",
            "新取证线下考试",
            "--category",
            category,
            "--work-type",
            "低压电工作业",
            "--title",
            "低压电工作业新取证考试",
            "--content",
            &content,
            "--by",
            "王芳",
        ]),
    );
    let room_list = rooms.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(",");
    ok(
        data,
        &with_now(&[
            "plan",
            "session",
            "add",
            plan,
            session,
            "--site",
            "TY",
            "--rooms",
            &room_list,
            "--starts-at",
            starts_at,
            "--duration-min",
            "90",
            "--latest-login-min",
            "15",
            "--by",
            "王芳",
        ]),
    );
    content
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
fn plans_refuse_bad_times_duplicates_bad_content_and_unusable_rooms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let err = refused(
        d,
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
    assert!(
        err.contains("plan create") && err.contains("plan session add"),
        "{err}"
    );
    setup(
        d,
        "P1",
        "特种作业",
        "S1",
        "2026-12-20 09:00",
        &[("R1", 30), ("R2", 30)],
    );
    let out = ok(d, &["plan", "list"]);
    assert!(
        out.contains("P1\tdraft\tnew-certificate-offline")
            && out.contains("S1\tTY\tstarts 2026-12-20 09:00\troster cutoff 2026-12-18 09:00"),
        "{out}"
    );
    let session = |id: &'static str,
                   rooms: &'static str,
                   start: &'static str,
                   dur: &'static str,
                   late: &'static str| {
        with_now(&[
            "plan",
            "session",
            "add",
            "P1",
            id,
            "--site",
            "TY",
            "--rooms",
            rooms,
            "--starts-at",
            start,
            "--duration-min",
            dur,
            "--latest-login-min",
            late,
        ])
    };
    let err = refused(d, &session("S1", "R1", "2026-12-21 09:00", "90", "15"));
    assert!(err.contains("exists already"), "{err}");
    let err = refused(d, &session("S2", "R1", "2026-02-30 09:00", "90", "15"));
    assert!(err.contains("YYYY-MM-DD HH:MM"), "{err}");
    let err = refused(d, &session("S2", "R1", "2026-12-09 09:00", "90", "15"));
    assert!(err.contains("has passed"), "{err}");
    let err = refused(d, &session("S2", "R1", "2026-12-21 09:00", "9", "5"));
    assert!(err.contains("10 to 600"), "{err}");
    let err = refused(d, &session("S2", "R1", "2026-12-21 09:00", "90", "91"));
    assert!(err.contains("latest login of 91"), "{err}");
    let err = refused(d, &session("S2", "R9", "2026-12-21 09:00", "90", "15"));
    assert!(err.contains("no room R9"), "{err}");
    // R2 is busy with S1 from 09:00 to 10:30.
    let err = refused(d, &session("S2", "R2", "2026-12-20 10:00", "90", "15"));
    assert!(err.contains("used by session S1"), "{err}");
    ok(
        d,
        &with_now(&["site", "room", "disable", "TY", "R2", "--reason", "装修"]),
    );
    let err = refused(d, &session("S2", "R2", "2026-12-21 09:00", "90", "15"));
    assert!(err.contains("disabled (装修)"), "{err}");
    ok(d, &session("S2", "R1", "2026-12-20 10:30", "90", "15"));

    let content = ok(d, &["content", "list"]);
    let content_id = content.split('\t').next().expect("id").to_owned();
    for (id, content, pass, want) in [
        ("P2", "nope", "60", "no content with id nope"),
        ("P2", content_id.as_str(), "101", "pass mark of 101%"),
        ("P1", content_id.as_str(), "60", "exists already"),
    ] {
        let err = refused(
            d,
            &with_now(&[
                "plan",
                "create",
                id,
                "--type",
                "renewal",
                "--category",
                "特种作业",
                "--work-type",
                "低压电工作业",
                "--title",
                "复审",
                "--content",
                content,
                "--pass-mark",
                pass,
            ]),
        );
        assert!(err.contains(want), "{want}: {err}");
    }
    let err = refused(d, &["plan", "approve", "P1", "--by", "李"]);
    assert!(err.contains("submit it first"), "{err}");
}

#[test]
fn roster_import_rejects_with_reasons_adds_nothing_twice_and_respects_the_cutoff() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Safety managers: no upper age limit, so only the file's own faults are rejected.
    setup(
        dir.path(),
        "P1",
        "安全生产管理人员",
        "S1",
        "2026-12-20 09:00",
        &[("R1", 60)],
    );
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
    assert!(!ok && err.contains("plan session add"), "{err}");
}

#[test]
fn photos_are_matched_to_the_roster_and_the_template_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(
        dir.path(),
        "P1",
        "安全生产管理人员",
        "S1",
        "2026-12-20 09:00",
        &[("R1", 200)],
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
            "--now",
            "2026-12-10 10:00",
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

fn seats_json(data: &Path, session: &str) -> Vec<serde_json::Value> {
    let out = ok(data, &["plan", "seats", session, "--json"]);
    serde_json::from_str::<serde_json::Value>(&out)
        .expect("json")
        .as_array()
        .expect("rows")
        .clone()
}

fn import_sample(data: &Path, session: &str, report: Option<&Path>) -> serde_json::Value {
    let sample = fixture("roster-sample.xlsx");
    let mut args = vec![
        "roster",
        "import",
        sample.to_str().expect("utf-8"),
        "--session",
        session,
        "--json",
        "--by",
        "王芳",
    ];
    if let Some(r) = report {
        args.extend(["--report", r.to_str().expect("utf-8")]);
    }
    let out = ok(data, &with_now(&args));
    serde_json::from_str(&out).expect("json")
}

#[test]
fn a_plan_from_site_to_approval_seats_everyone_and_stays_locked_until_unlocked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let content = setup(
        d,
        "P1",
        "特种作业",
        "S1",
        "2026-12-20 09:00",
        &[("A", 60), ("B", 41), ("C", 10)],
    );
    ok(
        d,
        &with_now(&[
            "site",
            "room",
            "seat-disable",
            "TY",
            "A",
            "5",
            "--reason",
            "显示器坏了",
        ]),
    );
    let err = refused(
        d,
        &with_now(&[
            "site",
            "room",
            "seat-disable",
            "TY",
            "A",
            "61",
            "--reason",
            "x",
        ]),
    );
    assert!(err.contains("no seat 61"), "{err}");

    // Special operations: 20 of the 120 are past the retirement age on 2026-12-20.
    let report = d.join("rejected.xlsx");
    let v = import_sample(d, "S1", Some(&report));
    assert_eq!(v["counts"]["accepted"], 100, "{v}");
    assert_eq!(v["counts"]["rejected"], 20);
    let rejected = v["rejected"].as_array().expect("rejected");
    assert!(rejected.iter().all(|r| r["column"] == "证件号码"));
    let first = &rejected[0];
    assert_eq!(first["row"], 9);
    assert_eq!(first["value"], "140581196808289980");
    let reason = first["reason"].as_str().expect("reason");
    assert!(
        reason.contains("58 岁")
            && reason.contains("女性 55 周岁")
            && reason.contains("women up to 55"),
        "{reason}"
    );
    // The report workbook holds the 20 rows, ready to fix and import.
    let again = exam_content::roster::read_path(&report, &exam_content::roster::NoneKnown)
        .expect("report readable");
    assert_eq!(again.counts.accepted, 20);
    assert_eq!(again.accepted[0].entry.id_number, "140581196808289980");

    // Room C is disabled before approval: its seats are skipped (59 + 41 = 100 usable).
    ok(
        d,
        &with_now(&["site", "room", "disable", "TY", "C", "--reason", "空调坏了"]),
    );
    let err = refused(d, &with_now(&["plan", "approve", "P1", "--by", "李主任"]));
    assert!(err.contains("submit it first"), "{err}");
    ok(d, &with_now(&["plan", "submit", "P1", "--by", "王芳"]));
    let out = ok(d, &with_now(&["plan", "approve", "P1", "--by", "李主任"]));
    assert!(out.contains("100 candidates seated, 100 newly"), "{out}");

    let rows = seats_json(d, "S1");
    assert_eq!(rows.len(), 100);
    let mut seats = std::collections::BTreeSet::new();
    let mut numbers = std::collections::BTreeSet::new();
    for r in &rows {
        let room = r["room"].as_str().expect("room");
        let seat = r["seat"].as_u64().expect("seat");
        match room {
            "A" => assert!((1..=60).contains(&seat) && seat != 5, "{r}"),
            "B" => assert!((1..=41).contains(&seat), "{r}"),
            other => panic!("seated in room {other}: {r}"),
        }
        assert!(seats.insert((room.to_owned(), seat)), "seat twice: {r}");
        let no = r["admission_no"].as_str().expect("admission number");
        assert!(no.len() == 10 && no.starts_with("000001"), "{no}");
        assert!(numbers.insert(no.to_owned()), "number twice: {no}");
    }
    assert_eq!(numbers.first().map(String::as_str), Some("0000010001"));
    assert_eq!(numbers.last().map(String::as_str), Some("0000010100"));

    // What a site gets, with photos, and papers central can reproduce from the seeds.
    ok(
        d,
        &with_now(&[
            "photos",
            "import",
            fixture("photos-sample.zip").to_str().expect("utf-8"),
        ]),
    );
    {
        let conn = central_sync::store::open(d).expect("store");
        let site = central_sync::plans::session_for_site(&conn, "S1").expect("for site");
        assert_eq!(site.site_code, "TY");
        assert_eq!(site.site_name, "太原考点");
        assert_eq!(
            (
                site.duration_min,
                site.latest_login_min,
                site.pass_mark_percent
            ),
            (90, 15, 60)
        );
        assert_eq!(site.content_id, content);
        assert_eq!(
            site.rooms
                .iter()
                .map(|r| (r.code.as_str(), r.capacity, r.disabled_seats.clone()))
                .collect::<Vec<_>>(),
            vec![("A", 60, vec![5]), ("B", 41, vec![])]
        );
        assert_eq!(site.candidates.len(), 100);
        assert!(site.candidates.iter().all(|c| c.photo.is_some()));
        let seeds: std::collections::BTreeSet<u64> =
            site.candidates.iter().map(|c| c.paper_seed).collect();
        assert_eq!(seeds.len(), 100);
        let def = central_sync::plans::check_content(&conn, &content).expect("definition");
        let paper = exam_content::assembly::assemble(&def, site.candidates[0].paper_seed);
        assert_eq!(
            paper.sections.iter().map(|s| s.items.len()).sum::<usize>(),
            def.items_per_candidate()
        );
        serde_json::to_value(&site).expect("serializes");
        assert_eq!(
            central_sync::plans::approved_sessions_for_site(&conn, "TY").expect("sessions"),
            vec!["S1".to_owned()]
        );
    }

    // Approved: the roster, seats and the rooms in use are locked.
    let sample = fixture("roster-sample.xlsx");
    let sample = sample.to_str().expect("utf-8");
    let err = refused(
        d,
        &with_now(&["roster", "import", sample, "--session", "S1"]),
    );
    assert!(
        err.contains("locked") && err.contains("plan unlock P1"),
        "{err}"
    );
    let moved = rows[1]["id_number"].as_str().expect("id").to_owned();
    let removed = rows[0]["id_number"].as_str().expect("id").to_owned();
    let removed_seat = (
        rows[0]["room"].as_str().expect("room").to_owned(),
        rows[0]["seat"].as_u64().expect("seat").to_string(),
    );
    let err = refused(
        d,
        &with_now(&[
            "plan",
            "seat",
            "move",
            "S1",
            &moved,
            "--room",
            "B",
            "--seat",
            "1",
            "--by",
            "王芳",
            "--reason",
            "视力不好",
        ]),
    );
    assert!(err.contains("plan unlock P1"), "{err}");
    let err = refused(
        d,
        &with_now(&["site", "room", "disable", "TY", "A", "--reason", "x"]),
    );
    assert!(
        err.contains("approved plan P1") && err.contains("unlock"),
        "{err}"
    );

    // Unlocked with a reason: one candidate withdrawn, one moved, the withdrawn one re-imported.
    ok(
        d,
        &with_now(&[
            "plan",
            "unlock",
            "P1",
            "--by",
            "张三",
            "--reason",
            "补报考生",
        ]),
    );
    ok(
        d,
        &with_now(&[
            "roster",
            "remove",
            "S1",
            &removed,
            "--by",
            "张三",
            "--reason",
            "本人申请退考",
        ]),
    );
    let err = refused(
        d,
        &with_now(&[
            "plan", "seat", "move", "S1", &moved, "--room", "A", "--seat", "5", "--by", "王芳",
            "--reason", "x",
        ]),
    );
    assert!(err.contains("the seat is disabled"), "{err}");
    let taken = rows[2]["seat"].as_u64().expect("seat").to_string();
    let err = refused(
        d,
        &with_now(&[
            "plan",
            "seat",
            "move",
            "S1",
            &moved,
            "--room",
            rows[2]["room"].as_str().expect("room"),
            "--seat",
            &taken,
            "--by",
            "王芳",
            "--reason",
            "x",
        ]),
    );
    assert!(err.contains("sits there"), "{err}");
    ok(
        d,
        &with_now(&[
            "plan",
            "seat",
            "move",
            "S1",
            &moved,
            "--room",
            &removed_seat.0,
            "--seat",
            &removed_seat.1,
            "--by",
            "王芳",
            "--reason",
            "视力不好，调到前排",
        ]),
    );
    let v = import_sample(d, "S1", None);
    assert_eq!(v["counts"]["accepted"], 1, "{v}");
    ok(d, &with_now(&["plan", "submit", "P1", "--by", "王芳"]));
    let out = ok(d, &with_now(&["plan", "approve", "P1", "--by", "李主任"]));
    assert!(out.contains("100 candidates seated, 1 newly"), "{out}");
    let after = seats_json(d, "S1");
    let find = |rows: &[serde_json::Value], id: &str| {
        rows.iter()
            .find(|r| r["id_number"] == id)
            .cloned()
            .expect("there")
    };
    // Admission numbers stay; the moved candidate keeps the chosen seat; the returning one gets
    // a new number (not the one given before) and the seat freed by the move.
    for r in &rows[1..] {
        let id = r["id_number"].as_str().expect("id");
        assert_eq!(find(&after, id)["admission_no"], r["admission_no"]);
    }
    let m = find(&after, &moved);
    assert_eq!(m["room"].as_str(), Some(removed_seat.0.as_str()));
    assert_eq!(
        m["seat"].as_u64().map(|s| s.to_string()),
        Some(removed_seat.1.clone())
    );
    let back = find(&after, &removed);
    assert_eq!(back["admission_no"], "0000010101");
    assert_eq!(back["room"], rows[1]["room"]);
    assert_eq!(back["seat"], rows[1]["seat"]);

    let out = ok(d, &["plan", "show", "P1"]);
    for want in [
        "已审批 / approved",
        "张三 unlocked 原因 / reason: 补报考生",
        "张三 candidate_removed 原因 / reason: 本人申请退考",
        "王芳 seat_moved 原因 / reason: 视力不好，调到前排",
        "李主任 approved",
        "roster_imported",
        "100 candidates, 100 seated",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    // Once the session is over (09:00 + 90 min), its rooms may be disabled again.
    ok(
        d,
        &[
            "site",
            "room",
            "disable",
            "TY",
            "A",
            "--reason",
            "改作机房",
            "--now",
            "2026-12-20 10:30",
        ],
    );
}

#[test]
fn approval_is_refused_when_the_rooms_cannot_seat_everyone_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    setup(
        d,
        "P1",
        "特种作业",
        "S1",
        "2026-12-20 09:00",
        &[("A", 50), ("B", 45)],
    );
    ok(
        d,
        &with_now(&[
            "site",
            "room",
            "seat-disable",
            "TY",
            "B",
            "45",
            "--reason",
            "坏了",
        ]),
    );
    let v = import_sample(d, "S1", None);
    assert_eq!(v["counts"]["accepted"], 100);
    ok(d, &with_now(&["plan", "submit", "P1"]));
    let err = refused(d, &with_now(&["plan", "approve", "P1", "--by", "李主任"]));
    assert!(
        err.contains("缺 6 个座位")
            && err.contains("6 seats missing")
            && err.contains("94 usable seats"),
        "{err}"
    );
    assert!(seats_json(d, "S1").iter().all(|r| r["seat"].is_null()));
    let out = ok(d, &["plan", "show", "P1"]);
    assert!(
        out.contains("已提交 / submitted") && !out.contains("approved"),
        "{out}"
    );
    let conn = central_sync::store::open(d).expect("store");
    let err = central_sync::plans::session_for_site(&conn, "S1").expect_err("not approved");
    assert!(err.to_string().contains("not approved"), "{err}");
}

/// A GB 11643 number from its first 17 digits.
fn id17(first17: &str) -> String {
    exam_domain::IdNumber::with_check_char(first17)
        .expect("valid")
        .as_str()
        .to_owned()
}

#[test]
fn under_age_future_birth_dates_and_banned_people_are_rejected_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    setup(d, "P1", "特种作业", "S1", "2026-12-20 09:00", &[("A", 50)]);
    let adult = id17("11010119900101001");
    let banned = id17("11010119910101001");
    let minor = id17("11010120090101001");
    let eighteen = id17("11010120081220001");
    let unborn = id17("11010120270301001");
    let csv = format!(
        "姓名,性别,证件类型,证件号码,手机号码,工作单位,作业类别,准操项目,考核类型,证书到期日期\n\
         甲,男,1,{adult},13800000001,,电工作业,低压电工作业,新取证,\n\
         乙,男,1,{banned},13800000002,,电工作业,低压电工作业,新取证,\n\
         丙,男,1,{minor},13800000003,,电工作业,低压电工作业,新取证,\n\
         丁,男,1,{eighteen},13800000004,,电工作业,低压电工作业,新取证,\n\
         戊,男,1,{unborn},13800000005,,电工作业,低压电工作业,新取证,\n"
    );
    let file = d.join("roster.csv");
    std::fs::write(&file, csv).expect("write");

    let err = refused(
        d,
        &with_now(&[
            "blacklist",
            "add",
            &banned,
            "--reason",
            "替考",
            "--until",
            "2026-12-09",
            "--by",
            "赵",
        ]),
    );
    assert!(err.contains("YYYY-MM-DD"), "{err}");
    ok(
        d,
        &with_now(&[
            "blacklist",
            "add",
            &banned,
            "--reason",
            "替考",
            "--until",
            "2027-06-30",
            "--by",
            "赵科长",
        ]),
    );
    let out = ok(d, &with_now(&["blacklist", "list"]));
    assert!(
        out.contains(&banned) && out.contains("2027-06-30") && out.contains("赵科长"),
        "{out}"
    );

    let report = d.join("fix.xlsx");
    let out = ok(
        d,
        &with_now(&[
            "roster",
            "import",
            file.to_str().expect("utf-8"),
            "--session",
            "S1",
            "--json",
            "--report",
            report.to_str().expect("utf-8"),
        ]),
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["counts"]["accepted"], 2, "{v}");
    let reasons: Vec<(u64, String)> = v["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().expect("row"),
                r["reason"].as_str().expect("reason").to_owned(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons[0].0, 3);
    assert!(
        reasons[0].1.contains("banned until 2027-06-30 (替考)"),
        "{reasons:?}"
    );
    assert_eq!(reasons[1].0, 4);
    assert!(
        reasons[1].1.contains("未满 18 周岁") && reasons[1].1.contains("17 years old"),
        "{reasons:?}"
    );
    assert_eq!(reasons[2].0, 6);
    assert!(reasons[2].1.contains("in the future"), "{reasons:?}");
    let again =
        exam_content::roster::read_path(&report, &exam_content::roster::NoneKnown).expect("report");
    assert_eq!(
        again.counts.accepted, 3,
        "the rejected rows are in the report"
    );

    // Lifted: the person can be imported; banned again after import: approval is refused.
    ok(
        d,
        &with_now(&[
            "blacklist",
            "lift",
            &banned,
            "--reason",
            "复议撤销",
            "--by",
            "赵科长",
        ]),
    );
    let out = ok(
        d,
        &with_now(&[
            "roster",
            "import",
            file.to_str().expect("utf-8"),
            "--session",
            "S1",
            "--json",
        ]),
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["counts"]["accepted"], 1);
    ok(
        d,
        &with_now(&[
            "blacklist",
            "add",
            &banned,
            "--reason",
            "再次替考",
            "--until",
            "2027-12-31",
            "--by",
            "赵科长",
        ]),
    );
    ok(d, &with_now(&["plan", "submit", "P1"]));
    let err = refused(d, &with_now(&["plan", "approve", "P1", "--by", "李"]));
    assert!(
        err.contains(&banned) && err.contains("roster remove"),
        "{err}"
    );
    let out = ok(d, &with_now(&["blacklist", "list", "--all", "--json"]));
    let bans: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(bans.as_array().map(Vec::len), Some(2));
    let conn = central_sync::store::open(d).expect("store");
    let start = central_sync::time::parse_cst("2026-12-20 09:00").expect("time");
    let active = central_sync::blacklist::active_at(&conn, start).expect("active");
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].0, banned);
    assert_eq!(active[0].2, "再次替考");
}

#[test]
fn a_store_of_the_first_schema_migrates_its_sessions_into_the_legacy_plan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    {
        let conn = rusqlite::Connection::open(d.join("central.db")).expect("old db");
        conn.execute_batch(
            "PRAGMA application_id = 1163414851;
             CREATE TABLE sessions (
                 id TEXT PRIMARY KEY, title TEXT NOT NULL,
                 starts_at_unix_ms INTEGER NOT NULL, roster_cutoff_hours INTEGER NOT NULL);
             CREATE TABLE candidates (
                 session_id TEXT NOT NULL REFERENCES sessions(id), id_number TEXT NOT NULL,
                 name TEXT NOT NULL, entry_json TEXT NOT NULL, source_file TEXT NOT NULL,
                 source_row INTEGER NOT NULL, imported_at_unix_ms INTEGER NOT NULL,
                 PRIMARY KEY (session_id, id_number));
             CREATE TABLE photos (
                 id_number TEXT PRIMARY KEY, bytes BLOB NOT NULL, width INTEGER NOT NULL,
                 height INTEGER NOT NULL, imported_at_unix_ms INTEGER NOT NULL);
             CREATE TABLE content (
                 id TEXT PRIMARY KEY, title TEXT NOT NULL, package BLOB NOT NULL,
                 imported_at_unix_ms INTEGER NOT NULL);
             -- 2026-12-20 09:00 and 2026-12-22 09:00 CST
             INSERT INTO sessions VALUES ('OLD-2', '高压电工', 1797901200000, 48);
             INSERT INTO sessions VALUES ('OLD-1', '低压电工', 1797728400000, 48);
             PRAGMA user_version = 1;",
        )
        .expect("old schema");
    }
    let sample = fixture("roster-sample.xlsx");
    let sample = sample.to_str().expect("utf-8");
    // Before migration the old sessions held rosters: import into one as before.
    let out = ok(
        d,
        &with_now(&["roster", "import", sample, "--session", "OLD-1", "--json"]),
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        v["counts"]["accepted"], 120,
        "no category: only the 18-year floor"
    );
    let out = ok(d, &["plan", "list"]);
    assert!(
        out.contains("LEGACY\tdraft\tlegacy")
            && out.contains("OLD-1\t-\tstarts 2026-12-20 09:00")
            && out.contains("OLD-2\t-\tstarts 2026-12-22 09:00"),
        "{out}"
    );
    let out = ok(d, &["plan", "show", "LEGACY", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["sessions"][0]["id"], "OLD-1");
    assert_eq!(v["sessions"][0]["seq"], 1, "numbered by start");
    assert_eq!(v["sessions"][1]["seq"], 2);
    assert_eq!(v["sessions"][0]["candidates"], 120);
    assert_eq!(v["log"][0]["action"], "migrated");
    let err = refused(d, &with_now(&["plan", "submit", "LEGACY"]));
    assert!(err.contains("plan session add PLAN SESSION"), "{err}");

    // Moved into a real plan with a site, rooms and times, keeping its candidates and number.
    setup(
        d,
        "P1",
        "安全生产管理人员",
        "NEW-1",
        "2026-12-21 09:00",
        &[("A", 100), ("B", 150)],
    );
    ok(
        d,
        &with_now(&[
            "plan",
            "session",
            "add",
            "P1",
            "OLD-1",
            "--site",
            "TY",
            "--rooms",
            "B",
            "--starts-at",
            "2026-12-20 09:00",
            "--duration-min",
            "120",
            "--latest-login-min",
            "30",
        ]),
    );
    let out = ok(d, &["plan", "show", "P1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let old = v["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["id"] == "OLD-1")
        .cloned()
        .expect("moved");
    assert_eq!(old["candidates"], 120);
    assert_eq!(old["seq"], 1);
    assert_eq!(old["site_code"], "TY");
    let new = v["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["id"] == "NEW-1")
        .cloned()
        .expect("new");
    assert_eq!(new["seq"], 3);
    ok(d, &with_now(&["plan", "submit", "P1"]));
    ok(d, &with_now(&["plan", "approve", "P1", "--by", "李主任"]));
    let rows = seats_json(d, "OLD-1");
    assert_eq!(rows.len(), 120);
    assert!(rows.iter().all(|r| {
        r["room"] == "B"
            && r["admission_no"]
                .as_str()
                .is_some_and(|a| a.starts_with("000001"))
    }));
}

/// `central-sync … | head`: when the reader stops reading, the command stops quietly.
#[test]
fn output_cut_short_by_the_reader_ends_the_command_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    ok(dir.path(), &["init"]);
    let mut child = Command::new(BIN)
        .arg("--data")
        .arg(dir.path())
        .arg("fingerprint")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("waits");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
