//! The candidate machine's journal: every answer change is written here (and flushed to disk)
//! before it is sent, and stays until the site acknowledges it. After a crash or a reconnect the
//! changes still in the journal are sent again; the site applies each sequence number once.
//!
//! On disk: one file per candidate, JSON lines of [`Record`]s, appended; rewritten compactly when
//! nothing is pending.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use exam_domain::{ItemId, Response};
use serde::{Deserialize, Serialize};

/// A journal file larger than this is compacted when nothing is pending.
pub const JOURNAL_COMPACT_BYTES: u64 = 256 * 1024;
/// Most changes kept pending; beyond this the candidate is told to call the proctor.
pub const JOURNAL_PENDING_MAX: usize = 100_000;

/// One answer change not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub seq: u64,
    pub item: ItemId,
    pub response: Response,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Record {
    Change(Change),
    /// Every change up to this seq is durable at the site.
    Acked(u64),
    /// The site refused this change; it will not be sent again.
    Rejected(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "cannot write the answer journal {path}: {source}. Answers cannot be kept safely on this machine: call the proctor"
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("too many answers waiting to be sent ({JOURNAL_PENDING_MAX}); call the proctor")]
    Full,
}

/// Pending changes, in a file or (for simulated candidates) in memory only.
#[derive(Debug)]
pub struct Journal {
    file: Option<(PathBuf, File)>,
    pending: BTreeMap<u64, Change>,
    acked: u64,
    last_seq: u64,
}

impl Journal {
    /// A journal kept in memory only: for simulated candidates, which have no disk to lose.
    pub fn in_memory() -> Self {
        Self {
            file: None,
            pending: BTreeMap::new(),
            acked: 0,
            last_seq: 0,
        }
    }

