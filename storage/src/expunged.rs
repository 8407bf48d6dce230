//! Expunged messages kept for the sessions that have not been told yet (deferred
//! removal; see `views.rs` for who holds them).
//!
//! EXPUNGE and MOVE take a message's record out of its mailbox in their transaction, as
//! before, and put a copy of the old record into the `expunged` database under (expunge
//! modseq, mailbox, uid). An expunged message's summary and file stay. A session that
//! still shows the message reads it through [`crate::ReadView::expunged_message`] (the
//! tombstone gives the modseq, the modseq the entry). [`AccountStore::purge_expunged`]
//! deletes the entries at or below the smallest view pin, in modseq order, and with the
//! entries that own them the summaries and, after the commit, the files.
//!
//! An entry owns the message's file when the message is gone (EXPUNGE); after MOVE the
//! message lives on under the same id, so the MOVE entry does not. A moved message that
//! is expunged later gets an owning entry with a larger modseq; purging in modseq order
//! removes the non-owning entry no later than the owning one, so a file is removed only
//! once no entry refers to it.
//!
//! Crash safety: the entry is written in the expunge's own transaction and the file is
//! removed only after the purge's commit, so a crash leaves at worst an entry whose file
//! still exists (purged at the next start, when no view is open) or a file whose entry
//! was purged (an orphan, as after an expunge before this change).
//!
//! Napkin math: an entry costs its record (~100 bytes + the delivery prefix, ~600) in
//! LMDB for as long as some session lags behind; a session that keeps a mailbox selected
//! and never lets the server report (no NOOP, no IDLE) holds the account's entries until
//! it leaves or its autologout (30 minutes) ends it.

use std::ops::Bound;
use std::sync::atomic::Ordering;

use heed::{RoTxn, RwTxn};

use crate::error::StorageError;
use crate::ids::{MailboxId, MessageId, ModSeq, Uid};
use crate::keys;
use crate::records::{MessageInfo, StoredMessage, access_message};
use crate::schema::Databases;
use crate::store::AccountStore;

/// Bytes before the record in an `expunged` value: the message id (8) and the owner
/// flag (1).
const VALUE_HEADER_BYTES: usize = 9;

/// Keeps the record of (mailbox, uid), expunged at `modseq`, for the views that still
/// show it. `record_value` is its `messages` value as stored; `owns_file`: the message is
/// gone (EXPUNGE), not moved.
pub(crate) fn keep(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    (mailbox, uid, modseq): (MailboxId, Uid, ModSeq),
    id: MessageId,
    owns_file: bool,
    record_value: &[u8],
) -> Result<(), StorageError> {
    let mut value = Vec::with_capacity(VALUE_HEADER_BYTES + record_value.len());
    value.extend_from_slice(&keys::message_key(id));
    value.push(u8::from(owns_file));
    value.extend_from_slice(record_value);
    dbs.expunged.put(wtxn, &keys::expunged_key(modseq, mailbox, uid), &value)?;
    Ok(())
}

/// A kept entry: (message id, owns the file, the record).
pub(crate) fn decode(value: &[u8]) -> Result<(MessageId, bool, StoredMessage<'_>), StorageError> {
    let (header, record) = value
        .split_at_checked(VALUE_HEADER_BYTES)
        .ok_or_else(|| StorageError::corrupt("expunged entry too short"))?;
    let id = keys::decode_message_key(&header[..8])?;
    let owns_file = match header[8] {
        0 => false,
        1 => true,
        other => return Err(StorageError::corrupt(format!("expunged entry owner flag {other}"))),
    };
    Ok((id, owns_file, access_message(id, record)?))
}

/// The kept record of (mailbox, uid), if it was expunged and not purged yet.
pub(crate) fn message(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    mailbox: MailboxId,
    uid: Uid,
) -> Result<Option<MessageInfo>, StorageError> {
    let Some(tombstone) = dbs.tombstones.get(txn, &keys::uid_key(mailbox, uid))? else {
        return Ok(None);
    };
    let modseq = ModSeq(keys::decode_u64(tombstone, "tombstone")?);
    let Some(value) = dbs.expunged.get(txn, &keys::expunged_key(modseq, mailbox, uid))? else {
        return Ok(None);
    };
    let (_, _, record) = decode(value)?;
    if record.mailbox() != mailbox || record.uid() != uid {
        return Err(StorageError::corrupt(format!("expunged entry ({mailbox}, {uid}) holds another record")));
    }
    Ok(Some(record.to_info()))
}

