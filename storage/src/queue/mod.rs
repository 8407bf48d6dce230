//! [`QueueStore`]: the outbound queue's LMDB environment in `data/queue/index/` and its
//! message files in `data/queue/msg/<hi>/<id>` (hi = id >> 12).
//!
//! A queued message is one record (envelope, size, header prefix) plus one record per
//! destination: its recipients grouped by recipient domain, in the order the domains
//! first appear, each destination with its own attempt count, next attempt time, hold
//! flag and the last result per recipient (one SMTP transaction serves a destination).
//! A schedule index (`due`) orders destinations by their next attempt, so finding due
//! work never scans the queue. A message's file is linked once, from the spool file the
//! SMTP session wrote (the same inode the account deliveries link), never copied per
//! recipient. A message of at most 64 KiB that the session still holds in memory is
//! instead stored inline, in the `bodies` database (`content.rs`), written and removed
//! in the same transactions as its records.
//!
//! # Write order and crash safety (as the account stores, `lib.rs`)
//!
//! [`QueueStore::enqueue`]: the caller wrote each spool file; we hard-link it to its
//! queue path, sync the linked files' data and the touched directories, then write
//! every record of the batch (and the inline messages' bytes) in one LMDB transaction
//! whose commit is durable before the call returns. Only then may the submitter be
//! told `250`. A crash before the commit leaves at worst a file whose id has no record: [`QueueStore::open`] removes such
//! files (nothing refers to them; the id is taken again by the next enqueue). An error
//! before the commit removes the files this call linked;
//! [`StorageError::CommitUnknown`] keeps them (the sweep at the next open decides).
//! Removing a message (delivered, failed, dropped) is the reverse: its records go in a
//! transaction, its file after the commit (once the commit's group has its results); a
//! crash between leaves an orphan file, swept at the next open. So there is never a
//! record without its file (or its inline bytes, which go with it). Ids of committed
//! messages are never reused (the next id only grows), which the kept bytes of
//! `fresh.rs` and the appended chunks of `content.rs` rely on.
//!
//! [`QueueStore::apply`] replaces or removes destinations after an attempt and enqueues
//! the DSNs the attempt produced in the same transaction, so a delivery result and the
//! DSN about it are durable together or not at all.
//!
//! # Schema
//!
//! Version [`QUEUE_SCHEMA_VERSION`]; integers in keys are big-endian.
//!
//! | database       | key                                         | value |
//! |----------------|---------------------------------------------|-------|
//! | `meta`         | ASCII name                                  | `schema_version` u32, `next_queue_id` u64 |
//! | `messages`     | QueueId u64                                 | version byte + rkyv message record |
//! | `destinations` | (QueueId u64, index u32)                    | version byte + rkyv destination record |
//! | `due`          | (next attempt ms u64, QueueId u64, index u32) | empty; only destinations not held |
//! | `suppressions` | account NUL address                         | version byte + rkyv (added, reason) |
//! | `sent`         | account NUL minute-ms u64; account NUL (totals) | recipients u32, first-time recipients u32; totals as u64, u64 |
//! | `known_recipients` | account NUL address                     | last queued ms u64 |
//! | `hold_rules`   | rule id u64                                 | version byte + rkyv rule |
//! | `bodies`       | (QueueId u64, chunk u16)                    | up to 2,000 bytes of an inline message |
//!
//! `suppressions` to `hold_rules` are the sending policy (`policy.rs`). An enqueue writes, in its one
//! transaction, the send record of a submitted message (so a limit check and the counts
//! it read cannot be undone by a crash between them) and decides each destination's
//! hold flag from the hold rules.
//!
//! Schema history: version 1 is the first. Version 2 added the policy databases,
//! message records of version 2 (`to_junk`) and destination records of version 2 (each
//! recipient's pinned `account`); version-1 records stay valid, so the migration only
//! creates the databases. Version 3 keeps the send record by minute, with the account's
//! totals (an older moxide would take the totals record for a corrupt entry, hence the
//! version); version 2's per-message entries still read and leave with the window.
//! Version 4 added `bodies` (inline messages; an older moxide would find their records
//! without a file); the migration only creates it.

mod content;
mod fresh;
mod policy;
mod records;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use heed::{RoTxn, RwTxn};

pub use content::{QUEUE_INLINE_BYTES_MAX, QueuedContent};
pub use policy::{
    HoldRule, POLICY_LIST_MAX, POLICY_PAGE_MAX, SEND_WINDOW_MS, SUPPRESSION_REASON_BYTES_MAX, SendCounts,
    SendLimitKind, SendQuota, Suppression,
};
pub use records::{
    Destination, DestinationKey, QUEUE_ADDRESS_BYTES_MAX, QUEUE_DESTINATION_RECIPIENTS_MAX,
    QUEUE_PREFIX_BYTES_MAX, QUEUE_REPLY_TEXT_BYTES_MAX, QueueId, QueuedBody, QueuedMessage, QueuedRecipient,
    StoredReply,
};
use records::{
    check_destination, check_message, decode_destination, decode_message, encode_destination, encode_message,
};

use crate::datadir::DataDir;
use crate::error::StorageError;
use crate::files::{DurableDirs, ensure_dir, link_message, remove_if_exists, sync_dir, sync_linked};
use crate::group_commit::{GroupCommit, Turn};
use crate::keys;
use crate::lmdb::{Lmdb, WriterGuard};
use crate::schema::{Db, Versions, check_empty, create_databases, probe, stored_version};
use crate::store::StoreOptions;

/// Schema version of the queue store this build writes.
pub const QUEUE_SCHEMA_VERSION: u32 = 4;
const QUEUE_VERSIONS: Versions = Versions { current: QUEUE_SCHEMA_VERSION, oldest: 1 };

/// Most destinations one [`QueueStore::due`] call returns: the queue actor takes them in
/// rounds; 1000 destinations' records are a few hundred KiB.
pub const QUEUE_DUE_BATCH_MAX: usize = 1000;

/// Most due entries one [`QueueStore::due_where`] call looks at: 4,000 (a few
/// milliseconds of a helper thread). Past a larger backlog of refused destinations, other
/// domains' mail waits until that backlog's attempts end.
pub const QUEUE_DUE_SCAN_MAX: usize = 4000;

/// Most messages one [`QueueStore::list`] returns (a listing for an operator).
pub const QUEUE_LIST_MAX: usize = 10_000;

/// Most messages one [`QueueStore::page`] returns: a screenful for an operator or an
/// API client; 500 messages with their destinations are some hundred KiB of JSON.
pub const QUEUE_PAGE_MAX: usize = 500;

/// Most messages one [`QueueStore::page`] examines (filters may skip most of them):
/// bounds the read transaction and the helper thread's time per request (10,000
/// records are a few ms); the caller continues after the last one examined.
pub const QUEUE_PAGE_SCAN_MAX: usize = 10_000;

/// One page of the queue (see [`QueueStore::page`]).
#[derive(Debug, Default)]
pub struct QueuePage {
    /// Messages selected, by id, with their destinations.
    pub messages: Vec<(QueuedMessage, Vec<Destination>)>,
    /// Where the next page starts (after this id), when messages remain unexamined.
    pub next_after: Option<QueueId>,
    last_seen: Option<QueueId>,
}

