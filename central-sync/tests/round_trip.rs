//! The round trip from the authority to a site and back, for real: the clerk's commands (the
//! `central-sync` binary) plan a session, central serves its HTTPS API, a site enrols over it,
//! pulls the signed package, gets the paper key, simulated candidates sit the exam over QUIC, and
//! the sealed results come back, verified and scored exactly once.

mod common;

use std::time::Duration;

use common::{
    init_site, ok, passphrase_file, plan_a_session, results_received, run, run_site_until_serving,
    sit, wait_received,
};
use exam_client::simulate::{self, SimulateConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_session_travels_to_the_site_and_its_results_come_back_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let central_dir = dir.path().join("central");
    let site_dir = dir.path().join("site");
    let (token, mut credentials) = plan_a_session(&central_dir);
    // Banned after approval (caught cheating elsewhere): the package carries the ban, and the
    // site keeps them out.
    let banned = credentials.pop().expect("a candidate");
    ok(
        &central_dir,
        &[
            "blacklist",
            "add",
            &banned.1,
            "--reason",
            "替考",
            "--until",
            "2030-12-31",
            "--by",
            "张三",
        ],
    );

    let central = central_sync::api::start(&central_dir, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("central serves");
    let url = format!("https://{}", central.addr);
    let fingerprint = central.fingerprint.to_string();

    // A wrong token changes nothing; the right one enrols (a token used again: see faults.rs).
    let pass = passphrase_file(dir.path());
    let wrong = init_site(&site_dir, &url, &fingerprint, "TY", "0000-0000", &pass)
        .await
        .expect_err("refused");
    assert!(format!("{wrong:#}").contains("not known"), "{wrong:#}");
    assert!(!site_dir.join(site_server::central::CENTRAL_FILE).exists());
    init_site(&site_dir, &url, &fingerprint, "TY", &token, &pass)
        .await
        .expect("enrols");

    // The site runs: it pulls the package, gets the key (the release time has passed) and serves.
    let site = run_site_until_serving(&site_dir, &pass, Duration::from_secs(1)).await;
    let addr = site.addr;
    let pin = exam_net::identity::ca_fingerprint(&site_dir).expect("LAN fingerprint");
    let n = credentials.len() as u32;
    sit(&site_dir, addr, &credentials, n).await;

    // The banned candidate's login is refused (with the neutral message) and the site says why.
    let refused = simulate::run(SimulateConfig {
        server: addr,
        pin,
        candidates: 1,
        first: 0,
        think: Duration::from_millis(2),
        record: None,
        deadline: Duration::from_secs(20),
        seed: 4,
        journal_dir: None,
        credentials: Some(std::sync::Arc::new(vec![banned.clone()])),
    })
    .await
    .expect("simulate");
    assert_eq!(
        (refused.submitted, refused.errors),
        (0, 1),
        "{}",
        refused.summary()
    );
    let log: String = rusqlite::Connection::open(site_dir.join(site_server::packages::UPLINK_DB))
        .expect("uplink.db")
        .query_row("SELECT detail FROM log WHERE event = 'banned'", [], |r| {
            r.get(0)
        })
        .expect("the site logged the ban");
    assert!(log.contains(&banned.0) && log.contains("替考"), "{log}");

    // Every result arrives, once.
    let received = wait_received(&central_dir, n as usize, Duration::from_secs(60)).await;
    assert_eq!(received, n as usize);
    site.stop().await;

    // Sent again (a USB stick after the uplink came back): duplicates, nothing stored twice.
    let usb = dir.path().join("usb");
    let s = site_dir.clone();
    let u = usb.clone();
    tokio::task::spawn_blocking(move || site_server::enrolled::export_results(&s, &u))
        .await
        .expect("task")
        .expect("export");
    let out = ok(
        &central_dir,
        &["results", "import", usb.to_str().expect("utf-8")],
    );
    assert!(
        out.contains(&format!("0 accepted, {n} already received, 0 refused")),
        "{out}"
    );
    assert_eq!(results_received(&central_dir), n as usize);

    // Scored: every line has a total within its maximum and a verdict.
    let status: serde_json::Value =
        serde_json::from_str(&ok(&central_dir, &["results", "status", "S1", "--json"]))
            .expect("json");
    for line in status.as_array().expect("lines") {
        if line["status"] == "missing" {
            continue;
        }
        let total = line["total_centipoints"].as_u64().expect("total");
        let max = line["max_centipoints"].as_u64().expect("max");
        assert!(max > 0 && total <= max, "{line}");
        assert!(
            line["passed"].is_boolean() || line["status"] == "needs marking",
            "{line}"
        );
    }
    mark_short_answers(&central_dir);

    let xlsx = dir.path().join("results.xlsx");
    let out = ok(
        &central_dir,
        &[
            "results",
            "export",
            "S1",
            "--out",
            xlsx.to_str().expect("utf-8"),
        ],
    );
    assert!(out.contains(&format!("{n} results")), "{out}");
    central.stop().await;
    if std::env::var_os("KEEP_ROUND_TRIP").is_some() {
        let kept = dir.keep();
        eprintln!("kept {}", kept.display());
    }
}

/// The line of `admission_no` in `results status S1 --json`.
fn status_of(central_dir: &std::path::Path, admission_no: &str) -> serde_json::Value {
    let status: serde_json::Value =
        serde_json::from_str(&ok(central_dir, &["results", "status", "S1", "--json"]))
            .expect("json");
    status
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["admission_no"] == admission_no)
        .cloned()
        .expect("a line")
}

