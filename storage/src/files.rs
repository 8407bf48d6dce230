//! File-system helpers with the modes and durability steps the store relies on:
//! directories 0700, message files 0600, directory fsync after linking, hard link with
//! copy fallback.
//!
//! Invariant: a message file is only ever created at an id the index has not allocated,
//! so replacing a file found there (an orphan of a crash) never touches indexed data.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, ErrorKind};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{DeliveryError, StorageError};
use crate::fault::{self, FaultPoint};

/// Mode of directories we create: only the server's user may list them.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Mode of message files we create (copies): only the server's user may read them.
pub(crate) const FILE_MODE: u32 = 0o600;

/// Creates `dir` (mode 0700) if missing; returns whether it was created.
pub(crate) fn ensure_dir(dir: &Path) -> Result<bool, StorageError> {
    match DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(error) => Err(StorageError::io(dir, error)),
    }
}

/// Makes the entries of `dir` durable (a new link or file name survives a crash only
/// once its directory is synced).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|handle| fault::around(FaultPoint::Fsync, dir, || handle.sync_all()))
        .map_err(|error| StorageError::io(dir, error))
}

/// The directories whose entries a store's commits rely on (its database file's name,
/// its message directory's): a run that died before syncing them may have left them
/// undurable, so each open store fsyncs them once, before its first write.
#[derive(Debug)]
pub(crate) struct DurableDirs {
    /// Innermost first.
    dirs: Vec<PathBuf>,
    synced: AtomicBool,
}

impl DurableDirs {
    pub(crate) fn new(dirs: Vec<PathBuf>) -> DurableDirs {
        DurableDirs { dirs, synced: AtomicBool::new(false) }
    }

    /// The innermost directory (the store's own).
    pub(crate) fn first(&self) -> Option<&Path> {
        self.dirs.first().map(PathBuf::as_path)
    }

    /// Fsyncs the directories the first time it is called; later calls do nothing.
    /// Callers hold the store's write lock, so two writers never race here.
    pub(crate) fn sync_once(&self) -> Result<(), StorageError> {
        if !self.synced.load(Ordering::Acquire) {
            for dir in &self.dirs {
                sync_dir(dir)?;
            }
            self.synced.store(true, Ordering::Release);
        }
        Ok(())
    }
}

/// Makes the data of message files just linked durable, before the directory fsyncs and
/// the commit that index them: the spool is written without a sync (runtime's
/// `SpoolFile::finish`), so a group commit's files are synced here together. Writeback
/// of every file is started first, then each is waited for with `fdatasync`: the device
/// gets the writes at once and, on a journaling filesystem, the first wait's journal
/// commit carries the others' block allocations (and the links), so the later waits
/// mostly find nothing left to do. Syncing a file already durable (a second name of a
/// spool another account linked) costs little.
/// Files are held open [`SYNC_LINKED_OPEN_MAX`] at a time, so a large batch costs a
/// bounded number of descriptors.
pub(crate) fn sync_linked<'p>(paths: impl Iterator<Item = &'p Path>) -> Result<(), StorageError> {
    let mut paths = paths.peekable();
    let mut files = Vec::with_capacity(SYNC_LINKED_OPEN_MAX);
    while paths.peek().is_some() {
        for path in paths.by_ref().take(SYNC_LINKED_OPEN_MAX) {
            let file = File::open(path).map_err(|error| StorageError::io(path, error))?;
            start_writeback(&file);
            files.push((file, path));
        }
        for (file, path) in files.drain(..) {
            fault::around(FaultPoint::Fsync, path, || file.sync_data())
                .map_err(|error| StorageError::io(path, error))?;
        }
    }
    Ok(())
}

/// Most files [`sync_linked`] holds open at once (docs/operations.md counts them).
const SYNC_LINKED_OPEN_MAX: usize = 64;

/// Starts writing `file`'s dirty pages out without waiting (`sync_file_range(2)` with
/// `SYNC_FILE_RANGE_WRITE`). Only a hint: durability comes from the `fdatasync` after
/// it, so a failure here is ignored (that sync reports any real error).
#[expect(unsafe_code, reason = "sync_file_range(2) has no safe std wrapper")]
fn start_writeback(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the duration of the call; the call reads no
    // memory of ours.
    let _ = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
}