const QUEUE_DATABASE_NAMES: [&str; 9] = [
    "meta",
    "messages",
    "destinations",
    "due",
    "suppressions",
    "sent",
    "known_recipients",
    "hold_rules",
    "bodies",
];
const META_NEXT_HOLD_RULE_ID: &[u8] = b"next_hold_rule_id";
const META_NEXT_QUEUE_ID: &[u8] = b"next_queue_id";
const QUEUE_LABEL: &str = "queue";
/// Files per `msg/<hi>` directory: 4096, as the account stores.
const QUEUE_FILES_PER_DIR_SHIFT: u32 = 12;

#[derive(Clone, Copy, Debug)]
struct QueueDatabases {
    meta: Db,
    messages: Db,
    destinations: Db,
    due: Db,
    suppressions: Db,
    sent: Db,
    known_recipients: Db,
    hold_rules: Db,
    bodies: Db,
}

impl QueueDatabases {
    fn from_array(dbs: [Db; 9]) -> Self {
        let [meta, messages, destinations, due, suppressions, sent, known_recipients, hold_rules, bodies] =
            dbs;
        QueueDatabases {
            meta,
            messages,
            destinations,
            due,
            suppressions,
            sent,
            known_recipients,
            hold_rules,
            bodies,
        }
    }
}

/// A message to queue: its bytes, envelope and recipients.
#[derive(Debug, Clone)]
pub struct NewQueued {
    /// The bytes: a spool file, linked (not moved) into the queue and synced there, or
    /// the message itself, stored in the queue's database.
    pub content: QueuedContent,
    /// The envelope; `id` is ignored (the store assigns one).
    pub message: QueuedMessage,
    /// The recipients, in order; grouped by domain into destinations.
    pub recipients: Vec<QueuedRecipient>,
    /// When the first attempt is due (now, or a FUTURERELEASE time), Unix ms.
    pub first_attempt_ms: i64,
    /// Queue it held.
    pub held: bool,
    /// A submission's send limits, checked in the enqueue's transaction: over one, the
    /// enqueue fails with [`StorageError::SendLimit`] and nothing of it is stored.
    pub send_quota: Option<SendQuota>,
}

/// A change to one destination after an attempt (or an operator's command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueUpdate {
    /// Replace the destination with this one (same key).
    Put(Destination),
    /// The destination is done (every recipient delivered or failed for good).
    Remove(DestinationKey),
}

/// Which destinations an operator's command applies to; every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFilter {
    /// Only this message.
    pub message: Option<QueueId>,
    /// Only destinations of this domain (compared without case).
    pub domain: Option<String>,
}

impl QueueFilter {
    /// Whether `destination` is selected.
    pub fn matches(&self, destination: &Destination) -> bool {
        self.message.is_none_or(|id| id == destination.key.message)
            && self.domain.as_deref().is_none_or(|d| d.eq_ignore_ascii_case(&destination.domain))
    }
}

/// The outbound queue's store. `Send + Sync`; every method blocks.
pub struct QueueStore {
    lmdb: Lmdb,
    dbs: QueueDatabases,
    msg_dir: PathBuf,
    durable_dirs: DurableDirs,
    /// Enqueues and attempt results of concurrent callers share one transaction.
    group: GroupCommit<Apply, Result<Vec<QueueId>, StorageError>>,
    /// Messages a commit removed, each with whether it had a file (not inline): dropped
    /// from `fresh` and their files unlinked once the group's results are out (their
    /// waiters need not wait for the unlinks); at most one group's worth.
    unreferenced: Mutex<Vec<(QueueId, bool)>>,
    /// Recently queued small messages' bytes (`fresh.rs`).
    fresh: fresh::FreshFiles,
}

/// One caller's [`QueueStore::apply_with`] (an enqueue is one with only `new`).
struct Apply {
    updates: Vec<QueueUpdate>,
    new: Vec<NewQueued>,
    suppressions: Vec<Suppression>,
}

impl fmt::Debug for QueueStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueStore").field("msg_dir", &self.msg_dir).finish_non_exhaustive()
    }
}

fn due_key(next_attempt_ms: i64, key: DestinationKey) -> [u8; 20] {
    let mut out = [0; 20];
    out[..8].copy_from_slice(&u64::try_from(next_attempt_ms.max(0)).unwrap_or(0).to_be_bytes());
    out[8..16].copy_from_slice(&key.message.0.to_be_bytes());
    out[16..].copy_from_slice(&key.index.to_be_bytes());
    out
}

fn destination_key(key: DestinationKey) -> [u8; 12] {
    let mut out = [0; 12];
    out[..8].copy_from_slice(&key.message.0.to_be_bytes());
    out[8..].copy_from_slice(&key.index.to_be_bytes());
    out
}

fn decode_destination_key(bytes: &[u8]) -> Result<DestinationKey, StorageError> {
    let (id, index) = bytes
        .split_first_chunk::<8>()
        .and_then(|(id, rest)| Some((*id, <[u8; 4]>::try_from(rest).ok()?)))
        .ok_or_else(|| StorageError::corrupt("queue destination key of the wrong length"))?;
    Ok(DestinationKey { message: QueueId(u64::from_be_bytes(id)), index: u32::from_be_bytes(index) })
}

/// Most entries that left the send window one enqueue deletes: a store from before
/// minute entries may hold a day of per-message ones; later enqueues take the rest.
const SENT_STALE_DELETE_MAX: usize = 4096;

/// An account's send record as [`QueueStore::scan_sent`] read it.
struct SentScan {
    /// Sums of every entry stored (what the totals record holds).
    stored: SendCounts,
    /// Sums of the stored entries that left the window.
    expired: SendCounts,
    /// The first of those (at most [`SENT_STALE_DELETE_MAX`]), oldest first, to delete.
    stale: Vec<(Vec<u8>, SendCounts)>,
}

impl SentScan {
    fn window(&self) -> SendCounts {
        self.stored.minus(self.expired)
    }
}

/// The send limits (mox's rule: each recipient counts as a message; first-time
/// recipients count only when this message has some).
fn check_quota(
    quota: &SendQuota,
    window: &SendCounts,
    count: u32,
    first_time: u32,
) -> Result<(), StorageError> {
    if window.recipients + u64::from(count) > u64::from(quota.messages_max) {
        return Err(StorageError::SendLimit { kind: SendLimitKind::Messages, max: quota.messages_max });
    }
    if first_time > 0 && window.first_time + u64::from(first_time) > u64::from(quota.first_time_max) {
        return Err(StorageError::SendLimit {
            kind: SendLimitKind::FirstTimeRecipients,
            max: quota.first_time_max,
        });
    }
    Ok(())
}

/// The domain of `address` (after the last `@`), lower case: the grouping key.
pub fn recipient_domain(address: &str) -> String {
    address.rsplit_once('@').map_or(address, |(_, domain)| domain).to_lowercase()
}

