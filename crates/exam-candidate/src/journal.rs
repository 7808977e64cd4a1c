//! The candidate machine's journal: every answer change is written here durably before it is
//! sent, and stays until the site has decided it. After a crash or a reconnect what the journal
//! holds is sent again.
//!
//! On disk (any [`JournalStorage`]): a sequence of framed records,
//! `magic "EJ" | body length u32 LE | CRC-32 of the body u32 LE | body (JSON of a [`Record`])`.
//! Reading never panics and never gives up: a damaged stretch (a torn write, a flipped bit) is
//! skipped byte by byte until the next frame whose checksum holds, so no valid record after a bad
//! one is lost; the torn tail after the last valid record is cut off when the journal is opened,
//! so new records never land behind garbage.

use std::collections::BTreeMap;
use std::io;

use exam_domain::{ItemId, Response};
use serde::{Deserialize, Serialize};

/// Frame magic.
const MAGIC: [u8; 2] = *b"EJ";
/// Bytes before a record's body.
pub const RECORD_HEADER_BYTES: usize = 10;
/// Largest record body: a change carries at most a client frame's worth of answer.
pub const RECORD_BYTES_MAX: u32 = 256 * 1024;
/// Most bytes of a journal that are read; a larger file is read up to here (it is compacted
/// long before, unless the site has been unreachable for a very long time).
pub const JOURNAL_READ_BYTES_MAX: usize = 64 * 1024 * 1024;
/// A journal larger than this is compacted when nothing is pending.
pub const JOURNAL_COMPACT_BYTES: usize = 256 * 1024;
/// Most changes kept pending; beyond this the candidate is told to call the proctor.
pub const JOURNAL_PENDING_MAX: usize = 50_000;
/// Most refused changes kept for the proctor to see.
pub const JOURNAL_REFUSED_MAX: usize = 10_000;

/// One answer change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub seq: u64,
    pub item: ItemId,
    pub response: Response,
}

/// A change the site refused for good, kept with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedChange {
    pub change: Change,
    pub reason: String,
}

/// What the journal holds, record by record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// Whose journal this is: the site (its CA fingerprint) and the attempt there.
    Header {
        site: String,
        attempt: u64,
    },
    Change(Change),
    /// The site has every change numbered `from..=to` of this journal durably.
    Acked {
        from: u64,
        to: u64,
    },
    /// The site refused this change for good.
    Refused {
        seq: u64,
        reason: String,
    },
    /// A refused change kept across a compaction.
    Kept(RefusedChange),
}

/// Encodes one record as a frame.
pub fn encode_record(record: &Record) -> Vec<u8> {
    // Serialising these plain types to JSON cannot fail.
    let body = serde_json::to_vec(record).unwrap_or_default();
    let mut out = Vec::with_capacity(RECORD_HEADER_BYTES + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// What reading a journal found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    pub records: Vec<Record>,
    /// End of the last valid record: anything after it is a torn tail.
    pub clean_len: usize,
    /// Bytes skipped before `clean_len` (damage in the middle).
    pub damaged_bytes: usize,
}

/// Reads every valid record of `bytes`, skipping damage (see the module docs).
pub fn scan(bytes: &[u8]) -> Scan {
    let bytes = bytes.get(..JOURNAL_READ_BYTES_MAX).unwrap_or(bytes);
    let mut out = Scan::default();
    let mut pos = 0usize;
    let mut skipped_since_clean = 0usize;
    while pos < bytes.len() {
        if let Some((record, used)) = record_at(bytes, pos) {
            out.records.push(record);
            pos += used;
            out.clean_len = pos;
            out.damaged_bytes += skipped_since_clean;
            skipped_since_clean = 0;
        } else {
            pos += 1;
            skipped_since_clean += 1;
        }
    }
    out
}

fn record_at(bytes: &[u8], pos: usize) -> Option<(Record, usize)> {
    let header = bytes.get(pos..pos.checked_add(RECORD_HEADER_BYTES)?)?;
    if header.get(..2)? != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(header.get(2..6)?.try_into().ok()?);
    let crc = u32::from_le_bytes(header.get(6..10)?.try_into().ok()?);
    if len > RECORD_BYTES_MAX {
        return None;
    }
    let start = pos + RECORD_HEADER_BYTES;
    let body = bytes.get(start..start.checked_add(len as usize)?)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    let record = serde_json::from_slice(body).ok()?;
    Some((record, RECORD_HEADER_BYTES + len as usize))
}

/// Where a journal's bytes live: a file (in `exam-client`) or memory (tests, the simulator).
/// One journal is current at a time.
pub trait JournalStorage {
    /// Makes `name` the current journal and returns what it holds (empty when there is none).
    fn open(&mut self, name: &str) -> io::Result<Vec<u8>>;
    /// Cuts the current journal to its first `len` bytes, durably.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
    /// Appends to the current journal, creating it (and making its directory entry durable) if
    /// needed. With `sync`, the bytes are durable when this returns `Ok`.
    fn append(&mut self, bytes: &[u8], sync: bool) -> io::Result<()>;
    /// Replaces the current journal's content atomically and durably.
    fn replace(&mut self, bytes: &[u8]) -> io::Result<()>;
}

/// The state a journal's records add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalState {
    pub header: Option<(String, u64)>,
    /// Changes the site has not decided, by number.
    pub pending: BTreeMap<u64, Change>,
    pub refused: Vec<RefusedChange>,
    /// The highest number any change of this journal used.
    pub last_seq: u64,
}

