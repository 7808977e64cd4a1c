//! The real `exam-client` process under faults: killed with SIGKILL in the middle of writing its
//! journals and started again (every change it journaled reaches the site), and traced with
//! `strace` to prove every change is fsynced before it counts (a test that fails if the journal
//! stops syncing). The site runs in this test process, on loopback.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use exam_candidate::Journal;
use exam_client::journal::FileStorage;
use exam_client::simulate::RecordedAnswer;
use site_server::store::ExportedAnswer;

const BIN: &str = env!("CARGO_BIN_EXE_exam-client");

struct Site {
    dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    site: Option<site_server::server::RunningSite>,
    /// While set, the site's store fails as on a full disk: changes wait in the journals.
    disk_full: Arc<AtomicBool>,
}

impl Site {
    fn demo(candidates: u32) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        site_server::demo::prepare(dir.path(), candidates, 0, 60).expect("demo");
        let disk_full = Arc::new(AtomicBool::new(false));
        let store = site_server::writer::DiskFullSwitch::new(
            site_server::store::open_writer(dir.path(), false).expect("store"),
            disk_full.clone(),
        );
        let site = rt
            .block_on(async {
                let endpoint = site_server::server::bind(dir.path(), "127.0.0.1:0".parse()?)?;
                site_server::server::start_on(dir.path(), endpoint, Box::new(store), None).await
            })
            .expect("site");
        Self {
            dir,
            rt,
            site: Some(site),
            disk_full,
        }
    }

    fn args(&self) -> Vec<String> {
        let s = self.site.as_ref().expect("running");
        vec![
            "simulate".into(),
            "--server".into(),
            s.addr.to_string(),
            "--ca-fingerprint".into(),
            s.fingerprint.to_string(),
        ]
    }

    fn stored(&self) -> BTreeMap<(String, u64), ExportedAnswer> {
        let conn = site_server::store::open_reader(self.dir.path()).expect("open");
        let mut out = BTreeMap::new();
        site_server::store::for_each_answer(&conn, |a| {
            out.insert((a.admission_no.clone(), a.seq), a);
            Ok(())
        })
        .expect("export");
        out
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(s) = self.site.take() {
            let _ = self.rt.block_on(s.stop());
        }
    }
}

