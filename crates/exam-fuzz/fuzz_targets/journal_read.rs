//! The candidate machine's crash journal over arbitrary bytes: `scan`, `JournalState::replay` of
//! what it read, and `Journal::open` on a `MemStorage` holding the bytes, followed by writes, a
//! write torn part-way and a reopen.
//!
//! Checked: nothing panics; what `Scan` promises (`clean_len` is the end of the last valid
//! record, the bytes after it hold none, `damaged_bytes` were skipped before it); the valid
//! prefix (the records back to back from byte 0) is byte for byte what `encode_record` writes
//! for them, unless a record's JSON is not the form `encode_record` writes (only a hand-made
//! checksum gets such a record in), and the records re-encoded read back unchanged; replay keeps
//! its invariants and agrees with the journal's own state; after `Journal::open` the torn tail is
//! cut and new records land right after the last valid one: a re-scan gives the old records plus
//! the new ones, and a write torn part-way is cut on the next open, never glued onto.
#![no_main]

use exam_candidate::journal::{
    Change, JOURNAL_REFUSED_MAX, Journal, JournalState, MemStorage, RECORD_HEADER_BYTES, Record,
    Scan, encode_record, scan,
};
use exam_domain::{ItemId, Response};
use libfuzzer_sys::fuzz_target;

const NAME: &str = "j";

fuzz_target!(|data: &[u8]| {
    let found = scan(data);
    scan_promises(data, &found);
    valid_prefix(data, &found);
    reencoded(&found);
    let state = JournalState::replay(found.records.iter().cloned());
    replay_invariants(&state);
    open_and_write(data, &found, &state);
});

fn scan_promises(data: &[u8], found: &Scan) {
    assert!(found.clean_len <= data.len());
    assert!(found.damaged_bytes <= found.clean_len);
    if found.records.is_empty() {
        assert_eq!((found.clean_len, found.damaged_bytes), (0, 0));
    } else {
        // The last record ends exactly at clean_len: at least a header and `{}` before it.
        assert!(found.clean_len - found.damaged_bytes >= found.records.len() * RECORD_HEADER_BYTES);
    }
    // Nothing valid after clean_len, and nothing after it changes what comes before.
    assert!(scan(&data[found.clean_len..]).records.is_empty());
    assert_eq!(&scan(&data[..found.clean_len]), found);
}

/// The records that stand back to back from byte 0, each checked on its own, are the first
/// records of the scan; re-encoded they are the very bytes read, unless their JSON was not the
/// form `encode_record` writes. Without damage they are all the records, up to `clean_len`.
fn valid_prefix(data: &[u8], found: &Scan) {
    let mut pos = 0;
    let mut count = 0;
    let mut foreign_form = false;
    while let Some(frame) = frame_at(data, pos) {
        let alone = scan(frame);
        if alone.records.len() != 1 || alone.clean_len != frame.len() || alone.damaged_bytes != 0 {
            break;
        }
        let record = &alone.records[0];
        assert_eq!(
            found.records.get(count),
            Some(record),
            "record {count} at byte {pos} read alone differs from the whole scan"
        );
        let written = encode_record(record);
        if written != frame {
            foreign_form = true;
            // Same record, other bytes: only the JSON may differ, and the re-encoding is valid.
            assert_eq!(scan(&written).records, std::slice::from_ref(record));
        }
        pos += frame.len();
        count += 1;
    }
    let prefix: Vec<u8> = found.records[..count]
        .iter()
        .flat_map(encode_record)
        .collect();
    if !foreign_form {
        assert_eq!(
            prefix,
            &data[..pos],
            "the valid prefix is what encode_record writes"
        );
    }
    // What follows the prefix scans on its own to the rest of the records.
    let rest = scan(&data[pos..]);
    assert_eq!(rest.records, found.records[count..]);
    assert_eq!(rest.damaged_bytes, found.damaged_bytes);
    if count < found.records.len() {
        assert!(
            found.damaged_bytes > 0,
            "records after a break in the prefix follow damage"
        );
        assert_eq!(rest.clean_len, found.clean_len - pos);
    } else {
        assert_eq!(
            pos, found.clean_len,
            "without damage the prefix is everything valid"
        );
    }
}

/// The frame whose header starts at `pos`, if its whole length is there.
fn frame_at(data: &[u8], pos: usize) -> Option<&[u8]> {
    let header = data.get(pos..pos.checked_add(RECORD_HEADER_BYTES)?)?;
    let len = u32::from_le_bytes(header[2..6].try_into().ok()?) as usize;
    data.get(pos..pos.checked_add(RECORD_HEADER_BYTES)?.checked_add(len)?)
}