/// Removes a file; a missing file is fine.
pub(crate) fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Gives the spool file `source` (of `size` bytes) the name `target`: a hard link (whose
/// data the caller then syncs, [`sync_linked`]), or a copy + fsync where links cannot be
/// made. An existing `target` is an orphan and is replaced. The outer error fails the
/// batch (the target side); the inner one only this message (the spool side).
pub(crate) fn link_message(
    source: &Path,
    target: &Path,
    size: u64,
) -> Result<Result<(), DeliveryError>, StorageError> {
    let mut replaced = false;
    loop {
        match fault::around(FaultPoint::Link, target, || fs::hard_link(source, target)) {
            Ok(()) => return Ok(Ok(())),
            Err(error) if error.kind() == ErrorKind::AlreadyExists && !replaced => {
                tracing::warn!(path = %target.display(), "replacing orphan message file");
                fs::remove_file(target).map_err(|error| StorageError::io(target, error))?;
                replaced = true;
            }
            // EXDEV: spool on another filesystem; EMLINK: too many links to one spool
            // file; EPERM: a filesystem without hard links.
            Err(error)
                if error.kind() == ErrorKind::CrossesDevices
                    || error.raw_os_error() == Some(libc::EMLINK)
                    || error.raw_os_error() == Some(libc::EPERM) =>
            {
                return copy_message(source, target, size);
            }
            Err(error) if error.kind() == ErrorKind::NotFound && !source.exists() => {
                return Ok(Err(DeliveryError::SpoolMissing));
            }
            Err(error) => return Err(StorageError::io(target, error)),
        }
    }
}

/// Copies the spool file to `target` (mode 0600) and fsyncs it; checks the length.
fn copy_message(source: &Path, target: &Path, size: u64) -> Result<Result<(), DeliveryError>, StorageError> {
    let mut input = match File::open(source) {
        Ok(input) => input,
        Err(error) if error.kind() == ErrorKind::NotFound => {
            return Ok(Err(DeliveryError::SpoolMissing));
        }
        Err(error) => return Ok(Err(DeliveryError::Io(error))),
    };
    remove_if_exists(target).map_err(|error| StorageError::io(target, error))?;
    let mut output = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(target)
        .map_err(|error| StorageError::io(target, error))?;
    let copied = match io::copy(&mut input, &mut output) {
        Ok(copied) => copied,
        Err(error) => {
            drop(output);
            remove_if_exists(target).map_err(|error| StorageError::io(target, error))?;
            return Err(StorageError::io(target, error));
        }
    };
    if copied != size {
        drop(output);
        remove_if_exists(target).map_err(|error| StorageError::io(target, error))?;
        return Ok(Err(DeliveryError::SpoolMismatch { expected: size, found: copied }));
    }
    fault::around(FaultPoint::Fsync, target, || output.sync_all())
        .map_err(|error| StorageError::io(target, error))?;
    Ok(Ok(()))
}

/// A directory held open (`O_PATH`) so that files in it are opened by a name relative
/// to it: the kernel then walks one or two components instead of the whole path from
/// `/` (in a FETCH of whole small messages `openat` was a quarter of the server's CPU,
/// about a third of it that walk).
#[derive(Debug)]
pub(crate) struct DirHandle {
    fd: std::os::fd::OwnedFd,
}

impl DirHandle {
    pub(crate) fn open(dir: &Path) -> io::Result<DirHandle> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(dir)?;
        Ok(DirHandle { fd: file.into() })
    }

    /// Opens `relative` (a path below the directory, no `..`) for reading.
    #[expect(unsafe_code, reason = "openat(2) has no safe std wrapper")]
    pub(crate) fn open_read(&self, relative: &std::ffi::CStr) -> io::Result<File> {
        use std::os::fd::{AsRawFd, FromRawFd};
        // SAFETY: the directory fd is owned by `self` and open for this call; `relative`
        // is a NUL-terminated string that outlives it; the flags create nothing.
        let fd =
            unsafe { libc::openat(self.fd.as_raw_fd(), relative.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: openat returned a new descriptor that nothing else owns.
        Ok(unsafe { File::from_raw_fd(fd) })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sync_linked_takes_batches_larger_than_its_open_files() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..SYNC_LINKED_OPEN_MAX * 2 + 3)
            .map(|n| {
                let path = dir.path().join(n.to_string());
                fs::write(&path, b"x").unwrap();
                path
            })
            .collect();
        sync_linked(paths.iter().map(PathBuf::as_path)).unwrap();
        sync_linked(std::iter::empty()).unwrap();
        // A name that is gone is an error for the batch, past the first chunk too.
        let missing = dir.path().join("missing");
        let with_missing = paths.iter().map(PathBuf::as_path).chain(std::iter::once(missing.as_path()));
        assert!(matches!(sync_linked(with_missing), Err(StorageError::Io { .. })));
    }
}
