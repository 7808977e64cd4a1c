//! The round trip from the authority to a site and back, for real: the clerk's commands (the
//! `central-sync` binary) plan a session, central serves its HTTPS API, a site enrols over it,
//! pulls the signed package, gets the paper key, simulated candidates sit the exam over QUIC, and
//! the sealed results come back, verified and scored exactly once.

mod common;

use std::time::Duration;

use common::{ok, plan_a_session, results_received};
use exam_client::simulate::{self, SimulateConfig};
use site_server::enrolled::{Serving, run_site};

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
