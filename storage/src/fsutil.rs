//! Small durable-filesystem helpers: temporary names, fsync'd renames, directory syncs.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Result, StorageError};

/// Suffix of files being written; any file with it is garbage after a crash.
pub const TMP_SUFFIX: &str = ".tmp";

/// The temporary name a file is written under before it is renamed into place.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(TMP_SUFFIX);
    PathBuf::from(s)
}

/// Renames `from` to `to` and fsyncs the parent directory so the rename survives a crash.
pub fn rename_durable(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| StorageError::io(to, e))?;
    sync_dir(to.parent().unwrap_or(Path::new(".")))
}

/// Fsyncs a directory (its entries: creations, renames, removals).
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(any(test, feature = "fault-injection"))]
    if crate::faults::skip_sync(crate::faults::Sync::Dir) {
        return Ok(());
    }
    let f = File::open(dir).map_err(|e| StorageError::io(dir, e))?;
    f.sync_all().map_err(|e| StorageError::io(dir, e))
}

/// Fsyncs a regular file's contents.
pub fn sync_file(path: &Path) -> Result<()> {
    let f = File::open(path).map_err(|e| StorageError::io(path, e))?;
    f.sync_all().map_err(|e| StorageError::io(path, e))
}

/// Removes a file, treating "already gone" as success.
pub fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io(path, e)),
    }
}

/// Creates a directory and its missing parents, fsyncing each parent whose entries changed, so
/// the directory survives a power loss.
pub fn create_dir_durable(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_durable(parent)?;
    }
    match std::fs::create_dir(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(StorageError::io(path, e)),
    }
    sync_dir(
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )
}

/// Creates a directory and its parents.
pub fn create_dir_all(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| StorageError::io(path, e))
}