impl JournalState {
    /// Replays records in order.
    pub fn replay(records: impl IntoIterator<Item = Record>) -> Self {
        let mut s = Self::default();
        for r in records {
            s.apply(r);
        }
        s
    }

    pub fn apply(&mut self, record: Record) {
        match record {
            Record::Header { site, attempt } => self.header = Some((site, attempt)),
            Record::Change(c) => {
                self.last_seq = self.last_seq.max(c.seq);
                self.pending.insert(c.seq, c);
            }
            Record::Acked { from, to } => {
                if from <= to {
                    let keys: Vec<u64> = self.pending.range(from..=to).map(|(k, _)| *k).collect();
                    for k in keys {
                        self.pending.remove(&k);
                    }
                }
            }
            Record::Refused { seq, reason } => {
                if let Some(change) = self.pending.remove(&seq) {
                    self.keep_refused(RefusedChange { change, reason });
                }
            }
            Record::Kept(r) => {
                self.last_seq = self.last_seq.max(r.change.seq);
                self.keep_refused(r);
            }
        }
    }

    fn keep_refused(&mut self, r: RefusedChange) {
        if self.refused.len() >= JOURNAL_REFUSED_MAX {
            self.refused.remove(0);
        }
        self.refused.push(r);
    }

    /// The records of a compact journal holding exactly this state.
    pub fn compact_records(&self) -> Vec<Record> {
        let mut out = Vec::new();
        if let Some((site, attempt)) = &self.header {
            out.push(Record::Header {
                site: site.clone(),
                attempt: *attempt,
            });
        }
        out.extend(self.refused.iter().cloned().map(Record::Kept));
        out.extend(self.pending.values().cloned().map(Record::Change));
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "本机无法保存答案记录（{0}），请举手示意监考员 / cannot write the answer journal on this machine ({0}): answers are not safe here, call the proctor"
    )]
    Io(#[from] io::Error),
    #[error(
        "待发送的答案过多（{JOURNAL_PENDING_MAX} 条），请举手示意监考员 / too many answers waiting to be sent ({JOURNAL_PENDING_MAX}): call the proctor"
    )]
    Full,
}

/// A journal: its storage and the state its records add up to.
#[derive(Debug)]
pub struct Journal<S> {
    storage: S,
    state: JournalState,
    /// Bytes written since the last compaction (approximately the file size).
    bytes: usize,
}

impl<S: JournalStorage> Journal<S> {
    /// Opens journal `name` in `storage`: reads it, cuts off a torn tail, replays it. When the
    /// storage fails, the journal starts empty (in memory) and the error says why; later writes
    /// try the storage again.
    pub fn open(mut storage: S, name: &str) -> (Self, Result<Scan, JournalError>) {
        let found = storage.open(name).map(|bytes| (scan(&bytes), bytes.len()));
        let found = match found {
            Ok((found, len)) if found.clean_len < len => storage
                .truncate(found.clean_len as u64)
                .map(|()| found)
                .map_err(JournalError::from),
            Ok((found, _)) => Ok(found),
            Err(e) => Err(e.into()),
        };
        let (state, bytes) = match &found {
            Ok(f) => (JournalState::replay(f.records.iter().cloned()), f.clean_len),
            Err(_) => (JournalState::default(), 0),
        };
        (
            Self {
                storage,
                state,
                bytes,
            },
            found,
        )
    }

