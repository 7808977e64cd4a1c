//! The round trip from the authority to a site and back, for real: the clerk's commands (the
//! `central-sync` binary) plan a session, central serves its HTTPS API, a site enrols over it,
//! pulls the signed package, gets the paper key, simulated candidates sit the exam over QUIC, and
//! the sealed results come back, verified and scored exactly once.

mod common;

use std::time::Duration;

use common::{
    ok, passphrase_file, plan_a_session, results_received, run_site_until_serving, sit,
    wait_received,
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

    // A wrong token changes nothing; the right one enrols; the same token again is refused.
    let pass = passphrase_file(dir.path());
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
