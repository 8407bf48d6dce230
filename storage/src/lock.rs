//! One process per data directory: an advisory lock (`flock(2)`, through std's
//! `File::try_lock`) on `<data dir>/moxide.lock`, taken before anything in the directory is
//! touched and held for the life of the process.
//!
//! Why: a second server on the same directory would clean the first one's spool (its
//! in-progress DATA and APPEND files) and open the same LMDB environments with a second set
//! of account actors, breaking the single-writer rule of the account actor. Commands that
//! write the directory (`serve`, `localserve`, `verifydata`, `setaccountpassword`, key
//! changes) take the lock; read-only ones may run beside a server.
//!
//! The kernel drops a `flock` when its holder exits however it exits (`kill -9`
//! included), so a stale lock file never blocks a restart. The holder writes its process
//! id into the file only so the refusal can name it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::StorageError;

/// Name of the lock file in the data directory's root. Not under `tmp/` (cleaned at
/// startup) and not under `accounts/` (scanned by `verifydata`).
pub const LOCK_FILE_NAME: &str = "moxide.lock";

/// Longest process-id text read back from a lock file (a u32 in decimal and a newline).
const HOLDER_TEXT_BYTES_MAX: u64 = 16;

/// The exclusive lock on a data directory; released when dropped or when the process ends.
#[derive(Debug)]
pub struct DataDirLock {
    /// Kept open: closing the last descriptor of the open file releases the lock.
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the lock on the existing directory `root`, without waiting. Fails with
    /// [`StorageError::DataDirInUse`] when another process (or another open of the lock
    /// file in this one) holds it; nothing in `root` is changed then.
    pub fn acquire(root: &Path) -> Result<DataDirLock, StorageError> {
        // Canonical, so a refusal names the directory plainly (no `config/../data`).
        let root = &root.canonicalize().map_err(|error| StorageError::io(root, error))?;
        let path = root.join(LOCK_FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|error| StorageError::io(&path, error))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StorageError::DataDirInUse {
                    dir: root.to_path_buf(),
                    holder_pid: read_holder(&mut file),
                });
            }
            Err(TryLockError::Error(error)) => return Err(StorageError::io(&path, error)),
        }
        let pid = std::process::id();
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(format!("{pid}\n").as_bytes()))
            .map_err(|error| StorageError::io(&path, error))?;
        Ok(DataDirLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The process id written in `root`'s lock file (meaningful while someone holds the
    /// lock; `None` if none is written yet or the file is missing).
    pub fn holder_pid(root: &Path) -> Option<u32> {
        let mut file = File::open(root.join(LOCK_FILE_NAME)).ok()?;
        read_holder(&mut file)
    }
}

/// The process id the holder wrote, if it has written one yet (it writes right after
/// locking, so a refusal in that instant finds the file empty).
fn read_holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.take(HOLDER_TEXT_BYTES_MAX).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn second_lock_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().canonicalize().unwrap();
        let dir = &dir;
        let first = DataDirLock::acquire(dir).unwrap();
        // flock conflicts between two opens of the file even in one process.
        match DataDirLock::acquire(dir) {
            Err(StorageError::DataDirInUse { dir: refused, holder_pid }) => {
                assert_eq!(&refused, dir);
                assert_eq!(holder_pid, Some(std::process::id()));
            }
            other => panic!("expected DataDirInUse, got {other:?}"),
        }
        drop(first);
        let again = DataDirLock::acquire(dir).unwrap();
        assert_eq!(again.path(), dir.join(LOCK_FILE_NAME));
    }

    #[test]
    fn a_leftover_lock_file_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE_NAME), "4294967295\n").unwrap();
        let lock = DataDirLock::acquire(dir.path()).unwrap();
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
    }
}
