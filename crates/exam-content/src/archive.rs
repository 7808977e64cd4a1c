//! Reading zip archives safely: bounded entry count, bounded size per entry and in total (checked
//! while decompressing, not trusted from the header), and one plain name per entry.
//!
//! A name is accepted only in its plain form: a relative path of non-empty segments, none of them
//! `.` or `..`, no drive letter, no control character, and no folder entry (name ending in `/`)
//! that carries data. `\` is read as `/`: Windows PowerShell 5.1's `Compress-Archive` and older
//! .NET write it, and clerks make photo archives with them. An archive in which two entries
//! have the same name once `\` is read as `/` and letter case is ignored is refused whole: a
//! Windows disk cannot hold both, and calamine looks spreadsheet parts up exactly that way
//! (case-insensitive, `\` as `/`), so it could read a different entry from the one checked here.
//!
//! Read first: [`Archive`], [`ArchiveError`]. Limits: [`ENTRIES_MAX`], [`ENTRY_BYTES_MAX`],
//! [`TOTAL_BYTES_MAX`].

use std::collections::BTreeMap;
use std::io::{Read, Seek};

/// Most entries in one archive.
pub const ENTRIES_MAX: usize = 20_000;
/// Largest single entry, decompressed.
pub const ENTRY_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Largest archive content in total, decompressed.
pub const TOTAL_BYTES_MAX: u64 = 1024 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(
        "this is not a readable zip file ({0}); check that the file is complete and really a .zip"
    )]
    NotZip(String),
    #[error("the zip has {0} entries; at most {ENTRIES_MAX} are accepted")]
    TooManyEntries(usize),
    #[error("“{0}” in the zip has an unsafe path (absolute or with ..); the archive was refused")]
    UnsafePath(String),
    #[error(
        "“{name}” in the zip is not a plain path ({why}); the archive was refused: pack the files again with an ordinary zip tool (Explorer “Send to → Compressed folder”, 7-Zip)"
    )]
    NotPlainName { name: String, why: &'static str },
    #[error(
        "“{name}” and “{other}” in the zip are the same name (letter case and \\ against / do not count); the archive was refused: pack the files again so that every file has its own name"
    )]
    DuplicateName { name: String, other: String },
    #[error(
        "the zip's directory lists the same name twice; the archive was refused: pack the files again so that every file has its own name"
    )]
    RepeatedEntry,
    #[error(
        "“{name}” in the zip is larger than {max} bytes when unpacked; the archive was refused"
    )]
    EntryTooLarge { name: String, max: u64 },
    #[error("the zip unpacks to more than {TOTAL_BYTES_MAX} bytes; the archive was refused")]
    TotalTooLarge,
    #[error("“{name}” in the zip could not be read: {why}")]
    Entry { name: String, why: String },
}

/// An archive's file entries, read lazily and checked.
pub struct Archive<R: Read + Seek> {
    zip: zip::ZipArchive<R>,
    /// Normalised path → index in the zip.
    names: BTreeMap<String, usize>,
    total: u64,
}

impl<R: Read + Seek> std::fmt::Debug for Archive<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("entries", &self.names.len())
            .finish()
    }
}

/// Normalises a path to look up in an archive (`./a//b` → `a/b`, `\\` becomes `/`); refuses
/// absolute paths, drive letters and `..`. Names *stored* in an archive must already be plain
/// (see [`plain_name`]).
pub fn normalise(name: &str) -> Result<String, ArchiveError> {
    let unified = name.replace('\\', "/");
    if unified.starts_with('/') || unified.contains(':') {
        return Err(ArchiveError::UnsafePath(name.to_owned()));
    }
    let mut parts = Vec::new();
    for seg in unified.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err(ArchiveError::UnsafePath(name.to_owned())),
            s => parts.push(s),
        }
    }
    Ok(parts.join("/"))
}

