//! The round trip from the authority to a site and back, for real: the clerk's commands (the
//! `central-sync` binary) plan a session, central serves its HTTPS API, a site enrols over it,
//! pulls the signed package, gets the paper key, simulated candidates sit the exam over QUIC, and
//! the sealed results come back, verified and scored exactly once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use exam_client::simulate::{self, SimulateConfig};
use site_server::enrolled::{Serving, run_site};

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

fn ok(data: &Path, args: &[&str]) -> String {
    let (ok, out, err) = run(data, args);
    assert!(ok, "{args:?} failed: {err}");
    out
}

/// The clerk's day before: a week ago, everything planned for a session that starts this minute.
const PLANNED_AT: [&str; 2] = ["--now", "2026-11-20 10:00"];

fn planned<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(PLANNED_AT);
    v
}

/// This minute in China Standard Time, as a plan takes it.
fn this_minute_cst() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    exam_domain::cst::format_cst(ms)
}

/// Plans session `S1` at site `TY` with the sample content and roster, approved. Returns the
/// site's enrolment token and the seated candidates' credentials.
fn plan_a_session(central: &Path) -> (String, Vec<(String, String)>) {
    ok(central, &["init"]);
    let out = ok(central, &["site", "add", "TY", "太原考点"]);
    let token = out
        .lines()
        .find_map(|l| {
            l.rsplit_once("valid 72 hours: ")
                .map(|(_, t)| t.trim().to_owned())
        })
        .expect("a token in the output");
    ok(
        central,
        &planned(&[
            "site",
            "room",
            "add",
            "TY",
            "A",
            "--name",
            "第一考场",
            "--capacity",
            "150",
        ]),
    );
    let pkg = fixture("qti21-sample.zip");
    let out = ok(
        central,
        &["content", "import", pkg.to_str().expect("utf-8"), "--json"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let content = v["id"].as_str().expect("id").to_owned();
    ok(
        central,
        &planned(&[
            "plan",
            "create",
            "P1",
            "--type",
            "新取证线下考试",
            "--category",
            "安全生产管理人员",
            "--work-type",
            "主要负责人",
            "--title",
            "安全生产管理人员考试",
            "--content",
            &content,
            "--by",
            "王芳",
        ]),
    );
    let start = this_minute_cst();
    ok(
        central,
        &planned(&[
            "plan",
            "session",
            "add",
            "P1",
            "S1",
            "--site",
            "TY",
            "--rooms",
            "A",
            "--starts-at",
            &start,
            "--duration-min",
            "90",
            "--latest-login-min",
            "15",
            "--by",
            "王芳",
        ]),
    );
    let roster = fixture("roster-sample.xlsx");
    ok(
        central,
        &planned(&[
            "roster",
            "import",
            roster.to_str().expect("utf-8"),
            "--session",
            "S1",
            "--by",
            "王芳",
        ]),
    );
    ok(central, &planned(&["plan", "submit", "P1", "--by", "王芳"]));
    ok(
        central,
        &planned(&["plan", "approve", "P1", "--by", "李强"]),
    );
    let seats: serde_json::Value =
        serde_json::from_str(&ok(central, &["plan", "seats", "S1", "--json"])).expect("json");
    let credentials: Vec<(String, String)> = seats
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["admission_no"].as_str().expect("seated").to_owned(),
                r["id_number"].as_str().expect("id").to_owned(),
            )
        })
        // The site takes resident ID numbers only (see site-server's packages module).
        .filter(|(_, id)| exam_domain::IdNumber::parse(id).is_ok())
        .collect();
    assert!(credentials.len() >= 10, "{credentials:?}");
    (token, credentials)
}

fn results_received(central: &Path) -> usize {
    let out = ok(central, &["results", "status", "S1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v.as_array()
        .expect("lines")
        .iter()
        .filter(|l| l["status"] != "missing")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_session_travels_to_the_site_and_its_results_come_back_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let central_dir = dir.path().join("central");
    let site_dir = dir.path().join("site");
    let (token, credentials) = plan_a_session(&central_dir);

    let central = central_sync::api::start(&central_dir, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("central serves");
    let url = format!("https://{}", central.addr);
    let fingerprint = central.fingerprint.to_string();

    // A wrong token changes nothing; the right one enrols; the same token again is refused.
    let pass = dir.path().join("passphrase");
    std::fs::write(&pass, "correct horse battery staple").expect("write");
    let init = |token: String| {
        let (site_dir, url, fingerprint, pass) = (
            site_dir.clone(),
            url.clone(),
            fingerprint.clone(),
            pass.clone(),
        );
        tokio::task::spawn_blocking(move || {
            site_server::enrolled::init(
                &site_dir,
                &url,
                &fingerprint,
                "TY",
                &token,
                None,
                Some(&pass),
            )
        })
    };
    let wrong = init("0000-0000".into())
        .await
        .expect("task")
        .expect_err("refused");
    assert!(format!("{wrong:#}").contains("not known"), "{wrong:#}");
    assert!(!site_dir.join(site_server::central::CENTRAL_FILE).exists());
    init(token.clone()).await.expect("task").expect("enrols");
    let again = tempfile::tempdir().expect("tempdir");
    let reuse = {
        let (d, url, fp, pass) = (
            again.path().join("s"),
            url.clone(),
            fingerprint.clone(),
            pass.clone(),
        );
        tokio::task::spawn_blocking(move || {
            site_server::enrolled::init(&d, &url, &fp, "TY", &token, None, Some(&pass))
        })
        .await
        .expect("task")
        .expect_err("a token is used once")
    };
    assert!(format!("{reuse:#}").contains("used already"), "{reuse:#}");

    // The site runs: it pulls the package, gets the key (the release time has passed) and serves.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (report_tx, mut report_rx) = tokio::sync::mpsc::unbounded_channel();
    let site = tokio::spawn(run_site(
        site_dir.clone(),
        "127.0.0.1:0".parse().expect("addr"),
        None,
        Some(pass.clone()),
        Duration::from_secs(1),
        stop_rx,
        report_tx,
    ));
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match report_rx.recv().await.expect("site runs") {
                Serving::Session { id, addr } => {
                    assert_eq!(id, "S1");
                    return addr;
                }
                Serving::Waiting => {}
                Serving::Over { id } => panic!("session {id} over before it began"),
            }
        }
    })
    .await
    .expect("the site serves the session within a minute");
    // Before release nothing of the paper was in plaintext on disk; now the session store has it.
    let pin = exam_net::identity::ca_fingerprint(&site_dir).expect("LAN fingerprint");

    let n = credentials.len() as u32;
    let report = simulate::run(SimulateConfig {
        server: addr,
        pin,
        candidates: n,
        first: 0,
        think: Duration::from_millis(2),
        record: None,
        deadline: Duration::from_secs(120),
        seed: 3,
        journal_dir: None,
        credentials: Some(std::sync::Arc::new(credentials.clone())),
    })
    .await
    .expect("simulate");
    assert_eq!(
        (report.submitted, report.errors),
        (n, 0),
        "{}",
        report.summary()
    );

    // Every result arrives, once.
    let c = central_dir.clone();
    let received = tokio::time::timeout(Duration::from_secs(60), async move {
        loop {
            let c2 = c.clone();
            let got = tokio::task::spawn_blocking(move || results_received(&c2))
                .await
                .expect("task");
            if got >= n as usize {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await
    .expect("all results delivered within a minute");
    assert_eq!(received, n as usize);
    let _ = stop_tx.send(true);
    site.await.expect("task").expect("site stops cleanly");

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
