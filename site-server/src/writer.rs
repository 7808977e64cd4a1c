//! The one writer thread: takes batches of engine operations, commits everything that queued up
//! meanwhile in one transaction (group commit), and only then reports them committed. A commit
//! that fails is reported at once (the site goes into its degraded state), retried with backoff,
//! and its recovery reported: nothing is acknowledged meanwhile, and nothing is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use exam_site_core::StoreOp;
use rusqlite::Connection;
use tokio::sync::mpsc;

use crate::limits::{GROUP_COMMIT_OPS_MAX, SLOW_COMMIT_MS, WRITER_QUEUE_MAX};
use crate::store;

/// Longest wait between two tries of a failing commit.
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Figures about group commit, for logs and benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriterStats {
    pub commits: u64,
    pub ops: u64,
    pub failed_commits: u64,
}

/// What the writer tells the shell.
#[derive(Debug)]
pub enum WriterReport {
    /// These operations are durable, in the order they were given.
    Committed(Vec<StoreOp>),
    /// A commit failed (it will be tried again); `why` says what the store said.
    Failing(String),
    /// Commits work again.
    Recovered,
}

/// Where the writer commits: the site's SQLite file, or a test double around it.
pub trait Commit: Send {
    fn commit(&mut self, ops: &[StoreOp]) -> Result<(), String>;
}

impl Commit for Connection {
    fn commit(&mut self, ops: &[StoreOp]) -> Result<(), String> {
        store::apply(self, ops, None).map_err(|e| e.to_string())
    }
}

/// The store of a session from central: every submission is sealed into the outbox in its own
/// transaction.
pub struct SealingStore {
    pub conn: Connection,
    pub sealer: crate::sealing::Sealer,
}

impl Commit for SealingStore {
    fn commit(&mut self, ops: &[StoreOp]) -> Result<(), String> {
        store::apply(&mut self.conn, ops, Some(&self.sealer)).map_err(|e| e.to_string())
    }
}

/// The site's store with a switch that fills its "disk": while it is on, SQLite itself refuses
/// to grow the file (`PRAGMA max_page_count`), so commits fail with SQLite's real "database or
/// disk is full" error and roll back, as on a full disk. For fault tests.
pub struct DiskFullSwitch {
    conn: Connection,
    full: Arc<AtomicBool>,
    applied: bool,
}

impl DiskFullSwitch {
    pub fn new(conn: Connection, full: Arc<AtomicBool>) -> Self {
        Self {
            conn,
            full,
            applied: false,
        }
    }
}

impl Commit for DiskFullSwitch {
    fn commit(&mut self, ops: &[StoreOp]) -> Result<(), String> {
        let full = self.full.load(Ordering::SeqCst);
        if full != self.applied {
            let pages: i64 = if full {
                self.conn
                    .query_row("PRAGMA page_count", [], |r| r.get(0))
                    .map_err(|e| e.to_string())?
            } else {
                i64::from(i32::MAX)
            };
            self.conn
                .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(|e| e.to_string())?;
            self.applied = full;
        }
        store::apply(&mut self.conn, ops, None).map_err(|e| e.to_string())
    }
}

/// Starts the writer thread. Reports come back on `reports`, commits in order. That channel is
/// unbounded so the writer never waits on the shell; it holds at most what the writer was given,
/// bounded by [`WRITER_QUEUE_MAX`] batches of at most [`GROUP_COMMIT_OPS_MAX`] operations.
pub fn spawn(
    mut store: Box<dyn Commit>,
    reports: mpsc::UnboundedSender<WriterReport>,
) -> std::io::Result<(
    mpsc::Sender<Vec<StoreOp>>,
    std::thread::JoinHandle<WriterStats>,
)> {
    let (tx, mut rx) = mpsc::channel::<Vec<StoreOp>>(WRITER_QUEUE_MAX);
    let handle = std::thread::Builder::new()
        .name("site-store-writer".into())
        .spawn(move || {
            let mut stats = WriterStats::default();
            let mut failing = false;
            while let Some(mut ops) = rx.blocking_recv() {
                while ops.len() < GROUP_COMMIT_OPS_MAX {
                    match rx.try_recv() {
                        Ok(more) => ops.extend(more),
                        Err(_) => break,
                    }
                }
                let mut backoff = Duration::from_millis(50);
                loop {
                    let started = Instant::now();
                    match store.commit(&ops) {
                        Ok(()) => {
                            let ms = started.elapsed().as_millis() as u64;
                            if ms >= SLOW_COMMIT_MS {
                                tracing::warn!(ops = ops.len(), ms, "a store commit was slow: every candidate's saves waited for it (is the disk overloaded?)");
                            } else {
                                tracing::trace!(ops = ops.len(), ms, "group commit");
                            }
                            if failing {
                                failing = false;
                                tracing::warn!("store commits work again");
                                if reports.send(WriterReport::Recovered).is_err() {
                                    return stats;
                                }
                            }
                            break;
                        }
                        Err(e) => {
                            stats.failed_commits += 1;
                            if !failing {
                                failing = true;
                                tracing::error!(error = %e, ops = ops.len(), "store commit failed; the site stops taking answers until it works again (they wait on the candidate machines)");
                            }
                            if reports.send(WriterReport::Failing(e)).is_err() {
                                return stats;
                            }
                            std::thread::sleep(backoff);
                            backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
                        }
                    }
                }
                stats.commits += 1;
                stats.ops += ops.len() as u64;
                if reports.send(WriterReport::Committed(ops)).is_err() {
                    break;
                }
            }
            stats
        })?;
    Ok((tx, handle))
}