    pub fn state(&self) -> &JournalState {
        &self.state
    }

    pub fn storage(&self) -> &S {
        &self.storage
    }

    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }

    /// Gives the storage back (to open another journal with it).
    pub fn into_storage(self) -> S {
        self.storage
    }

    /// Applies a record and writes it. The state changes even when the write fails: the machine
    /// goes on in memory (and says so), rather than refusing the candidate's answers.
    fn write(&mut self, record: Record, sync: bool) -> Result<(), JournalError> {
        let bytes = encode_record(&record);
        self.state.apply(record);
        self.storage.append(&bytes, sync)?;
        self.bytes += bytes.len();
        Ok(())
    }

    /// Starts this journal afresh for `site`/`attempt` if it belongs to another (or nobody):
    /// returns the changes left by the other owner, which can no longer go anywhere.
    pub fn claim(&mut self, site: &str, attempt: u64) -> Result<usize, JournalError> {
        if self
            .state
            .header
            .as_ref()
            .is_some_and(|(s, a)| s == site && *a == attempt)
        {
            return Ok(0);
        }
        let orphaned = if self.state.header.is_some() {
            self.state.pending.len()
        } else {
            0
        };
        if self.state.header.is_some() {
            self.state = JournalState::default();
            self.replace_with_state(JournalState {
                header: Some((site.to_owned(), attempt)),
                ..JournalState::default()
            })?;
        } else {
            self.write(
                Record::Header {
                    site: site.to_owned(),
                    attempt,
                },
                true,
            )?;
        }
        Ok(orphaned)
    }

    /// Records a new change durably (it may be sent once this returns `Ok`).
    pub fn record(&mut self, change: Change) -> Result<(), JournalError> {
        if self.state.pending.len() >= JOURNAL_PENDING_MAX {
            return Err(JournalError::Full);
        }
        self.write(Record::Change(change), true)
    }

    /// The site has `from..=to` durably. Not synced: a lost ack only means a resend the site
    /// answers again.
    pub fn acked(&mut self, from: u64, to: u64) -> Result<(), JournalError> {
        self.write(Record::Acked { from, to }, false)?;
        self.compact_if_large()
    }

    /// The site refused a change for good: it stays in the journal with the reason.
    pub fn refused(&mut self, seq: u64, reason: String) -> Result<(), JournalError> {
        self.write(Record::Refused { seq, reason }, false)
    }

    /// Renumbers the pending changes numbered `from` or above to run contiguously from `from`,
    /// in their order, durably (one atomic rewrite).
    pub fn renumber_from(&mut self, from: u64) -> Result<(), JournalError> {
        let mut state = self.state.clone();
        let moving = state.pending.split_off(&from);
        let mut next = from;
        for (_, mut c) in moving {
            c.seq = next;
            state.last_seq = state.last_seq.max(next);
            state.pending.insert(next, c);
            next = next.saturating_add(1);
        }
        self.replace_with_state(state)
    }

    fn replace_with_state(&mut self, state: JournalState) -> Result<(), JournalError> {
        let bytes: Vec<u8> = state
            .compact_records()
            .iter()
            .flat_map(encode_record)
            .collect();
        self.storage.replace(&bytes)?;
        self.bytes = bytes.len();
        self.state = state;
        Ok(())
    }

    fn compact_if_large(&mut self) -> Result<(), JournalError> {
        if self.state.pending.is_empty() && self.bytes >= JOURNAL_COMPACT_BYTES {
            let state = self.state.clone();
            self.replace_with_state(state)?;
        }
        Ok(())
    }
}

/// Journals kept in memory, with the faults of a real disk on demand: bytes appended without
/// sync are lost (or torn) by [`MemStorage::crash`], and an append can be torn part-way
/// ([`MemStorage::tear_next_append`]). For tests and the simulator; simulated candidates that
/// want real durability use a file journal.
#[derive(Debug, Default, Clone)]
pub struct MemStorage {
    files: BTreeMap<String, MemFile>,
    current: Option<String>,
    tear_next: Option<usize>,
    /// Appends and replaces that reached "disk", for tests.
    pub syncs: u64,
}

