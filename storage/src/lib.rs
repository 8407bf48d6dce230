//! moxide's account store: one LMDB environment (heed) per account holding the index of
//! mailboxes and messages as rkyv records, plus one plain file per message; and one
//! small global environment ([`GlobalStore`]) for what is found by something other than
//! an account name (TLS client public keys).
//!
//! # Design overview
//!
//! ```text
//! data/accounts/<account>/index/          LMDB env (data.mdb, lock.mdb), see "Schema"
//! data/accounts/<account>/msg/<hi>/<id>   message file: the original bytes, hi = id >> 12
//! data/global/                            LMDB env of the GlobalStore (own schema version)
//! data/queue/index/, data/queue/msg/       the outbound queue ([`queue::QueueStore`], own schema)
//! data/tmp/                               spool, on the same filesystem so links work
//! ```
//!
//! Everything here blocks: the actors crate calls the write methods (one writer per
//! account, the account actor) and opens from a blocking-offload thread, and the read
//! methods from any thread. Reads run in MDB_NOTLS read transactions
//! ([`AccountStore::read`]), so many tasks may share one thread.
//!
//! ## Write order and crash safety
//!
//! [`AccountStore::deliver`]: the caller fsynced the spool file; we hard-link it to
//! `msg/<hi>/<id>` (copy + fsync across filesystems), fsync each touched directory once,
//! then write every record of the batch in one LMDB transaction whose commit is durable.
//! A crash before the commit leaves at worst an orphan file whose id was never indexed; it
//! is reported by [`AccountStore::check_consistency`] and replaced when its id is
//! allocated again. [`AccountStore::expunge`] does the reverse: index first; the file
//! goes with [`AccountStore::purge_expunged`], once no open session view can still show
//! the message (`expunged.rs`, `views.rs`), after that purge's commit. There is never an
//! index entry without its file.
//!
//! A commit error is resolved before the write returns (`lmdb.rs`): a transaction that is
//! visible in the map and survives a forced sync counts as committed; otherwise the write
//! fails with [`StorageError::CommitUnknown`] and keeps every file it linked, because the
//! index may refer to them. Files are removed only when the index is known not to refer to
//! them. [`AccountStore::sweep_orphans`] moves files without a record (neither a message
//! nor a kept expunged entry) aside, checking the index under the writer lock (server
//! start, `verifydata --fix`). Every assertion of what a write made true runs inside its
//! transaction, so nothing fails or panics after a commit: a committed write is always
//! reported as committed. [`fault`] injects failures into these steps in test builds.
//! [`AccountStore::copy_messages`] follows delivery (link the source files to new ids,
//! fsync, one transaction); [`AccountStore::move_messages`] changes only the index (the
//! message keeps its id and file); [`AccountStore::delete_mailbox`] follows expunge.
//!
//! Directory entries are made durable before a commit relies on them: a new `msg/<hi>`
//! is followed by an fsync of `msg/` (retried by later batches if it failed), and the
//! first write of each open store fsyncs `msg/`, `index/`, the account directory,
//! `accounts/` and the root, which a run that died right after creating them may have
//! left unsynced.
//!
//! ## Schema (the database names are part of it)
//!
//! Schema version [`SCHEMA_VERSION`]. All integers in keys are big-endian so that LMDB's
//! byte order is numeric order.
//!
//! | database        | key                                  | value |
//! |-----------------|--------------------------------------|-------|
//! | `meta`          | ASCII name                           | `schema_version` u32, `next_message_id` u64, `next_mailbox_id` u32, `next_uidvalidity` u32, `highest_modseq` u64 (all BE), `credentials` (version byte + rkyv record, [`StoredCredentials`]), `password` (PHC string, schema 2; replaced by `credentials` on the next set), `urlauth_key` + MailboxId u32 BE (32-byte URLAUTH access key, RFC 4467 §7, `urlauth.rs`; no schema change: older code never walks `meta`) |
//! | `mailboxes`     | MailboxId                            | version byte + rkyv `MailboxRecord` |
//! | `mailbox_names` | UTF-8 name (`INBOX` upper case)      | MailboxId |
//! | `messages`      | MessageId                            | version byte + rkyv [`MessageRecord`] (v2; v1 read too) |
//! | `uids`          | (MailboxId, Uid)                     | MessageId |
//! | `modseqs`       | (MailboxId, ModSeq, Uid)             | empty |
//! | `tombstones`    | (MailboxId, Uid) of expunged message | ModSeq of the expunge |
//! | `summaries`     | MessageId                            | opaque bytes ([`NewMessage::summary`]), optional per message |
//! | `subscriptions` | UTF-8 mailbox name (canonical)       | empty |
//! | `expunged`      | (ModSeq of the expunge, MailboxId, Uid) | MessageId, owns-file byte, the record as it was in `messages` (schema 4) |
//! | `vanished`      | (MailboxId, ModSeq of the expunge, Uid) | empty: `tombstones` by modseq (schema 5) |
//! | `metadata`      | (scope u32: 0 server, else MailboxId; entry name) | the value's bytes: RFC 5464 entries (schema 6, `metadata.rs`) |
//! | `sortkeys`      | (MailboxId, Uid)                     | received_ms i64 LE, served size u64 LE, SORT/THREAD keys (opaque; schema 7, `sortkeys.rs`), optional per message |
//! | `textsigs`      | MessageId                            | text signature for SEARCH BODY/TEXT (opaque; schema 8, `textsigs.rs`), optional per message, only beside a summary |
//!
//! Records are rkyv 0.8 archives built with the `unaligned` feature (LMDB values have no
//! alignment) and are read in place after validation (`rkyv::access`, never the unchecked
//! variant). Each value starts with a record version byte outside the archive, so a later
//! version can pick another archived type before touching the bytes. Data added later
//! goes into new databases keyed by MessageId, as the summaries did.
//!
//! Schema history: version 1 had the first seven databases and message records v1.
//! Version 2 added `summaries`, `subscriptions` and message records v2 (`saved_ms`,
//! RFC 8514 SAVEDATE). The 1 → 2 migration only creates the databases: v1 records stay
//! and read with `saved_ms = received_ms`; a change rewrites them as v2. A schema-1
//! environment written by the schema-1 code is kept in `tests/fixtures/schema1/` and
//! opened by the tests. Version 3 added the `credentials` meta record (argon2id, SCRAM
//! and CRAM-MD5 secrets). The 2 → 3 migration rewrites nothing: a schema-2 `password`
//! key reads as credentials with only the argon2id hash, and the next set of a password
//! or credentials replaces it. A schema-2 environment is kept in
//! `tests/fixtures/schema2/` and opened by the tests. Version 4 added `expunged`
//! (deferred removal of expunged messages); the 3 → 4 step only creates it. Version 5
//! added `vanished`, the tombstones by modseq, so "expunged since M" reads only its
//! answer; the 4 → 5 step fills it from `tombstones` (`tombstones.rs`). Version 6 added
//! `metadata`, the server's and mailboxes' METADATA entries (RFC 5464); the 5 → 6 step
//! only creates it. Version 7 added `sortkeys`, what SORT and
//! THREAD order by, per (mailbox, UID); the 6 → 7 step only creates it, and messages
//! stored before have no entry (ordered from their summaries). Version 8 added
//! `textsigs`, per message the trigram signature SEARCH BODY and TEXT filter with; the
//! 7 → 8 step only creates it, and messages stored before have none (always read).
//!
//! ## Mailbox names
//!
//! Hierarchy delimiter `/`; `INBOX` (and the `INBOX/` prefix) in any case is stored upper
//! case, other names are case-sensitive. CREATE and RENAME create missing ancestors;
//! DELETE refuses a mailbox with children. Names are UTF-8 (the IMAP layer converts
//! modified UTF-7).
//!
//! ## Counters
//!
//! One modseq counter per account (`highest_modseq`, starts at 1; every change takes the
//! next value); each mailbox's highest modseq is the largest one among its changes.
//! UIDVALIDITY comes from an account counter seeded from the clock, so a mailbox deleted
//! and created again never reuses one (RFC 9051 §2.3.1.1).
//!
//! ## Map size
//!
//! Environments start small ([`StoreOptions::map_size_initial_bytes`]) and double on
//! MDB_MAP_FULL up to [`StoreOptions::map_size_max_bytes`]. Resizing needs no live
//! transaction in the process: every read transaction holds a shared gate that the
//! resize takes exclusively (so a read may wait for the longest running one, once per
//! doubling).
//!
//! ## The global store
//!
//! [`GlobalStore`] is one environment per data directory in `data/global/`, beside
//! `accounts/` (so [`DataDir::account_names`] never lists it), with the account
//! environments' locking and crash rules and its own schema version
//! ([`GLOBAL_SCHEMA_VERSION`]). It maps the SHA-256 of a TLS client certificate's
//! SubjectPublicKeyInfo to the account and address it logs in as ([`TlsPublicKey`]).
//!
//! ## Open stores
//!
//! [`StoreCache`] opens stores lazily and closes the least recently used (and idle) ones
//! nobody holds, bounding descriptors and address space.
//!
//! # Architecture invariants
//!
//! No async, no runtime, no sockets. heed types stay inside: the public API speaks in the
//! newtypes of [`ids`] and the types below.

