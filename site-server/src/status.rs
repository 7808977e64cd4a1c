//! The site's status as an operator reads it (`site-server status`): the running server rewrites
//! `status.json` in its data directory every few seconds (atomically), and the command reads it.
//! A file older than [`STALE_AFTER`] means the server is not running (or is stuck).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::limits::{DISK_CRITICAL_FREE_BYTES, DISK_WARN_FREE_BYTES, STATUS_EVERY};
use crate::store::unix_ms;

pub const STATUS_FILE: &str = "status.json";
/// A status this old was not written by a running server.
pub const STALE_AFTER: Duration = Duration::from_secs(5 * STATUS_EVERY.as_secs());

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    #[serde(skip)]
    dir: PathBuf,
    pub pid: u32,
    pub updated_unix_ms: i64,
    pub started_unix_ms: i64,
    /// Why the site does not take answers, while it does not.
    pub degraded: Option<String>,
    pub session_started: bool,
    pub connections: usize,
    pub logged_in: usize,
    pub store_backlog_ops: usize,
    pub commits: u64,
    pub failed_commits: u64,
    pub last_error: Option<String>,
    pub alarms: u64,
    /// Saves acknowledged since the server started.
    pub saves_acknowledged: u64,
    /// From a save's arrival at the site to its acknowledgement (committed), over the last
    /// status interval; `None` when no save was acknowledged in it.
    pub ack_latency: Option<AckLatency>,
    pub disk_free_bytes: Option<u64>,
    /// The server stopped cleanly.
    pub stopped: bool,
}

/// Acknowledgement latencies over one status interval, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckLatency {
    pub count: usize,
    pub p50_ms: u32,
    pub p99_ms: u32,
    pub max_ms: u32,
}

impl AckLatency {
    /// The figures of `ms` (reordered in place); `None` for no latencies.
    pub fn of(ms: &mut [u32]) -> Option<Self> {
        ms.sort_unstable();
        let at = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
        (!ms.is_empty()).then(|| Self {
            count: ms.len(),
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        })
    }
}

impl Status {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            pid: std::process::id(),
            started_unix_ms: unix_ms(),
            ..Self::default()
        }
    }

    /// Checks the free space of the data disk (warning in the log when it runs low), then writes
    /// the status file atomically. Returns the free space. Blocking: run it off the event loop.
    pub fn write_and_check_disk(mut self) -> Option<u64> {
        self.disk_free_bytes = disk_free_bytes(&self.dir);
        match self.disk_free_bytes {
            Some(free) if free < DISK_CRITICAL_FREE_BYTES => tracing::error!(
                free_mib = free / (1024 * 1024),
                dir = %self.dir.display(),
                "the data disk is almost full: answers will stop being stored; free space now"
            ),
            Some(free) if free < DISK_WARN_FREE_BYTES => tracing::warn!(
                free_mib = free / (1024 * 1024),
                dir = %self.dir.display(),
                "the data disk is running low; free space before the exam goes on"
            ),
            _ => {}
        }
        self.updated_unix_ms = unix_ms();
        let path = self.dir.join(STATUS_FILE);
        let tmp = self.dir.join("status.json.tmp");
        let written = serde_json::to_vec_pretty(&self)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::warn!(error = %e, path = %path.display(), "could not write the status file");
        }
        self.disk_free_bytes
    }

    /// Reads the status file of the site in `dir`.
    pub fn read(dir: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(dir.join(STATUS_FILE))?;
        let mut s: Status = serde_json::from_slice(&bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        s.dir = dir.to_path_buf();
        Ok(s)
    }

    /// Whether a running server wrote this lately.
    pub fn is_live(&self) -> bool {
        !self.stopped
            && unix_ms().saturating_sub(self.updated_unix_ms) < STALE_AFTER.as_millis() as i64
    }
}

#[cfg(unix)]
fn disk_free_bytes(dir: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

#[cfg(not(unix))]
fn disk_free_bytes(_dir: &Path) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgement_latency_figures() {
        assert_eq!(AckLatency::of(&mut []), None);
        let mut ms: Vec<u32> = (1..=100).rev().collect();
        let a = AckLatency::of(&mut ms).expect("figures");
        assert_eq!((a.count, a.p50_ms, a.p99_ms, a.max_ms), (100, 51, 99, 100));
        assert_eq!(AckLatency::of(&mut [7]).map(|a| a.p99_ms), Some(7));
    }
}