#[derive(Debug, Default, Clone)]
struct MemFile {
    durable: Vec<u8>,
    volatile: Vec<u8>,
}

impl MemStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next append writes only `keep` of its bytes and then fails, as a crash in the
    /// middle of a write would.
    pub fn tear_next_append(&mut self, keep: usize) {
        self.tear_next = Some(keep);
    }

    /// A crash: bytes not yet synced are lost, except the first `keep(len)` of each file's
    /// unsynced bytes (a torn write). No journal is current afterwards.
    pub fn crash(&mut self, mut keep: impl FnMut(usize) -> usize) {
        for f in self.files.values_mut() {
            let k = keep(f.volatile.len()).min(f.volatile.len());
            let kept: Vec<u8> = f.volatile.drain(..k).collect();
            f.durable.extend_from_slice(&kept);
            f.volatile.clear();
        }
        self.current = None;
        self.tear_next = None;
    }

    /// What a file holds as far as a reader after a crash-free read sees it.
    pub fn contents(&self, name: &str) -> Vec<u8> {
        self.files
            .get(name)
            .map(|f| [f.durable.as_slice(), f.volatile.as_slice()].concat())
            .unwrap_or_default()
    }

    /// Overwrites a file's content (tests that plant damage).
    pub fn set_contents(&mut self, name: &str, bytes: Vec<u8>) {
        self.files.insert(
            name.to_owned(),
            MemFile {
                durable: bytes,
                volatile: Vec::new(),
            },
        );
    }

    fn file(&mut self) -> io::Result<&mut MemFile> {
        let name = self
            .current
            .clone()
            .ok_or_else(|| io::Error::other("no journal is open"))?;
        Ok(self.files.entry(name).or_default())
    }
}

impl JournalStorage for MemStorage {
    fn open(&mut self, name: &str) -> io::Result<Vec<u8>> {
        self.current = Some(name.to_owned());
        Ok(self.contents(name))
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let f = self.file()?;
        let mut all = std::mem::take(&mut f.durable);
        all.append(&mut f.volatile);
        all.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        f.durable = all;
        Ok(())
    }

    fn append(&mut self, bytes: &[u8], sync: bool) -> io::Result<()> {
        if let Some(keep) = self.tear_next.take() {
            let f = self.file()?;
            f.volatile.clear();
            f.durable
                .extend_from_slice(bytes.get(..keep.min(bytes.len())).unwrap_or(bytes));
            return Err(io::Error::other("simulated crash in the middle of a write"));
        }
        let f = self.file()?;
        f.volatile.extend_from_slice(bytes);
        if sync {
            let v = std::mem::take(&mut f.volatile);
            f.durable.extend_from_slice(&v);
            self.syncs += 1;
        }
        Ok(())
    }

