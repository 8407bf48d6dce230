//! One LMDB environment (heed) with the locking the store needs: one writer at a time,
//! read transactions from any thread (MDB_NOTLS), and map growth on MDB_MAP_FULL.
//!
//! Invariants:
//! - `mdb_env_set_mapsize` runs only while no transaction of this process is live: every
//!   read transaction holds `gate` shared, a resize holds it exclusively, and only the
//!   writer (holding `writer`, with its write transaction already ended) resizes.
//! - Lock order: `writer`, then `gate`. A read transaction never waits for `writer`
//!   while it holds `gate`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

use heed::{Env, EnvOpenOptions, MdbError, RoTxn, RwTxn, WithoutTls};

use crate::error::StorageError;
use crate::fault::{self, FaultPoint};

/// Map sizes are multiples of this: it is a multiple of every Linux page size (4, 16 and
/// 64 KiB), which LMDB requires of a map size.
pub(crate) const MAP_SIZE_STEP_BYTES: usize = 64 * 1024;

/// Smallest map we open: room for the schema and a few hundred messages. Real accounts
/// start at [`crate::StoreOptions`]' 16 MiB default and grow.
pub const MAP_SIZE_MIN_BYTES: usize = MAP_SIZE_STEP_BYTES;

/// Most consecutive grow-and-retry rounds for one write. Each round at least doubles the
/// map, so 64 rounds exceed any address space; the bound only guards against a bug.
pub(crate) const GROW_ROUNDS_MAX: u32 = 64;

/// Most named databases per environment: 9 in account schema 3, room for the ones later
/// versions add (threads, search index, ...). LMDB scans this table linearly.
const DATABASES_MAX: u32 = 32;

/// Proof that the caller is the one writer (see [`Lmdb::lock_writer`]).
pub(crate) struct WriterGuard<'l>(#[expect(dead_code, reason = "held for its Drop")] MutexGuard<'l, ()>);

/// A read transaction with the gate that keeps resizes out while it lives.
pub(crate) struct ReadTxn<'l> {
    // Field order matters: the transaction ends before the gate opens.
    txn: RoTxn<'l, WithoutTls>,
    _gate: RwLockReadGuard<'l, ()>,
}

impl<'l> ReadTxn<'l> {
    pub(crate) fn txn(&self) -> &RoTxn<'l> {
        &self.txn
    }
}

/// An open environment with its locks.
pub(crate) struct Lmdb {
    env: Env<WithoutTls>,
    gate: RwLock<()>,
    writer: Mutex<()>,
    map_size_max_bytes: usize,
    /// Set when a commit's outcome stayed unknown ([`StorageError::CommitUnknown`]):
    /// what this process sees of the index may not be what is on disk, so files are
    /// left alone until a restart (see `AccountStore::sweep_orphans`).
    commit_unknown: AtomicBool,
}

pub(crate) fn round_up_to_step(bytes: usize) -> usize {
    bytes.div_ceil(MAP_SIZE_STEP_BYTES).saturating_mul(MAP_SIZE_STEP_BYTES)
}

fn round_down_to_step(bytes: usize) -> usize {
    bytes - bytes % MAP_SIZE_STEP_BYTES
}

impl Lmdb {
    /// Opens the environment in `dir` (which exists). `label` names it in logs and in
    /// `AlreadyOpen` (the account name; the global store maps that error to its own).
    #[expect(unsafe_code, reason = "heed's EnvOpenOptions::open is unsafe")]
    pub(crate) fn open(
        dir: &Path,
        label: &str,
        map_size_initial_bytes: usize,
        map_size_max_bytes: usize,
        readers_max: u32,
    ) -> Result<Lmdb, StorageError> {
        let map_size_max_bytes = round_down_to_step(map_size_max_bytes).max(MAP_SIZE_MIN_BYTES);
        let map_size_initial_bytes =
            round_up_to_step(map_size_initial_bytes).clamp(MAP_SIZE_MIN_BYTES, map_size_max_bytes);
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options.map_size(map_size_initial_bytes).max_readers(readers_max.max(1)).max_dbs(DATABASES_MAX);
        // No EnvFlags on purpose: NO_SYNC, NO_META_SYNC and MAP_ASYNC would break the
        // promise that an acknowledged delivery is durable; WRITE_MAP would let a stray
        // pointer write corrupt the file; NO_LOCK is unsafe with a second process
        // (verifydata). NO_TLS comes from read_txn_without_tls.
        // SAFETY: heed requires that the files are not modified except through LMDB and
        // that the lock file works: the env lives in our private 0700 data directory on a
        // local filesystem, we set no unsafe flags, and heed refuses to open one path
        // twice in a process.
        let env = unsafe { options.open(dir) }.map_err(|error| match error {
            heed::Error::EnvAlreadyOpened => StorageError::AlreadyOpen { account: label.to_string() },
            heed::Error::Io(source) => StorageError::io(dir, source),
            other => StorageError::from(other),
        })?;
        // Reader slots of a crashed process would pin old pages forever.
        let stale = env.clear_stale_readers()?;
        if stale > 0 {
            tracing::info!(env = label, stale, "cleared stale LMDB reader slots");
        }
        Ok(Lmdb {
            env,
            gate: RwLock::new(()),
            writer: Mutex::new(()),
            map_size_max_bytes,
            commit_unknown: AtomicBool::new(false),
        })
    }

    pub(crate) fn env(&self) -> &Env<WithoutTls> {
        &self.env
    }

    /// Whether a commit's outcome stayed unknown since the environment opened.
    pub(crate) fn had_unknown_commit(&self) -> bool {
        self.commit_unknown.load(Ordering::Acquire)
    }

