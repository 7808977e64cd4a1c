//! The answer journal on the candidate machine's disk: one file per candidate and site in the
//! journal directory (created 0700), in the record format of `exam_candidate::journal`. Every
//! change is written and `fdatasync`ed before it is sent; a new file's directory entry is made
//! durable too; compaction writes a temporary file, syncs it, renames it over the journal and
//! syncs the directory. Run it on a thread of its own, never on an async worker.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use exam_candidate::MemStorage;
use exam_candidate::journal::{JOURNAL_READ_BYTES_MAX, JournalStorage};

/// Journals as files in one directory.
#[derive(Debug)]
pub struct FileStorage {
    dir: PathBuf,
    current: Option<PathBuf>,
    file: Option<File>,
    /// fsyncs done, for tests and figures.
    pub syncs: u64,
}

impl FileStorage {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            current: None,
            file: None,
            syncs: 0,
        }
    }

    fn path(&self) -> io::Result<&Path> {
        self.current
            .as_deref()
            .ok_or_else(|| io::Error::other("no journal is open"))
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()?;
        self.syncs += 1;
        Ok(())
    }

    fn append_handle(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let path = self.path()?.to_path_buf();
            create_private_dir(&self.dir)?;
            let existed = path.exists();
            let mut options = OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let f = options.open(&path)?;
            if !existed {
                // The new file's name must survive a power cut as well as its content.
                self.sync_dir()?;
            }
            self.file = Some(f);
        }
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("journal file not open"))
    }
}

/// Creates `dir` (and its parents) readable by its owner only.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

impl JournalStorage for FileStorage {
    fn open(&mut self, name: &str) -> io::Result<Vec<u8>> {
        self.file = None;
        let path = self.dir.join(format!("{name}.journal"));
        self.current = Some(path.clone());
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(f) => {
                f.take(JOURNAL_READ_BYTES_MAX as u64)
                    .read_to_end(&mut bytes)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(bytes)
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let path = self.path()?.to_path_buf();
        let f = OpenOptions::new().write(true).open(&path)?;
        f.set_len(len)?;
        f.sync_all()?;
        self.syncs += 1;
        self.file = None;
        Ok(())
    }

    fn append(&mut self, bytes: &[u8], sync: bool) -> io::Result<()> {
        let f = self.append_handle()?;
        f.write_all(bytes)?;
        if sync {
            f.sync_data()?;
            self.syncs += 1;
        }
        Ok(())
    }

    fn replace(&mut self, bytes: &[u8]) -> io::Result<()> {
        let path = self.path()?.to_path_buf();
        create_private_dir(&self.dir)?;
        let tmp = path.with_extension("journal.tmp");
        {
            let mut options = OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        self.file = None;
        self.sync_dir()
    }
}

/// The journal of a real machine (a file) or of a simulated one that asked for memory only.
#[derive(Debug)]
pub enum ClientStorage {
    File(FileStorage),
    Memory(MemStorage),
}

impl JournalStorage for ClientStorage {
    fn open(&mut self, name: &str) -> io::Result<Vec<u8>> {
        match self {
            ClientStorage::File(f) => f.open(name),
            ClientStorage::Memory(m) => m.open(name),
        }
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        match self {
            ClientStorage::File(f) => f.truncate(len),
            ClientStorage::Memory(m) => m.truncate(len),
        }
    }

    fn append(&mut self, bytes: &[u8], sync: bool) -> io::Result<()> {
        match self {
            ClientStorage::File(f) => f.append(bytes, sync),
            ClientStorage::Memory(m) => m.append(bytes, sync),
        }
    }

    fn replace(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            ClientStorage::File(f) => f.replace(bytes),
            ClientStorage::Memory(m) => m.replace(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exam_candidate::Journal;
    use exam_candidate::journal::Change;
    use exam_domain::{ItemId, Response};

    fn change(seq: u64) -> Change {
        Change {
            seq,
            item: ItemId::parse("a").expect("id"),
            response: Response::Essay(format!("答案 {seq}")),
        }
    }

    #[test]
    fn a_torn_file_is_cut_on_open_and_every_whole_record_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let jdir = dir.path().join("journal");
        let (mut j, scan) = Journal::open(FileStorage::new(&jdir), "x");
        scan.expect("open");
        j.claim("site", 1).expect("claim");
        for s in 1..=3 {
            j.record(change(s)).expect("record");
        }
        drop(j);
        // A crash in the middle of the fourth write: half a record, cut inside a character.
        let path = jdir.join("x.journal");
        let whole = exam_candidate::journal::encode_record(
            &exam_candidate::journal::Record::Change(change(4)),
        );
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(&whole[..whole.len() - 4]).expect("write");
        drop(f);
        let (mut j, scan) = Journal::open(FileStorage::new(&jdir), "x");
        let scan = scan.expect("open");
        assert_eq!(j.state().pending.len(), 3);
        assert_eq!(
            std::fs::metadata(&path).expect("meta").len() as usize,
            scan.clean_len,
            "the torn tail was cut"
        );
        j.record(change(4)).expect("record after the tear");
        let (j, _) = Journal::open(FileStorage::new(&jdir), "x");
        assert_eq!(j.state().pending.len(), 4);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&jdir).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn every_change_is_synced_before_it_counts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(FileStorage::new(dir.path()), "x");
        j.claim("site", 1).expect("claim");
        let before = j.storage().syncs;
        for s in 1..=5 {
            j.record(change(s)).expect("record");
        }
        assert_eq!(j.storage().syncs - before, 5, "one fdatasync per change");
    }
}