/// The records re-encoded read back as exactly those records, with nothing damaged.
fn reencoded(found: &Scan) {
    let bytes: Vec<u8> = found.records.iter().flat_map(encode_record).collect();
    assert_eq!(
        scan(&bytes),
        Scan {
            records: found.records.clone(),
            clean_len: bytes.len(),
            damaged_bytes: 0,
        }
    );
}

fn replay_invariants(state: &JournalState) {
    for (seq, change) in &state.pending {
        assert_eq!(*seq, change.seq);
        assert!(*seq <= state.last_seq);
    }
    for r in &state.refused {
        assert!(r.change.seq <= state.last_seq);
    }
    assert!(state.refused.len() <= JOURNAL_REFUSED_MAX);
    // A compact journal holds the same header, pending and refused changes (the highest number
    // used may drop with acknowledged changes: nothing reads it after a compaction).
    let compact = JournalState::replay(state.compact_records());
    assert_eq!(compact.header, state.header);
    assert_eq!(compact.pending, state.pending);
    assert_eq!(compact.refused, state.refused);
    assert!(compact.last_seq <= state.last_seq);
}

/// Opens the bytes as a journal, appends, tears an append, reopens, appends again.
fn open_and_write(data: &[u8], found: &Scan, state: &JournalState) {
    let mut storage = MemStorage::new();
    storage.set_contents(NAME, data.to_vec());
    let (mut journal, opened) = Journal::open(storage, NAME);
    assert_eq!(&opened.expect("memory storage does not fail"), found);
    assert_eq!(journal.state(), state);
    assert_eq!(
        journal.storage().contents(NAME),
        &data[..found.clean_len],
        "opening cuts the torn tail and nothing else"
    );

    // The essay text comes from the input: any text, as the candidate typed it.
    let text = String::from_utf8_lossy(&data[data.len().saturating_sub(48)..]).into_owned();
    let seq = state.last_seq.saturating_add(1);
    let first = change(seq, Response::Essay(text));
    journal.record(first.clone()).expect("records");
    let mut expected = found.records.clone();
    expected.push(Record::Change(first.clone()));
    let clean = [
        &data[..found.clean_len],
        &encode_record(&expected[expected.len() - 1]),
    ]
    .concat();
    assert_eq!(journal.storage().contents(NAME), clean);
    rescan(&journal, &expected, found.damaged_bytes);

    // A crash half-way through the next append leaves a torn record, cut on the next open.
    let second = change(
        seq.saturating_add(1),
        Response::TrueFalse(data.len().is_multiple_of(2)),
    );
    let torn_len = encode_record(&Record::Change(second.clone())).len();
    let keep = data.first().map_or(0, |b| usize::from(*b)) % torn_len;
    journal.storage_mut().tear_next_append(keep);
    assert!(journal.record(second).is_err(), "the torn append fails");
    assert_eq!(journal.storage().contents(NAME).len(), clean.len() + keep);
    let (mut journal, opened) = Journal::open(journal.into_storage(), NAME);
    let reopened = opened.expect("memory storage does not fail");
    assert_eq!(reopened.records, expected, "the torn record is not read");
    assert_eq!(reopened.damaged_bytes, found.damaged_bytes);
    assert_eq!(
        journal.storage().contents(NAME),
        clean,
        "the torn bytes are cut"
    );
    assert_eq!(journal.state(), &JournalState::replay(expected.clone()));

    let third = change(seq.saturating_add(1), Response::Cleared);
    journal
        .record(third.clone())
        .expect("records after the tear");
    journal.acked(third.seq, third.seq).expect("acks");
    expected.push(Record::Change(third.clone()));
    expected.push(Record::Acked {
        from: third.seq,
        to: third.seq,
    });
    rescan(&journal, &expected, found.damaged_bytes);
    assert!(!journal.state().pending.contains_key(&third.seq));
    assert_eq!(
        journal.state().pending.get(&first.seq),
        (first.seq != third.seq).then_some(&first),
        "the first change stays pending unless its number was acknowledged"
    );
}

/// The storage re-scanned holds exactly `expected`, valid to its end, with the old damage only,
/// and replays to the journal's state.
fn rescan(journal: &Journal<MemStorage>, expected: &[Record], damaged_bytes: usize) {
    let bytes = journal.storage().contents(NAME);
    let again = scan(&bytes);
    assert_eq!(again.records, expected, "old records plus the new ones");
    assert_eq!(
        again.clean_len,
        bytes.len(),
        "the new records are not glued onto a torn tail"
    );
    assert_eq!(again.damaged_bytes, damaged_bytes);
    assert_eq!(
        journal.state(),
        &JournalState::replay(again.records),
        "memory agrees with the storage"
    );
}

fn change(seq: u64, response: Response) -> Change {
    Change {
        seq,
        item: ItemId::parse("fuzz-1").expect("valid id"),
        response,
    }
}