impl QueueStore {
    /// Opens the queue in `data/queue/`, creating what is missing, and removes message
    /// files without a record (left by a crash; see the module doc). Blocking. Only the
    /// process holding the data directory's lock (the server) may call it: the sweep
    /// would take the file of an enqueue under way in another process.
    pub fn open(data: &DataDir, options: &StoreOptions) -> Result<QueueStore, StorageError> {
        let store = Self::open_shared(data, options)?;
        let removed = store.sweep_orphans()?;
        if removed > 0 {
            tracing::info!(removed, "removed queue message files without a record");
        }
        Ok(store)
    }

    /// Opens the queue beside a running server (the `moxide queue` commands): no sweep.
    /// LMDB's lock file serializes its writes with the server's.
    pub fn open_shared(data: &DataDir, options: &StoreOptions) -> Result<QueueStore, StorageError> {
        let queue_dir = data.root().join("queue");
        let index_dir = queue_dir.join("index");
        let msg_dir = queue_dir.join("msg");
        for dir in [&queue_dir, &index_dir, &msg_dir] {
            ensure_dir(dir)?;
        }
        let lmdb = Lmdb::open(
            &index_dir,
            QUEUE_LABEL,
            options.map_size_initial_bytes,
            options.map_size_max_bytes,
            options.readers_max,
        )?;
        let dbs = match probe(&lmdb, &QUEUE_DATABASE_NAMES, QUEUE_VERSIONS)? {
            Some(all) => QueueDatabases::from_array(all),
            None => {
                let writer = lmdb.lock_writer();
                let dbs =
                    QueueDatabases::from_array(create_databases(&lmdb, &writer, &QUEUE_DATABASE_NAMES)?);
                lmdb.write(&writer, |wtxn| set_up(wtxn, &dbs))?;
                dbs
            }
        };
        let durable_dirs =
            DurableDirs::new(vec![msg_dir.clone(), index_dir, queue_dir, data.root().to_path_buf()]);
        Ok(QueueStore {
            lmdb,
            dbs,
            msg_dir,
            durable_dirs,
            group: GroupCommit::default(),
            unreferenced: Mutex::new(Vec::new()),
            fresh: fresh::FreshFiles::default(),
        })
    }

    /// The file of a queued message.
    pub fn message_path(&self, id: QueueId) -> PathBuf {
        self.msg_dir.join((id.0 >> QUEUE_FILES_PER_DIR_SHIFT).to_string()).join(id.0.to_string())
    }

