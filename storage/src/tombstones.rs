//! Tombstones of expunged UIDs (RFC 7162 §3.2.5.2, VANISHED (EARLIER)) in two databases
//! that always change together: `tombstones` answers "was this UID expunged, and when"
//! by (mailbox, uid), `vanished` answers "what was expunged after modseq M" by
//! (mailbox, modseq, uid).
//!
//! Why the second index (schema 5): a session re-syncs after its own writes and after
//! other sessions' changes, and QRESYNC asks the same question; with only the UID-keyed
//! database every such question walked every tombstone the mailbox ever had, so the cost
//! of a STORE or EXPUNGE grew with the mailbox's history (measured: throughput of the
//! multi-account mix fell from 8.9k to 6.6k commands/s over ten runs on the same data).
//! With `vanished` it is a range read of the answer alone.

use std::ops::Bound;

use heed::{RoTxn, RwTxn};

use crate::error::StorageError;
use crate::ids::{MailboxId, ModSeq, Uid};
use crate::keys;
use crate::schema::Databases;

/// Records that (mailbox, uid) was expunged (or moved away) at `modseq`.
pub(crate) fn put(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    mailbox: MailboxId,
    uid: Uid,
    modseq: ModSeq,
) -> Result<(), StorageError> {
    dbs.tombstones.put(wtxn, &keys::uid_key(mailbox, uid), &modseq.0.to_be_bytes())?;
    dbs.vanished.put(wtxn, &keys::modseq_key(mailbox, modseq, uid), &[])?;
    Ok(())
}

/// (UID, modseq of the expunge) of the messages of `mailbox` expunged after `modseq`, in
/// UID order; `None` when there are more than `max`. Reads only the entries it returns
/// (at most `max + 1`).
pub(crate) fn since(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    mailbox: MailboxId,
    modseq: ModSeq,
    max: usize,
) -> Result<Option<Vec<(Uid, ModSeq)>>, StorageError> {
    let Some(after) = modseq.0.checked_add(1) else {
        return Ok(Some(Vec::new()));
    };
    let start = keys::modseq_key(mailbox, ModSeq(after), Uid(0));
    let end = keys::modseq_key(mailbox, ModSeq(u64::MAX), Uid(u32::MAX));
    let mut gone = Vec::new();
    for entry in dbs.vanished.range(txn, &(Bound::Included(&start[..]), Bound::Included(&end[..])))? {
        if gone.len() == max {
            return Ok(None);
        }
        let (key, _) = entry?;
        let (_, when, uid) = keys::decode_modseq_key(key)?;
        gone.push((uid, when));
    }
    gone.sort_unstable_by_key(|&(uid, _)| uid);
    Ok(Some(gone))
}

/// Removes every tombstone of `mailbox` (the mailbox is being deleted).
pub(crate) fn delete_mailbox(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    mailbox: MailboxId,
) -> Result<(), StorageError> {
    let (first, last) = keys::mailbox_key_bounds::<8>(mailbox);
    dbs.tombstones.delete_range(wtxn, &(Bound::Included(&first[..]), Bound::Included(&last[..])))?;
    let (first, last) = keys::mailbox_key_bounds::<16>(mailbox);
    dbs.vanished.delete_range(wtxn, &(Bound::Included(&first[..]), Bound::Included(&last[..])))?;
    Ok(())
}

/// Schema 4 to 5: builds `vanished` from `tombstones`. One pass over the tombstones, in
/// the migration's transaction (~32 bytes of new index per tombstone).
pub(crate) fn index_all(wtxn: &mut RwTxn<'_>, dbs: &Databases) -> Result<(), StorageError> {
    if !dbs.vanished.is_empty(wtxn)? {
        return Err(StorageError::corrupt("schema 4 environment with schema 5 data"));
    }
    let mut batch = Vec::new();
    let mut next: Option<Vec<u8>> = None;
    loop {
        // The iterator borrows the transaction, so entries are copied out in batches.
        batch.clear();
        let range = match &next {
            Some(from) => dbs.tombstones.range(wtxn, &(Bound::Excluded(&from[..]), Bound::Unbounded))?,
            None => dbs.tombstones.range(wtxn, &(Bound::<&[u8]>::Unbounded, Bound::Unbounded))?,
        };
        for entry in range.take(MIGRATION_BATCH_MAX) {
            let (key, value) = entry?;
            let (mailbox, uid) = keys::decode_uid_key(key)?;
            let modseq = ModSeq(keys::decode_u64(value, "tombstone")?);
            batch.push((key.to_vec(), keys::modseq_key(mailbox, modseq, uid)));
        }
        let Some((last, _)) = batch.last() else {
            return Ok(());
        };
        next = Some(last.clone());
        for (_, vanished_key) in &batch {
            dbs.vanished.put(wtxn, vanished_key, &[])?;
        }
    }
}

/// Tombstones copied out of the iterator at a time during the 4 → 5 migration: bounds
/// the migration's memory (about 40 bytes each), not its transaction.
const MIGRATION_BATCH_MAX: usize = 4096;

/// Both indexes name the same (mailbox, uid, modseq) triples: every `tombstones` entry
/// has its `vanished` entry and the counts are equal. Each problem goes to `report`.
pub(crate) fn check(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    mut report: impl FnMut(String),
) -> Result<(), StorageError> {
    let mut count = 0u64;
    for entry in dbs.tombstones.iter(txn)? {
        let (key, value) = entry?;
        let (Ok((mailbox, uid)), Ok(modseq)) =
            (keys::decode_uid_key(key), keys::decode_u64(value, "tombstone"))
        else {
            continue; // reported by the tombstone check
        };
        count += 1;
        if dbs.vanished.get(txn, &keys::modseq_key(mailbox, ModSeq(modseq), uid))?.is_none() {
            report(format!("tombstone ({mailbox}, {uid}) at {modseq}: not in the vanished index"));
        }
    }
    let indexed = dbs.vanished.len(txn)?;
    if indexed != count {
        report(format!("vanished index has {indexed} entries for {count} tombstones"));
    }
    Ok(())
}
