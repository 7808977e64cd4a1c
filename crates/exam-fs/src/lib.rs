//! `exam-fs`: files and directories that only their owner may read — the one place the platform
//! creates them. Data directories are made `0700` and secret or personal files `0600` *when they
//! are created* (the mode is given to `mkdir`/`open`, so there is never a moment when they are
//! readable by others, whatever the umask); an existing one that is looser is tightened and a
//! warning is logged, never refused.
//!
//! Used by `exam-sqlite` (database files), `exam-net` (the site identity) and the programs for
//! their data directories; the candidate client's journal directory uses [`ensure_private_dir`].
//! It depends on nothing but `std`, `thiserror` and `tracing`, so that any crate may use it.
//!
//! On other systems than Unix the modes do not exist: directories and files are created with the
//! system's defaults (on Windows, the user profile's permissions).
//!
//! It must never loosen a mode, and never delete anything except through [`remove_secret_file`].

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Mode of a private directory: owner may list, create and enter; nobody else anything.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of a private file: owner may read and write; nobody else anything.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// The permission bits for group and others; a private file or directory has none of them.
const GROUP_OTHER_BITS: u32 = 0o077;
/// Suffix of the temporary file [`write_private_atomic`] writes before renaming it into place.
pub const TEMP_SUFFIX: &str = ".tmp";
/// Largest file [`remove_secret_file`] overwrites before removing it.
pub const SECRET_FILE_BYTES_MAX: u64 = 1 << 20;

/// Why a private file or directory could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum PrivateFsError {
    #[error(
        "could not {action} {path}: {source}; check that the directory exists, has free space and belongs to the user this program runs as"
    )]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} exists but is not a directory; move it away or choose another directory")]
    NotADirectory { path: PathBuf },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PrivateFsError {
    let path = path.to_path_buf();
    move |source| PrivateFsError::Io {
        action,
        path,
        source,
    }
}

/// Creates `dir` and its missing parents with mode `0700`; an existing `dir` readable by group or
/// others is set to `0700` with a warning. Returns whether a looser mode was tightened.
///
/// This is what the candidate client's journal directory, the site's and central's data
/// directories and the site's CA directory are made with.
pub fn ensure_private_dir(dir: &Path) -> Result<bool, PrivateFsError> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => return tighten(dir, &meta, PRIVATE_DIR_MODE),
        Ok(_) => {
            return Err(PrivateFsError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("read the permissions of", dir)(e)),
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, PRIVATE_DIR_MODE);
    builder
        .create(dir)
        .map_err(io("create the directory", dir))?;
    Ok(false)
}

/// Sets an existing file readable by group or others to `0600`, with a warning. A missing file is
/// left missing. Returns whether a looser mode was tightened.
pub fn tighten_file(path: &Path) -> Result<bool, PrivateFsError> {
    match std::fs::metadata(path) {
        Ok(meta) => tighten(path, &meta, PRIVATE_FILE_MODE),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io("read the permissions of", path)(e)),
    }
}

#[cfg(unix)]
fn tighten(path: &Path, meta: &std::fs::Metadata, mode: u32) -> Result<bool, PrivateFsError> {
    use std::os::unix::fs::PermissionsExt;
    let was = meta.permissions().mode() & 0o7777;
    if was & GROUP_OTHER_BITS == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io("restrict the permissions of", path))?;
    tracing::warn!(
        path = %path.display(),
        was = format_args!("{was:04o}"),
        now = format_args!("{mode:04o}"),
        "other users could read this; it is now private to its owner — check who else had access to this machine"
    );
    Ok(true)
}

#[cfg(not(unix))]
fn tighten(_: &Path, _: &std::fs::Metadata, _: u32) -> Result<bool, PrivateFsError> {
    Ok(false)
}

/// Creates `path`, which must not exist yet, as an empty file with mode `0600`, open for writing.
pub fn create_private_file(path: &Path) -> Result<File, PrivateFsError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, PRIVATE_FILE_MODE);
    options.open(path).map_err(io("create", path))
}

