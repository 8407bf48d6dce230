//! The `sortkeys` database (schema 7): per message, by (mailbox, UID), what SORT and
//! THREAD order by, so that ordering a large mailbox is one range scan of small values
//! in UID order: no record, no summary, no point lookup per message (issue 12's
//! performance section).
//!
//! Value: `received_ms` i64 LE, served size u64 LE (both from the record, which never
//! changes them), then the keys derived from the message's summary by the function the
//! process registered with [`set_sort_keys_deriver`] (opaque here: the IMAP side makes
//! and reads them). Written in the transaction that stores the message (delivery,
//! APPEND, import), copied by COPY, re-keyed by MOVE, removed by EXPUNGE and by the
//! removal of the mailbox; checked by verifydata. A (mailbox, UID) names one message for
//! ever (UIDs are never reused), so an entry never goes stale while its message lives.
//!
//! A message without an entry (stored before schema 7, without a summary, by a process
//! that registered no deriver, or with keys over [`SORT_KEYS_BYTES_MAX`]) is ordered
//! from its summary as before; the readers must not assume every message has one.

use std::sync::OnceLock;

use heed::{RoTxn, RwTxn};

use crate::error::StorageError;
use crate::ids::{MailboxId, Uid};
use crate::keys;
use crate::schema::Databases;

/// Longest derived key bytes stored for one message: room for the longest References
/// a summary keeps (8 KiB) beside ordinary subjects and addresses. Past this the
/// message has no entry and is ordered from its summary (correct, only slower), so no
/// entry is larger than a small fraction of an LMDB page run.
pub const SORT_KEYS_BYTES_MAX: usize = 16 * 1024;

/// Bytes before the derived keys: `received_ms` and the served size.
pub const SORT_KEYS_HEADER_BYTES: usize = 16;

/// Turns a stored summary ([`crate::NewMessage::summary`]) into the derived key bytes;
/// `None` when it cannot (the message then gets no entry).
pub type SortKeysDeriver = fn(&[u8]) -> Option<Vec<u8>>;

static DERIVER: OnceLock<SortKeysDeriver> = OnceLock::new();

/// Registers the function that derives sort keys from summaries, once per process (the
/// first registration wins; the IMAP side owns the key format, the store only keeps
/// the bytes). Until then no entries are written.
pub fn set_sort_keys_deriver(deriver: SortKeysDeriver) {
    let _ = DERIVER.set(deriver);
}

/// One entry of `sortkeys`, borrowed from the read transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKeysEntry<'t> {
    /// UID of the message in the mailbox scanned.
    pub uid: Uid,
    /// INTERNALDATE, Unix milliseconds.
    pub received_ms: i64,
    /// Served size (RFC822.SIZE).
    pub served_size: u64,
    /// The derived keys, as the deriver made them.
    pub keys: &'t [u8],
}

/// The value for a new message, if the deriver gives keys of a storable size.
pub(crate) fn value_for(summary: Option<&[u8]>, received_ms: i64, served_size: u64) -> Option<Vec<u8>> {
    let derive = DERIVER.get()?;
    let keys = derive(summary?)?;
    if keys.len() > SORT_KEYS_BYTES_MAX {
        return None;
    }
    let mut value = Vec::with_capacity(SORT_KEYS_HEADER_BYTES + keys.len());
    value.extend_from_slice(&received_ms.to_le_bytes());
    value.extend_from_slice(&served_size.to_le_bytes());
    value.extend_from_slice(&keys);
    Some(value)
}

/// Puts the entry of a new message (nothing when it gets none).
pub(crate) fn put_new(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    (mailbox, uid): (MailboxId, Uid),
    summary: Option<&[u8]>,
    received_ms: i64,
    served_size: u64,
) -> Result<(), StorageError> {
    if let Some(value) = value_for(summary, received_ms, served_size) {
        dbs.sortkeys.put(wtxn, &keys::uid_key(mailbox, uid), &value)?;
    }
    Ok(())
}

/// COPY: the source's entry, if any, under the copy's place.
pub(crate) fn copy(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    from: (MailboxId, Uid),
    to: (MailboxId, Uid),
) -> Result<(), StorageError> {
    let Some(value) = dbs.sortkeys.get(wtxn, &keys::uid_key(from.0, from.1))?.map(<[u8]>::to_vec) else {
        return Ok(());
    };
    dbs.sortkeys.put(wtxn, &keys::uid_key(to.0, to.1), &value)?;
    Ok(())
}

/// MOVE: the entry, if any, goes to the new place.
pub(crate) fn rekey(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    from: (MailboxId, Uid),
    to: (MailboxId, Uid),
) -> Result<(), StorageError> {
    copy(wtxn, dbs, from, to)?;
    remove(wtxn, dbs, from)
}

/// EXPUNGE: the entry, if any, goes.
pub(crate) fn remove(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    (mailbox, uid): (MailboxId, Uid),
) -> Result<(), StorageError> {
    dbs.sortkeys.delete(wtxn, &keys::uid_key(mailbox, uid))?;
    Ok(())
}

/// Removal of a mailbox: all its entries.
pub(crate) fn delete_mailbox(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    mailbox: MailboxId,
) -> Result<(), StorageError> {
    let (first, last) = keys::mailbox_key_bounds::<8>(mailbox);
    let range = (std::ops::Bound::Included(&first[..]), std::ops::Bound::Included(&last[..]));
    dbs.sortkeys.delete_range(wtxn, &range)?;
    Ok(())
}

/// Decodes one value read under (`mailbox`, `uid`).
pub(crate) fn decode(uid: Uid, value: &[u8]) -> Result<SortKeysEntry<'_>, StorageError> {
    let (header, keys) = value
        .split_at_checked(SORT_KEYS_HEADER_BYTES)
        .ok_or_else(|| StorageError::corrupt(format!("sort keys of uid {uid} truncated")))?;
    let (received, size) = header.split_at(8);
    let number = |bytes: &[u8]| <[u8; 8]>::try_from(bytes).unwrap_or_default();
    Ok(SortKeysEntry {
        uid,
        received_ms: i64::from_le_bytes(number(received)),
        served_size: u64::from_le_bytes(number(size)),
        keys,
    })
}

/// Visits the entries of `mailbox` with UIDs in `[first, last]`, in UID order.
pub(crate) fn visit<'t>(
    txn: &'t RoTxn<'_>,
    dbs: &Databases,
    mailbox: MailboxId,
    (first, last): (Uid, Uid),
    mut f: impl FnMut(SortKeysEntry<'t>) -> std::ops::ControlFlow<()>,
) -> Result<(), StorageError> {
    if first > last {
        return Ok(());
    }
    let start = keys::uid_key(mailbox, first);
    let end = keys::uid_key(mailbox, last);
    let range = (std::ops::Bound::Included(&start[..]), std::ops::Bound::Included(&end[..]));
    for entry in dbs.sortkeys.range(txn, &range)? {
        let (key, value) = entry?;
        let (_, uid) = keys::decode_uid_key(key)?;
        if f(decode(uid, value)?).is_break() {
            break;
        }
    }
    Ok(())
}