    /// Current map size.
    pub(crate) fn map_size_bytes(&self) -> usize {
        self.env.info().map_size
    }

    /// Becomes the one writer; blocks while another thread writes.
    pub(crate) fn lock_writer(&self) -> WriterGuard<'_> {
        WriterGuard(self.writer.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Starts a read transaction. `writer` must be given when the caller holds the writer
    /// lock (the resize that MDB_MAP_RESIZED needs must not take it again).
    pub(crate) fn read_txn(&self, writer: Option<&WriterGuard<'_>>) -> Result<ReadTxn<'_>, StorageError> {
        let mut adopted = false;
        loop {
            let gate = self.gate.read().unwrap_or_else(PoisonError::into_inner);
            match self.env.read_txn() {
                Ok(txn) => return Ok(ReadTxn { txn, _gate: gate }),
                Err(heed::Error::Mdb(MdbError::MapResized)) if !adopted => {
                    drop(gate);
                    match writer {
                        Some(writer) => self.adopt_foreign_size(writer)?,
                        None => self.adopt_foreign_size(&self.lock_writer())?,
                    }
                    adopted = true;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Runs `op` in a write transaction and commits it. On MDB_MAP_FULL (from a put or
    /// the commit) the transaction is aborted, the map grows, and `op` runs again from
    /// scratch; at the maximum size the error is [`StorageError::MapFull`]. Any other
    /// error aborts the transaction and is returned.
    pub(crate) fn write<R>(
        &self,
        writer: &WriterGuard<'_>,
        mut op: impl FnMut(&mut RwTxn<'_>) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        for _ in 0..GROW_ROUNDS_MAX {
            match self.write_once(writer, &mut op) {
                Err(StorageError::MapFull) => self.grow(writer)?,
                other => return other,
            }
        }
        Err(StorageError::MapFull)
    }

    fn write_once<R>(
        &self,
        writer: &WriterGuard<'_>,
        op: &mut impl FnMut(&mut RwTxn<'_>) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let mut wtxn = match self.env.write_txn() {
            Err(heed::Error::Mdb(MdbError::MapResized)) => {
                self.adopt_foreign_size(writer)?;
                self.env.write_txn()?
            }
            other => other?,
        };
        let result = op(&mut wtxn)?;
        let txn_id_before = self.env.info().last_txn_id;
        let injected = fault::hit(FaultPoint::Commit, self.env.path());
        let committed = match injected.before() {
            // Dropping the transaction aborts it: an injected failure before the commit.
            Err(error) => {
                drop(wtxn);
                Err(heed::Error::Io(error))
            }
            Ok(()) => wtxn.commit(),
        };
        let committed = committed.and_then(|()| injected.after().map_err(heed::Error::Io));
        match committed {
            Ok(()) => Ok(result),
            Err(error) => self.resolve_commit_error(error, txn_id_before).map(|()| result),
        }
    }

    /// A commit returned an error. Errors before LMDB wrote anything that matters (a
    /// full map) are returned as they are. Otherwise the outcome is unknown to the
    /// caller: LMDB may have written its meta page (the transaction is then visible in
    /// the map, and later transactions build on it) and failed only on the fsync after
    /// it. If the transaction is visible, one forced sync decides: when it succeeds the
    /// commit is durable and counts as done. In every other case the error is
    /// [`StorageError::CommitUnknown`]: the caller must not undo file operations the
    /// transaction may refer to (files stay; the orphan sweep checks the index later).
    fn resolve_commit_error(&self, error: heed::Error, txn_id_before: usize) -> Result<(), StorageError> {
        let error = StorageError::from(error);
        let visible = self.env.info().last_txn_id > txn_id_before;
        if !visible && matches!(error, StorageError::MapFull) {
            return Err(error);
        }
        if visible {
            match self.env.force_sync() {
                Ok(()) => {
                    tracing::warn!(%error, "commit reported an error but its transaction landed; synced again");
                    return Ok(());
                }
                Err(sync) => tracing::error!(%error, %sync, "commit landed but cannot be made durable"),
            }
        }
        tracing::error!(%error, visible, "commit outcome unknown");
        self.commit_unknown.store(true, Ordering::Release);
        Err(StorageError::CommitUnknown { source: Box::new(error) })
    }

    /// Doubles the map (up to the maximum). The caller's write transaction has ended.
    pub(crate) fn grow(&self, writer: &WriterGuard<'_>) -> Result<(), StorageError> {
        let current = self.map_size_bytes();
        if current >= self.map_size_max_bytes {
            tracing::error!(map_size_bytes = current, "LMDB map full at its maximum size");
            return Err(StorageError::MapFull);
        }
        let target = round_up_to_step(current.saturating_mul(2)).min(self.map_size_max_bytes);
        self.resize(writer, target)?;
        tracing::info!(from = current, to = target, "grew LMDB map");
        Ok(())
    }

    /// Another process grew the map: take its size (LMDB reads it from the meta page).
    fn adopt_foreign_size(&self, writer: &WriterGuard<'_>) -> Result<(), StorageError> {
        self.resize(writer, 0)
    }

    #[expect(unsafe_code, reason = "heed's Env::resize is unsafe")]
    fn resize(&self, _writer: &WriterGuard<'_>, bytes: usize) -> Result<(), StorageError> {
        let _gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: no transaction of this process is live: we hold the writer lock and our
        // write transaction has ended, and the exclusive gate waits out every read
        // transaction (each holds the gate shared for its whole life).
        unsafe { self.env.resize(bytes) }?;
        Ok(())
    }
}
