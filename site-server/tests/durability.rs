//! A test that fails if the site stops making answers durable before acknowledging them: the
//! real `site-server` runs under `strace`, candidates answer, and every commit must have synced
//! the write-ahead log (SQLite `synchronous=FULL`; with `NORMAL` the WAL is synced only at
//! checkpoints, and a power cut could lose acknowledged answers that a SIGKILL never would).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use exam_client::simulate::{self, SimulateConfig};

const BIN: &str = env!("CARGO_BIN_EXE_site-server");

#[test]
fn every_commit_syncs_the_write_ahead_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("site");
    let trace = dir.path().join("strace.txt");
    let mut server = Command::new("strace")
        .args(["-f", "-y", "-qq", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(&trace)
        .arg(BIN)
        .args(["demo", "--data"])
        .arg(&data)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--candidates",
            "10",
            "--start-in",
            "0",
        ])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .expect("strace runs (deploy/dev/install-deps.sh installs it)");
    let (addr, fp) = common::wait_ready(&mut server);
    // Stops the traced server however the test ends, a failed assertion included.
    let traced = Traced(server);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let report = rt
        .block_on(simulate::run(SimulateConfig {
            server: addr,
            pin: fp.parse().expect("fingerprint"),
            candidates: 5,
            first: 0,
            // Answers spread over time: many small commits rather than a few big ones.
            think: Duration::from_millis(20),
            record: None,
            deadline: Duration::from_secs(120),
            seed: 9,
            journal_dir: None,
            credentials: None,
        }))
        .expect("simulate");
    assert_eq!(report.submitted, 5, "{}", report.summary());
    drop(traced);
    let text = std::fs::read_to_string(&trace).expect("trace");
    let wal_syncs = text
        .lines()
        .filter(|l| l.contains("fsync(") || l.contains("fdatasync("))
        .filter(|l| l.contains("site.db-wal>"))
        .count();
    // Hundreds of changes, acknowledged in many commits: each commit syncs the WAL. Without
    // synchronous=FULL this count is a handful (checkpoints only).
    assert!(
        wal_syncs >= 50,
        "{} changes acknowledged but the write-ahead log was synced only {wal_syncs} times",
        report.acknowledged
    );
}

/// `strace` and the site server it traces. Killing strace alone would detach the server and leave
/// it running: the tracee (strace's only child) is stopped first.
struct Traced(std::process::Child);

impl Drop for Traced {
    fn drop(&mut self) {
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.0.id()))
            .unwrap_or_default();
        for pid in children.split_whitespace() {
            let _ = Command::new("kill").args(["-9", pid]).status();
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