/// The name of a file entry as stored, if it is plain: `\` read as `/`, then every segment
/// non-empty and neither `.` nor `..`, no drive letter, no control character.
pub fn plain_name(raw: &str) -> Result<String, ArchiveError> {
    let name = normalise(raw)?;
    let not_plain = |why| ArchiveError::NotPlainName {
        name: raw.to_owned(),
        why,
    };
    if raw.chars().any(char::is_control) {
        return Err(not_plain("it contains a control character"));
    }
    if name.is_empty() {
        return Err(not_plain("it is empty"));
    }
    if name != raw.replace('\\', "/") {
        return Err(not_plain(
            "it has an empty or “.” segment, such as ./ or //",
        ));
    }
    Ok(name)
}

/// The key under which two names count as the same: case folded (Windows, calamine).
fn fold(name: &str) -> String {
    name.to_lowercase()
}

impl<R: Read + Seek> Archive<R> {
    pub fn new(reader: R) -> Result<Self, ArchiveError> {
        let mut zip =
            zip::ZipArchive::new(reader).map_err(|e| ArchiveError::NotZip(e.to_string()))?;
        if zip.len() > ENTRIES_MAX {
            return Err(ArchiveError::TooManyEntries(zip.len()));
        }
        // The zip crate keeps one entry per exact name; a second one would be invisible here.
        if zip.has_duplicate_names() {
            return Err(ArchiveError::RepeatedEntry);
        }
        let mut names = BTreeMap::new();
        // Folded name → the name as stored, to name both in an error.
        let mut folded: BTreeMap<String, String> = BTreeMap::new();
        for i in 0..zip.len() {
            let entry = zip
                .by_index_raw(i)
                .map_err(|e| ArchiveError::NotZip(e.to_string()))?;
            let raw = entry
                .name()
                .map_err(|e| ArchiveError::NotZip(e.to_string()))?
                .into_owned();
            if entry.is_dir() {
                normalise(&raw)?;
                if entry.size() > 0 {
                    return Err(ArchiveError::NotPlainName {
                        name: raw,
                        why: "it ends in / like a folder but holds data",
                    });
                }
                continue;
            }
            let name = plain_name(&raw)?;
            if let Some(other) = folded.insert(fold(&name), raw.clone()) {
                return Err(ArchiveError::DuplicateName { name: raw, other });
            }
            names.insert(name, i);
        }
        Ok(Self {
            zip,
            names,
            total: 0,
        })
    }

    /// Normalised paths of every file, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.keys().map(String::as_str)
    }

    pub fn contains(&self, name: &str) -> bool {
        normalise(name).is_ok_and(|n| self.names.contains_key(&n))
    }

    /// Reads one file, at most `max` bytes (and [`ENTRY_BYTES_MAX`]); `None` if absent.
    pub fn read(&mut self, name: &str, max: u64) -> Result<Option<Vec<u8>>, ArchiveError> {
        let Ok(key) = normalise(name) else {
            return Ok(None);
        };
        let Some(&index) = self.names.get(&key) else {
            return Ok(None);
        };
        let max = max.min(ENTRY_BYTES_MAX);
        let entry = self.zip.by_index(index).map_err(|e| ArchiveError::Entry {
            name: key.clone(),
            why: e.to_string(),
        })?;
        let mut buf = Vec::new();
        let read = entry
            .take(max + 1)
            .read_to_end(&mut buf)
            .map_err(|e| ArchiveError::Entry {
                name: key.clone(),
                why: e.to_string(),
            })?;
        if read as u64 > max {
            return Err(ArchiveError::EntryTooLarge { name: key, max });
        }
        self.total += read as u64;
        if self.total > TOTAL_BYTES_MAX {
            return Err(ArchiveError::TotalTooLarge);
        }
        Ok(Some(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths_are_refused() {
        assert_eq!(normalise("a/./b//c.xml").ok().as_deref(), Some("a/b/c.xml"));
        assert_eq!(
            normalise("items\\x.xml").ok().as_deref(),
            Some("items/x.xml")
        );
        for bad in ["../etc/passwd", "/abs", "a/../../b", "C:/x"] {
            assert!(normalise(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn garbage_is_not_a_zip() {
        let err = Archive::new(std::io::Cursor::new(b"PK\x03\x04garbage".to_vec()))
            .expect_err("not a zip");
        assert!(matches!(err, ArchiveError::NotZip(_)));
    }
}