    fn begin_write(&self) -> Result<WriterGuard<'_>, StorageError> {
        let writer = self.lmdb.lock_writer();
        self.durable_dirs.sync_once()?;
        Ok(writer)
    }

    fn read<R>(&self, f: impl FnOnce(&RoTxn<'_>) -> Result<R, StorageError>) -> Result<R, StorageError> {
        let txn = self.lmdb.read_txn(None)?;
        f(txn.txn())
    }

    /// Queues a batch of messages in one transaction; returns their ids, in order.
    /// Durable when it returns (see the module doc for the order of steps).
    pub fn enqueue(&self, batch: &[NewQueued]) -> Result<Vec<QueueId>, StorageError> {
        self.apply_with(&[], batch, &[])
    }

    fn read_next_id(&self, writer: &WriterGuard<'_>) -> Result<u64, StorageError> {
        let txn = self.lmdb.read_txn(Some(writer))?;
        match self.dbs.meta.get(txn.txn(), META_NEXT_QUEUE_ID)? {
            Some(bytes) => keys::decode_u64(bytes, "next queue id"),
            None => Ok(1),
        }
    }

    /// Links every spool file to its queue path and fsyncs the touched directories
    /// (inline messages have no file: nothing to do for them).
    fn link_all(&self, batch: &[NewQueued], ids: &[QueueId]) -> Result<Vec<PathBuf>, StorageError> {
        let mut linked = Vec::new();
        let mut dirs = BTreeSet::new();
        let mut new_dir = false;
        let outcome = (|| {
            for (new, &id) in batch.iter().zip(ids) {
                let QueuedContent::File(spool) = &new.content else { continue };
                let target = self.message_path(id);
                if let Some(dir) = target.parent() {
                    new_dir |= ensure_dir(dir)?;
                    dirs.insert(dir.to_path_buf());
                }
                link_message(spool, &target, new.message.size_bytes)?
                    .map_err(|error| StorageError::io(spool, std::io::Error::other(error.to_string())))?;
                linked.push(target);
            }
            sync_linked(linked.iter().map(PathBuf::as_path))?;
            for dir in &dirs {
                sync_dir(dir)?;
            }
            if new_dir {
                sync_dir(&self.msg_dir)?;
            }
            Ok(())
        })();
        match outcome {
            Ok(()) => Ok(linked),
            Err(error) => {
                remove_files(&linked);
                Err(error)
            }
        }
    }

    fn put_new(&self, wtxn: &mut RwTxn<'_>, new: &NewQueued, id: QueueId) -> Result<(), StorageError> {
        let message = QueuedMessage { id, ..new.message.clone() };
        self.dbs.messages.put(wtxn, &id.0.to_be_bytes(), &encode_message(&message)?)?;
        if let QueuedContent::Inline(bytes) = &new.content {
            content::put(&self.dbs.bodies, wtxn, id, bytes)?;
        }
        self.record_sent(wtxn, new)?;
        let rules = self.hold_rules_in(wtxn)?;
        let mut groups: Vec<(String, Vec<QueuedRecipient>)> = Vec::new();
        for recipient in &new.recipients {
            let domain = recipient_domain(&recipient.address);
            match groups.iter_mut().find(|(d, _)| *d == domain) {
                Some((_, recipients)) => recipients.push(recipient.clone()),
                None => groups.push((domain, vec![recipient.clone()])),
            }
        }
        for (index, (domain, recipients)) in groups.into_iter().enumerate() {
            let key = DestinationKey { message: id, index: u32::try_from(index).unwrap_or(u32::MAX) };
            let held = new.held
                || rules
                    .iter()
                    .any(|rule| rule.matches(&new.message.sender_account, &new.message.mail_from, &domain));
            if held && !new.held {
                tracing::info!(id = %id, %domain, "queued held by a hold rule");
            }
            let destination = Destination {
                key,
                domain,
                attempts: 0,
                next_attempt_ms: new.first_attempt_ms,
                last_attempt_ms: None,
                held,
                delay_dsn_sent: false,
                recipients,
            };
            self.put_destination(wtxn, &destination, None)?;
        }
        Ok(())
    }

    /// Writes a destination and its schedule entry; `old` is the stored one it replaces.
    fn put_destination(
        &self,
        wtxn: &mut RwTxn<'_>,
        destination: &Destination,
        old: Option<&Destination>,
    ) -> Result<(), StorageError> {
        check_destination(destination)
            .map_err(|reason| StorageError::corrupt(format!("queue destination to store: {reason}")))?;
        if let Some(old) = old.filter(|old| !old.held) {
            self.dbs.due.delete(wtxn, &due_key(old.next_attempt_ms, old.key))?;
        }
        self.dbs.destinations.put(
            wtxn,
            &destination_key(destination.key),
            &encode_destination(destination)?,
        )?;
        if !destination.held {
            self.dbs.due.put(wtxn, &due_key(destination.next_attempt_ms, destination.key), &[])?;
        }
        Ok(())
    }

    fn get_destination(
        &self,
        txn: &RoTxn<'_>,
        key: DestinationKey,
    ) -> Result<Option<Destination>, StorageError> {
        self.dbs
            .destinations
            .get(txn, &destination_key(key))?
            .map(|value| decode_destination(key, value))
            .transpose()
    }

    /// The message's record, if queued.
    pub fn message(&self, id: QueueId) -> Result<Option<QueuedMessage>, StorageError> {
        self.read(|txn| {
            self.dbs.messages.get(txn, &id.0.to_be_bytes())?.map(|v| decode_message(id, v)).transpose()
        })
    }

    /// The message's destinations still queued.
    pub fn destinations(&self, id: QueueId) -> Result<Vec<Destination>, StorageError> {
        self.read(|txn| self.destinations_of(txn, id))
    }

    fn destinations_of(&self, txn: &RoTxn<'_>, id: QueueId) -> Result<Vec<Destination>, StorageError> {
        let prefix = id.0.to_be_bytes();
        let mut out = Vec::new();
        for entry in self.dbs.destinations.prefix_iter(txn, &prefix)? {
            let (key, value) = entry?;
            out.push(decode_destination(decode_destination_key(key)?, value)?);
        }
        Ok(out)
    }

    /// Destinations due at `now_ms` (not held), earliest first, at most `limit` (and
    /// [`QUEUE_DUE_BATCH_MAX`]).
    pub fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<Destination>, StorageError> {
        self.due_where(now_ms, limit, |_| true)
    }

    /// [`QueueStore::due`] leaving out the destinations `wanted` refuses (the queue's
    /// domains already being attempted), looking at most at [`QUEUE_DUE_SCAN_MAX`] due
    /// entries: the work of one call is bounded however large a refused backlog is.
    pub fn due_where(
        &self,
        now_ms: i64,
        limit: usize,
        wanted: impl Fn(&Destination) -> bool,
    ) -> Result<Vec<Destination>, StorageError> {
        let limit = limit.min(QUEUE_DUE_BATCH_MAX);
        let end = due_key(now_ms, DestinationKey { message: QueueId(u64::MAX), index: u32::MAX });
        self.read(|txn| {
            let mut out = Vec::new();
            for entry in self.dbs.due.iter(txn)?.take(QUEUE_DUE_SCAN_MAX) {
                let (key, _) = entry?;
                if key > end.as_slice() || out.len() >= limit {
                    break;
                }
                let destination_key = decode_destination_key(&key[8..])?;
                let destination = self
                    .get_destination(txn, destination_key)?
                    .ok_or_else(|| StorageError::corrupt("queue schedule entry without its destination"))?;
                if wanted(&destination) {
                    out.push(destination);
                }
            }
            Ok(out)
        })
    }

    /// When the earliest destination not held is due, Unix ms.
    pub fn next_due_ms(&self) -> Result<Option<i64>, StorageError> {
        self.read(|txn| {
            let Some((key, _)) = self.dbs.due.first(txn)? else { return Ok(None) };
            let ms = keys::decode_u64(&key[..8], "queue schedule time")?;
            Ok(Some(i64::try_from(ms).unwrap_or(i64::MAX)))
        })
    }

    /// Applies attempt results and queues `new` messages (DSNs) in one transaction;
    /// removes messages left without destinations (files after the commit). Returns
    /// the new messages' ids. Durable when it returns.
    pub fn apply(&self, updates: &[QueueUpdate], new: &[NewQueued]) -> Result<Vec<QueueId>, StorageError> {
        self.apply_with(updates, new, &[])
    }

    /// [`Self::apply`], also adding `suppressions` (hard bounces of the attempt) in the
    /// same transaction.
    ///
    /// Group commit: calls that overlap (sessions queueing on several helper threads, the
    /// queue recording attempts) share one transaction and its flushes; each returns when
    /// the transaction with its part is durable, with its own ids. A group whose
    /// transaction fails is committed again one call at a time, so each gets the outcome
    /// it would have had alone (a commit of unknown outcome is never repeated).
    pub fn apply_with(
        &self,
        updates: &[QueueUpdate],
        new: &[NewQueued],
        suppressions: &[Suppression],
    ) -> Result<Vec<QueueId>, StorageError> {
        for item in new {
            check_new(item)?;
        }
        let request =
            Apply { updates: updates.to_vec(), new: new.to_vec(), suppressions: suppressions.to_vec() };
        self.group.run(request, |group| self.commit_group(group), || self.remove_unreferenced())
    }

    /// [`Self::apply_with`] for a caller on an executor: the returned future resolves
    /// when the transaction holding the request is durable, and waiting for it holds no
    /// thread. When no commit is under way, `start` gets the committer (a job that
    /// commits until nothing is pending, blocking) to run on a helper thread; again if a
    /// blocking caller ([`Self::apply_with`]) committed and handed the rest over. Dropping
    /// the future leaves the request to be committed and discards its result, as a
    /// blocking call whose caller went away would.
    ///
    /// # Errors
    ///
    /// A request that is invalid on its face, at once; the commit's outcome through the
    /// future (a panicking commit as [`StorageError::CommitUnknown`]).
    pub fn apply_waiting(
        self: &Arc<Self>,
        updates: &[QueueUpdate],
        new: &[NewQueued],
        suppressions: &[Suppression],
        start: impl Fn(Box<dyn FnOnce() + Send>) + 'static,
    ) -> Result<impl Future<Output = Result<Vec<QueueId>, StorageError>> + 'static, StorageError> {
        for item in new {
            check_new(item)?;
        }
        let request =
            Apply { updates: updates.to_vec(), new: new.to_vec(), suppressions: suppressions.to_vec() };
        let committer = |store: &Arc<QueueStore>| -> Box<dyn FnOnce() + Send> {
            let store = Arc::clone(store);
            Box::new(move || {
                store.group.commit_pending(|group| store.commit_group(group), || store.remove_unreferenced())
            })
        };
        let (ticket, first) = self.group.submit(request);
        if first {
            start(committer(self));
        }
        let mut result = self.group.result(ticket);
        let store = Arc::clone(self);
        Ok(async move {
            loop {
                match result.turn().await {
                    Turn::Done(result) => return result,
                    Turn::Abandoned => {
                        return Err(StorageError::CommitUnknown {
                            source: Box::new(StorageError::Lmdb {
                                message: "the group commit panicked".to_string(),
                            }),
                        });
                    }
                    // A blocking caller committed and handed the rest over.
                    Turn::Lead => start(committer(&store)),
                }
            }
        })
    }

    fn commit_group(&self, group: Vec<Apply>) -> Vec<Result<Vec<QueueId>, StorageError>> {
        if group.len() == 1 {
            return group.iter().map(|apply| self.commit(apply)).collect();
        }
        let joined = Apply {
            updates: group.iter().flat_map(|a| a.updates.iter().cloned()).collect(),
            new: group.iter().flat_map(|a| a.new.iter().cloned()).collect(),
            suppressions: group.iter().flat_map(|a| a.suppressions.iter().cloned()).collect(),
        };
        match self.commit(&joined) {
            Ok(ids) => {
                let mut rest = ids.as_slice();
                group
                    .iter()
                    .map(|apply| {
                        let (mine, after) = rest.split_at(apply.new.len().min(rest.len()));
                        rest = after;
                        Ok(mine.to_vec())
                    })
                    .collect()
            }
            Err(StorageError::CommitUnknown { source }) => group
                .iter()
                .map(|_| {
                    Err(StorageError::CommitUnknown {
                        source: Box::new(StorageError::Lmdb { message: source.to_string() }),
                    })
                })
                .collect(),
            Err(_) => group.iter().map(|apply| self.commit(apply)).collect(),
        }
    }

    /// One transaction: links and records `new`, adds the suppressions, applies the
    /// updates; the files of messages left without destinations are removed after the
    /// commit, once the group's results are out ([`Self::remove_unreferenced`]).
    fn commit(&self, apply: &Apply) -> Result<Vec<QueueId>, StorageError> {
        let Apply { updates, new, suppressions } = apply;
        let writer = self.begin_write()?;
        let first = self.read_next_id(&writer)?;
        let ids: Vec<QueueId> = (0..new.len() as u64).map(|i| QueueId(first + i)).collect();
        let linked = self.link_all(new, &ids)?;
        let result = self.lmdb.write(&writer, |wtxn| {
            if !new.is_empty() {
                self.dbs.meta.put(wtxn, META_NEXT_QUEUE_ID, &(first + new.len() as u64).to_be_bytes())?;
            }
            for (item, &id) in new.iter().zip(&ids) {
                self.put_new(wtxn, item, id)?;
            }
            self.put_suppressions(wtxn, suppressions)?;
            self.apply_updates(wtxn, updates)
        });
        match result {
            Ok(emptied) => {
                self.unreferenced_messages().extend(emptied);
                // Sent from memory by their first attempt, as long as `fresh` keeps them.
                for (item, &id) in new.iter().zip(&ids) {
                    if let QueuedContent::Inline(bytes) = &item.content {
                        self.fresh.remember(id, Arc::clone(bytes));
                    }
                }
                Ok(ids)
            }
            Err(error) => {
                if !matches!(error, StorageError::CommitUnknown { .. }) {
                    remove_files(&linked);
                }
                Err(error)
            }
        }
    }

    /// Unlinks the files of messages the last commits removed. Their records are gone
    /// and their ids are never given out again, so nothing reaches the files meanwhile;
    /// a crash before this leaves orphans the sweep at the next open removes.
    fn remove_unreferenced(&self) {
        let removed = std::mem::take(&mut *self.unreferenced_messages());
        let ids: Vec<QueueId> = removed.iter().map(|&(id, _)| id).collect();
        self.fresh.forget(&ids);
        let paths: Vec<PathBuf> =
            removed.iter().filter(|&&(_, file)| file).map(|&(id, _)| self.message_path(id)).collect();
        remove_files(&paths);
    }

    fn unreferenced_messages(&self) -> MutexGuard<'_, Vec<(QueueId, bool)>> {
        self.unreferenced.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bytes of inline message `id` kept in memory since its enqueue (`fresh.rs`),
    /// if still kept. Use them only after finding the message's record: they may outlive
    /// it briefly.
    pub fn remembered(&self, id: QueueId) -> Option<Arc<[u8]>> {
        self.fresh.get(id)
    }

    /// The message's record and where its bytes are (the queue's file, or its inline
    /// bytes read out), if queued.
    pub fn message_with_content(
        &self,
        id: QueueId,
    ) -> Result<Option<(QueuedMessage, QueuedContent)>, StorageError> {
        self.read(|txn| {
            let Some(value) = self.dbs.messages.get(txn, &id.0.to_be_bytes())? else { return Ok(None) };
            let message = decode_message(id, value)?;
            let content = match content::get(&self.dbs.bodies, txn, id)? {
                Some(bytes) => QueuedContent::Inline(bytes),
                None => QueuedContent::File(self.message_path(id)),
            };
            Ok(Some((message, content)))
        })
    }

    /// The updates inside a write; returns the messages left without destinations,
    /// whose records (and inline bytes) are deleted here, each with whether it has a
    /// file (was not inline).
    fn apply_updates(
        &self,
        wtxn: &mut RwTxn<'_>,
        updates: &[QueueUpdate],
    ) -> Result<Vec<(QueueId, bool)>, StorageError> {
        let mut touched = BTreeSet::new();
        for update in updates {
            let key = match update {
                QueueUpdate::Put(destination) => destination.key,
                QueueUpdate::Remove(key) => *key,
            };
            let Some(old) = self.get_destination(wtxn, key)? else {
                // Dropped meanwhile by an operator: nothing to update.
                continue;
            };
            touched.insert(key.message);
            match update {
                // An operator's hold made while the attempt ran stands: the attempt's
                // copy was read before it.
                QueueUpdate::Put(destination) if old.held && !destination.held => {
                    let held = Destination { held: true, ..destination.clone() };
                    self.put_destination(wtxn, &held, Some(&old))?
                }
                QueueUpdate::Put(destination) => self.put_destination(wtxn, destination, Some(&old))?,
                QueueUpdate::Remove(_) => {
                    if !old.held {
                        self.dbs.due.delete(wtxn, &due_key(old.next_attempt_ms, key))?;
                    }
                    self.dbs.destinations.delete(wtxn, &destination_key(key))?;
                }
            }
        }
        let mut emptied = Vec::new();
        for id in touched {
            if self.dbs.destinations.prefix_iter(wtxn, &id.0.to_be_bytes())?.next().is_none() {
                self.dbs.messages.delete(wtxn, &id.0.to_be_bytes())?;
                let inline = content::delete(&self.dbs.bodies, wtxn, id)?;
                emptied.push((id, !inline));
            }
        }
        Ok(emptied)
    }

    /// Every queued message with its destinations, by id, at most [`QUEUE_LIST_MAX`].
    pub fn list(&self) -> Result<Vec<(QueuedMessage, Vec<Destination>)>, StorageError> {
        self.read(|txn| {
            let mut out = Vec::new();
            for entry in self.dbs.messages.iter(txn)? {
                let (key, value) = entry?;
                let id = QueueId(keys::decode_u64(key, "queue id")?);
                out.push((decode_message(id, value)?, self.destinations_of(txn, id)?));
                if out.len() >= QUEUE_LIST_MAX {
                    break;
                }
            }
            Ok(out)
        })
    }

    /// A page of queued messages with ids after `after`, by id: at most `limit` (and
    /// [`QUEUE_PAGE_MAX`]) that `keep` selects, looking at no more than
    /// [`QUEUE_PAGE_SCAN_MAX`] messages. Returns the page and, when messages remain
    /// unexamined, the id to continue after.
    pub fn page(
        &self,
        after: Option<QueueId>,
        limit: usize,
        keep: impl Fn(&QueuedMessage, &[Destination]) -> bool,
    ) -> Result<QueuePage, StorageError> {
        let limit = limit.clamp(1, QUEUE_PAGE_MAX);
        let start = after.map_or(0, |id| id.0.saturating_add(1));
        self.read(|txn| {
            let mut page = QueuePage::default();
            let start_key = start.to_be_bytes();
            let range = (std::ops::Bound::Included(&start_key[..]), std::ops::Bound::Unbounded);
            for (scanned, entry) in self.dbs.messages.range(txn, &range)?.enumerate() {
                let (key, value) = entry?;
                let id = QueueId(keys::decode_u64(key, "queue id")?);
                if page.messages.len() >= limit || scanned >= QUEUE_PAGE_SCAN_MAX {
                    page.next_after = page.last_seen;
                    break;
                }
                page.last_seen = Some(id);
                let message = decode_message(id, value)?;
                let destinations = self.destinations_of(txn, id)?;
                if keep(&message, &destinations) {
                    page.messages.push((message, destinations));
                }
            }
            Ok(page)
        })
    }

    /// Changes, in one write transaction, each destination matching `filter` that
    /// `change` returns a new version of; returns how many changed. Each destination
    /// is read inside the transaction, so an attempt's results stored meanwhile are
    /// never overwritten with an older copy.
    fn modify_matching(
        &self,
        filter: &QueueFilter,
        change: impl Fn(&Destination) -> Option<Destination>,
    ) -> Result<usize, StorageError> {
        let keys: Vec<DestinationKey> = self
            .list()?
            .into_iter()
            .flat_map(|(_, d)| d)
            .filter(|d| filter.matches(d))
            .map(|d| d.key)
            .collect();
        let writer = self.begin_write()?;
        self.lmdb.write(&writer, |wtxn| {
            let mut changed = 0;
            for key in &keys {
                let Some(old) = self.get_destination(wtxn, *key)? else { continue };
                if let Some(new) = change(&old) {
                    self.put_destination(wtxn, &new, Some(&old))?;
                    changed += 1;
                }
            }
            Ok(changed)
        })
    }

    /// Holds (`true`) or releases destinations matching `filter`; returns how many
    /// changed.
    pub fn set_held(&self, filter: &QueueFilter, held: bool) -> Result<usize, StorageError> {
        self.modify_matching(filter, |d| (d.held != held).then(|| Destination { held, ..d.clone() }))
    }

    /// Makes destinations matching `filter` due at `now_ms` (and releases them).
    pub fn retry_now(&self, filter: &QueueFilter, now_ms: i64) -> Result<usize, StorageError> {
        self.modify_matching(filter, |d| {
            Some(Destination { held: false, next_attempt_ms: now_ms, ..d.clone() })
        })
    }

    /// Removes destinations matching `filter` without a DSN; returns how many.
    pub fn remove(&self, filter: &QueueFilter) -> Result<usize, StorageError> {
        let updates: Vec<QueueUpdate> = self
            .list()?
            .into_iter()
            .flat_map(|(_, d)| d)
            .filter(|d| filter.matches(d))
            .map(|d| QueueUpdate::Remove(d.key))
            .collect();
        self.apply(&updates, &[])?;
        Ok(updates.len())
    }

    /// The send record of a submitted message, in the enqueue's transaction: its
    /// recipients and first-time recipients added to the `sent` entry of its minute and
    /// to the account's totals, and each recipient as known. Entries of the account
    /// that left the window go (and leave the totals). Nothing for DSNs, forwards and local
    /// retries (no submitting account, or recipients pinned to a local account). With a
    /// [`SendQuota`], the window's counts (this transaction's earlier messages included:
    /// a group commit's are in it) plus this message's must stay within it.
    fn record_sent(&self, wtxn: &mut RwTxn<'_>, new: &NewQueued) -> Result<(), StorageError> {
        let account = &new.message.sender_account;
        let submitted: Vec<&QueuedRecipient> =
            new.recipients.iter().filter(|r| r.account.is_none()).collect();
        if account.is_empty() || submitted.is_empty() {
            return Ok(());
        }
        let now_ms = new.message.queued_ms;
        let mut first_time = 0u32;
        for recipient in &submitted {
            let key = policy::account_address_key(account, &recipient.address)?;
            if self.dbs.known_recipients.get(wtxn, &key)?.is_none() {
                first_time += 1;
            }
        }
        let count = u32::try_from(submitted.len()).unwrap_or(u32::MAX);
        let scan = self.scan_sent(wtxn, account, now_ms)?;
        if let Some(quota) = new.send_quota {
            check_quota(&quota, &scan.window(), count, first_time)?;
        }
        for recipient in &submitted {
            let key = policy::account_address_key(account, &recipient.address)?;
            let at = u64::try_from(now_ms.max(0)).unwrap_or(0).to_be_bytes();
            self.dbs.known_recipients.put(wtxn, &key, &at)?;
        }
        let mut stored = scan.stored;
        for (key, counts) in &scan.stale {
            self.dbs.sent.delete(wtxn, key)?;
            stored = stored.minus(*counts);
        }
        let added = SendCounts { recipients: u64::from(count), first_time: u64::from(first_time) };
        let key = policy::sent_bucket_key(account, now_ms);
        let minute = match self.dbs.sent.get(wtxn, &key)? {
            Some(value) => policy::decode_sent(value)?.plus(added),
            None => added,
        };
        self.dbs.sent.put(wtxn, &key, &policy::encode_sent(minute))?;
        let totals = policy::encode_sent_totals(stored.plus(added));
        self.dbs.sent.put(wtxn, &policy::account_prefix(account), &totals)?;
        Ok(())
    }

    /// Reads `account`'s send record as of `now_ms`: its totals (summed from the entries
    /// when a store from before the totals record has none), and the entries that left
    /// the window, oldest first. With the totals record this reads only those and the
    /// first entry still in the window: a day's minutes at most, usually one or two.
    fn scan_sent(&self, txn: &RoTxn<'_>, account: &str, now_ms: i64) -> Result<SentScan, StorageError> {
        self.scan_sent_within(txn, account, now_ms, usize::MAX)?
            .ok_or_else(|| StorageError::corrupt("send record scan stopped without a limit"))
    }

    /// [`QueueStore::scan_sent`], or `None` once it would read more than `entries_max`
    /// entries.
    fn scan_sent_within(
        &self,
        txn: &RoTxn<'_>,
        account: &str,
        now_ms: i64,
        entries_max: usize,
    ) -> Result<Option<SentScan>, StorageError> {
        let prefix = policy::account_prefix(account);
        let cutoff = now_ms.saturating_sub(SEND_WINDOW_MS);
        let totals = self.dbs.sent.get(txn, &prefix)?.map(policy::decode_sent_totals).transpose()?;
        let mut scan =
            SentScan { stored: SendCounts::default(), expired: SendCounts::default(), stale: Vec::new() };
        for (read, entry) in self.dbs.sent.prefix_iter(txn, &prefix)?.enumerate() {
            if read >= entries_max {
                return Ok(None);
            }
            let (key, value) = entry?;
            if key.len() == prefix.len() {
                continue;
            }
            let counts = policy::decode_sent(value)?;
            if policy::sent_entry_end(key, prefix.len())? <= cutoff {
                scan.expired = scan.expired.plus(counts);
                if scan.stale.len() < SENT_STALE_DELETE_MAX {
                    scan.stale.push((key.to_vec(), counts));
                }
            } else if totals.is_some() {
                // Keys sort by time: the rest is in the window, and the totals hold it.
                break;
            }
            scan.stored = scan.stored.plus(counts);
        }
        if let Some(totals) = totals {
            scan.stored = totals;
        }
        Ok(Some(scan))
    }

    /// What `account` queued for other domains in the window before `now_ms`, and how
    /// many of `recipients` it never sent to before (for the send limits).
    pub fn send_counts(
        &self,
        account: &str,
        recipients: &[String],
        now_ms: i64,
    ) -> Result<(SendCounts, u64), StorageError> {
        self.send_counts_within(account, recipients, now_ms, usize::MAX)?
            .ok_or_else(|| StorageError::corrupt("send record scan stopped without a limit"))
    }

    /// [`QueueStore::send_counts`] if that reads at most `entries_max` entries of the
    /// send record (besides one known-recipient lookup per recipient), else `None`: a
    /// bounded read an executor may do itself instead of handing it to a helper thread.
    /// Usually two entries: the totals and the first minute still in the window.
    pub fn send_counts_within(
        &self,
        account: &str,
        recipients: &[String],
        now_ms: i64,
        entries_max: usize,
    ) -> Result<Option<(SendCounts, u64)>, StorageError> {
        self.read(|txn| {
            let Some(scan) = self.scan_sent_within(txn, account, now_ms, entries_max)? else {
                return Ok(None);
            };
            let mut new_recipients = 0;
            for address in recipients {
                let key = policy::account_address_key(account, address)?;
                if self.dbs.known_recipients.get(txn, &key)?.is_none() {
                    new_recipients += 1;
                }
            }
            Ok(Some((scan.window(), new_recipients)))
        })
    }

    /// How many `sent` records `account` has (totals included): tests of its bound.
    #[cfg(test)]
    pub(crate) fn sent_entries(&self, account: &str) -> Result<usize, StorageError> {
        let prefix = policy::account_prefix(account);
        self.read(|txn| Ok(self.dbs.sent.prefix_iter(txn, &prefix)?.count()))
    }

    /// Writes a per-message `sent` entry as stores before minute entries kept them.
    #[cfg(test)]
    pub(crate) fn put_legacy_sent(
        &self,
        account: &str,
        at_ms: i64,
        id: u64,
        recipients: u64,
    ) -> Result<(), StorageError> {
        let mut key = policy::account_prefix(account);
        key.extend_from_slice(&u64::try_from(at_ms).unwrap_or(0).to_be_bytes());
        key.extend_from_slice(&id.to_be_bytes());
        let value = policy::encode_sent(SendCounts { recipients, first_time: 0 });
        let writer = self.begin_write()?;
        self.lmdb.write(&writer, |wtxn| Ok(self.dbs.sent.put(wtxn, &key, &value)?))
    }

    /// Whether `account` has `address` on its suppression list; the entry if so.
    pub fn suppressed(&self, account: &str, address: &str) -> Result<Option<Suppression>, StorageError> {
        let key = policy::account_address_key(account, address)?;
        self.read(|txn| {
            self.dbs
                .suppressions
                .get(txn, &key)?
                .map(|value| policy::decode_suppression(&key, value))
                .transpose()
        })
    }

    /// Adds (or replaces) suppressions; durable when it returns.
    pub fn suppress(&self, entries: &[Suppression]) -> Result<(), StorageError> {
        let writer = self.begin_write()?;
        self.lmdb.write(&writer, |wtxn| self.put_suppressions(wtxn, entries))
    }

    fn put_suppressions(&self, wtxn: &mut RwTxn<'_>, entries: &[Suppression]) -> Result<(), StorageError> {
        for entry in entries {
            let key = policy::account_address_key(&entry.account, &entry.address)?;
            self.dbs.suppressions.put(
                wtxn,
                &key,
                &policy::encode_suppression(entry.added_ms, &entry.reason)?,
            )?;
        }
        Ok(())
    }

    /// Removes `address` from `account`'s suppression list; whether it was there.
    pub fn unsuppress(&self, account: &str, address: &str) -> Result<bool, StorageError> {
        let key = policy::account_address_key(account, address)?;
        let writer = self.begin_write()?;
        self.lmdb.write(&writer, |wtxn| Ok(self.dbs.suppressions.delete(wtxn, &key)?))
    }

    /// The suppression list of `account` (every account's when `None`), at most
    /// [`POLICY_LIST_MAX`] entries.
    pub fn suppressions(&self, account: Option<&str>) -> Result<Vec<Suppression>, StorageError> {
        self.read(|txn| {
            let mut out = Vec::new();
            // LMDB refuses an empty key, so no prefix means a plain iteration.
            let mut push = |entry: heed::Result<(&[u8], &[u8])>| -> Result<(), StorageError> {
                let (key, value) = entry?;
                out.push(policy::decode_suppression(key, value)?);
                Ok(())
            };
            match account {
                Some(account) => {
                    let prefix = policy::account_prefix(account);
                    for entry in self.dbs.suppressions.prefix_iter(txn, &prefix)?.take(POLICY_LIST_MAX) {
                        push(entry)?;
                    }
                }
                None => {
                    for entry in self.dbs.suppressions.iter(txn)?.take(POLICY_LIST_MAX) {
                        push(entry)?;
                    }
                }
            }
            Ok(out)
        })
    }

    /// A page of the suppression list of `account` (every account's when `None`), in key
    /// order: at most `limit` (and [`POLICY_PAGE_MAX`]) entries after the entry
    /// `after` = (account, address). Returns the entries and whether more follow.
    pub fn suppressions_page(
        &self,
        account: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<(Vec<Suppression>, bool), StorageError> {
        let limit = limit.clamp(1, POLICY_PAGE_MAX);
        let prefix = account.map(policy::account_prefix).unwrap_or_default();
        let after = after.map(|(a, b)| policy::account_address_key(a, b)).transpose()?;
        self.read(|txn| {
            let start = match &after {
                Some(key) if *key >= prefix => std::ops::Bound::Excluded(key.as_slice()),
                // LMDB refuses an empty key: no prefix and no cursor is the whole table.
                _ if prefix.is_empty() => std::ops::Bound::Unbounded,
                _ => std::ops::Bound::Included(prefix.as_slice()),
            };
            let range = (start, std::ops::Bound::Unbounded);
            let mut out = Vec::new();
            for entry in self.dbs.suppressions.range(txn, &range)? {
                let (key, value) = entry?;
                if !key.starts_with(&prefix) {
                    break;
                }
                if out.len() == limit {
                    return Ok((out, true));
                }
                out.push(policy::decode_suppression(key, value)?);
            }
            Ok((out, false))
        })
    }

    /// A page of the hold rules with ids after `after`, by id: at most `limit` (and
    /// [`POLICY_PAGE_MAX`]). Returns the rules and whether more follow.
    pub fn hold_rules_page(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<HoldRule>, bool), StorageError> {
        let limit = limit.clamp(1, POLICY_PAGE_MAX);
        let start = after.map_or(0, |id| id.saturating_add(1)).to_be_bytes();
        self.read(|txn| {
            let range = (std::ops::Bound::Included(&start[..]), std::ops::Bound::Unbounded);
            let mut out = Vec::new();
            for entry in self.dbs.hold_rules.range(txn, &range)? {
                let (key, value) = entry?;
                if out.len() == limit {
                    return Ok((out, true));
                }
                out.push(policy::decode_hold_rule(keys::decode_u64(key, "hold rule id")?, value)?);
            }
            Ok((out, false))
        })
    }

    /// Adds a hold rule; returns its id. Applies to messages queued from now on
    /// (`moxide queue hold` holds what is queued already).
    pub fn add_hold_rule(&self, rule: &HoldRule) -> Result<u64, StorageError> {
        policy::check_hold_rule(rule)?;
        let writer = self.begin_write()?;
        self.lmdb.write(&writer, |wtxn| {
            let id = match self.dbs.meta.get(wtxn, META_NEXT_HOLD_RULE_ID)? {
                Some(bytes) => keys::decode_u64(bytes, "next hold rule id")?,
                None => 1,
            };
            self.dbs.meta.put(wtxn, META_NEXT_HOLD_RULE_ID, &(id + 1).to_be_bytes())?;
            self.dbs.hold_rules.put(wtxn, &id.to_be_bytes(), &policy::encode_hold_rule(rule)?)?;
            Ok(id)
        })
    }

    /// Removes a hold rule; whether it existed.
    pub fn remove_hold_rule(&self, id: u64) -> Result<bool, StorageError> {
        let writer = self.begin_write()?;
        self.lmdb.write(&writer, |wtxn| Ok(self.dbs.hold_rules.delete(wtxn, &id.to_be_bytes())?))
    }

    /// Forgets a removed account's sending policy in one transaction: its suppression
    /// list, its send record and known recipients, and the hold rules that name it, so
    /// an account created later under the same name starts clean. Returns how many
    /// suppressions and hold rules went.
    pub fn forget_account(&self, account: &str) -> Result<(usize, usize), StorageError> {
        let prefix = policy::account_prefix(account);
        // Names hold no NUL, so `account NUL ...` keys all sort below `account 0x01`.
        let mut end = account.as_bytes().to_vec();
        end.push(1);
        let range = (std::ops::Bound::Included(prefix.as_slice()), std::ops::Bound::Excluded(end.as_slice()));
        let writer = self.begin_write()?;
        self.lmdb.write(&writer, |wtxn| {
            let suppressions = self.dbs.suppressions.delete_range(wtxn, &range)?;
            self.dbs.sent.delete_range(wtxn, &range)?;
            self.dbs.known_recipients.delete_range(wtxn, &range)?;
            let mut naming = Vec::new();
            for entry in self.dbs.hold_rules.iter(wtxn)? {
                let (key, value) = entry?;
                let rule = policy::decode_hold_rule(keys::decode_u64(key, "hold rule id")?, value)?;
                if rule.account.as_deref() == Some(account) {
                    naming.push(rule.id);
                }
            }
            for id in &naming {
                self.dbs.hold_rules.delete(wtxn, &id.to_be_bytes())?;
            }
            Ok((suppressions, naming.len()))
        })
    }

    /// The hold rules, by id.
    pub fn hold_rules(&self) -> Result<Vec<HoldRule>, StorageError> {
        self.read(|txn| self.hold_rules_in(txn))
    }

    fn hold_rules_in(&self, txn: &RoTxn<'_>) -> Result<Vec<HoldRule>, StorageError> {
        let mut out = Vec::new();
        for entry in self.dbs.hold_rules.iter(txn)?.take(POLICY_LIST_MAX) {
            let (key, value) = entry?;
            out.push(policy::decode_hold_rule(keys::decode_u64(key, "hold rule id")?, value)?);
        }
        Ok(out)
    }

    /// Removes message files that have no record (see the module doc); returns how
    /// many. Runs at open, before anything is queued.
    fn sweep_orphans(&self) -> Result<usize, StorageError> {
        let writer = self.begin_write()?;
        let mut removed = 0;
        let known: BTreeMap<u64, ()> = {
            let txn = self.lmdb.read_txn(Some(&writer))?;
            let mut known = BTreeMap::new();
            for entry in self.dbs.messages.iter(txn.txn())? {
                let (key, _) = entry?;
                known.insert(keys::decode_u64(key, "queue id")?, ());
            }
            known
        };
        for dir in read_dir_paths(&self.msg_dir)? {
            for file in read_dir_paths(&dir)? {
                let id = file.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse::<u64>().ok());
                if id.is_some_and(|id| !known.contains_key(&id)) {
                    remove_if_exists(&file).map_err(|error| StorageError::io(&file, error))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

fn read_dir_paths(dir: &Path) -> Result<Vec<PathBuf>, StorageError> {
    let entries = fs::read_dir(dir).map_err(|error| StorageError::io(dir, error))?;
    let mut out = Vec::new();
    for entry in entries {
        out.push(entry.map_err(|error| StorageError::io(dir, error))?.path());
    }
    Ok(out)
}

fn check_new(new: &NewQueued) -> Result<(), StorageError> {
    let invalid = |reason: &str| StorageError::corrupt(format!("message to queue: {reason}"));
    check_message(&new.message).map_err(invalid)?;
    if let QueuedContent::Inline(bytes) = &new.content
        && (bytes.len() > QUEUE_INLINE_BYTES_MAX || bytes.len() as u64 != new.message.size_bytes)
    {
        return Err(invalid("inline bytes over the limit or not of the message's size"));
    }
    if new.recipients.is_empty() || new.recipients.len() > QUEUE_DESTINATION_RECIPIENTS_MAX {
        return Err(invalid("no recipients, or too many"));
    }
    Ok(())
}

fn remove_files(paths: &[PathBuf]) {
    for path in paths {
        if let Err(error) = remove_if_exists(path) {
            tracing::warn!(path = %path.display(), %error, "cannot remove queue message file");
        }
    }
}

/// In one write transaction: a new environment gets its version; one set up meanwhile
/// by another process is left alone.
fn set_up(wtxn: &mut RwTxn<'_>, dbs: &QueueDatabases) -> Result<(), StorageError> {
    match stored_version(&dbs.meta, wtxn)? {
        None => {
            check_empty(wtxn, &[dbs.meta, dbs.messages, dbs.destinations, dbs.due, dbs.bodies])?;
            dbs.meta.put(wtxn, keys::META_SCHEMA_VERSION, &QUEUE_SCHEMA_VERSION.to_be_bytes())?;
            Ok(())
        }
        Some(version) => {
            QUEUE_VERSIONS.check(version)?;
            if version < QUEUE_SCHEMA_VERSION {
                // 1 -> 2: the policy databases, created empty above; records of both
                // versions read. 2 -> 3: the send record by minute with totals; the
                // per-message entries of 2 are read until they leave the window.
                // 3 -> 4: `bodies`, created empty above.
                dbs.meta.put(wtxn, keys::META_SCHEMA_VERSION, &QUEUE_SCHEMA_VERSION.to_be_bytes())?;
                tracing::info!(from = version, to = QUEUE_SCHEMA_VERSION, "migrated queue schema");
            }
            Ok(())
        }
    }
}
