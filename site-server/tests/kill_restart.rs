//! Kills the real `site-server` binary with SIGKILL in the middle of an exam, starts it again on
//! the same data directory, and checks that every answer a candidate had acknowledged is in the
//! store and that every candidate still finishes.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use exam_client::simulate::{self, RecordedAnswer, SimulateConfig};
use site_server::store::ExportedAnswer;

const BIN: &str = env!("CARGO_BIN_EXE_site-server");

/// Starts the server and reads its address and fingerprint from what it prints.
fn start(args: &[&str]) -> (Child, SocketAddr, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("site-server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (mut addr, mut fp) = (None, None);
    while addr.is_none() || fp.is_none() {
        let Some(Ok(line)) = lines.next() else {
            panic!("site-server exited before it was ready")
        };
        if let Some(a) = line.strip_prefix("listening on ") {
            addr = a.trim().parse().ok();
        }
        if let Some(f) = line.strip_prefix("fingerprint ") {
            fp = Some(f.trim().to_owned());
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr.expect("addr"), fp.expect("fingerprint"))
}

fn count_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn sigkill_mid_exam_loses_no_acknowledged_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("site");
    let data_s = data.to_str().expect("utf-8 path");
    let record = dir.path().join("acks.jsonl");
    let (mut server, addr, fp) = start(&[
        "demo",
        "--data",
        data_s,
        "--listen",
        "127.0.0.1:0",
        "--candidates",
        "60",
        "--start-in",
        "0",
        "--grace-secs",
        "30",
    ]);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let sim = rt.spawn(simulate::run(SimulateConfig {
        server: addr,
        pin: fp.parse().expect("fingerprint"),
        candidates: 50,
        first: 0,
        think: Duration::from_millis(20),
        record: Some(record.clone()),
        deadline: Duration::from_secs(240),
        seed: 3,
        journal_dir: Some(dir.path().join("journals")),
    }));

    // Let the exam get going, then pull the plug: no clean shutdown, no flush.
    let t = Instant::now();
    while count_lines(&record) < 800 {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "candidates made no progress"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill().expect("SIGKILL");
    server.wait().expect("reaped");
    let acked_before_kill = count_lines(&record);

    // Same data, same address. The candidates reconnect and finish.
    let t = Instant::now();
    let (mut server, _, fp2) = loop {
        let mut probe = Command::new(BIN)
            .args(["run", "--data", data_s, "--listen", &addr.to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(300));
        let exited = probe.try_wait().expect("status").is_some();
        let _ = probe.kill();
        let _ = probe.wait();
        if !exited {
            break start(&["run", "--data", data_s, "--listen", &addr.to_string()]);
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the port did not come free"
        );
    };
    assert_eq!(fp2, fp, "a restart keeps the site identity");

    let report = rt.block_on(sim).expect("join").expect("simulate");
    assert_eq!(
        (report.submitted, report.errors),
        (50, 0),
        "{}",
        report.summary()
    );
    server.kill().expect("kill");
    server.wait().expect("reaped");

    let out = Command::new(BIN)
        .args(["export-answers", "--data", data_s])
        .output()
        .expect("export");
    assert!(out.status.success());
    let stored: std::collections::BTreeMap<(String, u64), ExportedAnswer> =
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str::<ExportedAnswer>(l).expect("json"))
            .map(|a| ((a.admission_no.clone(), a.seq), a))
            .collect();
    let recorded: Vec<RecordedAnswer> = std::fs::read_to_string(&record)
        .expect("record")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert!(acked_before_kill >= 800 && recorded.len() > acked_before_kill);
    for (i, r) in recorded.iter().enumerate() {
        let s = stored.get(&(r.admission_no.clone(), r.seq));
        assert!(
            s.is_some_and(|s| s.item_id == r.item_id && s.response == r.response),
            "acknowledged change #{i} ({}before the kill) is not in the store: {r:?}",
            if i < acked_before_kill { "" } else { "not " }
        );
    }
}
