//! The databases of an account environment, the schema version, first-time setup
//! (counters and default mailboxes) and the migration hook; plus the schema-neutral
//! pieces (probe, database creation, version checks) that the global store
//! (`global.rs`) shares.
//!
//! Opening never writes to an environment whose version it cannot handle: a newer one is
//! [`StorageError::SchemaTooNew`], one older than [`SCHEMA_VERSION_OLDEST`] is
//! [`StorageError::SchemaTooOld`]. Version 0 was never written by a release; a
//! hand-made version-0 environment is refused that way (tested), not migrated.

use heed::types::Bytes;
use heed::{CommitOrAbort, Database, DatabaseOpener, RoTxn, RwTxn, WithoutTls};

use crate::error::StorageError;
use crate::keys;
use crate::lmdb::{GROW_ROUNDS_MAX, Lmdb, WriterGuard};
use crate::mailbox::{DEFAULT_MAILBOXES, insert_mailbox};
use crate::names::INBOX;

/// Schema version this build writes. Bump it with every change to database names, key
/// layouts or record versions, and add the migration step (`schema.rs`).
///
/// Version 2 added the `summaries` and `subscriptions` databases and message records of
/// version 2 (with `saved_ms`); version-1 records stay valid. Version 3 moved the
/// password into the `credentials` meta record (argon2id plus SCRAM and CRAM-MD5
/// secrets); a version-2 `password` key stays valid until the next set replaces it.
/// Version 4 added the `expunged` database (expunged messages kept for the sessions not
/// told yet, `expunged.rs`). Version 5 added the `vanished` database (tombstones by
/// modseq, `tombstones.rs`). Version 6 added the `metadata` database (RFC 5464 entries,
/// `metadata.rs`). Version 7 added the `sortkeys` database (SORT and THREAD keys by
/// mailbox and UID, `sortkeys.rs`); messages stored before it have no entry and are
/// ordered from their summaries. Version 8 added the `textsigs` database (text
/// signatures by message, `textsigs.rs`); messages stored before it have none and are
/// always read by SEARCH BODY and TEXT.
pub const SCHEMA_VERSION: u32 = 8;

/// Oldest schema version the migrations can bring up to [`SCHEMA_VERSION`].
pub const SCHEMA_VERSION_OLDEST: u32 = 1;
const _: () = assert!(SCHEMA_VERSION_OLDEST <= SCHEMA_VERSION);

/// The versions of one schema (an account's, or the global store's) this build handles.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Versions {
    /// The version this build writes.
    pub(crate) current: u32,
    /// The oldest version the migrations bring up to `current`.
    pub(crate) oldest: u32,
}

/// The account schema's versions.
const ACCOUNT_VERSIONS: Versions = Versions { current: SCHEMA_VERSION, oldest: SCHEMA_VERSION_OLDEST };

impl Versions {
    /// Refuses versions we cannot handle.
    pub(crate) fn check(self, version: u32) -> Result<(), StorageError> {
        if version > self.current {
            return Err(StorageError::SchemaTooNew { found: version, supported: self.current });
        }
        if version < self.oldest {
            return Err(StorageError::SchemaTooOld { found: version, oldest: self.oldest });
        }
        Ok(())
    }
}

/// A database of raw bytes; keys and values are encoded by `keys` and `records`.
pub(crate) type Db = Database<'static, Bytes, Bytes>;

/// How many databases the schema has.
const DATABASE_COUNT: usize = 14;

/// Names of the databases, in the order of [`Databases::from_array`]. Part of the schema.
/// The first seven are schema 1's; `meta` must stay first (the probe reads it).
const DATABASE_NAMES: [&str; DATABASE_COUNT] = [
    "meta",
    "mailboxes",
    "mailbox_names",
    "messages",
    "uids",
    "modseqs",
    "tombstones",
    "summaries",
    "subscriptions",
    "expunged",
    "vanished",
    "metadata",
    "sortkeys",
    "textsigs",
];

/// The databases of the current schema (see the table in lib.rs).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Databases {
    pub(crate) meta: Db,
    pub(crate) mailboxes: Db,
    pub(crate) mailbox_names: Db,
    pub(crate) messages: Db,
    pub(crate) uids: Db,
    pub(crate) modseqs: Db,
    pub(crate) tombstones: Db,
    pub(crate) summaries: Db,
    pub(crate) subscriptions: Db,
    pub(crate) expunged: Db,
    pub(crate) vanished: Db,
    pub(crate) metadata: Db,
    pub(crate) sortkeys: Db,
    pub(crate) textsigs: Db,
}