/// The sample's short answers wait for a marker; a candidate whose answers are all marked gets
/// a total and a verdict, and bad marks change nothing.
fn mark_short_answers(central_dir: &std::path::Path) {
    let list = |all: bool| -> Vec<serde_json::Value> {
        let mut args = vec!["results", "marking", "S1", "--json"];
        if all {
            args.push("--all");
        }
        serde_json::from_str(&ok(central_dir, &args)).expect("json")
    };
    let waiting = list(false);
    assert!(!waiting.is_empty(), "the sample has short answers");
    let who = waiting[0]["admission_no"]
        .as_str()
        .expect("admission no")
        .to_owned();
    let mine: Vec<&serde_json::Value> = waiting
        .iter()
        .filter(|m| m["admission_no"] == who.as_str())
        .collect();
    let before = status_of(central_dir, &who);
    assert_eq!(before["status"], "needs marking", "{before}");
    assert!(before["passed"].is_null(), "{before}");

    // Bad marks are refused and change nothing.
    let item = mine[0]["item"].as_str().expect("item");
    let max = mine[0]["max_centipoints"].as_u64().expect("max");
    let over = format!("{}", max / 100 + 1);
    for (args, says) in [
        (vec![who.as_str(), item, over.as_str()], "at most"),
        (vec![who.as_str(), item, "1.234"], "not a number"),
        (vec![who.as_str(), "QJ001", "1"], "not one a marker scores"),
        (vec!["NOBODY", item, "1"], "no result"),
    ] {
        let mut full = vec!["results", "mark", "S1"];
        full.extend(args);
        full.extend(["--by", "王老师"]);
        let (success, _, err) = run(central_dir, &full);
        assert!(!success && err.contains(says), "{full:?}: {err}");
    }
    assert_eq!(status_of(central_dir, &who), before);

    // Every waiting answer of this candidate marked: a total and a verdict.
    for m in &mine {
        let item = m["item"].as_str().expect("item");
        let out = ok(
            central_dir,
            &["results", "mark", "S1", &who, item, "1.5", "--by", "王老师"],
        );
        assert!(out.contains("1.5"), "{out}");
    }
    let after = status_of(central_dir, &who);
    assert_ne!(after["status"], "needs marking", "{after}");
    assert!(after["passed"].is_boolean(), "{after}");
    let total = |l: &serde_json::Value| l["total_centipoints"].as_u64().expect("total");
    assert_eq!(total(&after), total(&before) + 150 * mine.len() as u64);
    assert!(
        list(false)
            .iter()
            .all(|m| m["admission_no"] != who.as_str())
    );
    let marked: Vec<_> = list(true)
        .into_iter()
        .filter(|m| m["admission_no"] == who.as_str())
        .collect();
    assert!(
        marked
            .iter()
            .all(|m| m["centipoints"] == 150 && m["marked_by"] == "王老师")
    );

    // A mark changed: the total follows, the log keeps both.
    ok(
        central_dir,
        &["results", "mark", "S1", &who, item, "0", "--by", "李老师"],
    );
    assert_eq!(total(&status_of(central_dir, &who)), total(&after) - 150);
}