/// The ids of the kept messages that own their file: the orphan sweep must leave those
/// files alone (a session may still read them). One pass over `expunged`, which holds
/// only what some session has not been told yet.
pub(crate) fn file_owners(
    txn: &RoTxn<'_>,
    dbs: &Databases,
) -> Result<std::collections::HashSet<MessageId>, StorageError> {
    let mut owners = std::collections::HashSet::new();
    for entry in dbs.expunged.iter(txn)? {
        let (_, value) = entry?;
        let (id, owns_file, _) = decode(value)?;
        if owns_file {
            owners.insert(id);
        }
    }
    Ok(owners)
}

/// The smallest expunge modseq kept, `u64::MAX` when nothing is.
pub(crate) fn oldest(txn: &RoTxn<'_>, dbs: &Databases) -> Result<u64, StorageError> {
    match dbs.expunged.first(txn)? {
        Some((key, _)) => Ok(keys::decode_expunged_key(key)?.0.0),
        None => Ok(u64::MAX),
    }
}

impl AccountStore {
    /// Removes the kept expunged messages no open view can refer to any more (expunge
    /// modseq at or below [`crate::Views::purge_bound`]): their entries, and for those
    /// that own them their summaries and files. Returns how many entries went. Cheap when
    /// there is nothing to do (no transaction). The account actor calls it after its
    /// batches and when idle; a store opened after a crash purges everything kept.
    pub fn purge_expunged(&self) -> Result<usize, StorageError> {
        let bound = self.views.purge_bound();
        if !self.purge_pending() {
            return Ok(0);
        }
        let writer = self.begin_write()?;
        let (owned, purged, oldest) = self.lmdb.write(&writer, |wtxn| purge_in(wtxn, &self.dbs, bound))?;
        self.oldest_expunged.store(oldest, Ordering::Release);
        self.remove_message_files(owned.into_iter());
        drop(writer);
        Ok(purged)
    }

    /// Whether [`AccountStore::purge_expunged`] has something to do: a check of two
    /// numbers in memory, for the caller to skip a helper-thread round trip.
    pub fn purge_pending(&self) -> bool {
        // `u64::MAX` means nothing is kept; with no view open the bound is `u64::MAX` too,
        // and a plain `<=` would run an empty purge (a commit, an fsync) after every batch.
        let oldest = self.oldest_expunged.load(Ordering::Acquire);
        oldest != u64::MAX && oldest <= self.views.purge_bound().0
    }

    /// Notes that an expunge kept entries from `modseq` on (see [`purge_expunged`]).
    ///
    /// [`purge_expunged`]: AccountStore::purge_expunged
    pub(crate) fn note_kept(&self, modseq: ModSeq) {
        self.oldest_expunged.fetch_min(modseq.0, Ordering::AcqRel);
    }
}

/// Deletes the entries up to `bound`; returns the ids whose files go, the count, and the
/// oldest modseq still kept.
fn purge_in(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    bound: ModSeq,
) -> Result<(Vec<MessageId>, usize, u64), StorageError> {
    let end = keys::expunged_key(bound, MailboxId(u32::MAX), Uid(u32::MAX));
    let range = (Bound::Unbounded, Bound::Included(&end[..]));
    let mut doomed = Vec::new();
    for entry in dbs.expunged.range(wtxn, &range)? {
        let (key, value) = entry?;
        let (id, owns_file, _) = decode(value)?;
        doomed.push((key.to_vec(), id, owns_file));
    }
    let mut owned = Vec::new();
    for (key, id, owns_file) in &doomed {
        dbs.expunged.delete(wtxn, key)?;
        if *owns_file {
            if dbs.messages.get(wtxn, &keys::message_key(*id))?.is_some() {
                return Err(StorageError::corrupt(format!("expunged message {id} still has a record")));
            }
            dbs.summaries.delete(wtxn, &keys::message_key(*id))?;
            crate::textsigs::remove(wtxn, dbs, *id)?;
            owned.push(*id);
        }
    }
    let oldest = oldest(wtxn, dbs)?;
    assert!(oldest == u64::MAX || oldest > bound.0);
    Ok((owned, doomed.len(), oldest))
}