impl Databases {
    fn from_array(dbs: [Db; DATABASE_COUNT]) -> Self {
        let [
            meta,
            mailboxes,
            mailbox_names,
            messages,
            uids,
            modseqs,
            tombstones,
            summaries,
            subscriptions,
            expunged,
            vanished,
            metadata,
            sortkeys,
            textsigs,
        ] = dbs;
        Databases {
            meta,
            mailboxes,
            mailbox_names,
            messages,
            uids,
            modseqs,
            tombstones,
            summaries,
            subscriptions,
            expunged,
            vanished,
            metadata,
            sortkeys,
            textsigs,
        }
    }

    /// Every database, in [`DATABASE_NAMES`] order.
    fn all(&self) -> [Db; DATABASE_COUNT] {
        [
            self.meta,
            self.mailboxes,
            self.mailbox_names,
            self.messages,
            self.uids,
            self.modseqs,
            self.tombstones,
            self.summaries,
            self.subscriptions,
            self.expunged,
            self.vanished,
            self.metadata,
            self.sortkeys,
            self.textsigs,
        ]
    }
}

/// Opens the databases of `lmdb`, setting up a new environment or migrating an old one.
/// Returns whether a setup or migration ran.
pub(crate) fn open_databases(lmdb: &Lmdb) -> Result<(Databases, bool), StorageError> {
    if let Some(all) = probe(lmdb, &DATABASE_NAMES, ACCOUNT_VERSIONS)? {
        return Ok((Databases::from_array(all), false));
    }
    let writer = lmdb.lock_writer();
    let dbs = Databases::from_array(create_databases(lmdb, &writer, &DATABASE_NAMES)?);
    lmdb.write(&writer, |wtxn| set_up(wtxn, &dbs))?;
    Ok((dbs, true))
}

/// Looks at the environment in a read transaction; writes nothing. `Some`: the version
/// is `versions.current` and every database of `names` (`meta` first) is there. `None`:
/// empty, half set up, or older but migratable, so it needs a write. A version outside
/// `versions` is refused.
pub(crate) fn probe<const N: usize>(
    lmdb: &Lmdb,
    names: &[&str; N],
    versions: Versions,
) -> Result<Option<[Db; N]>, StorageError> {
    let rtxn = lmdb.env().read_txn()?;
    let outcome = lmdb.env().open_databases_and_commit(rtxn, |opener, rtxn| {
        let mut opened = Vec::with_capacity(N);
        for name in names {
            opened.push(opener.open_database::<Bytes, Bytes>(rtxn, Some(name))?);
        }
        let Some(Some(meta)) = opened.first().copied() else {
            return Ok(CommitOrAbort::Abort(()));
        };
        let Some(version) = stored_version(&meta, rtxn)? else {
            return Ok(CommitOrAbort::Abort(()));
        };
        versions.check(version)?;
        if version < versions.current {
            return Ok(CommitOrAbort::Abort(()));
        }
        let all: Option<Vec<_>> = opened.into_iter().collect();
        match all.and_then(|all| <[_; N]>::try_from(all).ok()) {
            Some(all) => Ok(CommitOrAbort::Commit(all)),
            None => Err(StorageError::corrupt("schema version is current but a database is missing")),
        }
    })?;
    Ok(match outcome {
        CommitOrAbort::Commit(all) => Some(all),
        CommitOrAbort::Abort(()) => None,
    })
}

/// The `schema_version` entry of `meta`, if set.
pub(crate) fn stored_version(
    meta: &Database<'_, Bytes, Bytes>,
    txn: &RoTxn<'_>,
) -> Result<Option<u32>, StorageError> {
    meta.get(txn, keys::META_SCHEMA_VERSION)?
        .map(|bytes| keys::decode_u32(bytes, "schema version"))
        .transpose()
}

