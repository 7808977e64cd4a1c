//! `exam-testkit`: helpers for tests only. A real site server on loopback port 0 in a temporary
//! data directory ([`TestSite`]), and readers of what it stored.
//!
//! It is a dev-dependency only and must never be used by a shipped binary.

use std::net::SocketAddr;
use std::path::Path;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use exam_client::simulate::RecordedAnswer;
use exam_crypto::Fingerprint;
use site_server::server::{self, RunningSite};
use site_server::store::{self, ExportedAnswer};
use site_server::writer::DiskFullSwitch;

/// A demo site in a temporary directory, served on 127.0.0.1 with an ephemeral port.
pub struct TestSite {
    pub dir: tempfile::TempDir,
    pub site: RunningSite,
}

impl TestSite {
    /// A new demo site with `candidates` demo candidates, starting in `start_in_secs`.
    pub async fn demo(
        candidates: u32,
        start_in_secs: u64,
        grace_secs: u32,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        site_server::demo::prepare(dir.path(), candidates, start_in_secs, grace_secs)?;
        let site = server::start(dir.path(), "127.0.0.1:0".parse()?).await?;
        Ok(Self { dir, site })
    }

    /// A demo site whose store can be made to fail as on a full disk: set the returned switch
    /// and SQLite refuses to grow `site.db` (its real "disk full" error) until it is cleared.
    pub async fn demo_with_disk_switch(
        candidates: u32,
        start_in_secs: u64,
        grace_secs: u32,
    ) -> anyhow::Result<(Self, Arc<AtomicBool>)> {
        let dir = tempfile::tempdir()?;
        site_server::demo::prepare(dir.path(), candidates, start_in_secs, grace_secs)?;
        let full = Arc::new(AtomicBool::new(false));
        let store = DiskFullSwitch::new(store::open_writer(dir.path(), false)?, full.clone());
        let endpoint = server::bind(dir.path(), "127.0.0.1:0".parse()?)?;
        let site = server::start_on(dir.path(), endpoint, Box::new(store), None).await?;
        Ok((Self { dir, site }, full))
    }

    pub fn addr(&self) -> SocketAddr {
        self.site.addr
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.site.fingerprint
    }
}

/// Every answer change stored in the site in `dir`, read through a read-only connection.
pub fn stored_answers(dir: &Path) -> anyhow::Result<Vec<ExportedAnswer>> {
    let conn = store::open_reader(dir)?;
    let mut out = Vec::new();
    store::for_each_answer(&conn, |a| {
        out.push(a);
        Ok(())
    })?;
    Ok(out)
}

/// Reads a `--record` file of acknowledged changes (a torn last line, from a killed process, is
/// left out).
pub fn read_record(path: &Path) -> anyhow::Result<Vec<RecordedAnswer>> {
    let text = std::fs::read_to_string(path)?;
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(r) => out.push(r),
            Err(_) if i + 1 == lines.len() => {}
            Err(e) => anyhow::bail!("line {} of {}: {e}", i + 1, path.display()),
        }
    }
    Ok(out)
}

/// Checks that every acknowledged change recorded in `record` is stored, with its content, in the
/// site in `dir`. Returns how many were checked.
pub fn assert_acknowledged_are_stored(dir: &Path, record: &Path) -> anyhow::Result<usize> {
    let stored: BTreeMap<(String, u64), ExportedAnswer> = stored_answers(dir)?
        .into_iter()
        .map(|a| ((a.admission_no.clone(), a.seq), a))
        .collect();
    let recorded = read_record(record)?;
    for r in &recorded {
        let Some(s) = stored.get(&(r.admission_no.clone(), r.seq)) else {
            anyhow::bail!("acknowledged change is not in the store: {r:?}");
        };
        anyhow::ensure!(
            s.item_id == r.item_id && s.response == r.response && s.refused.is_none(),
            "acknowledged change {r:?} is stored differently: {s:?}"
        );
    }
    Ok(recorded.len())
}
