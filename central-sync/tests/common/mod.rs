//! What the end-to-end tests share: the clerk's commands (the `central-sync` binary), a planned
//! session, enrolment of a site and running it.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use site_server::enrolled::{Serving, run_site};

pub const BIN: &str = env!("CARGO_BIN_EXE_central-sync");

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures")
        .join(rel)
}

pub fn run(data: &Path, args: &[&str]) -> (bool, String, String) {
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

pub fn ok(data: &Path, args: &[&str]) -> String {
    let (ok, out, err) = run(data, args);
    assert!(ok, "{args:?} failed: {err}");
    out
}

/// The clerk's day before: a week ago, everything planned for a session that starts this minute.
pub const PLANNED_AT: [&str; 2] = ["--now", "2026-11-20 10:00"];

pub fn planned<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(PLANNED_AT);
    v
}

pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// This minute in China Standard Time, as a plan takes it.
pub fn this_minute_cst() -> String {
    exam_domain::cst::format_cst(now_unix_ms())
}

/// Adds site `code` with room `A`; returns its enrolment token.
pub fn add_site(central: &Path, code: &str, name: &str) -> String {
    let out = ok(central, &["site", "add", code, name]);
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
            code,
            "A",
            "--name",
            "第一考场",
            "--capacity",
            "150",
        ]),
    );
    token
}