fn simulate(site: &Site, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(site.args())
        .args(extra)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    c
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn read_record(path: &Path) -> Vec<RecordedAnswer> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // A killed process may leave a torn last line.
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Every journal under `root` (one directory per simulated machine): name → pending changes.
fn journals(root: &Path, pin: &str) -> BTreeMap<String, Vec<exam_candidate::journal::Change>> {
    let mut out = BTreeMap::new();
    let Ok(dirs) = std::fs::read_dir(root) else {
        return out;
    };
    for d in dirs.flatten() {
        for f in std::fs::read_dir(d.path()).expect("dir").flatten() {
            let name = f.file_name().to_string_lossy().to_string();
            let Some(stem) = name.strip_suffix(".journal") else {
                continue;
            };
            let (j, scan) = Journal::open(FileStorage::new(&d.path()), stem);
            scan.expect("journal readable");
            let who = stem
                .strip_prefix(&format!("{}-", &pin[..16]))
                .unwrap_or(stem)
                .to_owned();
            out.insert(who, j.state().pending.values().cloned().collect());
        }
    }
    out
}

#[test]
fn a_client_killed_mid_write_delivers_every_journaled_change_after_a_restart() {
    let site = Site::demo(12);
    let pin = site.site.as_ref().expect("site").fingerprint.to_string();
    let work = tempfile::tempdir().expect("tempdir");
    let journals_dir: PathBuf = work.path().join("journals");
    let (rec1, rec2) = (
        work.path().join("acks1.jsonl"),
        work.path().join("acks2.jsonl"),
    );
    let common = [
        "--candidates",
        "10",
        "--think-ms",
        "40",
        "--deadline-secs",
        "120",
    ];
    let mut first: Child = simulate(&site, &common)
        .args(["--journal-dir", journals_dir.to_str().expect("utf-8")])
        .args(["--record", rec1.to_str().expect("utf-8")])
        .spawn()
        .expect("exam-client runs");
    let t = Instant::now();
    while lines(&rec1) < 150 {
        assert!(t.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The site stops taking answers for a moment: changes pile up in the journals, and the
    // process is killed while it is writing them.
    site.disk_full.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(1_500));
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    site.disk_full.store(false, Ordering::SeqCst);
    let left = journals(&journals_dir, &pin);
    assert_eq!(left.len(), 10, "one journal per candidate");
    let pending: usize = left.values().map(Vec::len).sum();
    assert!(
        pending >= 10,
        "changes were waiting in the journals at the kill: {pending}"
    );

    // The same machines start again: each candidate logs in, resends its journal, and finishes.
    let status = simulate(&site, &common)
        .args(["--journal-dir", journals_dir.to_str().expect("utf-8")])
        .args(["--record", rec2.to_str().expect("utf-8")])
        .status()
        .expect("exam-client runs again");
    assert!(status.success(), "the restarted client finishes the exam");

    let stored = site.stored();
    for r in read_record(&rec1).iter().chain(read_record(&rec2).iter()) {
        let s = stored.get(&(r.admission_no.clone(), r.seq));
        assert!(
            s.is_some_and(|s| s.item_id == r.item_id && s.response == r.response),
            "acknowledged change not stored: {r:?}"
        );
    }
    // What the killed process had journaled and not seen acknowledged reached the site, under
    // its number or (if the site never saw that number) renumbered: the content is stored.
    for (who, changes) in &left {
        for c in changes {
            let found = stored.values().any(|s| {
                &s.admission_no == who && s.item_id == c.item.as_str() && s.response == c.response
            });
            assert!(
                found,
                "journaled change of {who} never reached the site: {c:?}"
            );
        }
    }
    let after = journals(&journals_dir, &pin);
    assert!(
        after.values().all(Vec::is_empty),
        "every journal drained: {after:?}"
    );
    eprintln!("{pending} changes were pending in the journals at the kill; all delivered");
}

/// How many `fsync`/`fdatasync` calls `trace` shows on files whose path ends with `suffix`.
fn syncs_on(trace: &str, suffix: &str) -> usize {
    trace
        .lines()
        .filter(|l| l.contains("fsync(") || l.contains("fdatasync("))
        .filter(|l| {
            l.split('<')
                .nth(1)
                .and_then(|p| p.split('>').next())
                .is_some_and(|p| p.ends_with(suffix))
        })
        .count()
}

#[test]
fn every_journaled_change_is_fsynced_before_it_is_acknowledged() {
    let site = Site::demo(6);
    let work = tempfile::tempdir().expect("tempdir");
    let trace = work.path().join("strace.txt");
    let record = work.path().join("acks.jsonl");
    let status = Command::new("strace")
        .args(["-f", "-y", "-qq", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(&trace)
        .arg(BIN)
        .args(site.args())
        .args([
            "--candidates",
            "5",
            "--think-ms",
            "5",
            "--deadline-secs",
            "120",
        ])
        .args([
            "--journal-dir",
            work.path().join("j").to_str().expect("utf-8"),
        ])
        .args(["--record", record.to_str().expect("utf-8")])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .status()
        .expect("strace runs (deploy/dev/install-deps.sh installs it)");
    assert!(status.success(), "the traced client finished");
    let acked = lines(&record);
    let text = std::fs::read_to_string(&trace).expect("trace");
    let synced = syncs_on(&text, ".journal");
    assert!(acked >= 5 * 70, "every item answered: {acked}");
    assert!(
        synced >= acked,
        "{acked} changes acknowledged but only {synced} fsyncs of the journals: the journal is not synced before it sends"
    );
}