/// Creates (or opens) every database of `names` in its own committed transaction.
pub(crate) fn create_databases<const N: usize>(
    lmdb: &Lmdb,
    writer: &WriterGuard<'_>,
    names: &[&str; N],
) -> Result<[Db; N], StorageError> {
    let env = lmdb.env();
    // create_databases_and_commit consumes its transaction, so the MapFull retry of
    // `Lmdb::write` is done here by hand.
    for _ in 0..GROW_ROUNDS_MAX {
        let wtxn = env.write_txn()?;
        let result = env.create_databases_and_commit(wtxn, |opener, wtxn| {
            create_all(opener, wtxn, names).map(CommitOrAbort::<_, ()>::Commit)
        });
        match result {
            Ok(CommitOrAbort::Commit(all)) => return Ok(all),
            Ok(CommitOrAbort::Abort(())) => {
                return Err(StorageError::corrupt("database creation aborted"));
            }
            Err(StorageError::MapFull) => lmdb.grow(writer)?,
            Err(error) => return Err(error),
        }
    }
    Err(StorageError::MapFull)
}

fn create_all<'e, const N: usize>(
    opener: &DatabaseOpener<'e, WithoutTls>,
    wtxn: &mut RwTxn<'e>,
    names: &[&str; N],
) -> Result<[Database<'e, Bytes, Bytes>; N], StorageError> {
    let mut created = Vec::with_capacity(N);
    for name in names {
        created.push(opener.create_database::<Bytes, Bytes>(wtxn, Some(name))?);
    }
    <[_; N]>::try_from(created)
        .map_err(|_| StorageError::corrupt("database creation returned the wrong count"))
}

/// Refuses an environment that has data but no version (first-time setup must find
/// every database empty).
pub(crate) fn check_empty(wtxn: &RwTxn<'_>, dbs: &[Db]) -> Result<(), StorageError> {
    for db in dbs {
        if !db.is_empty(wtxn)? {
            return Err(StorageError::corrupt("no schema version, but data present"));
        }
    }
    Ok(())
}

/// In one write transaction: a new environment gets version, counters and the default
/// mailboxes; an old one is migrated. Re-checks the version (another process may have
/// set it up meanwhile).
fn set_up(wtxn: &mut RwTxn<'_>, dbs: &Databases) -> Result<(), StorageError> {
    match stored_version(&dbs.meta, wtxn)? {
        None => initialize(wtxn, dbs),
        Some(version) => {
            ACCOUNT_VERSIONS.check(version)?;
            migrate(wtxn, dbs, version)
        }
    }
}

/// First-time setup. Refuses an environment that has data but no version.
fn initialize(wtxn: &mut RwTxn<'_>, dbs: &Databases) -> Result<(), StorageError> {
    check_empty(wtxn, &dbs.all())?;
    let put_u32 = |wtxn: &mut RwTxn<'_>, key, value: u32| dbs.meta.put(wtxn, key, &value.to_be_bytes());
    let put_u64 = |wtxn: &mut RwTxn<'_>, key, value: u64| dbs.meta.put(wtxn, key, &value.to_be_bytes());
    put_u32(wtxn, keys::META_SCHEMA_VERSION, SCHEMA_VERSION)?;
    put_u64(wtxn, keys::META_NEXT_MESSAGE_ID, 1)?;
    put_u32(wtxn, keys::META_NEXT_MAILBOX_ID, 1)?;
    put_u32(wtxn, keys::META_NEXT_UIDVALIDITY, uidvalidity_seed())?;
    put_u64(wtxn, keys::META_HIGHEST_MODSEQ, 1)?;
    insert_mailbox(wtxn, dbs, INBOX, None)?;
    for (name, special_use) in DEFAULT_MAILBOXES {
        insert_mailbox(wtxn, dbs, name, Some(special_use))?;
    }
    Ok(())
}

/// First UIDVALIDITY of an account: the current time in seconds, as RFC 9051 §2.3.1.1
/// suggests, so an account removed and created again does not repeat old values.
fn uidvalidity_seed() -> u32 {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(1);
    // Leaves 2^31 values of room below u32::MAX; wraps (harmlessly) only after 2038.
    u32::try_from(seconds % (1 << 31)).unwrap_or(1).max(1)
}