#![deny(unsafe_code)]

mod cache;
mod change;
mod consistency;
mod copy;
mod credentials;
mod datadir;
mod deliver;
pub mod dmarc_evaluations;
mod error;
mod expunged;
pub mod fault;
mod files;
pub mod flags;
mod global;
mod group_commit;
pub mod ids;
mod keys;
mod lmdb;
mod lock;
mod mailbox;
mod metadata;
mod names;
mod orphans;
mod password;
pub mod queue;
mod records;
mod rename;
mod reports;
mod schema;
mod sortkeys;
mod store;
mod textsigs;
mod tls_keys;
pub mod tls_policy;
mod tombstones;
mod urlauth;
mod view;
mod views;

#[cfg(test)]
mod tests;

pub use cache::StoreCache;
pub use change::{Expunged, FlagOp, FlagsChanged, FlagsStored};
pub use consistency::ConsistencyReport;
pub use copy::Copied;
pub use credentials::{SCRAM_SALT_BYTES_MAX, ScramRecord, StoredCredentials};
pub use datadir::DataDir;
pub use deliver::{
    DELIVERY_BATCH_MAX, Delivered, MailboxTarget, NewMessage, PREFIX_BYTES_MAX, SUMMARY_BYTES_MAX,
};
pub use error::{DeliveryError, MailboxLimit, MetadataLimit, StorageError};
pub use flags::{Flags, SpecialUse};
pub use global::{GLOBAL_SCHEMA_VERSION, GLOBAL_SCHEMA_VERSION_OLDEST, GlobalStore};
pub use ids::{MailboxId, MessageId, ModSeq, Uid, UidValidity};
pub use lmdb::MAP_SIZE_MIN_BYTES;
pub use lock::{DataDirLock, LOCK_FILE_NAME};
pub use mailbox::{DEFAULT_MAILBOXES, MAILBOX_DEPTH_MAX, MAILBOXES_MAX, MailboxInfo, MailboxLimits};
pub use metadata::{
    METADATA_ACCOUNT_BYTES_MAX, METADATA_ENTRIES_PER_ACCOUNT_MAX, METADATA_ENTRIES_PER_MAILBOX_MAX,
    METADATA_ENTRY_NAME_BYTES_MAX, METADATA_VALUE_BYTES_MAX, MetadataEntries,
};
pub use names::{
    ACCOUNT_NAME_BYTES_MAX, KEYWORD_BYTES_MAX, KEYWORDS_PER_MESSAGE_MAX, MAILBOX_NAME_BYTES_MAX,
    is_valid_account_name,
};
pub use orphans::OrphanSweep;
pub use password::{PASSWORD_BYTES_MAX, hash_password, verify_password_hash};
pub use records::{ArchivedMessageRecord, MessageInfo, MessageRecord};
pub use rename::{InboxMoved, Renamed};
pub use reports::{REPORT_FILES_MAX, ReportStore};
pub use schema::{SCHEMA_VERSION, SCHEMA_VERSION_OLDEST};
pub use sortkeys::{
    SORT_KEYS_BYTES_MAX, SORT_KEYS_HEADER_BYTES, SortKeysDeriver, SortKeysEntry, set_sort_keys_deriver,
};
pub use store::{AccountStore, READ_WHOLE_BYTES_MAX, StoreOptions};
pub use textsigs::{TEXT_SIGNATURE_BYTES_MAX, TextSignatureDeriver, set_text_signature_deriver};
pub use tls_keys::{
    LOGIN_ADDRESS_BYTES_MAX, SPKI_BYTES_MAX, TLS_PUBLIC_KEY_NAME_BYTES_MAX, TLS_PUBLIC_KEYS_PER_ACCOUNT_MAX,
    TlsPublicKey,
};
pub use urlauth::URLAUTH_KEY_BYTES;
pub use view::ReadView;
pub use views::{View, Views};

// Shared across threads as the actors crate expects.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<AccountStore>();
    shared::<StoreCache>();
    shared::<DataDir>();
    shared::<GlobalStore>();
};
