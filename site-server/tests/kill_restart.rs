//! Kills the real `site-server` binary with SIGKILL again and again while candidates save
//! (in-process simulated candidates with fsynced journals), starts it again on the same data and
//! port each time, and checks that every change a candidate had acknowledged is in the store.
//!
//! `EXAM_KILL_CYCLES` sets the number of kills (10 by default; `deploy/dev/kill-loop.sh N` runs
//! N in release). Every ten kills a fresh site and a fresh set of candidates start, so that each
//! kill lands in the middle of an exam.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use exam_client::simulate::{self, RecordedAnswer, SimulateConfig};
use exam_domain::rng::SplitMix64;
use site_server::store::ExportedAnswer;

const BIN: &str = env!("CARGO_BIN_EXE_site-server");
const KILLS_PER_SITE: usize = 10;

/// The server process, killed when dropped (so that a failing test leaves none behind).
struct Server(Child);

impl Server {
    fn sigkill(&mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().expect("reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the server and reads its address and fingerprint from what it prints.
fn start(args: &[&str]) -> (Server, SocketAddr, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("site-server starts");
    let (addr, fp) = common::wait_ready(&mut child);
    (Server(child), addr, fp)
}

fn count_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn cycles() -> usize {
    std::env::var("EXAM_KILL_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

#[test]
fn sigkill_again_and_again_loses_no_acknowledged_answer() {
    let total = cycles();
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut rng = SplitMix64::new(0x6b11);
    let (mut done, mut checked, mut round) = (0usize, 0usize, 0u64);
    while done < total {
        let (c, kills) = one_site(&rt, &mut rng, round, KILLS_PER_SITE.min(total - done));
        checked += c;
        done += kills;
        round += 1;
        eprintln!(
            "kill loop: {done}/{total} kills, {checked} acknowledged changes checked, 0 lost, {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "kill loop: {total} SIGKILLs of the site server, {checked} acknowledged changes checked, 0 lost, in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

/// One site through up to `kills` SIGKILLs (fewer if every candidate has submitted before);
/// returns how many acknowledged changes were checked and how many kills there were.
fn one_site(
    rt: &tokio::runtime::Runtime,
    rng: &mut SplitMix64,
    round: u64,
    kills: usize,
) -> (usize, usize) {
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
        "40",
        "--start-in",
        "0",
        "--grace-secs",
        "60",
    ]);
    let sim = rt.spawn(simulate::run(SimulateConfig {
        server: addr,
        pin: fp.parse().expect("fingerprint"),
        candidates: 30,
        first: 0,
        // Long enough that the candidates are still answering at the tenth kill.
        think: Duration::from_millis(300),
        record: Some(record.clone()),
        deadline: Duration::from_secs(600),
        seed: round,
        journal_dir: Some(dir.path().join("journals")),
        credentials: None,
    }));
    let mut killed = 0;
    'kills: for kill in 0..kills {
        // Let answers flow for a while, then pull the plug: no clean shutdown, no flush.
        let wait = Duration::from_millis(300 + rng.below(1_500));
        let t = Instant::now();
        let before = count_lines(&record);
        while t.elapsed() < wait || count_lines(&record) == before {
            if sim.is_finished() {
                break 'kills;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "candidates made no progress in 60 s after kill {kill} of site {round} \
                 ({before} changes acknowledged so far)"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server.sigkill();
        let (next, _, fp2) = start(&["run", "--data", data_s, "--listen", &addr.to_string()]);
        assert_eq!(fp2, fp, "a restart keeps the site identity");
        server = next;
        killed += 1;
    }
    let report = rt.block_on(sim).expect("join").expect("simulate");
    assert_eq!(
        (report.submitted, report.errors),
        (30, 0),
        "{}",
        report.summary()
    );
    server.sigkill();
    (assert_acknowledged_are_exported(&data, &record), killed)
}

/// Compares every acknowledged change recorded by the candidates with what `export-answers`
/// prints; returns how many were checked.
fn assert_acknowledged_are_exported(data: &Path, record: &Path) -> usize {
    let out = Command::new(BIN)
        .args(["export-answers", "--data"])
        .arg(data)
        .output()
        .expect("export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored: BTreeMap<(String, u64), ExportedAnswer> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str::<ExportedAnswer>(l).expect("json"))
        .map(|a| ((a.admission_no.clone(), a.seq), a))
        .collect();
    let recorded: Vec<RecordedAnswer> = std::fs::read_to_string(record)
        .expect("record")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    for r in &recorded {
        let s = stored.get(&(r.admission_no.clone(), r.seq));
        assert!(
            s.is_some_and(|s| s.item_id == r.item_id
                && s.response == r.response
                && s.refused.is_none()),
            "acknowledged change is not in the store: {r:?} (stored: {s:?})"
        );
    }
    recorded.len()
}
