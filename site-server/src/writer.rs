//! The one writer thread: takes batches of engine operations, commits everything that queued up
//! meanwhile in one transaction, and only then reports them committed.

use std::time::{Duration, Instant};

use exam_site_core::StoreOp;
use rusqlite::Connection;
use tokio::sync::mpsc;

use crate::store::{self, GROUP_COMMIT_OPS_MAX};

/// Batches waiting for the writer, at most.
pub const WRITER_QUEUE_MAX: usize = 1_024;

/// Figures about group commit, for logs and benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriterStats {
    pub commits: u64,
    pub ops: u64,
}

/// Starts the writer thread. Committed operations come back on `committed`, in order. That
/// channel is unbounded so the writer never waits on the engine; it is bounded in practice by
/// [`WRITER_QUEUE_MAX`] batches of at most [`GROUP_COMMIT_OPS_MAX`] operations.
pub fn spawn(
    mut conn: Connection,
    committed: mpsc::UnboundedSender<Vec<StoreOp>>,
) -> std::io::Result<(
    mpsc::Sender<Vec<StoreOp>>,
    std::thread::JoinHandle<WriterStats>,
)> {
    let (tx, mut rx) = mpsc::channel::<Vec<StoreOp>>(WRITER_QUEUE_MAX);
    let handle = std::thread::Builder::new()
        .name("site-store-writer".into())
        .spawn(move || {
            let mut stats = WriterStats::default();
            while let Some(mut ops) = rx.blocking_recv() {
                while ops.len() < GROUP_COMMIT_OPS_MAX {
                    match rx.try_recv() {
                        Ok(more) => ops.extend(more),
                        Err(_) => break,
                    }
                }
                let mut backoff = Duration::from_millis(100);
                loop {
                    let started = Instant::now();
                    match store::apply(&mut conn, &ops) {
                        Ok(()) => {
                            tracing::trace!(ops = ops.len(), ms = started.elapsed().as_millis() as u64, "group commit");
                            break;
                        }
                        Err(e) => {
                            // Nothing is acknowledged until this succeeds; clients keep their journals.
                            tracing::error!(error = %e, ops = ops.len(), "store write failed; retrying (answers stay unacknowledged)");
                            std::thread::sleep(backoff);
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                }
                stats.commits += 1;
                stats.ops += ops.len() as u64;
                if committed.send(ops).is_err() {
                    break;
                }
            }
            stats
        })?;
    Ok((tx, handle))
}