    fn replace(&mut self, bytes: &[u8]) -> io::Result<()> {
        let f = self.file()?;
        f.durable = bytes.to_vec();
        f.volatile.clear();
        self.syncs += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(seq: u64, item: &str) -> Change {
        Change {
            seq,
            item: ItemId::parse(item).expect("id"),
            response: Response::TrueFalse(seq.is_multiple_of(2)),
        }
    }

    fn open(storage: MemStorage) -> (Journal<MemStorage>, Scan) {
        let (j, scan) = Journal::open(storage, "j");
        (j, scan.expect("opens"))
    }

    #[test]
    fn pending_changes_survive_a_restart_and_acks_clear_them() {
        let (mut j, _) = open(MemStorage::new());
        j.claim("site", 1).expect("claim");
        for s in 1..=3 {
            j.record(change(s, "a")).expect("record");
        }
        j.acked(1, 1).expect("ack");
        j.refused(3, "no".into()).expect("refuse");
        let mut storage = j.into_storage();
        storage.crash(|_| 0);
        let (j, _) = open(storage);
        assert_eq!(
            j.state().pending.keys().copied().collect::<Vec<_>>(),
            [1, 2, 3],
            "acks and refusals are not synced: after a crash they are simply asked again"
        );
        assert_eq!(j.state().last_seq, 3);
    }

    #[test]
    fn a_torn_tail_is_cut_and_the_next_record_is_readable() {
        let (mut j, _) = open(MemStorage::new());
        j.claim("site", 1).expect("claim");
        j.record(change(1, "a")).expect("record");
        j.storage_mut().tear_next_append(7);
        assert!(j.record(change(2, "b")).is_err());
        let storage = j.into_storage();
        let (mut j, scan) = open(storage);
        assert!(scan.clean_len < j.storage().contents("j").len() + 7);
        j.record(change(2, "b")).expect("record after the tear");
        let (j, scan) = open(j.into_storage());
        assert_eq!(scan.damaged_bytes, 0, "the torn bytes were cut off on open");
        assert_eq!(
            j.state().pending.keys().copied().collect::<Vec<_>>(),
            [1, 2]
        );
    }

    #[test]
    fn damage_in_the_middle_loses_no_later_record() {
        let mut bytes = Vec::new();
        for s in 1..=5 {
            bytes.extend(encode_record(&Record::Change(change(s, "a"))));
        }
        // A tear inside a multi-byte character, in the middle of the file.
        let third = encode_record(&Record::Change(Change {
            seq: 9,
            item: ItemId::parse("x").expect("id"),
            response: Response::Essay("答案".into()),
        }));
        let cut = third.len() - 3;
        let mut damaged = bytes[..40].to_vec();
        damaged.extend_from_slice(&third[..cut]);
        damaged.extend_from_slice(&bytes[40..]);
        let s = scan(&damaged);
        let seqs: Vec<u64> = s
            .records
            .iter()
            .filter_map(|r| match r {
                Record::Change(c) => Some(c.seq),
                _ => None,
            })
            .collect();
        // The record the garbage was spliced into is lost; every other one is read.
        assert_eq!(seqs.len(), 4, "{seqs:?}");
        assert!(seqs.contains(&5) && s.damaged_bytes > 0);
    }

    #[test]
    fn renumbering_is_contiguous_and_durable() {
        let (mut j, _) = open(MemStorage::new());
        j.claim("site", 1).expect("claim");
        for s in [4, 7, 9] {
            j.record(change(s, "a")).expect("record");
        }
        j.renumber_from(5).expect("renumber");
        assert_eq!(
            j.state().pending.keys().copied().collect::<Vec<_>>(),
            [4, 5, 6]
        );
        let mut storage = j.into_storage();
        storage.crash(|n| n);
        let (j, _) = open(storage);
        assert_eq!(
            j.state().pending.keys().copied().collect::<Vec<_>>(),
            [4, 5, 6]
        );
    }

    #[test]
    fn a_journal_of_another_attempt_is_started_afresh() {
        let (mut j, _) = open(MemStorage::new());
        j.claim("site", 1).expect("claim");
        j.record(change(1, "a")).expect("record");
        assert_eq!(j.claim("site", 1).expect("same"), 0);
        assert_eq!(j.claim("site", 2).expect("other"), 1);
        assert!(j.state().pending.is_empty());
        assert_eq!(j.state().header, Some(("site".into(), 2)));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_scan_without_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)) {
            let s = scan(&bytes);
            proptest::prop_assert!(s.clean_len <= bytes.len());
        }

        #[test]
        fn valid_records_survive_any_single_damage(
            n in 1usize..20,
            at in 0usize..2000,
            garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..64),
        ) {
            let records: Vec<Record> = (1..=n as u64).map(|s| Record::Change(change(s, "a"))).collect();
            let frames: Vec<Vec<u8>> = records.iter().map(encode_record).collect();
            let mut bytes: Vec<u8> = frames.concat();
            let at = at % (bytes.len() + 1);
            // Insert garbage at a frame boundary or inside a frame: every frame not touched survives.
            let mut ends = vec![0usize];
            for f in &frames { ends.push(ends.last().copied().unwrap_or(0) + f.len()); }
            bytes.splice(at..at, garbage);
            let s = scan(&bytes);
            let touched = ends.windows(2).filter(|w| at > w[0] && at < w[1]).count();
            proptest::prop_assert!(s.records.len() >= n - touched, "{} of {}", s.records.len(), n);
        }
    }
}
