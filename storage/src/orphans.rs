//! The orphan sweep: message files in `msg/` that no record refers to are moved aside to
//! `orphans/` in the account directory, after checking the index.
//!
//! Orphans are what the write order leaves on purpose (lib.rs, "Write order and crash
//! safety"): a crash between linking a file and committing its record, a commit whose
//! outcome stayed unknown ([`crate::StorageError::CommitUnknown`]: its files are never
//! removed by the writer, because the index may refer to them), or a crash between an
//! expunge's commit and its unlink. None was ever acknowledged as stored under its id, or
//! it was expunged; still, a file is never deleted here: an index damaged by some other
//! fault may have lost the record of a real message, and the operator can look in
//! `orphans/` before removing it.
//!
//! Invariants: a file is moved only while this process holds the store's writer lock and
//! the index (read in a transaction taken under that lock) has no record for its id and
//! no kept expunged entry owning it (a session may still read it), so
//! a delivery in flight (linked, not yet committed) is never mistaken for an orphan; the
//! lock is held for one `msg/<hi>` directory at a time (at most 4096 entries), so
//! deliveries wait at most that long. A store whose commit outcome stayed unknown in this
//! process is not swept: what the process sees of its index may not be what is on disk;
//! the sweep at the next start decides.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::error::StorageError;
use crate::fault::{self, FaultPoint};
use crate::files::{ensure_dir, sync_dir};
use crate::ids::MessageId;
use crate::store::AccountStore;
use crate::view::message_record;

/// Directory in the account directory that orphan files are moved to.
pub(crate) const ORPHAN_DIR: &str = "orphans";

/// What one sweep of an account did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OrphanSweep {
    /// Files moved: (from, to).
    pub moved: Vec<(PathBuf, PathBuf)>,
    /// The store had a commit of unknown outcome in this process; nothing was touched.
    pub skipped: bool,
}

impl AccountStore {
    /// Moves every message file without a record to `orphans/<id>-<n>` in the account
    /// directory (`n` makes the name unique when an id is orphaned twice), fsyncing both
    /// directories. See the module doc for when it is safe; `Err` on an I/O failure
    /// (files moved before it stay moved).
    pub fn sweep_orphans(&self) -> Result<OrphanSweep, StorageError> {
        let mut sweep = OrphanSweep::default();
        if self.lmdb.had_unknown_commit() {
            sweep.skipped = true;
            return Ok(sweep);
        }
        let target_dir = self.account_dir.join(ORPHAN_DIR);
        for dir in numbered_dirs(&self.message_dir)? {
            self.sweep_dir(&dir, &target_dir, &mut sweep)?;
        }
        Ok(sweep)
    }

    /// Sweeps one `msg/<hi>` directory under the writer lock.
    fn sweep_dir(&self, dir: &Path, target_dir: &Path, sweep: &mut OrphanSweep) -> Result<(), StorageError> {
        let writer = self.lmdb.lock_writer();
        let orphans = {
            let read = self.lmdb.read_txn(Some(&writer))?;
            // Files of expunged messages kept for sessions that may still show them are
            // not orphans (`expunged.rs`); `purge_expunged` removes them.
            let kept = crate::expunged::file_owners(read.txn(), &self.dbs)?;
            let mut orphans = Vec::new();
            for (id, path) in numbered_files(dir)? {
                if message_record(read.txn(), &self.dbs, MessageId(id))?.is_none()
                    && !kept.contains(&MessageId(id))
                {
                    orphans.push((id, path));
                }
            }
            orphans
        };
        if orphans.is_empty() {
            return Ok(());
        }
        ensure_dir(target_dir)?;
        for (id, path) in orphans {
            let target = free_name(target_dir, id);
            fault::around(FaultPoint::Rename, &path, || fs::rename(&path, &target))
                .map_err(|error| StorageError::io(&path, error))?;
            tracing::warn!(from = %path.display(), to = %target.display(), "moved orphan message file aside");
            sweep.moved.push((path, target));
        }
        sync_dir(target_dir)?;
        sync_dir(dir)?;
        drop(writer);
        Ok(())
    }
}

/// `<dir>/<id>-<n>` for the smallest `n` not taken.
fn free_name(dir: &Path, id: u64) -> PathBuf {
    let mut n = 0u64;
    loop {
        let candidate = dir.join(format!("{id}-{n}"));
        if fs::symlink_metadata(&candidate).is_err_and(|error| error.kind() == ErrorKind::NotFound) {
            return candidate;
        }
        n += 1;
    }
}

/// Subdirectories of `msg/` named by a number (others are left for the consistency
/// check to report).
fn numbered_dirs(dir: &Path) -> Result<Vec<PathBuf>, StorageError> {
    let mut dirs: Vec<PathBuf> = numbered(dir)?
        .into_iter()
        .filter(|(_, path, is_dir)| *is_dir && path.is_dir())
        .map(|(_, path, _)| path)
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Regular files of a `msg/<hi>` directory named by a number.
fn numbered_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    Ok(numbered(dir)?.into_iter().filter(|(_, _, is_dir)| !is_dir).map(|(id, path, _)| (id, path)).collect())
}

/// Entries of `dir` named by a decimal number in canonical form: (number, path, is a
/// directory).
fn numbered(dir: &Path) -> Result<Vec<(u64, PathBuf, bool)>, StorageError> {
    let entries = fs::read_dir(dir).map_err(|error| StorageError::io(dir, error))?;
    let mut numbered = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| StorageError::io(dir, error))?;
        let is_dir = entry.file_type().map_err(|error| StorageError::io(entry.path(), error))?.is_dir();
        let number = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u64>().ok().filter(|n| n.to_string() == name));
        if let Some(number) = number {
            numbered.push((number, entry.path(), is_dir));
        }
    }
    Ok(numbered)
}