    /// Opens (or creates) the journal of one candidate in `dir`, replaying what it holds.
    /// Unreadable trailing lines (a crash in the middle of a write) are ignored.
    pub fn open(dir: &Path, admission_no: &str) -> Result<Self, JournalError> {
        let path = dir.join(format!("{admission_no}.journal"));
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut journal = Self::in_memory();
        if let Ok(f) = File::open(&path) {
            for line in BufReader::new(f).lines() {
                let Ok(line) = line else { break };
                let Ok(record) = serde_json::from_str::<Record>(&line) else {
                    continue;
                };
                journal.replay(record);
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        journal.file = Some((path, file));
        Ok(journal)
    }

    fn replay(&mut self, record: Record) {
        match record {
            Record::Change(c) => {
                self.last_seq = self.last_seq.max(c.seq);
                if c.seq > self.acked {
                    self.pending.insert(c.seq, c);
                }
            }
            Record::Acked(seq) => {
                self.acked = self.acked.max(seq);
                self.last_seq = self.last_seq.max(seq);
                self.pending = self.pending.split_off(&(seq + 1));
            }
            Record::Rejected(seq) => {
                self.pending.remove(&seq);
            }
        }
    }

    fn write(&mut self, record: &Record, sync: bool) -> Result<(), JournalError> {
        let Some((path, file)) = &mut self.file else {
            return Ok(());
        };
        let mut line = serde_json::to_vec(record).map_err(|e| JournalError::Io {
            path: path.clone(),
            source: e.into(),
        })?;
        line.push(b'\n');
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        file.write_all(&line).map_err(io)?;
        if sync {
            file.sync_data().map_err(io)?;
        }
        Ok(())
    }

    /// Records a new change durably and returns it with its sequence number.
    pub fn record(&mut self, item: ItemId, response: Response) -> Result<Change, JournalError> {
        if self.pending.len() >= JOURNAL_PENDING_MAX {
            return Err(JournalError::Full);
        }
        let change = Change {
            seq: self.last_seq + 1,
            item,
            response,
        };
        self.write(&Record::Change(change.clone()), true)?;
        self.last_seq = change.seq;
        self.pending.insert(change.seq, change.clone());
        Ok(change)
    }

    /// The site has every change up to `seq`: returns the changes this acknowledges.
    pub fn ack(&mut self, seq: u64) -> Vec<Change> {
        if seq <= self.acked {
            return Vec::new();
        }
        let rest = self.pending.split_off(&(seq + 1));
        let done: Vec<Change> = std::mem::replace(&mut self.pending, rest)
            .into_values()
            .collect();
        self.acked = seq;
        self.last_seq = self.last_seq.max(seq);
        // Losing this record only means a resend the site ignores: no fsync needed.
        if self.write(&Record::Acked(seq), false).is_ok() && self.pending.is_empty() {
            self.compact_if_large();
        }
        done
    }

    /// The site refused a change; it is dropped.
    pub fn reject(&mut self, seq: u64) -> Option<Change> {
        let c = self.pending.remove(&seq);
        let _ = self.write(&Record::Rejected(seq), false);
        c
    }

    /// The site reports everything up to `committed_seq` durable (after a login): acknowledge
    /// those and make sure new changes get higher numbers.
    pub fn sync_with_site(&mut self, committed_seq: u64) -> Vec<Change> {
        self.last_seq = self.last_seq.max(committed_seq);
        self.ack(committed_seq)
    }

    /// Changes still waiting for an acknowledgement, in order.
    pub fn pending(&self) -> impl Iterator<Item = &Change> {
        self.pending.values()
    }

    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// The highest sequence number used so far.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    fn compact_if_large(&mut self) {
        let Some((path, file)) = &self.file else {
            return;
        };
        if file.metadata().map(|m| m.len()).unwrap_or(0) < JOURNAL_COMPACT_BYTES {
            return;
        }
        let tmp = path.with_extension("journal.tmp");
        let line = format!(
            "{}\n",
            serde_json::to_string(&Record::Acked(self.acked)).unwrap_or_default()
        );
        let ok = std::fs::write(&tmp, line)
            .and_then(|()| File::open(&tmp)?.sync_all())
            .and_then(|()| std::fs::rename(&tmp, path));
        if ok.is_ok()
            && let Ok(f) = OpenOptions::new().append(true).open(path)
        {
            let path = path.clone();
            self.file = Some((path, f));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(s: &str) -> ItemId {
        ItemId::parse(s).expect("id")
    }

    #[test]
    fn pending_changes_survive_a_restart_and_acks_clear_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut j = Journal::open(dir.path(), "2026100001").expect("open");
            j.record(item("a"), Response::TrueFalse(true))
                .expect("record");
            j.record(item("b"), Response::TrueFalse(false))
                .expect("record");
            j.record(item("a"), Response::Cleared).expect("record");
            assert_eq!(j.ack(1).len(), 1);
        }
        let mut j = Journal::open(dir.path(), "2026100001").expect("reopen");
        let seqs: Vec<u64> = j.pending().map(|c| c.seq).collect();
        assert_eq!(seqs, vec![2, 3]);
        assert_eq!(
            j.record(item("c"), Response::TrueFalse(true))
                .expect("record")
                .seq,
            4
        );
        assert_eq!(j.reject(4).map(|c| c.seq), Some(4));
        // A torn last line (crash mid-write) is ignored.
        let path = dir.path().join("2026100001.journal");
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"{\"change\":{\"seq\":9,").expect("write");
        drop(f);
        let j = Journal::open(dir.path(), "2026100001").expect("reopen");
        assert_eq!(j.pending().map(|c| c.seq).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(j.last_seq(), 4);
    }

    #[test]
    fn site_state_after_login_acks_and_advances_numbering() {
        let mut j = Journal::in_memory();
        j.record(item("a"), Response::TrueFalse(true))
            .expect("record");
        j.record(item("b"), Response::TrueFalse(true))
            .expect("record");
        assert_eq!(j.sync_with_site(1).len(), 1);
        assert_eq!(j.pending_count(), 1);
        // A candidate moved to a new machine: the site's numbering wins.
        let mut fresh = Journal::in_memory();
        fresh.sync_with_site(57);
        assert_eq!(
            fresh
                .record(item("a"), Response::Cleared)
                .expect("record")
                .seq,
            58
        );
    }
}
