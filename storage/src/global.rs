//! [`GlobalStore`]: the process-wide LMDB environment in `data/global/` (`data.mdb`,
//! `lock.mdb`), for the few things found by something other than an account name.
//! Today: TLS client public keys (`tls_keys.rs`), looked up by fingerprint during a TLS
//! handshake, before any account is known.
//!
//! The account environments' rules hold here too (`lmdb.rs`): MDB_NOTLS read
//! transactions from any thread, one writer at a time, map growth on MDB_MAP_FULL, and
//! commits durable before a call returns. The writers are admin requests (rare), so the
//! writer mutex serializes them; there is no writer actor. The first write of each open
//! store fsyncs `global/` and the data root, whose entries a run that died right after
//! creating them may have left unsynced. Another process (the CLI beside a running
//! server) may open the same environment: LMDB's lock file coordinates them.
//!
//! # Schema
//!
//! Its own version, [`GLOBAL_SCHEMA_VERSION`], independent of the accounts'. Opening
//! refuses a newer version ([`StorageError::SchemaTooNew`]) or one older than
//! [`GLOBAL_SCHEMA_VERSION_OLDEST`] ([`StorageError::SchemaTooOld`]), untouched.
//!
//! | database          | key                                 | value |
//! |-------------------|-------------------------------------|-------|
//! | `meta`            | ASCII name                          | `schema_version` u32 BE |
//! | `tls_public_keys` | SHA-256 of the SPKI DER (32 bytes)  | version byte + rkyv `TlsPublicKeyRecord` |
//!
//! Schema history: version 1 is the first.

use std::fmt;

use heed::RwTxn;

use crate::datadir::DataDir;
use crate::error::StorageError;
use crate::files::{DurableDirs, ensure_dir};
use crate::keys;
use crate::lmdb::{Lmdb, WriterGuard};
use crate::schema::{Db, Versions, check_empty, create_databases, probe, stored_version};
use crate::store::StoreOptions;

/// Schema version of the global store this build writes. Bump it with every change to
/// its database names, key layouts or record versions, and add a migration step.
pub const GLOBAL_SCHEMA_VERSION: u32 = 1;

/// Oldest global schema version this build can bring up to [`GLOBAL_SCHEMA_VERSION`].
pub const GLOBAL_SCHEMA_VERSION_OLDEST: u32 = 1;
const _: () = assert!(GLOBAL_SCHEMA_VERSION_OLDEST <= GLOBAL_SCHEMA_VERSION);

const GLOBAL_VERSIONS: Versions =
    Versions { current: GLOBAL_SCHEMA_VERSION, oldest: GLOBAL_SCHEMA_VERSION_OLDEST };

/// How many databases the global schema has.
const GLOBAL_DATABASE_COUNT: usize = 2;

/// Names of the global databases, in the order of [`GlobalDatabases::from_array`]. Part
/// of the schema; `meta` must stay first (the probe reads it).
const GLOBAL_DATABASE_NAMES: [&str; GLOBAL_DATABASE_COUNT] = ["meta", "tls_public_keys"];

/// Name of the environment in logs.
const GLOBAL_LABEL: &str = "global";

/// The databases of global schema version 1 (see the module doc).
#[derive(Clone, Copy, Debug)]
pub(crate) struct GlobalDatabases {
    pub(crate) meta: Db,
    pub(crate) tls_public_keys: Db,
}

impl GlobalDatabases {
    fn from_array(dbs: [Db; GLOBAL_DATABASE_COUNT]) -> Self {
        let [meta, tls_public_keys] = dbs;
        GlobalDatabases { meta, tls_public_keys }
    }
}

/// The global store. `Send + Sync`: open it once per process and share it (a second open
/// in the same process is [`StorageError::GlobalStoreAlreadyOpen`]). Every method blocks
/// (reads briefly; writes until the commit is durable).
pub struct GlobalStore {
    pub(crate) lmdb: Lmdb,
    pub(crate) dbs: GlobalDatabases,
    /// `global/` and the data root: their entries must be durable before a commit
    /// relies on them.
    durable_dirs: DurableDirs,
}

impl fmt::Debug for GlobalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlobalStore").field("dir", &self.durable_dirs.first()).finish_non_exhaustive()
    }
}

impl GlobalStore {
    /// Opens the global store in `data/global/`, creating what is missing: the directory
    /// (0700), the environment, its databases and schema version. Map size and reader
    /// slots come from `options` (the global data is small: a few KiB per account).
    /// Blocking: may create files and fsync.
    pub fn open(data: &DataDir, options: &StoreOptions) -> Result<GlobalStore, StorageError> {
        let dir = data.global_dir();
        ensure_dir(&dir)?;
        let lmdb = Lmdb::open(
            &dir,
            GLOBAL_LABEL,
            options.map_size_initial_bytes,
            options.map_size_max_bytes,
            options.readers_max,
        )
        .map_err(|error| match error {
            StorageError::AlreadyOpen { .. } => StorageError::GlobalStoreAlreadyOpen,
            other => other,
        })?;
        let dbs = match probe(&lmdb, &GLOBAL_DATABASE_NAMES, GLOBAL_VERSIONS)? {
            Some(all) => GlobalDatabases::from_array(all),
            None => {
                let writer = lmdb.lock_writer();
                let dbs =
                    GlobalDatabases::from_array(create_databases(&lmdb, &writer, &GLOBAL_DATABASE_NAMES)?);
                lmdb.write(&writer, |wtxn| set_up(wtxn, &dbs))?;
                tracing::info!("global store set up");
                dbs
            }
        };
        Ok(GlobalStore { lmdb, dbs, durable_dirs: DurableDirs::new(vec![dir, data.root().to_path_buf()]) })
    }

    /// Becomes the one writer; the first time in this process, fsyncs the directories
    /// whose entries the commit will rely on (see the module doc).
    pub(crate) fn begin_write(&self) -> Result<WriterGuard<'_>, StorageError> {
        let writer = self.lmdb.lock_writer();
        self.durable_dirs.sync_once()?;
        Ok(writer)
    }
}

/// In one write transaction: a new environment gets its version; one set up meanwhile
/// by another process is left alone. Refuses data without a version, and versions this
/// build cannot handle (no migration steps exist yet).
fn set_up(wtxn: &mut RwTxn<'_>, dbs: &GlobalDatabases) -> Result<(), StorageError> {
    match stored_version(&dbs.meta, wtxn)? {
        None => {
            check_empty(wtxn, &[dbs.meta, dbs.tls_public_keys])?;
            dbs.meta.put(wtxn, keys::META_SCHEMA_VERSION, &GLOBAL_SCHEMA_VERSION.to_be_bytes())?;
            Ok(())
        }
        Some(version) => {
            GLOBAL_VERSIONS.check(version)?;
            if version == GLOBAL_SCHEMA_VERSION {
                return Ok(());
            }
            Err(StorageError::SchemaTooOld { found: version, oldest: GLOBAL_SCHEMA_VERSION_OLDEST })
        }
    }
}