/// Imports the sample content; returns its id.
pub fn import_content(central: &Path) -> String {
    let pkg = fixture("qti21-sample.zip");
    let out = ok(
        central,
        &["content", "import", pkg.to_str().expect("utf-8"), "--json"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v["id"].as_str().expect("id").to_owned()
}

/// Plans `plan` with one session `session` at `site` starting `start` (CST) with the sample
/// roster, submitted and approved.
pub fn plan_session(central: &Path, plan: &str, session: &str, site: &str, start: &str) {
    let content = import_content(central);
    ok(
        central,
        &planned(&[
            "plan",
            "create",
            plan,
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
    ok(
        central,
        &planned(&[
            "plan",
            "session",
            "add",
            plan,
            session,
            "--site",
            site,
            "--rooms",
            "A",
            "--starts-at",
            start,
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
            session,
            "--by",
            "王芳",
        ]),
    );
    ok(central, &planned(&["plan", "submit", plan, "--by", "王芳"]));
    ok(
        central,
        &planned(&["plan", "approve", plan, "--by", "李强"]),
    );
}

/// The seated candidates of `session` the site takes (resident ID numbers only, see
/// site-server's packages module): `(admission number, ID number)`.
pub fn seated(central: &Path, session: &str) -> Vec<(String, String)> {
    let seats: serde_json::Value =
        serde_json::from_str(&ok(central, &["plan", "seats", session, "--json"])).expect("json");
    seats
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["admission_no"].as_str().expect("seated").to_owned(),
                r["id_number"].as_str().expect("id").to_owned(),
            )
        })
        .filter(|(_, id)| exam_domain::IdNumber::parse(id).is_ok())
        .collect()
}

/// Plans session `S1` at site `TY` with the sample content and roster, approved. Returns the
/// site's enrolment token and the seated candidates' credentials.
pub fn plan_a_session(central: &Path) -> (String, Vec<(String, String)>) {
    ok(central, &["init"]);
    let token = add_site(central, "TY", "太原考点");
    plan_session(central, "P1", "S1", "TY", &this_minute_cst());
    let credentials = seated(central, "S1");
    assert!(credentials.len() >= 10, "{credentials:?}");
    (token, credentials)
}

/// The lines of `results status S1 --json`.
pub fn results_status(central: &Path) -> Vec<serde_json::Value> {
    let out = ok(central, &["results", "status", "S1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v.as_array().expect("lines").clone()
}

pub fn results_received(central: &Path) -> usize {
    results_status(central)
        .iter()
        .filter(|l| l["status"] != "missing")
        .count()
}

/// Writes a CA passphrase file for sites under `dir`.
pub fn passphrase_file(dir: &Path) -> PathBuf {
    let pass = dir.join("passphrase");
    std::fs::write(&pass, "correct horse battery staple").expect("write");
    pass
}

/// `site-server init --central …` of `site` into `site_dir` at `central` (off the async threads).
pub async fn enrol(
    site_dir: &Path,
    central: &central_sync::api::RunningCentral,
    site: &str,
    token: &str,
    pass: &Path,
) -> anyhow::Result<()> {
    let url = format!("https://{}", central.addr);
    init_site(
        site_dir,
        &url,
        &central.fingerprint.to_string(),
        site,
        token,
        pass,
    )
    .await
}

/// `site-server init --central URL --central-fingerprint FP …` (off the async threads).
pub async fn init_site(
    site_dir: &Path,
    url: &str,
    fingerprint: &str,
    site: &str,
    token: &str,
    pass: &Path,
) -> anyhow::Result<()> {
    let (site_dir, url, fingerprint, site, token, pass) = (
        site_dir.to_path_buf(),
        url.to_owned(),
        fingerprint.to_owned(),
        site.to_owned(),
        token.to_owned(),
        pass.to_path_buf(),
    );
    tokio::task::spawn_blocking(move || {
        site_server::enrolled::init(
            &site_dir,
            &url,
            &fingerprint,
            &site,
            &token,
            None,
            Some(&pass),
        )
    })
    .await
    .expect("task")
}

/// A site running ([`run_site`]) and serving its session.
pub struct RunningSite {
    pub addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningSite {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        self.task.await.expect("task").expect("site stops cleanly");
    }
}

/// Runs the enrolled site in `site_dir` until it serves session `S1` (within a minute).
pub async fn run_site_until_serving(
    site_dir: &Path,
    pass: &Path,
    uplink_every: Duration,
) -> RunningSite {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (report_tx, mut report_rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(run_site(
        site_dir.to_path_buf(),
        "127.0.0.1:0".parse().expect("addr"),
        None,
        Some(pass.to_path_buf()),
        uplink_every,
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
    RunningSite {
        addr,
        stop: stop_tx,
        task,
    }
}

/// Plays the first `n` of `credentials` against the site at `addr`; all must submit.
pub async fn sit(site_dir: &Path, addr: SocketAddr, credentials: &[(String, String)], n: u32) {
    let pin = exam_net::identity::ca_fingerprint(site_dir).expect("LAN fingerprint");
    let report = exam_client::simulate::run(exam_client::simulate::SimulateConfig {
        server: addr,
        pin,
        candidates: n,
        first: 0,
        think: Duration::from_millis(2),
        record: None,
        deadline: Duration::from_secs(120),
        seed: 3,
        journal_dir: None,
        credentials: Some(std::sync::Arc::new(credentials.to_vec())),
    })
    .await
    .expect("simulate");
    assert_eq!(
        (report.submitted, report.errors),
        (n, 0),
        "{}",
        report.summary()
    );
}

/// Waits (up to `limit`) until `results status S1` shows at least `n` received.
pub async fn wait_received(central: &Path, n: usize, limit: Duration) -> usize {
    let c = central.to_path_buf();
    tokio::time::timeout(limit, async move {
        loop {
            let c2 = c.clone();
            let got = tokio::task::spawn_blocking(move || results_received(&c2))
                .await
                .expect("task");
            if got >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{n} results delivered within {limit:?}"))
}

/// Waits (up to a minute) until the site's uplink reports `n` results delivered, none waiting
/// and none refused.
pub async fn wait_delivered(site_dir: &Path, n: u32) {
    let s = site_dir.to_path_buf();
    tokio::time::timeout(Duration::from_secs(60), async move {
        loop {
            if let Some(u) = site_server::uplink::UplinkStatus::read(&s)
                && u.delivered == u64::from(n)
            {
                assert_eq!((u.waiting, u.refused), (0, 0), "{u:?}");
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the site sees every result delivered");
}

/// Central starts again where it was (`dir`, `addr`); the site's uplink delivers all `n` of its
/// results; both stop. Central then holds exactly `n` results and refused none.
pub async fn central_back_and_every_result_delivered_once(
    dir: &Path,
    addr: SocketAddr,
    site: RunningSite,
    site_dir: &Path,
    n: u32,
) {
    let central = central_sync::api::start(dir, addr)
        .await
        .expect("central serves again");
    wait_received(dir, n as usize, Duration::from_secs(120)).await;
    wait_delivered(site_dir, n).await;
    site.stop().await;
    central.stop().await;
    let conn = central_sync::store::open(dir).expect("store");
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).expect("count") };
    assert_eq!(
        (
            count("SELECT count(*) FROM results"),
            count("SELECT count(*) FROM result_rejections")
        ),
        (i64::from(n), 0)
    );
}
