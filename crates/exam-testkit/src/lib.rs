//! `exam-testkit`: helpers for tests only. A real site server on loopback port 0 in a temporary
//! data directory ([`TestSite`]), and readers of what it stored.
//!
//! It is a dev-dependency only and must never be used by a shipped binary.

use std::net::SocketAddr;
use std::path::Path;

use exam_crypto::Fingerprint;
use site_server::server::{self, RunningSite};
use site_server::store::{self, ExportedAnswer};

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