/// One migration step: rewrites version `n` data into version `n + 1`, inside the
/// caller's transaction.
type MigrationStep = fn(&mut RwTxn<'_>, &Databases) -> Result<(), StorageError>;

/// The migration hook: `(n, step)` brings version `n` to `n + 1`.
const MIGRATIONS: &[(u32, MigrationStep)] = &[
    (1, migrate_1_to_2),
    (2, migrate_2_to_3),
    (3, migrate_3_to_4),
    (4, migrate_4_to_5),
    (5, migrate_5_to_6),
    (6, migrate_6_to_7),
    (7, migrate_7_to_8),
];

/// Schema 1 to 2: `summaries` and `subscriptions` were created (empty) by
/// `create_databases` before this step. Message records stay version 1 and are read as
/// such (`saved_ms` = `received_ms`, no summary): rewriting them would make opening a
/// large account one huge transaction. Their next change writes version 2.
fn migrate_1_to_2(wtxn: &mut RwTxn<'_>, dbs: &Databases) -> Result<(), StorageError> {
    for db in [dbs.summaries, dbs.subscriptions] {
        if !db.is_empty(wtxn)? {
            return Err(StorageError::corrupt("schema 1 environment with schema 2 data"));
        }
    }
    Ok(())
}

/// Schema 2 to 3: credentials moved from the `password` meta key (a PHC string) to the
/// `credentials` record. Nothing is rewritten here: the old key reads as credentials
/// with only the argon2id hash, and the next `set_credentials` or `set_password`
/// replaces it (in one transaction), which keeps the step free of password handling.
fn migrate_2_to_3(wtxn: &mut RwTxn<'_>, dbs: &Databases) -> Result<(), StorageError> {
    if dbs.meta.get(wtxn, keys::META_CREDENTIALS)?.is_some() {
        return Err(StorageError::corrupt("schema 2 environment with schema 3 credentials"));
    }
    Ok(())
}

/// Schema 3 to 4: `expunged` was created (empty) by `create_databases`; earlier
/// versions removed expunged messages at once, so there is nothing to carry over.
fn migrate_3_to_4(wtxn: &mut RwTxn<'_>, dbs: &Databases) -> Result<(), StorageError> {
    if !dbs.expunged.is_empty(wtxn)? {
        return Err(StorageError::corrupt("schema 3 environment with schema 4 data"));
    }
    Ok(())
}

/// Schema 4 to 5: `vanished` was created (empty) by `create_databases`; it is filled
/// from `tombstones` here (`tombstones.rs`).
fn migrate_4_to_5(wtxn: &mut RwTxn<'_>, dbs: &Databases) -> Result<(), StorageError> {
    crate::tombstones::index_all(wtxn, dbs)
}

/// Schema 5 to 6: `metadata` was created (empty) by `create_databases`; no earlier
/// version kept METADATA entries, so there is nothing to carry over.
fn migrate_5_to_6(wtxn: &mut RwTxn<'_>, dbs: &Databases) -> Result<(), StorageError> {
    if !dbs.metadata.is_empty(wtxn)? {
        return Err(StorageError::corrupt("schema 5 environment with schema 6 data"));
    }
    Ok(())
}

/// Schema 6 to 7: `sortkeys` was created (empty) by `create_databases`. It is not
/// filled here (that would make opening a large account one huge transaction): messages
/// without an entry are ordered from their summaries, as before.
fn migrate_6_to_7(wtxn: &mut RwTxn<'_>, dbs: &Databases) -> Result<(), StorageError> {
    if !dbs.sortkeys.is_empty(wtxn)? {
        return Err(StorageError::corrupt("schema 6 environment with schema 7 data"));
    }
    Ok(())
}

/// Schema 7 to 8: `textsigs` was created (empty) by `create_databases`. Not filled here
/// (that would read every message file while opening the account): messages without a
/// signature are read by SEARCH BODY and TEXT, as before.
fn migrate_7_to_8(wtxn: &mut RwTxn<'_>, dbs: &Databases) -> Result<(), StorageError> {
    if !dbs.textsigs.is_empty(wtxn)? {
        return Err(StorageError::corrupt("schema 7 environment with schema 8 data"));
    }
    Ok(())
}

/// Brings `from` up to [`SCHEMA_VERSION`] step by step, then records the version.
fn migrate(wtxn: &mut RwTxn<'_>, dbs: &Databases, from: u32) -> Result<(), StorageError> {
    let mut version = from;
    while version < SCHEMA_VERSION {
        let Some((_, step)) = MIGRATIONS.iter().find(|(step_from, _)| *step_from == version) else {
            return Err(StorageError::SchemaTooOld { found: from, oldest: SCHEMA_VERSION_OLDEST });
        };
        step(wtxn, dbs)?;
        version += 1;
        tracing::info!(version, "migrated account schema");
    }
    assert_eq!(version, SCHEMA_VERSION);
    dbs.meta.put(wtxn, keys::META_SCHEMA_VERSION, &version.to_be_bytes())?;
    Ok(())
}