/// Writes `bytes` to `path` with mode `0600`, atomically: a temporary file beside it is written,
/// flushed to disk and renamed over `path`, and the directory is flushed, so after a crash `path`
/// holds either the old or the new content, whole.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> Result<(), PrivateFsError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(TEMP_SUFFIX);
    let tmp = path.with_file_name(name);
    // A temporary file left by a crash holds nothing anyone needs.
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("remove the leftover", &tmp)(e)),
    }
    let mut f = create_private_file(&tmp)?;
    f.write_all(bytes).map_err(io("write", &tmp))?;
    f.sync_all().map_err(io("flush to disk", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io("rename into place", path))?;
    sync_parent(path)
}

/// Overwrites a secret file with zeros, flushes it and removes it, then flushes its directory.
/// A missing file is not an error. (On flash disks and copy-on-write file systems the old blocks
/// may survive the overwrite; this only keeps the secret out of easy reach.)
pub fn remove_secret_file(path: &Path) -> Result<(), PrivateFsError> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io("read", path)(e)),
    };
    if len <= SECRET_FILE_BYTES_MAX {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io("overwrite", path))?;
        f.write_all(&vec![0u8; len as usize])
            .and_then(|()| f.sync_all())
            .map_err(io("overwrite", path))?;
    }
    std::fs::remove_file(path).map_err(io("remove", path))?;
    sync_parent(path)
}

/// Flushes the directory holding `path`, so a rename or removal in it survives a crash.
/// Flushes the directory holding `path` (after a rename into it), so the new name survives a crash.
pub fn sync_parent(path: &Path) -> Result<(), PrivateFsError> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("flush the directory", dir))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The permission bits of `path` (for tests and diagnostics), or `None` where there are none.
pub fn mode_of(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn new_directories_and_their_new_parents_are_private() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("a/b/c");
        assert!(!ensure_private_dir(&dir).expect("create"));
        for d in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode_of(&root.path().join(d)), Some(0o700), "{d}");
        }
        // Idempotent.
        assert!(!ensure_private_dir(&dir).expect("again"));
    }

    #[test]
    fn loose_directories_and_files_are_tightened_not_refused() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("data");
        std::fs::create_dir(&dir).expect("mkdir");
        chmod(&dir, 0o755);
        assert!(ensure_private_dir(&dir).expect("tighten"));
        assert_eq!(mode_of(&dir), Some(0o700));

        let file = dir.join("f");
        std::fs::write(&file, "x").expect("write");
        chmod(&file, 0o644);
        assert!(tighten_file(&file).expect("tighten"));
        assert_eq!(mode_of(&file), Some(0o600));
        assert!(!tighten_file(&file).expect("already private"));
        assert!(!tighten_file(&dir.join("missing")).expect("missing is fine"));
        // Never loosened.
        chmod(&file, 0o400);
        assert!(!tighten_file(&file).expect("stricter"));
        assert_eq!(mode_of(&file), Some(0o400));
    }

    #[test]
    fn a_file_in_the_way_of_a_directory_is_an_error() {
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join("f");
        std::fs::write(&path, "x").expect("write");
        let err = ensure_private_dir(&path).expect_err("not a dir");
        assert!(matches!(err, PrivateFsError::NotADirectory { .. }), "{err}");
    }

    #[test]
    fn atomic_writes_are_private_and_replace_whole() {
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join("key.pem");
        write_private_atomic(&path, b"one").expect("write");
        assert_eq!(mode_of(&path), Some(0o600));
        // A leftover temporary file from a crash does not stop the next write.
        std::fs::write(root.path().join("key.pem.tmp"), "half").expect("leftover");
        write_private_atomic(&path, b"two").expect("rewrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        assert!(!root.path().join("key.pem.tmp").exists());
        assert_eq!(std::fs::read_dir(root.path()).expect("dir").count(), 1);
    }

    #[test]
    fn private_files_are_created_new_only() {
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join("db");
        drop(create_private_file(&path).expect("create"));
        assert_eq!(mode_of(&path), Some(0o600));
        assert!(create_private_file(&path).is_err(), "never truncates");
    }

    #[test]
    fn secret_files_are_removed() {
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join("secret");
        std::fs::write(&path, "hunter2").expect("write");
        remove_secret_file(&path).expect("remove");
        assert!(!path.exists());
        remove_secret_file(&path).expect("missing is fine");
    }
}
